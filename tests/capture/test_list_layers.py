"""list_layers: names, types, output shapes per sample from one dry forward pass; hooks removed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repscope.capture import list_layers
from repscope.errors import CaptureError, InputError


def _hooks(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_shapes_types_and_hygiene(res_cnn, gru_net):
    res_cnn.train()
    t = list_layers(res_cnn, torch.randn(3, 1, 8, 8))
    assert _hooks(res_cnn) == 0 and res_cnn.training  # hooks removed, mode restored
    assert t.info("stem").shape == (4, 8, 8) and t.info("stem").type == "Conv2d"
    assert t.info("pool").shape == (4, 1, 1) and t.info("head").shape == (3,)
    assert t.info("head").n_params == 4 * 3 + 3
    # what pool="mean" would store, by capture.pooling's rule
    assert t.info("stem").mean == "(4,) over H, W" and t.info("head").mean == "(3,) kept"
    assert t.info("block1.relu").calls == 2 and "ran 2×" in t.info("block1.relu").note
    assert list(t)[:3] == ["stem", "block1", "block1.conv1"]  # iterates names
    header, rows = t.table()
    assert header[:4] == ["name", "type", "params", "output shape (per sample)"]
    assert t.tsv().splitlines()[1].split("\t")[:4] == ["stem", "Conv2d", "40", "(4, 8, 8)"]
    assert t.to_dict()["layers"][0]["shape"] == [4, 8, 8]
    fig = t.plot()  # features per sample of every module that ran, as bars
    assert sorted(p.get_width() for p in fig.axes[0].patches)[-1] == 4 * 8 * 8
    assert list(t.plotly().data[0].x)[:2] == [4 * 8 * 8, 4 * 8 * 8]
    text = repr(t).splitlines()
    assert text[0].startswith("Layers: 13 modules; 13 ran") and text[2].split()[:4] == ["stem", "Conv2d", "40", "(4,"]
    g = list_layers(gru_net, np.zeros((2, 5, 3), np.float32))
    assert g.info("gru").shape == (5, 6) and "tuple of 2" in g.info("gru").note
    assert g.info("gru").type == "GRU" and g.info("out").shape == (2,)
    assert g.info("gru").mean == "(6,) over tokens"
    assert list_layers(gru_net, np.zeros((2, 5, 3), np.float32), output_index=1).info("gru").note.startswith(
        "no batch axis")


def test_without_input_and_errors(res_cnn, tiny_bert, bert_batches):
    t = list_layers(res_cnn)
    assert not t.with_shapes and t.info("stem").shape is None and t == list(t.names)
    assert list_layers(res_cnn, leaves_only=True).names[:3] == ["stem", "block1.conv1", "block1.bn1"]
    with pytest.raises(CaptureError, match="raised on the example input"):
        list_layers(res_cnn, torch.randn(2, 3, 8, 8))
    assert _hooks(res_cnn) == 0
    b = list_layers(tiny_bert, bert_batches[0])
    assert b.info("encoder.layer.0.intermediate").shape == (7, 37)
    assert b.info("encoder.layer").calls == 0  # ModuleList never runs
    with pytest.raises(InputError, match="no module 'nope'"):
        b.info("nope")
