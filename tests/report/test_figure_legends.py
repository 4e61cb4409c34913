"""No legend hides data: in every matplotlib figure the lenses make for stores of models the demo never uses
(zoo.py), no scatter point, line vertex or bar lies under a legend."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.patches import Rectangle

from repscope.report.html import flatten
from repscope.results import subplots


def covered(fig) -> list[tuple[str, int]]:
    """(axes title, number of data marks under its legend) for every axes whose legend covers data."""
    fig.canvas.draw()
    out = []
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is None:
            continue
        bb = leg.get_window_extent()
        pts = [c.get_offset_transform().transform(np.asarray(c.get_offsets())) for c in ax.collections
               if isinstance(c, PathCollection) and len(c.get_offsets())]
        pts += [ln.get_transform().transform(ln.get_xydata()) for ln in ax.lines if len(ln.get_xydata()) > 2]
        n = 0
        for p in pts:
            p = p[np.isfinite(p).all(axis=1)]
            n += int(((p[:, 0] > bb.x0) & (p[:, 0] < bb.x1) & (p[:, 1] > bb.y0) & (p[:, 1] < bb.y1)).sum())
        n += sum(1 for pa in ax.patches if isinstance(pa, Rectangle) and pa.get_visible() and pa.get_height() != 0
                 and pa.get_window_extent().overlaps(bb))
        if n:
            out.append((ax.get_title(), n))
    return out


def test_the_check_sees_a_legend_over_a_point():
    fig, ax = subplots()
    ax.scatter([0.0, 0.95], [0.0, 0.05], label="points")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right")
    assert covered(fig) == [("", 1)]


@pytest.mark.parametrize("store,lenses", [("mlp", ("metrics", "ranges", "topology")), ("gru", ("dynamics",))])
def test_no_legend_hides_data_in_any_lens_figure(zoo_stores, store, lenses):
    import importlib

    kw = {"ranges": {"n_permutations": 49}, "topology": {"n_samples": 120}}
    bad = {}
    for lens in lenses:
        a = importlib.import_module(f"repscope.{lens}").analyse(zoo_stores[store], progress=False, **kw.get(lens, {}))
        for r in flatten(a.results):
            if c := covered(r.plot()):
                bad[type(r).__name__] = c
    assert not bad, bad

