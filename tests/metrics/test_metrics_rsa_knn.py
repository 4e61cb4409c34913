"""RSA and nearest-neighbour measures against direct reference computations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.stats
from scipy.spatial.distance import pdist
from scipy.stats import ortho_group

from repscope.errors import InputError
from repscope.metrics import jaccard_knn, mutual_knn, rdm, rsa
from repscope.metrics._rsa import compare_rdms, kendall_tau_a
from repscope.metrics.neighbors import knn_indices


def _pair(n=40, p=6, q=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    return X, X @ rng.standard_normal((p, q)) + rng.standard_normal((n, q))


@pytest.mark.parametrize("method", ["correlation", "cosine", "euclidean", "sqeuclidean"])
def test_rdm_matches_scipy_pdist(method):
    X, _ = _pair()
    assert np.allclose(rdm(X + 3.0, method), pdist(X + 3.0, method), atol=1e-10)


def test_comparators_match_scipy():
    X, Y = _pair(seed=1)
    a, b = rdm(X), rdm(Y)
    assert compare_rdms(a, b, "pearson") == pytest.approx(scipy.stats.pearsonr(a, b)[0], abs=1e-12)
    assert compare_rdms(a, b, "spearman") == pytest.approx(scipy.stats.spearmanr(a, b)[0], abs=1e-12)
    assert rsa(X, Y) == pytest.approx(scipy.stats.spearmanr(a, b)[0], abs=1e-12)
    assert rsa(X, Y, compare="pearson") == pytest.approx(scipy.stats.pearsonr(a, b)[0], abs=1e-12)


def test_kendall_tau_a_brute_force_with_ties():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 5, 40).astype(float)
    b = a + rng.integers(0, 3, 40)
    s = 0.0
    for i, j in itertools.combinations(range(40), 2):
        s += np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])
    ref = s / (40 * 39 / 2)
    assert kendall_tau_a(a, b) == pytest.approx(ref, abs=1e-12)
    assert kendall_tau_a(a, b) < scipy.stats.kendalltau(a, b).statistic  # τ_a ≤ τ_b with ties
    X, Y = _pair(n=15, seed=3)
    assert rsa(X, Y, compare="kendall_tau_a") == pytest.approx(kendall_tau_a(rdm(X), rdm(Y)), abs=1e-12)


def test_whitened_cosine_equals_rdm_covariance_weighting():
    """rsatoolbox's cosine_cov for i.i.d. noise: cosine in the metric V⁻¹, V = (CCᵀ)∘(CCᵀ)."""
    X, Y = _pair(n=7, seed=4)
    a, b = rdm(X, "sqeuclidean"), rdm(Y, "sqeuclidean")
    pairs = list(itertools.combinations(range(7), 2))
    C = np.zeros((len(pairs), 7))
    for k, (i, j) in enumerate(pairs):
        C[k, i], C[k, j] = 1.0, -1.0
    V = (C @ C.T) ** 2
    Vi = np.linalg.inv(V)
    ref = a @ Vi @ b / np.sqrt((a @ Vi @ a) * (b @ Vi @ b))
    assert rsa(X, Y, rdm="sqeuclidean", compare="cosine_cov") == pytest.approx(ref, abs=1e-9)
    ac, bc = a - a.mean(), b - b.mean()
    ref_c = ac @ Vi @ bc / np.sqrt((ac @ Vi @ ac) * (bc @ Vi @ bc))
    assert rsa(X, Y, rdm="sqeuclidean", compare="corr_cov") == pytest.approx(ref_c, abs=1e-9)


def test_rsa_invariances():
    X, _ = _pair(seed=5)
    Q = ortho_group.rvs(6, random_state=0)
    assert rsa(X, 2 * X @ Q + 1, rdm="euclidean", compare="pearson") == pytest.approx(1.0, abs=1e-12)
    assert rsa(X, 3 * X) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(InputError, match="compare"):
        rsa(X, X, compare="nope")


def _brute_knn(A, k):
    Z = A / np.linalg.norm(A, axis=1, keepdims=True)
    S = Z @ Z.T
    np.fill_diagonal(S, -np.inf)
    return np.argsort(-S, axis=1)[:, :k]


def test_mutual_knn_and_jaccard_against_brute_force():
    X, Y = _pair(n=60, seed=6)
    k = 5
    a, b = _brute_knn(X, k), _brute_knn(Y, k)
    assert np.array_equal(np.sort(knn_indices(X, k, block_rows=7), 1), np.sort(a, 1))
    inter = np.array([len(set(a[i]) & set(b[i])) for i in range(60)])
    assert mutual_knn(X, Y, k=k) == pytest.approx(np.mean(inter / k), abs=1e-12)
    assert jaccard_knn(X, Y, k=k) == pytest.approx(np.mean(inter / (2 * k - inter)), abs=1e-12)
    assert mutual_knn(X, 4.0 * X, k=k) == 1.0  # rows are L2-normalised
    with pytest.raises(InputError, match="neighbours"):
        mutual_knn(X, Y, k=60)
