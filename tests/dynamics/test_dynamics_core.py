"""Known-answer tests for delay embedding, DMD and the similarity-transform distance."""

from __future__ import annotations

import numpy as np
import pytest

from repscope.dynamics import (
    delay_embed,
    dsa,
    dsa_matrix,
    eig_wasserstein,
    fit_dmd,
    similarity_transform_distance,
    similarity_transform_distances,
)
from repscope.errors import InputError
from repscope.experiments.dynamics import testcases as tc


def _orth(n, seed, det):
    Q = tc.random_orthogonal(n, np.random.default_rng(seed))
    if np.sign(np.linalg.det(Q)) != det:
        Q[:, 0] *= -1
    return Q


def _linear_system(seed=0, n=5, K=12, T=50, noise=0.05):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    A *= 0.95 / np.max(np.abs(np.linalg.eigvals(A)))
    X = np.empty((K, T, n))
    for k in range(K):
        x = rng.standard_normal(n)
        for t in range(T):
            X[k, t] = x
            x = A @ x + noise * rng.standard_normal(n)
    return A, X


# ---------------------------------------------------------------- delay embedding


def test_delay_embed_shape_and_ordering():
    x = np.arange(20, dtype=float).reshape(10, 2)  # x_t = [2t, 2t+1]
    H = delay_embed(x, n_delays=3, delay_interval=2)
    assert H.shape == (10 - 4, 6)
    # row 0 corresponds to t = 4: [x_4, x_2, x_0]
    np.testing.assert_array_equal(H[0], [8, 9, 4, 5, 0, 1])
    np.testing.assert_array_equal(H[-1], [18, 19, 14, 15, 10, 11])


def test_delay_embed_trials_kept_separate_and_ragged():
    X = np.random.default_rng(0).standard_normal((3, 8, 2))
    H = delay_embed(X, n_delays=2)
    assert H.shape == (3, 7, 4)
    np.testing.assert_array_equal(H[1, 0], np.r_[X[1, 1], X[1, 0]])
    ragged = [X[0], X[1, :5]]
    Hr = delay_embed(ragged, n_delays=2)
    assert [h.shape for h in Hr] == [(7, 4), (4, 4)]
    np.testing.assert_array_equal(Hr[1], H[1, :4])


def test_delay_embed_does_not_mutate():
    x = np.random.default_rng(1).standard_normal((6, 2))
    x0 = x.copy()
    delay_embed(x, n_delays=3)
    np.testing.assert_array_equal(x, x0)


# ---------------------------------------------------------------- DMD


def test_dmd_recovers_linear_system_eigenvalues():
    A, X = _linear_system(noise=0.0)
    X = X + 0.0
    d = fit_dmd(X, rank=5)
    true = np.sort_complex(np.linalg.eigvals(A))
    est = np.sort_complex(d.eigenvalues_)
    np.testing.assert_allclose(est, true, atol=1e-6)
    assert d.n_transitions_ == 12 * 49
    # the embedded operator reproduces A exactly in the original coordinates (no delays, full rank)
    np.testing.assert_allclose(d.A_embedded_, A, atol=1e-6)


def test_dmd_never_pairs_across_trials():
    # two trials of different constant-velocity flows; concatenating them would create a jump
    A, X = _linear_system(seed=3, noise=0.0, K=2, T=30)
    d_sep = fit_dmd([X[0], X[1]], rank=5)
    np.testing.assert_allclose(
        np.sort_complex(d_sep.eigenvalues_), np.sort_complex(np.linalg.eigvals(A)), atol=1e-6
    )
    d_cat = fit_dmd(np.concatenate([X[0], X[1]]), rank=5)
    assert d_cat.residual_ > 1e-6 > d_sep.residual_


def test_dmd_rank_options():
    _, X = _linear_system(noise=0.1)
    d = fit_dmd(X, n_delays=2)
    assert d.rank_ == 10
    assert fit_dmd(X, n_delays=2, rank=3).rank_ == 3
    r_ev = fit_dmd(X, n_delays=2, rank_explained_variance=0.9).rank_
    cum = np.cumsum(d.singular_values_**2) / np.sum(d.singular_values_**2)
    assert cum[r_ev - 1] >= 0.9 - 1e-12 and (r_ev == 1 or cum[r_ev - 2] < 0.9)
    thr = d.singular_values_[4] * 0.999
    assert fit_dmd(X, n_delays=2, rank_thresh=thr).rank_ == 5
    rr = fit_dmd(X, n_delays=2, rank=4, reduced_rank=True)
    assert rr.A_.shape == (4, 4) and rr.reduced_rank
    # reduced-rank regression at full rank equals ordinary least squares
    full = fit_dmd(X, n_delays=2, reduced_rank=True)
    np.testing.assert_allclose(np.sort_complex(full.eigenvalues_), np.sort_complex(d.eigenvalues_), atol=1e-8)


