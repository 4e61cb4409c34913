"""The CLI: one-line errors with exit 2, --json output, capture/layers/report commands, safe loading."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


def run(*args, check=False):
    return subprocess.run([sys.executable, "-m", "repscope.cli", *args], capture_output=True, text=True,
                          env=ENV, timeout=600)


def _one_line_error(res, pattern):
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert pattern in lines[0]


def test_help_lists_every_command():
    res = run("--help")
    assert res.returncode == 0
    for cmd in ("demo", "capture", "report", "layers", "compare", "ranges", "topology", "dynamics", "descramble",
                "cluster"):
        assert cmd in res.stdout


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    _one_line_error(run("report", str(tmp_path / "missing.zarr")), "no activation store")
    _one_line_error(run("capture", "--model", "digits-cnn", "--layers", "fc9", "--out", str(tmp_path / "a")),
                    "unknown layer 'fc9'")
    _one_line_error(run("capture", "--model", "nope"), "neither a built-in")
    res = run("capture", "--model", "nope", "--debug")
    assert "Traceback" in res.stderr


def test_capture_and_layers_commands_json(tmp_path):
    out = tmp_path / "c.zarr"
    res = run("capture", "--model", "digits-mlp", "--layers", "fc1,fc3", "--pool", "none", "--out", str(out),
              "--json", "--quiet")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["n_samples"] == 1797 and list(info["layers"]) == ["fc1", "fc3"]
    res = run("layers", "--model", "digits-cnn", "--json")
    assert json.loads(res.stdout)[:2] == ["conv1", "relu1"]


def test_weights_are_loaded_only_weights_only(tmp_path):
    from repscope.capture.loading import load_model_spec, load_weights
    from repscope.commands.core import builtin_models
    from repscope.errors import InputError
    from repscope.experiments.models.digits import make_model

    m = make_model("mlp")
    sd = tmp_path / "sd.pt"
    torch.save(m.state_dict(), sd)
    assert set(load_weights(sd)) == set(m.state_dict())
    pickled = tmp_path / "full.pt"
    torch.save(m, pickled)  # a full pickled module: loading it would run arbitrary code
    with pytest.raises(InputError, match="refuses for safety"):
        load_weights(pickled)
    with pytest.raises(InputError, match="do not fit the model"):
        load_model_spec("digits-cnn", sd, builtins=builtin_models())
    res = run("capture", "--model", "digits-mlp", "--weights", str(pickled), "--out", str(tmp_path / "x"))
    _one_line_error(res, "refuses for safety")


def test_npy_data_and_labels(tmp_path):
    X = np.random.default_rng(0).standard_normal((30, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", np.arange(29))
    res = run("capture", "--model", "digits-cnn", "--data", str(tmp_path / "x.npy"), "--labels",
              str(tmp_path / "y.npy"), "--layers", "fc2", "--out", str(tmp_path / "s"), "--quiet")
    _one_line_error(res, "labels has 29 entries but the data has 30 samples")
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object))
    res = run("capture", "--model", "digits-cnn", "--data", str(tmp_path / "o.npy"), "--out", str(tmp_path / "t"))
    _one_line_error(res, "needs pickle")


@pytest.mark.parametrize(
    "args",
    [
        ["compare", "{missing}"],
        ["topology", "{missing}"],
        ["descramble", "{missing}", "--layer", "fc1"],
        ["ranges", "analyse", "{missing}", "--unit", "fc2:3"],
    ],
)
def test_every_lens_command_reports_a_missing_store_in_one_line(tmp_path, args):
    missing = str(tmp_path / "nope.zarr")
    _one_line_error(run(*[a.format(missing=missing) for a in args]), "no activation store")
