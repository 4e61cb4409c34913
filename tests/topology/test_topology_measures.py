"""The PH measures register themselves with the metrics registry using its documented signature."""

import importlib
import sys
import types

import numpy as np
import pytest

from repscope.topology import diagram_distance, persistence


def test_registers_ph_measures(monkeypatch):
    calls = []

    def register(name, func, *, kind, value_range, description, prepare=None, compare=None):
        calls.append(
            {
                "name": name,
                "func": func,
                "kind": kind,
                "value_range": value_range,
                "description": description,
                "prepare": prepare,
                "compare": compare,
            }
        )

    fake = types.ModuleType("repscope.metrics.registry")
    fake.register = register
    import repscope.metrics

    monkeypatch.setitem(sys.modules, "repscope.metrics.registry", fake)
    monkeypatch.setattr(repscope.metrics, "registry", fake, raising=False)
    monkeypatch.delitem(sys.modules, "repscope.topology.measures", raising=False)
    mod = importlib.import_module("repscope.topology.measures")
    names = {c["name"] for c in calls}
    assert {"ph_sliced_wasserstein", "ph_bottleneck", "ph_sliced_wasserstein_h0", "ph_bottleneck_h1"} <= names
    assert all(c["kind"] == "distance" and c["value_range"] == (0.0, None) and c["description"] for c in calls)
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((30, 4)), rng.standard_normal((25, 6))
    by = {c["name"]: c for c in calls}
    for name, (metric, dim) in mod.MEASURES.items():
        c = by[name]
        want = diagram_distance(persistence(X), persistence(Y), metric, dim)
        assert c["func"](X, Y) == pytest.approx(want)
        assert c["compare"](c["prepare"](X), c["prepare"](Y)) == pytest.approx(want)
