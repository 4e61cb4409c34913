"""The :class:`LayerMatrix` result object (follows the protocol of :mod:`repscope._result`)."""

from __future__ import annotations

import csv
import pathlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from repscope._result import to_jsonable

__all__ = ["LayerMatrix"]


@dataclass
class LayerMatrix:
    """Values of one measure for every pair (row layer, column layer).

    ``values[i, j]`` = measure(rows[i], cols[j]); ``kind`` says whether higher means closer
    ("similarity") or farther ("distance").
    """

    values: np.ndarray
    rows: list[str]
    cols: list[str]
    metric: str
    kind: str
    n_samples: int
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None

    @property
    def title(self) -> str:
        return f"Layer similarity — {self.metric}"

    @property
    def symmetric(self) -> bool:
        return self.rows == self.cols and np.allclose(self.values, self.values.T, equal_nan=True)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(
            {
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
        )

    def to_csv(self, path: str | pathlib.Path) -> pathlib.Path:
        path = pathlib.Path(path)
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow([self.metric, *self.cols])
            for name, row in zip(self.rows, self.values):
                w.writerow([name, *[repr(float(v)) for v in row]])
        return path

    def table(self) -> tuple[list[str], list[list[str]]]:
        header = ["", *self.cols]
        rows = [[r, *[f"{v:.3f}" for v in row]] for r, row in zip(self.rows, self.values)]
        return header, rows

    def _pairs(self) -> list[tuple[float, str, str]]:
        out = []
        for i, r in enumerate(self.rows):
            for j, c in enumerate(self.cols):
                if r == c or (self.rows == self.cols and j < i):
                    continue
                v = float(self.values[i, j])
                if np.isfinite(v):
                    out.append((v, r, c))
        return out

    def summary(self) -> str:
        where = (
            "within one set of activations" if self.rows == self.cols else "between two sets of activations"
        )
        text = (
            f"{self.metric} ({self.kind}) for {len(self.rows)}×{len(self.cols)} layers {where}, "
            f"n = {self.n_samples} samples. {self.description}"
        )
        pairs = self._pairs()
        if pairs:
            pairs.sort()
            closest = pairs[-1] if self.kind == "similarity" else pairs[0]
            farthest = pairs[0] if self.kind == "similarity" else pairs[-1]
            text += (
                f" Closest pair: {closest[1]} / {closest[2]} ({closest[0]:.3f}); "
                f"farthest: {farthest[1]} / {farthest[2]} ({farthest[0]:.3f})."
            )
        return text

    def plot(self, ax: Any = None, annotate: bool | None = None) -> Any:
        """Matplotlib heatmap (returns the Figure)."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        if ax is None:
            size = max(3.5, 0.55 * max(len(self.cols), len(self.rows)) + 2.0)
            fig, ax = plt.subplots(figsize=(size + 1.0, size))
        else:
            fig = ax.figure
        cmap = "viridis" if self.kind == "similarity" else "viridis_r"
        im = ax.imshow(self.values, cmap=cmap, aspect="auto")
        ax.set_xticks(range(len(self.cols)), self.cols, rotation=45, ha="right")
        ax.set_yticks(range(len(self.rows)), self.rows)
        ax.set_title(f"{self.metric} ({'higher' if self.kind == 'similarity' else 'lower'} = closer)")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        if annotate is None:
            annotate = self.values.size <= 256
        if annotate:
            finite = self.values[np.isfinite(self.values)]
            mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
            for i in range(self.values.shape[0]):
                for j in range(self.values.shape[1]):
                    v = self.values[i, j]
                    good = (v > mid) == (self.kind == "similarity")
                    ax.text(
                        j,
                        i,
                        f"{v:.2f}",
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="black" if good else "white",
                    )
        fig.tight_layout()
        return fig

    def plotly(self) -> Any:
        """Interactive plotly heatmap."""
        import plotly.graph_objects as go

        fig = go.Figure(
            go.Heatmap(
                z=self.values.tolist(),
                x=list(self.cols),
                y=list(self.rows),
                colorscale="Viridis",
                reversescale=self.kind == "distance",
                hovertemplate="%{y} vs %{x}: %{z:.4f}<extra></extra>",
                colorbar={"title": self.metric},
            )
        )
        fig.update_layout(title=self.title, yaxis={"autorange": "reversed"}, height=420 + 12 * len(self.rows))
        return fig
