"""repscope.descramble — optimal descramblers of layer weights (Sule, Spencer & Czaja 2023).

Find an orthogonal ``P`` making the re-mixed preactivations ``P S`` (and weights ``P W``) maximally
smooth along the unit axis. The problem is a Brockett-function minimisation whose closed-form
solution is ``P* = T Uᵀ`` (operator modes × principal components of the preactivations).

Main entry points::

    from repscope.descramble import Descrambler, descrambler, permutation_descramble
    d = Descrambler("first_difference").fit(S)          # S: (n_units, n_samples) or (n, C, H, W)
    d.P_, d.cost_, d.bound_, d.descramble_weights(W)
"""

from repscope.descramble.core import (
    Descrambler,
    DescrambleWarning,
    descramble,
    descramble_weights,
    descrambler,
    preactivations_matrix,
    second_moment,
    second_moment_from_store,
)
from repscope.descramble.entry import (
    DescrambleAnalysis,
    analyse,
    applies,
    descramble_layer,
    load_weights,
    preactivation_layers,
)
from repscope.descramble.operators import (
    OPERATORS,
    SmoothnessOperator,
    brockett_bound,
    brockett_cost,
    circular_difference,
    dct2_basis,
    first_difference,
    high_frequency_fraction,
    make_operator,
    mode_spectrum,
    operator_from_matrix,
    periodic_second_derivative,
    real_dft_basis,
)
from repscope.descramble.permutation import PermutationDescrambler, permutation_descramble
from repscope.descramble.results import DescrambleResult, PermutationResult, ReproductionResult
from repscope.descramble.solvers import (
    OrthogonalSolution,
    brockett_descent,
    minimize_orthogonal,
    random_orthogonal,
)

__all__ = [
    "analyse",
    "applies",
    "DescrambleAnalysis",
    "descramble_layer",
    "load_weights",
    "preactivation_layers",
    "OPERATORS",
    "DescrambleResult",
    "DescrambleWarning",
    "Descrambler",
    "OrthogonalSolution",
    "PermutationDescrambler",
    "PermutationResult",
    "ReproductionResult",
    "SmoothnessOperator",
    "brockett_bound",
    "brockett_cost",
    "brockett_descent",
    "circular_difference",
    "dct2_basis",
    "descramble",
    "descramble_weights",
    "descrambler",
    "first_difference",
    "high_frequency_fraction",
    "make_operator",
    "minimize_orthogonal",
    "mode_spectrum",
    "operator_from_matrix",
    "periodic_second_derivative",
    "permutation_descramble",
    "preactivations_matrix",
    "random_orthogonal",
    "real_dft_basis",
    "second_moment",
    "second_moment_from_store",
]
