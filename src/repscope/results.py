"""repscope.results — the one protocol every analysis result follows, and the shared matrix result.

A result is a small dataclass with:

- ``to_dict()`` → JSON-serialisable dict (goes into ``results.json``);
- ``plot()`` → a matplotlib ``Figure`` (saved as PNG);
- optionally ``plotly()`` → a plotly ``Figure`` (interactive view in the HTML report);
- optionally ``summary()`` → a short plain-text reading for the report (escaped there);
- optionally ``table()`` → ``(header, rows)`` for an HTML table (escaped there);
- optionally ``html()`` → an extra trusted HTML fragment *built by repscope itself*, whose user-supplied
  strings are escaped at construction (used e.g. for the mapper graph view);
- ``title`` (class attribute or property) → section title.

Analyses never import the report; the report only duck-types on these names (:class:`Result` spells
the protocol out for type checkers and for the conformance test).

Every lens that returns a matrix (layer × layer similarity, PH distances between layers, DSA distances
between systems) returns a :class:`MatrixResult`, drawn by the one :func:`heatmap`.

Figures are plain :class:`matplotlib.figure.Figure` objects made by :func:`subplots`, never through
``pyplot`` — repscope never switches an interactive user's backend, and its figures never pile up in
pyplot's figure manager. In a notebook they display as usual; ``fig.savefig(path)`` writes them.
"""

from __future__ import annotations

import csv
import html
import json
import pathlib
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Result",
    "ResultBase",
    "MatrixResult",
    "heatmap",
    "fill_range",
    "subplots",
    "subplots_in",
    "colormap",
    "to_jsonable",
    "dumps",
]


@runtime_checkable
class Result(Protocol):
    """What every repscope result provides (``title`` is an attribute or property)."""

    title: str

    def to_dict(self) -> dict[str, Any]: ...

    def plot(self, ax: Any = None) -> Any: ...

    def plotly(self) -> Any: ...  # a plotly Figure, or None when the result has no interactive view

    def summary(self) -> str: ...

    def table(self) -> tuple[list[str], list[list[Any]]]: ...


class ResultBase:
    """Defaults of the protocol for result classes that lack a part of it (mix in first, before fields).

    ``plotly()`` → ``None`` (no interactive view: the report shows the ``plot()`` PNG instead); ``table()``
    → the scalar entries of ``to_dict()``; ``summary()`` → the title; ``title`` → the class name in words.
    A class overrides whichever it can do better.
    """

    @property
    def title(self) -> str:
        import re

        return re.sub(r"(?<!^)(?=[A-Z])", " ", type(self).__name__)

    def plotly(self) -> Any:
        return None

    def summary(self) -> str:
        return str(self.title)

    def table(self) -> tuple[list[str], list[list[Any]]]:
        d = self.to_dict()  # type: ignore[attr-defined]
        rows = [[str(k), v] for k, v in d.items() if isinstance(v, str | int | float | bool) or v is None]
        return ["", "value"], rows


def subplots(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Any, Any]:
    """Like ``pyplot.subplots`` but without pyplot: a standalone ``Figure`` and its axes."""
    from matplotlib.figure import Figure

    fig_kw = {k: kwargs.pop(k) for k in ("figsize", "dpi", "layout") if k in kwargs}
    fig = Figure(**fig_kw)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def subplots_in(ax: Any, nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Any, Any]:
    """``subplots`` for a ``plot(ax=None)`` method: a new figure when ``ax`` is None; else the panels are
    laid out inside ``ax``'s area of its own figure (``ax`` itself for a single panel)."""
    if ax is None:
        return subplots(nrows, ncols, **kwargs)
    fig = ax.figure
    squeeze = kwargs.get("squeeze", True)
    if nrows == 1 and ncols == 1:
        return fig, (ax if squeeze else np.array([[ax]]))
    grid = ax.get_subplotspec().subgridspec(nrows, ncols)
    ax.remove()
    axes = np.array([[fig.add_subplot(grid[i, j]) for j in range(ncols)] for i in range(nrows)], dtype=object)
    return fig, (axes.squeeze() if squeeze else axes)


