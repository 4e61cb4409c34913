"""``store.to_xarray(layer)``: a Brain-Score-like presentation × neuroid assembly of one layer, on a small
MLP and on a GRU store (not the demo CNN)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import repscope


@pytest.fixture(scope="module")
def mlp_store(tmp_path_factory):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 6)).astype(np.float32)
    return repscope.capture(model, X, ["0", "2"], tmp_path_factory.mktemp("x") / "s.zarr",
                            labels=np.arange(20) % 3, attributes={"colour": np.array(["red", "blue"] * 10)},
                            progress=False)


def test_layer_as_assembly(mlp_store):
    da = mlp_store.to_xarray("0")
    X = mlp_store.read("0")
    assert da.dims == ("presentation", "neuroid") and da.shape == X.shape
    assert np.array_equal(da.values, X) and da.attrs["layer"] == "0" and da.attrs["layer_shape"] == (5,)
    assert np.array_equal(da.sample_id.values, mlp_store.sample_ids)
    assert np.array_equal(da.label.values, mlp_store.labels)
    assert list(da.colour.values[:2]) == ["red", "blue"]
    assert list(da.neuroid_id.values[:2]) == ["0.0", "0.1"] and set(da.layer.values) == {"0"}
    # a selection by the stimulus attribute picks the same rows as the store's own read
    red = da.where(da.colour == "red", drop=True)
    assert np.array_equal(red.values, mlp_store.read("0", mlp_store.attributes["colour"] == "red"))
    part = mlp_store.to_xarray("2", rows=[3, 1])
    assert np.array_equal(part.values, mlp_store.read("2", [3, 1]))
    assert list(part.sample_id.values) == list(mlp_store.sample_ids[[3, 1]])


def test_sequence_layer_is_flattened_per_sample(tmp_path):
    """A GRU's (time, hidden) output per sample is one row of time × hidden neuroids; its shape is kept."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(3, 4, batch_first=True)

        def forward(self, x):
            return self.gru(x)[0]

    torch.manual_seed(0)
    data = np.random.default_rng(1).standard_normal((6, 5, 3)).astype(np.float32)
    st = repscope.capture(Net(), data, ["gru"], tmp_path / "g.zarr", pool="none", progress=False)
    da = st.to_xarray("gru")
    assert da.shape == (6, 20) and da.attrs["layer_shape"] == (5, 4)
    assert np.array_equal(da.values, st.read("gru"))
