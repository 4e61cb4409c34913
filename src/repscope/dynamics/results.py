"""Result objects of the dynamics lens (see :mod:`repscope.results` for the protocol)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from repscope.results import MatrixResult, ResultBase, to_jsonable

__all__ = ["DistanceMatrixResult", "DSAResult", "TableResult", "DISTANCE_RANGES"]

#: The value range of each distance the dynamics lens reports (DSA scores, the geometry baselines), for the
#: heatmaps' colour scales; every distance is ≥ 0 (``None``: unbounded above, the data's maximum is used).
DISTANCE_RANGES: dict[str, tuple[float, float | None]] = {
    "angular": (0.0, float(np.pi)),  # DSA: arccos of a normalised inner product of two operators
    "euclidean": (0.0, None),
    "wasserstein": (0.0, None),
    "procrustes": (0.0, float(np.pi / 2)),  # Procrustes angle
    "cka": (0.0, 1.0),  # 1 − linear CKA
}


class DistanceMatrixResult(MatrixResult):
    """A (possibly rectangular) matrix of distances between systems, e.g. from :func:`dsa_matrix`.

    A :class:`~repscope.results.MatrixResult` (``kind="distance"``): ``distances``/``names``/``names_other``
    are the dynamics lens's names for ``values``/``rows``/``cols``. ``grad_norm`` / ``n_agree`` (in
    ``extra``) hold the per-pair optimisation certificate for the angular/euclidean scores; ``converged``
    (bool matrix) is False where the optimum is not certified (that distance is an upper bound).
    """

    def __init__(self, distances: np.ndarray, names: list[str], names_other: list[str], metric: str,
                 groups: list[str] | None = None, grad_norm: np.ndarray | None = None,
                 n_agree: np.ndarray | None = None, params: dict[str, Any] | None = None,
                 seconds: float = float("nan"), label: str = "",
                 value_range: tuple[float, float | None] = (0.0, None), converged: np.ndarray | None = None) -> None:
        super().__init__(values=np.asarray(distances), rows=list(names), cols=list(names_other), metric=metric,
                         kind="distance", value_range=value_range, params=dict(params or {}), seconds=seconds,
                         extra={"groups": groups, "grad_norm": grad_norm, "n_agree": n_agree,
                                "converged": converged},
                         label=label, row_axis="system", col_axis="system")

    distances = property(lambda self: self.values)
    names = property(lambda self: list(self.rows))
    names_other = property(lambda self: list(self.cols))
    groups = property(lambda self: self.extra.get("groups"))
    grad_norm = property(lambda self: self.extra.get("grad_norm"))
    n_agree = property(lambda self: self.extra.get("n_agree"))
    converged = property(lambda self: self.extra.get("converged"))

    @property
    def title(self) -> str:
        return f"Distance matrix — {self.label or self.metric}"

    @property
    def symmetric(self) -> bool:
        return self.names == self.names_other

    def _legacy(self) -> dict[str, Any]:
        return {"label": self.label, "names": self.names, "names_other": self.names_other, "groups": self.groups,
                "distances": self.values, "grad_norm": self.grad_norm, "n_agree": self.n_agree,
                "converged": self.converged}

    def summary(self) -> str:
        D = self.distances
        vals = D[np.triu_indices_from(D, 1)] if self.symmetric else D.ravel()
        text = (
            f"{self.metric}: {D.shape[0]}×{D.shape[1]} distances, median {np.median(vals):.4g}, "
            f"range {vals.min():.4g}–{vals.max():.4g}"
        )
        if self.grad_norm is not None and np.isfinite(self.grad_norm).any():
            text += f"; worst final gradient norm {np.nanmax(self.grad_norm):.2g}"
        if self.converged is not None and not np.all(self.converged):
            cv = np.asarray(self.converged)
            n_bad = int(np.sum(~cv[np.triu_indices_from(cv, 1)] if self.symmetric else ~cv))
            text += f"; {n_bad} {'pairs' if self.symmetric else 'entries'} NOT certified (upper bounds)"
        if self.seconds is not None and np.isfinite(self.seconds):
            text += f"; {self.seconds:.2f} s"
        text += ". Look for bright blocks (small distances) along the diagonal: systems of one type that the "
        text += "measure groups together"
        return text + "."

    def _cell(self, i: int, j: int, digits: int = 4) -> str:
        return f"{self.values[i, j]:.{digits}f}"


@dataclass
class DSAResult(ResultBase):
    """DSA between two systems: the distance, both DMD fits and the optimisation certificate."""

    distance: float
    score: str
    dmd_x: Any
    dmd_y: Any
    info: Any = None  # SimilarityInfo for angular/euclidean

    title = "Dynamical similarity analysis"

    def to_dict(self) -> dict:
        d = {
            "distance": self.distance,
            "score": self.score,
            "dmd_x": self.dmd_x.to_dict(),
            "dmd_y": self.dmd_y.to_dict(),
        }
        if self.info is not None:
            d["certificate"] = self.info.to_dict()
        return to_jsonable(d)

    def summary(self) -> str:
        text = f"DSA ({self.score}) = {self.distance:.6g} at rank {self.dmd_x.rank_}/{self.dmd_y.rank_}"
        if self.info is not None:
            i = self.info
            text += (f"; {i.n_agree}/{i.n_random} random starts reach the optimum, gradient "
                     f"norm {i.grad_norm:.2g}" + ("" if i.converged else ", NOT certified (an upper bound)"))
        return text + "."

    def plot(self, ax: Any = None):
        from repscope.dynamics.dmd import unit_circle_axes

        fig, ax = unit_circle_axes(ax, (4.2, 4))
        for dmd, lab, mk in ((self.dmd_x, "X", "o"), (self.dmd_y, "Y", "x")):
            ax.scatter(dmd.eigenvalues_.real, dmd.eigenvalues_.imag, marker=mk, label=lab, s=22)
        ax.set_aspect("equal")
        ax.legend()
        ax.set_title(f"DMD eigenvalues; DSA {self.score} = {self.distance:.3g}")
        fig.tight_layout()
        return fig


@dataclass
class TableResult(ResultBase):
    """A plain table (header + rows) with an optional note, e.g. the dynamics benchmark."""

    header: list[str]
    rows: list[list[Any]]
    name: str = "Dynamics benchmark"
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return self.name

    def to_dict(self) -> dict:
        return to_jsonable(
            {
                "title": self.name,
                "header": self.header,
                "rows": self.rows,
                "note": self.note,
                "extra": self.extra,
            }
        )

    def table(self) -> tuple[list[str], list[list[Any]]]:
        return self.header, [[_fmt(v) for v in r] for r in self.rows]

    #: the report shows the table once, as a table (the PNG of ``plot()`` is for the CLI's ``--out``)
    figure_in_report = False

    def summary(self) -> str:
        return self.note

    def plot(self, ax: Any = None):
        from repscope.results import subplots_in

        fig, ax = subplots_in(ax,
            figsize=(min(2 + 1.2 * len(self.header), 14), 0.6 + 0.3 * (len(self.rows) + 1))
        )
        ax.axis("off")
        tab = ax.table(
            cellText=[[_fmt(v) for v in r] for r in self.rows], colLabels=self.header, loc="center"
        )
        tab.auto_set_font_size(False)
        tab.set_fontsize(7)
        ax.set_title(self.name)
        fig.tight_layout()
        return fig


def _fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return "—" if not np.isfinite(v) else f"{v:.3g}"
    return str(v)
