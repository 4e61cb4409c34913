"""The demo report in real headless Chromium: no JS errors, every section present, every plot drawn."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="session")
def demo_report(tmp_path_factory):
    from repscope.experiments.pipeline import run_demo

    out = tmp_path_factory.mktemp("demo")
    path = run_demo(out, quick=True, progress=False, log=lambda m: None)
    return path


def test_demo_writes_report_json_and_pngs(demo_report):
    import json

    from repscope.experiments.pipeline import available_sections

    data = json.loads((demo_report.parent / "results.json").read_text())
    assert list(data["sections"]) == available_sections()
    cap = data["sections"]["capture"][0]["result"]
    assert cap["n_samples"] == 600 and set(cap["layers"]) == {"conv1", "conv2", "conv3", "fc1", "relu4", "fc2"}
    assert list((demo_report.parent / "figures").glob("*.png"))


def _chromium(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    ud = tmp_path / "chrome-profile"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={ud}", *args], capture_output=True, text=True,
                          timeout=180)


def test_demo_report_renders_in_headless_chromium(demo_report, tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium not installed (make test installs it with apt-get when run as root)")
    html = demo_report.read_text()
    n_plots = len(re.findall(r'<div class="rs-plot"', html))
    sections = re.findall(r'data-section="([^"]+)"', html)
    url = demo_report.resolve().as_uri()
    res = _chromium(["--virtual-time-budget=20000", "--dump-dom", url], tmp_path)
    dom = res.stdout
    body = re.search(r"<body[^>]*>", dom)
    assert body, f"no DOM from chromium: {res.stderr[-2000:]}"
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(0)))
    assert attrs.get("data-js-errors") == "0", attrs.get("data-js-error-text")
    assert int(attrs["data-plots-rendered"]) == n_plots
    for key in sections:
        assert f'id="sec-{key}"' in dom
    shot = demo_report.parent / "screenshot.png"
    _chromium(["--window-size=1280,2400", f"--screenshot={shot}", "--virtual-time-budget=20000", url], tmp_path)
    assert shot.exists() and shot.stat().st_size > 10_000
