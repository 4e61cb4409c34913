import itertools

import numpy as np
import pytest

from repscope.descramble import PermutationDescrambler, brockett_bound, make_operator, permutation_descramble
from repscope.descramble.permutation import _qap_cost, swap_local_search
from repscope.experiments.descramble.reproductions import circulant_reproduction, is_dihedral

OPS = ["first_difference", "periodic_second_derivative", "circular_difference"]


@pytest.mark.parametrize("operator", OPS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_qap_never_better_than_orthogonal_bound(operator, seed):
    rng = np.random.default_rng(seed)
    S = rng.standard_normal((12, 8)) @ rng.standard_normal((8, 300))
    p = PermutationDescrambler(operator, n_init=2, seed=seed).fit(S)
    A = S @ S.T / 300
    N = make_operator(operator, 12).N
    assert p.bound_ == pytest.approx(brockett_bound(A, N), rel=1e-10)
    assert p.cost_ >= p.bound_ * (1 - 1e-12)
    assert p.cost_ <= p.cost_identity_ * (1 + 1e-12)
    assert np.all(p.restart_costs_ >= p.bound_ * (1 - 1e-12))
    assert sorted(p.perm_) == list(range(12))
    np.testing.assert_allclose(p.P_ @ S, S[p.perm_])
    assert p.cost_ == pytest.approx(float(np.sum(N * (p.P_ @ A @ p.P_.T))), rel=1e-12)


def test_small_problem_matches_brute_force():
    rng = np.random.default_rng(4)
    S = rng.standard_normal((6, 50))
    A = S @ S.T / 50
    N = make_operator("first_difference", 6).N
    best = min(_qap_cost(N, A, np.array(q)) for q in itertools.permutations(range(6)))
    p = PermutationDescrambler(n_init=2).fit(S)
    assert p.cost_ == pytest.approx(best, rel=1e-10)


def test_swap_delta_formula():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((9, 9))
    N = X + X.T
    Y = rng.standard_normal((9, 9))
    A = Y @ Y.T
    perm = rng.permutation(9)
    out = swap_local_search(N, A, perm)
    c = _qap_cost(N, A, out)
    assert c <= _qap_cost(N, A, perm)
    for r, s in itertools.combinations(range(9), 2):  # a swap local minimum
        q = out.copy()
        q[[r, s]] = q[[s, r]]
        assert _qap_cost(N, A, q) >= c - 1e-9 * abs(c)


def test_circulant_toy_recovers_ring_at_the_bound():
    r = circulant_reproduction(n=24, seed=3)
    m = r.measurements
    assert m["ring_recovered"]
    assert abs(m["relative_gap"]) < 1e-8
    assert m["cost_identity_shuffled"] > 5 * m["cost_permutation"]
    assert is_dihedral(np.array([3, 2, 1, 0, 5, 4])) and not is_dihedral(np.array([0, 2, 1, 3]))


def test_permutation_result_protocol():
    import json

    from repscope.results import dumps

    rng = np.random.default_rng(0)
    res = permutation_descramble(rng.standard_normal((5, 2, 4, 4)), n_init=1, layer="conv")
    d = json.loads(dumps(res.to_dict()))
    assert d["n_units"] == 2 and d["gap_to_bound"] >= -1e-12
    assert "permutation" in res.summary()
    res.plot()
