"""O'Mahony et al. reproduction (reduced configuration) and its building blocks."""

from dataclasses import replace

import numpy as np
import pytest

from repscope.experiments.ranges.reproduce import (
    band_shares,
    band_statistics,
    group_dro_head,
    reproduce,
    reproduction_config,
    tuning_budget,
)
from repscope.experiments.verdict import UNDERPOWERED, verdict_rule


def test_band_shares_known_answer():
    # logit 0 is high exactly for samples at position 0, whatever their shape
    rng = np.random.default_rng(0)
    n = 3000
    shape, pos = rng.integers(0, 3, n), rng.integers(0, 3, n)
    Z = rng.normal(0, 0.1, (n, 3))
    Z[np.arange(n), pos] += 2.0
    bs = band_shares(Z, shape, pos)
    assert bs["pos_share"][0, 0, 0] == pytest.approx(1.0)  # the top band of logit 0 is all position 0
    assert bs["shape_share"][0, 0] == pytest.approx([1 / 3] * 3, abs=0.12)  # and any shape
    for key in ("shape_share", "pos_share"):
        sums = bs[key].sum(-1)
        assert sums[bs["n"] > 0] == pytest.approx(1.0)
    assert bs["n"].sum(1) == pytest.approx([n] * 3)
    assert bs["n"][:, 0] == pytest.approx([n * 0.05] * 3, abs=2)


def test_group_dro_balances_groups():
    # two groups: the majority is separable by feature 0, the minority (5 %) only by feature 1
    rng = np.random.default_rng(0)
    n = 2000
    g = (rng.random(n) < 0.05).astype(int)
    y = rng.integers(0, 2, n)
    F = rng.normal(0, 1, (n, 2))
    F[g == 0, 0] += 3 * (2 * y[g == 0] - 1)
    F[g == 0, 1] += 3 * (1 - 2 * y[g == 0])  # the majority's feature 1 points the wrong way
    F[g == 1, 1] += 3 * (2 * y[g == 1] - 1)
    h = group_dro_head(F, y, 2 * g + y, steps=400, eta=0.5, seed=0)
    acc_min = (h.predict(F[g == 1]) == y[g == 1]).mean()
    assert acc_min > 0.6 and (h.predict(F[g == 0]) == y[g == 0]).mean() > 0.6


def test_equal_tuning_budgets():
    for quick in (True, False):
        b = tuning_budget(reproduction_config(quick))
        weighted = {b[m] for m in ("mid-range", "random subset", "JTT-style")}
        assert len(weighted) == 1  # the three re-weighting methods tune over the same number of candidates
        assert b["LL retrain"] == b["DFR oracle"] == b["Group DRO"] == len(reproduction_config(quick).C_grid)


def test_band_shares_undefined_normalisation_is_nan_not_an_error():
    rng = np.random.default_rng(1)
    Z = rng.normal(0, 1, (300, 3))
    Z[:, 0] -= 10.0  # logit 0 is never predicted (a near-chance network): its bands are undefined
    bs = band_shares(Z, rng.integers(0, 3, 300), rng.integers(0, 3, 300))
    assert np.isnan(bs["pos_share"][0]).all() and (bs["n"][0] == 0).all()
    assert np.isfinite(bs["pos_share"][1:]).all()
    st = band_statistics(bs)  # the means run over the logits whose bands are defined
    assert np.isfinite(st["top_pos"]) and 0 <= st["top_pos"] <= 1


def test_reproduction_table_properties():
    cfg = replace(reproduction_config(True), dsprites_sizes=(300, 240, 300), epochs={"dsprites_lite": 2},
                  C_grid=(1.0,), n_retrains=1, upweights=(20.0,), jtt_upweights=(20.0,))
    res = reproduce(quick=True, seeds=2, config=cfg, n_workers=1, sweep=(0.0, 0.9))
    t, bands, sweep = res[0], res[1], res[2]
    assert t.key == "ranges" and not t.checks
    for r in t.claims:
        # a 2-epoch network may predict a class for no sample: its bands are undefined and the seed drops out
        assert r.n == 0 or r.ci_low <= r.estimate <= r.ci_high
        assert r.n <= 2 and r.verdict == UNDERPOWERED
        assert r.verdict == verdict_rule(r.estimate, r.p_adjusted, r.n, direction=r.direction, threshold=r.threshold)
        assert r.control_label  # every claim has its control: the bias-0 network or a baseline method
    labels = {r.control_label for r in t.claims}
    assert {"bias-0 network", "ERM", "LL retrain", "random subset", "Group DRO"} <= labels
    for m in ("ERM", "LL retrain", "random subset", "JTT-style", "mid-range", "DFR oracle", "Group DRO"):
        assert all(0 <= v <= 1 for v in t.extra["worst"][m])
        assert all(0 <= v <= 1 for v in t.extra["worst_bias0"][m])  # the bias-0 null run works
    assert bands.shape_share.shape == (2, 3, 3, 3)
    ok = bands.shape_share.sum(-1)
    assert ok[np.isfinite(ok) & (ok > 0)] == pytest.approx(1.0)
    assert "wins against" in t.findings[1] and "equal budgets" in t.findings[2]
    assert sweep.levels == [0.0, 0.9] and len(sweep.stats["top_pos"][0]) == 2
    assert len(bands.plot().axes) == 3  # one panel per logit
