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
    # the total time counts everything (model, capture, lenses, experiments, writing) and the parts add up to it
    meta = data["meta"]
    parts = {k: v for k, v in meta.items() if k.startswith("time ")}
    assert {"time model (load/train) (s)", "time capture (s)", "time spurious-digits (s)", "time attractors (s)",
            "time writing the report (s)", "time other (s)"} <= set(parts)
    assert meta["total time (s)"] >= parts["time spurious-digits (s)"] + parts["time attractors (s)"]
    assert sum(parts.values()) == pytest.approx(meta["total time (s)"], abs=0.01 * len(parts))


def _chromium(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    ud = tmp_path / "chrome-profile"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={ud}", *args], capture_output=True, text=True,
                          timeout=180)


@pytest.mark.parametrize("width", [1400, 800])
def test_demo_report_renders_in_headless_chromium(demo_report, tmp_path, width):
    """Every plot drawn and no JavaScript error, on a wide and on a narrow window."""
    if CHROMIUM is None:
        pytest.skip("chromium not installed (make test installs it with apt-get when run as root)")
    html = demo_report.read_text()
    n_plots = len(re.findall(r'<div class="rs-plot"', html))
    assert n_plots >= 20
    sections = re.findall(r'data-section="([^"]+)"', html)
    url = demo_report.resolve().as_uri()
    res = _chromium([f"--window-size={width},1200", "--virtual-time-budget=30000", "--dump-dom", url], tmp_path)
    dom = res.stdout
    body = re.search(r"<body[^>]*>", dom)
    assert body, f"no DOM from chromium: {res.stderr[-2000:]}"
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(0)))
    assert attrs.get("data-js-errors") == "0", attrs.get("data-js-error-text")
    assert int(attrs["data-plots-rendered"]) == n_plots
    for key in sections:
        assert f'id="sec-{key}"' in dom
    # no horizontal scroll: the nav bar wraps, long words break, wide tables scroll inside their box
    assert int(attrs["data-window-width"]) == width
    assert int(attrs["data-scroll-width"]) <= int(attrs["data-client-width"]) <= width
    shot = demo_report.parent / f"screenshot-{width}.png"
    _chromium([f"--window-size={width},2400", f"--screenshot={shot}", "--virtual-time-budget=30000", url], tmp_path)
    assert shot.exists() and shot.stat().st_size > 10_000


def test_mapper_nodes_show_their_members_on_click(demo_report, tmp_path):
    """Clicking a mapper node (simulated in the page, #rs-selftest) fills its member panel in Chromium."""
    if CHROMIUM is None:
        pytest.skip("chromium not installed (make test installs it with apt-get when run as root)")
    html = demo_report.read_text()
    n_mapper = len(re.findall(r'id="fig-[^"]*mapper-graph', html))
    assert n_mapper >= 6
    url = demo_report.resolve().as_uri() + "#rs-selftest"
    res = _chromium(["--window-size=1400,1200", "--virtual-time-budget=30000", "--dump-dom", url], tmp_path)
    body = re.search(r"<body[^>]*>", res.stdout)
    assert body, res.stderr[-2000:]
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(0)))
    assert attrs.get("data-js-errors") == "0", attrs.get("data-js-error-text")
    assert int(attrs["data-member-panels"]) == n_mapper
    assert re.search(r'class="rs-member">#\d+', res.stdout)


_CARTESIAN = {"scatter", "scattergl", "bar", "heatmap", "histogram", "box", "violin", "contour"}


def _text(t) -> str:
    return (t.get("text") or "") if isinstance(t, dict) else (t or "")


def figure_problems(fig: dict) -> list[str]:
    """What a plotly figure (as JSON) lacks to be read on its own: a title, and a title on every visible
    axis that a cartesian trace draws on."""
    layout = fig.get("layout", {})
    out = [] if _text(layout.get("title")).strip() else ["no title"]
    used = set()
    for tr in fig.get("data", []):
        if tr.get("type", "scatter") in _CARTESIAN and tr.get("visible", True) is not False:
            used.add("xaxis" + tr.get("xaxis", "x")[1:])
            used.add("yaxis" + tr.get("yaxis", "y")[1:])
    for ax in sorted(used):
        spec = layout.get(ax, {})
        if spec.get("visible") is not False and not _text(spec.get("title")).strip():
            out.append(f"{ax} has no title")
    return out


def test_figure_check_catches_missing_titles():
    assert figure_problems({"data": [{"type": "bar"}], "layout": {}}) == [
        "no title", "xaxis has no title", "yaxis has no title"]
    ok = {"data": [{"type": "heatmap", "xaxis": "x2"}], "layout": {"title": {"text": "t"},
          "xaxis2": {"title": {"text": "layer"}}, "yaxis": {"title": {"text": "layer"}}}}
    assert figure_problems(ok) == []
    assert figure_problems({"data": [{"type": "scatter"}], "layout": {
        "title": "t", "xaxis": {"visible": False}, "yaxis": {"visible": False}}}) == []


def test_every_report_figure_has_title_and_axis_titles(demo_report):
    import json

    html = demo_report.read_text()
    figs = re.findall(r'<script type="application/json" id="fig-([^"]+)">(.*?)</script>', html, re.S)
    assert len(figs) >= 20
    problems = {key: p for key, body in figs if (p := figure_problems(json.loads(body)))}
    assert not problems, problems


def test_demo_report_is_compact(demo_report):
    """plotly.js once (gzipped), no per-figure template copies, similarity colours on the measure's range."""
    import json

    html = demo_report.read_text()
    assert html.count('id="rs-plotly-gz"') == 1 and '"template"' not in html
    assert len(html.encode()) < 5_000_000
    figs = dict(re.findall(r'<script type="application/json" id="fig-([^"]+)">(.*?)</script>', html, re.S))
    cka = [json.loads(v) for k, v in figs.items() if k.endswith("layer-similarity-linear-cka")]
    assert cka and cka[0]["data"][0]["zmin"] == 0 and cka[0]["data"][0]["zmax"] == 1