def colormap(name: str) -> Any:
    """A registered matplotlib colormap by name (``pyplot.get_cmap`` without pyplot)."""
    import matplotlib

    return matplotlib.colormaps[name]


def axes_figure(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any]:
    """``(figure, ax)``: a new figure when ``ax`` is None, else ``ax``'s own figure (the ``plot(ax=)`` rule)."""
    if ax is None:
        return subplots(figsize=figsize)
    return ax.figure, ax


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays (and nested containers) into plain JSON types.

    Non-finite floats become ``None`` so the output is strict JSON.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    return obj


def dumps(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), indent=2, allow_nan=False)


_HALF_PI = float(np.pi / 2)

def fill_range(value_range: tuple[float, float | None], values: Any = None) -> tuple[float, float]:
    """A measure's value range ``(lo, hi)`` as a colour range: an open upper bound (``hi=None``) is filled
    with the data's maximum."""
    lo, hi = value_range
    if hi is None:
        v = np.asarray(values, dtype=float) if values is not None else np.zeros(0)
        finite = v[np.isfinite(v)]
        hi = float(finite.max()) if finite.size and finite.max() > lo else lo + 1.0
    return (float(lo), float(hi))


def heatmap(
    values: np.ndarray,
    rows: list[str],
    cols: list[str],
    *,
    ax: Any = None,
    title: str = "",
    colorbar_label: str = "",
    higher_is_closer: bool = True,
    value_range: tuple[float, float] | None = None,
    annotate: bool | None = None,
    cell_text: list[list[str]] | None = None,
    xlabel: str = "",
    ylabel: str = "",
) -> Any:
    """The one matplotlib heatmap of repscope (returns the Figure).

    Colours: viridis, reversed for distances so that "close" is always bright; ``value_range`` fixes the
    colour scale (e.g. ``(0, 1)`` for CKA) instead of stretching it over the data. Cell values are written
    on matrices of at most 256 cells (``annotate`` forces it on or off; ``cell_text`` replaces them).
    """
    values = np.asarray(values, dtype=float)
    n, m = values.shape
    size = (min(2.4 + 0.6 * m, 14.0), min(1.8 + 0.5 * n, 12.0))
    fig, ax = axes_figure(ax, size)
    lo, hi = value_range if value_range is not None else (None, None)
    im = ax.imshow(values, cmap="viridis" if higher_is_closer else "viridis_r", aspect="auto", vmin=lo, vmax=hi)
    fs = 8 if max(n, m) <= 10 else 6
    if m <= 60:
        ax.set_xticks(range(m), [str(c) for c in cols], rotation=45, ha="right", fontsize=fs)
    if n <= 60:
        ax.set_yticks(range(n), [str(r) for r in rows], fontsize=fs)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=colorbar_label)
    if annotate is None:
        annotate = values.size <= 256
    if annotate:
        finite = values[np.isfinite(values)]
        vmin = lo if lo is not None else (finite.min() if finite.size else 0.0)
        vmax = hi if hi is not None else (finite.max() if finite.size else 1.0)
        mid = (vmin + vmax) / 2
        for i in range(n):
            for j in range(m):
                v = values[i, j]
                bright = (v > mid) == higher_is_closer
                txt = cell_text[i][j] if cell_text is not None else (f"{v:.2f}" if np.isfinite(v) else "–")
                ax.text(j, i, txt, ha="center", va="center", fontsize=fs, color="black" if bright else "white")
    fig.tight_layout()
    return fig


