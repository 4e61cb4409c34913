"""PH distances between layers (Purvine et al. 2022, arXiv 2212.00222), their comparison with
representational-similarity matrices, and the principal-component removal sensitivity test.

Recipe of the paper: per layer a point cloud (top-ℓ2 for conv layers) of the same n inputs, Vietoris–Rips
H1 diagram, sliced Wasserstein distance (M = 50) between every pair of layers. Here the n inputs can be
redrawn B times (same rows for all layers within a draw) to give mean ± sd matrices; per-layer persistence
runs in worker processes via :func:`repscope.parallel.map_items`, pair distances via ``map_pairs``.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.parallel import all_pairs, map_items, map_pairs
from repscope.results import MatrixResult, ResultBase, heatmap, to_jsonable
from repscope.topology._persistence import Diagrams, persistence
from repscope.topology.clouds import (
    farthest_point_sample,
    normalize_scale,
    point_cloud,
    remove_duplicates,
    sequence_form,
)
from repscope.topology.distances import DIAGRAM_METRICS, diagram_distance
from repscope.validation import as_2d

__all__ = [
    "MatrixComparison",
    "compare_matrices",
    "PHLayerMatrix",
    "ph_layer_matrix",
    "MatrixCorrelation",
    "matrix_correlation",
    "PCRemovalSensitivity",
    "pc_removal_sensitivity",
    "remove_principal_components",
]


# --------------------------------------------------------------------------------------------------
# per-item jobs (module level: picklable for worker processes)
# --------------------------------------------------------------------------------------------------


def _prepare_cloud(
    X: np.ndarray, *, normalize: str | None, n_landmarks: int | None, seed: int
) -> tuple[np.ndarray, float]:
    """Deduplicate, optionally normalise and landmark-subsample one cloud; return (cloud, hausdorff)."""
    U, _ = remove_duplicates(X)
    if normalize is not None:
        U = normalize_scale(U, normalize)
    haus = 0.0
    if n_landmarks is not None and n_landmarks < U.shape[0]:
        lm = farthest_point_sample(U, n_landmarks, seed=seed)
        U, haus = lm.points, lm.hausdorff
    return U, haus


def _diagram_job(X: np.ndarray, *, maxdim: int, name: str = "") -> Diagrams:
    return persistence(X, maxdim=maxdim, dedupe=False, name=name)


def _distance_job(d1: Diagrams, d2: Diagrams, *, metric: str, dim: int, kwargs: dict[str, Any]) -> float:
    return diagram_distance(d1, d2, metric=metric, dim=dim, **kwargs)


# --------------------------------------------------------------------------------------------------
# PH layer matrix
# --------------------------------------------------------------------------------------------------


class PHLayerMatrix(MatrixResult):
    """Matrix of persistence-diagram distances between layers: ``values`` (mean over resamples), ``sd``.

    A :class:`~repscope.results.MatrixResult` (``kind="distance"``, rows = cols = layers). Topology-specific
    settings live in ``params`` and read as attributes: ``dim``, ``cloud``, ``resamples``, ``seed``;
    ``samples[b]`` is the matrix of resample b and ``diagrams[layer]`` the diagrams of the first resample.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import ph_layer_matrix
    >>> rng = np.random.default_rng(0)
    >>> m = ph_layer_matrix({"x": rng.normal(size=(20, 3)), "y": rng.normal(size=(20, 3))}, cloud="flatten",
    ...                     n_samples=None)
    >>> m.values.shape, m.metric, m.dim
    ((2, 2), 'sliced_wasserstein', 1)
    """

    def __init__(self, values: np.ndarray, sd: np.ndarray, samples: np.ndarray, layers: list[str], metric: str,
                 dim: int, cloud: str, n_samples: int, resamples: int, seed: int,
                 diagrams: dict[str, Diagrams] | None = None, meta: dict[str, Any] | None = None) -> None:
        super().__init__(values=values, rows=list(layers), cols=list(layers), metric=metric, kind="distance",
                         value_range=(0.0, None), n_samples=n_samples, sd=sd,
                         params={"dim": dim, "cloud": cloud, "resamples": resamples, "seed": seed, **(meta or {})},
                         extra={"samples": samples, "diagrams": dict(diagrams or {})},
                         label=f"PH layer distances ({metric.replace('_', ' ')}, H{dim})")
        self.meta = dict(meta or {})

    @classmethod
    def _from_fields(cls, values: dict[str, Any]) -> PHLayerMatrix:
        """Read back (``from_dict``): the fields as written, ``meta`` = the ``params`` beyond the four above."""
        obj = object.__new__(cls)
        for k, v in values.items():
            object.__setattr__(obj, k, v)
        obj.meta = {k: v for k, v in obj.params.items() if k not in ("dim", "cloud", "resamples", "seed")}
        return obj

    layers = property(lambda self: list(self.rows))
    dim = property(lambda self: int(self.params["dim"]))
    cloud = property(lambda self: self.params["cloud"])
    resamples = property(lambda self: int(self.params["resamples"]))
    seed = property(lambda self: int(self.params["seed"]))
    samples = property(lambda self: self.extra["samples"])
    diagrams = property(lambda self: self.extra["diagrams"])

    def _legacy(self) -> dict[str, Any]:
        return {"layers": self.layers, "dim": self.dim, "cloud": self.cloud, "resamples": self.resamples,
                "seed": self.seed, "meta": self.meta}

    def _cell(self, i: int, j: int, digits: int = 3) -> str:
        v = self.values[i, j]
        if self.resamples > 1 and i != j and self.sd is not None:
            return f"{v:.{digits}g} ± {self.sd[i, j]:.2g}"
        return f"{v:.{digits}g}"

    def summary(self) -> str:
        L = len(self.layers)
        iu = np.triu_indices(L, 1)
        if not len(iu[0]):
            return "Only one layer: no distances."
        v = self.values[iu]
        k = int(np.argmax(v))
        adj = [self.values[i, i + 1] for i in range(L - 1)]
        s = (
            f"H{self.dim} {self.metric.replace('_', ' ')} distances between {L} layers "
            f"({self.cloud} clouds, n={self.n_samples}, {self.resamples} resample(s)). "
            f"Largest: {self.layers[iu[0][k]]} vs {self.layers[iu[1][k]]} = {v[k]:.3g}; "
            f"mean adjacent-layer distance {np.mean(adj):.3g} vs mean over all pairs {v.mean():.3g}."
        )
        if self.resamples > 1 and self.sd is not None:
            s += f" Median resampling sd / mean: {np.median(self.sd[iu] / np.maximum(v, 1e-300)):.2f}."
        return s

    def plot(self, ax: Any = None, annotate: bool | None = None) -> Any:
        text = [[self._cell(i, j) for j in range(len(self.cols))] for i in range(len(self.rows))]
        return heatmap(self.values, self.layers, self.layers, ax=ax, title=self.title,
                       colorbar_label=f"{self.metric} (H{self.dim})", higher_is_closer=False,
                       value_range=self.colour_range(), annotate=annotate, cell_text=text, xlabel="layer",
                       ylabel="layer")


def _source_layers(source: Any, layers: list[str] | None) -> tuple[list[str], int, Callable]:
    """Return (layer names, n, reader(layer, rows) -> (array, shape or None))."""
    if isinstance(source, Mapping):
        names = list(source.keys()) if layers is None else list(layers)
        for nm in names:
            if nm not in source:
                raise InputError(
                    f"layer {nm!r} is not in the mapping; available: {', '.join(map(str, source))}"
                )
        arrays = {nm: np.asarray(source[nm]) for nm in names}
        ns = {a.shape[0] for a in arrays.values()}
        if len(ns) != 1:
            raise InputError(
                f"layers have different numbers of samples {sorted(ns)}; all must describe the same inputs"
            )

        def read(nm: str, rows: np.ndarray | None) -> tuple[np.ndarray, Any]:
            a = arrays[nm]
            return (a if rows is None else a[rows]), None

        return names, ns.pop(), read
    if not hasattr(source, "read") or not hasattr(source, "layers"):
        raise InputError(
            "source must be an ActivationStore (repscope.open_store) or a mapping {layer: array}"
        )
    names = list(source.layers) if layers is None else list(layers)
    for nm in names:
        if nm not in list(source.layers):
            raise InputError(f"layer {nm!r} is not in the store; available: {', '.join(source.layers)}")

    def read_store(nm: str, rows: np.ndarray | None) -> tuple[np.ndarray, Any]:
        shape = tuple(source.layer_shape(nm)) if hasattr(source, "layer_shape") else None
        return source.read(nm, rows=rows), sequence_form(source, nm, rows) or shape

    return names, int(source.n_samples), read_store


def ph_layer_matrix(
    source: Any,
    layers: list[str] | None = None,
    *,
    cloud: str = "top_l2",
    n_samples: int | None = 1000,
    resamples: int = 1,
    metric: str = "sliced_wasserstein",
    dim: int = 1,
    maxdim: int | None = None,
    n_components: int | None = None,
    normalize: str | None = None,
    n_landmarks: int | None = None,
    metric_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    n_workers: int | None = 1,
    progress: bool = False,
    scheduler: Any = None,
) -> PHLayerMatrix:
    """Persistence-diagram distance between every pair of layers (Purvine et al. 2022 recipe by default).

    For each of ``resamples`` draws, ``n_samples`` rows (the same for every layer; all rows when
    ``n_samples`` is None or ≥ n) are turned into one point cloud per layer (``cloud``: "top_l2",
    "avg_pool", "random_position", "flatten"), deduplicated, optionally normalised (``normalize``:
    "rms"/"diameter") and landmark-subsampled (``n_landmarks``; the Hausdorff error of every layer is
    kept in ``meta``), then Rips persistence up to ``maxdim`` (default ``max(dim, 1)``) runs per layer in
    ``n_workers`` processes (or on the ``scheduler`` given: a Dask client, address or ``"local:N"``, see
    :func:`repscope.parallel.resolve_scheduler`); ``metric`` (see :func:`diagram_distance`) on H_``dim``
    gives the matrix. Returns :class:`PHLayerMatrix` with mean and sd over draws.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import ph_layer_matrix
    >>> t = np.linspace(0, 2 * np.pi, 30, endpoint=False)
    >>> circle = np.column_stack([np.cos(t), np.sin(t)])
    >>> m = ph_layer_matrix({"a": circle, "a_again": circle.copy(), "b": 3 * circle}, cloud="flatten",
    ...                     n_samples=None, metric="bottleneck")
    >>> m.layers, round(float(m.values[0, 1]), 6), bool(m.values[0, 2] > 0)
    (['a', 'a_again', 'b'], 0.0, True)
    """
    if metric not in DIAGRAM_METRICS:
        raise InputError(f"metric={metric!r} is unknown; use one of {', '.join(DIAGRAM_METRICS)}")
    maxdim = max(int(dim), 1) if maxdim is None else int(maxdim)
    if not 0 <= int(dim) <= maxdim:
        raise InputError(f"dim={dim} must be between 0 and maxdim={maxdim}")
    if int(resamples) < 1:
        raise InputError(f"resamples={resamples} must be ≥ 1")
    names, n, read = _source_layers(source, layers)
    if len(names) < 2:
        raise InputError("at least two layers are needed for a layer-distance matrix")
    rng = np.random.default_rng(seed)
    m = n if n_samples is None else min(int(n_samples), n)  # points per resample
    full = m == n
    if full and resamples > 1:
        raise InputError(
            f"resamples={resamples} needs n_samples smaller than the {n} available samples (draws are "
            f"without replacement); lower n_samples or use resamples=1"
        )
    if not full and m < 3:
        raise InputError(f"n_samples={n_samples} is too small; at least 3 points are needed")
    t0 = time.perf_counter()
    clouds, keys, haus = [], [], {}
    for b in range(int(resamples)):
        rows = None if full else np.sort(rng.choice(n, size=m, replace=False))
        for nm in names:
            A, shape = read(nm, rows)
            as_2d(A, f"layer {nm!r}", dtype=None)  # NaN/Inf or too few rows: an error naming the layer
            X = point_cloud(A, cloud, shape=shape, n_components=n_components, seed=seed + b)
            X, h = _prepare_cloud(X, normalize=normalize, n_landmarks=n_landmarks, seed=seed + b)
            clouds.append(X)
            keys.append((b, nm))
            haus[f"{nm}/{b}"] = h
    t1 = time.perf_counter()
    dgms = map_items(
        partial(_diagram_job, maxdim=maxdim),
        clouds,
        n_workers=n_workers,
        progress=progress,
        desc="persistence",
        scheduler=scheduler,
    )
    for (_b, nm), d in zip(keys, dgms):
        d.name = str(nm)
    t2 = time.perf_counter()
    L = len(names)
    base = all_pairs(L)
    pairs = [(b * L + i, b * L + j) for b in range(int(resamples)) for i, j in base]
    # sliced Wasserstein / images take ~1 ms per pair, bottleneck ~30 ms: starting a process pool (~1-3 s)
    # only pays off for many expensive pairs
    expensive = metric in ("bottleneck", "wasserstein") and len(pairs) >= 100
    pair_workers = n_workers if expensive else 1
    pair_sched = scheduler if expensive else "serial"
    vals = map_pairs(
        partial(_distance_job, metric=metric, dim=int(dim), kwargs=dict(metric_kwargs or {})),
        dgms,
        pairs,
        n_workers=pair_workers,
        progress=progress,
        desc="distances",
        scheduler=pair_sched,
    )
    t3 = time.perf_counter()
    S = np.zeros((int(resamples), L, L))
    for (p, q), v in zip(pairs, vals):
        b, i, j = p // L, p % L, q % L
        S[b, i, j] = S[b, j, i] = v
    sd = S.std(axis=0, ddof=1) if resamples > 1 else np.zeros((L, L))
    return PHLayerMatrix(
        values=S.mean(axis=0),
        sd=sd,
        samples=S,
        layers=[str(x) for x in names],
        metric=metric,
        dim=int(dim),
        cloud=cloud,
        n_samples=m,
        resamples=int(resamples),
        seed=int(seed),
        diagrams={str(nm): d for (b, nm), d in zip(keys, dgms) if b == 0},
        meta={
            "maxdim": maxdim,
            "normalize": normalize,
            "n_landmarks": n_landmarks,
            "hausdorff_error": haus,
            "n_points": {f"{nm}/{b}": d.n_points for (b, nm), d in zip(keys, dgms)},
            "seconds": {"clouds": t1 - t0, "persistence": t2 - t1, "distances": t3 - t2},
        },
    )


# --------------------------------------------------------------------------------------------------
# comparison with similarity matrices: Spearman / Mantel with permutation p-value
# --------------------------------------------------------------------------------------------------


@dataclass
class MatrixCorrelation(ResultBase):
    """Correlation between the upper triangles of two square matrices with a Mantel permutation p-value.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import matrix_correlation
    >>> A = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 3.0, 0.0]])
    >>> mc = matrix_correlation(A, A, names=("PH", "CKA"))
    >>> mc.n_items, mc.names, bool(0 < mc.p_value <= 1)
    (3, ('PH', 'CKA'), True)
    """

    r: float
    p_value: float
    method: str
    alternative: str
    n_permutations: int
    exact: bool
    n_items: int
    names: tuple[str, str] = ("A", "B")

    @property
    def title(self) -> str:
        return f"{self.method.capitalize()} correlation: {self.names[0]} vs {self.names[1]}"

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(
            {
                "kind": "matrix_correlation",
                **{
                    k: getattr(self, k)
                    for k in ("r", "p_value", "method", "alternative", "n_permutations", "exact", "n_items")
                },
                "names": list(self.names),
            }
        )

    def summary(self) -> str:
        how = "all" if self.exact else f"{self.n_permutations} random"
        return (
            f"{self.method.capitalize()} r = {self.r:.3f} between {self.names[0]} and {self.names[1]} over "
            f"{self.n_items * (self.n_items - 1) // 2} item pairs; Mantel p = {self.p_value:.3g} "
            f"({self.alternative}, {how} permutations of the {self.n_items} items)."
        )

    def plot(self, ax: Any = None):
        from repscope.results import subplots_in

        fig, ax = subplots_in(ax, figsize=(4, 1.2))
        ax.axis("off")
        ax.text(0.01, 0.5, self.summary(), wrap=True, fontsize=8, va="center")
        return fig


def _square(M: ArrayLike, name: str) -> np.ndarray:
    A = np.asarray(getattr(M, "values", M), dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise InputError(f"{name} must be a square matrix; got shape {A.shape}")
    if A.shape[0] < 3:
        raise InputError(
            f"{name} is {A.shape[0]}×{A.shape[0]}; at least 3 items are needed for a correlation"
        )
    if not np.isfinite(A).all():
        raise InputError(f"{name} contains NaN or Inf; compute it on finite data")
    return A


def _corr_rows(a: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pearson correlation of vector a with every row of B."""
    a = a - a.mean()
    Bc = B - B.mean(axis=1, keepdims=True)
    den = np.linalg.norm(a) * np.linalg.norm(Bc, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (Bc @ a) / den


def matrix_correlation(
    A: ArrayLike,
    B: ArrayLike,
    *,
    method: str = "spearman",
    permutations: int = 9999,
    alternative: str = "greater",
    seed: int = 0,
    names: tuple[str, str] = ("A", "B"),
) -> MatrixCorrelation:
    """Correlate the upper triangles of two square (symmetric) matrices; Mantel permutation test.

    ``method`` "spearman" (rank) or "pearson". The null distribution permutes the items (rows and
    columns together) of ``B`` (Mantel 1967); when n! ≤ ``permutations`` all n! permutations are
    enumerated (exact test), otherwise ``permutations`` random ones plus the identity are used and
    p = (1 + #{r_π ≥ r}) / (1 + permutations). ``alternative``: "greater", "less" or "two-sided"
    (|r_π| ≥ |r|). Two distance matrices that agree give r > 0; a distance vs a similarity gives r < 0.
    Objects with a ``.values`` attribute (layer-matrix results) are accepted.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import matrix_correlation
    >>> A = np.array([[0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 4.0, 5.0], [2.0, 4.0, 0.0, 6.0], [3.0, 5.0, 6.0, 0.0]])
    >>> mc = matrix_correlation(A, 2 * A + 1, permutations=99, seed=0)
    >>> round(mc.r, 6), mc.method
    (1.0, 'spearman')
    """
    from scipy.stats import rankdata

    A_, B_ = _square(A, names[0]), _square(B, names[1])
    if A_.shape != B_.shape:
        raise InputError(f"matrices have different sizes {A_.shape} and {B_.shape}; compare the same items")
    if method not in ("spearman", "pearson"):
        raise InputError(f"method={method!r} is unknown; use 'spearman' or 'pearson'")
    if alternative not in ("greater", "less", "two-sided"):
        raise InputError(f"alternative={alternative!r} is unknown; use 'greater', 'less' or 'two-sided'")
    n = A_.shape[0]
    iu = np.triu_indices(n, 1)
    a, bm = A_[iu], B_.copy()
    if method == "spearman":
        a = rankdata(a)
        R = np.zeros_like(bm)
        R[iu] = rankdata(bm[iu])
        bm = R + R.T  # ranks permute with the entries, so rank once
    else:
        bm = (bm + bm.T) / 2.0
    if np.ptp(a) == 0 or np.ptp(bm[iu]) == 0:
        raise InputError("one matrix is constant over its off-diagonal entries; the correlation is undefined")
    r = float(_corr_rows(a, bm[iu][None, :])[0])
    rng = np.random.default_rng(seed)
    exact = math.factorial(n) <= int(permutations) + 1
    if exact:
        perms = np.array(list(itertools.permutations(range(n))))
    else:
        perms = np.vstack(
            [np.arange(n)[None, :], np.array([rng.permutation(n) for _ in range(int(permutations))])]
        )
    null = []
    for chunk in np.array_split(perms, max(1, len(perms) // 2000)):
        P = bm[chunk[:, iu[0]], chunk[:, iu[1]]]  # (k, m): permuted upper triangles
        null.append(_corr_rows(a, P))
    nulls = np.concatenate(null)
    tol = 1e-12
    if alternative == "greater":
        hits = np.sum(nulls >= r - tol)
    elif alternative == "less":
        hits = np.sum(nulls <= r + tol)
    else:
        hits = np.sum(np.abs(nulls) >= abs(r) - tol)
    p = float(hits / len(nulls))  # the identity permutation is included, so p ≥ 1/len
    return MatrixCorrelation(
        r=r,
        p_value=p,
        method=method,
        alternative=alternative,
        n_permutations=len(nulls),
        exact=bool(exact),
        n_items=n,
        names=(names[0], names[1]),
    )


# --------------------------------------------------------------------------------------------------
# sensitivity test: remove the top-k principal components
# --------------------------------------------------------------------------------------------------


def remove_principal_components(X: ArrayLike, k: int) -> np.ndarray:
    """Project the centred data off its top-``k`` principal directions and add the mean back.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import remove_principal_components
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 3)) * [10.0, 1.0, 0.1]
    >>> Y = remove_principal_components(X, 1)
    >>> int(np.linalg.matrix_rank(Y - Y.mean(0)))        # one direction projected out
    2
    """
    A = as_2d(X, "X")
    if k <= 0:
        return A.copy()
    mu = A.mean(axis=0)
    C = A - mu
    _, _, Vt = np.linalg.svd(C, full_matrices=False)
    V = Vt[: int(k)].T
    return C - (C @ V) @ V.T + mu


@dataclass
class PCRemovalSensitivity(ResultBase):
    """Distance between a layer and itself with its top-k principal components removed, per k.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import pc_removal_sensitivity
    >>> X = np.random.default_rng(0).normal(size=(25, 4))
    >>> s = pc_removal_sensitivity(X, ks=(0, 2))
    >>> len(s.variance_removed), s.variance_removed[0]
    (2, 0.0)
    """

    ks: list[int]
    distances: dict[str, list[float]]
    variance_removed: list[float]
    layer: str = ""

    @property
    def title(self) -> str:
        return f"Sensitivity to removing principal components{(' — ' + self.layer) if self.layer else ''}"

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(
            {
                "kind": "pc_removal_sensitivity",
                "layer": self.layer,
                "ks": self.ks,
                "distances": self.distances,
                "variance_removed": self.variance_removed,
            }
        )

    def monotonicity(self) -> dict[str, float]:
        """Spearman correlation of each measure with k (1 = rises strictly with every removed component)."""
        from scipy.stats import spearmanr

        out = {}
        for name, v in self.distances.items():
            out[name] = float(spearmanr(self.ks, v).statistic) if np.ptp(v) > 0 else float("nan")
        return out

    def summary(self) -> str:
        mono = self.monotonicity()
        parts = [f"Removing the top k ∈ {self.ks} principal components ({self.layer or 'layer'})."]
        for name, v in self.distances.items():
            parts.append(f"{name}: {v[0]:.3g} → {v[-1]:.3g} (rank corr. with k {mono[name]:.2f}).")
        return " ".join(parts)

    def plot(self, ax: Any = None):
        from repscope.results import subplots_in

        fig, ax = subplots_in(ax, figsize=(5.5, 3.5))
        for name, v in self.distances.items():
            v = np.asarray(v, dtype=float)
            top = np.nanmax(np.abs(v)) or 1.0
            ax.plot(self.ks, v / top, marker="o", label=f"{name} (÷{top:.3g})")
        ax.set_xlabel("principal components removed (k)")
        ax.set_ylabel("distance to original (scaled to max 1)")
        ax.legend(fontsize=8)
        ax.set_title(self.title, fontsize=9)
        fig.tight_layout()
        return fig


def pc_removal_sensitivity(
    X: ArrayLike,
    ks: list[int] | tuple[int, ...] = (0, 1, 2, 4, 8, 16),
    *,
    metric: str = "sliced_wasserstein",
    dim: int = 1,
    others: Mapping[str, Callable[[np.ndarray, np.ndarray], float]] | None = None,
    layer: str = "",
) -> PCRemovalSensitivity:
    """Sensitivity test (Purvine et al. 2022, following Ding, Denain & Steinhardt 2021): remove the top-k
    principal components of the cloud ``X`` and measure its distance to the original, for each k.

    The PH distance (``metric`` on H_``dim``) is reported together with any ``others`` — callables
    ``f(X, X_k) → distance`` such as ``lambda a, b: 1 - linear_cka(a, b)`` — so one can see which measure
    responds to the removal of high-variance directions. ``variance_removed[k]`` is the fraction of
    total variance in the removed components.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import pc_removal_sensitivity
    >>> t = np.linspace(0, 2 * np.pi, 30, endpoint=False)
    >>> X = np.column_stack([np.cos(t), np.sin(t), 0.01 * np.random.default_rng(0).normal(size=30)])
    >>> s = pc_removal_sensitivity(X, ks=(0, 1), metric="bottleneck")
    >>> s.ks, s.distances["PH bottleneck H1"][0]       # k = 0 removes nothing
    ([0, 1], 0.0)
    """
    A = as_2d(X, "X")
    ks = [int(k) for k in ks]
    if any(k < 0 or k >= min(A.shape) for k in ks):
        raise InputError(f"every k must be in [0, {min(A.shape) - 1}] for data of shape {A.shape}")
    s = np.linalg.svd(A - A.mean(axis=0), compute_uv=False) ** 2
    var = [float(s[:k].sum() / s.sum()) if s.sum() > 0 else 0.0 for k in ks]
    d0 = persistence(A, maxdim=max(dim, 1))
    dist: dict[str, list[float]] = {f"PH {metric} H{dim}": []}
    for name in others or {}:
        dist[name] = []
    for k in ks:
        Xk = remove_principal_components(A, k)
        if np.allclose(Xk, Xk[:1]):
            raise InputError(f"removing {k} components leaves identical points; use smaller k")
        dist[f"PH {metric} H{dim}"].append(
            diagram_distance(d0, persistence(Xk, maxdim=max(dim, 1)), metric, dim)
        )
        for name, f in (others or {}).items():
            dist[name].append(float(f(A, Xk)))
    return PCRemovalSensitivity(ks=ks, distances=dist, variance_removed=var, layer=layer)


# --------------------------------------------------------------------------------------------------
# two layer matrices side by side (e.g. PH distance vs 1 − CKA)
# --------------------------------------------------------------------------------------------------


@dataclass
class MatrixComparison(ResultBase):
    """Two layer-by-layer matrices over the same layers and their rank agreement (Mantel test).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import compare_matrices
    >>> A = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 3.0, 0.0]])
    >>> c = compare_matrices(A, -A, ["a", "b", "c"], permutations=99)
    >>> round(c.correlation.r, 6)
    -1.0
    """

    A: np.ndarray
    B: np.ndarray
    layers: list[str]
    names: tuple[str, str]
    correlation: MatrixCorrelation
    note: str = ""

    @property
    def title(self) -> str:
        return f"{self.names[0]} vs {self.names[1]}"

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(
            {
                "kind": "matrix_comparison",
                "layers": self.layers,
                "names": list(self.names),
                "A": self.A,
                "B": self.B,
                "correlation": self.correlation.to_dict(),
                "note": self.note,
            }
        )

    def summary(self) -> str:
        c = self.correlation
        if c.p_value < 0.05 and c.r > 0:
            verdict = "the two measures order layer pairs similarly"
        elif c.r > 0:
            verdict = "the agreement is weak (not significant at 5%)"
        else:
            verdict = "the two measures do not agree on which layers are close"
        return f"{c.summary()} Reading: {verdict}. {self.note}".strip()

    def table(self) -> tuple[list[str], list[list[Any]]]:
        L = len(self.layers)
        rows = [
            [self.layers[i], self.layers[j], float(self.A[i, j]), float(self.B[i, j])]
            for i in range(L)
            for j in range(i + 1, L)
        ]
        return ["layer", "layer", self.names[0], self.names[1]], rows

    def plot(self, ax: Any = None):
        from repscope.results import subplots_in

        L = len(self.layers)
        fig, axes = subplots_in(ax, 1, 3, figsize=(13, 4.2))
        for ax, M, nm in ((axes[0], self.A, self.names[0]), (axes[1], self.B, self.names[1])):
            im = ax.imshow(M, cmap="viridis")
            ax.set_xticks(range(L), self.layers, rotation=45, ha="right", fontsize=8)
            ax.set_yticks(range(L), self.layers, fontsize=8)
            ax.set_title(nm, fontsize=9)
            fig.colorbar(im, ax=ax, fraction=0.046)
        iu = np.triu_indices(L, 1)
        from scipy.stats import rankdata

        axes[2].scatter(rankdata(self.A[iu]), rankdata(self.B[iu]), s=18)
        axes[2].set_xlabel(f"rank of {self.names[0]}", fontsize=8)
        axes[2].set_ylabel(f"rank of {self.names[1]}", fontsize=8)
        axes[2].set_title(
            f"layer pairs: Spearman r = {self.correlation.r:.2f}, p = {self.correlation.p_value:.2g}",
            fontsize=9,
        )
        fig.tight_layout()
        return fig


def compare_matrices(
    A: ArrayLike,
    B: ArrayLike,
    layers: list[str],
    *,
    names: tuple[str, str] = ("A", "B"),
    permutations: int = 9999,
    seed: int = 0,
    note: str = "",
) -> MatrixComparison:
    """Put two layer matrices side by side with their Spearman correlation and Mantel p-value.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import compare_matrices
    >>> A = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 3.0, 0.0]])
    >>> c = compare_matrices(A, A, ["l1", "l2", "l3"], names=("PH", "PH"))
    >>> round(c.correlation.r, 6), c.layers
    (1.0, ['l1', 'l2', 'l3'])
    """
    corr = matrix_correlation(A, B, permutations=permutations, seed=seed, names=names)
    A_, B_ = _square(A, names[0]), _square(B, names[1])
    return MatrixComparison(
        A=A_, B=B_, layers=[str(x) for x in layers], names=(names[0], names[1]), correlation=corr, note=note
    )
