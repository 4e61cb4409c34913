"""All-pairs layer similarity matrices, streamed from an activation store or in-memory arrays.

Two execution paths:

* **Linear measures** (``linear_cka``, ``debiased_cka``, ``procrustes``, ``shape_metric``, ``cca``,
  ``svcca``, ``pwcca``, ``linear_regression``) depend on the data only through centred second moments.
  One streamed pass over row blocks accumulates, in float64, every needed block S_ij = X_iᵀX_j of the
  stacked centred features (one SYRK per layer, one GEMM per layer pair per row block; block means are
  merged exactly with Chan et al.'s pairwise update, so a large mean offset costs no precision). Each
  matrix entry is then finished from p×q blocks — no n×n matrix, memory independent of n.
  ``debiased_cka`` adds a cheap second pass for the squared row norms of the centred rows.
* **Other measures** (``rbf_cka``, ``rsa``, ``mutual_knn``, ``ph_*``...) load each layer, run the
  registered ``prepare`` once per layer and ``compare`` per pair through :func:`repscope.parallel.map_items`
  / :func:`~repscope.parallel.map_pairs`.

Threads (deliberate, measured on a 2-core machine where oversubscribed BLAS made the same job 4–8×
slower): the linear path runs in this process with BLAS/torch using all cores — its work is a few large
GEMMs, which BLAS parallelises well, and worker processes would duplicate the accumulators. The
generic path uses ``scheduler`` (any value :func:`repscope.parallel.resolve_scheduler` accepts):
``None``/``"serial"`` runs in-process (all BLAS threads); ``"processes"`` uses one worker per core with
one BLAS thread each (best when per-pair work is small or GIL-bound, e.g. persistent homology); a Dask
``Client``, ``"tcp://host:port"`` or ``"local:N"`` runs the per-layer and per-pair work on a Dask cluster.
Workers × threads never exceed the cores.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from repscope.errors import InputError
from repscope.metrics import registry
from repscope.metrics._result import LayerMatrix
from repscope.parallel import all_pairs, map_items, map_pairs, resolve_scheduler
from repscope.validation import as_2d

__all__ = [
    "layer_matrix",
    "layer_matrices",
    "LayerMatrix",
    "StackedAccumulator",
    "LINEAR_MEASURES",
    "CovarianceAccumulator",
]

#: Measures computed from the streamed second-moment blocks.
LINEAR_MEASURES = (
    "linear_cka",
    "debiased_cka",
    "procrustes",
    "shape_metric",
    "cca",
    "svcca",
    "pwcca",
    "linear_regression",
)
_SYMMETRIC = {
    "linear_cka",
    "debiased_cka",
    "procrustes",
    "shape_metric",
    "cca",
    "svcca",
    "rbf_cka",
    "rsa",
    "mutual_knn",
    "jaccard_knn",
}


# --------------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------------


class _Source:
    """Uniform view of a mapping {layer: array} or a store-like object."""

    def __init__(self, obj: Any, name: str) -> None:
        self.name = name
        if isinstance(obj, Mapping):
            if not obj:
                raise InputError(f"{name} is an empty mapping; pass {{layer name: (n, d) array}}")
            self.arrays = {str(k): as_2d(v, f"{name}[{k!r}]", dtype=None) for k, v in obj.items()}
            ns = {k: a.shape[0] for k, a in self.arrays.items()}
            if len(set(ns.values())) != 1:
                raise InputError(
                    f"layers of {name} have different sample counts {ns}; all must describe the same samples"
                )
            self.layers = list(self.arrays)
            self.n = next(iter(ns.values()))
            self.sample_ids = None
            self.store = None
        elif hasattr(obj, "layers") and hasattr(obj, "read"):
            self.store = obj
            self.arrays = None
            self.layers = [str(x) for x in obj.layers]
            self.n = int(obj.n_samples)
            ids = getattr(obj, "sample_ids", None)
            self.sample_ids = None if ids is None else np.asarray(ids)
        else:
            raise InputError(
                f"{name} is a {type(obj).__name__}; pass an ActivationStore (repscope.open_store(path)) or a "
                f"mapping {{layer name: (n, d) array}}"
            )

    def select(self, layers: Sequence[str] | None) -> list[str]:
        if layers is None:
            return list(self.layers)
        if isinstance(layers, str):
            layers = [s.strip() for s in layers.split(",") if s.strip()]
        missing = [layer for layer in layers if layer not in self.layers]
        if missing:
            raise InputError(f"{self.name} has no layer(s) {missing}; available: {self.layers}")
        if len(layers) == 0:
            raise InputError("layers= is empty; give at least one layer name")
        return list(layers)

    def read(self, layer: str, rows: np.ndarray | None = None, *, check: bool = True) -> np.ndarray:
        if self.arrays is not None:
            a = self.arrays[layer]
            return a if rows is None else a[rows]
        a = np.asarray(self.store.read(layer) if rows is None else self.store.read(layer, rows=rows))
        if not check:
            return a.reshape(a.shape[0], -1)
        return as_2d(a, f"{self.name} layer {layer!r}", dtype=None)

    def dim(self, layer: str) -> int:
        if self.arrays is not None:
            return int(self.arrays[layer].shape[1])
        if hasattr(self.store, "layer_shape"):
            return int(np.prod(self.store.layer_shape(layer)))
        return int(self.read(layer, np.arange(1), check=False).shape[1])

    def blocks(self, layers: list[str], block_rows: int, perm: np.ndarray | None = None) -> Iterator[list]:
        """Yield lists (one 2-D array per layer) of aligned row blocks."""
        if self.arrays is not None or perm is not None or not hasattr(self.store, "iter_rows"):
            for s in range(0, self.n, block_rows):
                idx = slice(s, min(self.n, s + block_rows)) if perm is None else perm[s : s + block_rows]
                if self.arrays is not None:
                    yield [self.arrays[layer][idx] for layer in layers]
                else:
                    rows = np.arange(self.n)[idx] if perm is None else idx
                    blocks = [self.read(layer, rows, check=False) for layer in layers]
                    for layer, a in zip(layers, blocks):
                        if not np.isfinite(a).all():
                            raise InputError(
                                f"{self.name} layer {layer!r} has NaN/Inf values; drop those samples"
                            )
                    yield blocks
            return
        iters = [_reblock(self.store.iter_rows(layer, block_rows), block_rows) for layer in layers]
        start = 0
        for parts in zip(*iters):
            for layer, a in zip(layers, parts):
                if not np.isfinite(a).all():
                    raise InputError(
                        f"{self.name} layer {layer!r} has NaN/Inf values in rows {start}.."
                        f"{start + a.shape[0] - 1}; recapture or drop those samples"
                    )
            start += parts[0].shape[0]
            yield list(parts)


def _reblock(it: Iterator[tuple[int, np.ndarray]], block_rows: int) -> Iterator[np.ndarray]:
    """Re-cut a store's (start, block) stream (blocks follow each layer's chunking) into exact
    ``block_rows``-row 2-D blocks, so that layers with different chunk sizes stay aligned."""
    buf: list[np.ndarray] = []
    have = 0
    for _, a in it:
        a = np.asarray(a)
        buf.append(a.reshape(a.shape[0], -1))
        have += a.shape[0]
        while have >= block_rows:
            cat = buf[0] if len(buf) == 1 else np.concatenate(buf)
            yield cat[:block_rows]
            rest = cat[block_rows:]
            buf, have = ([rest] if rest.shape[0] else []), rest.shape[0]
    if have:
        yield buf[0] if len(buf) == 1 else np.concatenate(buf)


def _match(a: _Source, b: _Source) -> np.ndarray | None:
    """Row permutation of b that aligns it with a (None when already aligned)."""
    if a.n != b.n:
        raise InputError(
            f"{a.name} has {a.n} samples and {b.name} has {b.n}; cross-source matrices need the same samples"
        )
    if a.sample_ids is None or b.sample_ids is None:
        return None
    ia, ib = a.sample_ids.ravel(), b.sample_ids.ravel()
    if np.array_equal(ia, ib):
        return None
    if len(np.unique(ib)) != ib.size or len(np.unique(ia)) != ia.size:
        raise InputError("sample ids are not unique in one of the stores; cannot match samples")
    sa, sb = set(ia.tolist()), set(ib.tolist())
    if sa != sb:
        raise InputError(
            f"the two stores hold different samples ({len(sa - sb)} ids only in {a.name}, {len(sb - sa)} "
            f"only in {b.name}); capture both on the same inputs, or compare arrays of the common samples"
        )
    pos = {v: i for i, v in enumerate(ib.tolist())}
    return np.fromiter((pos[v] for v in ia.tolist()), dtype=np.int64, count=ia.size)


# --------------------------------------------------------------------------------------------------
# Streamed second moments
# --------------------------------------------------------------------------------------------------


class CovarianceAccumulator:
    """Streaming centred cross products S_ij = Σ_rows (x_i − μ_i)(x_j − μ_j)ᵀ for chosen layer pairs.

    Feed aligned row blocks with :meth:`update` (a list with one (b, d_l) array per layer); block
    statistics are merged exactly (Chan, Golub & LeVeque 1979): S ← S + S_b + n·n_b/(n+n_b)·δ_iδ_jᵀ.
    Accumulates in float64 (numpy/BLAS, or torch on ``device``).
    """

    def __init__(self, n_layers: int, pairs: Sequence[tuple[int, int]], device: Any = None) -> None:
        from repscope.metrics._common import use_torch

        self.dev = use_torch(device)
        self.pairs = sorted({(min(i, j), max(i, j)) for i, j in pairs} | {(i, i) for i in range(n_layers)})
        self.n_layers = n_layers
        self.n = 0
        self.mean: list[Any] = [None] * n_layers
        self.S: dict[tuple[int, int], Any] = {}
        self._np: dict[tuple[int, int], np.ndarray] = {}

    def _arr(self, a: np.ndarray) -> Any:
        if self.dev is None:
            return np.asarray(a, dtype=np.float64)
        import torch

        return torch.as_tensor(np.asarray(a), device=self.dev).to(torch.float64)

    def update(self, blocks: Sequence[np.ndarray]) -> None:
        if len(blocks) != self.n_layers:
            raise InputError(f"expected {self.n_layers} layer blocks, got {len(blocks)}")
        xs = [self._arr(b) for b in blocks]
        nb = xs[0].shape[0]
        if nb == 0:
            return
        means = [x.mean(0) for x in xs]
        xc = [x - m for x, m in zip(xs, means)]
        n_old = self.n
        w = n_old * nb / (n_old + nb)
        deltas = [None if self.mean[i] is None else means[i] - self.mean[i] for i in range(self.n_layers)]
        for i, j in self.pairs:
            G = xc[i].T @ xc[j]  # i == j: numpy dispatches AᵀA to BLAS syrk
            if n_old:
                G += w * (deltas[i][:, None] * deltas[j][None, :])
                self.S[i, j] += G
            else:
                self.S[i, j] = G
        for i in range(self.n_layers):
            self.mean[i] = means[i] if n_old == 0 else self.mean[i] + deltas[i] * (nb / (n_old + nb))
        self.n = n_old + nb

    def block(self, i: int, j: int) -> np.ndarray:
        """S_ij as a float64 numpy array."""
        from repscope.metrics._common import to_numpy

        key = (i, j) if (i, j) in self.S else (j, i)
        if key not in self._np:  # convert once, so repeated calls return the same object (eig cache)
            self._np[key] = to_numpy(self.S[key])
        return self._np[key] if key == (i, j) else self._np[key].T

    def means(self) -> list[np.ndarray]:
        from repscope.metrics._common import to_numpy

        return [to_numpy(m) for m in self.mean]


class StackedAccumulator:
    """Within-source fast path: all layers' centred cross products as ONE stacked D×D matrix.

    Each row block is shifted by the first block's means and written into a reused float64 buffer
    Z (b×D, all layers side by side); one in-place BLAS ``dsyrk`` per block adds ZᵀZ to the upper
    triangle of C (Fortran order, no temporaries). At the end C − n·δδᵀ (δ = mean of the shifted data)
    gives the centred products: the shift removes any large offset, so the final rank-1 correction is
    tiny and loses no precision. Memory: D² + b·D doubles, independent of n.
    """

    def __init__(self, dims: Sequence[int], block_rows: int) -> None:
        self.dims = [int(d) for d in dims]
        self.off = np.concatenate([[0], np.cumsum(self.dims)]).astype(int)
        D = int(self.off[-1])
        self.C = np.zeros((D, D), dtype=np.float64, order="F")
        self.colsum = np.zeros(D)
        self.shift: np.ndarray | None = None
        self.Z = np.empty((int(block_rows), D), dtype=np.float64)
        self.n = 0
        self._diag: dict[int, np.ndarray] = {}

    def update(self, blocks: Sequence[np.ndarray]) -> None:
        from scipy.linalg.blas import dsyrk

        nb = blocks[0].shape[0]
        if nb == 0:
            return
        if nb > self.Z.shape[0]:
            self.Z = np.empty((nb, self.Z.shape[1]), dtype=np.float64)
        if self.shift is None:
            self.shift = np.concatenate([np.asarray(b, dtype=np.float64).mean(0) for b in blocks])
        Z = self.Z[:nb]
        for k, b in enumerate(blocks):
            lo, hi = self.off[k], self.off[k + 1]
            np.subtract(b, self.shift[lo:hi], out=Z[:, lo:hi], casting="unsafe")
        self.colsum += Z.sum(axis=0)
        # Zᵀ is Fortran-contiguous (D×nb): dsyrk(trans=0) computes ZᵀZ without copying Z.
        self.C = dsyrk(1.0, Z.T, beta=1.0, c=self.C, trans=0, lower=0, overwrite_c=1)
        self.n += nb
        self._diag = {}

    def block(self, i: int, j: int) -> np.ndarray:
        """Centred S_ij (float64). Diagonal blocks are cached, so repeated calls return the same
        object (layer eigen-decompositions are then reused); no D×D copy is ever made."""
        if i > j:
            return self.block(j, i).T
        if i == j and i in self._diag:
            return self._diag[i]
        d = self.colsum / self.n
        ri = slice(self.off[i], self.off[i + 1])
        rj = slice(self.off[j], self.off[j + 1])
        B = np.array(self.C[ri, rj])  # upper-triangle region (i ≤ j)
        if i == j:
            B = np.triu(B) + np.triu(B, 1).T
        B -= self.n * np.outer(d[ri], d[rj])
        if i == j:
            self._diag[i] = B
        return B

    def means(self) -> list[np.ndarray]:
        mu = self.shift + self.colsum / self.n
        return [mu[self.off[k] : self.off[k + 1]] for k in range(len(self.dims))]


#: Largest stacked D×D accumulator (bytes) before falling back to per-pair blocks.
_STACKED_MAX_BYTES = 768 << 20


def _auto_block_rows(dims: Sequence[int], n: int) -> int:
    # ~64 MiB of float64 per block across all layers, at least 256 rows (GEMM efficiency), at most n.
    return int(max(256, min(n, (64 << 20) // (8 * max(1, sum(dims))))))


def _progress(enabled: bool, total: int, desc: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    prog = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=True,
    )
    return prog, total, desc


def _stream(sources, layer_lists, pairs, block_rows, device, perm_b, progress, want_q=False):
    """One pass over aligned blocks of one or two sources; returns (accumulator, q-vectors or None)."""
    n = sources[0].n
    all_layers = [(0, layer) for layer in layer_lists[0]]
    if len(sources) == 2:
        all_layers += [(1, layer) for layer in layer_lists[1]]
    dims = [src.dim(layer) for src, lst in zip(sources, layer_lists) for layer in lst]
    stacked = device is None and len(sources) == 1 and sum(dims) ** 2 * 8 <= _STACKED_MAX_BYTES
    if stacked:  # one in-place SYRK per block (same flops as the hand-stacked baseline)
        acc = StackedAccumulator(dims, block_rows)
    else:  # cross-source, GPU, or very wide stacks: one GEMM per needed pair, exact Chan merge
        acc = CovarianceAccumulator(len(all_layers), pairs, device=device)
    gens = [sources[0].blocks(layer_lists[0], block_rows)]
    if len(sources) == 2:
        gens.append(sources[1].blocks(layer_lists[1], block_rows, perm_b))
    prog, total, desc = _progress(progress, -(-n // block_rows), "streaming blocks")
    with prog:
        tid = prog.add_task(desc, total=total)
        for parts in zip(*gens):
            blocks = [b for part in parts for b in part]
            if len({b.shape[0] for b in blocks}) != 1:
                raise InputError(
                    "the sources yielded row blocks of different sizes; they must hold the same samples"
                )
            acc.update(blocks)
            prog.advance(tid)
    if acc.n != n:
        raise InputError(
            f"streamed {acc.n} rows but the source reports {n} samples; the store may be incomplete"
        )
    q = None
    if want_q:  # second pass: squared norms of the centred rows (debiased CKA)
        mus = acc.means()
        q = [np.empty(n) for _ in all_layers]
        gens = [sources[0].blocks(layer_lists[0], block_rows)]
        if len(sources) == 2:
            gens.append(sources[1].blocks(layer_lists[1], block_rows, perm_b))
        s = 0
        for parts in zip(*gens):
            blocks = [b for part in parts for b in part]
            nb = blocks[0].shape[0]
            for k, b in enumerate(blocks):
                c = np.asarray(b, dtype=np.float64) - mus[k]
                q[k][s : s + nb] = np.einsum("ij,ij->i", c, c)
            s += nb
    return acc, q


def _range_basis(S: np.ndarray, rtol: float = 1e-12) -> np.ndarray:
    from repscope.metrics._common import sym_eigh

    lam, V = sym_eigh(S)
    return V[:, lam > rtol * max(lam[-1], 0.0)]


def _procrustes_reduced(Sxx, Syy, Sxy) -> float:
    """Procrustes from blocks; for a layer of low numerical rank (eigenvalues of S_xx below 1e-12 × the
    largest count as zero — far below float32 activation precision) the nuclear norm is taken of the
    r_x×r_y block projected on both ranges, which is much smaller (e.g. a conv layer linear in an 8×8
    input has rank ≤ 64 of 1024 features). Falls back to the full p×q block when that saves little."""
    from repscope.metrics import shape
    from repscope.metrics._common import _EIG_CACHE

    p, q = Sxy.shape
    if _EIG_CACHE is None or min(p, q) < 256:
        return shape.procrustes_from_cov(Sxx, Syy, Sxy)
    Vx, Vy = _range_basis(Sxx), _range_basis(Syy)
    if Vx.shape[1] * Vy.shape[1] > 0.5 * p * q:
        return shape.procrustes_from_cov(Sxx, Syy, Sxy)
    return shape.procrustes_from_cov(Sxx, Syy, Vx.T @ Sxy @ Vy)


def _linear_value(metric: str, Sxx, Syy, Sxy, n: int, qx, qy, kw: dict) -> float:
    from repscope.metrics import regression, shape
    from repscope.metrics.cka import _debias, _ratio

    if metric == "linear_cka":
        return _ratio(float(np.vdot(Sxy, Sxy)), float(np.vdot(Sxx, Sxx)), float(np.vdot(Syy, Syy)), False)
    if metric == "debiased_cka":
        if n < 4:
            raise InputError("debiased CKA needs at least 4 samples")
        return _ratio(
            _debias(float(np.vdot(Sxy, Sxy)), qx, qy, n),
            _debias(float(np.vdot(Sxx, Sxx)), qx, qx, n),
            _debias(float(np.vdot(Syy, Syy)), qy, qy, n),
            True,
        )
    if metric == "procrustes":
        return _procrustes_reduced(Sxx, Syy, Sxy)
    if metric == "shape_metric":
        return shape.shape_distance_from_cov(Sxx, Syy, Sxy, **kw)
    if metric == "cca":
        return shape.cca_from_cov(Sxx, Syy, Sxy, **kw)
    if metric == "svcca":
        return shape.svcca_from_cov(Sxx, Syy, Sxy, **kw)
    if metric == "pwcca":
        return shape.pwcca_from_cov(Sxx, Syy, Sxy, **kw)
    if metric == "linear_regression":
        return regression.regression_r2_from_cov(Sxx, Syy, Sxy, **kw)
    raise AssertionError(metric)  # pragma: no cover


# --------------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------------


def layer_matrix(
    source_a: Any,
    source_b: Any = None,
    metric: str = "linear_cka",
    layers: Sequence[str] | str | None = None,
    *,
    scheduler: Any = None,
    block_rows: int | None = None,
    device: Any = None,
    progress: bool = False,
    **kw: Any,
) -> LayerMatrix:
    """Measure ``metric`` between every pair of layers, within ``source_a`` or between two sources.

    Parameters
    ----------
    source_a, source_b:
        An ``ActivationStore`` (``repscope.open_store``) or a mapping ``{layer name: (n, ...) array}``.
        With ``source_b`` the matrix is source_a layers × source_b layers; stores are matched by
        ``sample_ids`` (reordered when the same ids come in a different order; an error when they differ).
    metric:
        A registered name (``repscope.metrics.available()``); extra keyword arguments go to the measure
        (e.g. ``alpha=0.5`` for ``shape_metric``, ``compare="kendall_tau_a"`` for ``rsa``).
    layers:
        Layer names (list or comma-separated string) to use from each source; default all.
    scheduler:
        Generic (non-linear) measures only: ``None``/``"serial"``, ``"processes"``, or a Dask client /
        address / ``"local:N"`` (see module doc and :func:`repscope.parallel.resolve_scheduler`).
    block_rows:
        Rows per streamed block for the linear path (default: ~64 MiB of float64 per block).
    device:
        ``None``/``"cpu"`` numpy+BLAS; ``"cuda"``/``"auto"`` accumulate with torch on that device.

    Returns a :class:`LayerMatrix`; ``values[i, j]`` = metric(rows[i], cols[j]). Several measures over
    one streamed pass: :func:`layer_matrices`.
    """
    return layer_matrices(
        source_a,
        source_b,
        metrics=[metric],
        layers=layers,
        scheduler=scheduler,
        block_rows=block_rows,
        device=device,
        progress=progress,
        options={metric: kw},
    )[0]


def layer_matrices(
    source_a: Any,
    source_b: Any = None,
    metrics: Sequence[str] | str = ("linear_cka", "procrustes"),
    layers: Sequence[str] | str | None = None,
    *,
    scheduler: Any = None,
    block_rows: int | None = None,
    device: Any = None,
    progress: bool = False,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[LayerMatrix]:
    """Several measures at once (same arguments as :func:`layer_matrix`); all linear measures share one
    streamed pass over the data. ``options`` maps a metric name to its keyword arguments."""
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    if not metrics:
        raise InputError("no metric given; choose from repscope.metrics.available()")
    options = dict(options or {})
    unknown_opts = set(options) - set(metrics)
    if unknown_opts:
        raise InputError(
            f"options given for {sorted(unknown_opts)}, which are not among metrics={list(metrics)}"
        )
    measures = {m: registry.get(m) for m in metrics}
    A = _Source(source_a, "source_a")
    la = A.select(layers)
    B = None if source_b is None else _Source(source_b, "source_b")
    lb = la if B is None else B.select(layers)
    perm = None if B is None else _match(A, B)
    scheduler = resolve_scheduler(scheduler)  # validates; None → use_scheduler()/env default → serial
    linear = [m for m in metrics if m in LINEAR_MEASURES]
    results: dict[str, LayerMatrix] = {}
    dims = [A.dim(layer) for layer in la] + ([] if B is None else [B.dim(layer) for layer in lb])

    def result(m: str, vals: np.ndarray, kw: dict, seconds: float) -> LayerMatrix:
        return LayerMatrix(values=vals, rows=list(la), cols=list(lb), metric=m, kind=measures[m].kind,
                           n_samples=A.n, description=measures[m].description, params=kw, seconds=seconds)

    if linear == ["linear_cka"] and device is None and not options.get("linear_cka") and _gram_preferred(
        dims, A.n, len(la) + (0 if B is None else len(lb))
    ):
        t0 = time.perf_counter()
        results["linear_cka"] = result("linear_cka", _gram_cka(A, B, la, lb, perm), {}, time.perf_counter() - t0)
        linear = []
    if linear:
        t0 = time.perf_counter()
        acc, q, col_off = _linear_stream(
            A, B, la, lb, perm, block_rows, device, progress, want_q="debiased_cka" in linear
        )
        t_stream = (time.perf_counter() - t0) / len(linear)
        from repscope.metrics._common import eig_cache

        with eig_cache():  # one eigen-decomposition per layer, shared by all linear measures
            for m in linear:
                t1 = time.perf_counter()
                kw = dict(options.get(m, {}))
                vals = _linear_finish(m, acc, q, len(la), len(lb), col_off, B is None, kw)
                results[m] = result(m, vals, kw, t_stream + time.perf_counter() - t1)
    for m in metrics:
        if m in results:
            continue
        t1 = time.perf_counter()
        kw = dict(options.get(m, {}))
        vals = _generic_matrix(measures[m], A, B, la, lb, perm, scheduler, device, progress, kw)
        results[m] = result(m, vals, kw, time.perf_counter() - t1)
    return [results[m] for m in metrics]


#: Memory the sample-space (Gram) path may use for all layers' n×n Gram matrices.
_GRAM_BUDGET = 1 << 30


def _gram_preferred(dims: list[int], n: int, n_layers: int) -> bool:
    """Sample space (n×n Grams) beats feature space (D×D stacked covariance) when the layers are much wider
    than the sample count — e.g. full-resolution conv maps — and the Grams fit in :data:`_GRAM_BUDGET`."""
    D = sum(dims)
    return D > 2 * n and n_layers * n * n * 8 <= _GRAM_BUDGET


def _gram_cka(A, B, la, lb, perm) -> np.ndarray:
    """Linear CKA from centred, unit-norm Gram matrices: CKA(X, Y) = ⟨K̃_X, K̃_Y⟩_F / (‖K̃_X‖_F ‖K̃_Y‖_F) with
    K̃ = H X Xᵀ H (Kornblith et al. 2019, eq. 4) — equal to the feature-space form ‖YᵀX‖²_F/(‖XᵀX‖_F‖YᵀY‖_F)
    on centred data, at O(n²·d) instead of O(n·d²) work and n² instead of D² memory."""

    def gram(src, layer, rows=None):
        X = src.read(layer, rows).astype(np.float64, copy=True)
        X -= X.mean(axis=0)
        K = X @ X.T
        norm = np.linalg.norm(K)
        if norm == 0.0:
            raise InputError(
                f"{src.name} layer {layer!r} is constant across samples; CKA is undefined for it — drop the layer"
            )
        return K / norm

    Ka = [gram(A, layer) for layer in la]
    Kb = Ka if B is None else [gram(B, layer, perm) for layer in lb]
    out = np.empty((len(Ka), len(Kb)))
    for i, Ki in enumerate(Ka):
        for j, Kj in enumerate(Kb):
            if B is None and j < i:
                out[i, j] = out[j, i]
            else:
                out[i, j] = 1.0 if (B is None and i == j) else float(np.vdot(Ki, Kj))
    return out


def _linear_stream(A, B, la, lb, perm, block_rows, device, progress, want_q):
    la_n = len(la)
    if B is None:
        pairs = all_pairs(la_n, symmetric=True, diagonal=True)
        col_off, sources, layer_lists = 0, [A], [la]
    else:
        pairs = [(i, la_n + j) for i in range(la_n) for j in range(len(lb))]
        col_off, sources, layer_lists = la_n, [A, B], [la, lb]
    if block_rows is None:
        dims = [A.dim(layer) for layer in la] + ([] if B is None else [B.dim(layer) for layer in lb])
        block_rows = _auto_block_rows(dims, A.n)
    if int(block_rows) < 1:
        raise InputError(f"block_rows={block_rows}; give a positive number of rows per block")
    acc, q = _stream(sources, layer_lists, pairs, int(block_rows), device, perm, progress, want_q=want_q)
    return acc, q, col_off


#: Value of a measure between a representation and itself (exact; the diagonal is not recomputed).
_IDENTITY = {
    "linear_cka": 1.0,
    "debiased_cka": 1.0,
    "procrustes": 0.0,
    "cca": 1.0,
    "svcca": 1.0,
    "pwcca": 1.0,
}


def _linear_finish(metric, acc, q, n_rows, n_cols, col_off, within, kw) -> np.ndarray:
    from repscope.metrics._common import eig_cache

    if metric in ("linear_cka", "debiased_cka", "procrustes") and kw:
        raise InputError(f"{metric} takes no options in layer_matrix (got {sorted(kw)})")
    symmetric = within and (
        metric in _SYMMETRIC or (metric == "linear_regression" and kw.get("direction", "mean") == "mean")
    )
    out = np.full((n_rows, n_cols), np.nan)

    def self_blk(i):
        return acc.block(i, i)  # the same array object every time (numpy path), so eig_cache hits

    with eig_cache(keep=True):  # each layer's eigen-decomposition once, shared by all its pairs
        for i in range(n_rows):
            for j in range(n_cols):
                if within and i == j and metric in _IDENTITY:
                    out[i, j] = _IDENTITY[metric]
                    continue
                if symmetric and j < i:
                    out[i, j] = out[j, i]
                    continue
                gi, gj = i, j + col_off
                qx = None if q is None else q[gi]
                qy = None if q is None else q[gj]
                out[i, j] = _linear_value(
                    metric, self_blk(gi), self_blk(gj), acc.block(gi, gj), acc.n, qx, qy, kw
                )
    return out


def _generic_matrix(measure, A, B, la, lb, perm, scheduler, device, progress, kw) -> np.ndarray:
    n_workers = 1 if scheduler == "serial" else None
    if device is not None:
        kw = {**kw, "device": device}
    arrays = [A.read(layer) for layer in la]
    if B is not None:
        arrays += [B.read(layer, perm) for layer in lb]
    if measure.prepare is not None:
        prep = functools.partial(measure.prepare, **kw) if kw else measure.prepare
        items = map_items(
            prep, arrays, n_workers=n_workers, progress=progress, desc=f"{measure.name}: prepare",
            scheduler=scheduler,
        )
        func = measure.compare
    else:
        items = arrays
        func = functools.partial(measure.func, **kw) if kw else measure.func
    la_n = len(la)
    if B is None:
        symmetric = measure.name in _SYMMETRIC
        pairs = (
            all_pairs(la_n, symmetric=symmetric, diagonal=True)
            if symmetric
            else [(i, j) for i in range(la_n) for j in range(la_n)]
        )
        col_off = 0
    else:
        symmetric = False
        pairs = [(i, la_n + j) for i in range(la_n) for j in range(len(lb))]
        col_off = la_n
    vals = map_pairs(
        func, items, pairs, n_workers=n_workers, progress=progress, desc=f"{measure.name}: pairs",
        scheduler=scheduler,
    )
    out = np.full((la_n, len(lb)), np.nan)
    for (i, j), v in zip(pairs, vals):
        out[i, j - col_off] = v
        if symmetric:
            out[j, i] = v
    return out