@dataclass
class MatrixResult:
    """Values of one measure for every (row, column) pair — layers, models or systems.

    ``values[i, j]`` = measure(rows[i], cols[j]); ``kind`` says whether higher means closer
    (``"similarity"``) or farther (``"distance"``). Optional uncertainty: ``sd`` (spread over
    resamples), ``ci_low``/``ci_high`` at level ``ci_level`` (bootstrap). ``params`` holds the settings
    that produced the matrix, ``extra`` lens-specific arrays (e.g. DSA's optimisation certificates).
    ``value_range`` is the measure's range ``(lo, hi)``, given by the producer (for a registered measure, the
    registry's: 0–1 for CKA, 0–π/2 for angles; ``hi=None`` when unbounded above, then the data's maximum), so
    0.72 CKA never looks like 0; ``None`` (default) or ``"data"`` = stretch the colours over the data.
    """

    values: np.ndarray
    rows: list[str]
    cols: list[str]
    metric: str
    kind: str = "similarity"
    n_samples: int | None = None
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    sd: np.ndarray | None = None
    ci_low: np.ndarray | None = None
    ci_high: np.ndarray | None = None
    ci_level: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    value_range: tuple[float, float | None] | str | None = None
    row_axis: str = "layer"
    col_axis: str = "layer"

    @property
    def meta(self) -> dict[str, Any]:
        """How the values were computed (the ``extra`` entries, e.g. ``meta["formulation"]`` = ``"gram"`` or
        ``"covariance"`` for the linear similarity measures). A subclass may assign its own ``meta``."""
        return self.__dict__.get("_meta", self.extra)

    @meta.setter
    def meta(self, value: dict[str, Any]) -> None:
        self.__dict__["_meta"] = value

    def colour_range(self) -> tuple[float, float] | None:
        """The heatmap's colour range (see ``value_range``)."""
        if isinstance(self.value_range, str):
            return None
        if self.value_range is None:
            return None
        return fill_range(self.value_range, self.values)

    @property
    def table_collapsed(self) -> bool:
        """The report folds the table away when the heatmap already writes every value in its cells."""
        return self.values.size <= 256

    # ---- protocol -------------------------------------------------------------------------------
    @property
    def title(self) -> str:
        if self.label:
            return self.label
        what = "similarity" if self.kind == "similarity" else "distance"
        return f"Layer {what} — {self.metric}"

    @property
    def symmetric(self) -> bool:
        return list(self.rows) == list(self.cols) and np.allclose(self.values, self.values.T, equal_nan=True)

    def _legacy(self) -> dict[str, Any]:
        """Keys kept in ``to_dict()`` for readers of the results each lens returned before (subclasses)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "type": "matrix",
            "metric": self.metric,
            "kind": self.kind,
            "rows": list(self.rows),
            "cols": list(self.cols),
            "values": self.values,
            "n_samples": self.n_samples,
            "description": self.description,
            "params": self.params,
            "seconds": self.seconds,
        }
        for k in ("sd", "ci_low", "ci_high", "ci_level"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        if self.extra:
            d["extra"] = {k: v for k, v in self.extra.items() if _jsonable_value(v)}
        d.update(self._legacy())
        return to_jsonable(d)

    def to_csv(self, path: str | pathlib.Path) -> pathlib.Path:
        """Write the matrix as CSV (first row: metric and column names; full float precision)."""
        path = pathlib.Path(path)
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow([self.metric, *self.cols])
            for name, row in zip(self.rows, self.values):
                w.writerow([name, *[repr(float(v)) for v in row]])
        return path

    def _cell(self, i: int, j: int, digits: int = 3) -> str:
        v = self.values[i, j]
        if self.ci_low is not None and self.ci_high is not None:
            return f"{v:.{digits}f} [{self.ci_low[i, j]:.{digits}f}, {self.ci_high[i, j]:.{digits}f}]"
        if self.sd is not None and i != j:
            return f"{v:.{digits}g} ± {self.sd[i, j]:.2g}"
        return f"{v:.{digits}f}"

    def table(self) -> tuple[list[str], list[list[str]]]:
        header = ["", *map(str, self.cols)]
        rows = [[str(r), *[self._cell(i, j) for j in range(len(self.cols))]] for i, r in enumerate(self.rows)]
        return header, rows

    def _pairs(self) -> list[tuple[float, str, str]]:
        out = []
        same = list(self.rows) == list(self.cols)
        for i, r in enumerate(self.rows):
            for j, c in enumerate(self.cols):
                if (same and j <= i) or r == c:
                    continue
                v = float(self.values[i, j])
                if np.isfinite(v):
                    out.append((v, str(r), str(c)))
        return out

    def summary(self) -> str:
        same = list(self.rows) == list(self.cols)
        where = f"between {len(self.rows)} {self.row_axis}s" if same else (
            f"{len(self.rows)} {self.row_axis}s (rows) × {len(self.cols)} {self.col_axis}s (columns)")
        text = f"{self.metric} ({self.kind}) {where}"
        text += f", n = {self.n_samples} samples." if self.n_samples else "."
        if self.description:
            text += f" {self.description}"
        pairs = self._pairs()
        if pairs:
            pairs.sort()
            closest = pairs[-1] if self.kind == "similarity" else pairs[0]
            farthest = pairs[0] if self.kind == "similarity" else pairs[-1]
            text += (
                f" Closest pair: {closest[1]} / {closest[2]} ({closest[0]:.3g}); "
                f"farthest: {farthest[1]} / {farthest[2]} ({farthest[0]:.3g})."
            )
        rng = self.colour_range()
        scale = f" (colours span {rng[0]:.3g}–{rng[1]:.3g})" if rng is not None else ""
        text += (f" Look for bright blocks{scale}: groups of {self.row_axis}s that represent the data alike; "
                 f"dark cells are where the representation changes.")
        return text

    def plot(self, ax: Any = None, annotate: bool | None = None) -> Any:
        """Matplotlib heatmap (returns the Figure)."""
        text = None
        if (self.sd is not None or self.ci_low is not None) and self.values.size <= 64:
            text = [[self._cell(i, j, 2) for j in range(len(self.cols))] for i in range(len(self.rows))]
        return heatmap(self.values, list(self.rows), list(self.cols), ax=ax, title=self.title,
                       colorbar_label=self._colour_label(), higher_is_closer=self.kind == "similarity",
                       value_range=self.colour_range(), annotate=annotate, cell_text=text,
                       xlabel=self._axis_title(self.col_axis, "columns"),
                       ylabel=self._axis_title(self.row_axis, "rows"))

    def _colour_label(self) -> str:
        closer = "higher" if self.kind == "similarity" else "lower"
        angle = isinstance(self.value_range, tuple | list) and self.value_range[0] == 0 and self.value_range[1] in (
            _HALF_PI, np.pi)
        unit = " (radians)" if angle else ""
        return f"{self.metric}{unit}, {closer} = closer"

    def _axis_title(self, axis: str, which: str) -> str:
        src = self.params.get(f"{which}_source") if isinstance(self.params, dict) else None
        return f"{axis} of {src}" if src else axis

    def plotly(self) -> Any:
        """Interactive plotly heatmap (names escaped; cell values on small matrices)."""
        import plotly.graph_objects as go

        x = [html.escape(str(c)) for c in self.cols]
        y = [html.escape(str(r)) for r in self.rows]
        text = [[self._cell(i, j, 3) for j in range(len(x))] for i in range(len(y))]
        rng = self.colour_range()
        lo, hi = rng if rng is not None else (None, None)
        small = self.values.size <= 256
        fig = go.Figure(
            go.Heatmap(
                z=np.where(np.isfinite(self.values), self.values, None).tolist(),
                x=x, y=y, text=text,
                texttemplate="%{text}" if small else None,
                colorscale="Viridis",
                reversescale=self.kind == "distance",
                zmin=lo, zmax=hi,
                hovertemplate="%{y} vs %{x}: %{text}<extra></extra>",
                colorbar={"title": {"text": html.escape(self._colour_label()), "side": "right"}},
            )
        )
        fig.update_layout(title=html.escape(self.title),
                          yaxis={"autorange": "reversed",
                                 "title": html.escape(self._axis_title(self.row_axis, "rows"))},
                          xaxis={"title": html.escape(self._axis_title(self.col_axis, "columns"))},
                          height=min(380 + 14 * len(self.rows), 900), margin={"t": 60})
        return fig


def _jsonable_value(v: Any) -> bool:
    """True for values ``to_jsonable`` can write (recursively); lens objects such as diagrams are left out."""
    if isinstance(v, dict):
        return all(_jsonable_value(x) for x in v.values())
    if isinstance(v, list | tuple):
        return all(_jsonable_value(x) for x in v)
    return v is None or isinstance(v, int | float | str | bool | np.ndarray | np.generic)
