"""repscope.dynamics — Dynamical Similarity Analysis (Ostrow et al. 2023; Guilhot et al. 2024).

Compare the temporal *dynamics* of systems (RNNs, SSMs, dynamical systems) rather than the geometry of
their states: delay embedding → HAVOK DMD → distance between the linear operators up to an orthogonal
change of basis (converged, batched Riemannian Newton solver with a certificate) or between their spectra.

Public API: :func:`delay_embed`, :func:`fit_dmd` (:class:`DMDResult`), :func:`similarity_transform_distance`
(:class:`SimilarityInfo`), :func:`eig_wasserstein`, :func:`dsa`, :func:`dsa_matrix` (hyper-parameters in one
validated :class:`DSAConfig`, shared by DSA, InputDSA, the sweep and the lens)
(:class:`DistanceMatrixResult`); ResDMD residuals on every DMD fit (:meth:`DMDResult.residuals`); the
``(n_delays, rank)`` sweep by held-out prediction (:func:`sweep_dmd` → :class:`DMDSweepResult`); InputDSA for
input-driven systems (:func:`fit_dmdc`, :func:`fit_subspace_dmdc`, :func:`input_dsa`,
:func:`input_dsa_matrix`). Test cases live in :mod:`repscope.experiments.dynamics.testcases`.
"""

from repscope.dynamics._dsa import DSA, dsa, dsa_matrix, fit_systems
from repscope.dynamics.config import DSAConfig
from repscope.dynamics.dmd import DMDResult, ResDMDResult, fit_dmd, select_rank
from repscope.dynamics.embedding import as_trials, delay_embed
from repscope.dynamics.entry import DynamicsAnalysis, analyse, applies, sequence_layers
from repscope.dynamics.inputdsa import (
    DMDcResult,
    InputDSAMatrix,
    InputDSAResult,
    fit_dmdc,
    fit_subspace_dmdc,
    input_dsa,
    input_dsa_matrix,
)
from repscope.dynamics.results import DistanceMatrixResult, DSAResult, TableResult
from repscope.dynamics.simdist import (
    SimilarityInfo,
    eig_wasserstein,
    similarity_transform_distance,
    similarity_transform_distances,
)
from repscope.dynamics.sweep import DMDSweepResult, sweep_dmd
from repscope.dynamics.trajectories import (
    TrajectoryComparison,
    compare_input_driven,
    compare_trajectories,
    load_trajectories,
)

__all__ = [
    "analyse",
    "applies",
    "DynamicsAnalysis",
    "sequence_layers",
    "DMDResult",
    "DSA",
    "DSAConfig",
    "DMDSweepResult",
    "DMDcResult",
    "InputDSAMatrix",
    "InputDSAResult",
    "ResDMDResult",
    "fit_dmdc",
    "fit_subspace_dmdc",
    "input_dsa",
    "input_dsa_matrix",
    "sweep_dmd",
    "TrajectoryComparison",
    "compare_input_driven",
    "compare_trajectories",
    "load_trajectories",
    "DSAResult",
    "DistanceMatrixResult",
    "SimilarityInfo",
    "TableResult",
    "as_trials",
    "delay_embed",
    "dsa",
    "dsa_matrix",
    "eig_wasserstein",
    "fit_dmd",
    "fit_systems",
    "select_rank",
    "similarity_transform_distance",
    "similarity_transform_distances",
]
