"""KeplerMapper parity: identical graph on KeplerMapper's cover, node members, tooltips, clusterer objects, lenses."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.cluster import DBSCAN, AgglomerativeClustering
from sklearn.decomposition import PCA

from repscope.errors import InputError
from repscope.topology import mapper
from repscope.topology._mapper import thumbnail_png

FIXTURE = Path(__file__).parent / "data" / "kmapper_graph.json"


def _blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.standard_normal((n, 4)) * 0.2, rng.standard_normal((n, 4)) * 0.2 + 6.0])
    return X, np.repeat([0, 1], n)


def test_same_graph_as_keplermapper_on_its_cover():
    ref = json.loads(FIXTURE.read_text())
    X, lens = np.asarray(ref["X"]), np.asarray(ref["lens"])
    g = mapper(X, lens=lens, intervals=ref["intervals"], clusterer=DBSCAN(eps=0.6, min_samples=4))
    nodes = sorted(sorted(g.members(i).tolist()) for i in range(len(g.nodes)))
    assert nodes == ref["nodes"]
    edges = sorted(sorted([sorted(g.members(i).tolist()), sorted(g.members(j).tolist())]) for i, j, _ in g.edges)
    assert edges == ref["edges"]


def test_members_by_position_and_id():
    X, y = _blobs()
    g = mapper(X, y, n_intervals=4, overlap=0.3)
    for i, nd in enumerate(g.nodes):
        np.testing.assert_array_equal(g.members(i), nd["members"])
        np.testing.assert_array_equal(g.members(nd["id"]), nd["members"])
    with pytest.raises(InputError, match="no node with id"):
        g.members("99.9")
    with pytest.raises(InputError, match="out of range"):
        g.members(len(g.nodes))


def test_image_tooltips_are_small_pngs_of_the_members():
    X, y = _blobs()
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 1, (len(X), 8, 8))
    images[:, 0, 0] = np.arange(len(X))  # the brightest pixel encodes the row
    g = mapper(X, y, n_intervals=4, overlap=0.3, images=images, n_tooltips=3)
    from PIL import Image

    for i, nd in enumerate(g.nodes):
        tips = g.tooltips(i)
        assert 1 <= len(tips) <= 3 and all(t["index"] in set(nd["members"].tolist()) for t in tips)
        for t in tips:
            assert t["image"].startswith("data:image/png;base64,")
            img = np.asarray(Image.open(io.BytesIO(base64.b64decode(t["image"].split(",", 1)[1]))))
            assert img.shape == (8, 8)
            # min–max scaled per image: the pixel values are the image's, rescaled to 0–255
            a = images[t["index"]]
            np.testing.assert_allclose(img, np.round(255 * (a - a.min()) / (a.max() - a.min())), atol=0)
    d = g.to_dict()
    assert d["nodes"][0]["tooltips"][0]["image"].startswith("data:image/png")
    fig = g.plotly()
    # the report's member panel reads each node's customdata: {"node", "size", "members": [tooltips]}
    assert fig.data[1].customdata[0]["members"][0]["image"].startswith("data:image/png")
    # channel-first RGB and large images are accepted (strided to ≤ max_size)
    big = thumbnail_png(rng.uniform(size=(64, 64, 3)), max_size=16)
    assert np.asarray(Image.open(io.BytesIO(base64.b64decode(big.split(",", 1)[1])))).shape == (16, 16, 3)
    g2 = mapper(X, y, n_intervals=2, images=rng.uniform(size=(len(X), 3, 5, 5)), n_tooltips=1)
    assert g2.tooltips(0)[0]["image"]


def test_text_and_value_tooltips_escape_in_hover():
    X, y = _blobs()
    texts = [f"<b>row {i}</b> & " + "x" * 200 for i in range(len(X))]
    g = mapper(X, y, n_intervals=3, texts=texts)
    t = g.tooltips(0)[0]
    assert t["text"].startswith(f"<b>row {t['index']}</b>") and len(t["text"]) == 80
    hover = g._hover(0)
    assert "&lt;b&gt;row" in hover and "<b>row" not in hover
    gv = mapper(X, y, n_intervals=3)
    tv = gv.tooltips(0)[0]
    np.testing.assert_allclose(tv["values"], np.round(X[tv["index"], :8], 4))
    assert mapper(X, y, n_intervals=3, n_tooltips=0).tooltips(0) == []


def test_any_sklearn_clusterer_and_lens_kinds():
    X, y = _blobs()
    # DBSCAN object ≡ the built-in DBSCAN at the same eps
    g_obj = mapper(X, y, n_intervals=5, clusterer=DBSCAN(eps=0.8, min_samples=5))
    g_str = mapper(X, y, n_intervals=5, eps=0.8, min_samples=5)
    assert [nd["members"].tolist() for nd in g_obj.nodes] == [nd["members"].tolist() for nd in g_str.nodes]
    # a clusterer without noise (fit + labels_), 2 clusters per preimage with ≥ 2 points
    g_agg = mapper(X, y, n_intervals=1, clusterer=AgglomerativeClustering(n_clusters=2))
    assert len(g_agg.nodes) == 2 and g_agg.node_purity() == 1.0
    assert "AgglomerativeClustering" in g_agg.params["clusterer"] and "ε" not in g_agg.summary()
    # lens: callable, transformer, (n, 1) array — all equal to the explicit values
    def first(Z):
        return Z[:, 0]

    ref = mapper(X, y, lens=X[:, 0], n_intervals=4)
    for lens in (first, X[:, :1]):
        g = mapper(X, y, lens=lens, n_intervals=4)
        assert [nd["members"].tolist() for nd in g.nodes] == [nd["members"].tolist() for nd in ref.nodes]
    assert mapper(X, y, lens=first, n_intervals=4).lens_name == "first"
    gp = mapper(X, y, lens=PCA(n_components=2), n_intervals=4)
    assert gp.lens_name == "PCA" and gp.n_components() == 2


def test_mapper_input_errors():
    X, y = _blobs()
    with pytest.raises(InputError, match="1-d lens"):
        mapper(X, lens=lambda Z: Z[:, :2])
    with pytest.raises(InputError, match="eps applies"):
        mapper(X, clusterer=DBSCAN(), eps=0.5)
    with pytest.raises(InputError, match="neither fit_predict nor fit"):
        mapper(X, clusterer=object())
    with pytest.raises(InputError, match="images has"):
        mapper(X, images=np.zeros((5, 4, 4)))
    with pytest.raises(InputError, match="expected \\(n, H, W\\)"):
        mapper(X, images=np.zeros((len(X), 16)))
    with pytest.raises(InputError, match="texts has"):
        mapper(X, texts=["a"])
    with pytest.raises(InputError, match="intervals"):
        mapper(X, intervals=[[1.0, 0.0]])

    class NoLabels:
        def fit(self, Z):
            return self

    with pytest.raises(InputError, match="no integer label"):
        mapper(X, clusterer=NoLabels())
