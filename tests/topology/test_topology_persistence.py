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
