"""The one streaming engine for every measure computed from second moments.

Every linear measure (linear / debiased CKA, Procrustes and the shape metrics, the CCA family, linear
regression) depends on the data only through the centred second-moment blocks
S_ij = Σ_rows (x_i − μ_i)(x_j − μ_j)ᵀ of the stacked layer features (each measure's ``from_blocks`` finisher
in :mod:`repscope.metrics.registry` says how it is read off them), plus — for
debiased CKA — the squared norms q of the centred rows. This module holds, once:

* **the block rule** — :func:`auto_block_rows` (≈ :data:`BLOCK_BYTES` of float64 per row block across all
  layers, a multiple of the store's native chunk);
* **the accumulation** — :func:`block_moments` (count, means, centred products of one row block) and
  :func:`merge_moments`, the exact pairwise merge of Chan, Golub & LeVeque (1979):
  S ← S_a + S_b + n_a n_b/(n_a + n_b) · δ_i δ_jᵀ, δ = μ_b − μ_a; used by the in-process
  :class:`CovarianceAccumulator` and by the Dask tree reduction in :mod:`repscope.scale.linear` alike, and
  the in-process fast path :class:`StackedAccumulator` (one in-place ``dsyrk`` per block);
* **the finishing** — :func:`finish_matrix` / :func:`finish_pair` turn blocks into values with the
  measure's registered ``from_blocks`` finisher (:class:`repscope.metrics.registry.Measure`): the registry
  says how each measure finishes, what it equals between a layer and itself (``identity``) and whether it
  is symmetric. A measure may also register ``from_blocks_batch``, which finishes many pairs in one call
  (batched eigen-/singular-value decompositions over all pairs of the same shape).

Few samples, wide layers: when n is small against the layer widths, the d×d blocks are the expensive
(and memory-hungry) part, and every one of these measures also has an n×n formulation — one centred Gram
K = XXᵀ and thin factor per layer (:class:`repscope.metrics.gram.GramFactor`), finished per pair with the
measure's registered ``from_grams`` (:func:`finish_gram_matrix`). :func:`repscope.metrics.layer_matrix`
picks the cheaper route (``formulation="auto"``, cost model in :mod:`repscope.metrics.gram`) and records
it in the result's ``meta["formulation"]``. The Dask path (:mod:`repscope.scale.linear`) always uses the
covariance route.

Callers: :func:`repscope.metrics.layer_matrix` (in-process stream) and
:func:`repscope.scale.streamed_cross_products` (Dask over zarr chunks).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from repscope.errors import InputError

__all__ = [
    "BLOCK_BYTES",
    "auto_block_rows",
    "block_moments",
    "merge_moments",
    "CovarianceAccumulator",
    "StackedAccumulator",
    "linear_measures",
    "finish_pair",
    "finish_matrix",
    "finish_gram_matrix",
    "gram_measures",
    "needs_row_norms",
    "centred_row_norms",
]

#: Float64 bytes of one streamed row block across all layers (in-process and Dask paths alike).
BLOCK_BYTES = 64 << 20
#: Fewest rows per block (below this GEMMs lose efficiency).
MIN_BLOCK_ROWS = 256
#: Most rows of one float32 product in the opt-in ``precision="float32"`` path (sums are float64).
FLOAT32_ROWS = 1024
#: Accumulation precisions.
PRECISIONS = ("float64", "float32")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise InputError(f"precision={precision!r}; use 'float64' (default) or 'float32' (faster, linear CKA only)")
    return precision


def auto_block_rows(dims: Sequence[int], n: int, native: int = 1) -> int:
    """Rows per streamed block: ≈ :data:`BLOCK_BYTES` of float64 across all layers (``dims``), at least
    :data:`MIN_BLOCK_ROWS`, at most ``n``, and a multiple of the store's ``native`` chunk rows (≥ one chunk)
    so that a Dask task reads whole chunks."""
    rows = max(MIN_BLOCK_ROWS, BLOCK_BYTES // (8 * max(1, int(sum(dims)))))
    rows = min(rows, max(1, int(n)))
    native = max(1, int(native))
    return int(max(native, (rows // native) * native))


# --------------------------------------------------------------------------------------------------
# Accumulation
# --------------------------------------------------------------------------------------------------

#: Moments of a set of rows: (count, [mean per layer], {(i, j): centred product}).
Moments = tuple[int, list[Any], dict[tuple[int, int], Any]]


def block_moments(xs: Sequence[Any], pairs: Sequence[tuple[int, int]], low: bool = False) -> Moments:
    """(n_b, means, {pair: X̃_iᵀX̃_j}) of one row block; ``xs`` are float64 numpy arrays or torch tensors
    (one (n_b, d_l) per layer). For i == j numpy dispatches X̃ᵀX̃ to BLAS syrk. ``low``: the centred block
    is rounded to float32 for the products (over ≤ :data:`FLOAT32_ROWS` rows each), summed in float64."""
    nb = int(xs[0].shape[0])
    means = [x.mean(0) for x in xs]
    cen = [x - m for x, m in zip(xs, means)]
    if not low:
        return nb, means, {(i, j): cen[i].T @ cen[j] for i, j in pairs}
    cen = [c.float() if hasattr(c, "float") else c.astype(np.float32) for c in cen]
    S = {}
    for i, j in pairs:
        G = None
        for s in range(0, nb, FLOAT32_ROWS):
            g = cen[i][s : s + FLOAT32_ROWS].T @ cen[j][s : s + FLOAT32_ROWS]
            g = g.double() if hasattr(g, "double") else g.astype(np.float64)
            G = g if G is None else G + g
        S[i, j] = G
    return nb, means, S


def merge_moments(into: Moments, *parts: Moments) -> Moments:
    """Exact pairwise merge (Chan, Golub & LeVeque 1979) of ``parts`` into ``into``; the products of
    ``into`` are updated in place (callers pass owned arrays), the merged moments are returned."""
    n, means, S = into
    means = list(means)
    for nb, mb, Sb in parts:
        if nb == 0:
            continue
        if n == 0:
            n, means, S = nb, list(mb), dict(Sb)
            continue
        w = n * nb / (n + nb)
        deltas = [b - a for a, b in zip(means, mb)]
        for (i, j), G in S.items():
            G += Sb[i, j]
            G += w * (deltas[i][:, None] * deltas[j][None, :])
        means = [a + d * (nb / (n + nb)) for a, d in zip(means, deltas)]
        n += nb
    return n, means, S


def check_finite_blocks(blocks: Sequence[Any], names: Sequence[str], where: str = "") -> None:
    """InputError naming the first layer whose block holds NaN/Inf."""
    for name, a in zip(names, blocks):
        if not np.isfinite(a).all():
            raise InputError(f"{name} has NaN/Inf values{where}; recapture or drop those samples")


def centred_row_norms(blocks: Sequence[Any], means: Sequence[np.ndarray]) -> list[np.ndarray]:
    """‖x_r − μ‖² of every row of each layer's block (second pass of debiased CKA)."""
    out = []
    for b, mu in zip(blocks, means):
        c = np.asarray(b, dtype=np.float64).reshape(b.shape[0], -1) - mu
        out.append(np.einsum("ij,ij->i", c, c))
    return out


