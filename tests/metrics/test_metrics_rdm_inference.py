"""RDM results, model RDMs, bootstrap over stimuli, noise ceiling and crossnobis: closed forms,
brute-force expansions and simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from repscope.errors import InputError
from repscope.metrics._rdm import (
    RDM,
    crossnobis_rdm,
    model_rdm,
    noise_ceiling,
    rdm_of,
    resampled_compare,
    rsa_bootstrap,
)
from repscope.metrics._rsa import compare_rdms


def test_rdm_result_and_model_rdms():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 4))
    r = rdm_of(X, "euclidean", labels=list("abcdef"), name="layer1")
    assert np.allclose(r.matrix(), squareform(pdist(X)), atol=1e-12)
    assert r.compare(rdm_of(2 * X, "euclidean"), "pearson") == pytest.approx(1.0)
    assert r.to_dict()["labels"] == list("abcdef") and "6 conditions" in r.summary()
    assert r.plot().axes and len(r.plotly().data) == 1 and len(r.table()[1]) == 6
    order = [5, 4, 3, 2, 1, 0]
    img = r.plot(order=order).axes[0].images[0].get_array()
    assert np.allclose(img, r.matrix()[np.ix_(order, order)])  # drawn in the given order
    with pytest.raises(InputError, match="permutation"):
        r.plot(order=[0, 0, 1, 2, 3, 4])
    m = model_rdm(np.array(["cat", "dog", "cat", "car"]))
    assert np.array_equal(m.matrix(), np.array([[0, 1, 0, 1], [1, 0, 1, 1], [0, 1, 0, 1], [1, 1, 1, 0]]))
    assert np.array_equal(model_rdm([1.0, 4.0, 6.0]).vector, [3.0, 5.0, 2.0])
    assert np.array_equal(model_rdm([0, 1, 0], kind="categorical").vector, [1.0, 0.0, 1.0])
    with pytest.raises(InputError, match="constant"):
        model_rdm(["a", "a", "a"])
    with pytest.raises(InputError, match="needs 6"):
        RDM(np.ones(5), 4)


@pytest.mark.parametrize("method", ["pearson", "spearman", "rho_a", "cosine"])
def test_resampled_compare_equals_expanded_rdm_without_self_pairs(method):
    rng = np.random.default_rng(1)
    n = 9
    a = np.round(rng.random(n * (n - 1) // 2), 1)  # ties
    b = rng.random(n * (n - 1) // 2)
    A, B = squareform(a), squareform(b)
    for _ in range(5):
        s = np.sort(rng.integers(0, n, n))
        iu = np.triu_indices(n, 1)
        keep = s[iu[0]] != s[iu[1]]  # self-pairs of a duplicated condition are excluded
        va, vb = A[np.ix_(s, s)][iu][keep], B[np.ix_(s, s)][iu][keep]
        got = resampled_compare(a, b, np.bincount(s, minlength=n), method)
        assert got == pytest.approx(compare_rdms(va, vb, method), abs=1e-12)


def test_bootstrap_ci_contains_estimate_is_seeded_and_covers():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((25, 5))
    Y = X + 0.8 * rng.standard_normal((25, 5))
    bt = rsa_bootstrap(X, Y, n_boot=300, seed=3)
    assert bt.low < bt.estimate < bt.high and 0 < bt.se < 0.3
    assert np.array_equal(bt.samples, rsa_bootstrap(X, Y, n_boot=300, seed=3).samples)
    assert bt.to_dict()["n_boot"] == 300 and "bootstrap CI" in bt.summary() and bt.plot().axes
    m = model_rdm(np.repeat([0, 1, 2, 3, 4], 5), kind="categorical")
    assert np.isfinite(rsa_bootstrap(X, m, compare="rho_a", n_boot=50).samples).all()
    with pytest.raises(InputError, match="n_boot"):
        rsa_bootstrap(X, Y, n_boot=3)
    with pytest.raises(InputError, match="compare"):
        rsa_bootstrap(X, Y, compare="kendall_tau_a")


def test_bootstrap_interval_covers_population_value_in_simulation():
    """Pearson RSA between a fixed 'true' RDM and noisy samples of stimuli: 90% intervals cover the
    value on the full stimulus population in roughly 90% of repetitions (loose bounds: 40 repetitions)."""
    rng = np.random.default_rng(4)
    N = 400
    P = rng.standard_normal((N, 3))
    Pn = P + 1.0 * rng.standard_normal((N, 3))
    pop = compare_rdms(pdist(P), pdist(Pn), "pearson")
    hits = 0
    for _ in range(40):
        idx = rng.choice(N, 30, replace=False)
        bt = rsa_bootstrap(pdist(P[idx]), pdist(Pn[idx]), compare="pearson", n_boot=200, ci=0.9,
                           seed=int(rng.integers(1 << 30)))
        hits += bt.low <= pop <= bt.high
    assert 28 <= hits <= 40


def test_noise_ceiling_bounds():
    rng = np.random.default_rng(5)
    base = rng.standard_normal((15, 6))
    data = base[:, None] + 0.5 * rng.standard_normal((15, 4, 6))
    nc = noise_ceiling(data, compare="pearson")
    assert nc.lower <= nc.upper <= 1.0 and nc.lower > 0.3
    same = np.repeat(base[:, None], 3, axis=1)  # identical repeats: ceiling at 1
    nc1 = noise_ceiling(same)
    assert nc1.lower == pytest.approx(1.0) and nc1.upper == pytest.approx(1.0)
    assert "Noise ceiling" in nc.summary() and nc.plot().axes and len(nc.table()[1]) == 4
    with pytest.raises(InputError, match="≥ 2"):
        noise_ceiling(data[:, :1])


def test_crossnobis_is_unbiased_and_matches_explicit_folds():
    rng = np.random.default_rng(6)
    n, R, d = 5, 3, 4
    X = rng.standard_normal((n, R, d))
    ref = np.zeros(n * (n - 1) // 2)
    for k in range(R):
        A = np.delete(X, k, axis=1).mean(axis=1)
        B = X[:, k]
        ref += np.array([(A[i] - A[j]) @ (B[i] - B[j]) for i in range(n) for j in range(i + 1, n)])
    assert np.allclose(crossnobis_rdm(X).vector, ref / (R * d), atol=1e-12)
    # same condition means, pure noise: the cross-validated distances average to ≈ 0 (Euclidean would not)
    noise = rng.standard_normal((30, 6, 20))
    assert abs(crossnobis_rdm(noise).vector.mean()) < 0.02
    assert pdist(noise.mean(axis=1), "sqeuclidean").mean() / 20 > 0.3
