"""`repscope rsa` and `repscope embed` on store-like objects (glue: values equal the library's)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from repscope.commands.rsa import register
from repscope.metrics._rdm import model_rdm, rdm_of
from repscope.metrics.embedding import network_embedding


class _Store:
    def __init__(self, arrays, labels=None, attributes=None):
        self._a = arrays
        self.labels = labels
        self.attributes = attributes or {}

    def read(self, layer, rows=None):
        return self._a[layer]


@pytest.fixture
def app(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 6))
    y = np.repeat([0, 1, 2], 10)
    stores = {
        "a": _Store({"l1": X + 2 * y[:, None], "l2": X @ rng.standard_normal((6, 4))}, labels=y,
                    attributes={"size": rng.random(30)}),
        "b": _Store({"l1": X @ np.linalg.qr(rng.standard_normal((6, 6)))[0] + 0.1 * rng.standard_normal((30, 6))}),
    }
    monkeypatch.setattr("repscope.store.open_store", lambda p: stores[str(p)])
    a = typer.Typer()
    register(a)
    return a, stores


def test_rsa_command_model_rdm_bootstrap_and_files(app, tmp_path):
    a, stores = app
    res = CliRunner().invoke(a, ["rsa", "a", "--layer", "l1", "--model", "labels", "--compare", "rho_a",
                                 "--bootstrap", "50", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    ref = rdm_of(stores["a"].read("l1")).compare(model_rdm(stores["a"].labels, "categorical"), "rho_a")
    assert out["value"] == pytest.approx(ref, abs=1e-12) and out["bootstrap"]["n_boot"] == 50
    assert (tmp_path / "rdm.png").exists() and (tmp_path / "bootstrap.json").exists()
    from repscope.metrics._rsa import categorical_ceiling

    ceiling = categorical_ceiling(stores["a"].labels, "rho_a")  # 3 classes of 10: 3·m₀m₁/(m² − 1)
    assert out["ceiling"] == pytest.approx(ceiling) and out["bootstrap"]["ceiling"] == pytest.approx(ceiling)
    assert out["value"] <= ceiling + 1e-12
    res = CliRunner().invoke(a, ["rsa", "a", "--layer", "l1", "--model", "labels"])
    assert f"(ceiling {categorical_ceiling(stores['a'].labels):.4f} for this two-valued model" in res.output
    res = CliRunner().invoke(a, ["rsa", "a", "--layer", "l1", "--layer2", "l2", "--quiet"])
    assert res.exit_code == 0
    res = CliRunner().invoke(a, ["rsa", "a", "--layer", "l1", "--model", "attr:nope"])
    assert res.exit_code != 0 and "no attribute" in str(res.exception)


def test_embed_command(app, tmp_path):
    a, stores = app
    res = CliRunner().invoke(a, ["embed", "a:l1", "b:l1", "a:l2", "--frechet", "--json"])
    assert res.exit_code != 0  # l2 is narrower: no Fréchet mean of unequal shapes
    res = CliRunner().invoke(a, ["embed", "a", "b", "--layer", "l1", "--frechet", "--json", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    ref = network_embedding({"a:l1": stores["a"].read("l1"), "b:l1": stores["b"].read("l1")})
    assert np.allclose(out["embedding"]["distances"], ref.distances)
    assert out["frechet_mean"]["converged"] and (tmp_path / "embedding_procrustes.png").exists()


def test_noise_ceiling_command(app):
    a, stores = app
    res = CliRunner().invoke(a, ["noise-ceiling", "a:l1", "b:l1", "a:l2", "--compare", "pearson", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    from repscope.metrics._rdm import noise_ceiling

    ref = noise_ceiling([rdm_of(stores[s].read(l)) for s, l in (("a", "l1"), ("b", "l1"), ("a", "l2"))],
                        compare="pearson")
    assert out["lower"] == pytest.approx(ref.lower) and out["upper"] == pytest.approx(ref.upper)
