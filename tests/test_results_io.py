"""Results read back (issue 24): ``from_dict(to_dict(r))`` rebuilds every result class field by field,
``save``/``repscope.load_result`` round-trip through a file and through a report's ``results.json``, the
class is found through the registry of result classes only (no module path, no pickle), and results show
in Jupyter as an escaped HTML card with a short plain ``repr``.

Every result class the conformance test (``tests/test_results_protocol.py``) finds is covered: instances come
from the lenses on its small store, from the array-level APIs, and — for the few a test cannot cheaply
produce (an analysis of a sequence store, a paper reproduction) — from their constructors.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import repscope
from repscope.errors import InputError
from repscope.results import MatrixResult, ResultBase, same
from test_results_protocol import NOT_RESULTS, _classes, small_store  # noqa: F401 - fixture reused

EVIL = "<script>alert(1)</script>"


def _series(seed=1):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 20, 200)
    X = np.c_[np.sin(t), np.cos(t)] @ rng.standard_normal((2, 4))
    Y = np.c_[np.sin(1.3 * t), np.cos(1.3 * t)] @ rng.standard_normal((2, 4))
    return X, Y


def _array_level():
    """One or more results of every array-level API that returns a result class."""
    from repscope import dynamics, metrics, topology
    from repscope.descramble.permutation import permutation_descramble
    from repscope.dynamics.inputdsa import fit_dmdc, input_dsa, input_dsa_matrix
    from repscope.dynamics.sweep import sweep_dmd
    from repscope.metrics._rdm import model_rdm, noise_ceiling, rdm_of, rsa_bootstrap
    from repscope.metrics.embedding import frechet_mean, network_embedding
    from repscope.metrics.estimators import estimate
    from repscope.metrics.stochastic import stochastic_fit
    from repscope.metrics.uncertainty import compare_entries
    from repscope.topology.layers import compare_matrices, matrix_correlation, pc_removal_sensitivity
    from repscope.topology.summaries import betti_curve, layer_summaries, persistence_landscape

    rng = np.random.default_rng(2)
    X, Y = _series()
    U = rng.standard_normal((200, 1))
    out = [dynamics.dsa(X, Y, rank=2, return_info=True), dynamics.dsa_matrix([X, Y, X + 0.01], rank=2)]
    fit = dynamics.fit_dmd(X, rank=2)
    out += [fit, fit.residuals(), fit_dmdc(X, U, rank=2), input_dsa(X, U, Y, U, rank=2),
            input_dsa_matrix([X, Y], [U, U], rank=2), sweep_dmd(X, n_delays=[1, 2], ranks=[1, 2])]
    dg = topology.persistence(rng.standard_normal((40, 3)), maxdim=1)
    dg2 = topology.persistence(rng.standard_normal((40, 3)), maxdim=1)
    out += [dg, betti_curve(dg, 1), persistence_landscape(dg, 1), layer_summaries({"a": dg, EVIL: dg2}, dim=1)]
    A = rng.random((4, 4))
    A = A + A.T
    out += [matrix_correlation(A, A + 0.1 * rng.random((4, 4)), permutations=99),
            compare_matrices(A, A.T + 1.0, ["l0", "l1", "l2", EVIL], permutations=99),
            pc_removal_sensitivity(rng.standard_normal((40, 6)), ks=(0, 1, 2), layer=EVIL)]
    labels = np.repeat([0, 1, 2], 10)
    Z = rng.standard_normal((30, 5))
    out += [rdm_of(Z), model_rdm(labels), rsa_bootstrap(Z, model_rdm(labels), n_boot=20, seed=0),
            noise_ceiling(rng.standard_normal((8, 3, 4)))]
    reps = {"a": Z, "b": Z @ np.linalg.qr(rng.standard_normal((5, 5)))[0], EVIL: Z + 0.1}
    out += [frechet_mean(reps), network_embedding(reps), stochastic_fit(Z, Z + 0.1, max_iter=20),
            estimate(Z, Z + 0.1, "linear_cka", seed=0)]
    ci = metrics.layer_matrix({"a": Z, "b": Z + 0.5 * rng.standard_normal(Z.shape), "c": Z ** 2},
                              n_boot=20, seed=0)
    out += [ci, compare_entries(ci, ("a", "b"), ("a", "c"))]
    out += [permutation_descramble(rng.standard_normal((5, 2, 4, 4)), n_init=1, layer="conv")]
    return out


def _constructed(store_results):
    """Results whose producers need a sequence store, a paper or a model: built from their fields."""
    from repscope.descramble.results import ReproductionResult
    from repscope.dynamics.entry import DynamicsAnalysis
    from repscope.dynamics.results import TableResult
    from repscope.ranges._bands import Bands
    from repscope.ranges.views import band_image_grid

    bands = next(r for r in store_results if isinstance(r, Bands))
    images = np.random.default_rng(0).random((bands.n_samples, 4, 4))
    mr = MatrixResult(np.array([[1.0, np.nan], [np.inf, 1.0]]), ["a", EVIL], ["a", EVIL], "cka",
                      value_range=(0.0, None), params={"dims": (3, 4), "n": None}, extra={"k": np.arange(3)})
    return [
        band_image_grid(bands, images, n_per_band=2, captions=[EVIL] * bands.n_samples),
        TableResult(["metric", "ratio"], [["dsa", 2.0], [EVIL, float("nan")]], name="bench", note="a note"),
        ReproductionResult("paper", {"r": 0.5, "pair": (1, 2)}, "reads well", {"x": np.eye(2)}),
        DynamicsAnalysis(results=[mr], reading="r", notes=["n"], layers=["gru"], params={"rank": 2}, seconds=1.5),
        mr,
    ]


@pytest.fixture(scope="module")
def every_result(small_store):  # noqa: F811 - the fixture imported above
    from repscope import descramble, metrics, ranges, topology
    from repscope.capture.listing import list_layers
    from repscope.store import verify_store
    from repscope.store.summary import CaptureSummary

    res = [CaptureSummary.from_store(small_store), verify_store(small_store.path)]
    for lens, kw in [(metrics, {}), (ranges, {"n_permutations": 49}), (topology, {"n_samples": 60}),
                     (descramble, {})]:
        analysis = lens.analyse(small_store, progress=False, **kw)
        res += [analysis, *analysis.results]
    res += _array_level() + _constructed(res)
    import torch

    res.append(list_layers(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU()), torch.zeros(1, 3)))
    return res


def _differences(a, b):
    return [f.name for f in dataclasses.fields(a) if not same(getattr(a, f.name), getattr(b, f.name))]


def test_every_result_class_round_trips(every_result):
    wanted = {name.rsplit(".", 1)[1] for name in _classes() if name not in NOT_RESULTS}
    assert {type(r).__name__ for r in every_result} >= wanted  # every result class has an instance here
    for res in every_result:
        assert isinstance(res, ResultBase), type(res)
        d = res.to_dict()
        assert d["result_type"] == type(res).__name__ and d["format_version"] == 1
        text = json.dumps(d, allow_nan=False)  # strict JSON
        back = type(res).from_dict(json.loads(text))
        assert type(back) is type(res)
        assert not _differences(res, back), (type(res).__name__, _differences(res, back))
        assert json.dumps(back.to_dict(), allow_nan=False) == text, type(res).__name__  # a second to_dict: same
        assert ResultBase.from_dict(d).__class__ is type(res)  # the generic reader finds the class


def test_readable_dict_keeps_its_keys_and_arrays_are_exact():
    """The tags are added beside the keys a result always wrote; arrays come back with dtype, shape, NaN,
    ±inf and complex values; tuples stay tuples; None stays None."""
    from repscope.dynamics import fit_dmd

    m = MatrixResult(np.array([[1.0, np.nan], [-np.inf, 1.0]], dtype=np.float32), ["a", "b"], ["a", "b"], "cka",
                     sd=None, value_range=(0.0, 1.0), extra={"t": (1, "x"), "z": np.array([1, 2], np.int8)})
    d = m.to_dict()
    assert {"type", "metric", "values", "rows"} <= d.keys() and d["values"][0][1] is None
    back = MatrixResult.from_dict(json.loads(json.dumps(d)))
    assert back.values.dtype == np.float32 and np.isnan(back.values[0, 1]) and back.values[1, 0] == -np.inf
    assert back.value_range == (0.0, 1.0) and back.sd is None and back.extra["t"] == (1, "x")
    assert back.extra["z"].dtype == np.int8 and back.extra["z"].tolist() == [1, 2]
    fit = fit_dmd(_series()[0], rank=2)
    again = type(fit).from_dict(json.loads(json.dumps(fit.to_dict())))
    assert np.array_equal(again.eigenvalues_, fit.eigenvalues_)  # complex eigenvalues, bit for bit
    X = _series()[0]
    assert np.array_equal(again.residuals(X).residuals, fit.residuals(X).residuals)  # the model still works


def test_save_and_load_result_through_a_file_and_a_report(tmp_path, every_result):
    from repscope.report import Section, write_report

    mr = next(r for r in every_result if type(r) is MatrixResult)
    path = mr.save(tmp_path / "m.json")
    back = repscope.load_result(path)
    assert type(back) is MatrixResult and not _differences(mr, back)
    dg = next(r for r in every_result if type(r).__name__ == "Diagrams")
    write_report([Section("similarity", [mr, dg], key="similarity")], tmp_path / "rep")
    rj = tmp_path / "rep" / "results.json"
    assert not _differences(repscope.load_result(rj, section="similarity", entry=0), mr)
    assert not _differences(repscope.load_result(rj, section="similarity", entry=dg.title), dg)
    with pytest.raises(InputError, match="section="):
        repscope.load_result(rj)
    with pytest.raises(InputError, match="entry="):
        repscope.load_result(rj, section="similarity", entry=5)


def test_the_file_names_a_class_never_a_module(tmp_path):
    """An unknown or ambiguous name, a module path, a newer format or a dict without tags is refused with an
    InputError naming the fix; nothing is imported or unpickled on the file's say-so."""
    import sys

    d = MatrixResult(np.eye(2), ["a", "b"], ["a", "b"], "cka").to_dict()
    for bad, why in [({**d, "result_type": "os.system"}, "unknown result type"),
                     ({**d, "result_type": "repscope.results.MatrixResult"}, "unknown result type"),
                     ({**d, "format_version": 99}, "upgrade repscope"),
                     ({"values": [[1.0]]}, "result_type")]:
        with pytest.raises(InputError, match=why):
            ResultBase.from_dict(bad)
    evil = {**d, "result_fields": {**d["result_fields"], "extra": {"__rs__": "pickle", "data": "gASV"}}}
    with pytest.raises(InputError, match="newer repscope"):
        ResultBase.from_dict(evil)
    from repscope.descramble.results import DescrambleResult

    with pytest.raises(InputError, match="not a DescrambleResult"):
        DescrambleResult.from_dict(d)
    before = set(sys.modules)
    (tmp_path / "x.json").write_text(json.dumps({**d, "result_type": "json.decoder.JSONDecoder"}))
    with pytest.raises(InputError):
        repscope.load_result(tmp_path / "x.json")
    assert not {m for m in set(sys.modules) - before if not m.startswith("repscope")}
    (tmp_path / "y.json").write_text("not json")
    with pytest.raises(InputError, match="not JSON"):
        repscope.load_result(tmp_path / "y.json")


