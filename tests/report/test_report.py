"""Report rendering: escaping of user strings, strict JSON, figures on disk."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from repscope.report import Section, write_report

EVIL = '</script><script>alert("x")</script><img src=x onerror=alert(1)>'


@dataclass
class _Evil:
    title: str = EVIL

    def to_dict(self):
        return {"name": EVIL, "value": float("nan"), "arr": np.arange(3)}

    def summary(self):
        return f"layer {EVIL} is interesting\n\nsecond paragraph"

    def table(self):
        return ["layer", EVIL], [[EVIL, 1.23456789]]

    def plotly(self):
        import plotly.graph_objects as go

        return go.Figure(go.Bar(x=[EVIL, "b"], y=[1, 2], name=EVIL))

    def plot(self):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.plot([0, 1])
        return fig


def test_user_strings_are_escaped_everywhere(tmp_path):
    path = write_report([Section(EVIL, [_Evil()], intro=EVIL)], tmp_path, title=EVIL, meta={EVIL: EVIL})
    html = path.read_text()
    # The only <script> tags are repscope's own (error collector, figure JSON, templates, gzipped plotly.js,
    # bootstrap).
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert html.count("<script") == 5
    data = json.loads((tmp_path / "results.json").read_text())
    res = data["sections"][next(iter(data["sections"]))][0]["result"]
    assert res["value"] is None and res["arr"] == [0, 1, 2] and res["name"] == EVIL
    pngs = list((tmp_path / "figures").glob("*.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_png_is_embedded_when_no_interactive_figure(tmp_path):
    class Static:
        title = "static"

        def plot(self):
            import matplotlib.pyplot as plt

            return plt.subplots()[0]

    html = write_report([Section("S", [Static()])], tmp_path).read_text()
    assert 'src="data:image/png;base64,' in html


def test_subsections_status_and_data_line(tmp_path):
    """A sub-section renders under its parent with its own "Data:" line; skipped/failed sections show why."""

    class R:
        title = "r"

        def summary(self):
            return "a reading"

    secs = [Section("Main", [R(), Section("Other data", [R()], data="a <b>toy</b> set", key="other")],
                    data="the store", key="main"),
            Section("Dyn", status="skipped", reason="the store has no <trajectories>", key="dyn"),
            Section("Bad", status="failed", reason="it raised", key="bad")]
    html = write_report(secs, tmp_path).read_text()
    assert 'id="sec-main--other"' in html and "<h3>Other data</h3>" in html
    assert "<b>Data:</b> a &lt;b&gt;toy&lt;/b&gt; set" in html
    assert 'data-status="skipped"' in html and "the store has no &lt;trajectories&gt;" in html
    assert 'data-status="failed"' in html
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["status"] == {"dyn": {"status": "skipped", "reason": "the store has no <trajectories>"},
                              "bad": {"status": "failed", "reason": "it raised"}}
    assert data["sections"]["main"][1]["type"] == "Section"


def test_compact_figure_json_keeps_the_drawing():
    """Floats to 5 significant digits, float64 arrays to float32 typed arrays, template stored once."""
    import base64

    import plotly.graph_objects as go

    from repscope.report.html import _compact, _figure_json

    assert _compact({"a": [0.123456789, 1e-12, 3], "b": {"c": 123456.789}}) == {
        "a": [0.12346, 1e-12, 3], "b": {"c": 123460.0}}
    x = np.linspace(0, 1, 50)
    templates: dict = {}
    f1 = json.loads(_figure_json(go.Figure(go.Scatter(x=x, y=x ** 2)), templates))
    f2 = json.loads(_figure_json(go.Figure(go.Bar(x=[1, 2], y=[3, 4])), templates))
    assert len(templates) == 1 and f1["rsTemplate"] == f2["rsTemplate"] and "template" not in f1["layout"]
    y = np.frombuffer(base64.b64decode(f1["data"][0]["y"]["bdata"]), dtype="<f4")
    assert f1["data"][0]["y"]["dtype"] == "f4" and np.allclose(y, x ** 2, rtol=1e-6)


def test_table_results_are_shown_once(tmp_path):
    """A table result (the dynamics benchmark) appears as one HTML table — no PNG of the same table."""
    from repscope.dynamics.results import TableResult

    t = TableResult(["metric", "ratio"], [["dsa", 2.0], ["cka", 1.1]], name="bench", note="a note")
    html = write_report([Section("S", [t])], tmp_path).read_text()
    assert html.count("<table") == 1 and "data:image/png" not in html
