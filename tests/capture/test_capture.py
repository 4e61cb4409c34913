"""Capture: layer selection, pooling, hook points, data forms, hook hygiene, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import repscope as rs
from repscope.capture import list_layers, select_layers
from repscope.errors import InputError


def _hooks_left(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_select_by_name_glob_predicate_and_unknown(digits_cnn):
    model = digits_cnn[0]
    assert select_layers(model, "fc1") == ["fc1"]
    assert select_layers(model, ["conv*"]) == ["conv1", "conv2", "conv3"]
    assert select_layers(model, lambda n, m: isinstance(m, nn.Linear)) == ["fc1", "fc2"]
    assert select_layers(model, None) == list_layers(model, leaves_only=True)
    with pytest.raises(InputError, match=r"unknown layer 'fc3'\. Did you mean 'fc2'"):
        select_layers(model, ["fc3"])
    with pytest.raises(InputError, match="matches no module"):
        select_layers(model, "features.*")


def test_pooling_matches_direct_reductions(tmp_path, tiny_model, tiny_data):
    X, _ = tiny_data
    with torch.no_grad():
        conv = tiny_model.conv(torch.from_numpy(X))
    s = rs.capture(tiny_model, X, ["conv"], tmp_path / "m.zarr", pool="mean", progress=False)
    np.testing.assert_allclose(s.read("conv"), conv.mean(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    assert s.layer_shape("conv") == (4,)
    s = rs.capture(tiny_model, X, ["conv"], tmp_path / "x.zarr", pool={"conv": "max"}, progress=False)
    np.testing.assert_allclose(s.read("conv"), conv.amax(dim=(2, 3)).numpy(), rtol=1e-6)


class _Seq(nn.Module):
    """(N, T, D) sequence model: an embedding followed by a linear map per token."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.enc = nn.Linear(4, 3)

    def forward(self, x):
        return self.enc(x)


def test_token_pools(tmp_path):
    X = np.random.default_rng(0).standard_normal((9, 5, 4)).astype(np.float32)
    m = _Seq()
    with torch.no_grad():
        ref = m.enc(torch.from_numpy(X)).numpy()
    for pool, expect in [("cls", ref[:, 0]), ("last", ref[:, -1]), ("token_mean", ref.mean(1)),
                         ("none", ref.reshape(9, -1))]:
        s = rs.capture(m, X, "enc", tmp_path / f"{pool}.zarr", pool=pool, progress=False)
        np.testing.assert_allclose(s.read("enc"), expect, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="needs a sequence output"):
        rs.capture(m, X[:, 0], "enc", tmp_path / "bad.zarr", pool="cls", progress=False)


def test_pre_hook_is_the_module_input(tmp_path, digits_cnn):
    model, X, y = digits_cnn
    s = rs.capture(model, X[:50], ["fc1", "relu4"], tmp_path / "p.zarr", point={"relu4": "pre"}, progress=False)
    np.testing.assert_allclose(s.read("relu4"), s.read("fc1"), rtol=0, atol=0)
    assert s.layer_info("relu4")["point"] == "pre"


class _TupleOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)

    def forward(self, x):
        h = self.lin(x)
        return h, 2 * h


