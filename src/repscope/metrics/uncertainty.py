"""Uncertainty for layer matrices: bootstrap confidence intervals, paired comparisons, permutation tests.

``layer_matrix(..., n_boot=200, ci=0.95, n_perm=0, seed=0)`` returns a :class:`LayerMatrixCI` whose
``ci_low_``/``ci_high_`` hold percentile bootstrap intervals per entry (Efron & Tibshirani 1993, ch. 13)
and ``p_values_`` permutation p-values; :func:`compare_entries` asks whether two entries differ.

**Bootstrap of the linear measures — resampled weights on accumulated group moments, one pass.**
Every linear measure is a function of the second moments, which are sums over rows. The rows are
dealt at random (seeded, balanced) into K groups, and the one streamed pass accumulates, per group g,
its count n_g, column sums s_g and raw products R_g = Σ_{r∈g} z_r z_rᵀ of the stacked layers (shifted by
the first block's means, so no precision is lost). A bootstrap replicate draws multinomial counts
w ~ Mult(K; 1/K, …, 1/K) over the groups and forms N = Σ w_g n_g, s = Σ w_g s_g,
S = Σ w_g R_g − s sᵀ/N — the centred second moments of the resampled data — then the registry's
finisher turns S into values. Cost: one pass over the data (the same flops as without a bootstrap)
plus, per replicate, one K×D² weighted sum (a GEMM over replicates) and the finishing — no re-read of
the data. Why groups rather than per-row Poisson weights: per-row weights need B weighted products per
row block (B passes' worth of flops); group sums cost one pass, and resampling K i.i.d. groups is the
ordinary bootstrap of the group totals. When K = n (the default whenever the K·D² moments fit in
``boot_memory``, up to :data:`MAX_GROUPS`) it is exactly the ordinary row bootstrap; otherwise each
group is a random n/K-row subsample and the bootstrap is over K i.i.d. units (K ≥ :data:`MIN_GROUPS`).

Debiased CKA also needs, per replicate, Σ w q_i q_j and Σ w q_i of the squared norms q of the centred rows;
both expand into per-group moments of a = ‖z‖² (Σ a_i a_j, Σ a_i z, Σ a_i) accumulated in the same pass
(:class:`_WeightedRowNorms`).

**Other measures** (RBF CKA, RSA, k-NN, topology ...) are bootstrapped by resampling rows
with replacement and recomputing the matrix through the runner (``scheduler=`` applies): B times the
cost of one matrix.

**Permutation test** against the null of unrelated representations: the rows of the column layers are
permuted (seeded) and the matrix recomputed; p = (1 + #{null at least as close as observed}) / (1 + P)
(Phipson & Smyth 2010). Linear measures stream each permutation with the cross-product engine (rows read
in permuted order, memory bounded); other measures go through the runner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from repscope.errors import InputError
from repscope.metrics._result import LayerMatrix
from repscope.results import ResultBase, to_jsonable

__all__ = ["LayerMatrixCI", "EntryComparison", "compare_entries", "GroupedMoments"]

#: Most bootstrap groups (K = n up to here: the ordinary row bootstrap).
MAX_GROUPS = 2000
#: Fewest groups the streamed bootstrap accepts.
MIN_GROUPS = 50


def check_uncertainty_args(n_boot: int, ci: float, n_perm: int) -> None:
    if int(n_boot) != n_boot or n_boot < 0 or 0 < n_boot < 20:
        raise InputError(f"n_boot={n_boot!r}; give 0 (no bootstrap) or at least 20 resamples (e.g. 200)")
    if int(n_perm) != n_perm or n_perm < 0:
        raise InputError(f"n_perm={n_perm!r}; give 0 (no permutation test) or a number of permutations (e.g. 200)")
    if not (0.0 < float(ci) < 1.0):
        raise InputError(f"ci={ci!r}; give the coverage of the confidence intervals in (0, 1), e.g. 0.95")


# --------------------------------------------------------------------------------------------------
# Grouped moments (streamed bootstrap of linear measures)
# --------------------------------------------------------------------------------------------------


class GroupedMoments:
    """Per-group count, column sums and raw products of the stacked, shifted layers (see module doc).

    Feeds like the engine's accumulators (:meth:`update` with one block per layer, in row order);
    :meth:`block` gives the full-data centred blocks (the point estimate), :meth:`replicates` the
    bootstrap replicates' block accessors.
    """

    def __init__(self, dims: Sequence[int], n: int, n_groups: int, seed: Any) -> None:
        self.dims = [int(d) for d in dims]
        self.off = np.concatenate([[0], np.cumsum(self.dims)]).astype(int)
        D = int(self.off[-1])
        K = int(n_groups)
        rng = np.random.default_rng(seed)
        self.group = np.empty(n, dtype=np.int64)
        self.group[rng.permutation(n)] = np.arange(n) % K  # balanced, random
        self.counts = np.bincount(self.group, minlength=K).astype(np.float64)
        self.sums = np.zeros((K, D))
        self.R = np.zeros((K, D, D))
        L = len(self.dims)  # squared-norm moments a_l = ‖z_l‖² per row (debiased CKA's row norms)
        self.P = np.zeros((K, L, L))  # Σ a_i a_j
        self.AZ = np.zeros((K, L, D))  # Σ a_i z
        self.T = np.zeros((K, L))  # Σ a_i
        self.shift: np.ndarray | None = None
        self.n = 0
        self.K = K
        self._full: _Blocks | None = None

    def update(self, blocks: Sequence[np.ndarray]) -> None:
        nb = blocks[0].shape[0]
        if nb == 0:
            return
        if self.shift is None:
            self.shift = np.concatenate([np.asarray(b, dtype=np.float64).mean(0) for b in blocks])
        Z = np.concatenate([np.asarray(b, dtype=np.float64).reshape(nb, -1) for b in blocks], axis=1) - self.shift
        g = self.group[self.n : self.n + nb]
        order = np.argsort(g, kind="stable")
        gs = g[order]
        starts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
        ends = np.r_[starts[1:], nb]
        Zs = Z[order]
        As = np.stack([np.einsum("ij,ij->i", Zs[:, a:b], Zs[:, a:b]) for a, b in zip(self.off[:-1], self.off[1:])],
                      axis=1)
        for lo, hi in zip(starts, ends):
            k = gs[lo]
            z, a = Zs[lo:hi], As[lo:hi]
            self.R[k] += z.T @ z
            self.sums[k] += z.sum(axis=0)
            self.P[k] += a.T @ a
            self.AZ[k] += a.T @ z
            self.T[k] += a.sum(axis=0)
        self.n += nb
        self._full = None

    def _blocks(self, N: float, s: np.ndarray, R: np.ndarray, w: np.ndarray | None = None) -> _Blocks:
        S = R - np.outer(s, s) / N
        out = _Blocks(0.5 * (S + S.T), self.off, int(round(N)))
        if w is not None:
            out.q = [_WeightedRowNorms(i, N, s / N, R, w @ self.P.reshape(self.K, -1), w @ self.AZ.reshape(self.K, -1),
                                       w @ self.T, self.off) for i in range(len(self.dims))]
        return out

    def block(self, i: int, j: int) -> np.ndarray:
        if self._full is None:
            self._full = self._blocks(float(self.counts.sum()), self.sums.sum(0), self.R.sum(0))
        return self._full.block(i, j)

    def means(self) -> list[np.ndarray]:
        mu = self.shift + self.sums.sum(0) / self.n
        return [mu[self.off[k] : self.off[k + 1]] for k in range(len(self.dims))]

    def replicates(self, n_boot: int, seed: Any, chunk_bytes: int = 256 << 20):
        """Yield one block accessor per bootstrap replicate (multinomial group weights, seeded)."""
        rng = np.random.default_rng(seed)
        W = rng.multinomial(self.K, np.full(self.K, 1.0 / self.K), size=n_boot).astype(np.float64)
        D = self.R.shape[1]
        Rf = self.R.reshape(self.K, D * D)
        chunk = max(1, chunk_bytes // (8 * D * D))
        for c in range(0, n_boot, chunk):
            Wc = W[c : c + chunk]
            Rc = (Wc @ Rf).reshape(-1, D, D)
            for w, Rb in zip(Wc, Rc):
                yield self._blocks(float(w @ self.counts), w @ self.sums, Rb, w)


class _WeightedRowNorms:
    """The squared norms q_r = ‖z_r − μ‖² of one layer's centred rows in a bootstrap replicate, as the two
    statistics debiased CKA needs (``q_i @ q_j`` = Σ_r w_r q_ir q_jr and ``q_i.sum()`` = Σ_r w_r q_ir),
    expanded in the accumulated moments (a = ‖z‖² of the shifted rows):
    Σ w q_i q_j = P_ij − 2μ_jᵀV_ij − 2μ_iᵀV_ji + ‖μ_j‖²T_i + ‖μ_i‖²T_j + 4μ_iᵀR_ijμ_j − 2‖μ_j‖²μ_iᵀs_i
    − 2‖μ_i‖²μ_jᵀs_j + N‖μ_i‖²‖μ_j‖², with P = Σ w a_i a_j, V_ij = Σ w a_i z_j, T_i = Σ w a_i, s_i = Σ w z_i."""

    def __init__(self, i, N, mu, R, P, AZ, T, off) -> None:
        self.i, self.N, self.mu, self.R, self.off = i, N, mu, R, off
        L = len(off) - 1
        self.P, self.AZ, self.T = P.reshape(L, L), AZ.reshape(L, -1), T

    def _m(self, k):
        return self.mu[self.off[k] : self.off[k + 1]]

    def __matmul__(self, other: _WeightedRowNorms) -> float:
        i, j, N = self.i, other.i, self.N
        mi, mj = self._m(i), self._m(j)
        si, sj = N * mi, N * mj
        ni, nj = float(mi @ mi), float(mj @ mj)
        Vij = self.AZ[i, self.off[j] : self.off[j + 1]]
        Vji = self.AZ[j, self.off[i] : self.off[i + 1]]
        Rij = self.R[self.off[i] : self.off[i + 1], self.off[j] : self.off[j + 1]]
        return float(self.P[i, j] - 2 * mj @ Vij - 2 * mi @ Vji + nj * self.T[i] + ni * self.T[j]
                     + 4 * mi @ Rij @ mj - 2 * nj * (mi @ si) - 2 * ni * (mj @ sj) + N * ni * nj)

    def sum(self) -> float:
        m = self._m(self.i)
        return float(self.T[self.i] - self.N * (m @ m))


class _Blocks:
    """Block accessor over one stacked D×D matrix (diagonal blocks are the same object on every call)."""

    def __init__(self, S: np.ndarray, off: np.ndarray, n: int) -> None:
        self.S, self.off, self.n = S, off, n
        self.q: list[_WeightedRowNorms] | None = None
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def block(self, i: int, j: int) -> np.ndarray:
        if (i, j) not in self._cache:
            self._cache[i, j] = self.S[self.off[i] : self.off[i + 1], self.off[j] : self.off[j + 1]]
        return self._cache[i, j]


def n_groups_for(n: int, D: int, boot_memory: int) -> int:
    """K = min(n, MAX_GROUPS, what fits in ``boot_memory``); InputError below MIN_GROUPS."""
    K = int(min(n, MAX_GROUPS, boot_memory // max(1, 8 * D * D)))
    if K < min(n, MIN_GROUPS):
        raise InputError(
            f"the streamed bootstrap needs ≥ {MIN_GROUPS} groups of moments, {8 * D * D / 2**20:.0f} MiB each for "
            f"{D} stacked features, but boot_memory allows {K}; raise boot_memory= or choose fewer layers "
            f"(layers=...)"
        )
    return K


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


@dataclass
class LayerMatrixCI(LayerMatrix):
    """The layer matrix (:class:`repscope.results.MatrixResult`) of a measure with its uncertainty.

    ``ci_low``/``ci_high`` (aliases ``ci_low_``/``ci_high_``): percentile bootstrap interval of coverage
    ``ci_level`` per entry — written by ``to_dict()`` and shown in ``table()``/``plot()`` by the matrix
    result itself; ``boot_``: the ``n_boot`` replicate matrices (for :func:`compare_entries`; not in
    ``to_dict()``); ``extra["p_values"]`` (alias ``p_values_``): one-sided permutation p-values (is the entry
    closer than for unrelated representations?), ``extra["null_mean"]``: the mean under that null.
    """

    n_boot: int = 0
    n_perm: int = 0
    seed: Any = None
    boot_: np.ndarray | None = field(default=None, repr=False)

    @property
    def ci(self) -> float | None:
        return self.ci_level

    @property
    def ci_low_(self) -> np.ndarray | None:
        return self.ci_low

    @property
    def ci_high_(self) -> np.ndarray | None:
        return self.ci_high

    @property
    def p_values_(self) -> np.ndarray | None:
        return self.extra.get("p_values")

    @property
    def null_mean_(self) -> np.ndarray | None:
        return self.extra.get("null_mean")

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(to_jsonable({"n_boot": self.n_boot, "n_perm": self.n_perm, "seed": self.seed}))
        return d

    def summary(self) -> str:
        text = super().summary()
        if self.n_boot and self.ci_low is not None and self.ci_high is not None and self.ci_level is not None:
            w = np.nanmax(self.ci_high - self.ci_low)
            text += (f"\n{int(round(100 * self.ci_level))}% bootstrap intervals from {self.n_boot} resamples "
                     f"(widest: {w:.3f}).")
        p = self.p_values_
        if self.n_perm and p is not None:
            text += (f"\nPermutation test ({self.n_perm} permutations): "
                     f"{int(np.sum(p <= 0.05))} of {p.size} entries with p ≤ 0.05.")
        return text


@dataclass
class EntryComparison(ResultBase):
    """Paired bootstrap comparison of two entries of one layer matrix: Δ = value[a] − value[b]."""

    metric: str
    a: tuple[str, str]
    b: tuple[str, str]
    difference: float
    ci: float
    ci_low: float
    ci_high: float
    p_value: float
    n_boot: int

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({"kind": "entry_comparison", "metric": self.metric, "a": list(self.a),
                            "b": list(self.b), "difference": self.difference, "ci": self.ci,
                            "ci_low": self.ci_low, "ci_high": self.ci_high, "p_value": self.p_value,
                            "n_boot": self.n_boot})

    def table(self) -> tuple[list[str], list[list[str]]]:
        return (["a", "b", "difference", f"{int(round(100 * self.ci))}% CI", "p"],
                [["/".join(self.a), "/".join(self.b), f"{self.difference:.4f}",
                  f"[{self.ci_low:.4f}, {self.ci_high:.4f}]", f"{self.p_value:.3g}"]])

    def summary(self) -> str:
        verdict = "differ" if self.p_value <= 1 - self.ci else "are not distinguishable"
        return (f"{self.metric}{self.a} − {self.metric}{self.b} = {self.difference:.4f}, "
                f"{int(round(100 * self.ci))}% CI [{self.ci_low:.4f}, {self.ci_high:.4f}], paired bootstrap "
                f"p = {self.p_value:.3g} ({self.n_boot} resamples): the two entries {verdict}.")

    @property
    def title(self) -> str:
        return f"Paired comparison — {self.metric}"

    def plot(self, ax: Any = None) -> Any:
        from repscope.results import axes_figure

        fig, ax = axes_figure(ax, (4, 2))
        ax.errorbar([self.difference], [0], xerr=[[self.difference - self.ci_low], [self.ci_high - self.difference]],
                    fmt="o", capsize=4)
        ax.axvline(0.0, color="grey", lw=0.8)
        ax.set_yticks([])
        ax.set_xlabel(f"Δ {self.metric}")
        ax.set_title(f"{'/'.join(self.a)} vs {'/'.join(self.b)}")
        return fig

    def plotly(self) -> Any:
        import plotly.graph_objects as go

        return go.Figure(go.Scatter(x=[self.difference], y=[0], mode="markers", error_x={
            "type": "data", "symmetric": False, "array": [self.ci_high - self.difference],
            "arrayminus": [self.difference - self.ci_low]}))


def compare_entries(result: LayerMatrixCI, a: tuple[Any, Any], b: tuple[Any, Any]) -> EntryComparison:
    """Paired bootstrap comparison of entries ``a = (row, col)`` and ``b`` of ``result`` (indices or layer
    names): Δ_b = value_b[a] − value_b[b] over the *same* resamples, so the correlation of the two
    entries is accounted for. Interval: percentile of Δ; p-value: two-sided, 2·min(P(Δ ≤ 0), P(Δ ≥ 0))
    over the resamples (with the +1 correction)."""
    boot, ci = getattr(result, "boot_", None), result.ci_level
    if boot is None or ci is None:
        raise InputError("this layer matrix has no bootstrap; compute it with layer_matrix(..., n_boot=200)")

    def index(entry, names_r, names_c):
        if len(entry) != 2:
            raise InputError(f"entry {entry!r}: give (row, col) as indices or layer names")
        out = []
        for x, names in zip(entry, (names_r, names_c)):
            if isinstance(x, str):
                if x not in names:
                    raise InputError(f"layer {x!r} is not among {names}")
                out.append(names.index(x))
            else:
                if not -len(names) <= int(x) < len(names):
                    raise InputError(f"index {x} is outside the {len(names)} layers")
                out.append(int(x))
        return tuple(out)

    ia, ib = index(a, result.rows, result.cols), index(b, result.rows, result.cols)
    d = boot[:, ia[0], ia[1]] - boot[:, ib[0], ib[1]]
    obs = float(result.values[ia] - result.values[ib])
    alpha = 1.0 - ci
    lo, hi = np.quantile(d, [alpha / 2, 1 - alpha / 2])
    B = d.size
    p = min(1.0, 2.0 * min((1 + np.sum(d <= 0)) / (B + 1), (1 + np.sum(d >= 0)) / (B + 1)))
    name = (result.rows[ia[0]], result.cols[ia[1]]), (result.rows[ib[0]], result.cols[ib[1]])
    return EntryComparison(metric=result.metric, a=name[0], b=name[1], difference=obs, ci=ci,
                           ci_low=float(lo), ci_high=float(hi), p_value=float(p), n_boot=B)


def interval(boot: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval per entry of the replicate stack ``boot`` (B × rows × cols)."""
    alpha = 1.0 - ci
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
    return lo, hi


def permutation_p(observed: np.ndarray, null: np.ndarray, kind: str) -> np.ndarray:
    """(1 + #{null at least as close as observed}) / (1 + P) per entry; closer = higher for a similarity,
    lower for a distance."""
    closer = null >= observed[None] if kind == "similarity" else null <= observed[None]
    return (1.0 + closer.sum(axis=0)) / (1.0 + null.shape[0])
