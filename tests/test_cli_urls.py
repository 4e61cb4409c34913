"""Every command that opens a store takes it as a path or an fsspec URL, as ``repscope.open_store`` does
(issue #23): ``file://`` URLs (what another process can share) and ``memory://`` (in-process) give the same
output as the plain path, and a report on a URL store writes nothing outside its ``--out`` directory."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

import repscope as rs
from repscope.cli import main

N = 60


def _mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 9), torch.nn.ReLU(), torch.nn.Linear(9, 3))


def _capture(where: str | Path) -> rs.ActivationStore:
    X = np.random.default_rng(0).standard_normal((N, 5)).astype(np.float32)
    return rs.capture(_mlp(), X, ["0", "2"], where, labels=np.arange(N) % 3, batch_size=16, progress=False)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    got = capsys.readouterr()
    return code, got.out, got.err


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("urls") / "acts.zarr"
    _capture(path)
    return path


#: (command, its arguments with {S} for the store); each prints JSON that names no store path.
COMMANDS = [
    ("compare", ["{S}", "{S}", "--metric", "linear_cka,rsa", "--json"]),
    ("rsa", ["{S}", "--layer", "0", "--model", "labels", "--json"]),
    ("rsa", ["{S}", "--layer", "0", "--layer2", "2", "--store2", "{S}", "--json"]),
    ("estimate", ["{S}:0", "{S}:2", "--metric", "linear_cka", "--json"]),
    ("embed", ["{S}:0", "{S}:2", "--json"]),
    ("noise-ceiling", ["{S}:0", "{S}:2", "--json"]),
    ("ranges", ["analyse", "{S}", "--unit", "2:1", "--permutations", "49", "--json"]),
    ("topology", ["{S}", "--n-samples", "40", "--no-mapper", "--json"]),
    ("descramble", ["{S}", "--layer", "0", "--json"]),
    ("cluster", ["layer-matrix", "{S}", "--store-b", "{S}", "--json"]),
    ("info", ["{S}", "--json"]),
    ("verify", ["{S}", "--json"]),
]


def _run(capsys: pytest.CaptureFixture[str], cmd: str, args: list[str], store: str) -> dict:
    code, out, err = _cli(capsys, cmd, *[a.replace("{S}", store) for a in args])
    assert code == 0, err
    return json.loads(out)


def _untimed(obj: object) -> object:
    """``obj`` without wall-clock fields (``seconds``, ``timings``, …), which differ between two runs."""
    if isinstance(obj, dict):
        return {k: _untimed(v) for k, v in obj.items() if not any(w in k.lower() for w in ("second", "time", "wall"))}
    return [_untimed(v) for v in obj] if isinstance(obj, list) else obj


def _no_paths(obj: object, store: str) -> str:
    """The JSON text without timings and with the store's spelling (path or URL) replaced."""
    return json.dumps(_untimed(obj), sort_keys=True).replace(store, "STORE")


@pytest.mark.parametrize(("cmd", "args"), COMMANDS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(COMMANDS)])
def test_a_file_url_gives_the_same_output_as_the_path(capsys, local, cmd, args):
    url = local.as_uri()
    assert url.startswith("file:///")
    by_path, by_url = _run(capsys, cmd, args, str(local)), _run(capsys, cmd, args, url)
    if cmd in ("info", "verify"):  # they print where the store is
        assert by_url["path"] == by_path["path"] == str(local) if "path" in by_url else by_url == by_path
        return
    assert _no_paths(by_url, url) == _no_paths(by_path, str(local))


def test_compare_on_a_file_url_has_unit_self_similarity(capsys, local):
    res = _run(capsys, "compare", ["{S}", "--metric", "linear_cka", "--json"], local.as_uri())["results"][0]
    assert np.allclose(np.diag(np.asarray(res["values"], dtype=float)), 1.0)


def test_report_on_a_file_url_writes_only_inside_out(capsys, tmp_path, monkeypatch):
    store = tmp_path / "acts.zarr"
    _capture(store)
    monkeypatch.chdir(tmp_path)
    before = {p for p in tmp_path.rglob("*")}
    out = tmp_path / "rep"
    code, _, err = _cli(capsys, "report", store.as_uri(), "--sections", "capture,similarity", "--quick", "--out",
                        str(out), "--quiet")
    assert code == 0, err
    new = {p for p in tmp_path.rglob("*")} - before
    assert (out / "report.html").exists() and all(out in p.parents or p == out for p in new), sorted(new)
    data = json.loads((out / "results.json").read_text())
    assert data["sections"]


def test_memory_urls_in_process(capsys, tmp_path):
    url = f"memory://repscope-cli-tests/{uuid.uuid4().hex}/acts.zarr"
    _capture(url)
    res = _run(capsys, "compare", ["{S}", "--metric", "linear_cka", "--json"], url)["results"][0]
    assert np.allclose(np.diag(np.asarray(res["values"], dtype=float)), 1.0)
    est = _run(capsys, "estimate", ["{S}:0", "{S}:2", "--metric", "linear_cka", "--json"], url)
    assert est["a"] == "acts.zarr:0" and est["b"] == "acts.zarr:2"
    code, _, err = _cli(capsys, "report", url, "--sections", "similarity", "--quick", "--out", str(tmp_path / "r"),
                        "--quiet")
    assert code == 0, err
    assert (tmp_path / "r" / "report.html").exists()


def test_a_missing_url_store_is_a_one_line_error(capsys, tmp_path):
    code, out, err = _cli(capsys, "compare", (tmp_path / "nope.zarr").as_uri(), "--json")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "nope.zarr" in err
