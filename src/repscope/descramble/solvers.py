"""An independent iterative solver over the orthogonal group O(n).

Riemannian gradient descent with a Cayley (Wen & Yin 2013, "A feasible method for optimization with
orthogonality constraints", Math. Program. 142) or QR retraction, Barzilai–Borwein initial steps and
Armijo backtracking. Sule et al. (2023) optimise the descrambling objective with a Cayley
parametrisation; here the solver is used to *verify* the closed form and is exposed for custom
objectives: pass ``cost(P) -> float`` and its Euclidean gradient ``egrad(P) -> (n, n) array``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.descramble.operators import _square_matrix, make_operator
from repscope.errors import InputError, not_converged

__all__ = ["OrthogonalSolution", "minimize_orthogonal", "brockett_descent", "random_orthogonal"]


@dataclass
class OrthogonalSolution:
    """Result of :func:`minimize_orthogonal`.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import brockett_descent
    >>> sol = brockett_descent(np.diag([2.0, 1.0]), "first_difference", seed=0)
    >>> sol.P.shape, sol.converged, round(sol.cost, 6)     # bound: 2·0 + 1·2 (eigenvalues of N: 0, 2)
    ((2, 2), True, 2.0)
    """

    P: np.ndarray
    cost: float
    n_iter: int
    converged: bool
    grad_norm: float
    history: list[float] = field(default_factory=list, repr=False)


def random_orthogonal(n: int, seed: int | None = 0) -> np.ndarray:
    """Haar-random orthogonal matrix (QR of a Gaussian matrix with the sign fix of Mezzadri 2007).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import random_orthogonal
    >>> Q = random_orthogonal(4, seed=0)
    >>> bool(np.allclose(Q.T @ Q, np.eye(4))), bool(np.array_equal(Q, random_orthogonal(4, seed=0)))
    (True, True)
    """
    rng = np.random.default_rng(seed)
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    return Q * np.sign(np.diag(R))


def _retract(X: np.ndarray, W: np.ndarray, tau: float, kind: str) -> np.ndarray:
    n = X.shape[0]
    if kind == "cayley":
        I = np.eye(n)
        return np.linalg.solve(I + 0.5 * tau * W, (I - 0.5 * tau * W) @ X)
    Q, R = np.linalg.qr(X - tau * (W @ X))
    return Q * np.sign(np.sign(np.diag(R)) + 0.5)


def minimize_orthogonal(
    cost: Callable[[np.ndarray], float],
    egrad: Callable[[np.ndarray], np.ndarray],
    P0: ArrayLike | None = None,
    *,
    n: int | None = None,
    seed: int | None = 0,
    retraction: str = "cayley",
    max_iter: int = 5000,
    gtol: float = 1e-8,
    ftol: float = 1e-14,
    armijo: float = 1e-4,
    raise_on_fail: bool = False,
    on_fail: str = "warn",
    progress: bool = False,
) -> OrthogonalSolution:
    """Minimise ``cost(P)`` over orthogonal ``P`` (n × n) by Riemannian gradient descent.

    With Euclidean gradient ``G`` at ``X``, the skew matrix ``W = G Xᵀ − X Gᵀ`` gives the descent curve
    ``Y(τ) = (I + τ/2 W)⁻¹ (I − τ/2 W) X`` (Cayley; stays exactly orthogonal) or ``qf(X − τ W X)``
    (QR); the step starts from the Barzilai–Borwein estimate and backtracks until Armijo holds.
    Stops when ``‖W‖_F ≤ gtol · max(1, ‖W₀‖_F)`` or the relative cost change is below ``ftol`` for
    10 iterations. Starts from ``P0``, else a Haar-random ``P`` of size ``n`` drawn with ``seed``.

    Stopping short of the tolerance follows repscope's convergence policy (:func:`repscope.errors.not_converged`):
    ``on_fail="warn"`` returns the solution with ``converged=False`` and a ``ConvergenceWarning``, ``"raise"``
    raises ``ConvergenceError`` (``raise_on_fail=True`` is the older spelling), ``"ignore"`` only sets the flag.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import minimize_orthogonal
    >>> A, N = np.diag([3.0, 2.0, 1.0]), np.diag([0.0, 1.0, 2.0])
    >>> sol = minimize_orthogonal(lambda P: float(np.trace(P.T @ N @ P @ A)),
    ...                           lambda P: 2 * N @ P @ A, n=3, seed=0)
    >>> sol.converged, round(sol.cost, 6)            # the Brockett minimum 3·0 + 2·1 + 1·2
    (True, 4.0)
    """
    if retraction not in ("cayley", "qr"):
        raise InputError(f"retraction must be 'cayley' or 'qr', got {retraction!r}")
    if P0 is None:
        if n is None:
            raise InputError("give a starting point P0 or the size n")
        X = random_orthogonal(int(n), seed)
    else:
        X = _square_matrix(P0, "P0")
        if not np.allclose(X.T @ X, np.eye(X.shape[0]), atol=1e-8):
            raise InputError("P0 is not orthogonal; start from an orthogonal matrix (random_orthogonal(n))")
        X = X.copy()
    f = float(cost(X))
    G = np.asarray(egrad(X), dtype=np.float64)
    if G.shape != X.shape:
        raise InputError(f"egrad returned shape {G.shape}, expected {X.shape}")
    W = G @ X.T - X @ G.T
    g0 = max(1.0, float(np.linalg.norm(W)))
    tau = 1e-3 / max(float(np.linalg.norm(W)), 1e-12)
    hist = [f]
    converged, small = False, 0
    X_prev = W_prev = None
    it = 0
    from repscope.parallel import progress_bar

    with progress_bar(progress) as prog:
        task = prog.add_task("orthogonal descent", total=max_iter)
        for it in range(1, max_iter + 1):  # noqa: B007 - used after the loop
            gnorm = float(np.linalg.norm(W))
            if gnorm <= gtol * g0:
                converged = True
                break
            if X_prev is not None:
                s = X - X_prev
                y = W @ X - W_prev @ X_prev
                sy = abs(float(np.sum(s * y)))
                if sy > 0:
                    tau = float(np.sum(s * s)) / sy
            slope = -0.5 * gnorm**2  # d/dτ f(Y(τ)) at τ = 0
            for _ in range(60):
                Y = _retract(X, W, tau, retraction)
                fY = float(cost(Y))
                if fY <= f + armijo * tau * slope:
                    break
                tau *= 0.5
            else:
                break
            X_prev, W_prev = X, W
            df = abs(f - fY) / max(1.0, abs(f))
            X, f = Y, fY
            G = np.asarray(egrad(X), dtype=np.float64)
            W = G @ X.T - X @ G.T
            hist.append(f)
            small = small + 1 if df < ftol else 0
            if small >= 10:
                converged = True
                break
            prog.advance(task)
    sol = OrthogonalSolution(P=X, cost=f, n_iter=it, converged=converged, grad_norm=float(np.linalg.norm(W)),
                             history=hist)
    if not converged:
        not_converged(
            f"orthogonal descent stopped after {it} iterations with gradient norm {sol.grad_norm:.2e}; "
            f"raise max_iter or loosen gtol",
            "raise" if raise_on_fail else on_fail,
        )
    return sol


def brockett_descent(
    A: ArrayLike, operator: ArrayLike = "first_difference", *, seed: int | None = 0, **kwargs: Any
) -> OrthogonalSolution:
    """Minimise the Brockett cost ``tr(Pᵀ N P A)`` iteratively (no eigendecomposition of ``A``).

    Euclidean gradient ``2 N P A`` (symmetric ``N``, ``A``). Used to check the closed form.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import brockett_bound, brockett_descent, first_difference
    >>> A = np.cov(np.random.default_rng(0).normal(size=(5, 100)))
    >>> sol = brockett_descent(A, "first_difference", seed=0)
    >>> bool(np.isclose(sol.cost, brockett_bound(A, first_difference(5).N), atol=1e-6))
    True
    """
    A = _square_matrix(A, "A")
    A = 0.5 * (A + A.T)
    N = make_operator(operator, A.shape[0]).N

    def cost(P: np.ndarray) -> float:
        return float(np.sum((P.T @ N @ P) * A))

    def egrad(P: np.ndarray) -> np.ndarray:
        return 2.0 * N @ P @ A

    kwargs.setdefault("n", A.shape[0])
    return minimize_orthogonal(cost, egrad, seed=seed, **kwargs)