class CovarianceAccumulator:
    """Streaming centred cross products S_ij = Σ_rows (x_i − μ_i)(x_j − μ_j)ᵀ for chosen layer pairs.

    Feed aligned row blocks with :meth:`update` (a list with one (b, d_l) array per layer); block
    statistics are merged exactly with :func:`merge_moments`. Accumulates in float64 (numpy/BLAS, or
    torch on ``device``).
    """

    def __init__(self, n_layers: int, pairs: Sequence[tuple[int, int]], device: Any = None,
                 precision: str = "float64") -> None:
        from repscope.metrics._common import use_torch

        check_precision(precision)
        self.precision = precision
        self.dev = use_torch(device)
        self.pairs = sorted({(min(i, j), max(i, j)) for i, j in pairs} | {(i, i) for i in range(n_layers)})
        self.n_layers = n_layers
        self._m: Moments = (0, [None] * n_layers, {})
        self._np: dict[tuple[int, int], np.ndarray] = {}

    @property
    def n(self) -> int:
        return self._m[0]

    @property
    def S(self) -> dict[tuple[int, int], Any]:
        return self._m[2]

    def _arr(self, a: np.ndarray) -> Any:
        if self.dev is None:
            return np.asarray(a, dtype=np.float64)
        import torch

        return torch.as_tensor(np.asarray(a), device=self.dev).to(torch.float64)

    def update(self, blocks: Sequence[np.ndarray]) -> None:
        if len(blocks) != self.n_layers:
            raise InputError(f"expected {self.n_layers} layer blocks, got {len(blocks)}")
        xs = [self._arr(b) for b in blocks]
        if xs[0].shape[0] == 0:
            return
        self._m = merge_moments(self._m, block_moments(xs, self.pairs, low=self.precision == "float32"))
        self._np = {}

    def block(self, i: int, j: int) -> np.ndarray:
        """S_ij as a float64 numpy array (the same object on repeated calls, so eig caches hit)."""
        from repscope.metrics._common import to_numpy

        key = (i, j) if (i, j) in self.S else (j, i)
        if key not in self._np:
            self._np[key] = to_numpy(self.S[key])
        return self._np[key] if key == (i, j) else self._np[key].T

    def means(self) -> list[np.ndarray]:
        from repscope.metrics._common import to_numpy

        return [to_numpy(m) for m in self._m[1]]


