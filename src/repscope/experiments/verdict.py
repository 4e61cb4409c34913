"""Claim / ours / control / verdict tables for the papers' reproductions (``repscope <lens> reproduce``).

Every reproduction measures, per seed, a statistic whose sign (or position relative to a threshold) is
what the paper claims. Where a network is involved the same statistic is also measured on a **control**
(the untrained or chance-level network of the same seed), and the claim is tested on the paired
difference trained − control: a statistic that an untrained network already shows says nothing about
what training did. Statistics that cannot fail (an identity of a closed form, a rank correlation anchored
at zero) are **method checks** (:func:`method_check`): listed apart and never counted as a reproduction.

The verdict rule (:func:`verdict_rule`), one-sided in the paper's direction at ``ALPHA`` = 0.025:

1. per claim, a one-sided p-value for "mean difference on the paper's side of the threshold": the larger
   (intersection–union) of the exact **sign-flip permutation** p-value (:func:`sign_flip_pvalue`; all 2ⁿ
   sign patterns when n ≤ 16, else 20 000 random ones; exact under symmetry, Good 2005 §3) and the
   **bootstrap-t** p-value (:func:`bootstrap_t_pvalue`; Efron & Tibshirani 1993 §12.5, second-order
   accurate under skew, Hall 1992). Rejecting only when both reject keeps the size at most the smaller of
   the two (Berger 1982) — exact for symmetric per-seed values, close to nominal for skewed ones;
2. Holm's step-down correction (Holm 1979) over a paper's claims (:func:`holm`);
3. **reproduced** when the Holm-adjusted p ≤ ``ALPHA`` and there are at least ``MIN_SEEDS`` = 10
   independent values; otherwise **not reproduced (estimate on the paper's side)** when the mean is on
   the paper's side, **not reproduced** when it is not. With fewer than 10 independent values no
   verdict is given: the row reads **underpowered (n < 10)** whatever the p-value (quick mode).

Simulated under the null (true mean difference 0; normal, t₃, t₁.₅, uniform, centred exponential and
gamma in both orientations) the false-"reproduced" rate is ≤ 5 % at n = 10 and 20
(:func:`simulate_rule`, ``tests/experiments/test_repro_verdict.py``, and
``python reproductions/calibrate.py`` for the full table). Values from two seeds (cross-seed comparisons)
are formed from disjoint pairs (2i, 2i+1) (:func:`disjoint_pairs`), never cyclic ones, so they stay
independent.

The interval shown beside each difference is a descriptive Student-t 95 % interval; the verdict rests on
the adjusted p-value only.

:class:`ReproductionTable` follows :mod:`repscope.results` (``to_dict``, ``plot``, ``plotly``,
``summary``, ``table``, ``title``); :func:`write_reproduction` writes the tables, every per-seed value,
the configuration and the environment as JSON; :func:`reproduction_sections` runs every quick
reproduction and returns report sections for the demo report.
"""

from __future__ import annotations

import contextlib
import pathlib
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.results import axes_figure, dumps, to_jsonable

__all__ = [
    "ALPHA",
    "MIN_SEEDS",
    "VERDICTS",
    "REPRODUCED",
    "NOT_ON_SIDE",
    "NOT_REPRODUCED",
    "UNDERPOWERED",
    "NULL_DISTRIBUTIONS",
    "sign_flip_pvalue",
    "bootstrap_t_pvalue",
    "one_sided_pvalue",
    "t_interval",
    "bootstrap_ci",
    "holm",
    "disjoint_pairs",
    "verdict_rule",
    "overall_verdict",
    "simulate_rule",
    "ClaimRow",
    "claim",
    "method_check",
    "ReproductionTable",
    "reproduce",
    "environment",
    "reproduction_payload",
    "write_reproduction",
    "reproduction_sections",
    "REPRODUCTIONS",
    "progress_steps",
]

#: One-sided level of every claim's test, after Holm's correction over a paper's claims.
ALPHA = 0.025
#: Fewest independent values (seeds or disjoint seed pairs) for which a verdict is given.
MIN_SEEDS = 10

REPRODUCED = "reproduced"
NOT_ON_SIDE = "not reproduced (estimate on the paper's side)"
NOT_REPRODUCED = "not reproduced"
UNDERPOWERED = f"underpowered (n < {MIN_SEEDS})"
VERDICTS = (REPRODUCED, NOT_ON_SIDE, NOT_REPRODUCED, UNDERPOWERED)
CHECK_VERDICTS = ("holds", "fails")

