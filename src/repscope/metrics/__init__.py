"""repscope.metrics — representational similarity measures and layer-by-layer similarity matrices.

::

    import repscope as rs
    rs.metrics.available()                      # registered measure names
    rs.metrics.linear_cka(X, Y)                 # X: (n, p), Y: (n, q) — same samples, same order
    rs.metrics.similarity(X, Y, metric="procrustes")

Each measure is registered with its direction (``registry.get(name).kind``: "similarity" or
"distance"). Other lenses add measures through :mod:`repscope.metrics.registry`.
"""

from __future__ import annotations

from typing import Any

from repscope.metrics import registry
from repscope.metrics._result import LayerMatrix
from repscope.metrics.cka import MinibatchCKA, debiased_cka, linear_cka, minibatch_cka, rbf_cka
from repscope.metrics.layer_matrix import layer_matrices, layer_matrix
from repscope.metrics.neighbors import jaccard_knn, mutual_knn
from repscope.metrics.registry import available, describe, get, register
from repscope.metrics.regression import linear_regression
from repscope.metrics.rsa import rdm, rsa
from repscope.metrics.shape import (
    ShapeMetric,
    canonical_correlations,
    cca,
    procrustes,
    pwcca,
    shape_distance,
    svcca,
)

__all__ = [
    "registry",
    "available",
    "describe",
    "get",
    "register",
    "similarity",
    "linear_cka",
    "debiased_cka",
    "rbf_cka",
    "MinibatchCKA",
    "minibatch_cka",
    "procrustes",
    "shape_distance",
    "ShapeMetric",
    "cca",
    "canonical_correlations",
    "svcca",
    "pwcca",
    "rsa",
    "rdm",
    "mutual_knn",
    "jaccard_knn",
    "linear_regression",
    "layer_matrix",
    "layer_matrices",
    "LayerMatrix",
]


def similarity(X: Any, Y: Any, metric: str = "linear_cka", **kw: Any) -> float:
    """Value of the registered measure ``metric`` between X (n, p) and Y (n, q).

    Keyword arguments go to the measure (e.g. ``sigma=`` for ``rbf_cka``). Whether higher means closer
    is ``get(metric).kind``.
    """
    return float(get(metric).func(X, Y, **kw))
