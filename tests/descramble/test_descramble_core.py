import json
import warnings

import numpy as np
import pytest
from _descramble_fakes import FakeStore

from repscope.descramble import (
    Descrambler,
    DescrambleWarning,
    brockett_bound,
    brockett_cost,
    brockett_descent,
    descramble,
    descrambler,
    first_difference,
    minimize_orthogonal,
    random_orthogonal,
    second_moment_from_store,
)
from repscope.errors import InputError
from repscope.results import dumps


def _layer(n=20, m=30, ns=500, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n, m))
    return W, W @ rng.standard_normal((m, ns))


@pytest.mark.parametrize("operator", ["first_difference", "periodic_second_derivative", "circular_difference",
                                      "custom"])
@pytest.mark.parametrize("seed", [0, 1])
def test_closed_form_hits_brockett_bound(operator, seed):
    _, S = _layer(seed=seed)
    if operator == "custom":
        operator = np.random.default_rng(seed).standard_normal((15, 20))
    d = Descrambler(operator).fit(S)
    A = S @ S.T / S.shape[1]
    bound = brockett_bound(A, d.operator_.N)
    assert abs(d.cost_ - bound) <= 1e-8 * abs(bound)
    assert abs(d.bound_ - bound) <= 1e-8 * abs(bound)
    np.testing.assert_allclose(d.P_ @ d.P_.T, np.eye(20), atol=1e-10)
    # paper's η(P) = ‖D P S‖²_F = cost · n_samples
    if d.operator_.D is not None:
        eta = np.linalg.norm(d.operator_.D @ d.P_ @ S) ** 2
        assert eta == pytest.approx(d.cost_ * S.shape[1], rel=1e-9)
    # no orthogonal matrix does better, the original order does worse
    for s in range(5):
        assert brockett_cost(random_orthogonal(20, s), A, d.operator_.N) >= d.cost_ * (1 - 1e-12)
    assert d.cost_identity_ >= d.cost_


