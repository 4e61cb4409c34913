"""Association statistics: known answers, null behaviour, permutation p-values, corrections, confounders."""

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from repscope.errors import InputError
from repscope.ranges import (
    adjust_pvalues,
    band_associations,
    bands,
    cramers_v,
    find_confounders,
    mutual_information,
)


def test_cramers_v_known_values():
    x = np.array([0] * 50 + [1] * 50)
    assert cramers_v(x, x) == pytest.approx(1.0)
    assert cramers_v(x, 1 - x) == pytest.approx(1.0)
    assert cramers_v(x, np.tile([0, 1], 50)) == pytest.approx(0.0)
    # 2x2 table [[40,10],[10,40]]: phi = (40*40-10*10)/sqrt(50^4) = 0.6
    y = np.array([0] * 40 + [1] * 10 + [0] * 10 + [1] * 40)
    assert cramers_v(x, y) == pytest.approx(0.6)
    assert cramers_v(x, np.zeros(100)) == 0.0


def test_mutual_information_matches_sklearn_and_entropy():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 300), rng.integers(0, 3, 300)
    assert mutual_information(a, b, base=np.e) == pytest.approx(mutual_info_score(a, b))
    x = np.arange(400) % 4
    assert mutual_information(x, x) == pytest.approx(2.0)  # H(uniform on 4) = 2 bits


def test_association_near_zero_for_independent_and_one_for_copies():
    rng = np.random.default_rng(1)
    n = 20_000
    s = rng.normal(size=n)
    b = bands(s)
    indep = rng.integers(0, 3, n)
    copy_mid = b.mask("mid").astype(int)
    a = band_associations(b, {"indep": indep, "copy": copy_mid}, n_permutations=199, seed=0)
    v_indep = a.cramers_v[:, 0]
    assert np.all(v_indep < 0.05)
    assert a.get("mid", "copy") == pytest.approx(1.0)
    assert a.get("mid", "copy", "mutual_info") == pytest.approx(1.0)  # one bit in the balanced table
    assert a.p_adjusted[b.index("mid"), 1] <= 0.01
    assert np.all(a.p_adjusted[:, 0] > 0.05)
    # unweighted statistics are the textbook ones
    a2 = band_associations(b, {"indep": indep}, weighting="counts", n_permutations=0)
    assert a2.get("top", "indep") == pytest.approx(cramers_v(b.mask("top"), indep))


def test_bias_corrected_v_is_near_zero_in_expectation():
    rng = np.random.default_rng(2)
    vals = [
        cramers_v(rng.integers(0, 2, 200), rng.integers(0, 3, 200), bias_correction=True) for _ in range(200)
    ]
    raw = [cramers_v(rng.integers(0, 2, 200), rng.integers(0, 3, 200)) for _ in range(200)]
    assert np.mean(vals) < 0.04 < np.mean(raw)


def test_permutation_pvalues_are_uniform_under_null():
    rng = np.random.default_rng(3)
    ps = []
    for k in range(60):
        s = rng.normal(size=300)
        a = band_associations(
            bands(s), {"x": rng.integers(0, 2, 300)}, n_permutations=99, seed=k, correction="none"
        )
        ps.extend(a.p_value[:, 0])
    ps = np.asarray(ps)
    assert 0.35 < ps.mean() < 0.65
    assert np.mean(ps < 0.05) < 0.12


