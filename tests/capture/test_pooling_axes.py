"""Pooling checks its axes both ways (issue 21): a spatial mode on a sequence output would average the feature
axis, a token mode on a channel-first map would pick channels — both are refused with the shape and the mode
that fits, through the API and the CLI; the stored ``axes`` are true for every mode that is accepted."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch
from torch import nn

import repscope as rs
from repscope.capture.pooling import layout_of
from repscope.errors import InputError

SEQ_NETS = textwrap.dedent('''
    import torch
    from torch import nn


    class LSTMNet(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.lstm = nn.LSTM(3, 8, batch_first=True)
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            seq, _ = self.lstm(x)
            return self.head(seq[:, -1])


    class EncoderNet(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.inp = nn.Linear(3, 8)
            layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

        def forward(self, x):
            return self.encoder(self.inp(x))


    class ConvNet(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv = nn.Conv1d(3, 6, 3, padding=1)

        def forward(self, x):
            return self.conv(x)
''')


@pytest.fixture
def seq_nets(tmp_path, monkeypatch):
    (tmp_path / "seqnets.py").write_text(SEQ_NETS)
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(SEQ_NETS, "seqnets.py", "exec"), ns)
    return ns


def _x(n=6, T=5, d=3):
    return torch.randn(n, T, d, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("mode", ["spatial_mean", "spatial_max"])
def test_spatial_mode_on_an_lstm_sequence_is_refused(tmp_path, seq_nets, mode):
    net = seq_nets["LSTMNet"]().eval()
    # before: accepted, averaged the 8 features away and stored width T = 5 under axes "features"
    with pytest.raises(InputError, match=rf"pool='{mode}' on layer 'lstm'.*\(N, 5, 8\) is a sequence.*8 features"
                                         r".*use pool="):
        rs.capture(net, _x(), "lstm", tmp_path / "a.zarr", pool=mode, progress=False)
    with pytest.raises(InputError, match=r"\(N, 5, 8\) is a sequence"):
        rs.capture(net, _x(), "lstm", tmp_path / "b.zarr", pool={"lstm": mode, "*": "none"}, progress=False)


def test_spatial_mode_on_a_transformer_encoder_is_refused_and_token_mean_fits(tmp_path, seq_nets):
    net = seq_nets["EncoderNet"]().eval()
    assert layout_of(net.encoder) == "tokens" and layout_of(net.encoder.layers[0]) == "tokens"
    with pytest.raises(InputError,
                       match=r"'spatial_mean' on layer 'encoder.layers.0'.*\(N, 5, 8\) is a sequence.*token_mean"):
        rs.capture(net, _x(), ["encoder.layers.0", "encoder"], tmp_path / "a.zarr", pool="spatial_mean",
                   progress=False)
    X = _x()
    s = rs.capture(net, X, ["encoder.layers.0", "encoder"], tmp_path / "b.zarr", pool="token_mean", progress=False)
    with torch.no_grad():
        h = net(X)
    assert s.layer_shape("encoder") == (8,) and s.layer_info("encoder")["axes"] == "features"
    np.testing.assert_allclose(s.read("encoder"), h.mean(dim=1).numpy(), rtol=1e-5, atol=1e-6)
    s = rs.capture(net, X, "encoder", tmp_path / "c.zarr", progress=False)
    assert s.layer_shape("encoder") == (5, 8) and s.layer_info("encoder")["axes"] == "tokens, features"


@pytest.mark.parametrize("mode", ["token_mean", "cls", "last", "pos:1"])
def test_token_mode_on_a_conv1d_map_is_refused(tmp_path, seq_nets, mode):
    net = seq_nets["ConvNet"]().eval()
    X = torch.randn(4, 3, 7)
    with pytest.raises(InputError, match=rf"pool='{mode}' on layer 'conv'.*\(N, 6, 7\) is a channel-first map"
                                         r".*spatial_mean"):
        rs.capture(net, X, "conv", tmp_path / "a.zarr", pool=mode, progress=False)
    s = rs.capture(net, X, "conv", tmp_path / "b.zarr", pool="spatial_mean", progress=False)
    with torch.no_grad():
        np.testing.assert_allclose(s.read("conv"), net(X).mean(dim=2).numpy(), rtol=1e-5, atol=1e-6)


def test_lstm_lengths_pool_the_time_axis(tmp_path, seq_nets):
    net = seq_nets["LSTMNet"]().eval()
    X = _x()
    with torch.no_grad():
        seq, _ = net.lstm(X)
    for mode, want in [("mean", seq.mean(1)), ("token_mean", seq.mean(1)), ("max", seq.amax(1)), ("last", seq[:, -1])]:
        s = rs.capture(net, X, "lstm", tmp_path / f"{mode}.zarr", pool=mode, progress=False)
        assert s.layer_shape("lstm") == (8,) and s.layer_info("lstm")["axes"] == "features"
        np.testing.assert_allclose(s.read("lstm"), want.numpy(), rtol=1e-5, atol=1e-6)


class _Custom(nn.Module):
    """A leaf module repscope does not know, producing a channel-first (N, C, L) map via F.conv1d."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 3, 3, generator=torch.Generator().manual_seed(0)))

    def forward(self, x):
        return nn.functional.conv1d(x, self.w, padding=1)


def test_an_unknown_leaf_keeps_the_explicit_override(tmp_path):
    net = nn.Sequential(_Custom()).eval()
    assert layout_of(net[0]) == "unknown"
    X = torch.randn(5, 3, 6)
    s = rs.capture(net, X, "0", tmp_path / "a.zarr", pool="spatial_mean", progress=False)
    with torch.no_grad():
        np.testing.assert_allclose(s.read("0"), net(X).mean(dim=2).numpy(), rtol=1e-5, atol=1e-6)


def test_cli_refuses_spatial_pool_on_lstm_and_encoder_in_one_line(run_cli, tmp_path, seq_nets):
    np.save("x.npy", _x().numpy())
    for model, layer in [("seqnets.py:LSTMNet", "lstm"), ("seqnets.py:EncoderNet", "encoder")]:
        code, out, err = run_cli("capture", "--model", model, "--data", "x.npy", "--layers", layer,
                              "--pool", "spatial_mean", "--out", "s.zarr", "--quiet")
        assert code == 2 and out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("repscope: error: pool='spatial_mean'")
        assert "(N, 5, 8) is a sequence" in lines[0] and "token_mean" in lines[0]
    code, _, err = run_cli("capture", "--model", "seqnets.py:LSTMNet", "--data", "x.npy", "--layers", "lstm",
                        "--pool", "token_mean", "--out", "t.zarr", "--quiet")
    assert code == 0, err
    s = rs.open_store("t.zarr")
    assert s.layer_shape("lstm") == (8,) and s.layer_info("lstm")["axes"] == "features"
