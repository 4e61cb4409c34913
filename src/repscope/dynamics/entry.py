"""The dynamics lens on a store: sequence layers ``(N, T, D)`` — time steps or tokens — as trajectories.

``analyse(store)`` → :class:`DynamicsAnalysis`. Each sequence layer is one system whose trials are the
samples (padding steps dropped when the store has an ``n_tokens``/``length`` attribute, which capture
stores from the batches' ``attention_mask``; without it every step is used and the notes warn). As in Guilhot et
al. (2024), the states of each layer are centred and projected jointly onto their top ``n_components``
principal components; DSA (Ostrow et al. 2023: delay embedding, HAVOK DMD, angular orthogonal-similarity
distance) compares the layers' dynamics, beside two geometry baselines on the same (sample, step) states:
the Procrustes angle and 1 − linear CKA. With ``others=`` (stores of other models on the same inputs,
matched by sample id) the matrices are layers of ``store`` × layers of each other store.

Not applicable when no layer has a time axis.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from repscope.dynamics._dsa import dsa_matrix
from repscope.dynamics.config import DSAConfig
from repscope.dynamics.results import DISTANCE_RANGES, DistanceMatrixResult
from repscope.errors import InputError
from repscope.lenses import protocol as lens

__all__ = ["DEFAULTS", "DynamicsAnalysis", "DynamicsDefaults", "analyse", "applies", "sequence_layers"]


@dataclass(frozen=True)
class DynamicsDefaults:
    """The dynamics lens's defaults — one set for ``repscope dynamics analyse``, :func:`analyse` and the
    report."""

    n_components: int = 10
    n_delays: int = 3
    max_trials: int = 200
    max_states: int = 4000


DEFAULTS = DynamicsDefaults()


class DynamicsAnalysis(lens.LensAnalysis):
    lens = "dynamics"


def sequence_layers(store: Any) -> list[str]:
    """Stored layers with a time/token axis (per-sample shape ``(T, D)``)."""
    return lens.layers_of_kind(store, "sequence")


def applies(store: Any) -> str | None:
    """None when the store holds at least one sequence layer with ≥ 3 steps, else why not."""
    seq = sequence_layers(store)
    if not seq:
        shapes = ", ".join(f"{la} {tuple(store.layer_shape(la))}" for la in list(store.layers)[:6])
        return (f"no layer has a time axis (per-sample shapes: {shapes}); dynamics compares trajectories "
                f"(N, T, D) — capture a recurrent or transformer layer with --pool none (API: pool='none')")
    longest = max(int(store.layer_shape(la)[0]) for la in seq)
    if longest < 3:
        return (f"the sequence layers have at most {longest} steps; dynamics needs at least 3 — capture longer "
                f"sequences with --pool none (API: pool='none')")
    return None


def _trials(store: Any, layer: str, rows: np.ndarray) -> list[np.ndarray]:
    shape = tuple(int(s) for s in store.layer_shape(layer))
    lengths = lens.valid_lengths(store)
    return lens.valid_steps(store.read(layer, rows=rows), shape, None if lengths is None else lengths[rows])


def _project(trials: list[np.ndarray], k: int, seed: int) -> list[np.ndarray]:
    S = np.concatenate(trials)
    mu = S.mean(axis=0)
    fit = S if S.shape[0] <= 5000 else S[np.random.default_rng(seed).choice(S.shape[0], 5000, replace=False)]
    _, _, Vt = np.linalg.svd(fit - mu, full_matrices=False)
    V = Vt[:k].T
    return [(t - mu) @ V for t in trials]


def _geometry(metric: str, A: list[np.ndarray], B: list[np.ndarray], idx: np.ndarray) -> float:
    from repscope.metrics import linear_cka, procrustes

    if [t.shape[0] for t in A] != [t.shape[0] for t in B]:
        return float("nan")
    X, Y = np.concatenate(A)[idx], np.concatenate(B)[idx]
    if metric == "procrustes":
        return float(procrustes(X, Y))
    return max(0.0, float(1.0 - linear_cka(X, Y)))  # CKA ≤ 1; rounding can give 1 + 1e-16


def _match_rows(a: Any, b: Any, rows: np.ndarray) -> np.ndarray:
    ida, idb = np.asarray(a.sample_ids), np.asarray(b.sample_ids)
    pos = {int(v): i for i, v in enumerate(idb)}
    missing = [int(v) for v in ida[rows] if int(v) not in pos]
    if missing:
        raise InputError(
            f"store '{getattr(b, 'path', 'other')}' lacks {len(missing)} of the samples of "
            f"'{getattr(a, 'path', 'store')}' (e.g. id {missing[0]}); capture both models on the same inputs "
            f"with the same ids")
    return np.array([pos[int(v)] for v in ida[rows]])


def _chosen_layers(store: Any, layers: Any, notes: list[str]) -> list[str]:
    """The sequence layers to analyse (refusing non-sequence ones); appends the padding and skipped notes."""
    reason = applies(store)
    if reason:
        raise InputError(reason)
    seq = sequence_layers(store)
    chosen = lens.select(store, layers, seq, what="dynamics")
    not_seq = [la for la in chosen if la not in seq]
    if not_seq:
        raise InputError(f"layer(s) {not_seq} have no time axis; sequence layers of this store: {', '.join(seq)}")
    if note := lens.sequence_note(store, chosen, as_="trajectory"):
        notes.append(note)
    skipped = [la for la in list(store.layers) if la not in seq]
    if layers is None and skipped:
        notes.append(f"skipped layers without a time axis: {', '.join(skipped)}")
    return chosen


def _dsa_config(config: DSAConfig | None, n_delays: int | None, rank: int | None, k: int,
                seed: int) -> tuple[DSAConfig, int]:
    """The DSA configuration (``config`` or the lens default, ``n_delays``/``rank`` applied) and its rank."""
    cfg = config if config is not None else DSAConfig(n_delays=DEFAULTS.n_delays, seed=seed)
    cfg = DSAConfig.resolve(cfg, **({} if n_delays is None else {"n_delays": n_delays}))
    n_delays = cfg.n_delays
    r = int(rank) if rank is not None else (cfg.rank if cfg.rank is not None else k)
    cfg = cfg.replace(rank=r, rank_thresh=None, rank_explained_variance=None)
    if r > k * int(n_delays):
        raise InputError(f"rank={r} exceeds n_components·n_delays = {k * int(n_delays)}; lower rank")
    return cfg, r


def _systems_of(st: Any, tag: str, st_rows: np.ndarray, chosen: list[str], n_delays: int, k: int, seed: int,
                notes: list[str]) -> tuple[list[str], list[list[np.ndarray]], list]:
    """Names, raw trials and projected trials of the ``chosen`` layers of store ``st`` that can be analysed."""
    out_names, raw, reduced = [], [], []
    for la in chosen:
        if la not in list(st.layers) or la not in sequence_layers(st):
            notes.append(f"skipped layer {la} of store {tag}: not a sequence layer there")
            continue
        tr = _trials(st, la, st_rows)
        keep = [t for t in tr if t.shape[0] >= int(n_delays) + 1]
        if len(keep) < len(tr):
            notes.append(f"{la} ({tag}): dropped {len(tr) - len(keep)} trial(s) shorter than n_delays + 1 steps")
        if not keep:
            continue
        width = keep[0].shape[1]
        if width < k:
            notes.append(f"skipped layer {la} ({tag}): {width} features < n_components = {k}")
            continue
        out_names.append(la if tag == "" else f"{tag}:{la}")
        raw.append(tr)
        reduced.append(_project(keep, k, seed))
    return out_names, raw, reduced


def _other_stores(others: Any, names: list[str] | None, chosen: list[str],
                  notes: list[str]) -> tuple[list[Any], list[str]]:
    """The stores of ``others`` and the tags of all stores; notes the others' missing per-sample lengths."""
    stores = [] if others is None else (list(others) if isinstance(others, list | tuple) else [others])
    tags = list(names) if names is not None else [chr(ord("A") + i) for i in range(len(stores) + 1)]
    if len(tags) != len(stores) + 1:
        raise InputError(f"names has {len(tags)} entries for {len(stores) + 1} stores")
    for tag, st in zip(tags[1:], stores):
        if lens.valid_lengths(st) is None:
            seq_st = [la for la in chosen if la in sequence_layers(st)]
            if seq_st:
                notes.append(f"store {tag}: {lens.sequence_note(st, seq_st, as_='trajectory')}")
    return stores, tags


