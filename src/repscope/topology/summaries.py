"""Vector summaries of persistence diagrams: landscapes, persistence entropy, Betti curves — per layer.

For a diagram ``{(b_i, d_i)}`` of one homology dimension (``m_i = (b_i + d_i)/2``, ``h_i = (d_i − b_i)/2``,
``ℓ_i = d_i − b_i``):

- **Persistence landscape** (Bubenik 2015, "Statistical topological data analysis using persistence
  landscapes", JMLR 16:77): ``λ_k(t)`` = k-th largest value of the tents ``max(0, h_i − |t − m_i|)``;
  evaluated on a grid, vectorised over bars and grid points (``np.partition``). Equal to persim's
  ``PersLandscapeApprox`` and to ``gudhi.representations.Landscape`` divided by √2 (gudhi samples the
  landscape in coordinates rotated by 45°, which scales it by √2). Exact identity used in the tests:
  ``Σ_k ∫ λ_k(t) dt = Σ_i h_i²`` when k ≥ the number of bars.
  **Landscape distance** ``‖λ(D₁) − λ(D₂)‖_p = (Σ_k ∫ |λ_k − λ'_k|^p)^{1/p}`` (p = ∞: sup), a metric on
  diagrams that is 1-Lipschitz in the bottleneck distance for p = ∞ (Bubenik 2015, Thm. 13); integrated
  exactly (piecewise-linear functions, knots at every breakpoint and crossing).
- **Persistence entropy** (Chintakunta et al. 2015, "An entropy-based persistence barcode", Pattern
  Recognition 48:391; Atienza et al. 2020): ``E = −Σ p_i log p_i`` with ``p_i = ℓ_i / Σ_j ℓ_j`` (natural log,
  finite bars); ``E = log n`` for n equal bars. ``normalized=True`` divides by ``log n`` (in [0, 1]). Equal
  to ``gudhi.representations.Entropy(mode="scalar")``.
- **Betti curve** (e.g. Umeda 2017; ``gudhi.representations.BettiCurve``): ``β(t) = #{i : b_i ≤ t < d_i}``,
  the number of features alive at scale ``t`` (infinite bars count at every ``t ≥ b``).

Infinite deaths: landscapes and entropy use finite bars only, unless ``inf_death=`` gives a value to cap
them at; Betti curves keep them. Grids: ``resolution`` evenly spaced points over ``sample_range`` (default
``[min birth, max finite death]`` of the diagram(s), endpoints included), or an explicit ``grid``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.results import ResultBase, to_jsonable
from repscope.topology._persistence import as_diagram

_trapezoid = getattr(np, "trapezoid", None) or getattr(np, "trapz")  # noqa: B009 — numpy < 2 has only trapz

__all__ = [
    "BettiCurve",
    "LayerSummaries",
    "PersistenceLandscape",
    "betti_curve",
    "layer_summaries",
    "persistence_entropy",
    "persistence_landscape",
    "landscape_distance",
]


def _bars(dgm: Any, dim: int | None, inf_death: float | None, keep_inf: bool = False) -> np.ndarray:
    D = as_diagram(dgm, dim)
    fin = np.isfinite(D[:, 1])
    if keep_inf:
        return D
    if inf_death is not None:
        if not np.isfinite(inf_death):
            raise InputError(f"inf_death={inf_death} must be a finite number (the death value for infinite bars)")
        D = D.copy()
        D[~fin, 1] = float(inf_death)
        if np.any(D[:, 1] < D[:, 0]):
            raise InputError(f"inf_death={inf_death} is below the birth of an infinite bar; use a larger value")
        return D
    return D[fin]


def _grid(diagrams: list[np.ndarray], grid: ArrayLike | None, resolution: int, sample_range: Any) -> np.ndarray:
    if grid is not None:
        if sample_range is not None:
            raise InputError("pass either grid or sample_range (with resolution), not both")
        g = np.asarray(grid, dtype=np.float64).reshape(-1)
        if g.size < 1 or not np.isfinite(g).all() or np.any(np.diff(g) <= 0):
            raise InputError("grid must be a non-empty, finite, strictly increasing 1-d array of scales")
        return g
    if int(resolution) < 2:
        raise InputError(f"resolution={resolution} must be ≥ 2")
    if sample_range is not None:
        lo, hi = (float(v) for v in sample_range)
    else:
        pts = np.concatenate([d.reshape(-1, 2) for d in diagrams]) if diagrams else np.zeros((0, 2))
        vals = pts[np.isfinite(pts)]
        if vals.size == 0:
            lo, hi = 0.0, 1.0
        else:
            lo, hi = float(pts[:, 0].min()), float(vals.max())
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        hi = lo + 1.0 if np.isfinite(lo) else 1.0
        lo = lo if np.isfinite(lo) else 0.0
    return np.linspace(lo, hi, int(resolution))


def _curve_plot(ax: Any, grid: np.ndarray, values: np.ndarray, labels: list[str], ylabel: str, title: str,
                step: bool = False):
    from repscope.results import subplots

    if ax is None:
        fig, ax = subplots(figsize=(5.5, 3.4))
    else:
        fig = ax.figure
    for v, lab in zip(values, labels):
        if step:
            ax.step(grid, v, where="post", label=lab)
        else:
            ax.plot(grid, v, label=lab)
    ax.set_xlabel("filtration value")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if 1 < len(labels) <= 12:
        ax.legend(fontsize=7)
    return fig


def _curve_plotly(grid: np.ndarray, values: np.ndarray, labels: list[str], ylabel: str, title: str,
                  step: bool = False):
    import plotly.graph_objects as go

    fig = go.Figure()
    for v, lab in zip(values, labels):
        fig.add_scatter(x=grid, y=v, mode="lines", name=html.escape(lab), line={"shape": "hv"} if step else {})
    fig.update_layout(title=html.escape(title), xaxis_title="filtration value", yaxis_title=ylabel)
    return fig


@dataclass
class _Curves(ResultBase):
    """Functions of the filtration value sampled on ``grid`` (``values``: one row per function)."""

    grid: np.ndarray
    values: np.ndarray
    dim: int | None = None
    name: str = ""

    _kind = ""

    @property
    def title(self) -> str:
        return self._kind + (f" (H{self.dim})" if self.dim is not None else "") + (
            f" — {self.name}" if self.name else "")


@dataclass
class PersistenceLandscape(_Curves):
    """Landscape functions ``values[k−1, j] = λ_k(grid[j])`` of one diagram (Bubenik 2015).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import persistence_landscape
    >>> pl = persistence_landscape(np.array([[0.0, 2.0], [0.5, 1.5]]), k=2, grid=[1.0])
    >>> pl.values[:, 0].tolist()   # λ₁(1) and λ₂(1)
    [1.0, 0.5]
    """

    _kind = "Persistence landscape"

    def vector(self) -> np.ndarray:
        """Concatenation ``[λ_1(grid), λ_2(grid), …]`` (a feature vector, as gudhi's Landscape returns)."""
        return self.values.ravel()

    def norm(self, p: float = 2.0) -> float:
        """``(Σ_k ∫ |λ_k|^p dt)^{1/p}`` by the trapezoidal rule on the grid (exact as the grid refines)."""
        if len(self.grid) < 2:
            return float("nan")
        return float(np.sum(_trapezoid(np.abs(self.values) ** p, self.grid, axis=1)) ** (1.0 / p))

    def to_dict(self) -> dict:
        return to_jsonable({"kind": "persistence_landscape", "name": self.name, "dim": self.dim, "grid": self.grid,
                            "values": self.values, "l1_norm": self.norm(1), "l2_norm": self.norm(2)})

    def summary(self) -> str:
        return (f"{self.values.shape[0]} landscape function(s) on {len(self.grid)} scales; max λ_1 = "
                f"{self.values[0].max():.4g}, L2 norm {self.norm(2):.4g}.")

    def table(self) -> tuple[list[str], list[list[Any]]]:
        rows = [[k + 1, round(float(v.max()), 6), round(float(_trapezoid(v, self.grid)), 6)]
                for k, v in enumerate(self.values)]
        return ["k", "max λ_k", "∫ λ_k"], rows

    def plot(self, ax: Any = None):
        return _curve_plot(ax, self.grid, self.values, [f"λ_{k + 1}" for k in range(len(self.values))], "λ_k(t)",
                           self.title)

    def plotly(self):
        return _curve_plotly(self.grid, self.values, [f"λ_{k + 1}" for k in range(len(self.values))], "λ_k(t)",
                             self.title)


@dataclass
class BettiCurve(_Curves):
    """Betti numbers ``values[j] = β(grid[j])`` of one diagram.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import betti_curve
    >>> bc = betti_curve(np.array([[0.0, 1.0]]), grid=[0.5, 1.5], name="one bar")
    >>> bc.grid.tolist(), bc.values.tolist(), bc.name
    ([0.5, 1.5], [1, 0], 'one bar')
    """

    _kind = "Betti curve"

    def to_dict(self) -> dict:
        return to_jsonable({"kind": "betti_curve", "name": self.name, "dim": self.dim, "grid": self.grid,
                            "values": self.values})

    def summary(self) -> str:
        j = int(np.argmax(self.values))
        return f"β peaks at {int(self.values[j])} at scale {self.grid[j]:.4g} ({len(self.grid)} scales)."

    def table(self) -> tuple[list[str], list[list[Any]]]:
        idx = np.unique(np.linspace(0, len(self.grid) - 1, min(len(self.grid), 12)).astype(int))
        return ["scale", "β"], [[round(float(self.grid[i]), 6), int(self.values[i])] for i in idx]

    def plot(self, ax: Any = None):
        return _curve_plot(ax, self.grid, self.values[None], [self.name or "β"], "Betti number", self.title,
                           step=True)

    def plotly(self):
        return _curve_plotly(self.grid, self.values[None], [self.name or "β"], "Betti number", self.title,
                             step=True)


def persistence_landscape(
    dgm: Any,
    dim: int | None = None,
    *,
    k: int = 5,
    grid: ArrayLike | None = None,
    resolution: int = 100,
    sample_range: tuple[float, float] | None = None,
    inf_death: float | None = None,
    name: str = "",
) -> PersistenceLandscape:
    """The first ``k`` landscape functions of a diagram (a ``(n, 2)`` array, or :class:`Diagrams` + ``dim``)
    on ``grid`` (default: ``resolution`` points over ``sample_range``). See the module docstring.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import persistence_landscape
    >>> pl = persistence_landscape(np.array([[0.0, 2.0]]), k=1, grid=[0.0, 1.0, 2.0])
    >>> pl.values.tolist()         # a tent of height (d − b)/2 = 1 at the bar's midpoint
    [[0.0, 1.0, 0.0]]
    """
    if int(k) < 1:
        raise InputError(f"k={k} must be ≥ 1 (the number of landscape functions)")
    D = _bars(dgm, dim, inf_death)
    g = _grid([D], grid, resolution, sample_range)
    k = int(k)
    if len(D) == 0:
        return PersistenceLandscape(g, np.zeros((k, len(g))), dim, name)
    mid, half = (D[:, 0] + D[:, 1]) / 2.0, (D[:, 1] - D[:, 0]) / 2.0
    tents = np.maximum(half[None, :] - np.abs(g[:, None] - mid[None, :]), 0.0)  # (G, n)
    if tents.shape[1] < k:
        tents = np.concatenate([tents, np.zeros((len(g), k - tents.shape[1]))], axis=1)
    top = np.partition(tents, tents.shape[1] - k, axis=1)[:, -k:]
    return PersistenceLandscape(g, -np.sort(-top, axis=1).T, dim, name)


def landscape_distance(dgm1: Any, dgm2: Any, dim: int | None = None, *, p: float = 2.0, k: int | None = None,
                       inf_death: float | None = None) -> float:
    """``‖λ(D₁) − λ(D₂)‖_p`` over all (or the first ``k``) landscape functions (module docstring), exact.

    Every landscape function is piecewise linear with pieces of slope +1, −1 or 0 taken from the tents, so the
    difference is linear, without sign change, between consecutive knots — every birth b, death d and
    ``(b + d')/2`` over both diagrams (where a +1 piece meets a −1 piece: every breakpoint and crossing). On
    such a piece ``∫ |f|^p = h (|f₁|^{p+1} − |f₀|^{p+1}) / ((p+1)(|f₁| − |f₀|))``. Evaluated in chunks of 4096 knots.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import landscape_distance
    >>> a = np.array([[0.0, 2.0]])
    >>> landscape_distance(a, a)
    0.0
    >>> landscape_distance(a, np.array([[0.0, 4.0]])) > 0
    True
    """
    if not (p == np.inf or (np.isfinite(p) and p >= 1)):
        raise InputError(f"p={p} must be ≥ 1 or numpy.inf")
    A, B = _bars(dgm1, dim, inf_death), _bars(dgm2, dim, inf_death)
    births, deaths = np.unique(np.r_[A[:, 0], B[:, 0]]), np.unique(np.r_[A[:, 1], B[:, 1]])
    # pieces: t − b (slope +1), d − t (slope −1), 0 → breakpoints/crossings at b, d and (b + d')/2
    knots = np.unique(np.r_[births, deaths, ((births[:, None] + deaths[None, :]) / 2.0).ravel()])
    if knots.size < 2:
        return 0.0
    k = max(len(A), len(B), 1) if k is None else int(k)
    total = sup = 0.0
    for start in range(0, knots.size - 1, 4096):
        g = knots[start : start + 4097]
        f = np.abs(persistence_landscape(A, k=k, grid=g).values - persistence_landscape(B, k=k, grid=g).values)
        if p == np.inf:
            sup = max(sup, float(f.max()))
            continue
        f0, f1, h = f[:, :-1], f[:, 1:], np.diff(g)[None, :]
        same = np.isclose(f0, f1, rtol=1e-12, atol=1e-300)
        with np.errstate(invalid="ignore", divide="ignore"):
            piece = np.where(same, h * f0**p, h * (f1 ** (p + 1) - f0 ** (p + 1)) / ((p + 1) * (f1 - f0)))
        total += float(piece.sum())
    return sup if p == np.inf else total ** (1.0 / p)


def persistence_entropy(dgm: Any, dim: int | None = None, *, normalized: bool = False,
                        inf_death: float | None = None) -> float:
    """Persistence entropy ``−Σ p_i log p_i``, ``p_i = ℓ_i/Σℓ`` over finite bars (module docstring).

    ``normalized=True`` divides by ``log n`` (1 for equal bars); 0 for a single bar; NaN for no bars.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import persistence_entropy
    >>> round(persistence_entropy(np.array([[0.0, 1.0], [0.0, 1.0]])), 6) == round(float(np.log(2)), 6)
    True
    >>> round(float(persistence_entropy(np.array([[0.0, 1.0], [0.0, 1.0]]), normalized=True)), 6)
    1.0
    """
    D = _bars(dgm, dim, inf_death)
    life = D[:, 1] - D[:, 0]
    life = life[life > 0]
    if life.size == 0:
        return float("nan")
    p = life / life.sum()
    e = float(-np.sum(p * np.log(p)))
    if normalized:
        return e / np.log(life.size) if life.size > 1 else 0.0
    return e


def betti_curve(
    dgm: Any,
    dim: int | None = None,
    *,
    grid: ArrayLike | None = None,
    resolution: int = 100,
    sample_range: tuple[float, float] | None = None,
    name: str = "",
) -> BettiCurve:
    """``β(t) = #{i : b_i ≤ t < d_i}`` on ``grid`` (infinite bars included). See the module docstring.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import betti_curve
    >>> bc = betti_curve(np.array([[0.0, 2.0], [1.0, 3.0]]), grid=[0.5, 1.5, 2.5, 3.5])
    >>> bc.values.tolist()         # number of bars alive at each scale
    [1, 2, 1, 0]
    """
    D = _bars(dgm, dim, None, keep_inf=True)
    g = _grid([D], grid, resolution, sample_range)
    births, deaths = np.sort(D[:, 0]), np.sort(D[:, 1])
    vals = np.searchsorted(births, g, side="right") - np.searchsorted(deaths, g, side="right")
    return BettiCurve(g, vals.astype(np.int64), dim, name)


@dataclass
class LayerSummaries(ResultBase):
    """Per-layer diagram summaries in layer order, on one common grid of scales.

    ``entropy``/``entropy_normalized``/``total_persistence``/``n_bars``/``landscape_norm`` are per layer;
    ``betti`` is ``(n_layers, len(grid))``; ``landscapes[i]`` is ``(k, len(grid))``.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import layer_summaries
    >>> s = layer_summaries([np.array([[0.0, 2.0]]), np.array([[0.0, 1.0]])], dim=1, resolution=10)
    >>> s.total_persistence.tolist(), s.betti.shape
    ([2.0, 1.0], (2, 10))
    """

    layers: list[str]
    dim: int
    grid: np.ndarray
    entropy: np.ndarray
    entropy_normalized: np.ndarray
    total_persistence: np.ndarray
    n_bars: np.ndarray
    landscape_norm: np.ndarray
    betti: np.ndarray
    landscapes: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return f"Diagram summaries per layer (H{self.dim}): entropy, landscapes, Betti curves"

    def to_dict(self) -> dict:
        return to_jsonable({
            "kind": "layer_summaries", "layers": self.layers, "dim": self.dim, "grid": self.grid,
            "entropy": self.entropy, "entropy_normalized": self.entropy_normalized,
            "total_persistence": self.total_persistence, "n_bars": self.n_bars,
            "landscape_l2_norm": self.landscape_norm, "betti": self.betti, "landscapes": self.landscapes,
            "params": self.params,
        })

    def summary(self) -> str:
        e = self.entropy
        if not np.isfinite(e).any():
            return f"No finite H{self.dim} bars in any layer."
        hi, lo = int(np.nanargmax(e)), int(np.nanargmin(e))
        peak = int(np.argmax(self.betti.max(axis=1)))
        return (f"H{self.dim} persistence entropy ranges from {e[lo]:.3g} ({self.layers[lo]}) to {e[hi]:.3g} "
                f"({self.layers[hi]}); the largest Betti number, {int(self.betti.max())}, is reached in "
                f"{self.layers[peak]}.")

    def table(self) -> tuple[list[str], list[list[Any]]]:
        rows = [[lay, int(n), round(float(tp), 5), _r(e), _r(en), round(float(ln), 5), int(b.max())]
                for lay, n, tp, e, en, ln, b in zip(self.layers, self.n_bars, self.total_persistence, self.entropy,
                                                    self.entropy_normalized, self.landscape_norm, self.betti)]
        return ["layer", "bars", "total persistence", "entropy", "entropy / log n", "landscape L2", "max β"], rows

    def plot(self, ax: Any = None):
        from repscope.results import subplots

        if ax is None:
            fig, (a1, a2) = subplots(1, 2, figsize=(10, 3.6))
        else:  # one axis given: the Betti curves only
            fig, a1, a2 = ax.figure, None, ax
        if a1 is not None:
            x = np.arange(len(self.layers))
            a1.plot(x, self.entropy, marker="o", label="entropy")
            a1.plot(x, self.entropy_normalized, marker="s", label="entropy / log n")
            a1.set_xticks(x, self.layers, rotation=30, ha="right", fontsize=7)
            a1.set_title(f"H{self.dim} persistence entropy", fontsize=10)
            a1.legend(fontsize=7)
        _curve_plot(a2, self.grid, self.betti, self.layers, f"β_{self.dim}", f"Betti curves (H{self.dim})",
                    step=True)
        fig.tight_layout()
        return fig

    def plotly(self):
        return _curve_plotly(self.grid, self.betti, self.layers, f"β_{self.dim}",
                             f"Betti curves per layer (H{self.dim})", step=True)


def _r(v: float) -> Any:
    return round(float(v), 5) if np.isfinite(v) else float("nan")


def layer_summaries(
    diagrams: dict[str, Any] | list[Any],
    dim: int = 1,
    *,
    k: int = 3,
    resolution: int = 100,
    sample_range: tuple[float, float] | None = None,
    inf_death: float | None = None,
    layers: list[str] | None = None,
) -> LayerSummaries:
    """Entropy, total persistence, landscape norm and Betti curve of H_``dim`` for every layer.

    ``diagrams``: ``{layer: Diagrams}`` (e.g. ``PHLayerMatrix.diagrams``) or a list of :class:`Diagrams` /
    ``(n, 2)`` arrays with ``layers`` names. All curves share one grid over the union of the diagrams.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import layer_summaries
    >>> dgms = {"l1": np.array([[0.0, 1.0]]), "l2": np.array([[0.0, 1.0], [0.0, 1.0]])}
    >>> s = layer_summaries(dgms, dim=1, resolution=20)
    >>> s.layers, s.n_bars.tolist()
    (['l1', 'l2'], [1, 2])
    """
    if isinstance(diagrams, dict):
        names, items = [str(k_) for k_ in diagrams], list(diagrams.values())
    else:
        items = list(diagrams)
        names = list(layers) if layers is not None else [f"layer {i}" for i in range(len(items))]
    if not items or len(names) != len(items):
        raise InputError(
            f"need one or more diagrams with one name each (got {len(items)} diagrams, {len(names)} names)"
        )
    D = [as_diagram(d, dim) for d in items]
    g = _grid([_bars(d, None, inf_death) for d in D], None, resolution, sample_range)
    lands = [persistence_landscape(d, k=k, grid=g, inf_death=inf_death) for d in D]
    fin = [_bars(d, None, inf_death) for d in D]
    return LayerSummaries(
        layers=names, dim=int(dim), grid=g,
        entropy=np.array([persistence_entropy(d, inf_death=inf_death) for d in D]),
        entropy_normalized=np.array([persistence_entropy(d, normalized=True, inf_death=inf_death) for d in D]),
        total_persistence=np.array([float(np.sum(f[:, 1] - f[:, 0])) for f in fin]),
        n_bars=np.array([len(f) for f in fin]),
        landscape_norm=np.array([la.norm(2) for la in lands]),
        betti=np.stack([betti_curve(d, grid=g).values for d in D]),
        landscapes=np.stack([la.values for la in lands]),
        params={"k": int(k), "resolution": int(resolution), "inf_death": inf_death},
    )