def test_holm_and_bh_known_values():
    p = [0.01, 0.04, 0.03, 0.2]
    assert np.allclose(adjust_pvalues(p, "holm"), [0.04, 0.09, 0.09, 0.2])
    assert np.allclose(adjust_pvalues(p, "bh"), [0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert np.allclose(adjust_pvalues(p, "none"), p)
    with pytest.raises(InputError, match="correction"):
        adjust_pvalues(p, "bonferroni-ish")


def test_reference_population_and_confounder_flag():
    """Marker hidden in the mid band: a synthetic unit whose mid band is enriched in marker=1
    while its top band looks like the reference."""
    rng = np.random.default_rng(4)
    n = 4000
    marker = (rng.random(n) < 0.1).astype(int)
    s = rng.normal(size=n) + 2.0
    s[marker == 1] = rng.normal(0.0, 0.3, (marker == 1).sum())  # marker-1 samples sit mid-range
    b = bands(s, kind="value", edges=(-np.inf, -0.5, 0.5, 3.0, np.inf), names=("low", "mid", "high", "top"))
    a = band_associations(b, {"marker": marker, "noise": rng.integers(0, 2, n)}, n_permutations=199)
    f = find_confounders(a)
    verdicts = {r["attribute"]: r["verdict"] for r in f.rows}
    assert verdicts["marker"] == "mid-range only"
    assert verdicts["noise"] == "neither"
    assert a.share("mid", "marker", 1) > 0.5 > a.share("top", "marker", 1)
    header, rows = f.table()
    assert header[0] == "attribute" and len(rows) == 2
    # reference restricts the population
    ref = marker == 0
    a2 = band_associations(b, {"marker": marker}, reference=ref, n_permutations=0)
    assert a2.n_reference == int(ref.sum())
    assert np.nan_to_num(a2.cramers_v).max() == 0.0  # marker is constant in the reference


def test_association_bad_inputs():
    b = bands(np.arange(10.0))
    with pytest.raises(InputError, match="one value per sample"):
        band_associations(b, {"x": np.zeros(5)})
    with pytest.raises(InputError, match="non-empty dict"):
        band_associations(b, {})
    with pytest.raises(InputError, match="Bands"):
        band_associations(np.arange(10), {"x": np.zeros(10)})
    with pytest.raises(InputError, match="weighting"):
        band_associations(b, {"x": np.zeros(10)}, weighting="odd")
    a = band_associations(b, {"x": np.arange(10) % 2}, n_permutations=9)
    with pytest.raises(InputError, match="not found"):
        find_confounders(a, top="nope")


def test_derived_from_labels_reads_functions_of_the_label_from_the_data():
    from repscope.ranges._associations import derived_from_labels

    rng = np.random.default_rng(0)
    n = 400
    y = np.arange(n) % 10  # digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    attrs = {
        "label": y,  # skipped by name
        "parity": y % 2,  # a function of the label
        "parity_text": np.array(["even", "odd"])[y % 2],  # strings, too
        "name": names[y],  # one to one: the label under another name
        "writer_digit": y * 3 + rng.integers(0, 3, n),  # finer: the label is a function of it
        "colour": np.where(rng.random(n) < 0.9, y % 2, 1 - y % 2),  # a real correlate, 10 % off: not derived
        "constant": np.zeros(n),  # a function of anything, associated with nothing: not reported
        "sample_id": np.arange(n),  # determines the label trivially (one sample per value): not reported
        "brightness": rng.standard_normal(n),
    }
    got = derived_from_labels(y, attrs)
    assert set(got) == {"parity", "parity_text", "name", "writer_digit"}
    assert "is a function of the label" in got["parity"] and "is a function of the label" in got["parity_text"]
    assert "label under another name" in got["name"]
    assert got["writer_digit"].startswith("the label is a function of attribute 'writer_digit'")
    # float labels and NaN attribute values are values like any other
    f = np.where(y % 2 == 0, np.nan, 1.0)
    assert set(derived_from_labels(y.astype(float), {"f": f})) == {"f"}
    # one sample flipped: no longer a function of the label
    flipped = (y % 2).copy()
    flipped[0] = 1 - flipped[0]
    assert derived_from_labels(y, {"parity": flipped}) == {}


def _confounder_rows():
    # one attribute of every verdict, one at the lower right (where a "lower right" legend used to sit),
    # two at the same point (their labels must not overprint)
    rows = [("shade", "mid-range only", 0.05, 0.6), ("size", "top only", 0.95, 0.04),
            ("tilt", "top only", 0.7, 0.5), ("blob", "both", 0.7, 0.5), ("ink", "neither", 0.02, 0.03),
            ("label", "derived from target", 0.9, 0.8)]
    return [{"attribute": a, "verdict": v, "v_top": t, "v_mid": m, "p_top": 0.01, "p_mid": 0.01,
             "evidence": ""} for a, v, t, m in rows]


def test_confounder_text_matches_the_figure_and_the_legend_hides_no_point():
    import re

    from matplotlib.colors import to_rgba

    from repscope.ranges._associations import VERDICT_COLOURS, ConfounderFindings

    cf = ConfounderFindings(unit="out:1", top_band="top", mid_band="mid", rows=_confounder_rows(), strong=0.2,
                            weak=0.1, min_ratio=2.0, alpha=0.05)
    text = cf.summary()
    claims = re.findall(r"(light grey|\w+) points \(([^)]+)\)", text)
    assert "the red points (mid-range only) and blue points (top only) in the figure" in text
    assert claims == [("red", "mid-range only"), ("blue", "top only")]  # the flagged verdicts, once each
    fig = cf.plot()
    fig.canvas.draw()
    ax = fig.axes[0]
    points = []  # ((x, y), colour drawn)
    for c in ax.collections:
        col = c.get_facecolor() if len(c.get_facecolor()) else c.get_edgecolor()
        points += [(tuple(np.round(xy, 6)), tuple(col[0])) for xy in c.get_offsets()]
    for colour_word, verdict in claims:
        drawn = VERDICT_COLOURS[verdict][1]
        assert to_rgba(drawn) == to_rgba(colour_word.replace(" ", ""))  # the colour the text names
        for r in cf.rows:
            if r["verdict"] == verdict:  # every point of that verdict is drawn in the colour the text names
                assert ((r["v_top"], r["v_mid"]), to_rgba(drawn)) in points
        assert verdict in [t.get_text() for t in ax.get_legend().get_texts()]
    # the legend covers no data point and no point label
    leg = ax.get_legend().get_window_extent()
    disp = ax.transData.transform(np.array([xy for xy, _ in points]))
    assert not any(leg.contains(x, y) for x, y in disp)
    assert not any(leg.overlaps(t.get_window_extent()) for t in ax.texts)
    labels = [t for t in ax.texts if t.get_text() in ("tilt", "blob")]
    assert not labels[0].get_window_extent().overlaps(labels[1].get_window_extent())


def test_confounder_text_without_flags_claims_no_colour():
    from repscope.ranges._associations import ConfounderFindings

    rows = [r for r in _confounder_rows() if r["verdict"] in ("neither", "both", "derived from target")]
    cf = ConfounderFindings(unit="u", top_band="top", mid_band="mid", rows=rows, strong=0.2, weak=0.1,
                            min_ratio=2.0, alpha=0.05)
    assert "red" not in cf.summary() and "blue" not in cf.summary()
