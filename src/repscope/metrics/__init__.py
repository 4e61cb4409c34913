"""repscope.metrics — representational similarity measures and layer-by-layer similarity matrices.

::

    import repscope as rs
    rs.metrics.available()                      # registered measure names
    rs.metrics.linear_cka(X, Y)                 # X: (n, p), Y: (n, q) — same samples, same order
    rs.metrics.similarity(X, Y, metric="procrustes")
    rs.metrics.estimate(X, Y, metric="rbf_cka", budget=1e8)  # exact if n² fits, else estimate ± interval

Each measure is registered with its direction (``registry.get(name).kind``: "similarity" or
"distance"). Other lenses add measures through :mod:`repscope.metrics.registry`.
"""

from __future__ import annotations

from typing import Any

from numpy.typing import ArrayLike

from repscope.metrics import registry
from repscope.metrics._layer_matrix import layer_matrices, layer_matrix
from repscope.metrics._rdm import (
    RDM,
    NoiseCeiling,
    RSABootstrap,
    crossnobis_rdm,
    model_rdm,
    noise_ceiling,
    rdm_of,
    rsa_bootstrap,
)
from repscope.metrics._result import LayerMatrix
from repscope.metrics._rsa import binary_rdm_ceiling, categorical_ceiling, rdm, rsa
from repscope.metrics.cka import MinibatchCKA, debiased_cka, linear_cka, minibatch_cka, rbf_cka
from repscope.metrics.embedding import FrechetMean, NetworkEmbedding, classical_mds, frechet_mean, network_embedding
from repscope.metrics.entry import LabelRSA, MetricsAnalysis, analyse, applies, label_rsa
from repscope.metrics.estimators import Estimate, estimate
from repscope.metrics.neighbors import cknna, cycle_knn, jaccard_knn, mutual_knn
from repscope.metrics.permutation import permutation_distance
from repscope.metrics.registry import available, describe, get, register
from repscope.metrics.regression import linear_regression
from repscope.metrics.shape import (
    ShapeMetric,
    canonical_correlations,
    cca,
    procrustes,
    pwcca,
    shape_distance,
    svcca,
)
from repscope.metrics.stochastic import energy_shape_distance, gaussian_shape_distance, stochastic_fit
from repscope.metrics.stored import LayerRSA, layer_rsa, read_layers

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
    "categorical_ceiling",
    "binary_rdm_ceiling",
    "rdm",
    "mutual_knn",
    "jaccard_knn",
    "linear_regression",
    "layer_matrix",
    "layer_matrices",
    "LayerMatrix",
    # the peers' measures (netrep, rsatoolbox, …)
    "permutation_distance",
    "gaussian_shape_distance",
    "energy_shape_distance",
    "stochastic_fit",
    "network_embedding",
    "NetworkEmbedding",
    "classical_mds",
    "frechet_mean",
    "FrechetMean",
    "RDM",
    "rdm_of",
    "model_rdm",
    "rsa_bootstrap",
    "RSABootstrap",
    "noise_ceiling",
    "NoiseCeiling",
    "crossnobis_rdm",
    "cknna",
    "cycle_knn",
    "analyse",
    "applies",
    "MetricsAnalysis",
    "LabelRSA",
    "label_rsa",
    "LayerRSA",
    "layer_rsa",
    "read_layers",
    # large-n estimates with intervals
    "estimate",
    "Estimate",
]


def similarity(X: ArrayLike, Y: ArrayLike, metric: str = "linear_cka", **kw: Any) -> float:
    """Value of the registered measure ``metric`` between X (n, p) and Y (n, q).

    Keyword arguments go to the measure (e.g. ``sigma=`` for ``rbf_cka``). Whether higher means closer
    is ``get(metric).kind``.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import similarity
    >>> X = np.random.default_rng(0).normal(size=(50, 8))
    >>> round(similarity(X, 2 * X, metric="linear_cka"), 6)
    1.0
    >>> round(similarity(X, X, metric="procrustes"), 6)
    0.0
    """
    return float(get(metric).func(X, Y, **kw))