class StackedAccumulator:
    """Within-source fast path: all layers' centred cross products as ONE stacked D×D matrix.

    Each row block is shifted by the first block's means and written into a reused float64 buffer
    Z (b×D, all layers side by side); one in-place BLAS ``dsyrk`` per block adds ZᵀZ to the upper
    triangle of C (Fortran order, no temporaries). At the end C − n·δδᵀ (δ = mean of the shifted data)
    gives the centred products: the shift removes any large offset, so the final rank-1 correction is
    tiny and loses no precision. Memory: D² + b·D doubles, independent of n.

    ``precision="float32"`` (opt-in, linear CKA): the shifted block is rounded to float32 and each product
    is one ``ssyrk`` over at most :data:`FLOAT32_ROWS` rows (twice the float64 rate); the per-block
    products are summed in float64 (blocked, compensated summation), so rounding does not grow with n.
    Error: each accumulated entry carries ≈ u₃₂(1 + √b)·Σ|z_i z_j| (u₃₂ = 6·10⁻⁸, b ≤ 1024 rows), i.e. a
    relative error ≲ 2·10⁻⁶ per entry of S, which averages out in the Frobenius norms of linear CKA: the
    CKA values are within 10⁻⁶ relative of float64 (tested with a large mean offset; measured ≈ 10⁻⁷).
    """

    def __init__(self, dims: Sequence[int], block_rows: int, precision: str = "float64") -> None:
        check_precision(precision)
        self.precision = precision
        self.dims = [int(d) for d in dims]
        self.off = np.concatenate([[0], np.cumsum(self.dims)]).astype(int)
        D = int(self.off[-1])
        self.C = np.zeros((D, D), dtype=np.float64, order="F")
        self.colsum = np.zeros(D)
        self.shift: np.ndarray | None = None
        dtype = np.float32 if precision == "float32" else np.float64
        self.Z = np.empty((int(block_rows), D), dtype=dtype)
        self.n = 0
        self._diag: dict[int, np.ndarray] = {}

    def shifted(self, blocks: Sequence[np.ndarray]) -> np.ndarray:
        """The block, shifted by the first block's means, in the reused b×D float64 buffer."""
        nb = blocks[0].shape[0]
        if nb > self.Z.shape[0]:
            self.Z = np.empty((nb, self.Z.shape[1]), dtype=self.Z.dtype)
        if self.shift is None:
            shift = np.concatenate([np.asarray(b, dtype=np.float64).mean(0) for b in blocks])
            self._shift32 = shift.astype(np.float32)  # float32 path: subtract in float32 (exact shift below)
            self.shift = self._shift32.astype(np.float64) if self.Z.dtype == np.float32 else shift
        Z = self.Z[:nb]
        shift = self.shift if Z.dtype == np.float64 else self._shift32
        for k, b in enumerate(blocks):
            lo, hi = self.off[k], self.off[k + 1]
            np.subtract(b, shift[lo:hi], out=Z[:, lo:hi], casting="unsafe")
        return Z

    def update(self, blocks: Sequence[np.ndarray]) -> None:
        from scipy.linalg.blas import dsyrk

        if blocks[0].shape[0] == 0:
            return
        Z = self.shifted(blocks)
        self.colsum += Z.sum(axis=0, dtype=np.float64)
        if self.precision == "float32":
            from scipy.linalg.blas import ssyrk

            for s in range(0, Z.shape[0], FLOAT32_ROWS):  # float32 products, summed in float64
                self.C += ssyrk(1.0, Z[s : s + FLOAT32_ROWS].T, trans=0, lower=0)
        else:
            # Zᵀ is Fortran-contiguous (D×nb): dsyrk(trans=0) computes ZᵀZ without copying Z.
            self.C = dsyrk(1.0, Z.T, beta=1.0, c=self.C, trans=0, lower=0, overwrite_c=1)
        self.n += Z.shape[0]
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
        if self.shift is None:
            raise InputError("no rows were accumulated: the layers' means need at least one block of rows")
        mu = self.shift + self.colsum / self.n
        return [mu[self.off[k] : self.off[k + 1]] for k in range(len(self.dims))]


