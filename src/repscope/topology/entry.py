"""The topology lens on any store: persistence per layer, the PH distance matrix between layers, and one
mapper graph per layer coloured by the labels (Purvine et al. 2022 settings).

``analyse(store)`` → :class:`TopologyAnalysis`. Each layer becomes one point cloud over a seeded subsample
of ``n_samples`` rows: vector layers as they are, channel-first maps by the paper's top-ℓ2 position, and
sequence layers as their mean over real steps. Layers whose points all coincide (dead units) are skipped
with a note.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from repscope.errors import InputError, RepscopeError
from repscope.metrics import lens
from repscope.topology.clouds import top_l2
from repscope.topology.layers import ph_layer_matrix
from repscope.topology.mapper import mapper, mapper_trend
from repscope.topology.persistence import persistence

__all__ = ["TopologyAnalysis", "analyse", "applies"]


class TopologyAnalysis(lens.LensAnalysis):
    lens = "topology"


def applies(store: Any) -> str | None:
    """None when point clouds of the layers can be analysed, else why not."""
    if not list(store.layers):
        return "the store holds no layers"
    if int(store.n_samples) < 10:
        return f"the store holds {store.n_samples} samples; persistent homology and mapper need at least 10"
    return None


def _cloud(store: Any, layer: str, rows: np.ndarray | None) -> np.ndarray:
    kind = lens.layer_kind(store, layer)
    if kind == "sequence":
        return lens.sequence_mean(store, layer, rows)
    A = store.read(layer) if rows is None else store.read(layer, rows=rows)
    if kind == "map":
        return top_l2(A, tuple(store.layer_shape(layer)))
    return np.asarray(A, dtype=np.float64)


def analyse(
    store: Any,
    *,
    layers: Any = None,
    seed: int = 0,
    scheduler: Any = None,
    n_workers: int | None = None,
    device: Any = None,
    progress: bool = True,
    n_samples: int = 500,
    metric: str = "sliced_wasserstein",
    dim: int = 1,
    n_intervals: int = 10,
    overlap: float = 0.5,
    min_samples: int = 5,
) -> TopologyAnalysis:
    """Persistence diagrams (H0…H_dim) per layer, the ``metric`` distance between layers' H_``dim`` diagrams
    (at least two layers), and a mapper graph per layer (lens L2 norm, ``n_intervals`` at ``overlap``,
    DBSCAN with ``min_samples`` and the k-NN-elbow ε) coloured by the labels, with the purity trend.
    ``n_workers``/``scheduler`` run the persistence computations in parallel; ``device`` is unused."""
    t0 = time.perf_counter()
    reason = applies(store)
    if reason:
        raise InputError(reason)
    chosen = lens.select(store, layers, what="topology")
    n = int(store.n_samples)
    n_use = min(int(n_samples), n)
    rows = None if n_use >= n else np.sort(np.random.default_rng(seed).choice(n, n_use, replace=False))
    notes: list[str] = [n for n in [lens.order_note(store)] if n]
    clouds: dict[str, np.ndarray] = {}
    for lay in chosen:
        X = _cloud(store, lay, rows)
        if not np.isfinite(X).all():
            notes.append(f"skipped layer {lay}: NaN/Inf activations")
        elif np.all(X == X[:1]):
            notes.append(f"skipped layer {lay}: every sample gives the same point (dead or constant layer)")
        else:
            clouds[lay] = X
    if not clouds:
        raise InputError("no layer gives a point cloud with any spread; " + "; ".join(notes))
    kinds = {lens.layer_kind(store, lay) for lay in clouds}
    if "map" in kinds:
        notes.append("channel-first maps enter as the channel vector at their top-ℓ2 position (Purvine et al.)")
    if "sequence" in kinds:
        notes.append(lens.sequence_note(store, [la for la in clouds if lens.layer_kind(store, la) == "sequence"]))
    results: list[Any] = []
    names = list(clouds)
    ph = None
    if len(names) >= 2:
        ph = ph_layer_matrix(clouds, names, cloud="top_l2", n_samples=None, metric=metric, dim=dim, seed=seed,
                             n_workers=n_workers or 1, scheduler=scheduler, progress=progress)
        results.append(ph)
        diagrams = [ph.diagrams[nm] for nm in names]
    else:
        notes.append(f"no PH distance matrix: only one layer ({names[0]}) gives a usable cloud")
        diagrams = [persistence(clouds[names[0]], maxdim=max(int(dim), 1), name=names[0])]
    results += diagrams
    labels = getattr(store, "labels", None)
    labels = None if labels is None else (np.asarray(labels) if rows is None else np.asarray(labels)[rows])
    graphs = []
    for lay in names:
        try:
            graphs.append(mapper(clouds[lay], labels, lens="l2norm", n_intervals=n_intervals, overlap=overlap,
                                 min_samples=min(int(min_samples), clouds[lay].shape[0] - 1), name=lay, seed=seed))
        except RepscopeError as exc:
            notes.append(f"skipped the mapper graph of {lay}: {exc}")
    trend = None
    if labels is not None and len(graphs) >= 2:
        trend = mapper_trend(graphs, [g.name for g in graphs])
        results.append(trend)
    results += graphs
    out = TopologyAnalysis(results=results, notes=notes, layers=names,
                           params={"n_samples": n_use, "metric": metric, "dim": dim, "n_intervals": n_intervals,
                                   "overlap": overlap, "seed": seed})
    out.reading = _reading(names, diagrams, ph, graphs, labels is not None, int(dim))
    out.seconds = time.perf_counter() - t0
    return out


def _reading(names, diagrams, ph, graphs, has_labels: bool, dim: int) -> str:
    tp = [d.total_persistence(dim) if len(d) > dim else 0.0 for d in diagrams]
    nb = [int(d.finite(dim).shape[0]) if len(d) > dim else 0 for d in diagrams]
    k = int(np.argmax(tp))
    text = (f"H{dim}: {nb[0]} finite bar(s) at {names[0]} … {nb[-1]} at {names[-1]}; the most total H{dim} persistence "
            f"is at {names[k]} ({tp[k]:.3g}).")
    if ph is not None and len(names) >= 2:
        V = np.asarray(ph.values, dtype=float)
        iu = np.triu_indices(len(names), 1)
        j = int(np.argmax(V[iu]))
        text += (f" The most different persistence diagrams: {names[iu[0][j]]} vs {names[iu[1][j]]} "
                 f"({V[iu][j]:.3g}, {ph.metric}).")
    if graphs:
        pur = np.array([g.node_purity() for g in graphs])
        if has_labels and np.isfinite(pur).any():
            best = graphs[int(np.nanargmax(pur))].name
            text += (f" Mapper node purity by label: {graphs[0].name} {pur[0]:.2f} → {graphs[-1].name} "
                     f"{pur[-1]:.2f} (highest at {best}).")
        sizes = ", ".join(f"{g.name} {len(g.nodes)} nodes/{g.n_components()} components" for g in graphs[:8])
        text += f" Mapper graphs: {sizes}."
    return text