class _Wrap(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.block = _TupleOut()

    def forward(self, x):
        return self.block(x)[0]


def test_tuple_outputs_first_tensor_or_chosen(tmp_path):
    X = np.random.default_rng(0).standard_normal((12, 3)).astype(np.float32)
    m = _Wrap()
    a = rs.capture(m, X, "block", tmp_path / "a.zarr", progress=False).read("block")
    b = rs.capture(m, X, "block", tmp_path / "b.zarr", output_index=1, progress=False).read("block")
    np.testing.assert_allclose(b, 2 * a, rtol=1e-6)


def test_dataloader_batches_labels_attributes(tmp_path, tiny_model, tiny_data):
    X, y = tiny_data
    ds = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    dl = torch.utils.data.DataLoader(ds, batch_size=9)
    s = rs.capture(tiny_model, dl, ["out"], tmp_path / "d.zarr", attributes={"parity": y % 2}, progress=False)
    np.testing.assert_array_equal(s.labels, y)
    np.testing.assert_array_equal(s.attributes["parity"], y % 2)
    ref = rs.capture(tiny_model, X, ["out"], tmp_path / "t.zarr", progress=False).read("out")
    np.testing.assert_allclose(s.read("out"), ref, rtol=1e-6, atol=1e-7)  # float32, other batching
    # string attributes and an iterable of plain batches (unknown length)
    names = np.array(["a", "bb", "ccc"])[y]
    s2 = rs.capture(tiny_model, (torch.from_numpy(X[i:i + 20]) for i in range(0, 70, 20)), ["out"],
                    tmp_path / "g.zarr", attributes={"name": names}, labels=y, progress=False)
    assert s2.n_samples == 70 and list(s2.attributes["name"][:3]) == list(names[:3])


def test_mismatched_labels_and_attributes_raise(tmp_path, tiny_model, tiny_data):
    X, y = tiny_data
    with pytest.raises(InputError, match="labels has 69 entries but the data has 70 samples"):
        rs.capture(tiny_model, X, ["out"], tmp_path / "a.zarr", labels=y[:-1], progress=False)
    with pytest.raises(InputError, match="attribute 'g' has 3 entries"):
        rs.capture(tiny_model, X, ["out"], tmp_path / "b.zarr", attributes={"g": [1, 2, 3]}, progress=False)
    with pytest.raises(InputError, match="must be 1-D"):
        rs.capture(tiny_model, X, ["out"], tmp_path / "c.zarr", labels=np.zeros((70, 2)), progress=False)
    with pytest.raises(InputError, match="labels has 71 entries but the data had 70"):
        gen = (torch.from_numpy(X[i:i + 20]) for i in range(0, 70, 20))
        rs.capture(tiny_model, gen, ["out"], tmp_path / "d.zarr", labels=np.arange(71), progress=False)


def test_hooks_removed_on_error_and_interrupt(tmp_path, tiny_model, tiny_data):
    X, _ = tiny_data

    class Boom(nn.Module):
        def __init__(self, inner, exc):
            super().__init__()
            self.inner, self.exc = inner, exc

        def forward(self, x):
            self.inner(x)
            raise self.exc

    for exc, expected in [(ValueError("bad shape"), rs.CaptureError), (KeyboardInterrupt(), KeyboardInterrupt)]:
        m = Boom(tiny_model, exc)
        with pytest.raises(expected):
            rs.capture(m, X, ["inner.fc"], tmp_path / f"{type(exc).__name__}.zarr", progress=False)
        assert _hooks_left(m) == 0
        part = rs.open_store(tmp_path / f"{type(exc).__name__}.zarr", allow_incomplete=True)
        assert part.n_samples == 0 and not part.complete
    rs.capture(tiny_model, X, ["fc"], tmp_path / "ok.zarr", progress=False)
    assert _hooks_left(tiny_model) == 0


def test_module_called_twice_is_refused(tmp_path):
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, x):
            return self.lin(self.lin(x))

    with pytest.raises(InputError, match="ran more than once"):
        rs.capture(Twice(), np.ones((4, 3), np.float32), "lin", tmp_path / "t.zarr", progress=False)


def test_bfloat16_model_is_stored_as_float32(tmp_path):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 3)).to(torch.bfloat16)
    X = torch.randn(10, 4, dtype=torch.bfloat16)
    s = rs.capture(m, X, "0", tmp_path / "b.zarr", progress=False)
    with torch.no_grad():
        ref = m(X).float().numpy()
    assert s.read("0").dtype == np.float32
    np.testing.assert_array_equal(s.read("0"), ref)


