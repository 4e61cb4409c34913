"""Registers repscope's own measures (imported lazily by :mod:`repscope.metrics.registry`)."""

from __future__ import annotations

import functools
import math

import numpy as np

from repscope.metrics import cka, shape
from repscope.metrics.registry import register

#: Value ranges (see :func:`repscope.metrics.registry.register`); each is checked on random data by
#: tests/metrics/test_measure_ranges.py.
_UNIT = (0.0, 1.0)
_SIGNED = (-1.0, 1.0)  # correlations, and estimators that can go below 0 (debiased HSIC, CKNNA)
_UNBOUNDED = (0.0, None)
_HALF_PI = math.pi / 2


def _angular_unless_euclidean(options: dict) -> tuple[float, float | None]:
    """Shape metrics: an angle in [0, π/2] (``score_method="angular"``, default), else a length ≥ 0."""
    return (0.0, _HALF_PI) if options.get("score_method", "angular") == "angular" else _UNBOUNDED


def _unit_unless_pillai_range(options: dict) -> tuple[float, float | None]:
    """CCA family: in [0, 1] for every summary but Pillai's trace (Σρ², up to the rank)."""
    return _UNBOUNDED if options.get("summary", "mean") == "pillai" else _UNIT


def _unit_unless_pillai(options: dict) -> float | None:
    """CCA-family value between a representation and itself: 1 for every summary but Pillai's trace
    (Σρ² = the rank)."""
    return None if options.get("summary", "mean") == "pillai" else 1.0


register(
    "linear_cka",
    cka.linear_cka,
    kind="similarity",
    value_range=_UNIT,
    description="Linear CKA: how alike two representations are up to rotation and isotropic scaling "
    "(‖YᵀX‖²_F / (‖XᵀX‖_F‖YᵀY‖_F), Kornblith et al. 2019); 1 = same geometry.",
    prepare=cka.linear_cka_prepare,
    compare=cka.linear_cka_compare,
    from_blocks=cka.linear_cka_from_cov,
    from_grams=cka.linear_cka_from_grams,
    identity=1.0,
    symmetric=True,
)
register(
    "debiased_cka",
    cka.debiased_cka,
    kind="similarity",
    value_range=_SIGNED,
    description="Debiased linear CKA with the unbiased HSIC estimator (Song et al. 2012; Nguyen et al. "
    "2021): ≈ 0 for unrelated representations even with few samples.",
    prepare=functools.partial(cka.linear_cka_prepare, debiased=True),
    compare=cka.linear_cka_compare,
    from_blocks=cka.debiased_cka_from_cov,
    from_grams=cka.debiased_cka_from_grams,
    identity=1.0,
    symmetric=True,
)
register(
    "rbf_cka",
    cka.rbf_cka,
    kind="similarity",
    value_range=_UNIT,
    description="RBF-kernel CKA (Kornblith et al. 2019), bandwidth σ × median pairwise distance: compares "
    "local neighbourhood structure rather than global linear geometry.",
    prepare=cka.rbf_cka_prepare,
    compare=cka.rbf_cka_compare,
    symmetric=True,
)
register(
    "procrustes",
    shape.procrustes,
    kind="distance",
    value_range=_angular_unless_euclidean,
    description="Procrustes angular shape distance arccos(‖XᵀY‖_*/(‖X‖_F‖Y‖_F)) in radians (Williams et "
    "al. 2021): the angle left after the best rotation; 0 = identical up to rotation and scale.",
    from_blocks=shape.procrustes_from_blocks,
    from_grams=shape.procrustes_from_grams,
    from_blocks_batch=shape.procrustes_from_blocks_batch,
    identity=0.0,
    symmetric=True,
)
register(
    "shape_metric",
    shape.shape_distance,
    kind="distance",
    value_range=_angular_unless_euclidean,
    description="Generalised shape metric with partial whitening α (Williams et al. 2021, netrep "
    "LinearMetric); α=1 Procrustes, α→0 CCA-like.",
    from_blocks=shape.shape_distance_from_cov,
    from_grams=shape.shape_distance_from_grams,
    from_blocks_batch=shape.shape_distance_from_blocks_batch,
    identity=0.0,
    symmetric=True,
)
register(
    "cca",
    shape.cca,
    kind="similarity",
    value_range=_unit_unless_pillai_range,
    description="Mean canonical correlation (Hotelling 1936): shared linear subspace, invariant to any "
    "invertible linear map of either representation.",
    from_blocks=shape.cca_from_cov,
    from_grams=shape.cca_from_grams,
    from_blocks_batch=shape.cca_from_blocks_batch,
    identity=_unit_unless_pillai,
    symmetric=True,
)
register(
    "svcca",
    shape.svcca,
    kind="similarity",
    value_range=_unit_unless_pillai_range,
    description="SVCCA (Raghu et al. 2017): mean canonical correlation after keeping the principal "
    "components explaining 99% of each representation's variance.",
    from_blocks=shape.svcca_from_cov,
    from_grams=shape.svcca_from_grams,
    from_blocks_batch=shape.svcca_from_blocks_batch,
    identity=_unit_unless_pillai,
    # per-side component counts (n_components=(kx, ky)) make svcca(X, Y) ≠ svcca(Y, X)
    symmetric=lambda kw: kw.get("n_components") is None or bool(np.isscalar(kw["n_components"])),
)
register(
    "pwcca",
    shape.pwcca,
    kind="similarity",
    value_range=_UNIT,
    description="PWCCA (Morcos et al. 2018): canonical correlations weighted by how much of the "
    "representation each canonical variate accounts for.",
    from_blocks=shape.pwcca_from_cov,
    from_grams=shape.pwcca_from_grams,
    from_blocks_batch=shape.pwcca_from_blocks_batch,
    identity=1.0,
)