@pytest.mark.parametrize("retraction", ["cayley", "qr"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_iterative_solver_matches_closed_form(retraction, seed):
    _, S = _layer(n=16, seed=seed)
    d = Descrambler("first_difference").fit(S)
    sol = brockett_descent(d.moment_, "first_difference", seed=100 + seed, retraction=retraction)
    np.testing.assert_allclose(sol.P @ sol.P.T, np.eye(16), atol=1e-8)
    assert sol.cost >= d.bound_ * (1 - 1e-9)
    assert (sol.cost - d.bound_) / d.bound_ < 0.01


def test_minimize_orthogonal_custom_objective_procrustes():
    # min ‖P − M‖² over O(n): the polar factor of M (known answer)
    rng = np.random.default_rng(3)
    R = np.linalg.qr(rng.standard_normal((6, 6)))[0]
    if np.linalg.det(R) < 0:
        R[:, 0] *= -1
    M = R @ np.diag([3.0, 2.5, 2.0, 1.5, 1.0, 0.5])
    Uq, _, Vt = np.linalg.svd(M)
    polar = Uq @ Vt
    sol = minimize_orthogonal(lambda P: float(np.sum((P - M) ** 2)), lambda P: 2 * (P - M), np.eye(6))
    assert sol.converged
    np.testing.assert_allclose(sol.P, polar, atol=1e-6)
    with pytest.raises(InputError, match="orthogonal"):
        minimize_orthogonal(lambda P: 0.0, lambda P: P, 2 * np.eye(3))


def test_descrambled_rows_are_modes_times_pcs():
    W, S = _layer()
    d = Descrambler().fit(S)
    # P* maps the k-th principal component onto the k-th smoothest mode
    np.testing.assert_allclose(d.P_ @ d.components_, d.operator_.modes, atol=1e-10)
    np.testing.assert_allclose(descrambler(S), d.P_)
    Wd = d.descramble_weights(W)
    np.testing.assert_allclose(Wd, d.P_ @ W)
    # conv weights: P acts on axis 0
    Wc = np.random.default_rng(0).standard_normal((20, 3, 2, 2))
    np.testing.assert_allclose(d.descramble_weights(Wc)[:, 1, 0, 1], d.P_ @ Wc[:, 1, 0, 1])
    with pytest.raises(InputError, match="units"):
        d.descramble_weights(W[:5])


def test_layout_conv_and_no_mutation():
    rng = np.random.default_rng(5)
    S = rng.standard_normal((8, 100))
    S0 = S.copy()
    a = Descrambler().fit(S)
    b = Descrambler(layout="samples_first").fit(S.T)
    np.testing.assert_allclose(a.P_, b.P_)
    np.testing.assert_array_equal(S, S0)
    X = rng.standard_normal((12, 8, 3, 4))  # (n, C, H, W)
    c = Descrambler().fit(X)
    manual = np.moveaxis(X, 1, 0).reshape(8, -1)
    np.testing.assert_allclose(c.moment_, manual @ manual.T / manual.shape[1], atol=1e-12)
    assert c.n_samples_ == 12 * 3 * 4


def test_streamed_moment_equals_in_memory():
    rng = np.random.default_rng(6)
    fc = rng.standard_normal((103, 10))
    conv = rng.standard_normal((103, 6, 4, 4))
    store = FakeStore({"fc": fc, "conv": conv})
    A, n, _ = second_moment_from_store(store, "fc", block_rows=17)
    np.testing.assert_allclose(A, fc.T @ fc / 103, atol=1e-12)
    assert n == 103
    d = Descrambler().fit_store(store, "conv", block_rows=10)
    e = Descrambler().fit(conv)
    np.testing.assert_allclose(d.moment_, e.moment_, atol=1e-12)
    assert d.n_samples_ == 103 * 16
    Ac, _, mean = second_moment_from_store(store, "fc", block_rows=17, center=True)
    np.testing.assert_allclose(Ac, np.cov(fc.T, bias=True), atol=1e-12)
    with pytest.raises(InputError, match="not in the store"):
        second_moment_from_store(store, "nope")
    bad = fc.copy()
    bad[50, 2] = np.nan
    with pytest.raises(InputError, match="NaN"):
        Descrambler().fit_store(FakeStore({"fc": bad}), "fc", block_rows=16)


def test_bad_inputs():
    rng = np.random.default_rng(7)
    S = rng.standard_normal((10, 50))
    S[3, 4] = np.nan
    with pytest.raises(InputError, match="NaN"):
        Descrambler().fit(S)
    with pytest.raises(InputError, match="shape"):
        Descrambler().fit(np.ones(5))
    with pytest.raises(InputError, match="columns"):
        Descrambler(np.ones((4, 7))).fit(rng.standard_normal((10, 50)))
    with pytest.raises(InputError, match="square"):
        Descrambler().fit_moment(np.ones((3, 4)), 10)
    with pytest.raises(InputError, match="not fitted"):
        Descrambler().transform(S)


def test_rank_deficient_warns_and_reports_null_space():
    rng = np.random.default_rng(8)
    S = rng.standard_normal((12, 5))  # 12 units, 5 samples
    with pytest.warns(DescrambleWarning, match="rank"):
        d = Descrambler().fit(S)
    assert issubclass(DescrambleWarning, UserWarning)
    assert d.rank_ == 5
    assert [5, 6, 7, 8, 9, 10, 11] in d.degenerate_pc_groups_
    assert not d.unique_
    assert abs(d.cost_ - d.bound_) <= 1e-8 * abs(d.bound_)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Descrambler().fit(rng.standard_normal((5, 12)))  # enough samples: no warning


def test_degenerate_operator_groups_reported():
    _, S = _layer(n=10)
    d = Descrambler("periodic_second_derivative").fit(S)
    assert d.degenerate_mode_groups_ == [[1, 2], [3, 4], [5, 6], [7, 8]]
    assert Descrambler("first_difference").fit(S).unique_


def test_result_protocol():
    import matplotlib.figure

    W, S = _layer()
    r = descramble(S, weights=W, layer="<fc1>")
    d = json.loads(dumps(r.to_dict()))
    assert d["relative_gap"] == pytest.approx(0.0, abs=1e-8)
    assert 0 <= d["hf_fraction_descrambled"] < d["hf_fraction_raw"] <= 1
    assert isinstance(r.plot(), matplotlib.figure.Figure)
    assert "Brockett" in r.summary() and "<fc1>" in r.title  # the report escapes titles
    header, rows = r.table()
    assert len(header) == 2 and len(rows) >= 4
    r2 = Descrambler().fit(S).result(None)
    assert r2.weights is None and isinstance(r2.plot(), matplotlib.figure.Figure)
    assert first_difference(20).n == 20