def _compare(pair: tuple, cfg: DSAConfig, dsa_kw: dict, rng: np.random.Generator, max_states: int,
             notes: list[str]) -> list[Any]:
    """DSA, Procrustes and 1 − CKA matrices for one (layers × layers) pair of system sets; [] for one layer."""
    ra, rawa, reda, rb, rawb, redb = pair
    same = ra is rb
    if same and len(ra) < 2:
        notes.append(f"only one sequence layer ({ra[0]}): no layer × layer comparison; pass others= to "
                     f"compare it with another model on the same inputs")
        return []
    D = dsa_matrix(reda, None if same else redb, cfg, names=ra, names_other=None if same else rb, **dsa_kw)
    D.label = f"DSA ({cfg.metric}) between " + ("layers" if same else "the models' layers")
    if D.converged is not None and not np.all(D.converged):
        bad = np.asarray(D.converged)[np.triu_indices(len(ra), 1)] if same else np.asarray(D.converged).ravel()
        notes.append(f"DSA: {int(np.sum(~bad))} of {bad.size} layer pairs are not certified optima of the "
                     f"orthogonal alignment (too few random starts agree within the budget): those distances "
                     f"are upper bounds — rerun dsa_matrix with a larger max_random")
    results: list[Any] = [D]
    total = sum(t.shape[0] for t in rawa[0])
    idx = np.arange(total) if total <= max_states else np.sort(rng.choice(total, max_states, replace=False))
    for metric, label in (("procrustes", "Procrustes angle"), ("cka", "1 − linear CKA")):
        M = np.array([[0.0 if (same and i == j) else _geometry(metric, rawa[i], rawb[j], idx)
                       for j in range(len(rb))] for i in range(len(ra))])
        if np.isnan(M).any():
            notes.append(f"{label}: NaN where two layers have different numbers of steps per sample")
        results.append(DistanceMatrixResult(M, ra, rb, metric=label, label=f"{label} between states",
                                            params={"n_states": int(idx.size)},
                                            value_range=DISTANCE_RANGES[metric]))
    return results


