import numpy as np
import pytest
import scipy.fft

from repscope.descramble import (
    SmoothnessOperator,
    brockett_bound,
    brockett_cost,
    circular_difference,
    first_difference,
    high_frequency_fraction,
    make_operator,
    operator_from_matrix,
    periodic_second_derivative,
)
from repscope.errors import InputError


def _match_up_to_sign(V, T):
    s = np.sign(np.sum(V * T, axis=0))
    return np.abs(V * s - T).max()


@pytest.mark.parametrize("n", [2, 7, 16, 33])
def test_first_difference_laplacian_eigenvectors_are_dct2(n):
    D = np.diff(np.eye(n), axis=0)  # independent construction: (n-1) x n forward difference
    vals, vecs = np.linalg.eigh(D.T @ D)
    dct = scipy.fft.dct(np.eye(n), type=2, norm="ortho", axis=0).T  # columns = DCT-II basis vectors
    assert _match_up_to_sign(vecs, dct) < 1e-10
    np.testing.assert_allclose(vals, 2 - 2 * np.cos(np.pi * np.arange(n) / n), atol=1e-12)
    op = first_difference(n)
    assert _match_up_to_sign(op.modes, dct) < 1e-12
    np.testing.assert_allclose(op.N, D.T @ D)


def _subspace_projector(V):
    return V @ V.T


@pytest.mark.parametrize("n", [8, 9, 24])
def test_periodic_second_derivative_eigenspaces_are_dft_pairs(n):
    # independent construction of the spectral second derivative through the complex FFT
    k = np.fft.fftfreq(n) * n
    D = np.real(np.fft.ifft(-(k**2)[:, None] * np.fft.fft(np.eye(n), axis=0), axis=0))
    N = D.T @ D
    vals, vecs = np.linalg.eigh(N)
    op = periodic_second_derivative(n)
    np.testing.assert_allclose(op.N, N, atol=1e-9 * np.abs(N).max())
    np.testing.assert_allclose(np.sort(op.eigenvalues), vals, atol=1e-9 * vals.max())
    groups = op.mode_groups()
    assert len(groups) == (n - 1) // 2  # one pair per 0 < k < n/2
    for g in groups + [[0]]:
        lam = op.eigenvalues[g[0]]
        idx = np.where(np.abs(vals - lam) <= 1e-9 * vals.max() + 1e-9)[0]
        assert len(idx) == len(g)
        np.testing.assert_allclose(_subspace_projector(vecs[:, idx]), _subspace_projector(op.modes[:, g]),
                                   atol=1e-8)


def test_circular_difference_modes():
    op = circular_difference(12)
    np.testing.assert_allclose(op.N @ op.modes, op.modes * op.eigenvalues, atol=1e-12)
    np.testing.assert_allclose(op.modes.T @ op.modes, np.eye(12), atol=1e-12)


def test_custom_operator_and_validation():
    rng = np.random.default_rng(0)
    D = rng.standard_normal((5, 6))
    op = operator_from_matrix(D, 6)
    np.testing.assert_allclose(op.N @ op.modes, op.modes * op.eigenvalues, atol=1e-10)
    assert np.all(np.diff(op.eigenvalues) >= -1e-12)
    with pytest.raises(InputError, match="columns"):
        operator_from_matrix(D, 7)
    with pytest.raises(InputError, match="2-D"):
        operator_from_matrix(np.ones(6), 6)
    with pytest.raises(InputError, match="square"):
        SmoothnessOperator.from_gram(np.ones((3, 4)))
    with pytest.raises(InputError, match="symmetric"):
        SmoothnessOperator.from_gram(np.triu(np.ones((4, 4))))
    with pytest.raises(InputError, match="unknown operator"):
        make_operator("wiggly", 5)
    with pytest.raises(InputError, match="NaN"):
        operator_from_matrix(np.full((2, 3), np.nan), 3)
    with pytest.raises(InputError, match="units"):
        make_operator(first_difference(4), 5)


def test_brockett_cost_validation_and_identity():
    rng = np.random.default_rng(1)
    S = rng.standard_normal((6, 40))
    op = first_difference(6)
    A = S @ S.T
    # tr(Pᵀ N P A) = ‖D P S‖²
    Q = np.linalg.qr(rng.standard_normal((6, 6)))[0]
    assert brockett_cost(Q, A, op.N) == pytest.approx(np.linalg.norm(op.D @ Q @ S) ** 2, rel=1e-12)
    with pytest.raises(InputError, match="square"):
        brockett_cost(Q, A, op.D)  # D is (n-1) x n: not square
    with pytest.raises(InputError, match="same"):
        brockett_cost(np.eye(5), A, op.N)
    assert brockett_bound(A, op.N) <= brockett_cost(Q, A, op.N)


def test_high_frequency_fraction():
    n = 32
    assert high_frequency_fraction(np.ones((n, 3))) == pytest.approx(0.0, abs=1e-20)
    alt = np.cos(np.pi * np.arange(n))[:, None]
    assert high_frequency_fraction(alt) > 0.99
    rng = np.random.default_rng(0)
    assert abs(high_frequency_fraction(rng.standard_normal((n, 4000))) - 0.75) < 0.02
    with pytest.raises(InputError):
        high_frequency_fraction(np.ones((n, 2)), cutoff=1.5)
