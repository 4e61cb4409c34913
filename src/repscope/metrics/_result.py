"""``LayerMatrix``: the name the metrics lens gives :class:`repscope.results.MatrixResult`."""

from __future__ import annotations

from repscope.results import MatrixResult

__all__ = ["LayerMatrix"]

#: Layer × layer matrix of one measure (same class as every lens's matrix result).
LayerMatrix = MatrixResult
