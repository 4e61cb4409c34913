"""Similarity at scale: estimates with confidence intervals for the n×n measures.

RBF CKA, debiased (Gram-form) CKA, RSA, mutual k-NN and CKNNA look at every pair of samples: O(n²) time,
and at n = 10⁵–10⁶ that is out of reach. :func:`estimate` returns the exact value when the n² work fits
the ``budget`` (``method="exact"``, a zero-width interval) and otherwise an estimate of *that exact value*
(the full-data measure on the n samples given, not a population quantity) with a confidence interval at
``level``, in an :class:`Estimate`:

* **minibatch** (``debiased_cka``; ``rbf_cka`` with ``debiased=True``) — Nguyen, Raghu & Kornblith (2021,
  "Do wide and deep networks learn the same things?", ICLR, sec. 3.1): the unbiased HSIC₁ (Song et al.
  2012, JMLR 13, eq. 5) of each of b disjoint random minibatches of B rows, averaged;
  CKA = mean HSIC₁(K_b, L_b) / √(mean HSIC₁(K_b, K_b) · mean HSIC₁(L_b, L_b)). A random B-subset's U-statistic
  has the full-data U-statistic as its expectation, so each mean is unbiased for the full-data HSIC₁
  (the ratio has an O(1/b) bias). Interval: delete-one-batch jackknife of the ratio (Efron & Stein 1981;
  Efron & Tibshirani 1993, ch. 11), t quantile with b − 1 degrees of freedom. RBF bandwidth: σ × the
  median squared distance estimated on a seeded sample of random pairs (see below), fixed for all batches.
* **rff** (``rbf_cka``, biased or debiased) — random Fourier features (Rahimi & Recht 2007, "Random
  features for large-scale kernel machines", NIPS): ψ(x) = √2 cos(ωᵀx + b), ω ~ N(0, I/ℓ²),
  b ~ U[0, 2π), with E ψ(x)ψ(y) = exp(−‖x−y‖²/(2ℓ²)) = k(x, y), ℓ² = σ² · median‖x−y‖² (the bandwidth rule
  of :func:`repscope.metrics.cka.rbf_cka`). The HSIC of K and L is a bilinear form B(K, L) (biased: ⟨HKH, HLH⟩;
  debiased: n(n−3)·HSIC₁), and with m features per representation K̂ = (1/m) Σⱼ ψⱼψⱼᵀ. Independent
  features for X and Y make B(K̂, L̂) unbiased for B(K, L); for the self terms the diagonal j = l pairs are
  removed, B̂(K, K) = [Σ_{j,l} B(ψⱼψⱼᵀ, ψₗψₗᵀ) − Σⱼ B(ψⱼψⱼᵀ, ψⱼψⱼᵀ)] / (m(m−1)) — a U-statistic over
  features, unbiased too. So numerator and denominators are unbiased for the exact kernel's; the ratio
  of their means over r independent repetitions (new features, new bandwidth sample) carries an
  O(1/(rm)) ratio bias only, and converges to the exact value as m grows. Interval: delete-one-repetition
  jackknife, t with r − 1 d.f. All accumulated in row blocks: memory O(m² + block), never n×n.
* **pairs** (``rsa``) — the exact RSA compares the two RDMs over all N = n(n−1)/2 pairs. Each
  repetition draws P pairs (i < j) uniformly with replacement and computes the comparator (Pearson or
  Spearman) of the two dissimilarity vectors on those pairs: a consistent estimate of the all-pairs value
  whose bias is O(1/P) (for Spearman E r_s = [(P−2)ρ_s + 3τ]/(P+1) on i.i.d. draws, Kendall 1970 ch. 9);
  estimate = mean over r repetitions, t interval with r − 1 d.f. ``method="stimuli"`` instead uses the
  whole RDM of random subsets of s stimuli (what a lab would do by hand): pairs sharing stimuli are
  dependent, so it converges as 1/√s — much slower than pairs at the same cost; provided for comparison.
* **queries** (``mutual_knn``, ``jaccard_knn``, ``cknna``) — exact-recall sampling: q query samples drawn
  without replacement, their exact k nearest neighbours found among all n samples (blocks of q × n
  similarities, as :func:`repscope.metrics.neighbors.knn_table`). Mutual k-NN is the mean over samples of
  |N_k^X(i) ∩ N_k^Y(i)|/k, so the query mean is unbiased for it; its variance carries the
  finite-population correction 1 − q/n (Cochran 1977, eq. 2.19) and the interval is Korn & Graubard's
  (1998) Clopper–Pearson interval at the effective sample size (robust to the skew of mostly-zero
  overlaps; see :func:`_bounded_mean_interval`). CKNNA (Huh et al. 2024) is a ratio of sparse HSIC₁ sums
  over rows; each row's terms need the neighbour lists of its own neighbours, so the neighbours of the
  queries' neighbours are searched too (q(k + 1) rows per representation), the row sums are estimated by
  n × their query means, and the interval is the delete-one-query jackknife of the ratio (with the same
  correction). With q = n both equal the exact measures (tested). Approximate-neighbour libraries
  (pynndescent, faiss) are not in the environment, and their recall errors would bias the overlap; the
  exact search over all n per query costs q·n·d, which the budget bounds.

**Bandwidth** (RBF): the exact :func:`~repscope.metrics.cka.rbf_cka` uses σ² × the median of all n² squared
distances of the centred rows, diagonal (zeros) included. Here it is the median over ``median_pairs``
(default 20 000) index pairs (i, j) drawn independently and uniformly from {0..n−1}², so i = j with
probability 1/n as in the exact rule; seeded, redrawn per repetition, so its sampling error is part of
the interval's spread.

**Budget**: ``budget`` counts pairwise entries (kernel values, dissimilarities, similarities) computed,
each one inner product of two samples. Exact when the measure's exact work fits: n² ≤ budget (RBF CKA,
RSA, k-NN measures) or n·(p + q) ≤ budget (debiased linear CKA in feature space, O(n(p+q)²) flops, the
same flops as budget entries of length p + q). Linear CKA is always exact (feature space). Otherwise the
sampled method's sizes are chosen to fit the budget (see :func:`estimate`), each overridable.

Intervals are for the exact value *given these data* (the randomness is the seeded sampling only).
Coverage is checked in ``tests/metrics/test_metrics_estimate.py`` over 200 seeds per estimator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.metrics._common import centre, pair, use_torch
from repscope.results import ResultBase, axes_figure, to_jsonable

__all__ = ["Estimate", "estimate", "ESTIMABLE", "DEFAULT_BUDGET"]

#: Default budget: pairwise entries computed (exact RBF CKA / RSA / k-NN up to n = 10 000).
DEFAULT_BUDGET = 10**8
#: Measures :func:`estimate` knows, with their sampled method (``None``: always exact).
ESTIMABLE: dict[str, str | None] = {
    "linear_cka": None,
    "debiased_cka": "minibatch",
    "rbf_cka": "rff",
    "rsa": "pairs",
    "mutual_knn": "queries",
    "jaccard_knn": "queries",
    "cknna": "queries",
}
_METHODS = {
    "debiased_cka": ("minibatch",),
    "rbf_cka": ("rff", "minibatch"),
    "rsa": ("pairs", "stimuli"),
    "mutual_knn": ("queries",),
    "jaccard_knn": ("queries",),
    "cknna": ("queries",),
}
#: The options of each measure (kept in ``Estimate.params``).
_OPTIONS = {"rbf_cka": ("sigma", "debiased"), "rsa": ("rdm", "compare"), "mutual_knn": ("k",),
            "jaccard_knn": ("k",), "cknna": ("k",)}
#: Scratch bytes per row block (features, similarity rows).
BLOCK_BYTES = 64 * 2**20
#: Most per-unit values kept in ``Estimate.to_dict()`` (all are kept on the object).
MAX_UNITS_SAVED = 1000


# --------------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------------


@dataclass
class Estimate(ResultBase):
    """A similarity value with a confidence interval: ``estimate`` in [``low``, ``high``] at ``level``.

    ``method``: ``"exact"`` (zero-width interval), ``"minibatch"``, ``"rff"``, ``"pairs"``, ``"stimuli"``
    or ``"queries"`` (module docstring). ``n``: samples given; ``n_used``: samples the estimate looked at;
    ``units``: the per-unit values (per batch / repetition / query) whose spread gives the interval;
    ``params``: the sizes used (batch size, features, pairs, queries, bandwidth factor ...).

    Examples
    --------
    >>> from repscope.metrics import Estimate
    >>> e = Estimate(metric="rbf_cka", estimate=0.8, low=0.75, high=0.85, level=0.95, method="nystrom",
    ...              n=10_000, n_used=2_000)
    >>> round(e.width, 2)
    0.1
    """

    metric: str
    estimate: float
    low: float
    high: float
    level: float
    method: str
    n: int
    n_used: int
    se: float = 0.0
    units: np.ndarray = field(default_factory=lambda: np.zeros(0))
    seed: int | None = 0
    params: dict[str, Any] = field(default_factory=dict)

    title = "Similarity estimate"

    @property
    def width(self) -> float:
        return float(self.high - self.low)

    def to_dict(self) -> dict[str, Any]:
        d = {"metric": self.metric, "estimate": self.estimate, "low": self.low, "high": self.high,
             "level": self.level, "method": self.method, "se": self.se, "n": self.n, "n_used": self.n_used,
             "n_units": int(self.units.size), "seed": self.seed, "params": self.params}
        if self.units.size <= MAX_UNITS_SAVED:
            d["units"] = self.units
        return to_jsonable(d)

    def summary(self) -> str:
        if self.method == "exact":
            return f"{self.metric} = {self.estimate:.4f} (exact, all {self.n} samples)."
        return (f"{self.metric} ≈ {self.estimate:.4f}, {100 * self.level:g}% interval [{self.low:.4f}, "
                f"{self.high:.4f}] (SE {self.se:.2g}; {self.method} estimate from {self.units.size} units, "
                f"{self.n_used} of {self.n} samples).")

    def table(self) -> tuple[list[str], list[list[Any]]]:
        return (["measure", "method", "estimate", "low", "high", "level", "n", "n used"],
                [[self.metric, self.method, f"{self.estimate:.4f}", f"{self.low:.4f}", f"{self.high:.4f}",
                  f"{self.level:g}", str(self.n), str(self.n_used)]])

    def plot(self, ax: Any = None) -> Any:
        fig, ax = axes_figure(ax, (5, 2.5))  # a plain Figure, never pyplot
        u = self.units[np.isfinite(self.units)]
        if u.size:
            jitter = np.random.default_rng(0).uniform(-0.15, 0.15, u.size)
            ax.scatter(u, 1 + jitter, s=6, color="0.6", label=f"per-unit values ({self.method})")
        ax.errorbar([self.estimate], [0], xerr=[[self.estimate - self.low], [self.high - self.estimate]],
                    fmt="o", color="C0", capsize=4, label=f"estimate, {100 * self.level:g}% interval")
        ax.set_yticks([0, 1] if u.size else [0], ["estimate", "units"][: 2 if u.size else 1])
        ax.set_ylim(-0.6, 1.6 if u.size else 0.6)
        ax.set_xlabel(self.metric)
        ax.set_title(self.summary()[:90], fontsize=8)
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        return fig

    def plotly(self) -> Any:
        import plotly.graph_objects as go

        fig = go.Figure(go.Scatter(
            x=[self.estimate], y=[self.metric], mode="markers", name="estimate",
            error_x={"type": "data", "symmetric": False, "array": [self.high - self.estimate],
                     "arrayminus": [self.estimate - self.low]}))
        fig.update_layout(title=self.summary()[:90], xaxis_title=self.metric)
        return fig


# --------------------------------------------------------------------------------------------------
# Intervals
# --------------------------------------------------------------------------------------------------


def _t(level: float, df: int) -> float:
    import scipy.stats

    return float(scipy.stats.t.ppf(0.5 + level / 2.0, df))


def _jackknife(
    U: np.ndarray, f: Callable[[np.ndarray], np.ndarray], level: float, fpc: float = 1.0
) -> tuple[float, float, float, float]:
    """(estimate, low, high, SE) of f(mean of the rows of U) from the delete-one jackknife over the q rows
    (units): SE² = fpc·(q−1)/q·Σᵢ (f₋ᵢ − f̄₋)², f₋ᵢ = f(mean without row i); interval f ± t_{q−1}·SE.
    For f the identity this is the usual s/√q. ``fpc`` = 1 − q/n for units sampled without replacement."""
    U = np.asarray(U, dtype=np.float64)
    q = U.shape[0]
    if q < 2:
        raise InputError("an interval needs at least 2 sampling units; raise the budget or the repetitions")
    S = U.sum(axis=0)
    est = float(f(S / q))
    loo = f((S[None, :] - U) / (q - 1))
    se = float(np.sqrt(max(fpc, 0.0) * (q - 1) / q * np.sum((loo - loo.mean()) ** 2)))
    if not (np.isfinite(est) and np.isfinite(se)):
        raise InputError(
            "the estimate is undefined on this sample (a self-similarity term is ≤ 0: too few samples per "
            "unit, or a constant representation); raise batch_size / n_features / the budget"
        )
    h = _t(level, q - 1) * se
    return est, est - h, est + h, se


def _cka_ratio(M: np.ndarray) -> np.ndarray:
    """CKA from (…, 3) means of (HSIC_xy, HSIC_xx, HSIC_yy); NaN where a self term is ≤ 0."""
    xx, yy = M[..., 1], M[..., 2]
    ok = (xx > 0) & (yy > 0)
    return np.where(ok, M[..., 0] / np.sqrt(np.where(ok, xx * yy, 1.0)), np.nan)


def _mean(M: np.ndarray) -> np.ndarray:
    return M[..., 0]


def _bounded_mean_interval(u: np.ndarray, n: int, level: float) -> tuple[float, float, float, float]:
    """Mean of values in [0, 1] over q of n units drawn without replacement, with the Korn–Graubard
    interval (Korn & Graubard 1998, "Confidence intervals for proportions with small expected number of
    positive counts estimated from survey data", Survey Methodology 24: 193–201): Clopper–Pearson limits
    at the effective sample size n* = p̂(1 − p̂)/v̂ · (z/t_{q−1})², v̂ = fpc·s²/q the variance of the mean
    (fpc = 1 − q/n), x* = n*·p̂. A t interval undercovers when the overlaps are skewed (mostly 0 for weakly
    related representations: measured 0.91 at 95% with q = 100); this one stays within [0, 1] and is
    conservative there. Values in [0, 1] have s² ≤ p̂(1 − p̂), so n* ≥ q·(z/t)²; when every value is the
    same (v̂ = 0) n* = q: with p̂ = 0 the upper limit is 1 − (α/2)^(1/q), the share of units that could
    differ unseen."""
    import scipy.stats

    q = u.size
    fpc = 1.0 - q / n
    est, _, _, se = _jackknife(u[:, None], _mean, level, fpc)
    if q >= n:
        return est, est, est, 0.0
    alpha = 1.0 - level
    var = se * se
    pq = est * (1.0 - est)
    n_eff = pq / var if var > 0 and pq > 0 else float(q)
    n_eff *= (scipy.stats.norm.ppf(1 - alpha / 2) / _t(level, q - 1)) ** 2
    x = n_eff * est
    lo = float(scipy.stats.beta.ppf(alpha / 2, x, n_eff - x + 1)) if x > 0 else 0.0
    hi = float(scipy.stats.beta.ppf(1 - alpha / 2, x + 1, n_eff - x)) if x < n_eff else 1.0
    if var == 0 and 0 < est < 1:  # all q values equal c ∈ (0, 1): bound the share π that could differ
        pi = 1.0 - (alpha / 2.0) ** (1.0 / q)
        lo, hi = est - pi * est, est + pi * (1.0 - est)
    return est, lo, hi, se


# --------------------------------------------------------------------------------------------------
# Bandwidth from a sample of pairs
# --------------------------------------------------------------------------------------------------


def sampled_median_sq_dist(A: np.ndarray, n_pairs: int, rng: np.random.Generator) -> float:
    """Median of ‖aᵢ − aⱼ‖² over ``n_pairs`` index pairs (i, j) drawn independently and uniformly from
    {0..n−1}² (i = j allowed: the exact rule's median covers all n² entries, diagonal included)."""
    n = A.shape[0]
    i = rng.integers(0, n, n_pairs)
    j = rng.integers(0, n, n_pairs)
    d = np.empty(n_pairs)
    step = max(1, BLOCK_BYTES // (8 * A.shape[1]))
    for s in range(0, n_pairs, step):
        diff = A[i[s : s + step]] - A[j[s : s + step]]
        d[s : s + step] = np.einsum("ij,ij->i", diff, diff)
    med = float(np.median(d))
    if med <= 0:
        raise InputError("more than half of the sampled pairwise distances are zero; the RBF bandwidth is "
                         "undefined (many duplicate samples?) — deduplicate the rows or use linear CKA")
    return med


def _check_sigma(sigma: float) -> float:
    if not np.isfinite(sigma) or sigma <= 0:
        raise InputError(f"sigma={sigma!r}; the RBF bandwidth factor must be a positive number (e.g. 1.0)")
    return float(sigma)


# --------------------------------------------------------------------------------------------------
# Minibatch HSIC₁ (Nguyen et al. 2021)
# --------------------------------------------------------------------------------------------------


def _batch_hsic_linear(Xb: np.ndarray, Yb: np.ndarray) -> tuple[float, float, float]:
    """(HSIC₁ xy, xx, yy) of one batch, linear kernel, in feature space (as ``MinibatchCKA.update``)."""
    from repscope.metrics.cka import _debias, _products

    Xc, Yc = centre(Xb), centre(Yb)
    n = Xc.shape[0]
    xy, xx, yy = _products(Xc, Yc, None)
    qx = np.einsum("ij,ij->i", Xc, Xc)
    qy = np.einsum("ij,ij->i", Yc, Yc)
    norm = n * (n - 3.0)
    return _debias(xy, qx, qy, n) / norm, _debias(xx, qx, qx, n) / norm, _debias(yy, qy, qy, n) / norm


def _batch_hsic_rbf(Xb: np.ndarray, Yb: np.ndarray, sx: float, sy: float) -> tuple[float, float, float]:
    """(HSIC₁ xy, xx, yy) of one batch with fixed RBF scales 2σ²·med (U-centred Grams, Kornblith's code)."""
    from repscope.metrics.cka import _sq_dists, center_gram

    n = Xb.shape[0]
    K = center_gram(np.exp(-_sq_dists(Xb) / sx), unbiased=True)
    L = center_gram(np.exp(-_sq_dists(Yb) / sy), unbiased=True)
    norm = n * (n - 3.0)
    return float(np.vdot(K, L)) / norm, float(np.vdot(K, K)) / norm, float(np.vdot(L, L)) / norm


def minibatch_estimate(
    A: np.ndarray, B: np.ndarray, *, kernel: str, batch_size: int, n_batches: int, sigma: float,
    median_pairs: int, level: float, seed: int | None,
) -> tuple[float, float, float, float, np.ndarray, dict]:
    n = A.shape[0]
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)[: batch_size * n_batches]
    params: dict[str, Any] = {"batch_size": batch_size, "n_batches": n_batches}
    if kernel == "rbf":
        Ac, Bc = centre(A), centre(B)
        sx = 2.0 * sigma**2 * sampled_median_sq_dist(Ac, median_pairs, rng)
        sy = 2.0 * sigma**2 * sampled_median_sq_dist(Bc, median_pairs, rng)
        params.update(sigma=sigma, median_pairs=median_pairs)

        def one(idx: np.ndarray) -> tuple[float, float, float]:
            return _batch_hsic_rbf(Ac[idx], Bc[idx], sx, sy)
    else:

        def one(idx: np.ndarray) -> tuple[float, float, float]:
            return _batch_hsic_linear(A[idx], B[idx])

    U = np.array([one(order[b * batch_size : (b + 1) * batch_size]) for b in range(n_batches)])
    est, lo, hi, se = _jackknife(U, _cka_ratio, level)
    return est, lo, hi, se, _cka_ratio(U), params


# --------------------------------------------------------------------------------------------------
# Random Fourier features (Rahimi & Recht 2007) with feature-U-statistic self terms
# --------------------------------------------------------------------------------------------------


class _FeatureMoments:
    """Blockwise sums of one representation's random features Ψ (n×m, shifted by their first block's
    mean — HSIC, biased and unbiased, is invariant to a common shift of the features): Σψ, ΨᵀΨ, the
    squared row norms qᵢ = ‖ψᵢ‖² (their sum, and Σᵢ ψᵢⱼ⁴ per feature) for the debiased form."""

    def __init__(self, A: np.ndarray, ell2: float, m: int, rng: np.random.Generator) -> None:
        self.W = rng.standard_normal((A.shape[1], m)) / np.sqrt(ell2)
        self.b = rng.uniform(0.0, 2.0 * np.pi, m)
        self.m = m
        self.shift: np.ndarray | None = None
        self.s = np.zeros(m)
        self.G = np.zeros((m, m))
        self.Q = 0.0
        self.qq = 0.0
        self.f4 = np.zeros(m)

    def features(self, Ab: np.ndarray) -> np.ndarray:
        import torch

        P = Ab @ self.W
        P += self.b
        torch.from_numpy(P).cos_()  # in place; ~4× faster than np.cos
        P *= np.sqrt(2.0)
        if self.shift is None:
            self.shift = P.mean(axis=0)
        P -= self.shift
        return P

    def add(self, P: np.ndarray) -> np.ndarray:
        self.s += P.sum(axis=0)
        self.G += P.T @ P
        P2 = P * P
        q = P2.sum(axis=1)
        self.Q += float(q.sum())
        self.qq += float(q @ q)
        self.f4 += np.einsum("ij,ij->j", P2, P2)
        return q

    def self_term(self, n: int, debiased: bool) -> float:
        """Unbiased estimate of B(K, K): the feature-pair U-statistic (diagonal pairs j = l removed)."""
        m = self.m
        if debiased:
            c, e = n / (n - 2.0), 1.0 / ((n - 1.0) * (n - 2.0))
            total = float(np.vdot(self.G, self.G)) - c * self.qq + e * self.Q**2
            d = np.diag(self.G)
            diag = float(np.sum((1.0 + e) * d * d - c * self.f4))
        else:
            Gc = self.G - np.outer(self.s, self.s) / n
            total = float(np.vdot(Gc, Gc))
            diag = float(np.sum(np.diag(Gc) ** 2))
        return (total - diag) / (m * (m - 1.0))


def _rff_repetition(
    Ac: np.ndarray, Bc: np.ndarray, m: int, sigma: float, median_pairs: int, debiased: bool,
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    n = Ac.shape[0]
    fx = _FeatureMoments(Ac, sigma**2 * sampled_median_sq_dist(Ac, median_pairs, rng), m, rng)
    fy = _FeatureMoments(Bc, sigma**2 * sampled_median_sq_dist(Bc, median_pairs, rng), m, rng)
    Gxy = np.zeros((m, m))
    qxy = 0.0
    rows = max(16, BLOCK_BYTES // (8 * max(m, Ac.shape[1], Bc.shape[1]) * 4))
    for lo in range(0, n, rows):
        P = fx.features(Ac[lo : lo + rows])
        Q = fy.features(Bc[lo : lo + rows])
        Gxy += P.T @ Q
        qxy += float(fx.add(P) @ fy.add(Q))
    if debiased:
        c, e = n / (n - 2.0), 1.0 / ((n - 1.0) * (n - 2.0))
        xy = float(np.vdot(Gxy, Gxy)) - c * qxy + e * fx.Q * fy.Q
    else:
        Gc = Gxy - np.outer(fx.s, fy.s) / n
        xy = float(np.vdot(Gc, Gc))
    return xy / (m * m), fx.self_term(n, debiased), fy.self_term(n, debiased)


def rff_estimate(
    A: np.ndarray, B: np.ndarray, *, n_features: int, n_reps: int, sigma: float, debiased: bool,
    median_pairs: int, level: float, seed: int | None,
) -> tuple[float, float, float, float, np.ndarray, dict]:
    rng = np.random.default_rng(seed)
    Ac, Bc = centre(A), centre(B)
    U = np.array([_rff_repetition(Ac, Bc, n_features, sigma, median_pairs, debiased, rng) for _ in range(n_reps)])
    est, lo, hi, se = _jackknife(U, _cka_ratio, level)
    params = {"n_features": n_features, "n_reps": n_reps, "sigma": sigma, "debiased": debiased,
              "median_pairs": median_pairs}
    return est, lo, hi, se, _cka_ratio(U), params


# --------------------------------------------------------------------------------------------------
# Sampled RSA
# --------------------------------------------------------------------------------------------------


def _pair_dissimilarities(Z: np.ndarray, sq: Any, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Dissimilarities of the rows of the prepared matrix (``rsa._rows_prepared``) at pairs (i, j)."""
    out = np.empty(i.size)
    step = max(1, BLOCK_BYTES // (16 * Z.shape[1]))
    for s in range(0, i.size, step):
        a, b = Z[i[s : s + step]], Z[j[s : s + step]]
        if sq is None:  # correlation / cosine: unit rows, 1 − aᵀb
            out[s : s + step] = 1.0 - np.einsum("ij,ij->i", a, b)
        else:
            diff = a - b
            out[s : s + step] = np.einsum("ij,ij->i", diff, diff)
    return out


def rsa_estimate(
    A: np.ndarray, B: np.ndarray, *, rdm: str, compare: str, method: str, size: int, n_reps: int, level: float,
    seed: int | None,
) -> tuple[float, float, float, float, np.ndarray, dict]:
    """Mean of ``n_reps`` sampled RSA values ± t interval: ``method="pairs"`` compares the dissimilarities
    of ``size`` // ``n_reps`` random pairs per repetition, ``"stimuli"`` the whole RDMs of ``size`` random
    stimuli."""
    from repscope.metrics._rsa import _rows_prepared, compare_rdms, rsa

    n = A.shape[0]
    rng = np.random.default_rng(seed)
    if method == "pairs":
        Za, sa = _rows_prepared(A, rdm)
        Zb, sb = _rows_prepared(B, rdm)
        per = max(2, size // n_reps)
        params = {"n_pairs": per * n_reps, "pairs_per_rep": per}

        def one() -> float:
            i = rng.integers(0, n, per)
            j = rng.integers(0, n - 1, per)
            j += j >= i  # uniform over j ≠ i: unordered pairs uniform over the n(n−1)/2
            da = _pair_dissimilarities(Za, sa, i, j)
            db = _pair_dissimilarities(Zb, sb, i, j)
            if rdm == "euclidean":
                np.sqrt(da, out=da)
                np.sqrt(db, out=db)
            return compare_rdms(da, db, compare)
    else:
        params = {"subset": size}

        def one() -> float:
            idx = rng.choice(n, size, replace=False)
            return rsa(A[idx], B[idx], rdm=rdm, compare=compare)

    u = np.array([one() for _ in range(n_reps)])
    est, lo, hi, se = _jackknife(u[:, None], _mean, level)
    return est, lo, hi, se, u, {**params, "n_reps": n_reps, "rdm": rdm, "compare": compare}


# --------------------------------------------------------------------------------------------------
# Neighbour measures over sampled queries
# --------------------------------------------------------------------------------------------------


def knn_rows(
    Z: Any, rows: np.ndarray, k: int, *, block_bytes: int = BLOCK_BYTES
) -> tuple[np.ndarray, np.ndarray]:
    """((len(rows), k) neighbour indices, their similarities) of the given rows among all n rows of the
    torch tensor Z (unit rows): the k largest dot products, the row itself excluded (as ``knn_table``)."""
    import torch

    n = Z.shape[0]
    per = max(1, int(block_bytes) // (8 * n))
    idx = np.empty((rows.size, k), dtype=np.int64)
    val = np.empty((rows.size, k), dtype=np.float64)
    r_t = torch.as_tensor(rows, device=Z.device)
    for s in range(0, rows.size, per):
        r = r_t[s : s + per]
        S = Z[r] @ Z.T
        S[torch.arange(r.numel(), device=Z.device), r] = -torch.inf
        top = torch.topk(S, k, dim=1)
        idx[s : s + r.numel()] = top.indices.cpu().numpy()
        val[s : s + r.numel()] = top.values.cpu().numpy()
        del S, top
    return idx, val


def _unit_tensor(A: np.ndarray, device: Any) -> Any:
    import torch

    from repscope.metrics.neighbors import _unit_rows

    return torch.as_tensor(_unit_rows(A), device=use_torch(device) or torch.device("cpu"))


def knn_estimate(
    A: np.ndarray, B: np.ndarray, *, k: int, n_queries: int, jaccard: bool, level: float, seed: int | None,
    device: Any = None,
) -> tuple[float, float, float, float, np.ndarray, dict]:
    from repscope.metrics.neighbors import _overlap

    n = A.shape[0]
    rng = np.random.default_rng(seed)
    Q = np.sort(rng.choice(n, n_queries, replace=False))
    ia, _ = knn_rows(_unit_tensor(A, device), Q, k)
    ib, _ = knn_rows(_unit_tensor(B, device), Q, k)
    c = _overlap(ia, ib).astype(np.float64)
    u = c / (2 * k - c) if jaccard else c / k
    est, lo, hi, se = _bounded_mean_interval(u, n, level)
    return est, lo, hi, se, u, {"k": k, "n_queries": n_queries}


def _table(Z: Any, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sorted rows, their neighbour indices, similarities): look up row r at ``np.searchsorted(rows, r)``."""
    rows = np.unique(rows)
    idx, val = knn_rows(Z, rows, k)
    return rows, idx, val


def _lookup(rows: np.ndarray, want: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos = np.minimum(np.searchsorted(rows, want), rows.size - 1)
    return pos, rows[pos] == want


def cknna_units(
    A: np.ndarray, B: np.ndarray, Q: np.ndarray, k: int, device: Any = None
) -> np.ndarray:
    """Per query row i the ten row terms of CKNNA's three sparse HSIC₁ sums (neighbors module docstring):
    cross (α = mutual mask): Σⱼ α_ij α_ji K_ij L_ij, Σⱼ α_ij K_ij, Σⱼ α_ij L_ij, Σⱼ α_ij K_ij (α∘L 1)ⱼ; self X
    (α_X): Σⱼ α_ij α_ji K_ij², Σⱼ α_ij K_ij, Σⱼ α_ij K_ij (α_X∘K 1)ⱼ; self Y likewise."""
    Zx, Zy = _unit_tensor(A, device), _unit_tensor(B, device)
    nx, kx = knn_rows(Zx, Q, k)
    ny, ky = knn_rows(Zy, Q, k)
    rx, tx_i, tx_v = _table(Zx, np.concatenate([Q, nx.ravel()]), k)
    ry, ty_i, ty_v = _table(Zy, np.concatenate([Q, ny.ravel()]), k)
    # self terms: neighbours j of i, their own neighbour lists
    out = np.zeros((Q.size, 10))
    for col, (nb, kv, rows, ti, tv) in zip((4, 7), ((nx, kx, rx, tx_i, tx_v), (ny, ky, ry, ty_i, ty_v))):
        pj, _ = _lookup(rows, nb)  # every j ∈ N(i) is in the table
        back = (ti[pj] == Q[:, None, None]).any(axis=2)  # i ∈ N(j)
        a_j = tv[pj].sum(axis=2)
        out[:, col] = np.sum(kv * kv * back, axis=1)
        out[:, col + 1] = kv.sum(axis=1)
        out[:, col + 2] = np.sum(kv * a_j, axis=1)
    # cross terms over mutual neighbours j ∈ N^X(i) ∩ N^Y(i)
    eq = nx[:, :, None] == ny[:, None, :]
    mut = eq.any(axis=2)  # over X slots
    lv = np.where(mut, (eq * ky[:, None, :]).sum(axis=2), 0.0)
    kvm = np.where(mut, kx, 0.0)
    px, _ = _lookup(rx, nx)
    py, oky = _lookup(ry, nx)
    mut &= oky  # (always true where mutual; guards the lookup)
    nxj = tx_i[px]  # (q, k, k): X-neighbours of each X-neighbour j
    nyj, lyj = ty_i[py], ty_v[py]
    eqj = nxj[:, :, :, None] == nyj[:, :, None, :]
    mutj = eqj.any(axis=3)  # mutual neighbours of j, over j's X slots
    b_j = np.where(mutj, (eqj * lyj[:, :, None, :]).sum(axis=3), 0.0).sum(axis=2)  # (α∘L 1)_j
    i_in_mj = ((nxj == Q[:, None, None]) & mutj).any(axis=2)  # i ∈ M(j)
    out[:, 0] = np.sum(kvm * lv * (i_in_mj & mut), axis=1)
    out[:, 1] = kvm.sum(axis=1)
    out[:, 2] = lv.sum(axis=1)
    out[:, 3] = np.sum(kvm * b_j * mut, axis=1)
    return out


def _cknna_from_means(M: np.ndarray, n: int) -> np.ndarray:
    """CKNNA from (…, 10) query means of :func:`cknna_units` (row sums ≈ n × means)."""
    c2, c3 = 1.0 / ((n - 1.0) * (n - 2.0)), 2.0 / (n - 2.0)

    def h(t1: np.ndarray, a: np.ndarray, b: np.ndarray, t3: np.ndarray) -> np.ndarray:  # n(n−3)·HSIC₁
        return n * t1 + n * n * a * b * c2 - c3 * n * t3

    xy = h(M[..., 0], M[..., 1], M[..., 2], M[..., 3])
    xx = h(M[..., 4], M[..., 5], M[..., 5], M[..., 6])
    yy = h(M[..., 7], M[..., 8], M[..., 8], M[..., 9])
    return _cka_ratio(np.stack([xy, xx, yy], axis=-1))


def cknna_estimate(
    A: np.ndarray, B: np.ndarray, *, k: int, n_queries: int, level: float, seed: int | None, device: Any = None,
) -> tuple[float, float, float, float, np.ndarray, dict]:
    n = A.shape[0]
    rng = np.random.default_rng(seed)
    Q = np.sort(rng.choice(n, n_queries, replace=False))
    U = cknna_units(A, B, Q, k, device)
    est, lo, hi, se = _jackknife(U, lambda M: _cknna_from_means(M, n), level, 1.0 - n_queries / n)
    return est, lo, hi, se, np.zeros(0), {"k": k, "n_queries": n_queries}


# --------------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------------


def _check_level(level: float) -> float:
    if not (0.0 < float(level) < 1.0):
        raise InputError(f"level={level!r}; give the interval's coverage in (0, 1), e.g. 0.95")
    return float(level)


def _size(value: Any, name: str, lo: int, hi: int | None = None) -> int:
    if int(value) != value or int(value) < lo or (hi is not None and int(value) > hi):
        rng = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise InputError(f"{name}={value!r}; give an integer {rng}")
    return int(value)


def _exact(metric: str, A: np.ndarray, B: np.ndarray, kw: dict, device: Any) -> float:
    from repscope.metrics import cka, neighbors
    from repscope.metrics._rsa import rsa

    if metric == "linear_cka":
        return cka.linear_cka(A, B, device=device)
    if metric == "debiased_cka":
        return cka.debiased_cka(A, B, device=device)
    if metric == "rbf_cka":
        return cka.rbf_cka(A, B, kw["sigma"], debiased=kw["debiased"], device=device)
    if metric == "rsa":
        return rsa(A, B, rdm=kw["rdm"], compare=kw["compare"], device=device)
    if metric == "cknna":
        return neighbors.cknna(A, B, k=kw["k"], device=device)
    fn = neighbors.jaccard_knn if metric == "jaccard_knn" else neighbors.mutual_knn
    return fn(A, B, k=kw["k"], device=device)


def estimate(
    X: ArrayLike,
    Y: ArrayLike,
    metric: str = "rbf_cka",
    *,
    budget: float = DEFAULT_BUDGET,
    level: float = 0.95,
    seed: int | None = 0,
    method: str = "auto",
    sigma: float = 1.0,
    debiased: bool = False,
    rdm: str = "correlation",
    compare: str = "spearman",
    k: int = 10,
    batch_size: int | None = None,
    n_batches: int | None = None,
    n_features: int | None = None,
    n_reps: int | None = None,
    n_pairs: int | None = None,
    subset: int | None = None,
    n_queries: int | None = None,
    median_pairs: int = 20_000,
    device: Any = None,
) -> Estimate:
    """The n×n similarity ``metric`` of X (n×p) and Y (n×q) — exact when it fits ``budget``, else a sampled
    estimate with a ``level`` confidence interval for the exact value (methods, formulas and sources in the
    module docstring).

    ``metric``: ``"rbf_cka"`` (``sigma``, ``debiased``), ``"debiased_cka"``, ``"linear_cka"`` (always exact),
    ``"rsa"`` (``rdm``, ``compare`` ∈ pearson / spearman / cosine), ``"mutual_knn"``, ``"jaccard_knn"``,
    ``"cknna"`` (``k``). ``budget``: pairwise entries the computation may form (default 10⁸: exact up to
    n = 10 000). ``method``: ``"auto"`` (exact if it fits, else the measure's sampled method: rff for
    rbf_cka, minibatch for debiased_cka and for rbf_cka with ``debiased=True``), ``"exact"``,
    or a sampled method — ``"minibatch"`` (debiased_cka; rbf_cka with ``debiased=True``), ``"rff"``
    (rbf_cka), ``"pairs"`` / ``"stimuli"`` (rsa), ``"queries"`` (k-NN measures).

    Sizes (defaults from the budget): minibatch ``batch_size`` B = min(1000, n // 10) and ``n_batches`` =
    min(n // B, budget // B²) (≥ 10); rff ``n_reps`` = 10 repetitions of ``n_features`` m = clip(budget //
    (10 n), 64, 1024) per representation; pairs ``n_reps`` = 20 repetitions sharing ``n_pairs`` =
    min(budget, 2·10⁶) random pairs; stimuli ``n_reps`` = 20 subsets of ``subset`` = min(n, 2000,
    √(2·budget/20)) stimuli; queries ``n_queries`` q = clip(budget // (2n), 200, n) (CKNNA: budget //
    (2n(k+1))). ``median_pairs``: pairs for the RBF bandwidth's median. ``seed``: every random draw.

    Returns an :class:`Estimate` (``estimate``, ``low``, ``high``, ``level``, ``method``, ``n_used``...).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import estimate
    >>> X = np.random.default_rng(0).normal(size=(50, 4))
    >>> e = estimate(X, X, metric="rbf_cka")             # n² fits the budget: exact
    >>> e.method, round(e.estimate, 6), e.low == e.high
    ('exact', 1.0, True)
    """
    if metric not in ESTIMABLE:
        raise InputError(f"metric={metric!r} has no large-n estimate; choose one of {sorted(ESTIMABLE)}")
    level = _check_level(level)
    if not (np.isfinite(budget) and budget >= 1):
        raise InputError(f"budget={budget!r}; give the number of pairwise entries allowed, e.g. 1e8")
    A, B = pair(X, Y, min_samples=5 if metric == "cknna" else 4)
    n, p = A.shape
    qd = B.shape[1]
    sigma, debiased = _check_sigma(sigma), bool(debiased)
    kw = {"sigma": sigma, "debiased": debiased, "rdm": rdm, "compare": compare, "k": k}
    median_pairs = _size(median_pairs, "median_pairs", 100)
    if metric in ("rsa",):
        from repscope.metrics._rsa import RDM_METHODS, _comparator
        from repscope.validation import check_choice

        check_choice(rdm, "rdm", RDM_METHODS)
        kw["compare"] = compare = check_choice(_comparator(compare), "compare", ("pearson", "spearman", "cosine"))
    if metric in ("mutual_knn", "jaccard_knn", "cknna"):
        k = kw["k"] = _size(k, "k", 2 if metric == "cknna" else 1, n - 1)
    exact_cost = n * (p + qd) if metric == "debiased_cka" else n * n
    allowed = ("exact", "auto") + _METHODS.get(metric, ())
    if method not in allowed:
        raise InputError(f"method={method!r} does not apply to {metric}; choose one of {list(allowed)}")
    if method == "minibatch" and metric == "rbf_cka" and not debiased:
        raise InputError("minibatch RBF CKA estimates the debiased (HSIC₁) value; pass debiased=True, or use "
                         "method='rff' for the biased rbf_cka")
    if metric == "linear_cka" or method == "exact" or (method == "auto" and exact_cost <= budget):
        v = _exact(metric, A, B, kw, device)
        params = {key: val for key, val in kw.items() if key in _OPTIONS.get(metric, ())}
        return Estimate(metric, v, v, v, level, "exact", n, n, 0.0, np.zeros(0), seed, params)
    if method == "auto":  # debiased RBF CKA: minibatches give a narrower interval than RFF at a tenth of the
        # time (benchmarks/estimates.py, n = 10⁶: width 0.014 in 6 s vs 0.038 in 105 s)
        method = "minibatch" if metric == "rbf_cka" and debiased else str(ESTIMABLE[metric])
    budget = int(budget)
    if method == "minibatch":
        bsz = _size(batch_size if batch_size is not None else min(1000, n // 10), "batch_size", 4, n)
        if n // bsz < 2:
            raise InputError(f"batch_size={bsz} leaves fewer than 2 batches of the {n} samples (the interval "
                             "needs several); use a smaller batch_size")
        nb = n_batches if n_batches is not None else min(n // bsz, max(10, budget // (bsz * bsz)))
        nb = _size(nb, "n_batches", 2, n // bsz)
        res = minibatch_estimate(A, B, kernel="rbf" if metric == "rbf_cka" else "linear", batch_size=bsz,
                                 n_batches=nb, sigma=sigma, median_pairs=median_pairs, level=level, seed=seed)
        used = bsz * nb
    elif method == "rff":
        reps = _size(n_reps if n_reps is not None else 10, "n_reps", 2)
        m = n_features if n_features is not None else int(np.clip(budget // (reps * n), 64, 1024))
        res = rff_estimate(A, B, n_features=_size(m, "n_features", 2), n_reps=reps, sigma=sigma,
                           debiased=debiased, median_pairs=median_pairs, level=level, seed=seed)
        used = n
    elif method == "pairs":
        reps = _size(n_reps if n_reps is not None else 20, "n_reps", 2)
        tot = _size(n_pairs if n_pairs is not None else min(budget, 2_000_000), "n_pairs", 4 * reps)
        res = rsa_estimate(A, B, rdm=rdm, compare=compare, method="pairs", size=tot, n_reps=reps, level=level,
                           seed=seed)
        used = min(n, 2 * tot)
    elif method == "stimuli":
        reps = _size(n_reps if n_reps is not None else 20, "n_reps", 2)
        s = subset if subset is not None else int(min(n, 2000, np.sqrt(2.0 * budget / reps)))
        res = rsa_estimate(A, B, rdm=rdm, compare=compare, method="stimuli", size=_size(s, "subset", 4, n),
                           n_reps=reps, level=level, seed=seed)
        used = min(n, s * reps)
    else:  # queries
        per = 2 * n * ((k + 1) if metric == "cknna" else 1)
        q = _size(n_queries if n_queries is not None else int(np.clip(budget // per, 200, n)), "n_queries", 2, n)
        if metric == "cknna":
            res = cknna_estimate(A, B, k=k, n_queries=q, level=level, seed=seed, device=device)
        else:
            res = knn_estimate(A, B, k=k, n_queries=q, jaccard=metric == "jaccard_knn", level=level, seed=seed,
                               device=device)
        used = q
    est, lo, hi, se, units, params = res
    return Estimate(metric, est, lo, hi, level, method, n, used, se, np.asarray(units, dtype=np.float64), seed,
                    params)

