"""Procrustes / generalised shape metrics, CCA family, linear regression."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group

from repscope.errors import InputError
from repscope.metrics import (
    ShapeMetric,
    canonical_correlations,
    cca,
    linear_regression,
    procrustes,
    pwcca,
    shape_distance,
    svcca,
)


def _pair(n=100, p=8, q=6, seed=0, noise=1.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Y = X @ rng.standard_normal((p, q)) + noise * rng.standard_normal((n, q))
    return X, Y


def test_procrustes_known_answers_and_invariances():
    X, Y = _pair()
    Q = ortho_group.rvs(6, random_state=2)
    assert procrustes(X, X) == pytest.approx(0.0, abs=1e-7)
    assert procrustes(X[:, :6], 2.5 * X[:, :6] @ Q + 1.0) == pytest.approx(0.0, abs=1e-7)
    v = procrustes(X, Y)
    assert procrustes(Y, X) == pytest.approx(v, abs=1e-12)
    assert procrustes(3 * X, Y @ Q) == pytest.approx(v, abs=1e-12)
    perm = np.random.default_rng(1).permutation(100)
    assert procrustes(X[perm], Y[perm]) == pytest.approx(v, abs=1e-12)
    # one-dimensional closed form: θ = arccos(|corr|)
    x, y = X[:, :1], Y[:, :1]
    r = abs(np.corrcoef(x[:, 0], y[:, 0])[0, 1])
    assert procrustes(x, y) == pytest.approx(np.arccos(r), abs=1e-12)
    assert 0 <= v <= np.pi / 2


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), p=st.integers(1, 4), q=st.integers(1, 4), r=st.integers(1, 4))
def test_procrustes_triangle_inequality(seed, p, q, r):
    rng = np.random.default_rng(seed)
    X, Y, Z = (rng.standard_normal((8, d)) for d in (p, q, r))
    assert procrustes(X, Z) <= procrustes(X, Y) + procrustes(Y, Z) + 1e-9


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("score_method", ["angular", "euclidean"])
def test_shape_metric_estimator_equals_closed_form(alpha, score_method):
    X, Y = _pair(p=7, q=5, seed=3)
    est = ShapeMetric(alpha=alpha, score_method=score_method).fit_score(X, Y)
    assert shape_distance(X, Y, alpha=alpha, score_method=score_method) == pytest.approx(
        est, rel=1e-9, abs=1e-9
    )


def test_shape_metric_alpha_limits():
    X, Y = _pair(p=6, q=6, seed=4)
    assert shape_distance(X, Y, alpha=1.0) == pytest.approx(procrustes(X, Y), abs=1e-12)
    # α = 0, equal full-rank dims: arccos(mean canonical correlation) (Williams et al. 2021)
    assert shape_distance(X, Y, alpha=0.0) == pytest.approx(np.arccos(cca(X, Y)), abs=1e-7)
    m = ShapeMetric(alpha=0.5).fit(X, Y)
    assert m.Wx_.shape == (6, 6) and m.mx_.shape == (6,)
    with pytest.raises(InputError, match="alpha"):
        ShapeMetric(alpha=1.5)
    with pytest.raises(InputError, match="zero_pad"):
        ShapeMetric(zero_pad=False).fit(X, Y[:, :3])


def _qr_canonical(X, Y):
    Qx, _ = np.linalg.qr(X - X.mean(0))
    Qy, _ = np.linalg.qr(Y - Y.mean(0))
    return np.linalg.svd(Qx.T @ Qy, compute_uv=False)


def test_cca_matches_qr_formula_and_summaries():
    X, Y = _pair(p=6, q=4, seed=5)
    rho = _qr_canonical(X, Y)
    assert np.allclose(canonical_correlations(X, Y), rho, atol=1e-10)
    assert cca(X, Y) == pytest.approx(rho.mean(), abs=1e-10)
    assert cca(X, Y, summary="mean_sq") == pytest.approx(np.sum(rho**2) / 4, abs=1e-10)
    assert cca(X, Y, summary="yanai") == pytest.approx(np.sum(rho**2) / np.sqrt(24), abs=1e-10)
    assert cca(X, Y, summary="pillai") == pytest.approx(np.sum(rho**2), abs=1e-10)
    # subspace: Y = first 3 columns of X -> three unit correlations
    assert cca(X, X[:, :3], summary="pillai") == pytest.approx(3.0, abs=1e-9)


def test_cca_invariant_to_invertible_linear_maps():
    X, Y = _pair(p=5, q=5, seed=6)
    rng = np.random.default_rng(7)
    A, B = rng.standard_normal((5, 5)), rng.standard_normal((5, 5))
    assert cca(X @ A + 3, Y @ B) == pytest.approx(cca(X, Y), abs=1e-9)
    assert cca(X, X @ A) == pytest.approx(1.0, abs=1e-9)


def test_svcca_keeps_components_by_cumulative_squared_singular_values():
    """Keep the fewest PCs whose s² reach 99% (not |s|, not threshold × total variance — peer bugs)."""
    rng = np.random.default_rng(8)
    n = 400
    G = rng.standard_normal((n, 6))
    U = np.linalg.qr(G - G.mean(0))[0]  # orthonormal columns, each orthogonal to 1 (already centred)
    s = np.array([10.0, 3.0, 1.0, 0.3, 0.1, 0.03])  # cumulative s²: .908 .990 -> 2 PCs; cumulative |s|: 4
    X = U @ np.diag(s) @ ortho_group.rvs(6, random_state=1)
    Y = X @ rng.standard_normal((6, 6)) + 0.5 * rng.standard_normal((n, 6))
    k_s2 = int(np.searchsorted(np.cumsum(s**2) / np.sum(s**2), 0.99) + 1)
    k_abs = int(np.searchsorted(np.cumsum(s) / np.sum(s), 0.99) + 1)
    assert (k_s2, k_abs) == (2, 4)

    def pca(A, k):
        Ac = A - A.mean(0)
        u, sv, _ = np.linalg.svd(Ac, full_matrices=False)
        return u[:, :k] * sv[:k]

    sy = np.linalg.svd(Y - Y.mean(0), compute_uv=False)
    ky = int(np.searchsorted(np.cumsum(sy**2) / np.sum(sy**2), 0.99 - 1e-12) + 1)
    ref = _qr_canonical(pca(X, k_s2), pca(Y, ky)).mean()
    assert svcca(X, Y) == pytest.approx(ref, abs=1e-9)
    wrong = _qr_canonical(pca(X, 1), pca(Y, 1)).mean()  # ReSi's threshold bug keeps 1 PC
    assert abs(svcca(X, Y) - wrong) > 1e-3
    assert svcca(X, Y, n_components=2) == pytest.approx(_qr_canonical(pca(X, 2), pca(Y, 2)).mean(), abs=1e-9)


def test_pwcca_weights_come_from_canonical_variates():
    X, Y = _pair(n=200, p=4, q=6, seed=9, noise=2.0)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Qx, Rx = np.linalg.qr(Xc)
    Qy, _ = np.linalg.qr(Yc)
    U, rho, _ = np.linalg.svd(Qx.T @ Qy)
    H = Qx @ U  # unit-norm canonical variates of X (the narrower side)
    alpha = np.abs(H.T @ Xc).sum(axis=1)
    ref = np.sum(alpha * rho) / alpha.sum()
    assert pwcca(X, Y) == pytest.approx(ref, abs=1e-9)
    coef = np.linalg.solve(Rx, U)  # coefficient vectors (anatome-style weights use these instead)
    coef_q = np.linalg.qr(coef)[0]
    alpha_bad = np.abs(coef_q).sum(axis=0)
    assert abs(np.sum(alpha_bad * rho) / alpha_bad.sum() - ref) > 1e-4
    assert pwcca(X, X) == pytest.approx(1.0, abs=1e-9)


def test_linear_regression_matches_sklearn():
    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.metrics import r2_score

    X, Y = _pair(p=6, q=4, seed=10)
    pred = LinearRegression().fit(X, Y).predict(X)
    r_xy = r2_score(Y, pred, multioutput="variance_weighted")
    assert linear_regression(X, Y, direction="x_to_y") == pytest.approx(r_xy, abs=1e-10)
    pred_b = LinearRegression().fit(Y, X).predict(Y)
    r_yx = r2_score(X, pred_b, multioutput="variance_weighted")
    assert linear_regression(X, Y) == pytest.approx(0.5 * (r_xy + r_yx), abs=1e-10)
    lam = 0.1 * np.trace((X - X.mean(0)).T @ (X - X.mean(0))) / 6
    pred_r = Ridge(alpha=lam).fit(X, Y).predict(X)
    assert linear_regression(X, Y, ridge=0.1, direction="x_to_y") == pytest.approx(
        r2_score(Y, pred_r, multioutput="variance_weighted"), abs=1e-9
    )
    with pytest.raises(InputError, match="direction"):
        linear_regression(X, Y, direction="sideways")


def test_euclidean_shape_distance_scales_with_the_data_over_the_whole_float_range():
    """d(cX, cY) = c·d(X, Y) for the Euclidean form (a distance in data units), also where the inputs must be
    rescaled to avoid overflow/underflow: one common power of two, never one per input."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((40, 6))
    Y = X @ rng.standard_normal((6, 5)) + 0.5 * rng.standard_normal((40, 5))
    d = shape_distance(X, Y, score_method="euclidean")
    assert d > 1.0
    for c in (2.0**60, 2.0**-60, 1e300 / 8, 1e-150):
        assert shape_distance(X * c, Y * c, score_method="euclidean") == pytest.approx(c * d, rel=1e-9)