def test_html_card_escapes_every_user_string(every_result):
    mr = MatrixResult(np.array([[1.0, 0.5], [0.5, 1.0]]), ["a", EVIL], ["a", EVIL], "cka", label=EVIL,
                      description=EVIL)
    card = mr._repr_html_()
    assert "<script" not in card.lower() and "&lt;script&gt;" in card
    assert "<img" in card and "data:image/png;base64," in card and "<table>" in card
    for res in every_result:  # every result renders a card without an unescaped tag from its strings
        card = res._repr_html_()
        assert card.startswith("<div") and "<script" not in card.lower(), type(res).__name__
        if "__repr__" not in vars(type(res)):  # a class's own repr (e.g. LayerTable's aligned table) is kept
            assert len(repr(res)) < 600 and repr(res).startswith(type(res).__name__ + "("), type(res).__name__
    big = MatrixResult(np.zeros((40, 40)), [f"l{i}" for i in range(40)], [f"l{i}" for i in range(40)], "cka")
    assert big._repr_html_().count("<tr>") <= 13 and "first shown" in big._repr_html_()
    assert repr(big) .startswith("MatrixResult(values=<float64 array 40×40>")


def test_every_result_module_is_loaded_by_load_result():
    """``repscope.load_result`` imports the modules in ``repscope._RESULT_MODULES`` and nothing else: every
    module that defines a result class (or a record a result holds) is in it."""
    from repscope.results import _TYPES

    defining = {cls.__module__ for cls in _TYPES.values() if cls is not None and cls.__module__.startswith(
        "repscope.") and not cls.__module__.startswith("repscope.experiments")}
    assert defining <= set(repscope._RESULT_MODULES), defining - set(repscope._RESULT_MODULES)


