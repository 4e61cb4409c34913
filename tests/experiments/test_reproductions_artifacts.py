"""reproductions/: the committed JSON artifacts, and the README tables generated from them."""

import importlib.util
import json
import pathlib

import numpy as np
import pytest

from repscope.experiments.verdict import VERDICTS, ReproductionTable, claim, method_check, reproduction_payload
from repscope.results import dumps

ROOT = pathlib.Path(__file__).resolve().parents[2] / "reproductions"


def _render_module():
    spec = importlib.util.spec_from_file_location("repro_render", ROOT / "render.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_tables_are_regenerated_from_the_committed_json():
    render = _render_module()
    block = render.render(ROOT)
    targets = render.targets(ROOT)
    assert ROOT / "README.md" in targets
    for path in targets:
        text = path.read_text()
        assert render.splice(text, block, path) == text, f"{path} is stale: run python reproductions/render.py"


def test_committed_artifacts_hold_per_seed_values_config_and_environment():
    files = sorted(ROOT.glob("*/*.json"))
    assert files, "no reproduction artifact committed"
    for f in files:
        payload = json.loads(f.read_text())
        assert payload["mode"] == f.parent.name  # quick runs live in quick/, full runs in full/
        env = payload["environment"]
        assert env["python"] and env["versions"]["numpy"] and "git_commit" in env
        for t in payload["reproductions"]:
            assert t["setup"].get("mode", payload["mode"]) == payload["mode"] and "seeds" in t["setup"]
            for r in t["claims"]:
                assert r["verdict"] in VERDICTS and r["kind"] == "claim"
                assert len(r["values"]) >= r["n"]
                if r["control"]:  # the tested values are the paired differences trained − control
                    diff = [a - b if a is not None and b is not None else None
                            for a, b in zip(r["trained"], r["control"])]
                    assert r["values"] == pytest.approx(diff, nan_ok=True)
            assert all(c["verdict"] in ("holds", "fails") for c in t["method_checks"])


def test_render_on_a_synthetic_artifact(tmp_path):
    render = _render_module()
    g = np.random.default_rng(0)
    t = ReproductionTable("Paper X", "descramble", [
        claim("beats the untrained net", "Fig. 1", "s", 1 + g.normal(0, 0.1, 10), control=g.normal(0, 0.1, 10),
              control_label="untrained network"),
        method_check("identity", "Thm", "gap", [1e-15] * 10, direction=-1, threshold=1e-6)],
        setup={"seeds": 10, "mode": "quick"})
    (tmp_path / "quick").mkdir()
    payload = reproduction_payload([t], mode="quick")
    payload["wall_s"] = 3.0
    (tmp_path / "quick" / "descramble.json").write_text(dumps(payload))
    block = render.render(tmp_path)
    assert block.startswith(render.BEGIN) and block.endswith(render.END)
    assert "| beats the untrained net | Fig. 1 |" in block and "(untrained network)" in block
    assert "| reproduced |" in block and "Method checks" in block and "| identity |" in block
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{render.BEGIN}\nold\n{render.END}\ntail\n")
    assert render.splice(readme.read_text(), block, readme) == f"intro\n{block}\ntail\n"
