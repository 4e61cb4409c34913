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
    # The only <script> tags are repscope's own (error collector, plotly.js, figure JSON, bootstrap).
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert html.count("<script") == 4
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