def test_dmd_gram_solver_equals_svd():
    """solver="gram" (eigendecomposition of HᵀH) fits the same operator as the thin SVD: equal up to the sign of
    each SVD coordinate (a diagonal ±1 similarity), so equal eigenvalues, residual and DSA distance."""
    _, X = _linear_system(noise=0.1, K=40, T=80)
    a = fit_dmd(X, n_delays=4, delay_interval=2, rank=6)
    b = fit_dmd(X, n_delays=4, delay_interval=2, rank=6, solver="gram")
    np.testing.assert_allclose(np.sort_complex(b.eigenvalues_), np.sort_complex(a.eigenvalues_), atol=1e-9)
    assert b.residual_ == pytest.approx(a.residual_, rel=1e-9)
    S = np.diag(np.sign(np.sum(a.modes_ * b.modes_, axis=0)))  # the coordinates' sign flips
    np.testing.assert_allclose(S @ b.A_ @ S, a.A_, atol=1e-9)
    np.testing.assert_allclose(b.singular_values_[:6], a.singular_values_[:6], rtol=1e-10)
    # not tall enough to gain, no fixed rank, or reduced-rank regression: the SVD itself
    short = X[:2, :8]
    assert np.array_equal(fit_dmd(short, n_delays=3, rank=2, solver="gram").A_, fit_dmd(short, n_delays=3, rank=2).A_)
    assert np.array_equal(fit_dmd(X, n_delays=2, solver="gram").A_, fit_dmd(X, n_delays=2).A_)
    with pytest.raises(InputError, match="solver"):
        fit_dmd(X, rank=2, solver="qr")


def test_dmd_ridge_shrinks():
    _, X = _linear_system(noise=0.1)
    a = fit_dmd(X, rank=5, ridge=0.0)
    b = fit_dmd(X, rank=5, ridge=10.0)
    assert np.max(np.abs(b.eigenvalues_)) < np.max(np.abs(a.eigenvalues_))


# ---------------------------------------------------------------- similarity transform distance


@pytest.mark.parametrize("det", [1, -1])
@pytest.mark.parametrize("n", [3, 8, 12])
def test_orthogonally_similar_operators_are_at_zero(n, det):
    rng = np.random.default_rng(n)
    A = rng.standard_normal((n, n))
    Q = _orth(n, n + 1, det)
    info = similarity_transform_distance(A, Q @ A @ Q.T, return_info=True)
    assert info.distance <= 1e-6
    assert info.grad_norm <= 1e-8
    assert info.certificate == "bound" and info.converged  # f meets the closed-form bound: the global max
    # the returned C maps back
    B = Q @ A @ Q.T
    An, Bn = A / np.linalg.norm(A), B / np.linalg.norm(B)
    np.testing.assert_allclose(info.C @ Bn @ info.C.T, An, atol=1e-6)


def test_distance_symmetric_and_bounded():
    rng = np.random.default_rng(5)
    A, B = rng.standard_normal((2, 6, 6))
    dab = similarity_transform_distance(A, B)
    dba = similarity_transform_distance(B, A)
    assert abs(dab - dba) < 1e-12
    assert 0 < dab < np.pi
    e = similarity_transform_distance(A, B, metric="euclidean")
    assert abs(2 * np.arcsin(e / 2) - dab) < 1e-10
    assert similarity_transform_distance(A, A) < 1e-7
    assert similarity_transform_distance(A, 3.0 * A) < 1e-7  # scale invariant


def test_symmetric_operators_closed_form():
    # for symmetric A, B: max_C tr(A C B Cᵀ) = Σ λ↓(A) λ↓(B) (von Neumann / Fan trace inequality)
    rng = np.random.default_rng(11)
    for n in (4, 7):
        X, Y = rng.standard_normal((2, n, n))
        A, B = X + X.T, Y + Y.T
        la, lb = np.sort(np.linalg.eigvalsh(A)), np.sort(np.linalg.eigvalsh(B))
        expected = np.arccos(la @ lb / (np.linalg.norm(A) * np.linalg.norm(B)))
        assert similarity_transform_distance(A, B) == pytest.approx(expected, abs=1e-7)


