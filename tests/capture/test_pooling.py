"""Pooling knows its axes: spatial for channel-first maps, tokens for sequences, never the feature axis."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import repscope as rs
from repscope.capture.pooling import layout_of, layouts
from repscope.errors import InputError


class TokenMLP(nn.Module):
    """(N, T, 4) → Linear → (N, T, 3): a per-token feature map."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.enc = nn.Linear(4, 3)
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(self.enc(x))


def test_mean_on_tokens_averages_tokens_not_features(tmp_path):
    X = torch.randn(9, 5, 4, generator=torch.Generator().manual_seed(0))
    m = TokenMLP().eval()
    with torch.no_grad():
        h = m.enc(X)
        a = m(X)
    s = rs.capture(m, X, ["enc", "act"], tmp_path / "m.zarr", pool="mean", progress=False)
    # before: (N, T, D) "mean" averaged over the 3 features and stored one number per token-row
    assert s.layer_shape("enc") == (3,)
    np.testing.assert_allclose(s.read("enc"), h.mean(dim=1).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.read("act"), a.mean(dim=1).numpy(), rtol=1e-5, atol=1e-6)  # GELU → tokens
    s = rs.capture(m, X, "enc", tmp_path / "x.zarr", pool="max", progress=False)
    np.testing.assert_allclose(s.read("enc"), h.amax(dim=1).numpy(), rtol=1e-6)
    for pool, want in [("cls", h[:, 0]), ("last", h[:, -1]), ("pos:2", h[:, 2]), (3, h[:, 3]), ("pos:-2", h[:, -2])]:
        s = rs.capture(m, X, "enc", tmp_path / f"{pool}.zarr", pool=pool, progress=False)
        np.testing.assert_allclose(s.read("enc"), want.numpy(), rtol=1e-6)
    s = rs.capture(m, X, "enc", tmp_path / "n.zarr", pool="none", progress=False)
    assert s.layer_shape("enc") == (5, 3)
    np.testing.assert_allclose(s.read("enc").reshape(9, 5, 3), h.numpy(), rtol=1e-6)


