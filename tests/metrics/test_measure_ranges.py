"""The measure registry owns each measure's direction (``kind``) and value range: every registered measure —
topology's ``ph_*`` ones included — declares both, every value it returns lies in its range, and the
results that ``layer_matrix`` builds carry the range to their heatmaps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from repscope.errors import InputError
from repscope.metrics import available, layer_matrix, registry, similarity

MEASURES = sorted(available())
STOCHASTIC = {"gaussian_shape", "energy_shape"}  # (n_conditions, n_repeats, d) inputs


def test_every_registered_measure_has_a_kind_and_a_range():
    assert {f"ph_{m}" for m in ("bottleneck", "sliced_wasserstein")} <= set(MEASURES)  # providers loaded
    for name in MEASURES:
        m = registry.get(name)
        assert m.kind in ("similarity", "distance"), name
        lo, hi = registry.check_range(m.range_for({}), name)
        assert hi is None or hi > lo
        if m.kind == "distance":
            assert lo == 0.0, f"{name}: a distance starts at 0"
    desc = registry.describe()
    assert desc["linear_cka"]["range"] == "[0, 1]" and desc["procrustes"]["range"] == "[0, π/2]"
    assert desc["rsa"]["range"] == "[-1, 1]" and desc["ph_bottleneck"]["range"] == "[0, ∞)"


def test_ranges_that_depend_on_the_options():
    assert registry.get("cca").range_for({"summary": "pillai"}) == (0.0, None)  # Σρ² up to the rank
    assert registry.get("cca").range_for({}) == (0.0, 1.0)
    assert registry.get("shape_metric").range_for({"score_method": "euclidean"}) == (0.0, None)
    assert registry.get("shape_metric").range_for({}) == pytest.approx((0.0, math.pi / 2))


def _pairs(name: str, seed: int):
    """Independent, linearly related, identical and rescaled pairs (and X with itself)."""
    rng = np.random.default_rng(seed)
    lead = (8, 4) if name in STOCHASTIC else (36,)
    X = rng.standard_normal((*lead, 5))
    Z = rng.standard_normal((*lead, 4))
    related = X @ rng.standard_normal((5, 4)) + 0.3 * Z
    yield X, Z
    yield X, related
    yield X, X.copy()
    yield X, -3.0 * X
    yield np.abs(X) ** 3, Z  # skewed, heavy-tailed


@pytest.mark.parametrize("name", MEASURES)
def test_every_value_lies_in_the_declared_range(name):
    m = registry.get(name)
    lo, hi = m.range_for({})
    for seed in range(3):
        for X, Y in _pairs(name, seed):
            v = similarity(X, Y, name)
            tol = 1e-9 * max(1.0, abs(v))
            assert v >= lo - tol and (hi is None or v <= hi + tol), (name, seed, v, (lo, hi))


def test_layer_matrix_results_carry_the_registry_range():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 4))
    layers = {"a": X, "b": X + rng.standard_normal((30, 4))}
    for name in ("linear_cka", "procrustes", "rsa", "ph_bottleneck", "mutual_knn"):
        M = layer_matrix(layers, metric=name)
        assert M.kind == registry.get(name).kind
        assert M.value_range == registry.get(name).range_for(M.params)
        lo, hi = M.colour_range()
        assert lo == registry.get(name).range_for({})[0] and hi >= np.nanmax(M.values)
    pil = layer_matrix(layers, metric="cca", summary="pillai")
    assert pil.value_range == (0.0, None) and pil.colour_range()[1] == pytest.approx(np.max(pil.values))


def test_a_measure_without_a_valid_range_is_refused():
    for bad in [(1.0, 0.0), (0.0,), (-math.inf, 1.0), ("0", "1"), None]:
        with pytest.raises(InputError, match="value_range"):
            registry.register("test_bad_range", lambda X, Y: 0.0, kind="similarity", value_range=bad,
                              description="")
    assert "test_bad_range" not in registry.available()
