"""Claim / ours-with-CI / verdict tables for the papers' reproductions (``repscope <lens> reproduce``).

Every reproduction measures, per seed, a quantity whose sign (or position relative to a threshold) is
what the paper claims — e.g. "DSA distance of the untrained control to the master minus the master
group's own spread > 0". :func:`claim` turns those per-seed values into a :class:`ClaimRow`:

- the estimate is their mean; the 95 % interval a percentile bootstrap over seeds
  (:func:`bootstrap_ci`); a difference between two methods measured on the same seeds is bootstrapped
  *paired* (:func:`paired_bootstrap`: the same resampled seeds for both methods);
- the verdict follows from the numbers by one rule (:func:`verdict_rule`): **reproduced** when the whole
  interval lies on the paper's side of the threshold, **partly** when only the estimate does, **not**
  otherwise. A reproduction's overall verdict (:func:`overall_verdict`) is reproduced when every row is,
  not when no row is reproduced or partly reproduced, partly in between.

:class:`ReproductionTable` follows :mod:`repscope.results` (``to_dict``, ``plot``, ``plotly``,
``summary``, ``table``, ``title``); :func:`reproduction_sections` runs every quick reproduction and
returns report sections for the demo report.
"""

from __future__ import annotations

import contextlib
import pathlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.results import axes_figure, dumps, to_jsonable

__all__ = [
    "VERDICTS",
    "bootstrap_ci",
    "paired_bootstrap",
    "verdict_rule",
    "overall_verdict",
    "ClaimRow",
    "claim",
    "ReproductionTable",
    "write_reproduction",
    "reproduction_sections",
    "REPRODUCTIONS",
    "progress_steps",
]

VERDICTS = ("reproduced", "partly", "not")


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
        raise InputError(f"{name} has no finite value; a confidence interval needs at least one seed's value")
    return a


def bootstrap_ci(
    values: ArrayLike,
    *,
    level: float = 0.95,
    n_boot: int = 4000,
    seed: int = 0,
    statistic: Callable[[np.ndarray], float] | None = None,
) -> tuple[float, float, float]:
    """``(estimate, low, high)``: the statistic (default mean) of ``values`` and its percentile-bootstrap
    interval at ``level`` (Efron & Tibshirani 1993, §13.3), resampling the values (seeds) with replacement.

    Non-finite values are dropped. One value gives a zero-width interval (no spread is known).
    """
    a = _finite(values, "values")
    if not 0 < level < 1:
        raise InputError(f"level={level} must be in (0, 1), e.g. 0.95")
    stat = statistic or (lambda v: float(np.mean(v)))
    est = float(stat(a))
    if a.size == 1:
        return est, est, est
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(int(n_boot), a.size))
    if statistic is None:
        boots = a[idx].mean(axis=1)
    else:
        boots = np.array([stat(a[i]) for i in idx])
    lo, hi = np.quantile(boots, [(1 - level) / 2, 1 - (1 - level) / 2])
    return est, float(lo), float(hi)


