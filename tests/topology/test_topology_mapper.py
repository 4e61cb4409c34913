"""Mapper graphs: known answers on separated classes, cover, edges, purity, interactive view, errors."""

import json

import numpy as np
import pytest

from repscope.errors import InputError
from repscope.topology import knn_elbow_eps, mapper
from repscope.topology._mapper import cover_intervals


def two_classes(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.standard_normal((n, 5)) * 0.2, rng.standard_normal((n, 5)) * 0.2 + 8.0])
    y = np.repeat(["left", "right"], n)
    return X, y


def test_two_separated_classes_give_two_pure_components():
    X, y = two_classes()
    g = mapper(X, y, n_intervals=10, overlap=0.5)
    assert g.n_components() == 2
    assert g.node_purity() == 1.0
    assert g.class_purity() == {"left": 1.0, "right": 1.0}
    assert g.class_groups() == [["left"], ["right"]]
    np.testing.assert_allclose(g.class_cooccurrence(), np.eye(2))
    # the same with single linkage and with the PCA lens
    assert mapper(X, y, clusterer="single_linkage").n_components() == 2
    assert mapper(X, y, lens="pca", overlap=0.5).n_components() == 2


def test_nodes_and_edges_are_consistent():
    rng = np.random.default_rng(1)
    t = rng.uniform(0, 2 * np.pi, 300)
    X = np.c_[np.cos(t), np.sin(t)] + 0.03 * rng.standard_normal((300, 2))
    y = (t > np.pi).astype(int)
    g = mapper(X, y, lens=X[:, 0], n_intervals=6, overlap=0.3, eps=0.2)
    # a circle seen through the x coordinate is a cycle: two branches joined at both ends
    assert g.n_components() == 1
    G = g.graph()
    assert G.number_of_edges() == G.number_of_nodes()
    for i, j, w in g.edges:
        assert w == len(np.intersect1d(g.nodes[i]["members"], g.nodes[j]["members"])) > 0
    for nd in g.nodes:
        assert sum(nd["class_counts"].values()) == len(nd["members"])
        a, b = g.intervals[nd["interval"]]
        assert np.all((X[nd["members"], 0] >= a) & (X[nd["members"], 0] <= b))
    assert json.dumps(g.to_dict(), allow_nan=False)


def test_cover_intervals():
    f = np.linspace(2.0, 12.0, 50)
    iv = cover_intervals(f, 5, 0.25)
    length = iv[0, 1] - iv[0, 0]
    assert iv[0, 0] == 2.0 and iv[-1, 1] == pytest.approx(12.0)
    np.testing.assert_allclose(iv[:, 1] - iv[:, 0], length)
    np.testing.assert_allclose(iv[:-1, 1] - iv[1:, 0], 0.25 * length)  # fractional overlap


def test_knn_elbow_separates_within_from_between_cluster_scale():
    X, _ = two_classes()
    eps = knn_elbow_eps(X, k=5)
    within = np.sort(np.linalg.norm(X[:60, None] - X[None, :60], axis=2), axis=1)[:, 5].max()
    assert 0 < eps <= within * 1.01
    assert eps < 8.0


def test_purity_definitions_on_a_hand_built_case():
    # lens puts points in two disjoint intervals; eps huge → one node per interval
    X = np.array([[0.0], [0.1], [0.2], [0.3], [10.0], [10.1], [10.2], [10.3]])
    y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    g = mapper(
        X, y, lens=X[:, 0], n_intervals=2, overlap=0.0, clusterer="single_linkage", eps=100.0, min_samples=1
    )
    assert len(g.nodes) == 2
    np.testing.assert_allclose(g.node_purities(), [0.75, 1.0])
    assert g.node_purity() == pytest.approx(0.875)
    cp = g.class_purity()
    assert cp[0] == pytest.approx(0.75)  # all 3 members of class 0 sit in a node that is 75% class 0
    assert cp[1] == pytest.approx((1 * 0.25 + 4 * 1.0) / 5)


def test_interactive_view_escapes_labels_and_has_controls():
    X, _ = two_classes(30)
    y = np.repeat(["<script>alert(1)</script>", "b&c"], 30)
    g = mapper(X, y, overlap=0.5, name="<layer>")
    fig = g.plotly()
    texts = " ".join(t for tr in fig.data if tr.text is not None for t in tr.text)
    assert "<script>" not in texts and "&lt;script&gt;" in texts and "b&amp;c" in texts
    assert "<layer>" not in fig.layout.title.text
    labels = [b.label for b in fig.layout.updatemenus[0].buttons]
    assert any("class" in s for s in labels) and any("L2 norm" in s for s in labels)
    assert len(fig.layout.sliders[0].steps) >= 2
    assert g.layout() == mapper(X, y, overlap=0.5).layout()  # deterministic layout
    import matplotlib

    matplotlib.use("Agg")
    assert g.plot().axes
    assert "nodes" in g.summary()


def test_without_labels():
    X, _ = two_classes(30)
    g = mapper(X)
    assert np.isnan(g.node_purity()) and g.class_purity() == {}
    assert g.plotly().data and "purity" not in g.summary()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"labels": np.zeros(5)}, "labels"),
        ({"overlap": 1.0}, "overlap"),
        ({"n_intervals": 0}, "n_intervals"),
        ({"lens": "bogus"}, "lens"),
        ({"lens": np.zeros(3)}, "lens"),
        ({"clusterer": "kmeans"}, "clusterer"),
    ],
)
def test_bad_inputs(kwargs, match):
    X, _ = two_classes(20)
    with pytest.raises(InputError, match=match):
        mapper(X, **kwargs)


def test_degenerate_clouds():
    with pytest.raises(InputError, match="identical"):
        mapper(np.ones((10, 3)))
    with pytest.raises(InputError, match="NaN"):
        mapper(np.array([[0.0, 1], [np.nan, 1], [2, 2]]))
    with pytest.raises(InputError, match="at least 3"):
        mapper(np.zeros((2, 3)))
