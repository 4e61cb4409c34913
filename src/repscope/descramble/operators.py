"""Smoothness operators and the Brockett cost behind descrambling (Sule, Spencer & Czaja 2023).

A descrambler of a layer with ``n`` units is an orthogonal ``P`` (n × n) that makes the re-mixed
preactivations ``P S`` smooth along the unit axis. Smoothness is measured by a derivative operator
``D`` (m × n) acting on that axis, through its Gram matrix ``N = Dᵀ D``:

    η(P) = ‖D P S‖²_F = tr(Dᵀ D · P S Sᵀ Pᵀ) = tr(Pᵀ N P A),   A = S Sᵀ.

This is the Brockett function on the orthogonal group; its minimum is
``Σᵢ λᵢ↓(A) μᵢ↑(N)`` (eigenvalues of ``A`` descending paired with those of ``N`` ascending), reached
at ``P* = T Uᵀ`` (``T``: eigenvectors of ``N`` ascending, ``U``: eigenvectors of ``A`` descending).
Source: S. Sule, R. G. Spencer, W. Czaja, "On the limits of neural network explainability via
descrambling", arXiv:2301.07820; R. W. Brockett (1991), "Dynamical systems that sort lists".

Named operators come with their eigenbasis in closed form, so no arbitrary basis is picked inside
degenerate eigenspaces:

- ``"first_difference"``: ``D`` is the (n−1) × n forward difference, ``N`` the path-graph Laplacian.
  Its eigenvectors are the DCT-II modes ``cos(π k (j + ½) / n)`` with eigenvalues ``2 − 2 cos(π k / n)``.
- ``"periodic_second_derivative"``: the spectral second derivative on a periodic grid of ``n`` points
  over a period of 2π (integer wavenumbers ``k``), ``D = F⁻¹ diag(−k²) F``, so ``N`` has eigenvalues
  ``k⁴``. Its eigenvectors are the real DFT pairs ``cos(2πkj/n), sin(2πkj/n)`` — each pair is a
  degenerate 2-D eigenspace (compare subspaces, not single vectors).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError

__all__ = [
    "OPERATORS",
    "SmoothnessOperator",
    "first_difference",
    "periodic_second_derivative",
    "circular_difference",
    "operator_from_matrix",
    "make_operator",
    "dct2_basis",
    "real_dft_basis",
    "brockett_cost",
    "brockett_bound",
    "mode_spectrum",
    "high_frequency_fraction",
    "tie_groups",
]

OPERATORS = ("first_difference", "periodic_second_derivative", "circular_difference")
_ALIASES = {
    "first_difference": "first_difference",
    "first-difference": "first_difference",
    "diff": "first_difference",
    "periodic_second_derivative": "periodic_second_derivative",
    "periodic-second-derivative": "periodic_second_derivative",
    "periodic": "periodic_second_derivative",
    "spectral": "periodic_second_derivative",
    "circular_difference": "circular_difference",
    "circular-difference": "circular_difference",
    "circular": "circular_difference",
}


@dataclass
class SmoothnessOperator:
    """A smoothness operator on ``n`` units with its eigendecomposition.

    Attributes
    ----------
    name : str
        ``"first_difference"``, ``"periodic_second_derivative"`` or ``"custom"``.
    N : ndarray (n, n)
        Symmetric Gram matrix ``Dᵀ D`` (the matrix in the Brockett cost).
    eigenvalues : ndarray (n,)
        Eigenvalues of ``N``, ascending.
    modes : ndarray (n, n)
        Orthonormal eigenvectors of ``N`` as columns, in the order of ``eigenvalues`` (``T`` in the
        paper). Column 0 is the smoothest mode.
    D : ndarray (m, n) or None
        The derivative operator itself, when known.
    frequencies : ndarray (n,)
        A frequency label per mode (wavenumber for the named operators; the mode index otherwise).

    Examples
    --------
    >>> from repscope.descramble import first_difference
    >>> op = first_difference(4)
    >>> op.name, op.n, op.N.shape, op.D.shape
    ('first_difference', 4, (4, 4), (3, 4))
    >>> bool(op.eigenvalues[0] < 1e-12)                 # the constant mode is perfectly smooth
    True
    """

    name: str
    N: np.ndarray
    eigenvalues: np.ndarray
    modes: np.ndarray
    D: np.ndarray | None = None
    frequencies: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n(self) -> int:
        return int(self.N.shape[0])

    def mode_groups(self, rtol: float = 1e-9) -> list[list[int]]:
        """Indices of modes sharing one eigenvalue (degenerate eigenspaces of size > 1)."""
        return [g for g in tie_groups(self.eigenvalues, rtol=rtol) if len(g) > 1]

    @classmethod
    def from_gram(cls, N: ArrayLike, name: str = "custom") -> SmoothnessOperator:
        """Build an operator from a user-supplied Gram matrix ``N`` (square, symmetric, finite)."""
        N = _square_matrix(N, "N (operator Gram matrix)")
        if not np.allclose(N, N.T, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(N).max()))):
            raise InputError(
                "N (operator Gram matrix) is not symmetric; pass N = D.T @ D, or pass the derivative "
                "operator D itself as operator=D"
            )
        N = 0.5 * (N + N.T)
        vals, vecs = np.linalg.eigh(N)
        return cls(name=name, N=N, eigenvalues=vals, modes=_fix_signs(vecs), D=None,
                   frequencies=np.arange(N.shape[0], dtype=float))


def _fix_signs(V: np.ndarray) -> np.ndarray:
    """Deterministic sign per column: the entry of largest magnitude is made positive."""
    V = np.array(V, dtype=np.float64, copy=True)
    idx = np.argmax(np.abs(V), axis=0)
    s = np.sign(V[idx, np.arange(V.shape[1])])
    s[s == 0] = 1.0
    return V * s


def _square_matrix(M: ArrayLike, name: str) -> np.ndarray:
    if hasattr(M, "detach"):
        M = M.detach().cpu().numpy()
    A = np.asarray(M)
    if A.dtype == object or not np.issubdtype(A.dtype, np.number):
        raise InputError(f"{name} has non-numeric dtype {A.dtype}; pass a numeric square matrix")
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise InputError(f"{name} must be a square 2-D matrix, got shape {A.shape}; pass an (n, n) array")
    if A.shape[0] < 1:
        raise InputError(f"{name} is empty")
    A = A.astype(np.float64, copy=False)
    if not np.isfinite(A).all():
        raise InputError(f"{name} contains NaN or Inf; fix the values before descrambling")
    return A


def _check_n(n: Any) -> int:
    if not isinstance(n, int | np.integer) or n < 2:
        raise InputError(f"an operator needs n ≥ 2 units, got n={n!r}")
    return int(n)


def dct2_basis(n: int) -> np.ndarray:
    """Orthonormal DCT-II modes as columns: ``T[j, k] = c_k cos(π k (j + ½) / n)``.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import dct2_basis
    >>> T = dct2_basis(5)
    >>> bool(np.allclose(T.T @ T, np.eye(5))), bool(np.allclose(T[:, 0], 1 / np.sqrt(5)))
    (True, True)
    """
    n = _check_n(n)
    j = np.arange(n)[:, None] + 0.5
    k = np.arange(n)[None, :]
    T = np.cos(np.pi * j * k / n)
    T[:, 0] *= np.sqrt(1.0 / n)
    T[:, 1:] *= np.sqrt(2.0 / n)
    return T


def real_dft_basis(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal real Fourier modes, ordered by wavenumber: constant, (cos 1, sin 1), (cos 2, sin 2), …
    plus the alternating Nyquist mode when ``n`` is even. Returns ``(T, wavenumbers)``.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import real_dft_basis
    >>> F, k = real_dft_basis(4)
    >>> bool(np.allclose(F.T @ F, np.eye(4))), k.tolist()
    (True, [0.0, 1.0, 1.0, 2.0])
    """
    n = _check_n(n)
    j = np.arange(n)
    cols, ks = [np.full(n, 1.0 / np.sqrt(n))], [0]
    for k in range(1, (n - 1) // 2 + 1):
        cols.append(np.sqrt(2.0 / n) * np.cos(2 * np.pi * k * j / n))
        cols.append(np.sqrt(2.0 / n) * np.sin(2 * np.pi * k * j / n))
        ks += [k, k]
    if n % 2 == 0:
        cols.append(np.cos(np.pi * j) / np.sqrt(n))
        ks.append(n // 2)
    return np.stack(cols, axis=1), np.asarray(ks, dtype=float)


def first_difference(n: int) -> SmoothnessOperator:
    """Forward-difference operator ``(D x)_i = x_{i+1} − x_i`` ((n−1) × n) with its DCT-II eigenbasis.

    ``N = Dᵀ D`` is the Laplacian of the path graph; its eigenpairs are
    ``(2 − 2cos(πk/n), DCT-II mode k)`` for ``k = 0 … n−1`` (Strang 1999, "The discrete cosine transform").

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import first_difference
    >>> op = first_difference(3)
    >>> op.D.tolist()
    [[-1.0, 1.0, 0.0], [0.0, -1.0, 1.0]]
    >>> np.round(op.eigenvalues, 6).tolist()          # 2 − 2cos(πk/n), k = 0, 1, 2
    [0.0, 1.0, 3.0]
    """
    n = _check_n(n)
    D = np.zeros((n - 1, n))
    D[np.arange(n - 1), np.arange(n - 1)] = -1.0
    D[np.arange(n - 1), np.arange(1, n)] = 1.0
    k = np.arange(n, dtype=float)
    return SmoothnessOperator(
        name="first_difference", N=D.T @ D, eigenvalues=2.0 - 2.0 * np.cos(np.pi * k / n),
        modes=dct2_basis(n), D=D, frequencies=k / 2.0,
    )


def periodic_second_derivative(n: int) -> SmoothnessOperator:
    """Spectral second derivative on a periodic grid (period 2π, ``n`` points): ``D = F⁻¹ diag(−k²) F``.

    Real symmetric circulant; ``N = D² `` has eigenvalues ``k⁴`` on the real DFT pairs (degenerate
    2-D eigenspaces for ``0 < k < n/2``). The Nyquist mode keeps ``−(n/2)²``, as is usual for even-order
    spectral derivatives (Trefethen 2000, "Spectral Methods in MATLAB", ch. 3).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import periodic_second_derivative
    >>> op = periodic_second_derivative(8)
    >>> x = np.sin(2 * np.pi * np.arange(8) / 8)      # sin of wavenumber 1: D x = −x
    >>> bool(np.allclose(op.D @ x, -x))
    True
    """
    n = _check_n(n)
    T, ks = real_dft_basis(n)
    D = (T * (-(ks**2))) @ T.T
    D = 0.5 * (D + D.T)
    N = (T * ks**4) @ T.T
    N = 0.5 * (N + N.T)
    return SmoothnessOperator(name="periodic_second_derivative", N=N, eigenvalues=ks**4, modes=T, D=D,
                              frequencies=ks)


def circular_difference(n: int) -> SmoothnessOperator:
    """Periodic forward difference ``(D x)_i = x_{i+1 mod n} − x_i`` (n × n), ``N`` = cycle-graph Laplacian.

    Eigenvalues ``2 − 2cos(2πk/n)`` on the same real DFT pairs as the periodic second derivative, but
    far less stiff (quadratic rather than quartic in k) — better conditioned for permutation search.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import circular_difference
    >>> op = circular_difference(4)
    >>> op.N.astype(int).tolist()                     # the Laplacian of the 4-cycle
    [[2, -1, 0, -1], [-1, 2, -1, 0], [0, -1, 2, -1], [-1, 0, -1, 2]]
    """
    n = _check_n(n)
    D = -np.eye(n) + np.roll(np.eye(n), 1, axis=1)
    T, ks = real_dft_basis(n)
    mu = 2.0 - 2.0 * np.cos(2 * np.pi * ks / n)
    return SmoothnessOperator(name="circular_difference", N=D.T @ D, eigenvalues=mu, modes=T, D=D,
                              frequencies=ks)


def operator_from_matrix(D: ArrayLike, n_units: int | None = None, name: str = "custom") -> SmoothnessOperator:
    """Wrap a user-supplied derivative operator ``D`` (m × n, acting on the unit axis): ``N = Dᵀ D``.

    ``D`` must be 2-D and finite; its number of columns must equal the number of units. The
    eigenbasis is computed numerically (signs fixed deterministically; inside degenerate eigenspaces
    the basis is arbitrary — :meth:`SmoothnessOperator.mode_groups` reports them).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import operator_from_matrix
    >>> op = operator_from_matrix(np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]]), name="my_diff")
    >>> op.name, op.N.astype(int).tolist()
    ('my_diff', [[1, -1, 0], [-1, 2, -1], [0, -1, 1]])
    """
    if hasattr(D, "detach"):
        D = D.detach().cpu().numpy()
    M = np.asarray(D)
    if M.dtype == object or not np.issubdtype(M.dtype, np.number):
        raise InputError(f"operator matrix has non-numeric dtype {M.dtype}; pass a numeric (m, n) array")
    if M.ndim != 2:
        raise InputError(
            f"operator matrix must be 2-D (m, n_units), got shape {M.shape}; pass the derivative matrix D"
        )
    M = M.astype(np.float64, copy=False)
    if not np.isfinite(M).all():
        raise InputError("operator matrix contains NaN or Inf; fix its values")
    if n_units is not None and M.shape[1] != n_units:
        raise InputError(
            f"operator matrix has {M.shape[1]} columns but the layer has {n_units} units; D must have "
            f"shape (m, {n_units}) so that it acts on the unit axis"
        )
    op = SmoothnessOperator.from_gram(M.T @ M, name=name)
    op.D = np.array(M, copy=True)
    return op


def make_operator(operator: SmoothnessOperator | ArrayLike, n_units: int) -> SmoothnessOperator:
    """Resolve ``operator`` (a name in :data:`OPERATORS`, a matrix ``D``, or a
    :class:`SmoothnessOperator`) for a layer of ``n_units`` units.

    Examples
    --------
    >>> from repscope.descramble import make_operator
    >>> make_operator("periodic", 6).name, make_operator("first_difference", 6).n
    ('periodic_second_derivative', 6)
    """
    n_units = _check_n(n_units)
    if isinstance(operator, SmoothnessOperator):
        if operator.n != n_units:
            raise InputError(
                f"operator is for {operator.n} units but the layer has {n_units}; build it for n={n_units}"
            )
        return operator
    if isinstance(operator, str):
        key = _ALIASES.get(operator.strip().lower())
        if key is None:
            raise InputError(
                f"unknown operator {operator!r}; use one of {', '.join(OPERATORS)} or pass a matrix D"
            )
        return {"first_difference": first_difference, "circular_difference": circular_difference,
                "periodic_second_derivative": periodic_second_derivative}[key](n_units)
    return operator_from_matrix(operator, n_units)


def tie_groups(values: np.ndarray, rtol: float = 1e-9, atol: float = 0.0) -> list[list[int]]:
    """Group consecutive indices of a sorted 1-D array whose values agree to ``rtol·max|v| + atol``."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return []
    tol = rtol * float(np.max(np.abs(v))) + atol
    groups, cur = [], [0]
    for i in range(1, v.size):
        if abs(v[i] - v[i - 1]) <= tol:
            cur.append(i)
        else:
            groups.append(cur)
            cur = [i]
    groups.append(cur)
    return groups


def brockett_cost(P: ArrayLike, A: ArrayLike, N: ArrayLike) -> float:
    """Brockett cost ``tr(Pᵀ N P A)`` (= ‖D P S‖²_F when ``N = DᵀD`` and ``A = S Sᵀ``).

    ``P``, ``A`` and ``N`` must be square matrices of the same size (Sule et al. 2023, eq. for η(P)).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import brockett_cost
    >>> A, N = np.diag([3.0, 1.0]), np.diag([0.0, 2.0])
    >>> brockett_cost(np.eye(2), A, N), brockett_cost(np.array([[0.0, 1.0], [1.0, 0.0]]), A, N)
    (2.0, 6.0)
    """
    P = _square_matrix(P, "P")
    A = _square_matrix(A, "A")
    N = _square_matrix(N, "N")
    if not (P.shape == A.shape == N.shape):
        raise InputError(f"P {P.shape}, A {A.shape} and N {N.shape} must all be (n, n) for the same n")
    # tr(X A) = Σ X ∘ Aᵀ with X = Pᵀ N P
    return float(np.sum((P.T @ N @ P) * A.T))


def brockett_bound(A: ArrayLike, N: ArrayLike) -> float:
    """Minimum of the Brockett cost over O(n): ``Σᵢ λᵢ↓(A) μᵢ↑(N)`` for symmetric ``A``, ``N``.

    By the rearrangement inequality for eigenvalues (Brockett 1991; Sule et al. 2023, Thm. 1).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import brockett_bound
    >>> brockett_bound(np.diag([3.0, 1.0]), np.diag([0.0, 2.0]))   # largest λ(A) with smallest μ(N): 3·0 + 1·2
    2.0
    """
    A = _square_matrix(A, "A")
    N = _square_matrix(N, "N")
    if A.shape != N.shape:
        raise InputError(f"A {A.shape} and N {N.shape} must have the same shape")
    lam = np.linalg.eigvalsh(0.5 * (A + A.T))[::-1]
    mu = np.linalg.eigvalsh(0.5 * (N + N.T))
    return float(np.dot(lam, mu))


def mode_spectrum(M: ArrayLike, operator: SmoothnessOperator | str = "first_difference") -> np.ndarray:
    """Energy of ``M`` (n_units × anything) in each operator mode: ``‖T_kᵀ M‖²``, ascending frequency.

    For a weight matrix ``W`` (units × inputs) this is the spectrum of its columns along the unit axis.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import mode_spectrum
    >>> np.round(mode_spectrum(np.ones((4, 1))), 6).tolist()    # a constant profile is all in mode 0
    [4.0, 0.0, 0.0, 0.0]
    """
    M = np.asarray(M, dtype=np.float64)
    M = M.reshape(M.shape[0], -1)
    op = make_operator(operator, M.shape[0])
    C = op.modes.T @ M
    return np.sum(C * C, axis=1)


def high_frequency_fraction(
    M: ArrayLike, operator: SmoothnessOperator | str = "first_difference", cutoff: float = 0.25
) -> float:
    """Fraction of the energy of ``M`` along the unit axis in modes ``k ≥ cutoff · n`` (ascending order).

    A unit order with no smoothness spreads energy evenly (fraction ≈ 1 − cutoff); a smooth one
    concentrates it in the first modes.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import dct2_basis, high_frequency_fraction
    >>> round(high_frequency_fraction(np.ones((8, 3))), 6)       # smooth: no high-frequency energy
    0.0
    >>> alt = dct2_basis(8)[:, -1:]                              # the fastest-oscillating mode
    >>> round(high_frequency_fraction(alt), 6)
    1.0
    """
    if not 0.0 < cutoff < 1.0:
        raise InputError(f"cutoff must be in (0, 1), got {cutoff}")
    spec = mode_spectrum(M, operator)
    total = float(spec.sum())
    if total <= 0:
        return float("nan")
    k0 = int(np.ceil(cutoff * spec.size))
    return float(spec[k0:].sum() / total)
