"""Every ```python block in README.md runs, in order, in one namespace (in a temporary directory)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"README.md[python block {i}]", "exec"), ns)
    out = capsys.readouterr().out
    assert "['conv1', 'conv2', 'conv3', 'fc1', 'fc2']" in out
    assert "(1797, 128)" in out and "(32, 8, 8)" in out and "report.html" in out
    assert "\n1.0\n" in out  # CKA invariance
    assert "False" not in out  # every printed check in the README holds
    # the "your own model" walk-through: a file-defined model through capture, lenses and the report
    assert "['fc1', 'act1', 'fc2'] (32,)" in out and "no layer has a time axis" in out
    assert "['fc1', 'fc2']" in out and (tmp_path / "mynet-report" / "report.html").exists()


def test_readme_quickstart_is_two_commands():
    text = README.read_text()
    quick = text.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    cmds = [ln.split("#")[0].strip() for ln in quick.strip().splitlines()]
    assert cmds == ["make demo", "make test"]
