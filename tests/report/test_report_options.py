"""``repscope report``'s flags → the per-lens options of build_report (repscope.report.job.report_options)."""

from __future__ import annotations

import pytest

from repscope.errors import InputError
from repscope.report.job import report_options


def test_no_flags_no_options():
    assert report_options() == {}


def test_each_flag_reaches_its_lens():
    opts = report_options(quick=True, weights="w.pt", weight_name="fc1.weight", direction="fc1:probe:2",
                          layers=["fc1", "fc2"])
    assert opts["descrambling"] == {"weights": "w.pt", "weight_name": "fc1.weight", "layers": ["fc1", "fc2"]}
    assert opts["ranges"] == {"n_permutations": 199, "unit": None, "direction": "fc1:probe:2",
                              "layers": ["fc1", "fc2"]}
    assert opts["topology"] == {"n_samples": 300, "layers": ["fc1", "fc2"]}
    assert opts["similarity"] == opts["dynamics"] == {"layers": ["fc1", "fc2"]}


def test_conflicting_or_incomplete_flags_are_refused():
    with pytest.raises(InputError, match="--weight-name needs --weights"):
        report_options(weight_name="fc1.weight")
    with pytest.raises(InputError, match="at most one of --unit and --direction"):
        report_options(unit="fc2:3", direction="fc1:probe:2")
