"""Rips persistence: known shapes, agreement with ripser's committed diagrams, validation."""

import json
import pathlib

import numpy as np
import pytest

from repscope.errors import InputError
from repscope.topology import Diagrams, persistence

DATA = pathlib.Path(__file__).parent / "data" / "sliced_wasserstein_vectors.json"


def circle_in_high_dim(n=100, dim=40, noise=0.02, seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    C = np.zeros((n, dim))
    C[:, 0], C[:, 1] = np.cos(t), np.sin(t)
    Q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))  # random rotation into all dimensions
    return C @ Q + noise * rng.standard_normal((n, dim))


def test_circle_has_exactly_one_dominant_h1_bar():
    d = persistence(circle_in_high_dim())
    life = d.lifetimes(1)
    assert len(life) >= 1
    assert life[0] > 1.0  # the loop of a unit circle lives from ~0.06 to ~√3
    assert life[0] > 10 * (life[1] if len(life) > 1 else 0.0) + 1e-12
    assert np.sum(~np.isfinite(d[0][:, 1])) == 1  # one connected component survives forever


def test_two_clusters_give_one_long_finite_h0_bar():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.standard_normal((40, 6)) * 0.1, rng.standard_normal((40, 6)) * 0.1 + 5.0])
    d = persistence(X, maxdim=0)
    life = d.lifetimes(0)
    gap = np.min(np.linalg.norm(X[:40, None] - X[None, 40:], axis=2))  # single-linkage merge height
    assert life[0] == pytest.approx(gap, rel=1e-9)
    assert life[1] < 0.1 * life[0]
    assert len(d.dgms) == 1


def test_agrees_with_ripser_reference():
    ref = json.loads(DATA.read_text())["ripser_cloud"]
    d = persistence(np.array(ref["X"]), maxdim=1)
    H0 = np.array([[b, np.inf if e is None else e] for b, e in ref["H0"]])
    H1 = np.array(ref["H1"])
    for ours, theirs in ((d[0], H0), (d[1], H1)):
        assert ours.shape == theirs.shape
        a, b = np.sort(ours, axis=0), np.sort(theirs, axis=0)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # ripser rounds distances to float32


def test_duplicates_do_not_change_diagrams():
    X = circle_in_high_dim(n=40, dim=5)
    Xd = np.vstack([X, X[:10]])
    a, b = persistence(X), persistence(Xd)
    for q in (0, 1):
        np.testing.assert_allclose(a[q], b[q])
    assert b.meta["duplicates_removed"] == 10


def test_result_protocol():
    import matplotlib

    matplotlib.use("Agg")
    d = persistence(circle_in_high_dim(n=40, dim=5), name="layer<1>")
    out = json.dumps(d.to_dict(), allow_nan=False)
    assert '"H1"' in out and "null" in out  # infinite H0 death written as null
    assert f"H1: {len(d[1])} bars (0 infinite)" in d.summary()
    header, rows = d.table()
    assert len(rows) == 2 and header[0] == "dim"
    assert d.plot().axes and d.plotly().data
    assert "&lt;" in d.plotly().layout.title.text
    assert isinstance(d, Diagrams) and d.total_persistence(1) == pytest.approx(d.lifetimes(1).sum())
    with pytest.raises(InputError, match="maxdim"):
        d[2]


@pytest.mark.parametrize(
    "X, match",
    [
        (np.zeros((2, 3)), "at least 3"),
        (np.array([[0.0, 1], [np.nan, 2], [3, 4]]), "NaN"),
        (np.ones((10, 4)), "identical"),
    ],
)
def test_bad_inputs(X, match):
    with pytest.raises(InputError, match=match):
        persistence(X)


def test_bad_options():
    X = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(InputError, match="prime"):
        persistence(X, coeff=4)
    with pytest.raises(InputError, match="maxdim"):
        persistence(X, maxdim=7)


def test_diagram_plots_on_its_own_range_with_equal_aspect_and_a_labelled_infinity_line():
    """The user's squashed diagram: births < 1.3, deaths up to 3.9, one infinite H0 bar. Both axes span the
    finite values (not 0..max with the infinite bar stretched in), aspect is equal, the ∞ line is labelled."""
    h0 = np.array([[0.0, 0.4], [0.0, 1.1], [0.0, 3.9], [0.0, np.inf]])
    h1 = np.array([[0.6, 0.9], [1.25, 2.0]])
    d = Diagrams([h0, h1], n_points=5, maxdim=1)
    fig = d.plot()
    ax = fig.axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert (x0, x1) == (y0, y1)  # one scale for birth and death
    assert ax.get_aspect() == 1.0  # "equal"
    assert x0 < 0.0 and x0 > -0.3 and 3.9 < x1 < 3.9 * 1.25  # the points' own range, a little padding
    inf_pts = [c.get_offsets() for c in ax.collections if len(c.get_offsets()) and np.isclose(
        c.get_offsets()[:, 1], c.get_offsets()[0, 1]).all() and c.get_offsets()[0, 1] > 3.9]
    assert len(inf_pts) == 1 and len(inf_pts[0]) == 1  # the infinite bar, above every finite death
    inf_y = float(inf_pts[0][0, 1])
    assert inf_y < x1  # inside the frame
    dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert len(dashed) == 1 and np.allclose(dashed[0].get_ydata(), inf_y)
    ticks = dict(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()]))
    assert ticks[inf_y] == "∞" and all(t < inf_y for t in ticks if t != inf_y)
    diag = [ln for ln in ax.lines if ln.get_linestyle() == "-"][0]  # the diagonal runs corner to corner
    assert np.allclose(diag.get_xdata(), [x0, x1]) and np.allclose(diag.get_ydata(), [x0, x1])
    p = d.plotly()
    assert list(p.layout.xaxis.range) == list(p.layout.yaxis.range) == [x0, x1]
    assert p.layout.yaxis.scaleanchor == "x" and p.layout.yaxis.scaleratio == 1
    assert any(s.y0 == pytest.approx(inf_y) for s in p.layout.shapes)
    assert any("∞" in a.text for a in p.layout.annotations)
    assert max(max(t.y) for t in p.data if t.mode == "markers") == pytest.approx(inf_y)
