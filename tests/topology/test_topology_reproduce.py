"""The deeper-CNN reproduction (issue 5): all conv/linear layers, PH vs 1 − CKA, mapper purity with depth."""

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from repscope.errors import InputError
from repscope.experiments.topology.recipe import cka_distance_matrix
from repscope.experiments.topology.reproduce import build_deep_cnn, deeper_cnn_reproduction
from repscope.metrics import linear_cka

LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc1", "fc2"]


@pytest.fixture(scope="module")
def results():
    import matplotlib

    matplotlib.use("Agg")
    # small and fast: 300 digits, one draw, 5 epochs (≈ 5 s on a loaded 2-core machine)
    return deeper_cnn_reproduction(seed=0, n_samples=300, dataset="digits", resamples=1, epochs=5, rms_check=False)


def test_cka_distance_matrix_equals_linear_cka():
    rng = np.random.default_rng(0)
    n = 40
    base = rng.standard_normal((n, 5))
    acts = {
        "wide": np.hstack([base, rng.standard_normal((n, 60))]),  # p > n: Gram form
        "narrow": base @ rng.standard_normal((5, 3)) + 0.1 * rng.standard_normal((n, 3)),
        "rotated": 3.0 * base @ np.linalg.qr(rng.standard_normal((5, 5)))[0] + 7.0,  # CKA-invariant copy of base
        "base": base,
    }
    names = list(acts)
    D = cka_distance_matrix(acts, names)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            ref = 0.0 if i == j else 1.0 - linear_cka(acts[a], acts[b])
            assert D[i, j] == pytest.approx(ref, abs=1e-12)
    assert D[names.index("rotated"), names.index("base")] == pytest.approx(0.0, abs=1e-12)


def test_cka_distance_matrix_rejects_constant_layer():
    acts = {"a": np.random.default_rng(0).standard_normal((10, 3)), "b": np.ones((10, 4))}
    with pytest.raises(InputError, match="zero variance"):
        cka_distance_matrix(acts, ["a", "b"])


def test_deep_cnn_has_five_convs_and_two_linears():
    from torch import nn

    net = build_deep_cnn((1, 32, 32), 3)
    names = [nm for nm, m in net.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    assert names == LAYERS


def test_reproduction_covers_all_layers_and_purity_rises(results):
    from repscope.experiments.topology.reproduce import ReproductionReading
    from repscope.metrics import LayerMatrix
    from repscope.topology import MapperGraph, MapperTrend, MatrixComparison, PHLayerMatrix

    ph = next(r for r in results if isinstance(r, PHLayerMatrix))
    comp = next(r for r in results if isinstance(r, MatrixComparison))
    cka = next(r for r in results if isinstance(r, LayerMatrix) and not isinstance(r, PHLayerMatrix))
    trend = next(r for r in results if isinstance(r, MapperTrend))
    graphs = [r for r in results if isinstance(r, MapperGraph)]
    reading = results[-1]
    assert isinstance(reading, ReproductionReading)

    # PH matrix over every captured conv/linear layer: a distance matrix
    assert ph.layers == LAYERS and ph.n_samples == 300 and ph.dim == 1 and ph.cloud == "top_l2"
    assert np.allclose(np.diag(ph.values), 0.0) and np.allclose(ph.values, ph.values.T)
    assert (ph.values[np.triu_indices(len(LAYERS), 1)] > 0).all()
    # CKA over the same layers, and the comparison pairs it with the PH matrix
    assert cka.rows == cka.cols == LAYERS and np.allclose(np.diag(cka.values), 1.0)
    assert np.allclose(cka.values, cka.values.T) and ((cka.values >= -1e-12) & (cka.values <= 1 + 1e-12)).all()
    assert comp.layers == LAYERS and np.allclose(comp.B, 1.0 - cka.values) and np.allclose(comp.A, ph.samples[0])
    c = comp.correlation
    assert -1.0 <= c.r <= 1.0 and 0.0 < c.p_value <= 1.0 and c.exact and c.n_items == len(LAYERS)
    assert reading.r == pytest.approx(c.r) and reading.p_value == pytest.approx(c.p_value)
    # one mapper graph per layer; class structure is clearer at the logits than at the first conv layer
    assert [g.name for g in graphs] == LAYERS and trend.layers == LAYERS
    assert trend.node_purity[-1] >= trend.node_purity[0]
    assert reading.node_purity == pytest.approx(trend.node_purity)
    assert reading.accuracy > 0.5  # trained well above the 10% chance level
    text = reading.summary()
    assert f"r = {c.r:.2f}" in text and "conv1" in text and "fc2" in text
    for r in results:
        json.dumps(r.to_dict(), allow_nan=False)
        assert r.summary()
    assert reading.plot() is not None


def test_reproduction_rejects_bad_input():
    with pytest.raises(InputError, match="dataset"):
        deeper_cnn_reproduction(dataset="mnist")
    with pytest.raises(InputError, match="n_capture"):
        deeper_cnn_reproduction(n_samples=100, n_capture=100, resamples=2)


def test_cli_reproduce_writes_report_and_json(results, monkeypatch, tmp_path):
    import repscope.experiments.topology.reproduce as rep
    from repscope.commands.topology import register

    seen = {}

    def fake(**kw):
        seen.update(kw)
        return results

    monkeypatch.setattr(rep, "deeper_cnn_reproduction", fake)
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def _noop() -> None:
        pass

    out = tmp_path / "rep"
    r = CliRunner().invoke(
        app, ["topology", "reproduce", "--deeper-cnn", "--dataset", "digits", "--n-samples", "300", "--out", str(out),
              "--json"]
    )
    assert r.exit_code == 0, r.output
    assert seen["dataset"] == "digits" and seen["n_samples"] == 300 and seen["resamples"] == 3
    assert json.loads(r.stdout)["layers"] == LAYERS
    saved = json.loads((out / "reproduction.json").read_text())
    assert saved["reading"]["kind"] == "deeper_cnn_reproduction" and len(saved["results"]) == len(results)
    html = (out / "report.html").read_text()
    assert "Deeper CNN reproduction" in html
    r = CliRunner().invoke(app, ["topology", "store.zarr", "--deeper-cnn"])
    assert isinstance(r.exception, InputError)
    r = CliRunner().invoke(app, ["topology"])
    assert isinstance(r.exception, InputError) and "STORE" in str(r.exception)
