"""Permutation and stochastic shape metrics, MDS embedding and Fréchet mean: closed forms, invariances
and brute force (agreement with netrep itself is in test_metrics_peer_fixtures.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import ortho_group

from repscope import metrics as M
from repscope.errors import InputError
from repscope.metrics.embedding import classical_mds, frechet_mean, network_embedding
from repscope.metrics.permutation import permutation_distance
from repscope.metrics.shape import procrustes
from repscope.metrics.stochastic import (
    energy_shape_distance,
    gaussian_moments,
    gaussian_shape_distance,
    stochastic_fit,
)


def test_permutation_brute_force_and_invariance():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4))
    Y = X @ rng.standard_normal((4, 4)) + rng.standard_normal((40, 4))
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    best = max(np.sum(Xc * Yc[:, list(p)]) for p in itertools.permutations(range(4)))
    ref = np.arccos(best / (np.linalg.norm(Xc) * np.linalg.norm(Yc)))
    assert permutation_distance(X, Y) == pytest.approx(ref, abs=1e-12)
    eu = np.sqrt(np.sum(Xc**2) + np.sum(Yc**2) - 2 * best)
    assert permutation_distance(X, Y, score_method="euclidean") == pytest.approx(eu, abs=1e-10)
    assert permutation_distance(X, 3 * X[:, [2, 0, 3, 1]] + 5) == pytest.approx(0.0, abs=1e-7)
    assert permutation_distance(X, Y) >= procrustes(X, Y) - 1e-12  # permutations ⊂ rotations
    Q = ortho_group.rvs(4, random_state=1)
    assert permutation_distance(X, X @ Q) > 0.1  # not rotation invariant
    assert M.similarity(X, Y, "permutation") == permutation_distance(X, Y)


def _noisy(n=8, r=30, d=3, seed=0, scale=0.3):
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal((n, 1, d))
    return mu + scale * rng.standard_normal((n, r, d)), rng


def test_gaussian_shape_closed_forms():
    X, rng = _noisy()
    Q = ortho_group.rvs(3, random_state=2)
    mx, cx = gaussian_moments(X)
    # exactly rotated Gaussians → distance 0 at every alpha
    for a in (0.0, 1.0, 2.0):
        assert gaussian_shape_distance((mx, cx), (mx @ Q, Q.T @ cx @ Q), alpha=a) == pytest.approx(0, abs=1e-6)
    # identity group, isotropic covariances: W2² = ‖μx − μy‖² + d(σx − σy)² per condition
    my = rng.standard_normal(mx.shape)
    I3 = np.broadcast_to(np.eye(3), cx.shape)
    ref = np.sqrt(np.mean(np.sum((mx - my) ** 2, 1) + 3 * (2.0 - 0.5) ** 2))
    got = gaussian_shape_distance((mx, 4.0 * I3), (my, 0.25 * I3), group="identity")
    assert got == pytest.approx(ref, abs=1e-12)
    # alpha = 2: √2 × the Euclidean Procrustes distance of the means (RMS over conditions)
    U, s, Vt = np.linalg.svd(my.T @ mx)
    proc = np.sum(mx**2) + np.sum(my**2) - 2 * s.sum()
    assert gaussian_shape_distance((mx, cx), (my, cx), alpha=2.0) == pytest.approx(np.sqrt(2 * proc / 8), abs=1e-9)
    # the moments from repeats: mean and unbiased covariance
    assert np.allclose(cx[0], np.cov(X[0].T))


def test_gaussian_fit_monotone_and_triangle_inequality():
    A, _ = _noisy(seed=1)
    B, _ = _noisy(seed=2)
    C, _ = _noisy(seed=3)
    fit = stochastic_fit(A, B)
    assert np.all(np.diff(fit.loss) <= 1e-10) and fit.converged
    dab, dbc, dac = (gaussian_shape_distance(p, q) for p, q in ((A, B), (B, C), (A, C)))
    assert dac <= dab + dbc + 1e-8
    assert gaussian_shape_distance(A, B) == pytest.approx(gaussian_shape_distance(B, A), abs=1e-6)
    # a 2-D array is a deterministic network (zero covariance): α = 1 gives the RMS Procrustes residual
    X2, Y2 = A[:, 0], B[:, 0]
    nuc = np.linalg.svd(X2.T @ Y2, compute_uv=False).sum()
    ref = np.sqrt((np.sum(X2**2) + np.sum(Y2**2) - 2 * nuc) / X2.shape[0])
    assert gaussian_shape_distance(X2, Y2) == pytest.approx(ref, abs=1e-9)
    with pytest.raises(InputError, match="n_repeats"):
        gaussian_shape_distance(A[:, 0, 0], B[:, 0, 0])
    with pytest.raises(InputError, match="alpha"):
        gaussian_shape_distance(A, B, alpha=3)


def test_energy_shape_zero_for_rotated_copy_and_positive_otherwise():
    X, rng = _noisy(r=12)
    Q = ortho_group.rvs(3, random_state=4)
    assert energy_shape_distance(X, X @ Q) == pytest.approx(0.0, abs=1e-6)
    Y = X.mean(1, keepdims=True) @ Q + 1.5 * rng.standard_normal(X.shape)  # same means, more noise
    fit = stochastic_fit(X, Y, metric="energy_shape")
    assert fit.distance > 0.1 and np.all(np.diff(fit.loss) <= 1e-10)
    assert "energy_shape" in M.available() and M.get("energy_shape").kind == "distance"
    assert fit.to_dict()["metric"] == "energy_shape" and "iterations" in fit.summary()


def test_classical_mds_recovers_euclidean_points():
    rng = np.random.default_rng(5)
    P = rng.standard_normal((7, 2))
    D = np.linalg.norm(P[:, None] - P[None], axis=-1)
    coords, lam = classical_mds(D, 2)
    assert np.allclose(np.linalg.norm(coords[:, None] - coords[None], axis=-1), D, atol=1e-10)
    assert np.all(lam[2:] > -1e-10) and np.allclose(lam[2:], 0, atol=1e-10)
    with pytest.raises(InputError, match="symmetric"):
        classical_mds(D + np.triu(np.ones_like(D)), 2)


def test_network_embedding_and_frechet_mean():
    rng = np.random.default_rng(6)
    base = rng.standard_normal((50, 5))
    nets = {f"n{i}": (base + 0.05 * i * rng.standard_normal((50, 5))) @ ortho_group.rvs(5, random_state=i)
            for i in range(5)}
    emb = network_embedding(nets, "procrustes")
    assert emb.distances.shape == (5, 5) and np.allclose(emb.distances, emb.distances.T)
    assert emb.distances[0, 1] == pytest.approx(procrustes(nets["n0"], nets["n1"]), abs=1e-12)
    assert emb.names == list(nets) and "networks compared by procrustes" in emb.summary()
    assert emb.plot().axes and len(emb.plotly().data) == 1 and emb.to_dict()["coords"]
    with pytest.raises(InputError, match="similarity"):
        network_embedding(nets, "linear_cka")
    fm = frechet_mean(nets)
    assert fm.converged and fm.changes[-1] <= 1e-8 and len(fm.table()[1]) == 5
    # the mean beats every single network as a centre (it minimises the sum of squared distances)
    Xs = [x - x.mean(0) for x in nets.values()]
    for c in Xs:
        obj = 0.0
        for x in Xs:
            U, s, Vt = np.linalg.svd(x.T @ c)
            obj += np.sum((x @ U @ Vt - c) ** 2)
        assert fm.objective <= obj + 1e-9
    # rotated exact copies: the mean is the common shape, every distance 0
    same = [base @ ortho_group.rvs(5, random_state=10 + i) for i in range(3)]
    assert np.allclose(frechet_mean(same).sq_distances, 0, atol=1e-12)


def test_stochastic_metrics_with_permutation_group():
    X, rng = _noisy(d=4, seed=7)
    P = np.eye(4)[[2, 0, 3, 1]]
    assert gaussian_shape_distance(X, X @ P, group="perm") == pytest.approx(0.0, abs=1e-7)
    assert energy_shape_distance(X, X @ P, group="perm") == pytest.approx(0.0, abs=1e-7)
    Q = ortho_group.rvs(4, random_state=8)
    # a generic rotation is not a relabelling: only the orthogonal group removes it
    assert gaussian_shape_distance(X, X @ Q, group="perm") > 0.05
    assert gaussian_shape_distance(X, X @ Q, group="orth") == pytest.approx(0.0, abs=1e-6)


def test_registered_stochastic_measures_scale_with_the_data():
    """gaussian_shape is in the data's units (degree 1), energy_shape in their square root (d_E² is a mean
    of distances); both exact at extreme scales, and 2-D arrays are deterministic networks."""
    X, rng = _noisy(seed=9)
    Y = X @ ortho_group.rvs(3, random_state=10) * 1.3 + 0.4 * rng.standard_normal(X.shape)
    for name, degree in (("gaussian_shape", 1.0), ("energy_shape", 0.5)):
        unit = M.similarity(X, Y, name)
        assert unit > 0.05
        for c in (2.0**10, 2.0**-300, 2.0**500):
            assert M.similarity(c * X, c * Y, name) == pytest.approx(unit * c**degree, rel=1e-9), (name, c)
        assert M.similarity(X[:, 0], Y[:, 0], name) >= 0.0
    d = permutation_distance(X[:, 0], Y[:, 0], score_method="euclidean")
    assert permutation_distance(2.0**300 * X[:, 0], 2.0**300 * Y[:, 0], score_method="euclidean") == d * 2.0**300
