"""The topology lens on any store: persistence per layer, the PH distance matrix between layers, and one
mapper graph per layer coloured by the labels (Purvine et al. 2022 settings).

``analyse(store)`` → :class:`TopologyAnalysis`. Each layer becomes one point cloud over a seeded subsample
of ``n_samples`` rows: vector layers as they are, channel-first maps by the paper's top-ℓ2 position, and
sequence layers as their mean over real steps. Layers whose points all coincide (dead units) are skipped
with a note.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from repscope.errors import InputError, RepscopeError
from repscope.lenses import protocol as lens
from repscope.topology._mapper import mapper, mapper_trend
from repscope.topology._persistence import persistence
from repscope.topology.clouds import point_cloud
from repscope.topology.layers import ph_layer_matrix

__all__ = ["DEFAULTS", "TopologyAnalysis", "TopologyDefaults", "analyse", "applies", "load_tooltips"]


@dataclass(frozen=True)
class TopologyDefaults:
    """The topology lens's defaults — one set for ``repscope topology STORE``, :func:`analyse` and the report
    (Purvine et al. 2022: 1000 inputs, top-ℓ2 clouds, H1 sliced Wasserstein, mapper on the L2 norm with 10
    intervals at 50 % overlap and DBSCAN with min_samples 5)."""

    n_samples: int = 1000
    cloud: str = "top_l2"
    metric: str = "sliced_wasserstein"
    dim: int = 1
    resamples: int = 1
    n_intervals: int = 10
    overlap: float = 0.5
    min_samples: int = 5
    mapper_lens: str = "l2norm"
    mapper_clusterer: str = "dbscan"


DEFAULTS = TopologyDefaults()


class TopologyAnalysis(lens.LensAnalysis):
    """What the topology lens found on one store (:func:`analyse`): result objects, a reading, notes, layers.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import TopologyAnalysis, persistence
    >>> t = np.linspace(0, 2 * np.pi, 30, endpoint=False)
    >>> d = persistence(np.column_stack([np.cos(t), np.sin(t)]), name="circle")
    >>> res = TopologyAnalysis(results=[d], reading="one loop", layers=["circle"])
    >>> res.lens, res.to_dict()["layers"]
    ('topology', ['circle'])
    """

    lens = "topology"

    #: the parts of :meth:`outputs` whose summaries ``repscope topology`` prints (not each mapper graph)
    SUMMARISED = ("ph_layer_matrix", "layer_summaries", "mapper_trend")

    def outputs(self, dim: int = DEFAULTS.dim) -> tuple[dict[str, Any], list[tuple[Any, str]]]:
        """topology.json's content and the figures (result, file stem): the PH layer matrix, the per-layer
        persistence summaries of the H_``dim`` diagrams, each layer's mapper graph and the mapper trend (those
        the analysis made; a part it did not make is a None result)."""
        from repscope._paths import safe_name
        from repscope.topology._mapper import MapperGraph, MapperTrend
        from repscope.topology.layers import PHLayerMatrix
        from repscope.topology.summaries import layer_summaries

        ph = next((r for r in self.results if isinstance(r, PHLayerMatrix)), None)
        graphs = [r for r in self.results if isinstance(r, MapperGraph)]
        trend = next((r for r in self.results if isinstance(r, MapperTrend)), None)
        result: dict[str, Any] = {"reading": self.reading, "notes": list(self.notes), "params": self.params,
                                  "ph_layer_matrix": None if ph is None else ph.to_dict()}
        summaries = (layer_summaries(ph.diagrams, dim=dim, layers=list(ph.diagrams))
                     if ph is not None and ph.diagrams else None)
        if summaries is not None:
            result["layer_summaries"] = summaries.to_dict()
        if graphs:
            result["mapper"] = {g.name: g.to_dict() for g in graphs}
        if trend is not None:
            result["mapper_trend"] = trend.to_dict()
        figures = [(ph, "ph_layer_matrix"), (summaries, "layer_summaries"),
                   *((g, f"mapper_{safe_name(g.name)}") for g in graphs), (trend, "mapper_trend")]
        return result, figures


def load_tooltips(images_path: str | Path | None, texts_path: str | Path | None,
                  n: int) -> tuple[np.ndarray | None, list[str] | None]:
    """The mapper tooltips' sources for :func:`analyse`'s ``images``/``texts``, one per stored sample of ``n``
    (the analysis keeps those of the inputs it draws): images from a .npy file (memory-mapped; ``(n, H, W[, C])``
    or ``(n, C, H, W)``) and texts from a text file, one line per sample; None for a path not given.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from repscope.topology.entry import load_tooltips
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(tmp.name) / "texts.txt"
    >>> _ = path.write_text("a cat\\na dog\\n")
    >>> load_tooltips(None, path, 2)
    (None, ['a cat', 'a dog'])
    >>> tmp.cleanup()
    """
    images = texts = None
    if images_path is not None:
        images_path = Path(images_path)
        if not images_path.exists():
            raise InputError(f"--mapper-images {images_path} does not exist; pass a .npy with one image per sample")
        try:
            images = np.load(images_path, mmap_mode="r", allow_pickle=False)
        except Exception as exc:
            raise InputError(f"--mapper-images {images_path} could not be read as .npy ({exc})") from exc
        if images.shape[0] != n:
            raise InputError(
                f"--mapper-images has {images.shape[0]} images but the store has {n} samples; give one per sample"
            )
    if texts_path is not None:
        texts_path = Path(texts_path)
        if not texts_path.exists():
            raise InputError(f"--mapper-texts {texts_path} does not exist; pass a text file, one line per sample")
        texts = texts_path.read_text(encoding="utf-8", errors="replace").splitlines()
        if len(texts) != n:
            raise InputError(
                f"--mapper-texts has {len(texts)} lines but the store has {n} samples; give one line per sample"
            )
    return images, texts


def applies(store: Any) -> str | None:
    """None when point clouds of the layers can be analysed, else why not.

    Examples
    --------
    >>> from repscope.experiments.datasets.toy import toy_store
    >>> store, tmp = toy_store()              # 60 samples, 3 classes: fc1 (Linear), relu, fc2 (Linear)
    >>> from repscope.topology import applies
    >>> applies(store) is None
    True
    >>> tmp.cleanup()
    """
    if not list(store.layers):
        return "the store holds no layers"
    if int(store.n_samples) < 10:
        return (f"the store holds {store.n_samples} samples; persistent homology and mapper need at least 10 — "
                f"capture more inputs (a longer --data)")
    return None


class _Source:
    """The store as :func:`ph_layer_matrix` reads it: sequence layers as their mean over real steps
    (shape ``(D,)``), every other layer as stored."""

    def __init__(self, store: Any, layers: list[str]) -> None:
        self.store, self.layers, self.n_samples = store, list(layers), int(store.n_samples)
        self.kinds = {lay: lens.layer_kind(store, lay) for lay in layers}

    def read(self, layer: str, rows: np.ndarray | None = None) -> np.ndarray:
        if self.kinds[layer] == "sequence":
            return lens.sequence_mean(self.store, layer, rows)
        return np.asarray(self.store.read(layer) if rows is None else self.store.read(layer, rows=rows))

    def layer_shape(self, layer: str) -> tuple[int, ...]:
        shape = tuple(int(s) for s in self.store.layer_shape(layer)) if hasattr(self.store, "layer_shape") else ()
        return shape[-1:] if self.kinds[layer] == "sequence" else shape


def _cloud(store: Any, layer: str, rows: np.ndarray | None, cloud: str = DEFAULTS.cloud, seed: int = 0,
           src: _Source | None = None) -> np.ndarray:
    """One layer's point cloud over ``rows``: ``cloud`` of a map (top-ℓ2 channel vector by default), a
    sequence's mean over real steps, a vector layer as stored."""
    src = _Source(store, [layer]) if src is None else src
    return point_cloud(src.read(layer, rows), cloud, shape=src.layer_shape(layer) or None, seed=seed)