from repscope.metrics import neighbors, regression  # noqa: E402
from repscope.metrics._rsa import rsa, rsa_compare, rsa_prepare  # noqa: E402

register(
    "rsa",
    rsa,
    kind="similarity",
    value_range=_SIGNED,
    description="RSA (Kriegeskorte et al. 2008): Spearman correlation between the two representational "
    "dissimilarity matrices (1 − Pearson between samples) — do both place the same samples far apart?",
    prepare=rsa_prepare,
    compare=rsa_compare,
    symmetric=True,
)
register(
    "mutual_knn",
    neighbors.mutual_knn,
    kind="similarity",
    value_range=_UNIT,
    description="Mutual k-NN alignment (Huh et al. 2024): average fraction of each sample's k=10 nearest "
    "neighbours (cosine) shared by both representations — local neighbourhood agreement.",
    prepare=neighbors.knn_prepare,
    compare=neighbors.knn_compare,
    symmetric=True,
)
register(
    "jaccard_knn",
    neighbors.jaccard_knn,
    kind="similarity",
    value_range=_UNIT,
    description="Neighbourhood Jaccard: average |∩|/|∪| of the k nearest-neighbour sets in both "
    "representations.",
    prepare=neighbors.knn_prepare,
    compare=neighbors.knn_compare_jaccard,
    symmetric=True,
)
register(
    "linear_regression",
    regression.linear_regression,
    kind="similarity",
    value_range=_UNIT,
    description="Linear predictivity: in-sample R² of the least-squares map from one representation to the "
    "other, averaged over both directions.",
    from_blocks=regression.regression_r2_from_cov,
    from_grams=regression.regression_r2_from_grams,
    symmetric=lambda kw: kw.get("direction", "mean") == "mean",
)

# --- platonic-rep relatives of mutual k-NN (Huh et al. 2024) -----------------------------------------
register(
    "cycle_knn",
    neighbors.cycle_knn,
    kind="similarity",
    value_range=_UNIT,
    description="Cycle k-NN (Huh et al. 2024): fraction of samples reached again by a k-NN step in the "
    "second representation followed by one in the first — do neighbourhoods close the loop?",
    prepare=neighbors.knn_prepare,
    compare=neighbors.knn_cycle_compare,
)
register(
    "cknna",
    neighbors.cknna,
    kind="similarity",
    value_range=_SIGNED,
    description="CKNNA (Huh et al. 2024): unbiased CKA restricted to mutual k-nearest-neighbour pairs — "
    "kernel alignment of local neighbourhoods (k=10), O(n·k) memory.",
    prepare=neighbors.cknna_prepare,
    compare=neighbors.cknna_compare,
)

# --- netrep: permutation and stochastic shape metrics (Williams et al. 2021; Duong et al. 2023) -------
from repscope.metrics import permutation, stochastic  # noqa: E402

register(
    "permutation",
    permutation.permutation_distance,
    kind="distance",
    value_range=_angular_unless_euclidean,
    description="Permutation shape distance (Williams et al. 2021, netrep PermutationMetric): angle left "
    "after the best relabelling of units (linear assignment) — for when single units are meaningful.",
)
register(
    "gaussian_shape",
    stochastic.gaussian_shape_distance,
    kind="distance",
    value_range=_UNBOUNDED,
    description="Gaussian stochastic shape distance (Duong et al. 2023): 2-Wasserstein distance between "
    "condition-wise Gaussians of noisy responses (n_conditions, n_repeats, d) after one shared rotation, "
    "in the data's units (2-D input = a deterministic network).",
)
register(
    "energy_shape",
    stochastic.energy_shape_distance,
    kind="distance",
    value_range=_UNBOUNDED,
    description="Energy stochastic shape distance (Duong et al. 2023): distribution-free energy distance "
    "between noisy responses (n_conditions, n_repeats, d) after one shared rotation (scales as √ of the "
    "data's units; 2-D input = a deterministic network).",
)
