"""``repscope <lens> reproduce``: each command runs its paper's reproduction and writes the tables."""

import json

import pytest

from repscope.cli import main
from repscope.experiments import verdict
from repscope.experiments.verdict import ReproductionTable, claim


@pytest.fixture
def fake_runs(monkeypatch):
    calls = []

    def fake(key, **kw):
        calls.append((key, kw))
        return [ReproductionTable(f"paper-{key}", key, [claim("c", "p", "q", [1.0, 2.0])])]

    monkeypatch.setattr(verdict, "run_reproduction", fake)
    return calls


@pytest.mark.parametrize("lens", ["dynamics", "ranges", "topology", "descramble"])
def test_reproduce_subcommand_routes_and_writes(lens, fake_runs, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:  # typer exits 0 on success
        main([lens, "reproduce", "--quick", "--seeds", "5", "--out", str(tmp_path), "--json"])
    assert exc.value.code in (0, None)
    assert fake_runs == [(lens, {"quick": True, "seeds": 5, "seed": 0, "progress": False})]
    payload = json.loads(capsys.readouterr().out)
    t = payload["reproductions"][0]
    assert t["verdict"] == "reproduced" and t["command"] == f"repscope {lens} reproduce --quick --seeds 5"
    md = (tmp_path / "reproduction.md").read_text()
    assert f"paper-{lens}" in md and "| claim |" in md
    assert (tmp_path / "report.html").exists()


def test_reproduce_rejects_one_seed(fake_runs, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["ranges", "reproduce", "--seeds", "1"])
    assert exc.value.code == 2 and "--seeds 1" in capsys.readouterr().err
    assert fake_runs == []