def _rows(n: int, n_use: int, seed: int) -> np.ndarray | None:
    """The inputs of the first draw — the rows :func:`ph_layer_matrix` draws with the same seed."""
    return None if n_use >= n else np.sort(np.random.default_rng(seed).choice(n, n_use, replace=False))


def analyse(
    store: Any,
    *,
    layers: Any = None,
    seed: int = 0,
    scheduler: Any = None,
    n_workers: int | None = None,
    device: Any = None,
    progress: bool = True,
    n_samples: int = DEFAULTS.n_samples,
    metric: str = DEFAULTS.metric,
    dim: int = DEFAULTS.dim,
    n_intervals: int = DEFAULTS.n_intervals,
    overlap: float = DEFAULTS.overlap,
    min_samples: int = DEFAULTS.min_samples,
    cloud: str = DEFAULTS.cloud,
    resamples: int = DEFAULTS.resamples,
    normalize: str | None = None,
    mapper_lens: str = DEFAULTS.mapper_lens,
    mapper_clusterer: str = DEFAULTS.mapper_clusterer,
    mapper_graphs: bool = True,
    images: Any = None,
    texts: list[str] | None = None,
) -> TopologyAnalysis:
    """Persistence diagrams (H0…H_dim) per layer, the ``metric`` distance between layers' H_``dim`` diagrams
    (at least two layers; ``resamples`` draws of ``n_samples`` inputs, mean ± sd), and a mapper graph per
    layer (lens ``mapper_lens``, ``n_intervals`` at ``overlap``, ``mapper_clusterer`` with ``min_samples``
    and the k-NN-elbow ε) coloured by the labels, with the purity trend — what ``repscope topology STORE``
    and the report both run, with :data:`DEFAULTS`. Every layer is one ``cloud`` (see
    :func:`repscope.topology.point_cloud`; sequence layers as their mean over real steps) over the first
    draw; ``normalize`` rescales clouds before persistence. ``images``/``texts`` (one per stored sample)
    become mapper tooltips. ``n_workers``/``scheduler`` run the persistence computations in parallel;
    ``device`` is unused.

    Examples
    --------
    >>> from repscope.experiments.datasets.toy import toy_store
    >>> store, tmp = toy_store()              # 60 samples, 3 classes: fc1 (Linear), relu, fc2 (Linear)
    >>> from repscope.topology import analyse
    >>> res = analyse(store, n_samples=40, progress=False, mapper_graphs=False)
    >>> res.layers
    ['fc1', 'relu', 'fc2']
    >>> tmp.cleanup()
    """
    t0 = time.perf_counter()
    reason = applies(store)
    if reason:
        raise InputError(reason)
    chosen = lens.select(store, layers, what="topology")
    n = int(store.n_samples)
    n_use = min(int(n_samples), n)
    rows = _rows(n, n_use, seed)
    src = _Source(store, chosen)
    notes: list[str] = [n for n in [lens.order_note(store)] if n]
    clouds: dict[str, np.ndarray] = {}
    for lay in chosen:
        X = _cloud(store, lay, rows, cloud, seed, src)
        if not np.isfinite(X).all():
            notes.append(f"skipped layer {lay}: NaN/Inf activations")
        elif np.all(X == X[:1]):
            notes.append(f"skipped layer {lay}: every sample gives the same point (dead or constant layer)")
        else:
            clouds[lay] = np.asarray(X, dtype=np.float64)
    if not clouds:
        raise InputError("no layer gives a point cloud with any spread; " + "; ".join(notes))
    kinds = {src.kinds[lay] for lay in clouds}
    if "map" in kinds and cloud == "top_l2":
        notes.append("channel-first maps enter as the channel vector at their top-ℓ2 position (Purvine et al.)")
    if "sequence" in kinds and (
        note := lens.sequence_note(store, [la for la in clouds if lens.layer_kind(store, la) == "sequence"])
    ):
        notes.append(note)
    results: list[Any] = []
    names = list(clouds)
    ph = None
    if len(names) >= 2:
        kw = dict(cloud=cloud, metric=metric, dim=dim, normalize=normalize, seed=seed, n_workers=n_workers or 1,
                  scheduler=scheduler, progress=progress)
        if int(resamples) == 1:  # the clouds above are the first draw's
            ph = ph_layer_matrix(clouds, names, n_samples=None, **kw)
        else:
            ph = ph_layer_matrix(src, names, n_samples=n_use, resamples=int(resamples), **kw)
        results.append(ph)
        diagrams = [ph.diagrams[nm] for nm in names]
    else:
        notes.append(f"no PH distance matrix: only one layer ({names[0]}) gives a usable cloud")
        diagrams = [persistence(clouds[names[0]], maxdim=max(int(dim), 1), name=names[0])]
    results += diagrams
    labels = getattr(store, "labels", None)
    labels = None if labels is None else (np.asarray(labels) if rows is None else np.asarray(labels)[rows])
    if images is not None:
        images = np.asarray(images if rows is None else images[rows])
    if texts is not None:
        texts = list(texts) if rows is None else [texts[i] for i in rows]
    graphs = []
    for lay in names if mapper_graphs else []:
        try:
            graphs.append(mapper(clouds[lay], labels, lens=mapper_lens, n_intervals=n_intervals, overlap=overlap,
                                 clusterer=mapper_clusterer, images=images, texts=texts,
                                 min_samples=min(int(min_samples), clouds[lay].shape[0] - 1), name=lay, seed=seed))
        except RepscopeError as exc:
            notes.append(f"skipped the mapper graph of {lay}: {exc}")
    trend = None
    if labels is not None and len(graphs) >= 2:
        trend = mapper_trend(graphs, [g.name for g in graphs])
        results.append(trend)
    results += graphs
    out = TopologyAnalysis(results=results, notes=notes, layers=names,
                           params={"n_samples": n_use, "cloud": cloud, "metric": metric, "dim": dim,
                                   "resamples": int(resamples), "normalize": normalize, "n_intervals": n_intervals,
                                   "overlap": overlap, "min_samples": min_samples, "mapper_lens": mapper_lens,
                                   "mapper_clusterer": mapper_clusterer, "seed": seed})
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
