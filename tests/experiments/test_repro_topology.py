"""Purvine et al. reproduction (reduced configuration)."""

import numpy as np

from repscope.experiments.topology.reproduce import RESNET_LAYERS, _conv_outputs, build_residual_cnn, reproduce
from repscope.experiments.verdict import VERDICTS, verdict_rule


def test_residual_cnn_layers():
    m = build_residual_cnn((1, 16, 16), 3, width=4, seed=0)
    acts = _conv_outputs(m, np.zeros((5, 1, 16, 16), np.float32), RESNET_LAYERS)
    assert acts["stem"].shape == (5, 4, 16, 16)
    assert acts["b2.conv1"].shape == (5, 8, 8, 8)  # the second block halves the map and doubles the width
    assert acts["fc"].shape == (5, 3)
    assert m.b1.skip.__class__.__name__ == "Identity"  # residual: identity skip where shapes match


def test_reproduction_table_properties():
    cfg = {"n_train": 240, "epochs": 1, "n_samples": 60, "ks": (0, 1, 2, 4)}
    t = reproduce(quick=True, seeds=2, config=cfg, n_workers=1)[0]
    assert t.key == "topology" and len(t.rows) == 5
    for r in t.rows:
        assert r.ci_low <= r.estimate <= r.ci_high and r.n == 2 and r.verdict in VERDICTS
        assert r.verdict == verdict_rule(r.estimate, r.p_adjusted, r.n, direction=r.direction, threshold=r.threshold)
    sens, _, spec, r_ph, _ = t.rows
    assert all(-1 <= v <= 1 for v in sens.values + r_ph.values)  # rank correlations
    # 1-NN layer identification across seeds is a fraction of the 8 layers
    assert all(v in {k / 8 for k in range(9)} for v in t.extra["cross_seed_nn"])
    assert len(t.extra["node_purity"][0]) == len(RESNET_LAYERS)
    assert "ResNet-18" in t.setup["model"]
