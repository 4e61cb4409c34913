"""Layer matrices: streamed == in-memory, store matching, result object, registry, CLI, demo hook."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import repscope.metrics as M
from repscope.errors import InputError
from repscope.metrics import registry


def _layers(n=90, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, 6))
    dims = [5, 8, 3, 7]
    return {
        f"l{i}": base @ rng.standard_normal((6, d)) + 0.7 * i * rng.standard_normal((n, d)) + offset
        for i, d in enumerate(dims)
    }


class FakeStore:
    """Store-like object (COMMON.md interface) with per-layer chunk sizes."""

    def __init__(self, arrays, ids=None, chunks=None):
        self._a = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
        self.layers = list(self._a)
        self.n_samples = next(iter(self._a.values())).shape[0]
        self.sample_ids = np.arange(self.n_samples) if ids is None else np.asarray(ids)
        self._chunks = chunks or {k: 7 + 3 * i for i, k in enumerate(self.layers)}

    def read(self, layer, rows=None):
        a = self._a[layer]
        return a if rows is None else a[rows]

    def iter_rows(self, layer, block_rows=None):
        c = self._chunks[layer]
        for s in range(0, self.n_samples, c):
            yield s, self._a[layer][s : s + c]


LINEAR = [
    "linear_cka",
    "debiased_cka",
    "procrustes",
    "cca",
    "svcca",
    "pwcca",
    "linear_regression",
    "shape_metric",
]


@pytest.mark.parametrize("metric", LINEAR)
def test_streamed_equals_in_memory(metric):
    L = _layers(offset=50.0)  # large mean offset: exercises the exact block-mean merge
    kw = {"alpha": 0.5} if metric == "shape_metric" else {}
    r = M.layer_matrix(L, metric=metric, block_rows=11, **kw)
    names = list(L)
    ref = np.array([[M.similarity(L[a], L[b], metric, **kw) for b in names] for a in names])
    tol = 1e-7 if metric in ("procrustes", "shape_metric") else 1e-10  # arccos near 0 amplifies 1e-16
    assert np.allclose(r.values, ref, atol=tol)
    assert r.rows == r.cols == names and r.kind == registry.get(metric).kind


@pytest.mark.parametrize("metric", ["rsa", "mutual_knn", "rbf_cka"])
def test_generic_path_equals_pairwise(metric):
    L = _layers(n=40)
    r = M.layer_matrix(L, metric=metric)
    names = list(L)
    ref = np.array([[M.similarity(L[a], L[b], metric) for b in names] for a in names])
    assert np.allclose(r.values, ref, atol=1e-12)


def test_store_source_and_cross_store_matching():
    L = _layers(n=70, seed=1)
    store = FakeStore(L)
    r_store = M.layer_matrices(store, metrics="linear_cka,procrustes", block_rows=16)
    L32 = {k: v.astype(np.float32) for k, v in L.items()}
    r_mem = M.layer_matrices(L32, metrics=["linear_cka", "procrustes"])
    for a, b in zip(r_store, r_mem):
        assert np.allclose(a.values, b.values, atol=1e-7)
    # second store with the same samples in another order: matched by id
    perm = np.random.default_rng(2).permutation(70)
    other = FakeStore({k: v[perm] for k, v in L.items()}, ids=perm)
    cross = M.layer_matrix(store, other, metric="linear_cka", layers=["l0", "l3"])
    assert cross.rows == ["l0", "l3"] and cross.cols == ["l0", "l3"]
    assert np.allclose(
        cross.values, M.layer_matrix(L32, metric="linear_cka", layers="l0,l3").values, atol=1e-7
    )
    gen = M.layer_matrix(store, other, metric="rsa", layers=["l1", "l2"])
    assert np.allclose(gen.values, M.layer_matrix(L32, metric="rsa", layers=["l1", "l2"]).values, atol=1e-12)
    bad = FakeStore(L, ids=np.arange(70) + 5)
    with pytest.raises(InputError, match="different samples"):
        M.layer_matrix(store, bad)
    with pytest.raises(InputError, match="no layer"):
        M.layer_matrix(store, layers=["l0", "nope"])


def test_bad_sources_and_nonfinite_blocks():
    with pytest.raises(InputError, match="ActivationStore"):
        M.layer_matrix([np.zeros((5, 2))])
    with pytest.raises(InputError, match="different sample counts"):
        rng = np.random.default_rng(0)
        M.layer_matrix({"a": rng.random((10, 2)), "b": rng.random((9, 2))})
    L = _layers(n=30)
    L["l1"] = L["l1"].copy()
    L["l1"][17, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        M.layer_matrix(FakeStore(L))
    with pytest.raises(InputError, match="unknown measure"):
        M.layer_matrix(_layers(n=20), metric="nope")


def test_layer_matrix_result_object(tmp_path):
    r = M.layer_matrix(_layers(n=50), metric="linear_cka")
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["metric"] == "linear_cka" and len(d["values"]) == 4
    path = r.to_csv(tmp_path / "m.csv")
    rows = path.read_text().splitlines()
    assert rows[0].split(",")[1:] == r.cols
    assert float(rows[2].split(",")[3]) == pytest.approx(r.values[1, 2])
    fig = r.plot()
    assert fig.axes and "linear_cka" in fig.axes[0].get_title()
    assert len(r.plotly().data) == 1
    text = r.summary()
    assert "linear_cka" in text and "Closest pair" in text
    header, body = r.table()
    assert header[1:] == r.cols and len(body) == 4
    assert np.allclose(np.diag(r.values), 1.0)


def test_registry_and_similarity_dispatch():
    names = M.available()
    for m in [
        "linear_cka",
        "rbf_cka",
        "debiased_cka",
        "procrustes",
        "cca",
        "svcca",
        "pwcca",
        "rsa",
        "mutual_knn",
        "jaccard_knn",
        "linear_regression",
        "shape_metric",
    ]:
        assert m in names
    assert registry.get("procrustes").kind == "distance"
    assert M.available(kind="distance") == sorted(n for n in names if registry.get(n).kind == "distance")
    X, Y = _layers(n=30)["l0"], _layers(n=30)["l1"]
    assert M.similarity(X, Y, "cca", summary="pillai") == M.cca(X, Y, summary="pillai")
    with pytest.raises(InputError, match="kind"):
        registry.register("x_bad", lambda X, Y: 0.0, kind="closeness", value_range=(0.0, 1.0), description="")
    with pytest.raises(InputError, match="already registered"):
        registry.register("linear_cka", lambda X, Y: 0.0, kind="similarity", value_range=(0.0, 1.0),
                          description="")


def test_registry_providers(tmp_path, monkeypatch):
    (tmp_path / "rs_prov_ok.py").write_text(
        "from repscope.metrics.registry import register\n"
        "def f(X, Y):\n    return 0.5\n"
        "register('test_provided', f, kind='distance', value_range=(0.0, None), description='from a provider')\n"
    )
    (tmp_path / "rs_prov_broken.py").write_text("import definitely_missing_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_PROVIDERS", ["repscope.topology.does_not_exist_yet", "rs_prov_ok"])
    monkeypatch.setattr(registry, "_loaded", set())
    assert "test_provided" in registry.available()
    assert registry.get("test_provided").kind == "distance"
    monkeypatch.setattr(registry, "_PROVIDERS", ["rs_prov_broken"])
    monkeypatch.setattr(registry, "_loaded", set())
    with pytest.raises(ModuleNotFoundError, match="definitely_missing_dependency_xyz"):
        registry.available()
    registry._REGISTRY.pop("test_provided", None)
    sys.modules.pop("rs_prov_ok", None)


def test_demo_results_hook(tmp_path):
    from repscope.experiments.similarity.demo import DEMO_MEASURES, demo_results

    res = demo_results(FakeStore(_layers(n=60, seed=3)), out_dir=tmp_path, seed=0)
    assert [r.metric for r in res] == list(DEMO_MEASURES)
    for r in res:
        assert r.values.shape == (4, 4) and np.isfinite(r.values).all()
        assert DEMO_MEASURES[r.metric] in r.summary()
        assert (tmp_path / f"similarity_{r.metric}.csv").exists()


def test_compare_command(tmp_path, monkeypatch):
    import typer
    from typer.testing import CliRunner

    from repscope.commands.compare import register

    stores = {"a": FakeStore(_layers(n=40, seed=4)), "b": FakeStore(_layers(n=40, seed=5))}
    monkeypatch.setattr("repscope.store.open_store", lambda p: stores[str(p)])
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps typer in multi-command mode
        pass

    out = tmp_path / "cmp"
    res = CliRunner().invoke(
        app,
        [
            "compare",
            "a",
            "--metric",
            "linear_cka,procrustes",
            "--layers",
            "l0,l2",
            "--out",
            str(out),
            "--json",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output)
    assert [r["metric"] for r in payload["results"]] == ["linear_cka", "procrustes"]
    for ext in ("json", "csv", "png"):
        assert (out / f"procrustes.{ext}").exists()
    res2 = CliRunner().invoke(app, ["compare", "a", "b", "--metric", "cca", "--quiet", "--json"])
    assert res2.exit_code == 0 and json.loads(res2.output)["results"][0]["rows"] == ["l0", "l1", "l2", "l3"]


def test_wide_layers_use_sample_space_and_agree_with_pairwise_cka():
    """Layers much wider than n (full-resolution conv maps) take the n×n Gram path; same values."""

    rng = np.random.default_rng(3)
    n = 150
    base = rng.standard_normal((n, 6))
    src = {f"w{i}": base @ rng.standard_normal((6, 700)) + 0.4 * rng.standard_normal((n, 700)) + 7.0
           for i in range(3)}
    src["narrow"] = base @ rng.standard_normal((6, 4))
    ref = np.array([[M.linear_cka(src[a], src[b]) for b in src] for a in src])
    res = M.layer_matrix(src, metric="linear_cka")
    assert res.meta["formulation"] == "gram"
    np.testing.assert_allclose(res.values, ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(M.layer_matrix(src, src, metric="linear_cka").values, ref, rtol=0, atol=1e-12)
    src["const"] = np.ones((n, 800))
    with pytest.raises(InputError, match="constant"):
        M.layer_matrix(src, metric="linear_cka")


def test_n_workers_is_accepted_wherever_scheduler_is():
    """One vocabulary: layer_matrix takes n_workers like the other lenses; generic measures give the same
    values serially and with two workers."""
    L = _layers(n=40)
    a = M.layer_matrix(L, metric="rbf_cka", n_workers=1)
    b = M.layer_matrix(L, metric="rbf_cka", n_workers=2, scheduler="processes")
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)
