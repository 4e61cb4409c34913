"""The claim / CI / verdict helper every reproduction uses (repscope.experiments.verdict)."""

import numpy as np
import pytest

from repscope.errors import InputError
from repscope.experiments.verdict import (
    VERDICTS,
    ReproductionTable,
    bootstrap_ci,
    claim,
    overall_verdict,
    paired_bootstrap,
    verdict_rule,
)


def test_bootstrap_ci_known_answers():
    est, lo, hi = bootstrap_ci([2.0, 2.0, 2.0])
    assert (est, lo, hi) == (2.0, 2.0, 2.0)  # no spread → zero-width interval
    x = np.random.default_rng(0).normal(1.0, 0.1, 400)
    est, lo, hi = bootstrap_ci(x, seed=1)
    assert est == pytest.approx(x.mean())
    # percentile bootstrap of a mean ≈ mean ± 1.96 sd/√n for a large normal sample
    se = x.std(ddof=1) / np.sqrt(x.size)
    assert lo == pytest.approx(x.mean() - 1.96 * se, abs=0.3 * se)
    assert hi == pytest.approx(x.mean() + 1.96 * se, abs=0.3 * se)
    assert bootstrap_ci([5.0, np.nan]) == (5.0, 5.0, 5.0)  # non-finite values dropped
    with pytest.raises(InputError):
        bootstrap_ci([np.nan])


def test_paired_bootstrap_cancels_shared_seed_variation():
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 10, 8)  # large seed effect common to both methods
    a, b = shared + 1.0, shared.copy()
    est, lo, hi = paired_bootstrap(a, b)
    assert (est, lo, hi) == pytest.approx((1.0, 1.0, 1.0))
    _, lo_u, hi_u = bootstrap_ci(a - b.mean())  # unpaired-style spread is far wider
    assert hi_u - lo_u > 1.0
    with pytest.raises(InputError):
        paired_bootstrap([1, 2], [1])


@pytest.mark.parametrize(
    "est,lo,hi,direction,thr,expected",
    [
        (1.0, 0.5, 1.5, 1, 0.0, "reproduced"),
        (1.0, -0.5, 1.5, 1, 0.0, "partly"),
        (-1.0, -1.5, 0.5, 1, 0.0, "not"),
        (-1.0, -1.5, -0.5, -1, 0.0, "reproduced"),
        (0.1, 0.05, 0.2, 1, 0.1, "not"),  # an estimate exactly on the threshold is not on the paper's side
        (0.15, 0.05, 0.2, 1, 0.1, "partly"),
        (float("nan"), 0, 0, 1, 0.0, "not"),
    ],
)
def test_verdict_rule(est, lo, hi, direction, thr, expected):
    assert verdict_rule(est, lo, hi, direction=direction, threshold=thr) == expected


def test_overall_verdict():
    assert overall_verdict(["reproduced", "reproduced"]) == "reproduced"
    assert overall_verdict(["reproduced", "not"]) == "partly"
    assert overall_verdict(["partly"]) == "partly"
    assert overall_verdict(["not", "not"]) == "not"
    with pytest.raises(InputError):
        verdict_rule(1, 0, 2, direction=0)


def test_claim_and_table_protocol():
    r1 = claim("a > b", "paper: yes", "a − b", [1.0, 1.2, 0.9], baseline=[0.0, 0.1, 0.0])
    r2 = claim("x < 0", "fig 2", "x", [0.3, -0.1, 0.2], direction=-1, note="a | pipe")
    assert r1.verdict == "reproduced" and r1.n == 3 and r1.values == pytest.approx([1.0, 1.1, 0.9])
    assert r2.verdict == "not"
    t = ReproductionTable("Paper", "key", [r1, r2], setup={"seeds": 3})
    assert t.verdict == "partly" and t.title.endswith("partly")
    header, rows = t.table()
    assert len(rows) == 2 and all(len(r) == len(header) for r in rows)
    assert rows[0][header.index("verdict")] in VERDICTS
    d = t.to_dict()
    assert d["verdict"] == "partly" and d["claims"][1]["verdict"] == "not"
    assert "a \\| pipe" in t.markdown()  # table cells escaped
    assert "x < 0" in t.summary()
    fig = t.plot()
    assert fig.axes
