"""Last-layer retraining, curation and the mitigation benchmark on a small fixed-seed configuration."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from repscope.errors import InputError
from repscope.experiments.ranges.benchmark import (
    METHODS,
    BenchmarkConfig,
    MitigationTable,
    fast_config,
    prepare,
    run_benchmark,
    run_one,
)
from repscope.ranges import curate, fit_last_layer, group_balanced_sampler, jtt_weights, logit_bands


def test_fit_last_layer_matches_sklearn_l1_liblinear():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8)) * rng.uniform(0.5, 3, 8) + 2
    y = (X[:, 0] - X[:, 1] + rng.normal(0, 1, 300) > 0).astype(int)
    h = fit_last_layer(X, y, C=0.1)
    Z = (X - X.mean(0)) / X.std(0)
    ref = LogisticRegression(C=0.1, l1_ratio=1.0, solver="liblinear").fit(Z, y)
    assert np.allclose(h.coef_, ref.coef_, atol=1e-3) and np.allclose(h.intercept_, ref.intercept_, atol=1e-3)
    assert np.array_equal(h.predict(X), ref.predict(Z))
    assert np.sum(h.coef_ != 0) < 8  # L1 zeroes irrelevant features
    # multi-class: one-vs-rest rows
    y3 = np.digitize(X[:, 0], np.quantile(X[:, 0], [1 / 3, 2 / 3]))
    h3 = fit_last_layer(X, y3, C=1.0)
    assert h3.coef_.shape == (3, 8) and np.mean(h3.predict(X) == y3) > 0.9


def test_group_balanced_sampler_and_averaging():
    g = np.array([0] * 50 + [1] * 10 + [2] * 5)
    s = group_balanced_sampler(g)
    idx = s(np.random.default_rng(0))
    assert np.bincount(g[idx]).tolist() == [5, 5, 5] and np.unique(idx).size == 15
    rng = np.random.default_rng(1)
    X = rng.normal(size=(65, 3))
    y = (X[:, 0] > 0).astype(int)
    h = fit_last_layer(X, y, sampler=s, n_retrains=10, seed=0)
    assert h.coef_.shape == (1, 3) and np.isfinite(h.coef_).all()


def test_curate_flags_mid_band_and_balances_pseudo_groups():
    rng = np.random.default_rng(2)
    n = 600
    y = rng.integers(0, 2, n)
    Z = np.c_[-(2 * y - 1) * 3.0, (2 * y - 1) * 3.0] + rng.normal(0, 1.5, (n, 2))
    c = curate(Z, y, edges=(0.3, 0.7), which="pred", upweight="balanced")
    pred = Z.argmax(1)
    b0 = logit_bands(Z, 0, top_percentile=None)
    b1 = logit_bands(Z, 1, top_percentile=None)
    expect = np.where(pred == 0, b0.mask("mid"), b1.mask("mid"))
    assert np.array_equal(c.mask, expect) and c.n_selected > 0
    for cls in (0, 1):
        tot = [c.weights[(y == cls) & (c.mask == f)].sum() for f in (True, False)]
        assert tot[0] == pytest.approx(tot[1])
    c2 = curate(Z, y, which="label", upweight=7.0)
    assert set(np.unique(c2.weights)) <= {1.0, 7.0}
    assert np.array_equal(jtt_weights(pred, y, 5.0), np.where(pred != y, 5.0, 1.0))


@pytest.fixture(scope="module")
def prepared():
    cfg = fast_config()
    return cfg, prepare("spurious_digits", 0.95, 0, cfg)


def test_mid_band_is_enriched_in_minority_group(prepared):
    """The paper's observation on a tiny fixed-seed run: the minority (marker disagrees with class
    group) is rare in the top band of the class logit and common in its mid band."""
    _, pr = prepared
    A = pr.A
    minority = A.attributes["agrees"] == 0
    shares = {}
    for cls in (0, 1):
        ref = A.y == cls
        b = logit_bands(pr.ZA, cls)
        for band in ("mid", "top"):
            m = b.mask(band) & ref
            shares.setdefault(band, []).append(minority[m].mean() if m.any() else 0.0)
    overall = minority.mean()
    assert max(shares["top"]) < overall < min(shares["mid"])
    assert np.mean(shares["mid"]) > 3 * overall


def test_retraining_improves_worst_group_over_erm(prepared):
    cfg, pr = prepared
    r = run_one("spurious_digits", 0.95, 0, cfg, prepared=pr)
    m = r["methods"]
    assert set(m) == set(METHODS)
    assert m["mid-range"]["worst"] > m["ERM"]["worst"] + 0.05
    assert m["DFR oracle"]["worst"] > m["ERM"]["worst"] + 0.05
    assert "edges" in m["mid-range"]["params"]
    d = r["diagnostics"]
    assert d["minority_mid"] > d["minority_overall"] > d["minority_top"]


def test_mitigation_table_formats():
    rec = {
        "dataset": "d",
        "bias": 0.9,
        "seed": 0,
        "diagnostics": {
            "minority_overall": 0.1,
            "minority_mid": 0.4,
            "minority_top": 0.0,
            "n_mid": 5,
            "n_retrain": 50,
        },
        "methods": {m: {"worst": 0.5 + 0.05 * i, "mean": 0.8, "params": {}} for i, m in enumerate(METHODS)},
    }
    rec2 = {
        **rec,
        "seed": 1,
        "methods": {m: {"worst": 0.6 + 0.05 * i, "mean": 0.9, "params": {}} for i, m in enumerate(METHODS)},
    }
    t = MitigationTable([rec, rec2], {}, 1.0)
    st = {s["method"]: s for s in t.stats()}
    assert st["ERM"]["worst_mean"] == pytest.approx(0.55)
    assert st["ERM"]["worst_std"] == pytest.approx(np.std([0.5, 0.6], ddof=1))
    header, rows = t.table()
    assert len(rows) == len(METHODS) and "55.0 ± 7.1" in rows[0][3]
    assert "worst-group" in t.format()


def test_benchmark_bad_inputs():
    with pytest.raises(InputError, match="unknown dataset"):
        run_benchmark(BenchmarkConfig(datasets=("cifar",)))
    with pytest.raises(InputError, match="no bias"):
        run_benchmark(BenchmarkConfig(datasets=("dsprites_lite",), biases={}))
    with pytest.raises(InputError, match="single class"):
        fit_last_layer(np.ones((5, 2)) + np.arange(5)[:, None], np.zeros(5))
    with pytest.raises(InputError, match="non-negative"):
        fit_last_layer(np.arange(10.0).reshape(5, 2), np.arange(5) % 2, sample_weight=-np.ones(5))
    with pytest.raises(InputError, match="which="):
        curate(np.random.default_rng(0).normal(size=(10, 2)), which="middle")
    with pytest.raises(InputError, match="lower < upper"):
        curate(np.random.default_rng(0).normal(size=(10, 2)), edges=(0.7, 0.3))
    with pytest.raises(InputError, match="labels"):
        curate(np.random.default_rng(0).normal(size=(10, 2)), upweight="balanced")