def test_bert_mean_is_the_masked_token_mean(tmp_path, tiny_bert, bert_batches):
    s = rs.capture(tiny_bert, bert_batches, {"encoder.layer.*", "pooler"}, tmp_path / "b.zarr",
                   pool={"encoder.layer.1": "last", "*": "mean"}, progress=False)
    hs, masks = [], []
    with torch.no_grad():
        for b in bert_batches:
            hs.append(tiny_bert(**b, output_hidden_states=True).hidden_states)
            masks.append(b["attention_mask"])
    mask = torch.cat(masks).bool()
    h1 = torch.cat([h[1] for h in hs])  # output of encoder.layer.0
    h2 = torch.cat([h[2] for h in hs])  # output of encoder.layer.1
    want_mean = np.stack([h1[i, mask[i]].mean(0).numpy() for i in range(8)])
    want_last = np.stack([h2[i, int(mask[i].sum()) - 1].numpy() for i in range(8)])
    np.testing.assert_allclose(s.read("encoder.layer.0"), want_mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(s.read("encoder.layer.1"), want_last, rtol=1e-4, atol=1e-5)
    assert s.layer_shape("pooler") == (32,)  # (N, D): kept, never reduced over features
    assert s.layer_info("encoder.layer.1")["pool"] == "last"
    assert s.layer_info("encoder.layer.0")["axes"] == "features"
    s = rs.capture(tiny_bert, bert_batches, "encoder.layer.*", tmp_path / "n.zarr", progress=False)
    assert s.layer_shape("encoder.layer.0") == (7, 32)
    assert s.layer_info("encoder.layer.0")["axes"] == "tokens, features"  # how lenses find sequences


class Conv1dNet(nn.Module):
    """Channel-first sequences: Conv1d (N, C, L) → ReLU → BatchNorm1d → mean over L → Linear."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv1d(2, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.bn = nn.BatchNorm1d(4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.bn(self.act(self.conv(x))).mean(-1))


def test_conv1d_maps_pool_over_length_and_ambiguous_3d_asks(tmp_path):
    X = torch.randn(7, 2, 10, generator=torch.Generator().manual_seed(0))
    m = Conv1dNet().eval()
    with torch.no_grad():
        c = m.conv(X)
        a = m.act(c)
    s = rs.capture(m, X, ["conv", "bn"], tmp_path / "c.zarr", pool="mean", progress=False)
    np.testing.assert_allclose(s.read("conv"), c.mean(dim=2).numpy(), rtol=1e-5, atol=1e-6)
    assert s.layer_shape("bn") == (4,)
    s = rs.capture(m, X, ["conv", "act"], tmp_path / "n.zarr", progress=False)
    assert [s.layer_info(n)["axes"] for n in ("conv", "act")] == [
        "channels, length", "channels, length or tokens, features (ambiguous)"]
    # a ReLU's 3-D output in a model that has Conv1d layers could be (N, C, L) or (N, T, D): say which
    with pytest.raises(InputError, match=r"'act'.*\(N, 4, 10\).*pool='spatial_mean' or pool='token_mean'"):
        rs.capture(m, X, "act", tmp_path / "a.zarr", pool="mean", progress=False)
    s = rs.capture(m, X, "act", tmp_path / "b.zarr", pool="spatial_max", progress=False)
    np.testing.assert_allclose(s.read("act"), a.amax(dim=2).numpy(), rtol=1e-6)


def test_rank_misfits_name_the_shape_and_the_fix(tmp_path, tiny_model, tiny_data):
    X, _ = tiny_data
    with pytest.raises(InputError, match=r"pool='cls' needs a sequence.*'conv'.*\(N, 4, 5, 5\).*spatial_mean"):
        rs.capture(tiny_model, X, "conv", tmp_path / "a.zarr", pool="cls", progress=False)
    with pytest.raises(InputError, match=r"spatial_mean.*'fc' produced \(N, 6\).*pool='none'"):
        rs.capture(tiny_model, X, "fc", tmp_path / "b.zarr", pool="spatial_mean", progress=False)
    with pytest.raises(InputError, match=r"pool='token_mean'.*\(N, 6\).*pool='none'"):
        rs.capture(tiny_model, X, "fc", tmp_path / "c.zarr", pool="token_mean", progress=False)
    Xs = torch.randn(3, 5, 4)
    with pytest.raises(InputError, match="position 7 is outside its 5 tokens"):
        rs.capture(TokenMLP(), Xs, "enc", tmp_path / "d.zarr", pool="pos:7", progress=False)
    with pytest.raises(InputError, match="position must be an integer"):
        rs.capture(TokenMLP(), Xs, "enc", tmp_path / "e.zarr", pool="pos:x", progress=False)
    with pytest.raises(InputError, match="for layer 'enc'"):
        rs.capture(TokenMLP(), Xs, "enc", tmp_path / "f.zarr", pool={"e*": "avg"}, progress=False)
    # a per-layer key that matches no captured layer is a typo, not something to ignore
    with pytest.raises(InputError, match="pool key 'ecn' matches none of the captured layers"):
        rs.capture(TokenMLP(), Xs, "enc", tmp_path / "g.zarr", pool={"ecn": "cls"}, progress=False)


def test_layout_rule(res_cnn, gru_net, tiny_bert):
    assert layout_of(nn.Conv1d(1, 1, 1)) == "channels" and layout_of(nn.MaxPool1d(2)) == "channels"
    assert layout_of(nn.Linear(2, 2)) == "tokens" and layout_of(gru_net.gru) == "tokens"
    assert layout_of(nn.Sequential(nn.Conv1d(1, 1, 1), nn.ReLU())) == "channels"  # container: last real leaf
    assert layout_of(nn.ReLU()) == "elementwise"
    assert layouts(tiny_bert, ["encoder.layer.0.output.dropout"]) == {"encoder.layer.0.output.dropout": "tokens"}
    assert layouts(Conv1dNet(), ["act"]) == {"act": "elementwise"}


def test_gru_and_residual_cnn(tmp_path, gru_net, res_cnn):
    X = torch.randn(6, 9, 3, generator=torch.Generator().manual_seed(0))
    s = rs.capture(gru_net, X, ["inp", "gru"], tmp_path / "g.zarr", pool={"gru": "last", "inp": "none"},
                   progress=False)
    with torch.no_grad():
        seq, hn = gru_net.gru(gru_net.inp(X))
    np.testing.assert_allclose(s.read("gru"), hn[0].numpy(), rtol=1e-5, atol=1e-6)  # last step = final state
    assert s.layer_shape("inp") == (9, 8)
    # the GRU's second output h_n is (layers, N, H): its first axis is not the batch — refused, naming the fix
    with pytest.raises(InputError, match=r"shape \(1, 6, 6\), whose first axis is not the batch of 6 samples"):
        rs.capture(gru_net, X, "gru", tmp_path / "t.zarr", output_index=1, progress=False)
    Xi = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    s = rs.capture(res_cnn, Xi, ["block*", "head"], tmp_path / "r.zarr", pool={"block*": "spatial_mean"},
                   progress=False)
    with torch.no_grad():
        b2 = res_cnn.block2(res_cnn.block1(res_cnn.stem(Xi)))
    np.testing.assert_allclose(s.read("block2"), b2.mean(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    assert s.layer_shape("head") == (3,)
    s = rs.capture(res_cnn, Xi, "stem", tmp_path / "s.zarr", progress=False)
    assert s.layer_info("stem")["axes"] == "channels, height, width"