def analyse(
    store: Any,
    *,
    layers: Any = None,
    seed: int = 0,
    scheduler: Any = None,
    n_workers: int | None = None,
    device: Any = None,
    progress: bool = True,
    others: Any = None,
    names: list[str] | None = None,
    n_components: int = DEFAULTS.n_components,
    n_delays: int | None = None,
    rank: int | None = None,
    config: DSAConfig | None = None,
    max_trials: int = DEFAULTS.max_trials,
    max_states: int = DEFAULTS.max_states,
) -> DynamicsAnalysis:
    """DSA (angular), Procrustes and 1 − linear CKA between the sequence ``layers`` (default all) of
    ``store``, or between them and the same layers of each store in ``others`` (``names`` labels the
    stores, default ``A``, ``B``, …). ``max_trials`` samples (seeded) are used; the geometry baselines use
    at most ``max_states`` of their (sample, step) states. ``rank`` (default ``n_components``) is the DMD
    rank shared by every system, so the angular score is defined for all pairs. ``config``: a
    :class:`~repscope.dynamics.DSAConfig` for the DSA matrices (default: the lens's ``n_delays`` = 3, the
    angular score and ``seed``); ``n_delays``/``rank`` given here override it."""
    t0 = time.perf_counter()
    notes: list[str] = []
    chosen = _chosen_layers(store, layers, notes)
    n = int(store.n_samples)
    rng = np.random.default_rng(seed)
    rows = np.arange(n) if n <= max_trials else np.sort(rng.choice(n, max_trials, replace=False))
    if n > max_trials:
        notes.append(f"{max_trials} of {n} samples (seeded) as trials")
    k = int(n_components)
    cfg, r = _dsa_config(config, n_delays, rank, k, seed)
    n_delays = int(cfg.n_delays)
    stores, tags = _other_stores(others, names, chosen, notes)
    na, raw_a, red_a = _systems_of(store, "" if not stores else tags[0], rows, chosen, n_delays, k, seed, notes)
    if not na:
        raise InputError("no sequence layer can be analysed (" + "; ".join(notes) + ") — lower the components or "
                         "delays (repscope dynamics analyse --components K --n-delays D; API: "
                         "dynamics.analyse(store, n_components=K, n_delays=D))")
    results: list[Any] = []
    dsa_kw = dict(device=device or "cpu", n_workers=int(n_workers or 1), scheduler=scheduler, progress=progress)
    pairs: list[tuple[list[str], list, list, list[str], list, list]] = []
    if not stores:
        pairs.append((na, raw_a, red_a, na, raw_a, red_a))
    for st, tag in zip(stores, tags[1:]):
        rows_b = _match_rows(store, st, rows)
        nb, raw_b, red_b = _systems_of(st, tag, rows_b, chosen, n_delays, k, seed, notes)
        if nb:
            pairs.append((na, raw_a, red_a, nb, raw_b, red_b))
    for pair in pairs:
        results.extend(_compare(pair, cfg, dsa_kw, rng, max_states, notes))
    out = DynamicsAnalysis(results=results, notes=notes, layers=na,
                           params={"n_components": k, "n_delays": n_delays, "rank": r, "seed": seed,
                                   "n_trials": int(rows.size), "dsa": cfg.to_dict()})
    out.reading = _reading(results)
    out.seconds = time.perf_counter() - t0
    return out