# --------------------------------------------------------------------------------------------------
# Finishing (the registry says how)
# --------------------------------------------------------------------------------------------------


def linear_measures() -> list[str]:
    """Names of the registered measures that finish from covariance blocks (``from_blocks``)."""
    from repscope.metrics import registry

    return [m for m in registry.available() if registry.get(m).from_blocks is not None]


def _measure(metric: Any) -> Any:
    from repscope.metrics import registry

    m = metric if isinstance(metric, registry.Measure) else registry.get(metric)
    if m.from_blocks is None:
        raise InputError(
            f"metric {m.name!r} cannot be finished from cross products; choose from {linear_measures()}"
        )
    return m


@functools.lru_cache(maxsize=256)
def _params(fn: Callable) -> Mapping[str, inspect.Parameter]:
    return inspect.signature(fn).parameters


def needs_row_norms(metric: Any) -> bool:
    """Whether the measure's finisher needs the squared norms of the centred rows (``qx``/``qy``)."""
    return "qx" in _params(_measure(metric).from_blocks)


def check_block_options(measure: Any, kw: dict) -> None:
    """InputError when ``kw`` holds options the measure's finisher does not take."""
    params = _params(measure.from_blocks)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = [k for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY and k not in _CONTEXT]
    bad = sorted(set(kw) - set(allowed))
    if bad:
        if not allowed:
            raise InputError(f"{measure.name} takes no options in a layer matrix (got {bad})")
        raise InputError(f"{measure.name} has no option(s) {bad}; its options are {allowed}")


#: Keyword arguments the engine supplies to finishers that declare them (not user options).
_CONTEXT = ("n", "qx", "qy")


def _context(measure: Any, n: int, qx: Any, qy: Any) -> dict:
    params = _params(measure.from_blocks)
    ctx = {"n": n, "qx": qx, "qy": qy}
    return {k: v for k, v in ctx.items() if k in params}


def finish_pair(metric: Any, Sxx: np.ndarray, Syy: np.ndarray, Sxy: np.ndarray, *, n: int,
                qx: Any = None, qy: Any = None, **kw: Any) -> float:
    """One value of ``metric`` from the blocks S_xx, S_yy, S_xy (``n`` rows; q = squared norms of the
    centred rows, needed by debiased CKA)."""
    m = _measure(metric)
    check_block_options(m, kw)
    return float(m.from_blocks(Sxx, Syy, Sxy, **_context(m, n, qx, qy), **kw))