def paired_bootstrap(
    a: ArrayLike, b: ArrayLike, *, level: float = 0.95, n_boot: int = 4000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of the paired differences ``a − b`` (same seeds) with its percentile-bootstrap interval.

    The seeds are resampled once for both methods, so seed-to-seed variation shared by the two methods
    cancels (the paired bootstrap of Efron & Tibshirani 1993, §16.4). Pairs with a non-finite member are dropped.
    """
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise InputError(f"paired values differ in length ({a.size} vs {b.size}); pair them by seed")
    return bootstrap_ci(a - b, level=level, n_boot=n_boot, seed=seed)


def verdict_rule(estimate: float, low: float, high: float, *, direction: int = 1, threshold: float = 0.0) -> str:
    """The one verdict rule: the paper claims ``quantity > threshold`` (``direction=+1``) or ``<``
    (``direction=−1``). Whole CI on the paper's side → ``reproduced``; only the estimate → ``partly``;
    else ``not``."""
    if direction not in (1, -1):
        raise InputError(f"direction={direction} must be +1 (paper: above threshold) or -1 (below)")
    s = float(direction)
    if not np.isfinite(estimate):
        return "not"
    if s * (low - threshold) > 0 and s * (high - threshold) > 0:
        return "reproduced"
    if s * (estimate - threshold) > 0:
        return "partly"
    return "not"


def overall_verdict(verdicts: Sequence[str]) -> str:
    """``reproduced`` if every claim is, ``not`` if none is reproduced or partly, else ``partly``."""
    v = list(verdicts)
    if v and all(x == "reproduced" for x in v):
        return "reproduced"
    if not any(x in ("reproduced", "partly") for x in v):
        return "not"
    return "partly"


@dataclass
class ClaimRow:
    """One claim of a paper beside our measurement of it."""

    claim: str  # the paper's claim, in words
    paper: str  # the paper's figure / number
    quantity: str  # what we measured (per seed) to test it
    estimate: float
    ci_low: float
    ci_high: float
    n: int  # seeds (or paired seeds)
    direction: int = 1
    threshold: float = 0.0
    note: str = ""  # likely reason when not reproduced, caveats
    values: list[float] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return verdict_rule(self.estimate, self.ci_low, self.ci_high, direction=self.direction,
                            threshold=self.threshold)

    def ours(self) -> str:
        return f"{self.estimate:.3g} [{self.ci_low:.3g}, {self.ci_high:.3g}] (n={self.n})"

    def expected(self) -> str:
        return f"{'>' if self.direction > 0 else '<'} {self.threshold:g}"

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({
            "claim": self.claim, "paper": self.paper, "quantity": self.quantity, "estimate": self.estimate,
            "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n, "direction": self.direction,
            "threshold": self.threshold, "verdict": self.verdict, "note": self.note, "values": self.values,
        })


def claim(
    claim: str,
    paper: str,
    quantity: str,
    values: ArrayLike,
    *,
    baseline: ArrayLike | None = None,
    direction: int = 1,
    threshold: float = 0.0,
    note: str = "",
    seed: int = 0,
) -> ClaimRow:
    """A :class:`ClaimRow` from per-seed ``values`` (or the paired difference ``values − baseline``)."""
    v = np.asarray(values, dtype=float).ravel()
    if baseline is not None:
        b = np.asarray(baseline, dtype=float).ravel()
        est, lo, hi = paired_bootstrap(v, b, seed=seed)
        v = v - b
    else:
        est, lo, hi = bootstrap_ci(v, seed=seed)
    n = int(np.isfinite(v).sum())
    return ClaimRow(claim, paper, quantity, est, lo, hi, n, direction, threshold, note,
                    [float(x) for x in v])


@dataclass
class ReproductionTable:
    """The reproduction of one paper: its claims beside ours with 95 % CIs and the verdicts.

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

    @property
    def title(self) -> str:
        return f"Reproduction — {self.paper}: {self.verdict}"

    @property
    def verdict(self) -> str:
        return overall_verdict([r.verdict for r in self.rows])

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({
            "kind": "reproduction", "paper": self.paper, "key": self.key, "verdict": self.verdict,
            "claims": [r.to_dict() for r in self.rows], "setup": self.setup, "extra": self.extra,
            "seconds": self.seconds, "command": self.command, "findings": self.findings,
            "verdict_rule": "reproduced: the 95% CI lies on the paper's side of the threshold; partly: only "
                            "the estimate does; not: otherwise",
        })

    def table(self) -> tuple[list[str], list[list[Any]]]:
        header = ["claim", "paper", "we measured", "expected", "ours (95% CI)", "verdict", "note"]
        rows = [[r.claim, r.paper, r.quantity, r.expected(), r.ours(), r.verdict, r.note] for r in self.rows]
        return header, rows

    def markdown(self) -> str:
        header, rows = self.table()
        esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
        return "\n".join(lines)

    def summary(self) -> str:
        counts = {v: sum(r.verdict == v for r in self.rows) for v in VERDICTS}
        s = (f"{self.paper}: overall {self.verdict} — {counts['reproduced']} claim(s) reproduced, "
             f"{counts['partly']} partly, {counts['not']} not (95% bootstrap CIs over seeds).")
        for r in self.rows:
            if r.verdict != "reproduced":
                s += f"\n- {r.claim}: {r.verdict} ({r.ours()}). {r.note}"
        for f in self.findings:
            s += f"\n- {f}"
        if np.isfinite(self.seconds):
            s += f"\nWall time {self.seconds:.0f} s."
        return s

    def plot(self, ax: Any = None) -> Any:
        """Forest plot: each claim's estimate and 95 % CI, centred on its threshold, signed so that the
        paper's side is to the right."""
        fig, ax = axes_figure(ax, (7.5, 0.5 + 0.45 * max(len(self.rows), 1)))
        colours = {"reproduced": "tab:green", "partly": "tab:orange", "not": "tab:red"}
        for i, r in enumerate(self.rows):
            s = r.direction
            lo, hi = sorted((s * (r.ci_low - r.threshold), s * (r.ci_high - r.threshold)))
            e = s * (r.estimate - r.threshold)
            ax.plot([lo, hi], [i, i], color=colours[r.verdict], lw=2)
            ax.plot([e], [i], "o", color=colours[r.verdict])
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(range(len(self.rows)), [r.claim[:48] for r in self.rows], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("ours − threshold, signed (> 0 = the paper's direction); 95% CI")
        ax.set_title(f"{self.paper}: {self.verdict}", fontsize=9)
        fig.tight_layout()
        return fig

    def plotly(self) -> Any:
        import plotly.graph_objects as go

        fig = go.Figure()
        for r in self.rows:
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


def write_reproduction(results: list[Any], out: str | pathlib.Path, *, title: str) -> pathlib.Path:
    """Write ``reproduction.json``, ``reproduction.md`` (the tables) and ``report.html`` into ``out``."""
    from repscope.report import Section, write_report

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = [r for r in results if isinstance(r, ReproductionTable)]
    (out / "reproduction.json").write_text(dumps({"reproductions": [t.to_dict() for t in tables]}))
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


def reproduction_sections(quick: bool = True, *, keys: Sequence[str] | None = None, seed: int = 0,
                          progress: bool = False) -> list[Any]:
    """Report sections (one per paper) with each reproduction's table, verdict and figures.

    ``quick=True`` runs the ≤ 3-minute versions (about 10 minutes for all four on 2 cores). For
    :func:`repscope.experiments.pipeline` to append to the demo report.
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
