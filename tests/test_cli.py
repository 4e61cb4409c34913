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
    from repscope.errors import InputError
    from repscope.experiments.inputs import builtin_models
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


def test_importing_the_cli_imports_nothing_heavy():
    """`repscope --help` must be instant: importing the CLI and building every command's help must not load
    torch, zarr, plotly, scipy, numpy, matplotlib, scikit-learn, dask, jinja2 or rich."""
    code = (
        "import sys, repscope.cli\n"
        "from typer.main import get_command\n"
        "get_command(repscope.cli.app)\n"
        "heavy = ('torch', 'zarr', 'plotly', 'scipy', 'numpy', 'matplotlib', 'sklearn', 'dask', 'jinja2', 'rich')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
    # and the help pages themselves, through the real entry point
    code = ("import sys, repscope.cli\n"
            "for argv in (['--help'], ['compare', '--help'], ['ranges', 'analyse', '--help']):\n"
            "    try:\n"
            "        repscope.cli.main(argv)\n"
            "    except SystemExit:\n"
            "        pass\n"
            "heavy = ('torch', 'zarr', 'plotly', 'scipy', 'numpy', 'matplotlib', 'rich')\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)), file=sys.stderr)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert res.stderr.strip().splitlines()[-1] == "[]", res.stderr


def test_the_package_still_exposes_capture_and_open_store_lazily():
    code = ("import repscope\n"
            "from repscope.capture.core import capture\n"
            "from repscope.capture import list_layers\n"
            "print(callable(repscope.capture) and repscope.capture.capture is capture, repscope.open_store.__name__)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert res.stdout.split() == ["True", "open_store"], res.stderr


def _help(*cmd):
    res = run(*cmd, "--help")
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_help_pages_are_plain_and_complete():
    from repscope.commands.core import EXPERIMENT_SECTIONS, SECTIONS
    from repscope.experiments.pipeline import available_sections
    from repscope.report.job import SECTION_KEYS

    assert list(SECTIONS) == list(SECTION_KEYS)
    assert [*SECTIONS, *EXPERIMENT_SECTIONS] == available_sections()
    report = _help("report")
    assert "capture, similarity, ranges, topology, dynamics, descrambling" in " ".join(report.split())
    ranges = " ".join(_help("ranges", "analyse").split())
    assert "One of --unit / --direction is required" in ranges
    for cmd in (["compare"], ["topology"], ["report"], ["demo"], ["ranges", "analyse"], ["dynamics", "compare"],
                ["descramble"], ["capture"]):
        page = _help(*cmd)
        assert "<bool>" not in page and "``" not in page and "`" not in page, (cmd, page)
        json_line = [ln for ln in page.splitlines() if ln.strip().startswith("--json")]
        assert json_line and "--json " in json_line[0] + " " and "<" not in json_line[0].split("--json")[1][:3]
    compare = " ".join(_help("compare").split())
    assert "its layers are the rows" in compare and "its layers are the columns" in compare


def test_table_formats_are_untruncated_when_not_a_terminal():
    from repscope.commands._format import render_table

    header = ["attribute", "Cramér's V", "most over-represented value in a long column name"]
    rows = [["centre_row", 0.851234, "[3.56, 3.79) and a long value that would be cut at 80 columns"]]
    plain = render_table(header, rows, "table", terminal=False)
    assert "…" not in plain and rows[0][2] in plain and "0.8512" in plain
    assert render_table(header, rows, "tsv").splitlines()[1].split("\t") == ["centre_row", "0.8512", rows[0][2]]
    assert json.loads(render_table(header, rows, "json")) == [dict(zip(header, ["centre_row", "0.8512", rows[0][2]]))]


def test_compare_says_which_store_is_rows_and_which_columns(tmp_path):
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    X = np.random.default_rng(0).standard_normal((40, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    for out, seed in ((a, "0"), (b, "1")):
        res = run("capture", "--model", "digits-mlp", "--data", str(tmp_path / "x.npy"), "--layers", "fc1,fc3",
                  "--out", str(out), "--quiet", "--seed", seed)
        assert res.returncode == 0, res.stderr
    res = run("compare", str(a), str(b), "--metric", "linear_cka", "--quiet")
    assert res.stdout == ""
    res = run("compare", str(a), str(b), "--metric", "linear_cka")
    assert res.returncode == 0, res.stderr
    assert f"rows: layers of {a}; columns: layers of {b}" in res.stdout
    res = run("compare", str(a), str(b), "--metric", "linear_cka", "--format", "tsv")
    lines = res.stdout.splitlines()
    assert lines[1].split("\t") == [f"{a} \\ {b}", "fc1", "fc3"] and len(lines) == 4
    _one_line_error(run("compare", str(a), "--format", "xml"), "--format 'xml' is not one of table, tsv, json")
