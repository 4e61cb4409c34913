"""RDMs as results, model RDMs, and RSA inference (rsatoolbox's workflow).

* :class:`RDM` — a representational dissimilarity matrix (condensed upper triangle, scipy ``pdist``
  order) with condition labels: ``plot()``, ``compare(other, method=)``, ``to_dict()``.
* :func:`model_rdm` — a model RDM built from attributes of the conditions (Kriegeskorte et al. 2008):
  categorical attributes (class, topic) give 0 for a pair in the same category and 1 otherwise;
  numeric attributes give |aᵢ − aⱼ| (the Euclidean distance for vector-valued attributes).
* :func:`rsa_bootstrap` — bootstrap over stimuli (conditions) with percentile confidence intervals
  (Efron & Tibshirani 1993; Schütt et al. 2023, eLife, §"bootstrap"). A resample draws n conditions
  with replacement. A condition drawn twice would contribute a pair with itself — dissimilarity 0 in
  every RDM, trivially "predicted" — so, as in rsatoolbox (``subsample_pattern`` sets those entries to
  NaN and drops them), such self-pairs are *excluded*; every pair of distinct conditions (i, j) enters
  as often as it occurs in the resample, cᵢ·cⱼ times (c the draw counts). repscope computes the
  resampled comparison as a weighted statistic over the m original pairs with weights cᵢcⱼ — identical
  to expanding the resampled RDM, without building it (O(m) per resample; ranks of the expanded vector
  come from one pre-sort and weighted cumulative sums).
* :func:`noise_ceiling` — bounds on the best possible comparison value given the variability between
  repeated measurements (Nili et al. 2014, PLoS Comput. Biol.; rsatoolbox ``boot_noise_ceiling``):
  upper = mean over repeats i of compare(pooled RDM of all repeats, RDMᵢ), lower = the same with the
  pooled RDM of all repeats *except* i (leave one out). Pooling follows rsatoolbox ``pool_rdm`` for the
  comparator (ranks averaged for rank comparators, z-scores for Pearson, RMS-normalised for cosine).
* :func:`crossnobis_rdm` — cross-validated Mahalanobis ("crossnobis") distances (Walther et al. 2016,
  NeuroImage 137; Diedrichsen et al. 2016; rsatoolbox ``calc_rdm_crossnobis``): with the repeats as
  partitions, for each partition k the condition means of the other partitions A and of k alone B give
  dᵢⱼ = (aᵢ − aⱼ)ᵀ Λ (bᵢ − bⱼ) / d, averaged over k (Λ a noise precision, identity by default). Noise
  is independent across partitions, so the estimate of the squared distance is unbiased — it is 0 on
  average for conditions that do not differ and may be negative.

Inputs shaped (n_conditions, n_repeats, d) are the same as the stochastic shape metrics'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.metrics._common import check_choice
from repscope.metrics._rsa import (
    VECTOR_COMPARATORS,
    _comparator,
    compare_rdms,
    condensed_rdm,
    doubled_ranks,
)
from repscope.results import ResultBase

__all__ = [
    "RDM",
    "rdm_of",
    "model_rdm",
    "rsa_bootstrap",
    "RSABootstrap",
    "noise_ceiling",
    "NoiseCeiling",
    "crossnobis_rdm",
    "resampled_compare",
]

BOOT_COMPARATORS = ("pearson", "spearman", "rho_a", "cosine")


def _n_from_m(m: int) -> int:
    n = int(round((1 + np.sqrt(1 + 8 * m)) / 2))
    if n * (n - 1) // 2 != m:
        raise InputError(f"an RDM vector of length {m} is not an upper triangle n(n−1)/2 of any n")
    return n


@dataclass
class RDM(ResultBase):
    """A representational dissimilarity matrix: ``vector`` holds the upper triangle (row-major, scipy
    ``pdist`` order) of the n×n matrix; ``labels`` name the n conditions.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import rdm_of
    >>> r = rdm_of(np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]]), "euclidean", labels=["a", "b", "c"])
    >>> r.n, r.vector.round(3).tolist()
    (3, [5.0, 1.0, 4.243])
    >>> round(r.compare(r, method="spearman"), 6)
    1.0
    """

    vector: np.ndarray
    n: int
    method: str = "correlation"
    labels: list[str] | None = None
    name: str = ""

    title = "Representational dissimilarity matrix"
    #: plots show at most this many conditions (every k-th one beyond)
    MAX_SHOWN = 600

    def __post_init__(self) -> None:
        self.vector = np.asarray(self.vector, dtype=np.float64).ravel()
        if self.vector.size != self.n * (self.n - 1) // 2:
            need = self.n * (self.n - 1) // 2
            raise InputError(f"RDM vector has {self.vector.size} entries; n = {self.n} needs {need}")
        if self.labels is not None and len(self.labels) != self.n:
            raise InputError(f"{len(self.labels)} labels for {self.n} conditions; give one label per condition")

    def to_xarray(self) -> Any:
        """The square RDM as an ``xarray.DataArray`` (stimulus × stimulus): dims ``("row", "col")`` with the
        condition labels (or 0…n−1) as coordinates; attrs ``method``, ``name``. Needs ``repscope[xarray]``."""
        from repscope.results import matrix_xarray

        names = self.labels if self.labels is not None else list(range(self.n))
        return matrix_xarray(self.matrix(), names, names, name=self.name or "rdm",
                             attrs={"method": self.method, "name": self.name, "kind": "distance"})

    def matrix(self) -> np.ndarray:
        """The square n×n RDM (zero diagonal)."""
        from scipy.spatial.distance import squareform

        return squareform(self.vector, checks=False)

    def submatrix(self, idx: ArrayLike) -> np.ndarray:
        """The square RDM of the conditions ``idx`` (read from the condensed vector; no n×n matrix)."""
        i = np.asarray(idx, dtype=np.int64)
        a, b = np.minimum.outer(i, i), np.maximum.outer(i, i)
        pos = a * self.n - a * (a + 1) // 2 + (b - a - 1)
        out = self.vector[np.clip(pos, 0, self.vector.size - 1)]
        out[a == b] = 0.0
        return out

    def compare(self, other: RDM | ArrayLike, method: str = "spearman") -> float:
        """Compare with another RDM (or vector) by ``method`` (see :func:`repscope.metrics._rsa.compare_rdms`)."""
        v = other.vector if isinstance(other, RDM) else np.asarray(other, dtype=np.float64).ravel()
        if v.size != self.vector.size:
            raise InputError(
                f"RDMs over {self.n} and {_n_from_m(v.size)} conditions; compare RDMs of the same conditions"
            )
        return compare_rdms(self.vector, v, method)

    def _names(self) -> list[str]:
        return self.labels if self.labels is not None else [str(i) for i in range(self.n)]

    def to_dict(self) -> dict[str, Any]:
        from repscope.results import to_jsonable

        return to_jsonable({"name": self.name, "method": self.method, "n": self.n, "labels": self.labels,
                            "vector": self.vector})

    def summary(self) -> str:
        v = self.vector
        return (f"RDM {self.name or ''} ({self.method}) over {self.n} conditions: dissimilarities from "
                f"{v.min():.3g} to {v.max():.3g}, mean {v.mean():.3g}.").replace("RDM  (", "RDM (")

    def table(self) -> tuple[list[str], list[list[str]]]:
        names = self._names()
        k = min(self.n, 30)  # the report shows at most 30×30 numbers
        D = self.submatrix(np.arange(k))
        return ["", *names[:k]], [[names[i], *[f"{D[i, j]:.3f}" for j in range(k)]] for i in range(k)]

    def _shown(self, order: ArrayLike | None) -> tuple[np.ndarray, int]:
        """Conditions to draw (in ``order``, every step-th one when there are more than MAX_SHOWN)."""
        idx = np.arange(self.n) if order is None else np.asarray(order, dtype=np.int64)
        if idx.shape != (self.n,) or not np.array_equal(np.sort(idx), np.arange(self.n)):
            raise InputError(f"order must be a permutation of the {self.n} conditions")
        step = -(-self.n // self.MAX_SHOWN)
        return idx[::step], step

    def plot(self, ax: Any = None, order: ArrayLike | None = None) -> Any:
        """Heatmap of the RDM; ``order`` (a permutation, e.g. ``np.argsort(labels, kind="stable")``)
        groups conditions so that category structure shows as blocks."""
        from repscope.results import axes_figure

        fig, ax = axes_figure(ax, (5, 4.3))  # a plain Figure, never pyplot
        idx, step = self._shown(order)
        im = ax.imshow(self.submatrix(idx), cmap="viridis", interpolation="nearest")
        if self.n <= 40:
            names = self._names()
            ax.set_xticks(range(self.n), [names[i] for i in idx], rotation=90, fontsize=7)
            ax.set_yticks(range(self.n), [names[i] for i in idx], fontsize=7)
        shown = "" if step == 1 else f"; 1 in {step} conditions"
        ax.set_title(f"RDM {self.name}\n({self.method}{shown})".replace("  ", " "), fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="dissimilarity")
        fig.tight_layout()
        return fig

    def plotly(self, order: ArrayLike | None = None) -> Any:
        import plotly.graph_objects as go

        idx, _ = self._shown(order)
        names = [self._names()[i] for i in idx]
        fig = go.Figure(go.Heatmap(z=self.submatrix(idx).tolist(), x=names, y=names, colorscale="Viridis",
                                   colorbar={"title": "dissimilarity"}))
        fig.update_layout(title=f"RDM {self.name} ({self.method})", yaxis={"autorange": "reversed"})
        return fig


def rdm_of(
    X: ArrayLike, method: str = "correlation", *, labels: Sequence[Any] | None = None, name: str = "",
    device: Any = None,
) -> RDM:
    """The :class:`RDM` of activations X (n_conditions × d) by ``method`` (correlation, cosine,
    euclidean, sqeuclidean).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import rdm_of
    >>> rdm_of(np.eye(3), "euclidean").vector.round(4).tolist()
    [1.4142, 1.4142, 1.4142]
    """
    v = condensed_rdm(X, method, device=device)
    return RDM(v, _n_from_m(v.size), method, None if labels is None else [str(x) for x in labels], name)


def model_rdm(attributes: ArrayLike, kind: str = "auto", *, name: str = "model") -> RDM:
    """Model RDM from one attribute per condition: ``kind="categorical"`` → 1[aᵢ ≠ aⱼ];
    ``"numeric"`` → |aᵢ − aⱼ| (Euclidean distance for rows of a 2-D attribute array); ``"auto"`` →
    numeric for numbers, categorical for strings and booleans. Integer class labels are numbers: pass
    ``kind="categorical"`` for them.

    Examples
    --------
    >>> from repscope.metrics import model_rdm
    >>> model_rdm(["cat", "cat", "dog"], kind="categorical").vector.tolist()
    [0.0, 1.0, 1.0]
    >>> model_rdm([1.0, 3.0, 6.0], kind="numeric").vector.tolist()     # |aᵢ − aⱼ|
    [2.0, 5.0, 3.0]
    """
    from scipy.spatial.distance import pdist

    a = np.asarray(attributes)
    check_choice(kind, "kind", ("auto", "categorical", "numeric"))
    if a.ndim == 0 or a.shape[0] < 3:
        raise InputError(f"attributes have shape {a.shape}; give one attribute per condition (≥ 3 conditions)")
    if kind == "auto":
        kind = "numeric" if np.issubdtype(a.dtype, np.number) and a.dtype != np.bool_ else "categorical"
    if kind == "categorical":
        if a.ndim != 1:
            raise InputError("categorical attributes must be 1-D (one category per condition)")
        _, codes = np.unique(a, return_inverse=True)
        v = pdist(codes[:, None].astype(np.float64), "hamming")  # 0 same category, 1 different
        labels = [str(x) for x in a]
    else:
        if not np.issubdtype(a.dtype, np.number):
            raise InputError(f"numeric model RDM needs numbers, got dtype {a.dtype}; use kind='categorical'")
        A = a.astype(np.float64).reshape(a.shape[0], -1)
        if not np.isfinite(A).all():
            raise InputError("attributes contain NaN or Inf")
        v = pdist(A, "euclidean")
        labels = [str(x) for x in a] if a.ndim == 1 else None
    if np.all(v == v[0]):
        raise InputError("the model RDM is constant (all conditions alike); it cannot be compared")
    return RDM(v, a.shape[0], f"model:{kind}", labels, name)


def _as_vector(R: ArrayLike, rdm: str, name: str) -> np.ndarray:
    if isinstance(R, RDM):
        return R.vector
    a = np.asarray(R, dtype=np.float64) if not hasattr(R, "detach") else R.detach().cpu().numpy()
    if a.ndim == 1:
        _n_from_m(a.size)
        if not np.isfinite(a).all():
            raise InputError(f"{name}: the RDM vector contains NaN or Inf")
        return a
    return condensed_rdm(a, rdm)


class _SortedWeights:
    """Pre-sorted RDM vector for weighted (bootstrap) ranks: average ranks in the vector expanded by
    integer weights, computed by cumulative sums over the fixed sort order."""

    def __init__(self, v: np.ndarray) -> None:
        self.order = np.argsort(v, kind="stable")
        vs = v[self.order]
        self.start = np.flatnonzero(np.r_[True, vs[1:] != vs[:-1]])  # first sorted position of each value

    def ranks(self, w: np.ndarray) -> np.ndarray:
        """Average rank of each entry when entry k is repeated w[k] times (entries with w = 0 get any
        value; they carry no weight)."""
        ws = w[self.order]
        gw = np.add.reduceat(ws, self.start)  # weight per tie group
        before = np.cumsum(gw) - gw
        size = np.diff(np.r_[self.start, ws.size])
        r_sorted = np.repeat(before + (gw + 1.0) / 2.0, size)
        out = np.empty_like(r_sorted)
        out[self.order] = r_sorted
        return out


def _weighted_corr(a: np.ndarray, b: np.ndarray, w: np.ndarray, centre: bool = True) -> float:
    W = w.sum()
    if centre:
        a = a - (w @ a) / W
        b = b - (w @ b) / W
    den = np.sqrt(float(w @ (a * a)) * float(w @ (b * b)))
    return float(w @ (a * b) / den) if den > 0 else float("nan")


def _pair_weights(c: np.ndarray) -> np.ndarray:
    """cᵢ·cⱼ for every pair i < j, in condensed (``pdist``) order, without index arrays."""
    n = c.size
    w = np.empty(n * (n - 1) // 2)
    pos = 0
    for i in range(n - 1):
        k = n - i - 1
        np.multiply(c[i], c[i + 1 :], out=w[pos : pos + k])
        pos += k
    return w


def resampled_compare(
    a: np.ndarray, b: np.ndarray, counts: np.ndarray, method: str = "spearman",
    _sorted: tuple[_SortedWeights, _SortedWeights] | None = None,
) -> float:
    """Comparison of two RDM vectors on a bootstrap resample of conditions given by ``counts`` (how
    often each of the n conditions was drawn): pairs of distinct conditions weighted cᵢcⱼ, self-pairs
    of duplicated conditions excluded (module docstring). Equals ``compare_rdms`` of the expanded
    resampled RDMs with the NaN (self-pair) entries removed."""
    method = _comparator(method, BOOT_COMPARATORS)
    c = np.asarray(counts, dtype=np.float64)
    if c.size * (c.size - 1) // 2 != a.size:
        raise InputError(f"{c.size} counts for RDMs over {_n_from_m(a.size)} conditions; give one count per condition")
    w = _pair_weights(c)
    if np.count_nonzero(w) < 2:
        return float("nan")
    if method == "pearson":
        return _weighted_corr(a, b, w)
    if method == "cosine":
        return _weighted_corr(a, b, w, centre=False)
    sa, sb = _sorted or (_SortedWeights(a), _SortedWeights(b))
    ra, rb = sa.ranks(w), sb.ranks(w)
    if method == "spearman":
        return _weighted_corr(ra, rb, w)
    M = w.sum()
    rbar = (M + 1) / 2.0
    return float(12.0 * (w @ ((ra - rbar) * (rb - rbar))) / (M**3 - M))


@dataclass
class RSABootstrap(ResultBase):
    """Bootstrap distribution of an RDM comparison over conditions (stimuli).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import rsa_bootstrap
    >>> X = np.random.default_rng(0).normal(size=(12, 4))
    >>> b = rsa_bootstrap(X, X, n_boot=50, seed=1)
    >>> round(b.estimate, 6), b.n_conditions, b.ci
    (1.0, 12, 0.95)
    """

    estimate: float
    samples: np.ndarray
    low: float
    high: float
    ci: float
    compare: str
    n_conditions: int
    seed: int | None
    params: dict[str, Any] = field(default_factory=dict)
    #: the largest value any data RDM without ties can reach when one side is a two-valued (categorical)
    #: model RDM (:func:`repscope.metrics.binary_rdm_ceiling`); NaN otherwise
    ceiling: float = float("nan")

    title = "RSA bootstrap over stimuli"

    @property
    def se(self) -> float:
        s = self.samples[np.isfinite(self.samples)]
        return float(s.std(ddof=1)) if s.size > 1 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        from repscope.results import to_jsonable

        return to_jsonable({"estimate": self.estimate, "low": self.low, "high": self.high, "ci": self.ci,
                            "se": self.se, "compare": self.compare, "n_conditions": self.n_conditions,
                            "n_boot": int(self.samples.size), "seed": self.seed, "params": self.params,
                            "ceiling": self.ceiling if np.isfinite(self.ceiling) else None,
                            "samples": self.samples})

    def summary(self) -> str:
        return (f"RSA ({self.compare}) = {self.estimate:.4f}, {100 * self.ci:.0f}% bootstrap CI over "
                f"{self.n_conditions} stimuli [{self.low:.4f}, {self.high:.4f}] (SE {self.se:.4f}, "
                f"{self.samples.size} resamples; self-pairs of duplicated stimuli excluded)." + self._ceiling_text())

    def _ceiling_text(self) -> str:
        if not np.isfinite(self.ceiling):
            return ""
        return (f" The model RDM has two values (categorical), so no data RDM without tied dissimilarities can "
                f"score above {self.ceiling:.4f} ({self.compare}); the estimate is {self.estimate / self.ceiling:.0%} "
                f"of that ceiling.")

    def table(self) -> tuple[list[str], list[list[str]]]:
        return (["comparator", "estimate", "low", "high", "SE", "resamples"],
                [[self.compare, f"{self.estimate:.4f}", f"{self.low:.4f}", f"{self.high:.4f}",
                  f"{self.se:.4f}", str(self.samples.size)]])

    def plot(self, ax: Any = None) -> Any:
        from repscope.results import axes_figure

        fig, ax = axes_figure(ax, (7, 3.5))  # a plain Figure, never pyplot
        s = self.samples[np.isfinite(self.samples)]
        ax.hist(s, bins=min(50, max(10, s.size // 20)), color="0.7")
        ax.axvline(self.estimate, color="k", label="estimate")
        ax.axvspan(self.low, self.high, color="C0", alpha=0.2, label=f"{100 * self.ci:.0f}% CI")
        if np.isfinite(self.ceiling):
            ax.axvline(self.ceiling, color="k", ls="--", label=f"ceiling {self.ceiling:.4f} (categorical model)")
        ax.set_xlabel(f"RSA ({self.compare})")
        ax.set_ylabel("resamples")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)  # never over data
        fig.tight_layout()
        return fig

    def plotly(self) -> Any:
        import plotly.graph_objects as go

        fig = go.Figure(go.Histogram(x=self.samples[np.isfinite(self.samples)].tolist(), name="resamples"))
        fig.add_vline(x=self.estimate)
        fig.add_vrect(x0=self.low, x1=self.high, opacity=0.2, line_width=0)
        if np.isfinite(self.ceiling):
            fig.add_vline(x=self.ceiling, line_dash="dash", annotation_text=f"ceiling {self.ceiling:.4f}")
        fig.update_layout(title=self.summary()[:80], xaxis_title=f"RSA ({self.compare})")
        return fig


def rsa_bootstrap(
    X: ArrayLike,
    Y: ArrayLike,
    *,
    rdm: str = "correlation",
    compare: str = "spearman",
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int | None = 0,
) -> RSABootstrap:
    """Bootstrap over conditions of the comparison between two RDMs (each given as activations
    (n, d), an RDM vector, or an :class:`RDM` — e.g. a data RDM and a :func:`model_rdm`). Percentile
    ``ci`` interval; self-pairs of duplicated conditions excluded (module docstring). Comparators:
    pearson, spearman, rho_a, cosine.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import rsa_bootstrap
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(15, 4))
    >>> b = rsa_bootstrap(X, X + 0.1 * rng.normal(size=(15, 4)), n_boot=200, seed=0)
    >>> bool(b.low <= b.estimate <= b.high), b.samples.shape
    (True, (200,))
    """
    compare = _comparator(compare, BOOT_COMPARATORS)
    if not 0 < ci < 1:
        raise InputError(f"ci={ci}; give a coverage between 0 and 1, e.g. 0.95")
    if int(n_boot) < 10:
        raise InputError(f"n_boot={n_boot}; use at least 10 resamples (1000 or more for a 95% interval)")
    a, b = _as_vector(X, rdm, "X"), _as_vector(Y, rdm, "Y")
    if a.size != b.size:
        raise InputError(
            f"the RDMs cover {_n_from_m(a.size)} and {_n_from_m(b.size)} conditions; use the same conditions"
        )
    n = _n_from_m(a.size)
    est = compare_rdms(a, b, compare)
    rng = np.random.default_rng(seed)
    srt = (_SortedWeights(a), _SortedWeights(b)) if compare in ("spearman", "rho_a") else None
    out = np.empty(int(n_boot))
    for t in range(int(n_boot)):
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        out[t] = resampled_compare(a, b, counts, compare, srt)
    ok = out[np.isfinite(out)]
    lo, hi = np.quantile(ok, [(1 - ci) / 2, 1 - (1 - ci) / 2]) if ok.size else (np.nan, np.nan)
    return RSABootstrap(estimate=est, samples=out, low=float(lo), high=float(hi), ci=float(ci), compare=compare,
                        n_conditions=n, seed=seed, params={"rdm": rdm, "n_boot": int(n_boot)},
                        ceiling=_two_valued_ceiling(a, b, compare))


def _two_valued_ceiling(a: np.ndarray, b: np.ndarray, compare: str) -> float:
    """The ceiling of the comparison when one of the RDM vectors is two-valued (a categorical model), else NaN."""
    from repscope.metrics._rsa import binary_rdm_ceiling

    for v in (b, a):
        if np.unique(v[: min(v.size, 3)]).size <= 2 and np.unique(v).size == 2:
            return binary_rdm_ceiling(v, compare)
    return float("nan")


def _pool(V: np.ndarray, compare: str) -> np.ndarray:
    """rsatoolbox ``pool_rdm``: the RDM that best represents several under ``compare``."""
    if compare in ("spearman", "rho_a", "kendall_tau_a", "kendall_tau_b"):
        return np.mean([doubled_ranks(v) / 2.0 for v in V], axis=0)
    if compare == "pearson":
        Z = V - V.mean(axis=1, keepdims=True)
        sd = Z.std(axis=1, keepdims=True)
        _check_pool_scale(sd, "constant (all dissimilarities equal), so its Pearson correlation is undefined")
        return (Z / sd).mean(axis=0)
    rms = np.sqrt(np.mean(V**2, axis=1, keepdims=True))
    _check_pool_scale(rms, "all zero, so its cosine similarity is undefined")
    return (V / rms).mean(axis=0)


def _check_pool_scale(s: np.ndarray, what: str) -> None:
    bad = np.flatnonzero(~(s.ravel() > 0))
    if bad.size:
        raise InputError(
            f"RDM {int(bad[0])} of the repeated measurements is {what}; drop that repeat, or use "
            f"compare='spearman' when only the order of dissimilarities matters"
        )


@dataclass
class NoiseCeiling(ResultBase):
    """Lower/upper bounds of the noise ceiling and the per-repeat values they average.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import noise_ceiling
    >>> data = np.repeat(np.random.default_rng(0).normal(size=(8, 1, 5)), 3, axis=1)   # identical repeats
    >>> nc = noise_ceiling(data)
    >>> round(nc.lower, 6), round(nc.upper, 6), nc.per_repeat_lower.shape
    (1.0, 1.0, (3,))
    """

    lower: float
    upper: float
    per_repeat_lower: np.ndarray
    per_repeat_upper: np.ndarray
    compare: str

    title = "RSA noise ceiling"

    def to_dict(self) -> dict[str, Any]:
        from repscope.results import to_jsonable

        return to_jsonable({"lower": self.lower, "upper": self.upper, "compare": self.compare,
                            "per_repeat_lower": self.per_repeat_lower, "per_repeat_upper": self.per_repeat_upper})

    def summary(self) -> str:
        return (f"Noise ceiling ({self.compare}) from {self.per_repeat_lower.size} repeated measurements: "
                f"a model cannot be expected to exceed {self.upper:.4f}; one that reaches {self.lower:.4f} "
                f"(leave-one-out lower bound) explains the data as well as the repeats explain each other.")

    def table(self) -> tuple[list[str], list[list[str]]]:
        return (["repeat", "lower (leave-one-out)", "upper (all)"],
                [[str(i), f"{lo:.4f}", f"{up:.4f}"]
                 for i, (lo, up) in enumerate(zip(self.per_repeat_lower, self.per_repeat_upper))])

    def plot(self, ax: Any = None) -> Any:
        from repscope.results import axes_figure

        fig, ax = axes_figure(ax, (6.5, 3.5))  # a plain Figure, never pyplot
        ax.axhspan(self.lower, self.upper, color="0.8", label="noise ceiling")
        k = np.arange(self.per_repeat_lower.size)
        ax.plot(k, self.per_repeat_lower, "o", label="leave-one-out")
        ax.plot(k, self.per_repeat_upper, "s", label="all repeats")
        ax.set_xlabel("repeat")
        ax.set_ylabel(f"RSA ({self.compare})")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)  # never over data
        fig.tight_layout()
        return fig

    def plotly(self) -> Any:
        import plotly.graph_objects as go

        k = list(range(self.per_repeat_lower.size))
        fig = go.Figure([go.Scatter(x=k, y=self.per_repeat_lower.tolist(), mode="markers", name="leave-one-out"),
                         go.Scatter(x=k, y=self.per_repeat_upper.tolist(), mode="markers", name="all repeats")])
        fig.add_hrect(y0=self.lower, y1=self.upper, opacity=0.2, line_width=0)
        fig.update_layout(title=f"Noise ceiling ({self.compare})", xaxis_title="repeat")
        return fig


def _repeat_rdms(data: Any, rdm: str) -> np.ndarray:
    if isinstance(data, np.ndarray) and data.ndim == 3:
        if data.shape[1] < 2:
            raise InputError(f"data has shape {data.shape}; a noise ceiling needs ≥ 2 repeats (axis 1)")
        return np.stack([condensed_rdm(data[:, r], rdm) for r in range(data.shape[1])])
    V = np.stack([_as_vector(R, rdm, f"RDM {i}") for i, R in enumerate(data)])
    if V.shape[0] < 2:
        raise InputError("a noise ceiling needs the RDMs of ≥ 2 repeated measurements")
    return V


def noise_ceiling(data: Any, *, compare: str = "spearman", rdm: str = "correlation") -> NoiseCeiling:
    """Noise ceiling of RSA from repeated measurements (module docstring; rsatoolbox
    ``boot_noise_ceiling`` with leave-one-out). ``data``: responses (n_conditions, n_repeats, d) — one
    RDM per repeat by ``rdm=`` — or a sequence of RDMs/RDM vectors (subjects, sessions, seeds).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import noise_ceiling
    >>> rng = np.random.default_rng(0)
    >>> signal = rng.normal(size=(10, 1, 6))                       # 10 conditions
    >>> data = signal + 0.3 * rng.normal(size=(10, 4, 6))          # 4 noisy repeats
    >>> nc = noise_ceiling(data)
    >>> bool(0 < nc.lower <= nc.upper <= 1)
    True
    """
    compare = _comparator(compare, VECTOR_COMPARATORS)
    V = _repeat_rdms(np.asarray(data) if isinstance(data, np.ndarray) else data, rdm)
    R = V.shape[0]
    full = _pool(V, compare)
    up = np.array([compare_rdms(full, V[i], compare) for i in range(R)])
    lo = np.array([compare_rdms(_pool(np.delete(V, i, axis=0), compare), V[i], compare) for i in range(R)])
    return NoiseCeiling(lower=float(lo.mean()), upper=float(up.mean()), per_repeat_lower=lo,
                        per_repeat_upper=up, compare=compare)


def crossnobis_rdm(
    X: ArrayLike, *, precision: ArrayLike | None = None, labels: Sequence[Any] | None = None, name: str = "",
) -> RDM:
    """Crossnobis RDM of responses X (n_conditions, n_partitions, d): leave-one-partition-out
    cross-validated squared Mahalanobis distances divided by d (module docstring; rsatoolbox
    ``calc_rdm_crossnobis`` with one measurement per condition and partition). ``precision``: the d×d
    noise precision Λ (identity → cross-validated squared Euclidean distance / d), symmetric positive
    semi-definite and not zero (else the "distances" are not squared Mahalanobis distances).

    Refused: fewer than 2 partitions (the leave-one-out mean of the other partitions divides by R − 1 = 0:
    there is nothing to cross-validate against). Values can be negative — the estimator is unbiased, so
    for conditions with equal true patterns it scatters around 0.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import crossnobis_rdm
    >>> rng = np.random.default_rng(0)
    >>> means = np.array([[0.0] * 4, [0.0] * 4, [2.0] * 4])       # conditions 0 and 1 do not differ
    >>> X = means[:, None, :] + 0.1 * rng.normal(size=(3, 6, 4))  # 6 partitions
    >>> v = crossnobis_rdm(X).vector                              # pairs (0,1), (0,2), (1,2)
    >>> bool(abs(v[0]) < 0.05), v[1:].round(0).tolist()           # ≈ 0 and ≈ 2² per unit
    (True, [4.0, 4.0])
    """
    from repscope.metrics.stochastic import _responses

    A = _responses(X, "X")
    n, R, d = A.shape
    if R < 2:
        raise InputError(
            f"X has shape {A.shape}: {R} partition (axis 1); crossnobis cross-validates each partition against "
            f"the mean of the others and needs ≥ 2 independent partitions (runs, sessions, repeat splits) per "
            f"condition — split the repeats into ≥ 2 partitions, or use rdm_of(X.mean(axis=1), 'sqeuclidean') "
            f"for a (biased, not cross-validated) RDM"
        )
    P = np.eye(d) if precision is None else np.asarray(precision, dtype=np.float64)
    if P.shape != (d, d) or not np.isfinite(P).all():
        raise InputError(f"precision has shape {P.shape}; it must be a finite {d}×{d} matrix")
    if precision is not None:
        scale = float(np.abs(P).max())
        if scale == 0 or not np.allclose(P, P.T, rtol=1e-10, atol=1e-12 * scale):
            raise InputError(
                "precision must be a non-zero symmetric matrix (the inverse noise covariance); estimate it with "
                "a shrinkage covariance, e.g. sklearn.covariance.LedoitWolf().fit(residuals).precision_"
            )
        if float(np.linalg.eigvalsh(0.5 * (P + P.T))[0]) < -1e-10 * scale:
            raise InputError(
                "precision has negative eigenvalues; it must be positive semi-definite (an inverse covariance) — "
                "use a shrinkage estimate, e.g. sklearn.covariance.LedoitWolf().fit(residuals).precision_"
            )
    iu = np.triu_indices(n, 1)
    total = A.sum(axis=1)
    acc = np.zeros(iu[0].size)
    for k in range(R):
        B = A[:, k]
        T = (total - B) / (R - 1)  # mean of the other partitions
        K = T @ P @ B.T
        dg = np.diag(K)
        acc += (dg[:, None] + dg[None, :] - K - K.T)[iu]
    return RDM(acc / (R * d), n, "crossnobis", None if labels is None else [str(x) for x in labels], name)
