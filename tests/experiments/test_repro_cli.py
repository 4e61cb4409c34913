"""``repscope <lens> reproduce``: each command runs its paper's reproduction and writes the tables."""

import json

import pytest

from repscope.cli import main
from repscope.experiments import verdict
from repscope.experiments.verdict import ReproductionTable, claim


def _exit_code(args):
    try:
        main(args)
    except SystemExit as exc:  # typer may exit 0 on success; errors exit 2
        return exc.code or 0
    return 0


@pytest.fixture
def fake_runs(monkeypatch):
    calls = []

    def fake(key, **kw):
        calls.append((key, kw))
        return [ReproductionTable(f"paper-{key}", key, [claim("c", "p", "q", [1.0 + 0.1 * k for k in range(10)])])]

    monkeypatch.setattr(verdict, "run_reproduction", fake)
    return calls


@pytest.mark.parametrize("lens", ["dynamics", "ranges", "topology", "descramble"])
def test_reproduce_subcommand_routes_and_writes(lens, fake_runs, tmp_path, capsys):
    assert _exit_code([lens, "reproduce", "--quick", "--seeds", "5", "--out", str(tmp_path), "--json"]) == 0
    assert fake_runs == [(lens, {"quick": True, "seeds": 5, "seed": 0, "progress": False})]
    payload = json.loads(capsys.readouterr().out)
    t = payload["reproductions"][0]
    assert t["verdict"] == "reproduced" and t["command"] == f"repscope {lens} reproduce --quick --seeds 5"
    md = (tmp_path / "reproduction.md").read_text()
    assert f"paper-{lens}" in md and "| claim |" in md
    assert (tmp_path / "report.html").exists()


def test_reproduce_rejects_one_seed(fake_runs, capsys):
    assert _exit_code(["ranges", "reproduce", "--seeds", "1"]) == 2
    err = capsys.readouterr().err
    assert "--seeds" in err and len(err.strip().splitlines()) == 1  # one-line error
    assert fake_runs == []


def test_reproduction_sections_for_the_demo_report(fake_runs):
    secs = verdict.reproduction_sections(quick=True, keys=["ranges", "descramble"])
    assert [s.key for s in secs] == ["reproduce-ranges", "reproduce-descramble"]
    assert all(isinstance(s.results[0], ReproductionTable) for s in secs)
    assert [k for k, _ in fake_runs] == ["ranges", "descramble"]
