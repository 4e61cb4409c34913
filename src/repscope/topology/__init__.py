"""repscope.topology — persistent homology and mapper graphs of layer activations.

Point clouds (:mod:`.clouds`), Vietoris–Rips persistence (:func:`persistence` → :class:`Diagrams`),
diagram distances (:func:`diagram_distance`), PH layer-distance matrices and their comparison with
similarity matrices (:mod:`.layers`), diagram summaries per layer — persistence landscapes, persistence
entropy, Betti curves (:mod:`.summaries`) — and mapper graphs (:func:`mapper` → :class:`MapperGraph`).
Method: Purvine et al. (2022), "Experimental observations of the topology of convolutional neural network
activations", arXiv 2212.00222. The similarity-registry entries (``ph_sliced_wasserstein``, …) live in
:mod:`repscope.topology.measures`.
"""

from repscope.topology._mapper import MapperGraph, MapperTrend, knn_elbow_eps, mapper, mapper_trend
from repscope.topology._persistence import Diagrams, persistence
from repscope.topology.clouds import (
    CLOUD_KINDS,
    Landmarks,
    farthest_point_sample,
    flatten_project,
    global_avg_pool,
    normalize_scale,
    point_cloud,
    random_position,
    remove_duplicates,
    store_cloud,
    top_l2,
)
from repscope.topology.distances import (
    DIAGRAM_METRICS,
    bottleneck,
    diagram_distance,
    persistence_image,
    persistence_image_distance,
    sliced_wasserstein,
    wasserstein,
)
from repscope.topology.entry import TopologyAnalysis, analyse, applies, load_tooltips
from repscope.topology.layers import (
    MatrixComparison,
    MatrixCorrelation,
    PCRemovalSensitivity,
    PHLayerMatrix,
    compare_matrices,
    matrix_correlation,
    pc_removal_sensitivity,
    ph_layer_matrix,
    remove_principal_components,
)
from repscope.topology.summaries import (
    BettiCurve,
    LayerSummaries,
    PersistenceLandscape,
    betti_curve,
    landscape_distance,
    layer_summaries,
    persistence_entropy,
    persistence_landscape,
)

__all__ = [
    "BettiCurve",
    "LayerSummaries",
    "PersistenceLandscape",
    "betti_curve",
    "landscape_distance",
    "layer_summaries",
    "persistence_entropy",
    "persistence_landscape",
    "analyse",
    "applies",
    "load_tooltips",
    "TopologyAnalysis",
    "CLOUD_KINDS",
    "DIAGRAM_METRICS",
    "Diagrams",
    "Landmarks",
    "MapperGraph",
    "MapperTrend",
    "MatrixComparison",
    "MatrixCorrelation",
    "compare_matrices",
    "PCRemovalSensitivity",
    "PHLayerMatrix",
    "bottleneck",
    "diagram_distance",
    "farthest_point_sample",
    "flatten_project",
    "global_avg_pool",
    "knn_elbow_eps",
    "mapper",
    "mapper_trend",
    "matrix_correlation",
    "normalize_scale",
    "pc_removal_sensitivity",
    "persistence",
    "persistence_image",
    "persistence_image_distance",
    "ph_layer_matrix",
    "point_cloud",
    "random_position",
    "remove_duplicates",
    "remove_principal_components",
    "sliced_wasserstein",
    "store_cloud",
    "top_l2",
    "wasserstein",
]
