"""Bands: edges and counts on known distributions, normalised logits, directions, bad inputs."""

import numpy as np
import pytest

from repscope.errors import InputError
from repscope.ranges import (
    bands,
    class_mean_direction,
    logit_bands,
    normalised_logits,
    parse_unit,
    probe_direction,
    unit_scores,
)


def test_percentile_bands_on_uniform_grid_have_exact_counts():
    s = np.arange(1000.0)
    b = bands(s, kind="percentile", edges=(0, 30, 70, 95, 100))
    assert b.names == ["low", "mid", "high", "top"]
    assert b.counts() == {"low": 300, "mid": 400, "high": 250, "top": 50}
    assert np.allclose(b.edges, np.percentile(s, [0, 30, 70, 95, 100]))
    # members of the top band are exactly the 50 largest values
    assert set(np.flatnonzero(b.mask("top"))) == set(range(950, 1000))


def test_percentile_bands_per_group_use_group_edges():
    rng = np.random.default_rng(0)
    g = np.repeat([0, 1], 500)
    s = np.concatenate([rng.normal(0, 1, 500), rng.normal(10, 1, 500)])
    pooled = bands(s, edges=(0, 50, 100), names=("lower", "upper"))
    per = bands(s, edges=(0, 50, 100), names=("lower", "upper"), groups=g)
    # pooled median separates the groups; per-group medians split each group in half
    assert pooled.mask("upper")[g == 1].all() and not pooled.mask("upper")[g == 0].any()
    for k in (0, 1):
        assert per.mask("upper")[g == k].sum() == 250
    assert per.edges.shape == (2, 3)


def test_value_bands_exclude_outside_and_close_last_edge():
    s = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    b = bands(s, kind="value", edges=(0.0, 0.5, 1.0))
    assert b.assignment.tolist() == [-1, 0, 1, 1, -1]


def test_normal_quantile_bands_match_theory():
    from scipy.stats import norm

    rng = np.random.default_rng(1)
    s = rng.normal(size=200_000)
    b = bands(s, kind="value", edges=(-np.inf, norm.ppf(0.3), norm.ppf(0.7), np.inf))
    frac = np.array(list(b.counts().values())) / s.size
    assert np.allclose(frac, [0.3, 0.4, 0.3], atol=0.005)


def test_normalised_logits_map_medians_to_zero_and_one():
    rng = np.random.default_rng(2)
    n = 400
    Z = rng.normal(size=(n, 3))
    y = np.arange(n) % 3
    Z[np.arange(n), y] += 5.0
    t = normalised_logits(Z)
    pred = Z.argmax(1)
    for c in range(3):
        assert np.isclose(np.median(t[pred == c, c]), 1.0)
        assert np.isclose(np.median(t[pred != c, c]), 0.0)
    # affine invariance: scaling/shifting the logits of a class leaves t unchanged
    Z2 = Z.copy()
    Z2[:, 1] = 3 * Z2[:, 1] + 7
    assert np.allclose(normalised_logits(Z2, [1], pred=pred), t[:, [1]])


def test_logit_bands_top_is_top_percentile():
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(1000, 2))
    Z[:500, 0] += 4
    b = logit_bands(Z, 0, edges=(0.3, 0.7), top_percentile=95)
    assert b.names == ["low", "mid", "high", "top"]
    assert b.counts()["top"] == 50
    t = normalised_logits(Z, [0])[:, 0]
    assert np.all(t[b.mask("mid")] >= 0.3) and np.all(t[b.mask("mid")] < 0.7)
    assert sum(b.counts().values()) == 1000


def test_unit_scores_neuron_and_direction():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 4))
    assert np.array_equal(unit_scores(X, unit=2), X[:, 2])
    w = np.array([0.0, 3.0, 0.0, 4.0])
    assert np.allclose(unit_scores(X, direction=w), X @ w / 5.0)
    y = (X[:, 0] > 0).astype(int)
    d = class_mean_direction(X, y, 1)
    assert d[0] > 0.5 and np.allclose(d, X[y == 1].mean(0) - X[y == 0].mean(0))
    p = probe_direction(X, y, 1)
    assert np.argmax(np.abs(p)) == 0
    X_before = X.copy()
    unit_scores(X, direction=w, center=True)
    assert np.array_equal(X, X_before)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: bands(np.arange(10.0), edges=(0, 50, 40, 100)), "strictly increasing"),
        (lambda: bands(np.arange(10.0), edges=(0, 50, 120)), r"\[0, 100\]"),
        (lambda: bands(np.array([1.0, np.nan]), edges=(0, 100)), "NaN"),
        (lambda: bands(np.arange(10.0), kind="value"), "explicit edges"),
        (lambda: bands(np.arange(10.0), kind="nope"), "kind="),
        (lambda: bands(np.arange(10.0), edges=(0, 50, 100), names=("a",)), "one name per band"),
        (lambda: bands(np.ones((3, 2))), "1-D"),
        (lambda: unit_scores(np.ones((5, 3)), unit=7), "out of range"),
        (lambda: unit_scores(np.ones((5, 3)), direction=np.zeros(3)), "zero vector"),
        (lambda: unit_scores(np.ones((5, 3)), direction=np.ones(4)), "same"),
        (lambda: unit_scores(np.ones((5, 3))), "exactly one"),
        (lambda: normalised_logits(np.c_[np.ones(5), np.zeros(5)], [1]), "predicted"),
        (lambda: parse_unit("fc2"), "LAYER:INDEX"),
        (lambda: parse_unit("fc2:x"), "not an integer"),
    ],
)
def test_bad_inputs_raise_input_error(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_parse_unit():
    assert parse_unit("fc2:3") == ("fc2", 3)
    assert parse_unit("a:b:4") == ("a:b", 4)
