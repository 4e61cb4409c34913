"""PH layer matrices, Mantel/Spearman comparison, PC-removal sensitivity."""

import json
import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from repscope.errors import InputError
from repscope.topology import (
    matrix_correlation,
    pc_removal_sensitivity,
    ph_layer_matrix,
    remove_principal_components,
)


def _circle(n, dim, radius, seed):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    X = np.zeros((n, dim))
    X[:, 0], X[:, 1] = radius * np.cos(t), radius * np.sin(t)
    Q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return X @ Q + 0.02 * rng.standard_normal((n, dim))


class FakeStore:
    """Duck-typed stand-in for repscope.store.ActivationStore (flat layers + per-sample shapes)."""

    def __init__(self, arrays):
        self._a = {k: v.reshape(len(v), -1) for k, v in arrays.items()}
        self._s = {k: v.shape[1:] for k, v in arrays.items()}
        self.layers = list(arrays)
        self.n_samples = len(next(iter(arrays.values())))

    def read(self, layer, rows=None):
        a = self._a[layer]
        return a if rows is None else a[np.asarray(rows)]

    def layer_shape(self, layer):
        return self._s[layer]


def _layers(n=80):
    rng = np.random.default_rng(0)
    circ = _circle(n, 6, 1.0, 0)
    return {
        "a_circle": circ,
        "b_rotated": circ @ np.linalg.qr(rng.standard_normal((6, 6)))[0],  # isometric copy
        "c_big_circle": _circle(n, 6, 3.0, 1),
        "d_blob": rng.standard_normal((n, 6)) * 0.5,
    }


def test_ph_layer_matrix_structure_and_known_answers():
    M = ph_layer_matrix(_layers(), cloud="flatten", n_samples=None)
    V = M.values
    assert V.shape == (4, 4)
    np.testing.assert_allclose(V, V.T)
    np.testing.assert_array_equal(np.diag(V), 0)
    assert V[0, 1] == pytest.approx(0.0, abs=1e-9)  # rotation does not change Rips diagrams
    assert V[0, 2] > 10 * max(V[0, 1], 1e-3)
    assert json.dumps(M.to_dict(), allow_nan=False)
    assert "a_circle" in M.summary() or "c_big_circle" in M.summary()
    assert M.plot().axes and M.plotly().data


def test_resampling_gives_sd_and_uses_same_rows_for_all_layers():
    M = ph_layer_matrix(_layers(), cloud="flatten", n_samples=50, resamples=3, seed=1)
    assert M.samples.shape == (3, 4, 4)
    np.testing.assert_allclose(M.values, M.samples.mean(axis=0))
    np.testing.assert_allclose(M.sd, M.samples.std(axis=0, ddof=1))
    # the rotated copy is still at distance 0 in every draw: both layers saw the same rows
    np.testing.assert_allclose(M.samples[:, 0, 1], 0.0, atol=1e-9)
    assert M.sd[0, 2] > 0


def test_store_top_l2_and_parallel_workers_match_serial():
    rng = np.random.default_rng(3)
    conv = rng.standard_normal((60, 5, 3, 3))
    store = FakeStore({"conv": conv, "fc": rng.standard_normal((60, 7)), "fc2": rng.standard_normal((60, 4))})
    serial = ph_layer_matrix(store, n_samples=40, seed=2, metric="bottleneck")
    par = ph_layer_matrix(store, n_samples=40, seed=2, metric="bottleneck", n_workers=2)
    np.testing.assert_allclose(serial.values, par.values)
    assert serial.diagrams["conv"].n_points == 40


def test_layer_matrix_bad_inputs():
    L = _layers(20)
    with pytest.raises(InputError, match="not in the mapping"):
        ph_layer_matrix(L, layers=["a_circle", "zzz"])
    with pytest.raises(InputError, match="resamples"):
        ph_layer_matrix(L, n_samples=None, resamples=2)
    with pytest.raises(InputError, match="metric"):
        ph_layer_matrix(L, metric="cosine")
    with pytest.raises(InputError, match="two layers"):
        ph_layer_matrix(L, layers=["a_circle"])


def _sym(rng, n):
    A = rng.uniform(size=(n, n))
    A = A + A.T
    np.fill_diagonal(A, 0)
    return A


def test_matrix_correlation_matches_scipy_and_exact_p():
    rng = np.random.default_rng(0)
    A = _sym(rng, 6)
    B = np.exp(A)  # monotone transform: Spearman r = 1
    np.fill_diagonal(B, 0)
    res = matrix_correlation(A, B)
    assert res.r == pytest.approx(1.0)
    assert res.exact and res.n_permutations == math.factorial(6)
    assert res.p_value == pytest.approx(1 / 720)  # only the identity reaches r = 1 for generic entries
    C = _sym(rng, 6)
    iu = np.triu_indices(6, 1)
    got = matrix_correlation(A, C, permutations=200, seed=1)
    assert got.r == pytest.approx(spearmanr(A[iu], C[iu]).statistic)
    assert not got.exact and got.n_permutations == 201
    assert 0 < got.p_value <= 1
    pear = matrix_correlation(A, C, method="pearson", alternative="two-sided")
    assert pear.r == pytest.approx(np.corrcoef(A[iu], C[iu])[0, 1])
    assert json.dumps(got.to_dict()) and "Mantel" in got.summary()


def test_matrix_correlation_null_is_calibrated():
    rng = np.random.default_rng(5)
    ps = [matrix_correlation(_sym(rng, 7), _sym(rng, 7), permutations=199, seed=i).p_value for i in range(40)]
    assert 0.3 < np.mean(ps) < 0.7  # uniform p-values under independence


def test_matrix_correlation_bad_inputs():
    with pytest.raises(InputError, match="square"):
        matrix_correlation(np.zeros((3, 4)), np.zeros((3, 4)))
    with pytest.raises(InputError, match="different sizes"):
        matrix_correlation(np.eye(3), np.eye(4))
    with pytest.raises(InputError, match="constant"):
        matrix_correlation(np.ones((4, 4)), _sym(np.random.default_rng(0), 4))


def test_remove_principal_components_and_sensitivity():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 6)) * np.array([5, 3, 1, 0.5, 0.2, 0.1])
    X2 = remove_principal_components(X, 2)
    s = np.linalg.svd(X2 - X2.mean(0), compute_uv=False)
    assert s[-2:].max() < 1e-9 * s[0] or np.sum(s > 1e-9 * s[0]) == 4  # rank drops by 2
    np.testing.assert_allclose(X2.mean(0), X.mean(0), atol=1e-12)

    def one_minus_cka(a, b):
        a, b = a - a.mean(0), b - b.mean(0)
        return 1 - np.linalg.norm(a.T @ b) ** 2 / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b))

    res = pc_removal_sensitivity(X, ks=(0, 1, 2, 3), others={"1 - linear CKA": one_minus_cka}, layer="toy")
    for v in res.distances.values():
        assert v[0] == pytest.approx(0.0, abs=1e-9)
        assert v[-1] > v[0]
    assert res.variance_removed[0] == 0 and res.variance_removed[-1] > 0.9
    assert res.monotonicity()["1 - linear CKA"] == pytest.approx(1.0)
    assert json.dumps(res.to_dict(), allow_nan=False) and res.plot().axes
    with pytest.raises(InputError, match="every k"):
        pc_removal_sensitivity(X, ks=(0, 6))
