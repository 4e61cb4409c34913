"""The `repscope topology` command and the demo section, on a small duck-typed store."""

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

import repscope.metrics
import repscope.store
from repscope.errors import InputError


class FakeStore:
    """Duck-typed ActivationStore: conv layers kept with their (C, H, W) shape, labels = class."""

    def __init__(self, n=150, seed=0):
        rng = np.random.default_rng(seed)
        y = np.arange(n) % 3
        centers = rng.standard_normal((3, 8)) * 4
        fc = centers[y] + rng.standard_normal((n, 8))
        arrays = {
            "conv1": rng.standard_normal((n, 4, 3, 3)),
            "conv2": rng.standard_normal((n, 6, 2, 2)) + y[:, None, None, None],
            "fc1": fc,
            "fc2": fc @ rng.standard_normal((8, 3)),
        }
        self._a = {k: v.reshape(n, -1).astype(np.float32) for k, v in arrays.items()}
        self._s = {k: v.shape[1:] for k, v in arrays.items()}
        self.layers, self.n_samples, self.labels = list(arrays), n, y

    def read(self, layer, rows=None):
        a = self._a[layer]
        return a if rows is None else a[np.asarray(rows)]

    def layer_shape(self, layer):
        return self._s[layer]


def _cka(X, Y):  # reference linear CKA (Kornblith et al. 2019), feature-space form
    X = np.asarray(X, float) - np.mean(X, axis=0)
    Y = np.asarray(Y, float) - np.mean(Y, axis=0)
    return np.linalg.norm(X.T @ Y) ** 2 / (np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y))


@pytest.fixture
def app(monkeypatch):
    store = FakeStore()
    monkeypatch.setattr(repscope.store, "open_store", lambda path: store, raising=False)
    from repscope.commands.topology import register

    a = typer.Typer()
    register(a)

    @a.command("noop")  # a second command keeps typer in multi-command mode, as in the real CLI
    def _noop() -> None:
        pass

    return a


def test_cli_writes_json_and_pngs(app, tmp_path):
    r = CliRunner().invoke(
        app, ["topology", "fake.zarr", "--n-samples", "100", "--out", str(tmp_path), "--json", "--seed", "1"]
    )
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["ph_layer_matrix"]["layers"] == ["conv1", "conv2", "fc1", "fc2"]
    assert set(res["mapper"]) == {"conv1", "conv2", "fc1", "fc2"}
    assert (tmp_path / "topology.json").exists() and (tmp_path / "ph_layer_matrix.png").exists()
    assert (tmp_path / "mapper_fc1.png").exists() and (tmp_path / "mapper_trend.png").exists()
    summ = res["layer_summaries"]
    assert summ["layers"] == ["conv1", "conv2", "fc1", "fc2"] and len(summ["entropy"]) == 4
    assert (tmp_path / "layer_summaries.png").exists()


def test_cli_rejects_unknown_layer(app):
    r = CliRunner().invoke(app, ["topology", "fake.zarr", "--layers", "conv1,nope", "--quiet"])
    assert isinstance(r.exception, InputError) and "nope" in str(r.exception)


def test_demo_results_follow_the_result_protocol(monkeypatch, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.setattr(repscope.metrics, "linear_cka", _cka, raising=False)
    from repscope.experiments.topology.demo import demo_results

    res = demo_results(FakeStore(), out_dir=tmp_path, seed=0, n_samples=90, resamples=2, reproduce=False)
    titles = [r.title for r in res]
    assert any("PH layer distances" in t for t in titles) and any("CKA" in t for t in titles)
    for r in res:
        json.dumps(r.to_dict(), allow_nan=False)
        assert isinstance(r.summary(), str) and r.summary()
        assert r.plot() is not None
    trend = next(r for r in res if r.title == "Mapper purity across layers")
    assert trend.node_purity[2] > trend.node_purity[0]  # class structure appears in fc1, not in noise conv1
    assert json.loads((tmp_path / "topology_timings.json").read_text())["n_samples"] == 90


def test_cli_mapper_tooltips_from_images_and_texts(app, tmp_path):
    n = 150
    np.save(tmp_path / "imgs.npy", np.random.default_rng(0).uniform(size=(n, 6, 6)))
    (tmp_path / "texts.txt").write_text("\n".join(f"sample {i}" for i in range(n)) + "\n")
    args = ["topology", "fake.zarr", "--layers", "fc1,fc2", "--n-samples", "100", "--json", "--quiet",
            "--mapper-lens", "pca", "--mapper-clusterer", "single_linkage"]
    r = CliRunner().invoke(app, [*args, "--mapper-images", str(tmp_path / "imgs.npy"),
                                 "--mapper-texts", str(tmp_path / "texts.txt")])
    assert r.exit_code == 0, r.output
    g = json.loads(r.stdout)["mapper"]["fc1"]
    assert g["lens"] == "PC1" and g["params"]["clusterer"] == "single_linkage"
    tip = g["nodes"][0]["tooltips"][0]
    assert tip["image"].startswith("data:image/png;base64,") and tip["text"].startswith("sample ")
    # member indices are rows of the 100-sample draw; the text is that of the stored sample they come from
    rows = np.sort(np.random.default_rng(0).choice(n, 100, replace=False))
    assert tip["text"] == f"sample {rows[tip['index']]}"
    (tmp_path / "short.txt").write_text("a\nb\n")
    bad = CliRunner().invoke(app, [*args, "--mapper-texts", str(tmp_path / "short.txt")])
    assert isinstance(bad.exception, InputError) and "one line per sample" in str(bad.exception)


def test_cli_prints_the_summaries_of_what_its_json_holds(app):
    from repscope.results import ResultBase

    args = ["topology", "fake.zarr", "--n-samples", "100", "--seed", "1"]
    res = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    text = CliRunner().invoke(app, args).stdout.splitlines()
    want = [ResultBase.from_dict(res[k]).summary() for k in ("ph_layer_matrix", "layer_summaries", "mapper_trend")]
    assert text[:3] == want and all(line.startswith("note: ") for line in text[3:])