def test_global_optimum_matches_many_random_starts():
    rng = np.random.default_rng(7)
    pairs = [tuple(rng.standard_normal((2, 6, 6))) for _ in range(4)]
    ours = [i.distance for i in similarity_transform_distances(pairs)]
    many = [i.distance for i in similarity_transform_distances(pairs, n_random=64, seed=3)]
    np.testing.assert_allclose(ours, many, atol=1e-7)


def test_first_order_path_for_large_dim_converges():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((30, 30))
    Q = _orth(30, 4, -1)
    info = similarity_transform_distances([(A, Q @ A @ Q.T)], newton_max_dim=10, max_iter=3000)[0]
    assert info.distance < 1e-3


def test_eig_wasserstein_known_values():
    assert eig_wasserstein(np.array([1.0, 2.0]), np.array([2.0, 1.0])) == pytest.approx(0.0)
    assert eig_wasserstein(np.array([0.0, 0.0]), np.array([1.0, 1.0j])) == pytest.approx(1.0)
    # zero padding of the smaller set, W2
    assert eig_wasserstein(np.array([3.0]), np.array([3.0, 4.0])) == pytest.approx(np.sqrt((1 + 9) / 2))
    A = np.diag([0.5, 0.9])
    assert eig_wasserstein(A, np.diag([0.9, 0.5])) == pytest.approx(0.0)


# ---------------------------------------------------------------- DSA


@pytest.mark.parametrize("det", [1, -1])
def test_dsa_invariant_to_orthogonal_maps(det):
    _, X = _linear_system(seed=2, n=6)
    Q = _orth(6, 9, det)
    for score in ("angular", "euclidean", "wasserstein"):
        assert dsa(X, X @ Q, n_delays=3, rank=8, metric=score) <= 1e-3
    assert dsa(X, X @ Q, n_delays=3, rank=8) <= 1e-6


def test_dsa_zero_on_identical_and_symmetric():
    _, X = _linear_system(seed=2, n=4)
    _, Y = _linear_system(seed=3, n=4)
    assert dsa(X, X, n_delays=2, rank=6) < 1e-7
    assert abs(dsa(X, Y, n_delays=2, rank=6) - dsa(Y, X, n_delays=2, rank=6)) < 1e-7


def test_dsa_matrix_modes_and_certificate():
    systems = [
        tc.attractor(k, n_trials=8, n_steps=40, seed=i) for i, k in enumerate(["ring", "line", "point"])
    ]
    R = dsa_matrix(systems, n_delays=5, rank=4)
    D = R.distances
    assert D.shape == (3, 3) and np.allclose(D, D.T) and np.all(np.diag(D) == 0)
    assert np.nanmax(R.grad_norm[~np.eye(3, dtype=bool)]) < 1e-6
    B = dsa_matrix(systems[:1], systems[1:], n_delays=5, rank=4)
    np.testing.assert_allclose(B.distances, D[:1, 1:], atol=1e-8)
    W = dsa_matrix(systems, n_delays=5, rank=4, metric="wasserstein")
    assert W.distances.shape == (3, 3)
    assert "DSA" in R.summary() and R.plot() is not None and R.to_dict()["distances"][0][0] == 0


def test_attractor_types_farther_than_within_type():
    from repscope.dynamics.evaluate import group_ratio, nn_accuracy

    # (ring and line attractors share their linearisation — one neutral, one decaying direction — so the
    # linear-operator comparison separates them only weakly; they are compared in the benchmark instead)
    ss = tc.attractors(("line", "point", "limit_cycle"), n_per_kind=2, n_trials=12, n_steps=50, seed=0)
    R = dsa_matrix(ss.systems, n_delays=10, rank=4)
    D = R.distances
    assert group_ratio(D, ss.groups) > 2 and nn_accuracy(D, ss.groups) == 1.0
    g = np.asarray(ss.groups)
    # every system is closer to each same-type system than to any point attractor when it is a limit cycle
    lc = g == "limit_cycle"
    assert D[np.ix_(lc, lc)].max() < D[np.ix_(lc, ~lc)].min()
