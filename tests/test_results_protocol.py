"""Every result class follows the one protocol of ``repscope.results`` (issue 14's conformance test).

Statically: every library class with ``to_dict`` has ``title``, ``plot(ax=None)``, ``plotly``, ``summary``
and ``table`` (a few data records that are not report results are listed, with the reason). Behaviourally:
the results the lenses return on a small store, and the results of the array-level APIs, each give strict
JSON, a figure drawn into a given axes, a plotly figure or None, a string summary and a well-formed table.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil

import numpy as np
import pytest

import repscope
from repscope.results import Result

LIBRARY = ["results", "store", "capture", "metrics", "ranges", "topology", "dynamics", "descramble", "report"]
#: Classes with to_dict() that are data records, not report results.
NOT_RESULTS = {
    "repscope.results.Result": "the protocol itself",
    "repscope.store.core.ActivationStore": "the store (its report card is store.summary.CaptureSummary)",
    "repscope.capture.listing.LayerInfo": "one row of list_layers' table (the table is the result)",
    "repscope.ranges.analysis.RangeAnalysis": "a holder; .results() lists its result objects",
    "repscope.dynamics.trajectories.TrajectoryComparison": "a holder; .results lists its result objects",
    "repscope.metrics.stored.LayerRSA": "a holder of RDM and RSABootstrap results (repscope rsa writes those)",
    "repscope.dynamics.simdist.SimilarityInfo": "an optimisation certificate carried by DSAResult",
    "repscope.dynamics.config.DSAConfig": "a validated parameter object (results carry its to_dict in params)",
}


def _classes():
    out = {}
    for part in LIBRARY:
        pkg = importlib.import_module(f"repscope.{part}")
        mods = [pkg]
        if hasattr(pkg, "__path__"):
            mods += [importlib.import_module(m.name) for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
        for mod in mods:
            for name, cls in inspect.getmembers(mod, inspect.isclass):
                if cls.__module__ == mod.__name__ and hasattr(cls, "to_dict"):
                    out[f"{cls.__module__}.{name}"] = cls
    return out


def test_every_result_class_has_the_whole_protocol():
    classes = _classes()
    assert len(classes) > 30
    bad = {}
    for name, cls in classes.items():
        if name in NOT_RESULTS:
            continue
        lack = [m for m in ("to_dict", "plot", "plotly", "summary", "table", "title") if not hasattr(cls, m)]
        if not lack and "ax" not in inspect.signature(cls.plot).parameters:
            lack = ["plot(ax=None)"]
        if lack:
            bad[name] = lack
    assert not bad, bad


def _check(res):
    from matplotlib.figure import Figure

    from repscope.results import subplots

    assert isinstance(res, Result), type(res)
    assert isinstance(res.title, str) and res.title
    json.dumps(res.to_dict(), allow_nan=False)
    assert isinstance(res.summary(), str) and res.summary()
    header, rows = res.table()
    assert all(len(r) == len(header) for r in rows) or header == []
    fig, ax = subplots(figsize=(4, 3))
    got = res.plot(ax=ax)
    assert got is fig and isinstance(got, Figure)  # drawn into the caller's axes' figure
    assert isinstance(res.plot(), Figure)
    pf = res.plotly()
    assert pf is None or type(pf).__name__ == "Figure"


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((90, 8)).astype(np.float32)
    y = np.asarray(model(torch.from_numpy(X)).argmax(1))
    return repscope.capture(model, X, ["0", "2", "4"], tmp_path_factory.mktemp("p") / "s.zarr", labels=y,
                            attributes={"grp": rng.integers(0, 2, 90)}, progress=False)


def test_results_of_the_lenses_follow_the_protocol(small_store):
    from repscope import descramble, metrics, ranges, topology
    from repscope.store import verify_store
    from repscope.store.summary import CaptureSummary

    seen = set()
    results = [CaptureSummary.from_store(small_store), verify_store(small_store.path)]
    results += metrics.analyse(small_store, progress=False).results
    results += ranges.analyse(small_store, progress=False, n_permutations=49).results
    results += topology.analyse(small_store, progress=False, n_samples=60).results
    results += descramble.analyse(small_store, progress=False).results
    for res in results:
        _check(res)
        seen.add(type(res).__name__)
    assert {"MatrixResult", "CaptureSummary", "VerifyResult", "Diagrams", "MapperGraph"} <= seen


def test_array_level_results_follow_the_protocol():
    from repscope import dynamics, topology
    from repscope.metrics._rdm import model_rdm, rdm_of

    rng = np.random.default_rng(1)
    t = np.linspace(0, 20, 200)
    X = np.c_[np.sin(t), np.cos(t)] @ rng.standard_normal((2, 4))
    Y = np.c_[np.sin(1.3 * t), np.cos(1.3 * t)] @ rng.standard_normal((2, 4))
    _check(dynamics.dsa(X, Y, rank=2, return_info=True))
    _check(dynamics.dsa_matrix([X, Y, X + 0.01], rank=2))
    _check(dynamics.fit_dmd(X, rank=2))
    _check(topology.persistence(rng.standard_normal((40, 3)), maxdim=1))
    labels = np.repeat([0, 1, 2], 10)
    _check(rdm_of(rng.standard_normal((30, 5))))
    _check(model_rdm(labels))