def test_shuffled_dataloader_cannot_resume(tmp_path, tiny_model, tiny_data):
    X, y = tiny_data
    ds = torch.utils.data.TensorDataset(torch.from_numpy(X))

    class Stop(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.n = inner, 0

        def forward(self, x):
            self.n += 1
            if self.n == 3:
                raise RuntimeError("stop")
            return self.inner(x)

    m = Stop(tiny_model)
    dl = torch.utils.data.DataLoader(ds, batch_size=16, shuffle=True)
    with pytest.raises(rs.CaptureError):
        rs.capture(m, dl, ["inner.out"], tmp_path / "s.zarr", chunk_rows=16, progress=False)
    with pytest.raises(InputError, match="shuffle=True"):
        rs.capture(m, dl, ["inner.out"], tmp_path / "s.zarr", chunk_rows=16, progress=False)


def test_bad_arguments(tmp_path, tiny_model, tiny_data):
    X, _ = tiny_data
    with pytest.raises(InputError, match="torch.nn.Module"):
        rs.capture(object(), X, ["fc"], tmp_path / "a.zarr")
    with pytest.raises(InputError, match="pool='avg'"):
        rs.capture(tiny_model, X, ["fc"], tmp_path / "a.zarr", pool="avg")
    with pytest.raises(InputError, match="dtype"):
        rs.capture(tiny_model, X, ["fc"], tmp_path / "a.zarr", dtype="int8")
    with pytest.raises(InputError, match="CUDA is not available"):
        if torch.cuda.is_available():
            raise InputError("CUDA is not available (skipped check on a GPU machine)")
        rs.capture(tiny_model, X, ["fc"], tmp_path / "a.zarr", device="cuda")


class _Masked(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.enc = nn.Linear(4, 3)

    def forward(self, input_ids, attention_mask):
        return self.enc(input_ids)


def test_token_pools_ignore_padding_with_attention_mask(tmp_path):
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((6, 5, 4)).astype(np.float32))
    lengths = torch.tensor([5, 3, 1, 4, 2, 5])
    mask = (torch.arange(5)[None, :] < lengths[:, None]).long()
    m = _Masked()
    with torch.no_grad():
        h = m.enc(x)
    want_mean = np.stack([h[i, : lengths[i]].mean(0).numpy() for i in range(6)])
    want_last = np.stack([h[i, lengths[i] - 1].numpy() for i in range(6)])
    batches = [{"input_ids": x[:3], "attention_mask": mask[:3]}, {"input_ids": x[3:], "attention_mask": mask[3:]}]
    s = rs.capture(m, batches, "enc", tmp_path / "m.zarr", pool="token_mean", progress=False)
    np.testing.assert_allclose(s.read("enc"), want_mean, rtol=1e-5, atol=1e-6)
    s = rs.capture(m, batches, "enc", tmp_path / "l.zarr", pool="last", progress=False)
    np.testing.assert_allclose(s.read("enc"), want_last, rtol=1e-6)


class _InPlaceAfter(nn.Module):
    """A Linear whose output a later in-place ReLU overwrites, and a sequence whose token 0 (a view) an
    in-place add changes after the hooked module returned it."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 6)
        self.act = nn.ReLU(inplace=True)
        self.seq = nn.Linear(6, 6)

    def forward(self, x):
        h = self.act(self.lin(x))
        s = self.seq(h[:, None, :].expand(-1, 3, -1).contiguous())
        s += 100.0
        return s.sum(1)


def test_later_in_place_ops_do_not_change_stored_rows(tmp_path):
    torch.manual_seed(0)
    m = _InPlaceAfter().eval()
    X = torch.randn(40, 4)
    for dtype in ("float32", "float16"):
        st = rs.capture(m, X, ["lin", "seq"], tmp_path / f"{dtype}.zarr", pool={"lin": "none", "seq": "cls"},
                        batch_size=16, dtype=dtype, progress=False)
        with torch.no_grad():
            lin = m.lin(X)
            cls = m.seq(torch.relu(lin)[:, None, :].expand(-1, 3, -1))[:, 0]
        assert (lin < 0).any()  # the in-place ReLU would have zeroed these
        np.testing.assert_array_equal(st.read("lin"), lin.to(getattr(torch, dtype)).numpy())
        np.testing.assert_array_equal(st.read("seq"), cls.to(getattr(torch, dtype)).numpy())
