"""dsprites_lite: bias knob, latent structure, rendering, seeding, bad inputs."""

import numpy as np
import pytest

from repscope.errors import InputError
from repscope.experiments.datasets.dsprites import POS_BINS, dsprites_lite, make_dsprites_lite, render_shapes


@pytest.mark.parametrize("f", [0.0, 0.5, 0.9, 1.0])
def test_fraction_pos_bias_sets_position_shape_agreement(f):
    s = make_dsprites_lite(3000, f, seed=0, canvas=16)
    agree = s.attributes["agrees"].mean()
    expected = f + (1 - f) / 3  # biased samples always agree; control ones by chance
    assert abs(agree - expected) < 0.035
    assert abs(s.attributes["biased"].mean() - f) < 0.035


def test_positions_lie_in_the_spaced_bins_and_groups_are_consistent():
    s = make_dsprites_lite(2000, 0.7, seed=1, canvas=16)
    a = s.attributes
    for b, (lo, hi) in enumerate(POS_BINS):
        x = a["pos_x"][a["pos_bin"] == b]
        assert x.min() >= lo and x.max() <= hi
    assert np.array_equal(a["group"], 3 * a["shape"] + a["pos_bin"])
    assert np.all(a["pos_bin"][a["biased"] == 1] == s.y[a["biased"] == 1])
    assert np.array_equal(s.y, a["shape"])


def test_rendering_position_and_area():
    n = 3
    img = render_shapes(
        np.array([0, 1, 2]), np.ones(n), np.zeros(n), np.array([0.0, 0.5, 1.0]), np.full(n, 0.5), canvas=32
    )
    assert img.shape == (3, 1, 32, 32) and img.min() >= 0 and img.max() <= 1
    cols = np.arange(32)
    com = [(im[0].sum(0) * cols).sum() / im[0].sum() for im in img]
    assert com[0] < com[1] < com[2]  # left, centre, right
    R = 32 / 4
    assert img[0].sum() == pytest.approx((1.6 * R) ** 2, rel=0.05)  # square side 2·0.8·R
    assert img[1].sum() == pytest.approx(np.pi * R * 0.5 * R, rel=0.05)  # ellipse, semi-axes R, R/2
    # rotating a square by 90° leaves it unchanged
    a = render_shapes(np.array([0]), np.ones(1), np.zeros(1), np.full(1, 0.5), np.full(1, 0.5))
    b = render_shapes(np.array([0]), np.ones(1), np.full(1, np.pi / 2), np.full(1, 0.5), np.full(1, 0.5))
    assert np.allclose(a, b, atol=1e-5)


def test_dataset_splits_and_seed():
    d = dsprites_lite(1.0, n_train=300, n_val=150, n_test=300, seed=2, canvas=16)
    assert d.train.attributes["agrees"].all() and d.val.attributes["agrees"].all()
    assert abs(d.test.attributes["agrees"].mean() - 1 / 3) < 0.1  # control test set
    ids = np.concatenate([d.train.sample_ids, d.val.sample_ids, d.test.sample_ids])
    assert np.unique(ids).size == ids.size
    d2 = dsprites_lite(1.0, n_train=300, n_val=150, n_test=300, seed=2, canvas=16)
    assert np.array_equal(d.train.X, d2.train.X)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"fraction_pos_bias": -0.1}, r"\[0, 1\]"),
        ({"fraction_pos_bias": "a"}, "not a number"),
        ({"canvas": 8}, "too small"),
        ({"n": 0}, "positive"),
    ],
)
def test_bad_inputs(kwargs, match):
    args = {"n": 10, "fraction_pos_bias": 0.5, **kwargs}
    with pytest.raises(InputError, match=match):
        make_dsprites_lite(**args)
