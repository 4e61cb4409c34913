"""Permutation-constrained descrambling: reorder units (neurons / CNN channels) only.

Restricting ``P`` to permutation matrices turns ``min tr(Pᵀ N P A)`` into a quadratic assignment
problem (Sule et al. 2023, CNN case). ``scipy.optimize.quadratic_assignment`` minimises
``tr(Aᵀ P B Pᵀ)``; with ``A := N`` and ``B := A`` (both symmetric) that is our cost. We run FAQ (Vogelstein
et al. 2015) from several seeded starts — the barycentre, the identity, the rounding of the orthogonal
optimum ``P*`` to the nearest permutation, and random doubly-stochastic starts — and keep the best.
Since permutations are orthogonal, the result is never below the Brockett bound ``Σ λ↓ μ↑``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment, quadratic_assignment

from repscope.descramble.core import (
    Descrambler,
    preactivations_matrix,
    second_moment,
    second_moment_from_store,
)
from repscope.descramble.operators import _square_matrix, make_operator
from repscope.descramble.results import PermutationResult
from repscope.errors import InputError

__all__ = ["PermutationDescrambler", "permutation_descramble"]


class PermutationDescrambler:
    """Best reordering of units under a smoothness operator (QAP via FAQ with seeded restarts).

    Fitted attributes: ``perm_`` (new position i holds original unit ``perm_[i]``; reorder with
    ``S[perm_]`` or ``W[perm_]``), ``P_`` (the permutation matrix, ``P_ @ S == S[perm_]``), ``cost_``,
    ``cost_identity_``, ``bound_`` (orthogonal optimum), ``restart_costs_``, ``moment_``.
    """

    def __init__(
        self,
        operator: Any = "first_difference",
        *,
        n_init: int = 8,
        seed: int = 0,
        center: bool = False,
        layout: str = "units_first",
        refine: bool = True,
        maxiter: int = 60,
    ) -> None:
        self.operator = operator
        self.n_init = n_init
        self.seed = seed
        self.center = center
        self.layout = layout
        self.refine = refine
        self.maxiter = maxiter

    def fit(self, S: Any, y: Any = None) -> PermutationDescrambler:
        A, n, _ = second_moment(preactivations_matrix(S, self.layout), self.center)
        return self.fit_moment(A, n)

    def fit_store(self, store: Any, layer: str, *, block_rows: int = 2048, progress: bool = False):
        A, n, _ = second_moment_from_store(store, layer, block_rows=block_rows, center=self.center,
                                           progress=progress)
        return self.fit_moment(A, n)

    def fit_moment(self, A: Any, n_samples: int) -> PermutationDescrambler:
        A = _square_matrix(A, "A (second-moment matrix)")
        A = 0.5 * (A + A.T)
        n = A.shape[0]
        if self.n_init < 0:
            raise InputError(f"n_init must be ≥ 0, got {self.n_init}")
        op = make_operator(self.operator, n)
        N = op.N
        ortho = Descrambler(op).fit_moment(A, max(int(n_samples), n))

        def cost_of(perm: np.ndarray) -> float:
            return float(np.sum(N * A[np.ix_(perm, perm)]))

        # starts: barycentre, identity, rounded orthogonal optimum, random
        _, rounded = linear_sum_assignment(-(ortho.P_**2))
        starts: list[Any] = ["barycenter", np.eye(n), np.eye(n)[rounded]]
        starts += ["randomized"] * self.n_init
        costs, best = [], None
        for i, P0 in enumerate(starts):
            opts = {"P0": P0, "maxiter": self.maxiter, "rng": np.random.default_rng([self.seed, i])}
            res = quadratic_assignment(N, A, method="faq", options=opts)
            perm = np.asarray(res.col_ind)
            if self.refine:
                res2 = quadratic_assignment(N, A, method="2opt",
                                            options={"partial_guess": np.c_[np.arange(n), perm],
                                                     "rng": np.random.default_rng([self.seed, i, 1])})
                if cost_of(np.asarray(res2.col_ind)) < cost_of(perm):
                    perm = np.asarray(res2.col_ind)
            c = cost_of(perm)
            costs.append(c)
            if best is None or c < best[0]:
                best = (c, perm)
        assert best is not None
        self.operator_ = op
        self.moment_ = A
        self.n_units_ = n
        self.n_samples_ = int(n_samples)
        self.perm_ = best[1]
        self.P_ = np.eye(n)[self.perm_]
        self.cost_ = best[0]
        self.cost_identity_ = float(np.sum(N * A))
        self.bound_ = ortho.bound_
        self.restart_costs_ = np.asarray(costs)
        return self

    def result(self, layer: str | None = None) -> PermutationResult:
        if not hasattr(self, "perm_"):
            raise InputError("this PermutationDescrambler is not fitted yet; call .fit(S) first")
        return PermutationResult(
            layer=layer, operator=self.operator_.name, n_units=self.n_units_, n_samples=self.n_samples_,
            perm=self.perm_, cost_permutation=self.cost_, cost_identity=self.cost_identity_,
            bound=self.bound_, restart_costs=self.restart_costs_, moment=self.moment_,
        )


def permutation_descramble(
    S: Any, operator: Any = "first_difference", *, layer: str | None = None, **kwargs: Any
) -> PermutationResult:
    """Fit a :class:`PermutationDescrambler` on preactivations ``S`` and return its result object."""
    return PermutationDescrambler(operator, **kwargs).fit(S).result(layer)
