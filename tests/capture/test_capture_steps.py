"""The four steps of capture, each alone: plan_capture (checks, nothing written), open_capture (new, resume,
refused resume), run_capture (rows = a manual forward pass), commit_capture (a verified store; without it
the store stays resumable). Models: a file-defined MLP (loaded as ``--model file.py:make`` is) and a GRU."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import repscope as rs
from repscope.capture.core import (
    CapturePlan,
    CaptureRun,
    commit_capture,
    open_capture,
    plan_capture,
    run_capture,
)
from repscope.capture.fingerprint import model_fingerprint
from repscope.capture.loading import load_model_spec
from repscope.errors import CaptureError, InputError, StoreError

MLP_FILE = """
import torch
from torch import nn


def make(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
"""


@pytest.fixture
def mlp(tmp_path):
    f = tmp_path / "mlp.py"
    f.write_text(MLP_FILE)
    return load_model_spec(f"{f}:make")


@pytest.fixture
def X():
    return np.random.default_rng(3).standard_normal((40, 5)).astype(np.float32)


def _hooks_left(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


# ------------------------------------------------------------------------------------------- plan


def test_plan_resolves_everything_and_writes_nothing(tmp_path, mlp, X):
    out = tmp_path / "never.zarr"
    y = np.arange(40) % 3
    p = plan_capture(mlp, X, ["0", "*"], out, pool="none", point={"1": "pre"}, batch_size=16, labels=y,
                     attributes={"k": np.arange(40) * 2}, ids=1000 + np.arange(40), chunk_rows=8)
    assert isinstance(p, CapturePlan)
    assert p.layers == ("0", "1", "2")  # module order; "*" matched every direct child
    assert p.optional == frozenset({"1", "2"})  # chosen by the pattern only
    assert p.pools == {"0": "none", "1": "none", "2": "none"}
    assert p.points == {"0": "post", "1": "pre", "2": "post"}
    assert (p.batch_size, p.dtype, p.n_total, p.torch_dtype, p.device) == (16, "float32", 40, torch.float32, None)
    np.testing.assert_array_equal(p.labels, y)
    np.testing.assert_array_equal(p.ids, 1000 + np.arange(40))
    np.testing.assert_array_equal(p.attributes["k"], np.arange(40) * 2)
    assert p.fingerprint["model"] == model_fingerprint(mlp)
    assert p.fingerprint["layers"] == ["0", "1", "2"] and p.fingerprint["chunk_rows"] == 8
    assert p.provenance["capture"]["batch_size"] == 16
    assert not out.exists()
    # the fingerprint follows the weights and the data, and only them
    with torch.no_grad():
        mlp[0].bias[0] += 1
    q = plan_capture(mlp, X, ["0", "*"], out, point={"1": "pre"}, batch_size=16, labels=y,
                     attributes={"k": np.arange(40) * 2}, ids=1000 + np.arange(40), chunk_rows=8)
    assert q.fingerprint["model"] != p.fingerprint["model"] and q.fingerprint["data"] == p.fingerprint["data"]
    assert not out.exists()


@pytest.mark.parametrize("kwargs, match", [
    ({"dtype": "int8"}, "dtype='int8': choose 'float32' or 'float16'"),
    ({"batch_size": 0}, "batch_size must be ≥ 1"),
    ({"layers": ["3"]}, "unknown layer '3'"),
    ({"pool": "avg"}, "pool='avg'"),
    ({"point": "middle"}, "point='middle'"),
    ({"labels": np.zeros(39)}, "labels has 39 entries but the data has 40 samples; pass one per sample"),
    ({"ids": np.zeros(40)}, "ids must be unique"),
    ({"ids": np.arange(40) + 0.5}, "ids must be integers"),
    ({"attributes": {"g": np.zeros((40, 2))}}, "attribute 'g' must be 1-D"),
    ({"data": np.zeros((0, 5), np.float32)}, "data has no samples"),
    ({"data": 7}, "data of type int is not a tensor"),
    ({"model": "mlp"}, "model must be a torch.nn.Module"),
])
def test_plan_refuses_bad_input_before_writing(tmp_path, mlp, X, kwargs, match):
    out = tmp_path / "never.zarr"
    args = {"model": mlp, "data": X, "layers": ["0", "2"], **kwargs}
    with pytest.raises(InputError, match=match):
        plan_capture(args.pop("model"), args.pop("data"), args.pop("layers"), out, **args)
    assert not out.exists()


def test_plan_refuses_a_shard_of_shuffled_data(tmp_path, mlp, X):
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(X)), batch_size=8,
                                         shuffle=True)
    with pytest.raises(InputError, match=r"shard=\(0, 2\) needs the same sample order .* turn shuffling off"):
        plan_capture(mlp, loader, ["0"], tmp_path / "s.zarr", shard=(0, 2))
    assert not (tmp_path / "s.zarr").exists()


# ------------------------------------------------------------------------------------------- open


def _uncommitted(p: CapturePlan) -> CaptureRun:
    """Run ``p`` without the commit step (the writer aborted, as a stopped capture leaves it): its whole chunks
    are committed, the last partial chunk is not, and the store is not complete."""
    w = open_capture(p)
    run = run_capture(p, w, progress=False)
    w.abort("stopped by the test before the commit")
    return run


def test_open_new_resume_and_refused_resume(tmp_path, mlp, X):
    out = tmp_path / "s.zarr"
    p = plan_capture(mlp, X, ["0", "2"], out, batch_size=12, chunk_rows=16)
    w = open_capture(p)
    assert (w.committed, w.complete, w.resumed_rows) == (0, False, 0)
    w.close()

    _uncommitted(p)
    w = open_capture(p)  # same plan: resumes from the committed rows (2 whole chunks of 16)
    assert w.committed == w.resumed_rows == 32 and not w.complete
    w.close()
    with pytest.raises(StoreError, match=r"already exists; pass resume=True .* overwrite=True"):
        open_capture(p, resume=False)

    other = copy.deepcopy(mlp)
    with torch.no_grad():
        other[0].weight.mul_(2)
    q = plan_capture(other, X, ["0", "2"], out, batch_size=12, chunk_rows=16)
    with pytest.raises(StoreError, match=r"model differ.*weights changed.*overwrite=True"):
        open_capture(q)
    w = open_capture(q, overwrite=True)  # the fix the message names
    assert w.committed == 0
    w.close()


# -------------------------------------------------------------------------------------------- run


@pytest.fixture
def seqs():
    return np.random.default_rng(4).standard_normal((30, 6, 3)).astype(np.float32)


def _gru_plan(gru_net, seqs, out, **kw) -> CapturePlan:
    """GRU layers three ways: the input projection averaged over time, the GRU's whole output sequence, and
    the read-out's input (its last state, a pre-hook)."""
    return plan_capture(gru_net, seqs, ["inp", "gru", "out"], out, pool={"inp": "mean", "gru": "none"},
                        point={"out": "pre"}, batch_size=8, chunk_rows=16, labels=np.arange(30) % 2, **kw)


def _gru_reference(gru_net, seqs) -> dict[str, np.ndarray]:
    with torch.no_grad():
        inp = gru_net.inp(torch.from_numpy(seqs))
        seq, _ = gru_net.gru(inp)
    return {"inp": inp.mean(1).numpy(), "gru": seq.reshape(len(seqs), -1).numpy(), "out": seq[:, -1].numpy()}


def test_run_appends_the_rows_of_a_manual_forward_pass(tmp_path, gru_net, seqs):
    out = tmp_path / "g.zarr"
    p = _gru_plan(gru_net, seqs, out)
    gru_net.train()  # run_capture evaluates in eval() mode and gives the model its mode back
    w = open_capture(p)
    run = run_capture(p, w, progress=False)
    assert run == CaptureRun(resumed_from=0, rows=30, batches=4, layers=("inp", "gru", "out"))
    assert gru_net.training and _hooks_left(gru_net) == 0
    assert not w.complete  # run does not commit
    st = commit_capture(p, w)
    ref = _gru_reference(gru_net, seqs)
    assert st.layers == ["inp", "gru", "out"]
    for layer, want in ref.items():
        assert st.read(layer).shape == want.shape
        np.testing.assert_allclose(st.read(layer), want, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(st.labels, np.arange(30) % 2)
    np.testing.assert_array_equal(st.sample_ids, np.arange(30))


class _FailAt(torch.nn.Module):
    """Runs ``inner``; raises ``exc`` on forward pass number ``at`` (0-based)."""

    def __init__(self, inner: torch.nn.Module, at: int, exc: BaseException) -> None:
        super().__init__()
        self.inner, self.at, self.exc, self.calls = inner, at, exc, 0

    def forward(self, x):
        self.calls += 1
        if self.calls == self.at + 1:
            raise self.exc
        return self.inner(x)


def test_run_errors_abort_the_writer_and_name_the_batch(tmp_path, gru_net, seqs):
    out = tmp_path / "e.zarr"
    m = _FailAt(gru_net, 1, ValueError("bad batch"))
    p = plan_capture(m, seqs, ["inner.gru"], out, batch_size=8, chunk_rows=8)
    w = open_capture(p)
    with pytest.raises(CaptureError, match=r"on batch 1 \(samples 8–15\): ValueError: bad batch\. Hooks were "
                                           r"removed; the store keeps \d+ complete rows .* re-run to resume"):
        run_capture(p, w, progress=False)
    assert _hooks_left(m) == 0
    part = rs.open_store(out, allow_incomplete=True)  # the abort committed batch 0's whole chunk of 8
    assert (part.n_samples, part.complete) == (8, False)
    # Ctrl-C: CaptureInterrupted (exit code 130) saying where it stopped; the writer released the store
    m = _FailAt(gru_net, 3, KeyboardInterrupt())
    p = plan_capture(m, seqs, ["inner.gru"], tmp_path / "i.zarr", batch_size=8, chunk_rows=8)
    with pytest.raises(rs.capture.core.CaptureInterrupted, match=r"interrupted at 24 of 30 rows; re-run") as exc:
        run_capture(p, open_capture(p), progress=False)
    assert exc.value.exit_code == 130 and _hooks_left(m) == 0
    w = open_capture(p)  # the lock was released; the next run resumes after the 3 committed chunks
    assert w.committed == 24
    w.close()


# ----------------------------------------------------------------------------------------- commit


def test_commit_gives_a_verified_store_and_without_it_the_store_resumes(tmp_path, gru_net, seqs):
    ref = _gru_reference(gru_net, seqs)
    whole = _gru_plan(gru_net, seqs, tmp_path / "whole.zarr")
    w = open_capture(whole)
    run_capture(whole, w, progress=False)
    st = commit_capture(whole, w)
    check = st.verify()
    assert st.complete and check.ok and check.complete and check.checksums and check.chunks_checked > 0

    out = tmp_path / "resumed.zarr"
    p = _gru_plan(gru_net, seqs, out)
    assert _uncommitted(p) == CaptureRun(resumed_from=0, rows=30, batches=4, layers=("inp", "gru", "out"))
    with pytest.raises(StoreError, match="incomplete"):
        rs.open_store(out)
    assert rs.open_store(out, allow_incomplete=True).n_samples == 16  # the one whole chunk of 16
    w = open_capture(p)
    # resumes at the batch holding row 16 (rows 16–23, then 24–29): the same batches as an uninterrupted run
    assert run_capture(p, w, progress=False) == CaptureRun(resumed_from=16, rows=14, batches=2,
                                                           layers=("inp", "gru", "out"))
    resumed = commit_capture(p, w)
    assert resumed.complete and resumed.verify().ok
    for layer, want in ref.items():
        np.testing.assert_array_equal(resumed.read(layer), st.read(layer))
        np.testing.assert_allclose(resumed.read(layer), want, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(resumed.labels, st.labels)

    # committing again: the writer finds the store complete and commit returns it as is
    w = open_capture(p)
    assert w.complete
    with pytest.warns(UserWarning, match="already complete .* pass overwrite=True"):
        again = commit_capture(p, w)
    assert again.already_complete and again.n_samples == 30
