"""`repscope report` on any store (issue 11): every lens that applies, each skipped or failed section with its
one-line reason, the report always written — via the API and the CLI (``python -m repscope.cli``), on stores
of models the demo never uses (zoo.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from repscope.report import build_report

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "repscope.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


def _status(data: dict) -> dict[str, str]:
    return {k: v["status"] for k, v in data["meta"]["section_status"].items()}


def _results(data: dict, key: str) -> list[dict]:
    return [x["result"] for x in data["sections"][key]]


def test_report_api_on_a_file_defined_mlp(zoo_stores, tmp_path):
    path = build_report(zoo_stores["mlp"], tmp_path, options={"ranges": {"n_permutations": 99},
                                                                 "topology": {"n_samples": 150}})
    data = json.loads((tmp_path / "results.json").read_text())
    assert _status(data) == {"capture": "ok", "similarity": "ok", "ranges": "ok", "topology": "ok",
                             "dynamics": "skipped", "descrambling": "ok"}
    reason = data["meta"]["section_status"]["dynamics"]["reason"]
    assert reason.startswith("no layer has a time axis")
    sim = _results(data, "similarity")
    assert sim[0]["lens"] == "similarity" and sim[0]["layers"] == ["fc1", "act1", "fc2", "act2", "out"]
    cka = next(r for r in sim[1:] if r.get("metric") == "linear_cka")
    assert np.allclose(np.diag(cka["values"]), 1.0) and cka["rows"] == sim[0]["layers"]
    desc = _results(data, "descrambling")
    assert [r["layer"] for r in desc[1:]] == ["fc1", "fc2", "out"] and [r["n_units"] for r in desc[1:]] == [32, 16, 3]
    html = path.read_text()
    assert "rs-status-skipped" in html and html.count("no layer has a time axis") == 1  # once, in the banner
    assert "What this section found" in html
    assert "spurious" not in html.lower() and "attractor" not in html.lower()  # no built-in experiments


def test_report_on_untrained_and_two_layer_stores_is_written(zoo_stores, tmp_path):
    """Issue 11: the untrained 4-layer MLP stopped at 'normalised logit of class 0 is undefined'; the 2-layer
    store at 'A is 2×2; at least 3 items are needed'. Both now give a report with reasons."""
    a = build_report(zoo_stores["untrained_mlp"], tmp_path / "u", ["capture", "ranges", "dynamics"],
                     options={"ranges": {"n_permutations": 49}})
    da = json.loads((a.parent / "results.json").read_text())
    assert _status(da) == {"capture": "ok", "ranges": "ok", "dynamics": "skipped"}
    notes = _results(da, "ranges")[0]["notes"]
    assert any("0 of 120 samples are predicted as 0" in n or "normalised-logit bands undefined" in n for n in notes)
    b = build_report(zoo_stores["two_layer"], tmp_path / "t", options={"ranges": {"n_permutations": 49}})
    db = json.loads((b.parent / "results.json").read_text())
    assert {k for k, v in _status(db).items() if v == "ok"} == {"capture", "similarity", "ranges", "topology",
                                                                "descrambling"}
    cka = next(r for r in _results(db, "similarity")[1:] if r.get("metric") == "linear_cka")
    assert np.asarray(cka["values"]).shape == (2, 2)
    assert b.exists() and "topology" in db["sections"]


def test_a_failing_section_is_shown_with_its_error_and_the_rest_is_written(zoo_stores, tmp_path):
    path = build_report(zoo_stores["two_layer"], tmp_path, ["capture", "ranges", "descrambling"],
                        options={"ranges": {"unit": "out:7"}})
    data = json.loads((tmp_path / "results.json").read_text())
    st = data["meta"]["section_status"]
    assert st["ranges"]["status"] == "failed" and "has 3 units" in st["ranges"]["reason"]
    assert "\n" not in st["ranges"]["reason"] and st["descrambling"]["status"] == "ok"
    html = path.read_text()
    assert "rs-status-failed" in html and html.count("has 3 units (0…2)") == 1  # once, in the banner


def test_cli_report_on_a_gru(zoo_paths, tmp_path):
    res = _cli("report", str(zoo_paths["gru"]), "--out", str(tmp_path / "r"), "--quick", "--json", "--quiet",
               cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert set(_status(data).values()) == {"ok"}
    dyn = _results(data, "dynamics")
    assert dyn[0]["layers"] == ["gru1", "gru2"] and "skipped layers without a time axis: head" in dyn[0]["notes"]
    dsa = dyn[1]
    assert dsa["rows"] == ["gru1", "gru2"] and dsa["values"][0][1] > 0 and dsa["values"][0][0] == 0
    assert [r["layer"] for r in _results(data, "descrambling")[1:]] == ["head"]
    assert (tmp_path / "r" / "report.html").exists()


def test_cli_report_on_a_tiny_bert(zoo_paths, tmp_path):
    res = _cli("report", str(zoo_paths["bert"]), "--out", str(tmp_path / "r"), "--quick", "--json", "--quiet",
               "--sections", "capture,ranges,dynamics,descrambling", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert set(_status(data).values()) == {"ok"}
    desc = _results(data, "descrambling")
    assert [r["layer"] for r in desc[1:]] == ["encoder.layer.0.intermediate.dense",
                                              "encoder.layer.1.intermediate.dense"]
    assert all(r["n_units"] == 48 for r in desc[1:])
    dyn = _results(data, "dynamics")
    assert len(dyn[1]["rows"]) == 5 and np.allclose(np.diag(dyn[1]["values"]), 0)
    assert "Spearman ρ between DSA and Procrustes" in dyn[0]["reading"]
    assert _results(data, "ranges")[0]["notes"][0].startswith("no output layer")


def test_cli_report_on_a_residual_cnn(zoo_paths, tmp_path):
    res = _cli("report", str(zoo_paths["rescnn"]), "--out", str(tmp_path / "r"), "--quick", "--json", "--quiet",
               "--sections", "capture,topology,dynamics", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert _status(data) == {"capture": "ok", "topology": "ok", "dynamics": "skipped"}
    topo = _results(data, "topology")
    assert topo[0]["layers"] == ["stem", "block.conv1", "block", "pool", "head"]  # execution order
    assert "(8, 8, 8)" in data["meta"]["section_status"]["dynamics"]["reason"]


def test_cli_report_on_an_mlp_never_loads_the_digits_cnn(zoo_paths, tmp_path):
    """Issue 11: `repscope report MY.zarr` failed with 'weights have shape (128, 1024) but the descrambler is for
    96 units' — the descrambling section loaded the built-in digits CNN. Now it reads the store (and the
    user's weights when given), and the library never imports repscope.experiments."""
    import torch
    import zoo

    net, _, _ = zoo.trained_mlp()
    torch.save(net.state_dict(), tmp_path / "mlp.pt")
    res = _cli("report", str(zoo_paths["mlp"]), "--out", str(tmp_path / "r"), "--sections", "descrambling",
               "--weights", str(tmp_path / "mlp.pt"), "--json", "--quiet", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    desc = _results(json.loads(res.stdout), "descrambling")
    assert [(r["layer"], r["n_units"], r["has_weights"]) for r in desc[1:]] == [
        ("fc1", 32, True), ("fc2", 16, True), ("out", 3, True)]
    bad = _cli("report", str(zoo_paths["mlp"]), "--out", str(tmp_path / "bad"), "--sections", "descrambling",
               "--weights", str(tmp_path / "mlp.pt"), "--weight-name", "fc2.weight", "--layers", "fc1", "--quiet",
               cwd=tmp_path)
    assert bad.returncode == 0  # the report is written; the section says what is wrong
    st = json.loads((tmp_path / "bad" / "results.json").read_text())["meta"]["section_status"]["descrambling"]
    assert st["status"] == "failed" and "(16, 32)" in st["reason"] and "32 units" in st["reason"]
    code = ("import sys, repscope as rs; from repscope.report import build_report; "
            f"build_report(rs.open_store({str(zoo_paths['mlp'])!r}), {str(tmp_path / 'api')!r}, "
            "['capture', 'descrambling', 'dynamics']); "
            "print(sorted(m for m in sys.modules if m.startswith('repscope.experiments')))")
    env = {**os.environ, "PYTHONPATH": SRC}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_cli_report_unknown_section_is_one_line_exit_2(zoo_paths, tmp_path):
    res = _cli("report", str(zoo_paths["mlp"]), "--out", str(tmp_path / "r"), "--sections", "dynamcs",
               cwd=tmp_path)
    assert res.returncode == 2 and "unknown report section" in res.stderr
    assert len([ln for ln in res.stderr.strip().splitlines() if ln.strip()]) == 1


@pytest.mark.parametrize("key", ["descrambling-reproductions"])
def test_experiments_only_in_the_demo_or_on_request(key, tmp_path):
    from repscope.experiments.pipeline import available_sections, experiment_sections

    assert key in available_sections() and key not in available_sections(experiments=False)
    (sec,) = experiment_sections(tmp_path, only=[key])
    assert sec.status == "ok" and len(sec.results) == 3


def test_cli_dynamics_analyse_reads_a_store_and_compares_two(zoo_paths, tmp_path):
    """`repscope dynamics analyse STORE --other STORE2`: sequence layers as trajectories, across stores; a
    store compared with itself gives DSA ≈ 0 on the diagonal (same layer, same inputs)."""
    gru = str(zoo_paths["gru"])
    res = _cli("dynamics", "analyse", gru, "--other", gru, "--json", "--quiet", "--max-trials", "40",
               "--out", str(tmp_path / "d"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["layers"] == ["A:gru.zarr:gru1", "A:gru.zarr:gru2"] and "head" in " ".join(data["notes"])
    dsa = next(r["result"] for r in data["results"] if r["result"]["metric"].startswith("DSA"))
    assert dsa["rows"] == ["A:gru.zarr:gru1", "A:gru.zarr:gru2"]
    assert dsa["cols"] == ["B:gru.zarr:gru1", "B:gru.zarr:gru2"]
    assert max(dsa["values"][0][0], dsa["values"][1][1]) < 1e-6 < dsa["values"][0][1]
    assert (tmp_path / "d" / "report.html").exists()
    bad = _cli("dynamics", "analyse", str(zoo_paths["mlp"]), "--quiet", cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "time axis" in bad.stderr


def test_demo_carries_the_reproductions_unless_quick(tmp_path, monkeypatch):
    """The full demo appends one section per paper reproduction (experiments.verdict.reproduction_sections);
    --quick skips them and says why; a failing reproduction run is shown as failed."""
    from repscope.experiments import verdict
    from repscope.experiments.pipeline import experiment_sections
    from repscope.report import Section

    (skipped,) = experiment_sections(tmp_path, quick=True, only=["reproductions"])
    assert skipped.status == "skipped" and "reproduce --quick" in skipped.reason
    calls = []
    monkeypatch.setattr(verdict, "reproduction_sections",
                        lambda **kw: calls.append(kw) or [Section("Reproduction — A", [], key="reproduce-a"),
                                                          Section("Reproduction — B", [], key="reproduce-b")])
    secs = experiment_sections(tmp_path, quick=False, only=["reproductions"], seed=3)
    assert [s.key for s in secs] == ["reproduce-a", "reproduce-b"] and calls == [{"quick": True, "seed": 3,
                                                                                  "progress": False}]

    def boom(**kw):
        raise RuntimeError("no GPU today")

    monkeypatch.setattr(verdict, "reproduction_sections", boom)
    (failed,) = experiment_sections(tmp_path, quick=False, only=["reproductions"])
    assert failed.status == "failed" and "no GPU today" in failed.reason


def test_total_time_counts_work_before_the_report_and_parts_add_up(zoo_stores, tmp_path):
    """The demo's "total time" once left out the experiments run before build_report: the total now counts from
    ``started``, and the breakdown (earlier phases, each lens, each extra section, writing, other) sums to it."""
    import time

    from repscope.report.job import LensSection

    started = time.perf_counter()
    time.sleep(0.2)  # work done before the report (a capture, say)
    t_capture = time.perf_counter() - started
    t1 = time.perf_counter()
    time.sleep(0.3)  # an experiment run before the report
    extra = LensSection("Experiment — elsewhere", [], key="elsewhere", seconds=time.perf_counter() - t1)
    path = build_report(zoo_stores["two_layer"], tmp_path, ["capture", "similarity"], started=started,
                        phases={"capture": t_capture}, extra_sections=[extra],
                        options={"similarity": {"metrics": ["linear_cka"]}})
    meta = json.loads((tmp_path / "results.json").read_text())["meta"]
    parts = {k: v for k, v in meta.items() if k.startswith("time ")}
    assert set(parts) == {"time capture (s)", "time similarity (s)", "time elsewhere (s)",
                          "time writing the report (s)", "time other (s)"}
    assert parts["time capture (s)"] >= 0.2 and parts["time elsewhere (s)"] >= 0.3
    assert meta["total time (s)"] >= 0.5 + parts["time similarity (s)"] + parts["time writing the report (s)"] - 0.02
    assert sum(parts.values()) == pytest.approx(meta["total time (s)"], abs=0.03)  # rounding of 5 parts
    html = path.read_text()
    assert "RSPENDING" not in html
    assert f"<dd>{meta['total time (s)']:.4g}</dd>" in html and "<dt>time writing the report (s)</dt>" in html