_EXACT_MAX = 16  # sign-flip: enumerate all 2ⁿ patterns up to this n
_N_FLIPS = 20000
_N_BOOT = 9999


@contextlib.contextmanager
def progress_steps(total: int, label: str, enabled: bool = True) -> Iterator[Callable[[], None]]:
    """A labelled progress bar (:func:`repscope.parallel.progress_bar`); yields its ``advance()``."""
    from repscope.parallel import progress_bar

    with progress_bar(enabled) as bar:
        task = bar.add_task(label, total=int(total))
        yield lambda: bar.advance(task)


def _finite(x: ArrayLike, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    a = a[np.isfinite(a)]
    if a.size == 0:
        raise InputError(f"{name} has no finite value; a test or interval needs at least one seed's value")
    return a


def _signed(values: ArrayLike, direction: int, threshold: float) -> np.ndarray:
    if direction not in (1, -1):
        raise InputError(f"direction={direction} must be +1 (paper: above threshold) or -1 (below)")
    return direction * (_finite(values, "values") - float(threshold))


# ---- the two one-sided tests, vectorised over rows of D (each row: one sample of n signed values) ------------

def _flip_p(D: np.ndarray, *, n_flips: int = _N_FLIPS, seed: int = 0) -> np.ndarray:
    """One-sided sign-flip p-values of ``mean > 0`` for every row of ``D`` (R, n)."""
    R, n = D.shape
    if n <= _EXACT_MAX:
        E = 1.0 - 2.0 * ((np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1)
        exact = True
    else:
        E = np.random.default_rng(seed).choice([-1.0, 1.0], size=(int(n_flips), n))
        exact = False
    out = np.empty(R)
    step = max(1, 2_000_000 // E.shape[0])
    for s in range(0, R, step):
        d = D[s : s + step]
        obs = d.mean(1)
        tol = 1e-12 * np.maximum(np.abs(d).max(1), 1e-300)
        ge = ((d @ E.T) / n >= (obs - tol)[:, None]).sum(1)
        out[s : s + step] = ge / E.shape[0] if exact else (ge + 1) / (E.shape[0] + 1)
    return out


def _boot_t_p(D: np.ndarray, *, n_boot: int = _N_BOOT, seed: int = 0) -> np.ndarray:
    """One-sided bootstrap-t p-values of ``mean > 0`` for every row of ``D`` (R, n)."""
    R, n = D.shape
    if n < 2:
        return np.ones(R)
    idx = np.random.default_rng(seed).integers(0, n, size=(int(n_boot), n))
    out = np.empty(R)
    step = max(1, 4_000_000 // (int(n_boot) * n))
    with np.errstate(divide="ignore", invalid="ignore"):
        for s in range(0, R, step):
            d = D[s : s + step]
            m = d.mean(1)
            se = d.std(1, ddof=1) / np.sqrt(n)
            t_obs = np.where(se > 0, m / se, np.where(m > 0, np.inf, np.where(m < 0, -np.inf, 0.0)))
            xb = d[:, idx]  # (r, B, n)
            mb = xb.mean(2)
            seb = xb.std(2, ddof=1) / np.sqrt(n)
            diff = mb - m[:, None]
            tb = np.where(seb > 0, diff / seb, np.where(diff > 0, np.inf, np.where(diff < 0, -np.inf, 0.0)))
            out[s : s + step] = ((tb >= t_obs[:, None]).sum(1) + 1) / (int(n_boot) + 1)
    return out


def sign_flip_pvalue(values: ArrayLike, *, direction: int = 1, threshold: float = 0.0,
                     n_flips: int = _N_FLIPS, seed: int = 0) -> float:
    """One-sided sign-flip permutation p-value that the mean of ``values`` lies on the paper's side of
    ``threshold`` (``direction`` +1: above, −1: below).

    Under H₀ the signed values ``d = direction·(x − threshold)`` are symmetric about 0, so every sign
    pattern ``ε ∈ {±1}ⁿ`` is equally likely; ``p = #{ε: mean(ε·d) ≥ mean(d)} / 2ⁿ`` over all 2ⁿ patterns
    when n ≤ 16 (exact), else ``(1 + #) / (1 + B)`` over B = ``n_flips`` random patterns (Good 2005,
    *Permutation, Parametric and Bootstrap Tests of Hypotheses*, §3.1). Non-finite values are dropped.
    """
    d = _signed(values, direction, threshold)
    return float(_flip_p(d[None], n_flips=n_flips, seed=seed)[0])


def bootstrap_t_pvalue(values: ArrayLike, *, direction: int = 1, threshold: float = 0.0,
                       n_boot: int = _N_BOOT, seed: int = 0) -> float:
    """One-sided bootstrap-t p-value that the mean lies on the paper's side of ``threshold``.

    ``t = mean(d)/se(d)``; bootstrap ``t* = (mean(d*) − mean(d)) / se(d*)`` over ``n_boot`` resamples;
    ``p = (1 + #{t* ≥ t}) / (1 + n_boot)`` (Efron & Tibshirani 1993, §12.5 and §16.2). The studentised
    bootstrap corrects the skewness the Student-t test ignores (Hall 1992, §3.5).
    """
    d = _signed(values, direction, threshold)
    return float(_boot_t_p(d[None], n_boot=n_boot, seed=seed)[0])


def one_sided_pvalue(values: ArrayLike, *, direction: int = 1, threshold: float = 0.0, seed: int = 0) -> float:
    """The rule's p-value: ``max(sign-flip p, bootstrap-t p)`` — an intersection–union test (Berger 1982)
    whose size is at most either test's size."""
    return max(sign_flip_pvalue(values, direction=direction, threshold=threshold, seed=seed),
               bootstrap_t_pvalue(values, direction=direction, threshold=threshold, seed=seed))


def t_interval(values: ArrayLike, *, level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: Student-t interval ``mean ± t_{n−1}·sd/√n`` (descriptive; zero width for n = 1)."""
    from scipy.stats import t as student_t

    a = _finite(values, "values")
    if not 0 < level < 1:
        raise InputError(f"level={level} must be in (0, 1), e.g. 0.95")
    m = float(a.mean())
    if a.size < 2:
        return m, m, m
    h = float(student_t.ppf(0.5 + level / 2, a.size - 1) * a.std(ddof=1) / np.sqrt(a.size))
    return m, m - h, m + h


def bootstrap_ci(values: ArrayLike, *, level: float = 0.95, n_boot: int = 4000, seed: int = 0,
                 statistic: Callable[[np.ndarray], float] | None = None) -> tuple[float, float, float]:
    """``(estimate, low, high)``: the statistic (default mean) and its percentile-bootstrap interval
    (Efron & Tibshirani 1993, §13.3). For descriptive intervals only (sweeps, secondary numbers): with few
    seeds it is too narrow to decide a claim — verdicts use :func:`one_sided_pvalue`."""
    a = _finite(values, "values")
    if not 0 < level < 1:
        raise InputError(f"level={level} must be in (0, 1), e.g. 0.95")
    stat = statistic or (lambda v: float(np.mean(v)))
    est = float(stat(a))
    if a.size == 1:
        return est, est, est
    idx = np.random.default_rng(seed).integers(0, a.size, size=(int(n_boot), a.size))
    boots = a[idx].mean(axis=1) if statistic is None else np.array([stat(a[i]) for i in idx])
    lo, hi = np.quantile(boots, [(1 - level) / 2, 1 - (1 - level) / 2])
    return est, float(lo), float(hi)


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979): sorted ascending, ``p̃₍ᵢ₎ = max_{j ≤ i} min(1,
    (m − j + 1)·p₍ⱼ₎)``; reject where ``p̃ ≤ α`` controls the family-wise error at α. NaNs stay NaN and
    do not count toward m."""
    p = np.asarray(pvalues, dtype=float).ravel()
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adj)
    return out


def disjoint_pairs(n: int) -> list[tuple[int, int]]:
    """Independent seed pairs ``(0, 1), (2, 3), …`` — each seed in one pair (a cross-seed statistic over
    cyclic pairs ``(s, s+1)`` shares a seed between neighbouring pairs, so those values are not independent)."""
    if int(n) < 2:
        raise InputError(f"{n} seed(s) form no pair; a cross-seed comparison needs at least 2 seeds")
    return [(2 * i, 2 * i + 1) for i in range(int(n) // 2)]


def verdict_rule(estimate: float, p_adjusted: float, n: int, *, direction: int = 1, threshold: float = 0.0,
                 alpha: float = ALPHA, min_n: int = MIN_SEEDS) -> str:
    """The one verdict rule (module docstring): ``reproduced`` when ``n ≥ min_n`` and the Holm-adjusted
    one-sided p ≤ ``alpha``; ``underpowered`` when ``n < min_n``; else ``not reproduced (estimate on the
    paper's side)`` or ``not reproduced``."""
    if direction not in (1, -1):
        raise InputError(f"direction={direction} must be +1 (paper: above threshold) or -1 (below)")
    if int(n) < int(min_n):
        return UNDERPOWERED
    if not np.isfinite(estimate):
        return NOT_REPRODUCED
    if np.isfinite(p_adjusted) and p_adjusted <= alpha:
        return REPRODUCED
    return NOT_ON_SIDE if direction * (estimate - threshold) > 0 else NOT_REPRODUCED


def overall_verdict(verdicts: Sequence[str]) -> str:
    """A paper's verdict over its claims (method checks excluded), counting only the claims that got a
    verdict: ``reproduced`` if every one of them is (and none is underpowered), ``underpowered`` if none got
    a verdict, ``not reproduced`` if none is reproduced, else ``k of m claims reproduced``; underpowered
    claims are added as ``; u underpowered``."""
    v = list(verdicts)
    if not v:
        return "no claims"
    u = sum(x == UNDERPOWERED for x in v)
    decided = [x for x in v if x != UNDERPOWERED]
    if not decided:
        return UNDERPOWERED
    k = sum(x == REPRODUCED for x in decided)
    if k == len(decided) and u == 0:
        return REPRODUCED
    s = NOT_REPRODUCED if k == 0 else f"{k} of {len(decided)} claims reproduced"
    return s + (f"; {u} underpowered" if u else "")


#: Mean-zero, unit-scale null distributions for :func:`simulate_rule` (name → sampler(rng, shape)).
NULL_DISTRIBUTIONS: dict[str, Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]] = {
    "normal": lambda g, s: g.standard_normal(s),
    "uniform": lambda g, s: g.uniform(-np.sqrt(3), np.sqrt(3), s),
    "t3 (heavy tails)": lambda g, s: g.standard_t(3, s) / np.sqrt(3),
    "t1.5 (no variance)": lambda g, s: g.standard_t(1.5, s),
    "exponential, tail away from the claim": lambda g, s: g.exponential(1.0, s) - 1.0,
    "exponential, tail against the claim": lambda g, s: 1.0 - g.exponential(1.0, s),
    "gamma(4), tail against the claim": lambda g, s: (4.0 - g.gamma(4.0, 1.0, s)) / 2.0,
}


def simulate_rule(n: int, distribution: str = "normal", *, shift: float = 0.0, reps: int = 2000, seed: int = 0,
                  alpha: float = ALPHA, n_boot: int = 1999) -> float:
    """Share of ``reps`` simulated claims that the rule calls ``reproduced``: ``n`` per-seed values drawn
    from ``NULL_DISTRIBUTIONS[distribution] + shift`` (``shift`` = 0: the false-positive rate; > 0: power),
    tested one-sided (paper: mean > 0) without multiplicity correction (one claim)."""
    if distribution not in NULL_DISTRIBUTIONS:
        raise InputError(f"distribution={distribution!r} is unknown; use one of {', '.join(NULL_DISTRIBUTIONS)}")
    g = np.random.default_rng(seed)
    D = NULL_DISTRIBUTIONS[distribution](g, (int(reps), int(n))) + float(shift)
    if int(n) < MIN_SEEDS:
        return 0.0  # the rule gives no verdict
    p = np.maximum(_flip_p(D, seed=seed), _boot_t_p(D, n_boot=n_boot, seed=seed + 1))
    return float(np.mean(p <= alpha))


def _mean(v: Sequence[float]) -> float:
    a = np.asarray(v, dtype=float)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


@dataclass
class ClaimRow:
    """One claim of a paper (or one method check) beside our measurement of it.

    ``values`` are the per-seed (or per disjoint seed pair) numbers the verdict rests on: trained −
    control when a control was measured (``trained``, ``control`` hold both sides), else the statistic
    itself. ``p_value`` is the rule's one-sided p; ``p_adjusted`` its Holm adjustment over the paper's
    claims (set by :class:`ReproductionTable`).
    """

    claim: str  # the paper's claim, in words
    paper: str  # the paper's figure / number
    quantity: str  # what we measured (per seed) to test it
    estimate: float
    ci_low: float
    ci_high: float
    n: int  # independent values (seeds, or disjoint seed pairs)
    direction: int = 1
    threshold: float = 0.0
    note: str = ""  # likely reason when not reproduced, caveats
    values: list[float] = field(default_factory=list)
    p_value: float = float("nan")
    p_adjusted: float = float("nan")
    trained: list[float] = field(default_factory=list)
    control: list[float] = field(default_factory=list)
    control_label: str = ""
    kind: str = "claim"  # "claim" (counted) or "method check" (a statistic that cannot fail; not counted)

    @property
    def verdict(self) -> str:
        if self.kind == "method check":
            v = np.asarray(self.values, dtype=float)
            ok = v.size > 0 and bool(np.all(self.direction * (v - self.threshold) > 0))
            return "holds" if ok else "fails"
        p = self.p_adjusted if np.isfinite(self.p_adjusted) else self.p_value
        return verdict_rule(self.estimate, p, self.n, direction=self.direction, threshold=self.threshold)

    def ours(self) -> str:
        """The trained network's statistic (mean over seeds)."""
        return f"{_mean(self.trained):.3g}" if self.trained else f"{self.estimate:.3g}"

    def control_text(self) -> str:
        if not self.control:
            return "—"
        return f"{_mean(self.control):.3g}" + (f" ({self.control_label})" if self.control_label else "")

    def difference(self) -> str:
        """The tested number: mean [95 % t interval], n and the (Holm-adjusted) one-sided p."""
        s = f"{self.estimate:.3g} [{self.ci_low:.3g}, {self.ci_high:.3g}] (n={self.n})"
        if self.kind == "claim":
            p = self.p_adjusted if np.isfinite(self.p_adjusted) else self.p_value
            s += f", p={p:.2g}"
        return s

    def expected(self) -> str:
        return f"{'>' if self.direction > 0 else '<'} {self.threshold:g}"

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({
            "claim": self.claim, "kind": self.kind, "paper": self.paper, "quantity": self.quantity,
            "estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n,
            "direction": self.direction, "threshold": self.threshold, "p_value": self.p_value,
            "p_adjusted": self.p_adjusted, "verdict": self.verdict, "note": self.note, "values": self.values,
            "trained": self.trained, "control": self.control, "control_label": self.control_label,
        })


def _row(claim_text: str, paper: str, quantity: str, values: ArrayLike, control: ArrayLike | None, *,
         direction: int, threshold: float, note: str, seed: int, control_label: str, kind: str) -> ClaimRow:
    v = np.asarray(values, dtype=float).ravel()
    trained: list[float] = []
    ctrl: list[float] = []
    if control is not None:
        b = np.asarray(control, dtype=float).ravel()
        if b.shape != v.shape:
            raise InputError(f"paired values differ in length ({v.size} vs {b.size}); pair them by seed")
        trained, ctrl = [float(x) for x in v], [float(x) for x in b]
        v = v - b
    n = int(np.isfinite(v).sum())
    nan = float("nan")
    est, lo, hi = t_interval(v) if n else (nan, nan, nan)  # no finite value: n = 0, no verdict
    p = one_sided_pvalue(v, direction=direction, threshold=threshold, seed=seed) if kind == "claim" and n else nan
    return ClaimRow(claim_text, paper, quantity, est, lo, hi, n, direction, threshold, note, [float(x) for x in v],
                    p, float("nan"), trained, ctrl, control_label, kind)


class ControlKw(TypedDict):
    """:func:`claim` keywords that the rows of one table share: what the control is, and the seed."""

    control_label: str
    seed: int


def claim(claim: str, paper: str, quantity: str, values: ArrayLike, *, control: ArrayLike | None = None,
          baseline: ArrayLike | None = None, control_label: str = "", direction: int = 1, threshold: float = 0.0,
          note: str = "", seed: int = 0) -> ClaimRow:
    """A :class:`ClaimRow` from per-seed ``values``, tested on ``values − control`` when a control (the same
    statistic on an untrained / chance-level network of the same seed) or a ``baseline`` (a competing
    method on the same seeds) is given. Pairs with a non-finite member are dropped."""
    if control is not None and baseline is not None:
        raise InputError("give either control= (untrained network) or baseline= (another method), not both")
    ref = control if control is not None else baseline
    label = control_label or ("untrained" if control is not None else "")
    return _row(claim, paper, quantity, values, ref, direction=direction, threshold=threshold, note=note, seed=seed,
                control_label=label, kind="claim")


def method_check(check: str, paper: str, quantity: str, values: ArrayLike, *, direction: int = 1,
                 threshold: float = 0.0, note: str = "") -> ClaimRow:
    """A statistic that cannot fail when the method is implemented right (an identity of a closed form, a
    quantity anchored by construction): ``holds`` when every seed's value is on the stated side of
    ``threshold``. Listed apart from the claims and never counted as a reproduction."""
    return _row(check, paper, quantity, values, None, direction=direction, threshold=threshold, note=note, seed=0,
                control_label="", kind="method check")


_COLOURS = {REPRODUCED: "tab:green", NOT_ON_SIDE: "tab:orange", NOT_REPRODUCED: "tab:red", UNDERPOWERED: "tab:grey",
            "holds": "tab:blue", "fails": "tab:purple"}


@dataclass
class ReproductionTable:
    """The reproduction of one paper: its claims beside ours, the controls, the tested differences with
    their p-values and the verdicts; method checks listed apart.

    ``setup`` records the design actually run (sizes, hyperparameters, deviations from the paper);
    ``extra`` holds secondary numbers (per-group tables, sweeps); ``figures`` are extra result objects
    (anything with ``plot()``) shown beside the table.
    """

    paper: str
    key: str  # dynamics | attractors | ranges | topology | descramble
    rows: list[ClaimRow]
    setup: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    seconds: float = float("nan")
    command: str = ""
    findings: list[str] = field(default_factory=list)
    figures: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.adjust()

    def adjust(self) -> None:
        """Holm-adjust the claims' p-values (method checks are not tested)."""
        claims = self.claims
        for r, p in zip(claims, holm([r.p_value for r in claims])):
            r.p_adjusted = float(p)

    @property
    def claims(self) -> list[ClaimRow]:
        return [r for r in self.rows if r.kind == "claim"]

    @property
    def checks(self) -> list[ClaimRow]:
        return [r for r in self.rows if r.kind != "claim"]

    @property
    def title(self) -> str:
        return f"Reproduction — {self.paper}: {self.verdict}"

    @property
    def verdict(self) -> str:
        self.adjust()
        return overall_verdict([r.verdict for r in self.claims])

    def to_dict(self) -> dict[str, Any]:
        self.adjust()
        return to_jsonable({
            "kind": "reproduction", "paper": self.paper, "key": self.key, "verdict": self.verdict,
            "claims": [r.to_dict() for r in self.claims], "method_checks": [r.to_dict() for r in self.checks],
            "setup": self.setup, "extra": self.extra, "seconds": self.seconds, "command": self.command,
            "findings": self.findings, "verdict_rule": RULE_TEXT,
        })

    def table(self) -> tuple[list[str], list[list[Any]]]:
        self.adjust()
        header = ["claim", "paper", "we measured", "expected", "ours (trained)", "control",
                  "difference (95% CI), Holm p", "verdict", "note"]
        rows = [[r.claim, r.paper, r.quantity, r.expected(), r.ours(), r.control_text(), r.difference(), r.verdict,
                 r.note] for r in self.claims]
        rows += [[f"[method check] {r.claim}", r.paper, r.quantity, r.expected(), r.ours(), "—", r.difference(),
                  r.verdict, r.note] for r in self.checks]
        return header, rows

    def markdown(self) -> str:
        header, rows = self.table()
        return _markdown(header, rows)

    def summary(self) -> str:
        self.adjust()
        counts = {v: sum(r.verdict == v for r in self.claims) for v in VERDICTS}
        s = (f"{self.paper}: {self.verdict} — " + ", ".join(f"{k} {v}" for v, k in counts.items() if k)
             + f" (one-sided sign-flip ∧ bootstrap-t test at {ALPHA}, Holm over {len(self.claims)} claims; "
               f"verdicts need ≥ {MIN_SEEDS} independent values).")
        for r in self.claims:
            if r.verdict != REPRODUCED:
                s += f"\n- {r.claim}: {r.verdict} ({r.difference()}). {r.note}"
        for r in self.checks:
            s += f"\n- method check, {r.claim}: {r.verdict} ({r.difference()})."
        for f in self.findings:
            s += f"\n- {f}"
        if np.isfinite(self.seconds):
            s += f"\nWall time {self.seconds:.0f} s."
        return s

    def plot(self, ax: Any = None) -> Any:
        """Forest plot: each row's tested difference and 95 % t interval, centred on its threshold, signed so
        that the paper's side is to the right."""
        self.adjust()
        rows = self.claims + self.checks
        fig, ax = axes_figure(ax, (7.5, 0.5 + 0.45 * max(len(rows), 1)))
        for i, r in enumerate(rows):
            s = r.direction
            lo, hi = sorted((s * (r.ci_low - r.threshold), s * (r.ci_high - r.threshold)))
            e = s * (r.estimate - r.threshold)
            c = _COLOURS.get(r.verdict, "k")
            ax.plot([lo, hi], [i, i], color=c, lw=2)
            ax.plot([e], [i], "o", color=c)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(range(len(rows)), [("[check] " if r.kind != "claim" else "") + r.claim[:48] for r in rows],
                      fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("tested difference − threshold, signed (> 0 = the paper's direction); 95% t interval")
        ax.set_title(f"{self.paper}: {self.verdict}", fontsize=9)
        fig.tight_layout()
        return fig

    def plotly(self) -> Any:
        import plotly.graph_objects as go

        fig = go.Figure()
        for r in self.claims + self.checks:
            s = r.direction
            lo, hi = sorted((s * (r.ci_low - r.threshold), s * (r.ci_high - r.threshold)))
            e = s * (r.estimate - r.threshold)
            fig.add_trace(go.Scatter(x=[e], y=[r.claim[:60]], mode="markers", name=r.verdict,
                                     error_x={"type": "data", "symmetric": False, "array": [hi - e],
                                              "arrayminus": [e - lo]}, showlegend=False))
        fig.add_vline(x=0)
        fig.update_layout(title=f"{self.paper}: {self.verdict}", xaxis_title="signed distance from threshold",
                          height=150 + 40 * len(self.rows))
        return fig


RULE_TEXT = (f"reproduced: ≥ {MIN_SEEDS} independent values and Holm-adjusted one-sided p ≤ {ALPHA} "
             "(p = max of the sign-flip permutation and bootstrap-t p-values, on trained − control where a "
             f"control exists); {UNDERPOWERED}: fewer values, no verdict; otherwise not reproduced (estimate on "
             "the paper's side) or not reproduced. Method checks are listed apart and not counted.")


def _markdown(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    """Where a run happened: Python, platform, the versions of the numerical packages and repscope, and the
    git commit of the source tree when it is a git checkout (``None`` otherwise)."""
    import importlib.metadata as md

    versions: dict[str, str | None] = {}
    for pkg in ("repscope", "numpy", "scipy", "scikit-learn", "torch", "gudhi", "zarr"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    commit = dirty = None
    src = pathlib.Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        if commit:
            dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=src, capture_output=True,
                                        text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine(),
            "versions": versions, "git_commit": commit, "git_dirty": dirty}


def reproduction_payload(results: list[Any], *, mode: str | None = None,
                         env: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON written by :func:`write_reproduction`: every table (claims with per-seed trained, control and
    difference values, method checks, setup = the configuration run), the verdict rule and the environment
    (``env``: as recorded when the run started; default: now)."""
    tables = [r for r in results if isinstance(r, ReproductionTable)]
    if mode is None:
        modes = {t.setup.get("mode") for t in tables}
        mode = modes.pop() if len(modes) == 1 else "mixed"
    return {"reproductions": [t.to_dict() for t in tables], "mode": mode, "verdict_rule": RULE_TEXT,
            "alpha_one_sided": ALPHA, "min_seeds": MIN_SEEDS, "environment": env or environment()}


def write_reproduction(results: list[Any], out: str | pathlib.Path, *, title: str) -> pathlib.Path:
    """Write ``reproduction.json`` (:func:`reproduction_payload`), ``reproduction.md`` (the tables) and
    ``report.html`` into ``out``."""
    from repscope.report import Section, write_report

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = [r for r in results if isinstance(r, ReproductionTable)]
    (out / "reproduction.json").write_text(dumps(reproduction_payload(results)))
    md = []
    for t in tables:
        md += [f"## {t.paper} — overall: {t.verdict}", "", f"Command: `{t.command}` — wall time {t.seconds:.0f} s",
               "", t.markdown(), ""]
        md += [f"- {f}" for f in t.findings] + [""]
    (out / "reproduction.md").write_text("\n".join(md))
    sections = []
    for t in tables:
        sections.append(Section(t.paper, [t, *t.figures], intro=_setup_text(t), key=f"reproduce-{t.key}"))
    return write_report(sections, out, title=title)


def _setup_text(t: ReproductionTable) -> str:
    parts = [f"{k}: {v}" for k, v in t.setup.items()]
    return "Design run: " + "; ".join(parts) if parts else ""


#: key → (module, function) of every reproduction; each function takes ``quick``, ``seeds``, ``seed``,
#: ``progress`` and returns a list of result objects whose first items are :class:`ReproductionTable`.
REPRODUCTIONS = {
    "dynamics": ("repscope.experiments.dynamics.reproduce", "reproduce"),
    "ranges": ("repscope.experiments.ranges.reproduce", "reproduce"),
    "topology": ("repscope.experiments.topology.reproduce", "reproduce"),
    "descramble": ("repscope.experiments.descramble.reproduce", "reproduce"),
}


def run_reproduction(key: str, **kw: Any) -> list[Any]:
    """Run one registered reproduction by key (see :data:`REPRODUCTIONS`)."""
    import importlib

    if key not in REPRODUCTIONS:
        raise InputError(f"unknown reproduction {key!r}; use one of {', '.join(REPRODUCTIONS)}")
    mod, fn = REPRODUCTIONS[key]
    t0 = time.perf_counter()
    res = getattr(importlib.import_module(mod), fn)(**kw)
    for r in res:
        if isinstance(r, ReproductionTable) and not np.isfinite(r.seconds):
            r.seconds = time.perf_counter() - t0
    return res


def reproduce(key: str, *, quick: bool = False, seeds: int | None = None, seed: int = 0,
              out: str | pathlib.Path | None = None, progress: bool = False) -> tuple[list[ReproductionTable], float]:
    """What ``repscope <key> reproduce`` runs: reproduction ``key`` (:data:`REPRODUCTIONS`) over ``seeds``
    seeds (at least 2; default: the paper design's) from ``seed``, its tables written to ``out`` (if given;
    :func:`write_reproduction`), each table's ``command`` set to the command line that reruns it. Returns the
    tables and the wall time in seconds."""
    if seeds is not None and seeds < 2:
        raise InputError(f"--seeds {seeds} is too few for a confidence interval; use at least 2 "
                         "(a verdict needs 10 or more)")
    t0 = time.perf_counter()
    res = run_reproduction(key, quick=quick, seeds=seeds, seed=seed, progress=progress)
    wall = time.perf_counter() - t0
    tables = [r for r in res if isinstance(r, ReproductionTable)]
    cmd = f"repscope {key} reproduce" + (" --quick" if quick else "") + (f" --seeds {seeds}" if seeds else "")
    for t in tables:
        t.command = cmd
    if out is not None:
        write_reproduction(res, out, title=f"repscope — {key} reproduction{' (quick)' if quick else ''}")
    return tables, wall


def reproduction_sections(quick: bool = True, *, keys: Sequence[str] | None = None, seed: int = 0,
                          progress: bool = False) -> list[Any]:
    """Report sections (one per paper) with each reproduction's table, verdict and figures.

    ``quick=True`` runs the quick designs (each trains 10 seeds with their controls — Guilhot 5 — so all four
    take several CPU-minutes each). For :func:`repscope.experiments.pipeline` to append to the demo report.
    """
    from repscope.report import Section

    sections = []
    for key in keys or list(REPRODUCTIONS):
        res = run_reproduction(key, quick=quick, seed=seed, progress=progress)
        for t in res:
            if isinstance(t, ReproductionTable):
                sections.append(Section(f"Reproduction — {t.paper}", [t, *t.figures], intro=_setup_text(t),
                                        key=f"reproduce-{t.key}"))
    return sections
