"""InputDSA / DMDc / subspace DMDc: recovery of (A, B) on known linear systems, invariances, reference values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from repscope.dynamics.inputdsa import (
    controllability_matrix,
    fit_dmdc,
    fit_subspace_dmdc,
    input_dsa,
    procrustes_angle,
)
from repscope.errors import InputError

FIXTURE = Path(__file__).parent / "data" / "dsa_metric_inputdsa.json"


def _stable(rng, n, rho=0.9):
    A = rng.standard_normal((n, n))
    return A * rho / np.max(np.abs(np.linalg.eigvals(A)))


def _simulate(A, B, seed, K=5, T=80, C=None, noise=0.0):
    r = np.random.default_rng(seed)
    U = r.standard_normal((K, T, B.shape[1]))
    X = np.zeros((K, T, A.shape[0]))
    for k in range(K):
        x = r.standard_normal(A.shape[0])
        for t in range(T):
            X[k, t] = x
            x = A @ x + B @ U[k, t] + noise * r.standard_normal(A.shape[0])
    return (X if C is None else X @ C.T), U


@pytest.fixture(scope="module")
def system():
    rng = np.random.default_rng(0)
    return _stable(rng, 4), rng.standard_normal((4, 2)), rng


def test_dmdc_recovers_A_and_B_exactly(system):
    A, B, _ = system
    X, U = _simulate(A, B, 1)
    f = fit_dmdc(X, U)
    np.testing.assert_allclose(f.A_embedded_, A, atol=1e-8)
    np.testing.assert_allclose(f.B_embedded_, B, atol=1e-8)
    assert f.residual_ < 1e-9 and f.n_transitions_ == 5 * 79
    assert np.all(f.eig_residuals_ < 1e-8)  # exact model: every eigenpair of A is exact once B u is removed
    X2, U2 = _simulate(A, B, 30)  # held-out trials of the same system: still exact
    held = f.residuals(X2, U2)
    assert held.held_out and np.all(held.residuals < 1e-8)
    np.testing.assert_array_equal(f.residuals().residuals, f.eig_residuals_)
    # Ã is orthogonally similar to A: same eigenvalues
    np.testing.assert_allclose(np.sort_complex(f.eigenvalues_), np.sort_complex(np.linalg.eigvals(A)), atol=1e-8)
    assert json.dumps(f.to_dict(), allow_nan=False)


def test_dmdc_with_process_noise_is_consistent(system):
    A, B, _ = system
    X, U = _simulate(A, B, 2, K=20, T=200, noise=0.05)
    f = fit_dmdc(X, U)
    np.testing.assert_allclose(f.A_embedded_, A, atol=0.03)
    np.testing.assert_allclose(f.B_embedded_, B, atol=0.03)


def test_dmdc_with_delays_reproduces_markov_parameters(system):
    A, B, _ = system
    X, U = _simulate(A, B, 3)
    f = fit_dmdc(X, U, n_delays=2)
    assert f.rank_ == 6  # h_t = [A x_{t-1} + B u_{t-1}, x_{t-1}] spans 4 + 2 dimensions
    # exact model on the embedding: A_h = [[A, 0], [I, 0]], B_h = [B; 0]; the current-state block of
    # U_r Ã^j B̃ is A^j B
    mp = f.markov_parameters(4)[:, :4]
    true = np.stack([np.linalg.matrix_power(A, j) @ B for j in range(4)])
    np.testing.assert_allclose(mp, true, atol=1e-7)


def test_same_intrinsic_dynamics_different_input_drive(system):
    A, B, rng = system
    X1, U1 = _simulate(A, B, 4)
    X2, U2 = _simulate(A, rng.standard_normal((4, 2)), 5)  # same A, other input coupling
    X3, U3 = _simulate(_stable(rng, 4), B, 6)  # other A, same input coupling
    same_a = input_dsa(X1, U1, X2, U2)
    same_b = input_dsa(X1, U1, X3, U3)
    assert same_a.state < 1e-7 and same_a.input > 0.3 and same_a.spectral < 1e-7
    assert same_b.input < 1e-7 and same_b.state > 0.3
    assert same_a.joint > 0.3 and same_b.joint > 0.3
    assert "intrinsic" in same_a.summary() and len(same_a.table()[1]) == 4
    assert json.dumps(same_a.to_dict(), allow_nan=False)


def test_rotated_observation_is_identical_in_every_component(system):
    A, B, rng = system
    X, U = _simulate(A, B, 7)
    Q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    r = input_dsa(X, U, X @ Q.T, U, metric="euclidean")
    assert r.state < 1e-7 and r.input < 1e-7 and r.joint < 1e-7


def test_procrustes_angle_closed_form():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5, 3))
    Q = np.linalg.qr(rng.standard_normal((5, 5)))[0]
    assert procrustes_angle(X, 3.0 * Q @ X) == pytest.approx(0.0, abs=1e-7)
    # a 1-column case: the angle is 0 (any two vectors are rotated into each other)
    assert procrustes_angle(X[:, :1], X[:, 1:2]) == pytest.approx(0.0, abs=1e-7)
    # orthogonal column spaces in R^n with k = n columns cannot be rotated away: cos = Σσ(X̂Ŷᵀ)
    E = np.eye(2)
    F = np.array([[1.0, 0.0], [0.0, 0.0]])
    assert procrustes_angle(E, F) == pytest.approx(np.arccos(1 / np.sqrt(2)))
    assert procrustes_angle(E, F, "euclidean") == pytest.approx(np.sqrt(2 - np.sqrt(2)))
    K = controllability_matrix(np.diag([0.5, 0.2]), np.ones((2, 1)))
    np.testing.assert_allclose(K, [[1, 0.5], [1, 0.2]])


def test_subspace_dmdc_partial_observation(system):
    A, B, rng = system
    C = rng.standard_normal((2, 4))  # 2 observed dims of a 4-d latent system
    Y, U = _simulate(A, B, 8, C=C)
    s = fit_subspace_dmdc(Y, U, n_delays=4, rank=4)
    np.testing.assert_allclose(np.sort_complex(s.eigenvalues_), np.sort_complex(np.linalg.eigvals(A)), atol=1e-7)
    true = np.stack([C @ np.linalg.matrix_power(A, j) @ B for j in range(6)])
    np.testing.assert_allclose(s.markov_parameters(6), true, atol=1e-7)
    # same latent dynamics, different readout and drive: the intrinsic spectra match (eigenvalue set)
    Y2, U2 = _simulate(A, rng.standard_normal((4, 2)), 9, C=rng.standard_normal((2, 4)))
    r = input_dsa(Y, U, Y2, U2, n_delays=4, rank=4, method="subspace")
    np.testing.assert_allclose(
        np.sort_complex(r.fit_x.eigenvalues_), np.sort_complex(r.fit_y.eigenvalues_), atol=1e-6
    )
    assert r.spectral < 1e-6  # the basis-free intrinsic comparison for subspace fits
    Y3, U3 = _simulate(_stable(rng, 4), B, 10, C=C)
    assert input_dsa(Y, U, Y3, U3, n_delays=4, rank=4, method="subspace").spectral > 0.1


def test_input_validation(system):
    A, B, _ = system
    X, U = _simulate(A, B, 10, K=2, T=20)
    with pytest.raises(InputError, match="inputs have 1"):
        fit_dmdc(X, U[0])
    with pytest.raises(InputError, match="same times"):
        fit_dmdc(X, U[:, :10])
    with pytest.raises(InputError, match="no inputs"):
        fit_dmdc(X, None)
    with pytest.raises(InputError, match="too short"):
        fit_dmdc(X, U, n_delays=20)
    with pytest.raises(InputError, match="needs T"):
        fit_subspace_dmdc(X, U, n_delays=10)
    with pytest.raises(InputError, match="same rank"):
        input_dsa(fit_dmdc(X, U, rank=3), None, fit_dmdc(X, U), None)
    with pytest.raises(InputError, match="method"):
        input_dsa(X, U, X, U, method="koopman")
    with pytest.raises(InputError, match="does not apply to method='subspace'"):
        input_dsa(X, U, X, U, method="subspace", n_delays=2, delay_interval=2)


def test_agrees_with_dsa_metric_dmdc():
    """Reference values from dsa-metric 2.0.2 (``DSA.dmdc.DMDc``, float32) on one long single-trial run."""
    ref = json.loads(FIXTURE.read_text())
    X = np.asarray(ref["X"])
    U = np.asarray(ref["U"])
    f = fit_dmdc(X, U, n_delays=ref["n_delays"], rank=ref["rank"])
    # the reference regresses in the full embedding space then projects; with full rank both are the same map
    np.testing.assert_allclose(f.A_embedded_, np.asarray(ref["A_havok_dmd"]), atol=ref["tol"])
    np.testing.assert_allclose(f.B_embedded_, np.asarray(ref["B_havok_dmd"]), atol=ref["tol"])


def test_input_dsa_matrix_matches_pairwise(system):
    from repscope.dynamics import input_dsa_matrix

    A, B, rng = system
    A2, B2 = _stable(rng, 4), rng.standard_normal((4, 2))
    sims = [_simulate(A, B, 20), _simulate(A, B2, 21), _simulate(A2, B, 22)]
    m = input_dsa_matrix([s[0] for s in sims], [s[1] for s in sims], names=["a", "b", "c"])
    assert m.state.distances[0, 1] < 1e-7 and m.input.distances[0, 2] < 1e-7
    for i, j in ((0, 1), (0, 2), (1, 2)):
        p = input_dsa(sims[i][0], sims[i][1], sims[j][0], sims[j][1])
        assert m.state.distances[i, j] == pytest.approx(p.state, abs=1e-9)
        assert m.input.distances[j, i] == pytest.approx(p.input, abs=1e-12)
        assert m.joint.distances[i, j] == pytest.approx(p.joint, abs=1e-12)
    assert len(m.table()[1]) == 3 and "3 systems" in m.summary() and len(m.table()[0]) == 6
    assert m.spectral.distances[0, 1] < 1e-7 and m.spectral.distances[0, 2] > 0.1
    assert m.state.converged.all() and all(i.converged for i in m.infos)  # certified optima
    assert json.dumps(m.to_dict(), allow_nan=False)
    with pytest.raises(InputError, match="one per system"):
        input_dsa_matrix([s[0] for s in sims], [sims[0][1]])


def test_tanh_rnns_separate_recurrence_from_input_weights():
    """Input-driven tanh RNNs (the use case): sharing the recurrent weights W gives a smaller intrinsic distance
    than sharing the input weights W_in; sharing W_in gives a near-zero input-coupling distance."""
    N, M, K, T = 8, 2, 10, 100

    def recurrent(seed):
        W = np.random.default_rng(seed).standard_normal((N, N)) / np.sqrt(N)
        return 0.9 * W / np.max(np.abs(np.linalg.eigvals(W)))

    def run(W, W_in, seed):
        r = np.random.default_rng(seed)
        U = 0.5 * r.standard_normal((K, T, M))
        H = np.zeros((K, T, N))
        for k in range(K):
            h = np.zeros(N)
            for t in range(T):
                H[k, t] = h
                h = np.tanh(W @ h + W_in @ U[k, t])
        return H, U

    rng = np.random.default_rng(0)
    W1, W2 = recurrent(1), recurrent(2)
    Wa, Wb = rng.standard_normal((N, M)), rng.standard_normal((N, M))
    base = run(W1, Wa, 10)
    same_w = input_dsa(*base, *run(W1, Wb, 11))
    same_in = input_dsa(*base, *run(W2, Wa, 11))
    assert same_w.state < 0.5 * same_in.state and same_w.spectral < 0.5 * same_in.spectral
    assert same_in.input < 0.1 < same_w.input
