"""Rank comparators (ρ_a, τ_b), the blocked condensed RDM and the packed-key ranking of issue 17."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from scipy.spatial.distance import pdist

from repscope.errors import InputError
from repscope.metrics._rsa import (
    compare_rdms,
    condensed_rdm,
    doubled_ranks,
    kendall_tau_b,
    rdm,
    rho_a,
    rsa,
    rsa_compare,
    rsa_prepare,
)


def _pair(n=30, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6))
    return X, X @ rng.standard_normal((6, 4)) + rng.standard_normal((n, 4))


@pytest.mark.parametrize(
    "v",
    [
        np.random.default_rng(1).integers(0, 40, 5001).astype(float),  # heavy ties
        np.r_[np.random.default_rng(2).standard_normal(300), -0.0, 0.0, 0.0, 1e-300, -1e-300, 5.0, 5.0],
        1.0 + 1e-12 * np.random.default_rng(3).random(4000),  # values sharing their high bits
        np.random.default_rng(4).random(7),
    ],
)
@pytest.mark.parametrize("chunk", [3, 1 << 20])
def test_doubled_ranks_equal_twice_scipy_rankdata(v, chunk):
    r = doubled_ranks(v, chunk=chunk)
    assert r.dtype == np.int32
    assert np.array_equal(r, 2 * scipy.stats.rankdata(v))


def test_rho_a_closed_form_and_relation_to_spearman():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal(200), rng.standard_normal(200)
    # no ties: ρ_a is Spearman's ρ
    assert rho_a(a, b) == pytest.approx(scipy.stats.spearmanr(a, b)[0], abs=1e-12)
    # ties: 12 Σ(r_a − r̄)(r_b − r̄)/(m³ − m) with average ranks, below Spearman
    c = np.round(a)
    ra, rb = scipy.stats.rankdata(c), scipy.stats.rankdata(b)
    m = c.size
    ref = 12 * np.sum((ra - ra.mean()) * (rb - rb.mean())) / (m**3 - m)
    assert rho_a(c, b) == pytest.approx(ref, abs=1e-12)
    assert abs(rho_a(c, b)) < abs(scipy.stats.spearmanr(c, b)[0])
    assert compare_rdms(c, b, "rho-a") == rho_a(c, b)  # rsatoolbox spelling


def test_tau_b_and_rsa_dispatch_match_vector_forms():
    X, Y = _pair()
    a, b = rdm(X), rdm(Y)
    assert kendall_tau_b(a, b) == pytest.approx(scipy.stats.kendalltau(a, b)[0], abs=1e-12)
    assert compare_rdms(a, b, "tau-b") == kendall_tau_b(a, b)
    assert rsa(X, Y, compare="kendall_tau_b") == pytest.approx(kendall_tau_b(a, b), abs=1e-12)
    assert rsa(X, Y, compare="rho_a") == pytest.approx(rho_a(a, b), abs=1e-12)
    assert rsa(X, Y) == pytest.approx(scipy.stats.spearmanr(a, b)[0], abs=1e-12)
    sa, sb = rsa_prepare(X), rsa_prepare(Y)
    assert sa["r2"].dtype == np.int32  # prepared state: 4 bytes per RDM entry
    assert rsa_compare(sa, sb) == pytest.approx(rsa(X, Y), abs=1e-15)
    with pytest.raises(InputError, match="compare"):
        compare_rdms(a, b, "cosine_cov")
    with pytest.raises(InputError, match="NaN"):
        rho_a(np.r_[a[:-1], np.nan], b)


@pytest.mark.parametrize("method", ["correlation", "cosine", "euclidean", "sqeuclidean"])
def test_blocked_condensed_rdm_equals_pdist(method):
    X, _ = _pair(n=57, seed=6)
    ref = pdist(X + 2.0, method)
    for block in (8 * 57, 8 * 57 * 5, 1 << 26):  # one row, five rows, everything per block
        assert np.allclose(condensed_rdm(X + 2.0, method, block_bytes=block), ref, atol=1e-10)
