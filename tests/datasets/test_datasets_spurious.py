"""spurious_digits: the bias knob sets the marker/class-group agreement; splits are disjoint; seeded."""

import numpy as np
import pytest

from repscope.errors import InputError
from repscope.experiments.datasets.spurious import spurious_digits


@pytest.mark.parametrize("rho", [0.5, 0.8, 0.95, 1.0])
def test_marker_agreement_matches_rho(rho):
    d = spurious_digits(rho, seed=1)
    for split in (d.train, d.val):
        agree = np.mean(split.attributes["marker"] == split.attributes["class_group"])
        se = np.sqrt(max(rho * (1 - rho), 1e-4) / split.n)
        assert abs(agree - rho) < 4 * se + 1e-9
    test_agree = np.mean(d.test.attributes["marker"] == d.test.attributes["class_group"])
    assert abs(test_agree - 0.5) < 0.08


def test_structure_groups_and_marker_pixels():
    d = spurious_digits(0.9, seed=0)
    ids = np.concatenate([s.sample_ids for s in d.splits().values()])
    assert ids.size == 1797 and np.unique(ids).size == 1797  # disjoint, complete
    tr = d.train
    assert tr.X.shape[1:] == (1, 8, 12) and tr.X.dtype == np.float32
    assert tr.X.min() >= 0 and tr.X.max() <= 1
    a = tr.attributes
    assert np.array_equal(a["group"], 2 * a["class_group"] + a["marker"])
    assert np.array_equal(tr.y, (a["digit"] >= 5).astype(int))
    left = a["marker"] == 0
    assert np.all(tr.X[left, 0, 0:2, 0:2] == 1) and np.all(tr.X[~left, 0, 0:2, 10:12] == 1)
    assert d.n_groups == 4 and len(d.group_names) == 4
    # 10-way task keeps the same marker rule
    d10 = spurious_digits(0.9, seed=0, task="digit")
    assert d10.n_classes == 10 and np.array_equal(d10.train.y, d10.train.attributes["digit"])


def test_seeded():
    a, b = spurious_digits(0.9, seed=3), spurious_digits(0.9, seed=3)
    assert np.array_equal(a.train.X, b.train.X) and np.array_equal(a.test.sample_ids, b.test.sample_ids)
    c = spurious_digits(0.9, seed=4)
    assert not np.array_equal(a.train.sample_ids, c.train.sample_ids)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rho": 1.5}, r"\[0, 1\]"),
        ({"rho": "x"}, "not a number"),
        ({"task": "colour"}, "task="),
        ({"fractions": (0.5, 0.5, 0.5)}, "summing to 1"),
    ],
)
def test_bad_inputs(kwargs, match):
    with pytest.raises(InputError, match=match):
        spurious_digits(**kwargs)
