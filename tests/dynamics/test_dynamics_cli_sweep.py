"""CLI: `dynamics compare` sweeps (n_delays, rank) when not given and reports the curve; `dynamics inputdsa`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from repscope.commands.dynamics import register
from repscope.errors import InputError


@pytest.fixture(scope="module")
def app():
    a = typer.Typer()

    @a.callback()
    def _root() -> None:
        pass

    register(a)
    return a


def _oscillator(theta, seed, K=6, T=50):
    rng = np.random.default_rng(seed)
    R = 0.97 * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    X = np.empty((K, T, 2))
    for k in range(K):
        x = rng.standard_normal(2)
        for t in range(T):
            X[k, t] = x
            x = R @ x
    return X + 1e-3 * rng.standard_normal(X.shape)


def test_compare_without_hyperparameters_runs_the_sweep(tmp_path, app):
    files = []
    for i, th in enumerate([0.2, 0.2, 0.9]):
        p = tmp_path / f"s{i}.npy"
        np.save(p, _oscillator(th, i))
        files.append(str(p))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["dynamics", "compare", *files, "--json", "--quiet", "--out", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["sweep"]["best_rank"] == 2  # a 2-d rotation: rank 2 is exact
    D = np.array(data["distances"])
    assert D[0, 1] < 0.05 < 0.5 < D[0, 2]
    report = (out / "report.html").read_text()
    assert "DMD hyperparameters by held-out prediction error" in report
    saved = json.loads((out / "results.json").read_text())["sections"]["dynamics"]
    assert saved[0]["type"] == "DMDSweepResult" and saved[1]["type"] == "DistanceMatrixResult"


def test_inputdsa_cli(tmp_path, app):
    rng = np.random.default_rng(0)
    A = np.array([[0.9, 0.2], [-0.2, 0.8]])
    paths = []
    for k, B in enumerate([np.array([[1.0, 0.0], [0.0, 0.1]]), np.array([[0.1, 0.0], [0.0, 1.0]])]):
        U = rng.standard_normal((3, 40, 2))
        X = np.zeros((3, 40, 2))
        for i in range(3):
            x = rng.standard_normal(2)
            for t in range(40):
                X[i, t] = x
                x = A @ x + B @ U[i, t]
        np.save(tmp_path / f"x{k}.npy", X)
        np.save(tmp_path / f"u{k}.npy", U)
        paths.append((str(tmp_path / f"x{k}.npy"), str(tmp_path / f"u{k}.npy")))
    res = CliRunner().invoke(
        app,
        ["dynamics", "inputdsa", paths[0][0], paths[1][0], "--inputs", f"{paths[0][1]},{paths[1][1]}", "--json",
         "--quiet", "--out", str(tmp_path / "o")],
    )
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["state"] < 1e-6 and d["input"] > 0.1 and d["joint"] > 0.1
    assert (d["sweep"]["best_n_delays"], d["sweep"]["best_rank"]) == (1, 2)  # no --n-delays/--rank: swept
    assert (tmp_path / "o" / "report.html").exists()
    three = CliRunner().invoke(
        app,
        ["dynamics", "inputdsa", paths[0][0], paths[1][0], paths[0][0], "--inputs",
         f"{paths[0][1]},{paths[1][1]},{paths[0][1]}", "--json", "--quiet"],
    )
    assert three.exit_code == 0, three.output
    m = json.loads(three.stdout)
    assert np.array(m["state"]["distances"]).shape == (3, 3) and m["joint"]["distances"][0][2] < 1e-9
    bad = CliRunner().invoke(app, ["dynamics", "inputdsa", paths[0][0], paths[1][0], "--inputs", paths[0][1]])
    assert isinstance(bad.exception, InputError)


def test_compare_two_files_reports_resdmd(tmp_path, app):
    files = []
    for i, th in enumerate([0.2, 0.5]):
        p = tmp_path / f"r{i}.npy"
        np.save(p, _oscillator(th, i))
        files.append(str(p))
    out = tmp_path / "o"
    res = CliRunner().invoke(app, ["dynamics", "compare", *files, "--n-delays", "1", "--rank", "2", "--quiet",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    saved = json.loads((out / "results.json").read_text())["sections"]["dynamics"]
    assert [s["type"] for s in saved] == ["DSAResult", "ResDMDResult", "ResDMDResult"]
    assert saved[1]["title"].endswith("r0") and max(saved[1]["result"]["residuals"]) < 0.1
