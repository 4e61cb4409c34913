"""CKNNA and cycle-kNN (platonic-rep relatives of mutual k-NN) against dense written-out formulas."""

from __future__ import annotations

import numpy as np
import pytest

from repscope import metrics as M
from repscope.errors import InputError
from repscope.metrics.neighbors import cknna, cycle_knn, knn_indices, knn_table


def _pair(n=80, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 8))
    return X, X @ rng.standard_normal((8, 6)) + 0.8 * rng.standard_normal((n, 6))


def _dense_hsic1(K, L):
    n = K.shape[0]
    Kt, Lt = K.copy(), L.copy()
    np.fill_diagonal(Kt, 0)
    np.fill_diagonal(Lt, 0)
    return (
        np.sum(Kt * Lt.T) + Kt.sum() * Lt.sum() / ((n - 1) * (n - 2)) - 2 * np.sum(Kt @ Lt) / (n - 2)
    ) / (n * (n - 3))


def _dense_cknna(X, Y, k):
    """The reference algorithm written out densely (n×n masks), without its +1e-6."""
    def unit(A):
        return A / np.linalg.norm(A, axis=1, keepdims=True)

    K, L = unit(X) @ unit(X).T, unit(Y) @ unit(Y).T
    n = K.shape[0]

    def mask(S):
        S = S.copy()
        np.fill_diagonal(S, -np.inf)
        out = np.zeros_like(S)
        out[np.arange(n)[:, None], np.argsort(-S, axis=1)[:, :k]] = 1
        return out

    mk, ml = mask(K), mask(L)
    m = mk * ml
    return _dense_hsic1(m * K, m * L) / np.sqrt(_dense_hsic1(mk * K, mk * K) * _dense_hsic1(ml * L, ml * L))


@pytest.mark.parametrize("k", [2, 5, 15])
def test_cknna_equals_dense_formula(k):
    X, Y = _pair()
    assert cknna(X, Y, k=k) == pytest.approx(_dense_cknna(X, Y, k), abs=1e-12)
    assert cknna(X, 2.5 * X, k=k) == pytest.approx(1.0, abs=1e-12)


def test_cycle_knn_brute_force_and_registry():
    X, Y = _pair(n=60, seed=1)
    k = 4
    a, b = knn_indices(X, k), knn_indices(Y, k)
    ref = np.mean([any(i in a[j] for j in b[i]) for i in range(60)])
    assert cycle_knn(X, Y, k=k) == ref
    assert cycle_knn(X, Y, k=59) == 1.0  # every sample is everyone's neighbour
    Q = np.linalg.qr(np.random.default_rng(3).standard_normal((8, 8)))[0]
    assert cycle_knn(X, 3.0 * X @ Q, k=k) == cycle_knn(X, X, k=k)  # rotation and scale invariant
    for name in ("cknna", "cycle_knn"):
        assert name in M.available() and M.get(name).kind == "similarity"
    assert M.similarity(X, Y, "cknna", k=5) == cknna(X, Y, k=5)


def test_knn_table_blocks_and_errors():
    X, Y = _pair(n=50, seed=2)
    i1, v1 = knn_table(X, 5, block_rows=3)
    i2, v2 = knn_table(X, 5, block_bytes=1)  # one row per block
    assert np.array_equal(i1, i2) and np.allclose(v1, v2)
    Z = X / np.linalg.norm(X, axis=1, keepdims=True)
    assert np.allclose(v1, np.take_along_axis(Z @ Z.T, i1, axis=1))
    with pytest.raises(InputError, match="between 2"):
        cknna(X, Y, k=1)
    with pytest.raises(InputError, match="same samples"):
        cknna(X, Y[:40], k=3)
