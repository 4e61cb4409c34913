"""What ``repscope topology`` writes, from the API: mapper tooltips read from files (one per stored sample,
else a one-line error) and topology.json's content with its figures (TopologyAnalysis.outputs)."""

from __future__ import annotations

import numpy as np
import pytest

from repscope.errors import InputError
from repscope.experiments.datasets.toy import toy_store
from repscope.topology import LayerSummaries, PHLayerMatrix, analyse, layer_summaries, load_tooltips


def test_tooltips_one_per_sample(tmp_path):
    np.save(tmp_path / "img.npy", np.zeros((3, 4, 4)))
    (tmp_path / "t.txt").write_text("a\nb\nc\n")
    images, texts = load_tooltips(tmp_path / "img.npy", tmp_path / "t.txt", 3)
    assert images.shape == (3, 4, 4) and texts == ["a", "b", "c"]
    assert load_tooltips(None, None, 3) == (None, None)
    with pytest.raises(InputError, match="has 3 images but the store has 5 samples"):
        load_tooltips(tmp_path / "img.npy", None, 5)
    with pytest.raises(InputError, match="has 3 lines but the store has 2 samples"):
        load_tooltips(None, tmp_path / "t.txt", 2)
    with pytest.raises(InputError, match="does not exist"):
        load_tooltips(tmp_path / "none.npy", None, 3)
    (tmp_path / "bad.npy").write_text("not an array")
    with pytest.raises(InputError, match="could not be read"):
        load_tooltips(tmp_path / "bad.npy", None, 3)


def test_outputs_hold_the_analysis_results():
    store, tmp = toy_store()
    try:
        res = analyse(store, n_samples=40, progress=False, mapper_graphs=False, dim=0)
    finally:
        tmp.cleanup()
    payload, figures = res.outputs(dim=0)
    ph = next(r for r in res.results if isinstance(r, PHLayerMatrix))
    assert payload["ph_layer_matrix"] == ph.to_dict() and payload["reading"] == res.reading
    assert "mapper" not in payload and "mapper_trend" not in payload  # not made: not written
    summaries = dict((stem, r) for r, stem in figures)["layer_summaries"]
    assert isinstance(summaries, LayerSummaries)
    assert payload["layer_summaries"] == layer_summaries(ph.diagrams, dim=0, layers=list(ph.diagrams)).to_dict()
    assert [stem for r, stem in figures if r is not None] == ["ph_layer_matrix", "layer_summaries"]