def _reading(results: list[Any]) -> str:
    from scipy.stats import spearmanr

    parts = []
    for i in range(0, len(results), 3):
        dsa_, proc, cka = results[i : i + 3]
        D, P = np.asarray(dsa_.values), np.asarray(proc.values)
        sym = list(dsa_.rows) == list(dsa_.cols)
        if sym:
            if len(dsa_.rows) < 2:
                parts.append(f"Only one sequence layer ({dsa_.rows[0]}): nothing to compare within the store.")
                continue
            iu = np.triu_indices(D.shape[0], 1)
            d, p = D[iu], P[iu]
            j, m = int(np.argmin(d)), int(np.argmax(d))
            if d.size == 1:
                parts.append(f"DSA between {dsa_.rows[0]} and {dsa_.rows[1]}: {d[0]:.3f} (Procrustes {p[0]:.3f}).")
                continue
            text = (f"DSA: the most similar dynamics are {dsa_.rows[iu[0][j]]} / {dsa_.rows[iu[1][j]]} "
                    f"({d[j]:.3f}), the least {dsa_.rows[iu[0][m]]} / {dsa_.rows[iu[1][m]]} ({d[m]:.3f}).")
        else:
            d, p = D.ravel(), P.ravel()
            diag = [(a, D[i_, list(dsa_.cols).index(b)]) for i_, a in enumerate(dsa_.rows)
                    for b in dsa_.cols if b.split(":", 1)[-1] == a.split(":", 1)[-1]]
            text = "DSA between the models at the same layer: " + ", ".join(
                f"{a.split(':', 1)[-1]} {v:.3f}" for a, v in diag) + "."
        ok = np.isfinite(d) & np.isfinite(p)
        if ok.sum() >= 3 and np.ptp(d[ok]) > 0 and np.ptp(p[ok]) > 0:
            rho = float(spearmanr(d[ok], p[ok]).statistic)
            verdict = "dynamics and geometry rank the pairs alike" if rho > 0.5 else "dynamics and geometry disagree"
            text += f" Spearman ρ between DSA and Procrustes distances over the pairs: {rho:.2f} ({verdict})."
        parts.append(text)
    return " ".join(parts)
