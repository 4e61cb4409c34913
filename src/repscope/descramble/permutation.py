"""Permutation-constrained descrambling: reorder units (neurons / CNN channels) only.

Restricting ``P`` to permutation matrices turns ``min tr(Pᵀ N P A)`` into a quadratic assignment
problem (Sule et al. 2023, CNN case). ``scipy.optimize.quadratic_assignment`` minimises
``tr(Aᵀ P B Pᵀ)``; with ``A := N`` and ``B := A`` (both symmetric) that is our cost. We run FAQ (Vogelstein
et al. 2015) from several seeded starts — the barycentre, the identity, the rounding of the orthogonal
optimum ``P*`` to the nearest permutation, greedy nearest-neighbour chains of units (for difference
operators the cost is ``Σᵢ ‖s_{π(i+1)} − s_{π(i)}‖²``, a travelling-salesman path, so chains of similar
units are natural starts) and random doubly-stochastic starts — polish each result with best-improvement
pairwise swaps (exact O(n²) delta matrix per step) and keep the best. Since permutations are
orthogonal, the result is never below the Brockett bound ``Σ λ↓ μ↑``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
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

__all__ = ["PermutationDescrambler", "permutation_descramble", "swap_local_search", "nearest_neighbour_order"]


def _qap_cost(N: np.ndarray, A: np.ndarray, perm: np.ndarray) -> float:
    return float(np.sum(N * A[np.ix_(perm, perm)]))


def swap_local_search(N: np.ndarray, A: np.ndarray, perm: np.ndarray, max_iter: int = 10_000) -> np.ndarray:
    """Best-improvement pairwise-swap descent on ``Σ N ∘ A[π][:, π]`` (symmetric ``N``, ``A``).

    The change from swapping positions r, s is, with ``B = A[π][:, π]`` and ``M = N B``,
    ``Δ_rs = 2(M_rs + M_sr − M_rr − M_ss − (N_rr − N_sr)(B_sr − B_rr) − (N_rs − N_ss)(B_ss − B_rs))
    + (N_rr − N_ss)(B_ss − B_rr)``, all pairs at once in one matrix product.
    """
    perm = np.array(perm, copy=True)
    dN = np.diag(N)
    for _ in range(max_iter):
        B = A[np.ix_(perm, perm)]
        M = N @ B
        dM, dB = np.diag(M), np.diag(B)
        delta = 2.0 * (M + M.T - dM[:, None] - dM[None, :]
                       - (dN[:, None] - N.T) * (B.T - dB[:, None])
                       - (N - dN[None, :]) * (dB[None, :] - B)) \
            + (dN[:, None] - dN[None, :]) * (dB[None, :] - dB[:, None])
        np.fill_diagonal(delta, 0.0)
        r, c = np.unravel_index(np.argmin(delta), delta.shape)
        scale = max(1.0, abs(float(np.sum(N * B))))
        if delta[r, c] >= -1e-12 * scale:
            break
        perm[[r, c]] = perm[[c, r]]
    return perm


def nearest_neighbour_order(A: np.ndarray, start: int) -> np.ndarray:
    """Greedy chain of units from ``start``, each step to the closest unused unit in
    ``d_ij = A_ii + A_jj − 2A_ij`` (= mean ‖s_i − s_j‖²)."""
    n = A.shape[0]
    d = np.diag(A)[:, None] + np.diag(A)[None, :] - 2.0 * A
    used = np.zeros(n, dtype=bool)
    order = [int(start)]
    used[start] = True
    for _ in range(n - 1):
        row = np.where(used, np.inf, d[order[-1]])
        nxt = int(np.argmin(row))
        order.append(nxt)
        used[nxt] = True
    return np.asarray(order)


class PermutationDescrambler:
    """Best reordering of units under a smoothness operator (QAP via FAQ with seeded restarts).

    Fitted attributes: ``perm_`` (new position i holds original unit ``perm_[i]``; reorder with
    ``S[perm_]`` or ``W[perm_]``), ``P_`` (the permutation matrix, ``P_ @ S == S[perm_]``), ``cost_``,
    ``cost_identity_``, ``bound_`` (orthogonal optimum), ``restart_costs_``, ``moment_``.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import PermutationDescrambler
    >>> rng = np.random.default_rng(0)
    >>> S = np.cumsum(rng.normal(size=(8, 60)), axis=0)          # smooth along the unit axis
    >>> order = rng.permutation(8)
    >>> pd = PermutationDescrambler(seed=0).fit(S[order])
    >>> r = pd.result()
    >>> bool(r.cost_permutation <= r.cost_identity), sorted(r.perm.tolist()) == list(range(8))
    (True, True)
    """

    def __init__(
        self,
        operator: ArrayLike = "first_difference",
        *,
        n_init: int = 8,
        n_chains: int = 4,
        seed: int = 0,
        center: bool = False,
        layout: str = "units_first",
        refine: bool = True,
        maxiter: int = 60,
    ) -> None:
        self.operator = operator
        self.n_init = n_init
        self.n_chains = n_chains
        self.seed = seed
        self.center = center
        self.layout = layout
        self.refine = refine
        self.maxiter = maxiter

    def fit(self, S: ArrayLike, y: ArrayLike | None = None) -> PermutationDescrambler:
        A, n, _ = second_moment(preactivations_matrix(S, self.layout), self.center)
        return self.fit_moment(A, n)

    def fit_store(self, store: Any, layer: str, *, block_rows: int = 2048, progress: bool = False):
        A, n, _ = second_moment_from_store(store, layer, block_rows=block_rows, center=self.center,
                                           progress=progress)
        return self.fit_moment(A, n)

    def fit_moment(self, A: ArrayLike, n_samples: int) -> PermutationDescrambler:
        A = _square_matrix(A, "A (second-moment matrix)")
        A = 0.5 * (A + A.T)
        n = A.shape[0]
        if self.n_init < 0:
            raise InputError(f"n_init must be ≥ 0, got {self.n_init}")
        op = make_operator(self.operator, n)
        N = op.N
        ortho = Descrambler(op).fit_moment(A, max(int(n_samples), n))

        # starts: barycentre, identity, rounded orthogonal optimum, nearest-neighbour chains, random
        _, rounded = linear_sum_assignment(-(ortho.P_**2))
        eye = np.eye(n)
        starts: list[Any] = ["barycenter", eye, eye[rounded]]
        rng = np.random.default_rng(self.seed)
        chain_starts = [int(np.argmax(np.diag(A)))]
        chain_starts += list(rng.choice(n, size=min(max(self.n_chains - 1, 0), n), replace=False))
        starts += [eye[nearest_neighbour_order(A, c)] for c in chain_starts[: self.n_chains]]
        starts += ["randomized"] * self.n_init
        costs, best = [], None
        for i, P0 in enumerate(starts):
            opts = {"P0": P0, "maxiter": self.maxiter, "rng": np.random.default_rng([self.seed, i])}
            res = quadratic_assignment(N, A, method="faq", options=opts)
            perm = np.asarray(res.col_ind)
            if not isinstance(P0, str):  # FAQ may leave a good vertex start for a worse one
                p0 = np.argmax(P0, axis=1)
                if _qap_cost(N, A, p0) < _qap_cost(N, A, perm):
                    perm = p0
            if self.refine:
                perm = swap_local_search(N, A, perm)
            c = _qap_cost(N, A, perm)
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
    S: ArrayLike, operator: ArrayLike = "first_difference", *, layer: str | None = None, **kwargs: Any
) -> PermutationResult:
    """Fit a :class:`PermutationDescrambler` on preactivations ``S`` and return its result object.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import permutation_descramble
    >>> S = np.cumsum(np.random.default_rng(0).normal(size=(6, 40)), axis=0)
    >>> r = permutation_descramble(S[[3, 0, 5, 1, 4, 2]], seed=0)
    >>> bool(r.bound <= r.cost_permutation <= r.cost_identity)
    True
    """
    return PermutationDescrambler(operator, **kwargs).fit(S).result(layer)