def test_matrix_rdm_and_bands_as_xarray(every_result):
    """Matrix results: dims (row, col) with the names as coordinates and the measure's settings as attrs;
    an RDM: the square matrix over its conditions; bands: one score per sample with its band."""
    from repscope.metrics._rdm import RDM
    from repscope.ranges._bands import Bands

    m = MatrixResult(np.array([[1.0, 0.25], [0.25, 1.0]]), ["conv", EVIL], ["conv", EVIL], "linear_cka",
                     value_range=(0.0, None), sd=np.full((2, 2), 0.1), n_samples=7)
    da = m.to_xarray()
    assert da.dims == ("row", "col") and da.name == "linear_cka"
    assert float(da.sel(row="conv", col=EVIL)) == 0.25 and da.coords["sd"].shape == (2, 2)
    assert da.attrs["value_range"] == (0.0, float("inf")) and da.attrs["kind"] == "similarity"
    assert da.attrs["n_samples"] == 7 and "ci_level" not in da.attrs
    for res in every_result:
        if isinstance(res, MatrixResult):  # PH distances, DSA matrices, bootstrap CIs: the same layout
            da = res.to_xarray()
            assert np.array_equal(da.values, res.values, equal_nan=True) and list(da.row.values) == res.rows
    rdm = next(r for r in every_result if isinstance(r, RDM) and r.labels is not None)
    da = rdm.to_xarray()
    assert da.shape == (rdm.n, rdm.n) and np.array_equal(da.values, rdm.matrix())
    assert list(da.row.values) == list(rdm.labels) and da.attrs["method"] == rdm.method
    b = next(r for r in every_result if isinstance(r, Bands))
    da = b.to_xarray()
    assert da.dims == ("sample",) and np.array_equal(da.values, b.values)
    assert np.array_equal(da.sample_id.values, b.sample_ids)
    top = b.names[-1]
    assert (da.band.values == top).sum() == b.counts()[top]


def test_xarray_missing_names_the_install_command(monkeypatch):
    import sys

    from repscope.errors import DependencyError

    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(DependencyError, match=r"pip install 'repscope\[xarray\]'"):
        MatrixResult(np.eye(2), ["a", "b"], ["a", "b"], "cka").to_xarray()
