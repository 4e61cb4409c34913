"""Figures and readings that follow from the numbers: colour scales on the measure's range, verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from repscope.metrics import layer_matrix
from repscope.results import MatrixResult


def _matrix(metric: str, values, **kw) -> MatrixResult:
    v = np.asarray(values, dtype=float)
    names = [f"l{i}" for i in range(v.shape[0])]
    return MatrixResult(values=v, rows=names, cols=names, metric=metric, **kw)


def test_similarity_colours_span_the_measure_range():
    """0.72 CKA must not look like zero: CKA colours span 0–1, angles 0–π/2, whatever the data; the range
    comes from the measure registry through the producer (layer_matrix)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    layers = {"a": X, "b": X @ rng.standard_normal((5, 5)) + 0.5 * rng.standard_normal((40, 5))}
    cka = layer_matrix(layers, metric="linear_cka")
    z = cka.plotly().data[0]
    assert (z.zmin, z.zmax) == (0.0, 1.0)
    proc = layer_matrix(layers, metric="procrustes")
    assert proc.colour_range() == pytest.approx((0.0, np.pi / 2))
    assert "radians" in proc.plotly().data[0].colorbar.title.text
    # unbounded distance: from 0 to the data's maximum; a matrix built without a range: the data's range
    assert _matrix("ph_sliced_wasserstein", [[0, 3.5], [3.5, 0]], value_range=(0.0, None)).colour_range() == (0.0, 3.5)
    assert _matrix("my_measure", [[1, 0.5], [0.5, 1]]).colour_range() is None
    # the user asks otherwise: an explicit range, or the data's
    assert _matrix("linear_cka", [[1, 0.8], [0.8, 1]], value_range=(0.5, 1)).colour_range() == (0.5, 1.0)
    assert _matrix("linear_cka", [[1, 0.8], [0.8, 1]], value_range="data").plotly().data[0].zmin is None


def test_heatmap_has_axis_titles_cell_values_and_a_reading_that_says_where_to_look():
    m = _matrix("linear_cka", np.eye(3) * 0.5 + 0.5)
    fig = m.plotly()
    assert fig.layout.xaxis.title.text == "layer" and fig.layout.yaxis.title.text == "layer"
    assert fig.data[0].texttemplate == "%{text}" and fig.data[0].text[0][1] == "0.500"
    assert m.summary().rstrip().endswith("dark cells are where the representation changes.")
    assert m.table_collapsed  # the heatmap writes every value; the table is folded away
    mpl = m.plot()
    ax = mpl.axes[0]
    assert ax.get_xlabel() == "layer" and len(mpl.axes) == 2  # a colourbar
    assert mpl.axes[1].get_ylabel().startswith("linear_cka")


def _assoc_with_top_band_pure(derived=()):
    """A logit-like unit: top band = 100 % label 1, mid band over-represents label 2 (a near class)."""
    from repscope.ranges import band_associations, bands

    rng = np.random.default_rng(0)
    n = 3000
    label = rng.integers(0, 5, n)
    s = rng.normal(0, 1, n)
    s[label == 1] += 6.0  # label 1: the top band
    s[label == 2] += 3.0  # label 2: the mid band
    b = bands(s, kind="value", edges=(-np.inf, 1.5, 4.5, np.inf), names=("low", "mid", "top"))
    return band_associations(b, {"label": label}, n_permutations=99)


def test_no_mid_range_only_when_the_top_band_is_just_as_associated():
    from repscope.ranges import find_confounders

    a = _assoc_with_top_band_pure()
    vt, vm = a.get("top", "label"), a.get("mid", "label")
    assert vt >= vm > 0.2  # the top band is at least as associated as the mid band
    f = find_confounders(a)
    assert f.rows[0]["verdict"] == "both (different values)"
    assert "would miss" not in f.summary()
    # marked as derived from the target: listed, never flagged
    g = find_confounders(a, derived=["label"])
    assert g.rows[0]["verdict"] == "derived from target" and not g.flagged
    assert "derived from the unit's target" in g.summary()


def test_logit_units_mark_label_and_predicted_as_target():
    from repscope.ranges import analyse_store

    class Store:
        def __init__(self):
            rng = np.random.default_rng(1)
            n = 400
            self.labels = np.arange(n) % 4
            Z = rng.normal(0, 1, (n, 4))
            Z[np.arange(n), self.labels] += 4.0
            self._z = Z
            self.layers = ["fc"]
            self.attributes = {"noise": rng.integers(0, 2, n)}
            self.sample_ids = np.arange(n)
            self.n_samples = n

        def read(self, layer, rows=None):
            return self._z

    res = analyse_store(Store(), unit="fc:1", n_permutations=49)
    verdicts = {r["attribute"]: r["verdict"] for r in res.confounders.rows}
    assert verdicts["label"] == verdicts["predicted"] == "derived from target"
    assert "label (target)" in [r[2] for r in res.associations.table()[1]]
    summary = res.associations.summary()
    assert summary.count("\n") == 0 and len(summary) < 600  # short: the table says the rest


def test_permutation_reading_is_a_ratio():
    from repscope.descramble.results import PermutationResult

    r = PermutationResult(layer="fc1", operator="first_difference", n_units=4, n_samples=10,
                          perm=np.arange(4), cost_permutation=109.0, cost_identity=200.0, bound=1.0,
                          restart_costs=np.array([109.0]))
    assert "109× the bound" in r.summary() and "%" not in r.summary().split("recovers")[1].split(";")[1]
    assert ["cost / bound", "109×"] in r.table()[1]


def test_capture_summary_draws_label_counts_only_when_they_differ():
    from repscope.store.summary import CaptureSummary

    layers = {f"l{i}": {"shape": (384,), "features": 384, "pool": "token_mean", "point": "post",
                        "module": "BertLayer", "nonfinite": 0} for i in range(7)}
    equal = CaptureSummary("s", 48, layers, {str(k): 8 for k in range(6)}, provenance={"model": "m"})
    assert equal.plot() is None and "balanced (8 samples for each of 6 labels)" in equal.summary()
    unequal = CaptureSummary("s", 50, layers, {"0": 30, "1": 20}, provenance={"model": "m"})
    ax = unequal.plot().axes[0]
    assert [p.get_height() for p in ax.patches] == [30, 20] and ax.get_ylabel() == "samples"
    assert CaptureSummary("s", 5, layers).plot() is None  # no labels: the table is enough
