"""Diagram distances: persim agreement on committed vectors, metric axioms, conventions."""

import json
import pathlib

import numpy as np
import pytest

from repscope.errors import InputError
from repscope.topology import (
    bottleneck,
    diagram_distance,
    persistence,
    persistence_image_distance,
    sliced_wasserstein,
    wasserstein,
)

DATA = pathlib.Path(__file__).parent / "data" / "sliced_wasserstein_vectors.json"
CASES = json.loads(DATA.read_text())["cases"]


def _d(x):
    return np.asarray(x, dtype=float).reshape(-1, 2)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_sliced_wasserstein_equals_persim(case):
    for M, want in case["sliced_wasserstein"].items():
        got = sliced_wasserstein(_d(case["d1"]), _d(case["d2"]), M=int(M))
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("case", [c for c in CASES if c["bottleneck"] is not None], ids=lambda c: c["name"])
def test_bottleneck_equals_persim(case):
    assert bottleneck(_d(case["d1"]), _d(case["d2"])) == pytest.approx(case["bottleneck"], rel=1e-9)


def _random_diagrams(k, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(k):
        m = int(rng.integers(1, 15))
        b = rng.uniform(0, 1, m)
        out.append(np.stack([b, b + rng.exponential(0.4, m)], axis=1))
    return out


@pytest.mark.parametrize("metric", ["bottleneck", "wasserstein", "sliced_wasserstein", "persistence_image"])
def test_metric_axioms(metric):
    kw = {"bandwidth": 0.05} if metric == "persistence_image" else {}
    ds = _random_diagrams(6, seed=4)
    for a in ds:
        assert diagram_distance(a, a, metric, **kw) == pytest.approx(0.0, abs=1e-12)
    for i in range(len(ds)):
        for j in range(len(ds)):
            dij = diagram_distance(ds[i], ds[j], metric, **kw)
            assert dij == pytest.approx(diagram_distance(ds[j], ds[i], metric, **kw), rel=1e-12, abs=1e-15)
            if i != j:
                assert dij > 0
            if metric == "persistence_image":
                continue  # images use a grid shared per pair, so only symmetry/identity are exact
            for k in range(len(ds)):
                dik = diagram_distance(ds[i], ds[k], metric, **kw)
                dkj = diagram_distance(ds[k], ds[j], metric, **kw)
                assert dij <= dik + dkj + 1e-9


def test_wasserstein_bounds_bottleneck():
    for a, b in zip(_random_diagrams(5, 1), _random_diagrams(5, 2)):
        assert wasserstein(a, b) >= bottleneck(a, b) - 1e-12  # W1 ≥ W∞ with the same ground metric


def test_single_point_against_empty_diagram():
    a = np.array([[1.0, 3.0]])
    e = np.zeros((0, 2))
    assert bottleneck(a, e) == pytest.approx(1.0)  # half the persistence, L∞ to the diagonal
    assert wasserstein(a, e) == pytest.approx(1.0)
    assert sliced_wasserstein(e, e) == 0.0


def test_infinite_points_are_dropped_and_diagrams_objects_accepted():
    a = np.array([[0.0, np.inf], [0.0, 1.0], [0.0, 2.0]])
    b = np.array([[0.0, np.inf], [0.0, 1.5]])
    assert bottleneck(a, b) == pytest.approx(bottleneck(a[1:], b[1:]))
    rng = np.random.default_rng(0)
    d1, d2 = persistence(rng.standard_normal((30, 3))), persistence(rng.standard_normal((30, 3)))
    assert diagram_distance(d1, d2, "sliced_wasserstein", dim=0) == pytest.approx(
        sliced_wasserstein(d1.finite(0), d2.finite(0))
    )


def test_persistence_image_distance_grows_with_shift():
    a = np.array([[0.0, 1.0], [0.2, 0.9]])
    near, far = a + [0.0, 0.05], a + [0.0, 0.5]
    assert persistence_image_distance(a, near, bandwidth=0.1) < persistence_image_distance(
        a, far, bandwidth=0.1
    )


def test_bad_inputs():
    with pytest.raises(InputError, match="unknown"):
        diagram_distance(np.zeros((1, 2)), np.zeros((1, 2)), "nope")
    with pytest.raises(InputError, match=r"\(k, 2\)"):
        sliced_wasserstein(np.zeros((3, 3)), np.zeros((1, 2)))
    with pytest.raises(InputError, match="death < birth"):
        bottleneck(np.array([[2.0, 1.0]]), np.zeros((1, 2)))
    with pytest.raises(InputError, match="dim"):
        diagram_distance(persistence(np.eye(4)), persistence(np.eye(4)), dim=None)
    with pytest.raises(InputError, match="M="):
        sliced_wasserstein(np.zeros((1, 2)), np.zeros((1, 2)), M=0)
