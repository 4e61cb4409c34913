import json

import numpy as np
import pytest
import typer
from _descramble_fakes import FakeStore
from typer.testing import CliRunner

from repscope.commands.descramble import register
from repscope.experiments.descramble.demo import demo_results
from repscope.experiments.descramble.reproductions import isotropic_reproduction, linear_network_reproduction
from repscope.results import dumps


def test_isotropic_inputs_descramble_to_low_frequencies():
    m = isotropic_reproduction(n_units=32, n_inputs=32, n_samples=16384, k=6, seed=1).measurements
    assert m["subspace_overlap_leading_k"] > 0.99
    assert m["hf_fraction_raw"] > 0.65
    assert m["hf_fraction_descrambled"] < 0.45
    assert abs(m["cost"] - m["bound"]) <= 1e-8 * m["bound"]


def test_linear_network_exposes_singular_vectors():
    r = linear_network_reproduction(n=24, hidden=24, n_samples=1024, steps=300, n_modes=5, seed=0)
    m = r.measurements
    assert m["mean_alignment_descrambled"] > 0.9
    assert m["mean_alignment_descrambled"] > m["mean_alignment_best_raw_unit"]
    assert m["modes_learned_in_order"]
    assert np.all(m["half_gain_step"] > 0)
    json.loads(dumps(r.to_dict()))
    r.plot()


def _demo_store(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((300, 40))
    W = rng.standard_normal((16, 40))
    conv = rng.standard_normal((300, 4, 3, 3))
    return FakeStore({"conv1": conv, "fc1": X @ W.T}), W


def test_demo_results(tmp_path):
    store, W = _demo_store()
    res = demo_results(store, out_dir=tmp_path, weights=W, reproductions=False)
    assert [type(r).__name__ for r in res] == ["DescrambleResult", "PermutationResult", "PermutationResult"]
    for r in res:
        json.loads(dumps(r.to_dict()))
        assert r.summary() and r.title
    assert res[0].weights_descrambled.shape == (16, 40)
    assert (tmp_path / "descramble_fc1_P.npy").exists()
    assert res[1].cost_permutation >= res[0].bound * (1 - 1e-12)


def test_cli(tmp_path, monkeypatch):
    store, W = _demo_store()
    monkeypatch.setattr("repscope.store.open_store", lambda path: store)
    np.save(tmp_path / "w.npy", W)
    app = typer.Typer()
    register(app)

    @app.command("other")
    def _other() -> None:  # a second command keeps typer in multi-command mode, as in the real CLI
        pass

    runner = CliRunner()
    out = tmp_path / "out"
    r = runner.invoke(app, ["descramble", "fake.zarr", "--layer", "fc1", "--weights", str(tmp_path / "w.npy"),
                            "--out", str(out), "--json", "--permutation", "--n-init", "1", "--quiet"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data[0]["layer"] == "fc1" and data[0]["relative_gap"] == pytest.approx(0, abs=1e-8)
    assert (out / "P.npy").exists() and (out / "weights_descrambled.npy").exists()
    r = runner.invoke(app, ["descramble", "fake.zarr", "--layer", "nope"])
    assert r.exit_code != 0 and "not in the store" in str(r.exception)
