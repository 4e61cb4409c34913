"""The ceiling of an RDM comparison against a categorical (two-valued) model RDM: closed forms checked against
the user's known answer (10 balanced classes, Spearman: 0.5185), against exhaustive search over every ranking of
a small RDM (with and without ties), and in the label-RSA result (field, summary, figure)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import repscope as rs
from repscope.errors import InputError
from repscope.metrics._rsa import binary_rdm_ceiling, categorical_ceiling, compare_rdms

RANKED = ("spearman", "rho_a", "kendall_tau_a", "kendall_tau_b")


def _model(y):
    y = np.asarray(y)
    iu = np.triu_indices(y.size, 1)
    return (y[:, None] != y[None, :])[iu].astype(np.float64)


def test_ten_balanced_classes_spearman_ceiling_is_0_5185():
    y = np.repeat(np.arange(10), 200)  # 2000 samples, the label-RSA subsample size
    c = categorical_ceiling(y, "spearman")
    assert c == pytest.approx(0.5185, abs=1e-4)
    # attained by the RDM that puts every same-class pair below every different-class pair (no ties)
    model = _model(y)
    sep = model + np.random.default_rng(0).random(model.size) * 0.5
    assert compare_rdms(sep, model, "spearman") == pytest.approx(c, abs=1e-12)
    # and tends to √(3·0.1·0.9) = √0.27 as the classes grow
    assert categorical_ceiling(np.repeat(np.arange(10), 100_000), "spearman") == pytest.approx(np.sqrt(0.27), abs=1e-5)


def _weak_orderings(m):
    """Every ranking of m entries, ties allowed (as dense level vectors, one per weak ordering)."""
    seen = set()
    for levels in itertools.product(range(m), repeat=m):
        used = sorted(set(levels))
        key = tuple(used.index(v) for v in levels)
        seen.add(key)
    return [np.array(k, dtype=np.float64) for k in seen]


def _best(cands, model, method):
    vals = []
    for a in cands:
        try:
            vals.append(compare_rdms(a, model, method))
        except InputError:  # a constant candidate has no correlation
            pass
    return max(vals)


@pytest.mark.parametrize("model", [[0, 0, 1, 1, 1], [0, 1, 1, 1, 1], [1, 0, 1, 0, 0, 1]])
def test_closed_forms_match_exhaustive_search(model):
    model = np.asarray(model, dtype=np.float64)  # a two-valued model RDM vector
    m = model.size
    strict = [np.array(p, dtype=np.float64) for p in itertools.permutations(range(m))]
    weak = _weak_orderings(m)
    assert len(weak) == {5: 541, 6: 4683}[m]  # the ordered Bell (Fubini) numbers
    for method in RANKED:
        assert _best(strict, model, method) == pytest.approx(binary_rdm_ceiling(model, method), abs=1e-12), method
        if m == 5:
            want = binary_rdm_ceiling(model, method, data_ties=True)
            assert _best(weak, model, method) == pytest.approx(want, abs=1e-12), method
    # Pearson and cosine: the model itself
    assert compare_rdms(model, model, "pearson") == pytest.approx(binary_rdm_ceiling(model, "pearson"))
    assert binary_rdm_ceiling(model, "cosine") == 1.0


def test_categorical_ceiling_matches_exhaustive_search_over_rankings_of_a_4_sample_rdm():
    y = [0, 0, 0, 1]
    model = _model(y)  # m = 6 pairs, 3 within a class
    strict = [np.array(p, dtype=np.float64) for p in itertools.permutations(range(model.size))]
    for method in ("spearman", "kendall_tau_b"):
        assert _best(strict, model, method) == pytest.approx(categorical_ceiling(y, method), abs=1e-12)


def test_formulas_by_group_sizes_and_vector_form_agree():
    y = np.array([0] * 7 + [1] * 5 + [2] * 3 + [3])
    n = y.size
    m = n * (n - 1) // 2
    m0 = 21 + 10 + 3
    m1 = m - m0
    want = {"spearman": np.sqrt(3 * m0 * m1 / (m * m - 1)), "rho_a": 3 * m0 * m1 / (m * m - 1),
            "kendall_tau_a": 2 * m0 * m1 / (m * (m - 1)), "kendall_tau_b": np.sqrt(2 * m0 * m1 / (m * (m - 1))),
            "pearson": 1.0}
    for method, w in want.items():
        assert categorical_ceiling(y, method) == pytest.approx(w, rel=1e-12)
        assert binary_rdm_ceiling(_model(y), method) == pytest.approx(w, rel=1e-12)
    assert categorical_ceiling(y, "tau-a") == pytest.approx(want["kendall_tau_a"])  # rsatoolbox spelling
    # no data RDM beats it: random RDMs and random near-separating ones
    rng = np.random.default_rng(1)
    model = _model(y)
    for _ in range(200):
        a = model * rng.random() * 3 + rng.standard_normal(m)
        for method in RANKED:
            assert compare_rdms(a, model, method) <= categorical_ceiling(y, method) + 1e-12


def test_ceiling_refuses_models_without_two_values():
    with pytest.raises(InputError, match="at least 2 classes"):
        categorical_ceiling(np.zeros(10))
    with pytest.raises(InputError, match="constant"):
        categorical_ceiling(np.arange(10))  # every sample its own class: all pairs differ
    with pytest.raises(InputError, match="two-valued"):
        binary_rdm_ceiling(np.arange(6.0))


def test_label_rsa_reports_the_ceiling_in_field_summary_table_and_figure():
    y = np.repeat(np.arange(5), 12)
    rng = np.random.default_rng(0)
    clustered = np.eye(5)[y] * 3 + rng.standard_normal((60, 5))  # a layer that groups by label, no ties
    noise = rng.standard_normal((60, 5))
    r = rs.metrics.label_rsa({"noise": noise, "clustered": clustered}, y)
    c = categorical_ceiling(y)
    assert r.ceiling == pytest.approx(c) and 0.6 < c < 0.7  # 5 classes: √(3·m₀m₁/(m² − 1))
    assert r.rho[1] <= c + 1e-12 and r.normalised[1] == pytest.approx(r.rho[1] / c)
    d = r.to_dict()
    assert d["ceiling"] == pytest.approx(c) and d["normalised"][1] == pytest.approx(r.rho[1] / c)
    assert f"{c:.4f}" in r.summary() and "ceiling" in r.summary()
    assert r.table()[0][-1].startswith("ρ / ceiling")
    fig = r.plot()
    ax = fig.axes[0]
    dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert len(dashed) == 1 and np.allclose(dashed[0].get_ydata(), c)
    assert ax.get_ylim()[1] >= 1.0  # the whole correlation scale stays visible, ceiling marked on it
    assert any(t.get_text().startswith(f"ceiling {c:.4f}") for t in ax.get_legend().get_texts())
    pf = r.plotly()
    assert any(s.y0 == pytest.approx(c) for s in pf.layout.shapes)
    assert any(f"ceiling {c:.4f}" in a.text for a in pf.layout.annotations)


def test_label_rsa_says_when_tied_dissimilarities_exceed_the_ceiling():
    y = np.repeat(np.arange(4), 10)
    r = rs.metrics.label_rsa({"onehot": np.eye(4)[y] + 0.0}, y)  # every class one point: two-valued RDM
    assert r.rho[0] == pytest.approx(1.0) and r.rho[0] > r.ceiling
    assert "onehot exceed(s) the ceiling" in r.summary()



@pytest.mark.parametrize("compare", ["spearman", "rho_a", "pearson"])
def test_bootstrap_against_a_categorical_model_states_the_ceiling(compare):
    from repscope.metrics._rdm import model_rdm, rsa_bootstrap

    y = np.repeat(["cat", "dog", "car"], 10)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 6))
    X[:, :3] += 2.0 * (y[:, None] == np.array(["cat", "dog", "car"])[None, :])  # classes apart, no ties
    b = rsa_bootstrap(X, model_rdm(y, "categorical"), compare=compare, n_boot=50, seed=0)
    assert b.ceiling == pytest.approx(categorical_ceiling(y, compare))
    assert b.estimate <= b.ceiling + 1e-12
    assert b.to_dict()["ceiling"] == pytest.approx(b.ceiling) and f"{b.ceiling:.4f}" in b.summary()
    fig = b.plot()
    ax = fig.axes[0]
    assert any(ln.get_linestyle() == "--" and np.allclose(ln.get_xdata(), b.ceiling) for ln in ax.lines)
    fig.canvas.draw()
    assert ax.get_legend().get_window_extent().x0 > ax.get_window_extent().x1  # outside: hides no bar
    # two continuous RDMs: no ceiling claimed
    c = rsa_bootstrap(X, rng.standard_normal((30, 4)), compare=compare, n_boot=20, seed=0)
    assert np.isnan(c.ceiling) and c.to_dict()["ceiling"] is None and "ceiling" not in c.summary()