def finish_matrix(
    metric: Any,
    block: Callable[[int, int], np.ndarray],
    *,
    n: int,
    rows: Sequence[int],
    cols: Sequence[int],
    within: bool,
    kw: dict | None = None,
    q: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """Matrix of ``metric`` between layers ``rows`` and ``cols`` (global indices into ``block(i, j)``).

    ``within``: rows and cols are the same layers (one source): the diagonal takes the registered
    ``identity`` and, for symmetric measures, only the upper triangle is finished. The measure's
    ``from_blocks_batch`` (if registered) finishes all pairs in one call; otherwise ``from_blocks`` runs
    per pair with each layer's eigen-decomposition shared (``block(i, i)`` must return the same object on
    every call for the cache to hit).
    """
    from repscope.metrics._common import eig_cache

    m = _measure(metric)
    kw = dict(kw or {})
    check_block_options(m, kw)
    out, todo, symmetric = _plan(m, kw, len(rows), len(cols), within)
    if q is None and needs_row_norms(m):
        raise InputError(f"{m.name} needs the squared row norms of the centred data, which were not accumulated")
    with eig_cache(keep=True):  # each layer's eigen-decomposition once, shared by all its pairs
        if m.from_blocks_batch is not None and todo:
            vals = m.from_blocks_batch(block, [(rows[a], cols[b]) for a, b in todo], n=n, **kw)
        else:
            vals = []
            for a, b in todo:
                gi, gj = rows[a], cols[b]
                qx = None if q is None else q[gi]
                qy = None if q is None else q[gj]
                vals.append(m.from_blocks(block(gi, gi), block(gj, gj), block(gi, gj),
                                          **_context(m, n, qx, qy), **kw))
    return _fill(out, todo, vals, symmetric)


def _plan(m: Any, kw: dict, n_rows: int, n_cols: int, within: bool) -> tuple[np.ndarray, list, bool]:
    """The output matrix with the identity diagonal filled in, the (a, b) entries left to compute (only the
    upper triangle for symmetric measures within one source), and whether to mirror."""
    identity = m.identity_for(kw)
    symmetric = within and m.symmetric_for(kw)
    out = np.full((n_rows, n_cols), np.nan)
    todo: list[tuple[int, int]] = []
    for a in range(n_rows):
        for b in range(n_cols):
            if within and a == b and identity is not None:
                out[a, b] = identity
            elif not (symmetric and b < a):
                todo.append((a, b))
    return out, todo, symmetric


def _fill(out: np.ndarray, todo: list, vals: Sequence[float], symmetric: bool) -> np.ndarray:
    for (a, b), v in zip(todo, vals):
        out[a, b] = v
    if symmetric:
        lower = np.tril_indices(out.shape[0], -1)
        out[lower] = out.T[lower]
    return out


def gram_measures() -> list[str]:
    """Names of the registered measures that also finish from the sample side (``from_grams``)."""
    from repscope.metrics import registry

    return [m for m in registry.available() if registry.get(m).from_grams is not None]


def finish_gram_matrix(
    metric: Any,
    factor: Callable[[int], Any],
    *,
    rows: Sequence[int],
    cols: Sequence[int],
    within: bool,
    kw: dict | None = None,
) -> np.ndarray:
    """:func:`finish_matrix` from the sample side: ``factor(i)`` is layer i's
    :class:`repscope.metrics.gram.GramFactor` (computed once per layer), each pair finished by the measure's
    ``from_grams`` with the same options, identity diagonal and symmetry as the covariance route."""
    m = _measure(metric)
    if m.from_grams is None:
        raise InputError(f"metric {m.name!r} has no sample-side (gram) finisher; use formulation='covariance'")
    kw = dict(kw or {})
    check_block_options(m, kw)
    out, todo, symmetric = _plan(m, kw, len(rows), len(cols), within)
    vals = [m.from_grams(factor(rows[a]), factor(cols[b]), **kw) for a, b in todo]
    return _fill(out, todo, vals, symmetric)
