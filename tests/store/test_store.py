"""ActivationStore / StoreWriter: round trip, row access, integrity, format checks, streaming memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import repscope as rs
from repscope.errors import InputError, StoreError
from repscope.store import FORMAT_VERSION, StoreWriter


def _direct(model, X, layer):
    """Reference: the layer's output computed without repscope's hooks machinery."""
    out = {}
    h = dict(model.named_modules())[layer].register_forward_hook(lambda m, i, o: out.setdefault("v", o))
    with torch.no_grad():
        model(torch.from_numpy(X))
    h.remove()
    return out["v"].reshape(len(X), -1).numpy()


def test_round_trip_equals_direct_forward(tmp_path, tiny_model, tiny_data):
    X, y = tiny_data
    store = rs.capture(tiny_model, X, ["conv", "fc", "out"], tmp_path / "s.zarr", labels=y, batch_size=16,
                       progress=False, chunk_rows=16)
    assert store.complete and store.n_samples == 70
    assert store.layers == ["conv", "fc", "out"]
    assert store.layer_shape("conv") == (4, 5, 5)
    for layer in store.layers:
        np.testing.assert_allclose(store.read(layer), _direct(tiny_model, X, layer), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(store.labels, y)
    np.testing.assert_array_equal(store.sample_ids, np.arange(70))


def test_row_access_and_chunked_iteration(tmp_path, tiny_model, tiny_data):
    X, y = tiny_data
    store = rs.capture(tiny_model, X, ["fc"], tmp_path / "s.zarr", progress=False, chunk_rows=16)
    full = store.read("fc")
    idx = np.array([5, 1, 5, 69, 0])
    np.testing.assert_array_equal(store.read("fc", rows=idx), full[idx])
    np.testing.assert_array_equal(store.read("fc", rows=slice(3, 40, 4)), full[3:40:4])
    mask = np.zeros(70, bool)
    mask[[2, 7]] = True
    np.testing.assert_array_equal(store.read("fc", rows=mask), full[mask])
    blocks = list(store.iter_rows("fc", block_rows=32))
    assert [s for s, _ in blocks] == [0, 32, 64]
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), full)
    with pytest.raises(InputError, match="out of range"):
        store.read("fc", rows=[70])


def test_unknown_layer_lists_close_matches(tmp_path, tiny_model, tiny_data):
    store = rs.capture(tiny_model, tiny_data[0], ["fc", "out"], tmp_path / "s.zarr", progress=False)
    with pytest.raises(InputError, match="Did you mean 'fc'"):
        store.read("fcc")


def test_not_a_store_newer_format_and_corrupt(tmp_path, tiny_model, tiny_data):
    with pytest.raises(StoreError, match="no activation store"):
        rs.open_store(tmp_path / "missing")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("hello")
    with pytest.raises(StoreError, match="not a repscope store"):
        rs.open_store(other)
    # capture refuses to write into it too, and refuses to delete it with overwrite
    with pytest.raises(StoreError, match="not a repscope store"):
        rs.capture(tiny_model, tiny_data[0], ["fc"], other, progress=False)
    with pytest.raises(StoreError, match="not a repscope store"):
        rs.capture(tiny_model, tiny_data[0], ["fc"], other, progress=False, overwrite=True)
    assert (other / "notes.txt").exists()

    import zarr

    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    with pytest.raises(StoreError, match="not a repscope activation store"):
        rs.open_store(tmp_path / "plain.zarr")

    path = tmp_path / "s.zarr"
    rs.capture(tiny_model, tiny_data[0], ["fc"], path, progress=False)
    meta = json.loads((path / "zarr.json").read_text())
    meta["attributes"]["repscope"]["format_version"] = FORMAT_VERSION + 1
    (path / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="upgrade repscope"):
        rs.open_store(path)
    (path / "zarr.json").write_text("{not json")
    with pytest.raises(StoreError, match="corrupt"):
        rs.open_store(path)


def test_resume_with_different_arguments_is_refused(tmp_path, tiny_model, tiny_data):
    path = tmp_path / "s.zarr"
    rs.capture(tiny_model, tiny_data[0], ["fc"], path, progress=False)
    with pytest.raises(StoreError, match="different arguments"):
        rs.capture(tiny_model, tiny_data[0], ["out"], path, progress=False)
    with pytest.raises(StoreError, match="already exists"):
        rs.capture(tiny_model, tiny_data[0], ["fc"], path, progress=False, resume=False)
    store = rs.capture(tiny_model, tiny_data[0], ["out"], path, progress=False, overwrite=True)
    assert store.layers == ["out"]


class _FailAfter(torch.nn.Module):
    """Wraps a model; raises on the k-th forward call (k=None: never)."""

    def __init__(self, inner, k):
        super().__init__()
        self.inner, self.k, self.calls = inner, k, 0

    def forward(self, x):
        self.calls += 1
        if self.k is not None and self.calls > self.k:
            raise RuntimeError("boom")
        return self.inner(x)


def test_failure_keeps_committed_prefix_and_resume_completes(tmp_path, tiny_model, tiny_data):
    X, y = tiny_data
    path = tmp_path / "s.zarr"
    failing = _FailAfter(tiny_model, 3)  # batches of 10, chunks of 16 → 30 rows seen, 16 committed
    with pytest.raises(rs.CaptureError, match="forward pass on batch 3"):
        rs.capture(failing, X, ["inner.fc"], path, labels=y, batch_size=10, chunk_rows=16, progress=False)
    assert not failing.inner.fc._forward_hooks  # hooks removed
    with pytest.raises(StoreError, match="incomplete: 16 of 70 rows"):
        rs.open_store(path)
    part = rs.open_store(path, allow_incomplete=True)
    assert part.n_samples == 16 and not part.complete
    ref = _direct(tiny_model, X, "fc")
    np.testing.assert_allclose(part.read("inner.fc"), ref[:16], rtol=1e-6, atol=1e-7)

    failing.k = None
    failing.calls = 0
    store = rs.capture(failing, X, ["inner.fc"], path, labels=y, batch_size=10, chunk_rows=16, progress=False)
    assert store.complete and store.n_samples == 70
    assert failing.calls == 6  # rows 0..15 were skipped: batches starting at 10, 20, ..., 60
    np.testing.assert_allclose(store.read("inner.fc"), ref, rtol=1e-6, atol=1e-7)  # float32, other batching
    np.testing.assert_array_equal(store.sample_ids, np.arange(70))
    np.testing.assert_array_equal(store.labels, y)


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time, numpy as np, torch
    import repscope as rs
    torch.manual_seed(0)
    class Slow(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(8, 5)
        def forward(self, x):
            if SLOW:
                time.sleep(0.05)
            return self.fc(x)
    SLOW = sys.argv[2] == "slow"
    X = np.random.default_rng(1).standard_normal((400, 8)).astype(np.float32)
    m = Slow()
    s = rs.capture(m, X, ["fc"], sys.argv[1], batch_size=7, chunk_rows=16, progress=False,
                   attributes={"k": np.arange(400) % 3})
    np.save(sys.argv[1] + ".ref.npy", m.fc(torch.from_numpy(X)).detach().numpy())
    """
)


def test_kill_9_then_resume_has_no_lost_or_duplicated_rows(tmp_path):
    script = tmp_path / "cap.py"
    script.write_text(KILL_SCRIPT)
    path = tmp_path / "k.zarr"
    proc = subprocess.Popen([sys.executable, str(script), str(path), "slow"])
    import time

    deadline = time.time() + 60
    committed = 0
    while time.time() < deadline:
        try:
            committed = json.loads((path / "progress.json").read_text())["committed"]
        except (OSError, ValueError, KeyError):
            committed = 0
        if committed >= 48:
            break
        time.sleep(0.02)
    proc.kill()  # SIGKILL: no cleanup runs
    proc.wait()
    assert 48 <= committed < 400
    part = rs.open_store(path, allow_incomplete=True)
    assert part.n_samples % 16 == 0
    subprocess.run([sys.executable, str(script), str(path), "fast"], check=True)
    store = rs.open_store(path)
    ref = np.load(str(path) + ".ref.npy")
    assert store.n_samples == 400
    np.testing.assert_allclose(store.read("fc"), ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(store.sample_ids, np.arange(400))
    np.testing.assert_array_equal(store.attributes["k"], np.arange(400) % 3)


def test_nonfinite_activations_are_stored_flagged_and_refused(tmp_path):
    class NaNLinear(torch.nn.Linear):  # the NaNs are part of the module's own output
        def forward(self, x):
            y = super().forward(x)
            y[::5, 0] = float("nan")
            return y

    class NaNy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = NaNLinear(3, 2)

        def forward(self, x):
            return self.fc(x)

    X = np.ones((20, 3), np.float32)
    store = rs.capture(NaNy(), X, ["fc"], tmp_path / "n.zarr", progress=False)
    assert store.nonfinite("fc") == 4
    assert np.isnan(store.read("fc")[::5, 0]).all()
    with pytest.raises(InputError, match="NaN/Inf"):
        store.read("fc", nonfinite="raise")
    assert store.finite_rows("fc").sum() == 16
    from repscope.store.summary import CaptureSummary

    assert "NaN/Inf" in CaptureSummary.from_store(store).summary()


def test_float16_storage_and_chunk_alignment(tmp_path, tiny_model, tiny_data):
    store = rs.capture(tiny_model, tiny_data[0], ["conv"], tmp_path / "h.zarr", dtype="float16",
                       progress=False, chunk_rows=32)
    arr = store.read("conv")
    assert arr.dtype == np.float16
    np.testing.assert_allclose(arr, _direct(tiny_model, tiny_data[0], "conv"), rtol=2e-3, atol=2e-3)
    import zarr

    z = zarr.open_group(str(store.path), mode="r")["layers"]["L000"]
    assert z.chunks == (32, 100)


STREAM_SCRIPT = textwrap.dedent(
    """
    import resource, sys, numpy as np
    import repscope as rs
    store = rs.open_store(sys.argv[1])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    total = 0.0
    for _, block in store.iter_rows("x"):
        total += float(block.sum(dtype=np.float64))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) / 1024.0, total)
    """
)


def test_streaming_reads_keep_memory_flat(tmp_path):
    """A 256 MiB layer is streamed with < 64 MiB of peak-RSS growth (one chunk at a time)."""
    path = tmp_path / "big.zarr"
    w = StoreWriter(path, fingerprint={"t": 1}, n_total=32768, dtype="float32", chunk_rows=1024)
    rng = np.random.default_rng(0)
    expected = 0.0
    for s in range(0, 32768, 2048):
        block = rng.standard_normal((2048, 2048), dtype=np.float32)
        expected += float(block.sum(dtype=np.float64))
        w.append({"x": block}, ids=np.arange(s, s + 2048))
    w.finish()
    script = tmp_path / "stream.py"
    script.write_text(STREAM_SCRIPT)
    out = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, check=True)
    growth_mib, total = map(float, out.stdout.split())
    assert total == pytest.approx(expected, rel=1e-9)
    assert growth_mib < 64, f"RSS grew by {growth_mib:.0f} MiB while streaming a 256 MiB layer"


@pytest.mark.parametrize("compression", ["lz4", "zstd", "none"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_direct_chunk_writes_are_the_bytes_zarr_writes(tmp_path, compression, dtype):
    """Layer chunks are written without zarr's write path; every chunk file (the padded last one too) must
    be byte-identical to the one zarr writes for the same rows, and read back equal."""
    import zarr

    from repscope.store import core

    rng = np.random.default_rng(0)
    x = rng.standard_normal((45, 9)).astype(dtype)
    x[3, 4], x[20, 0], x[44, 8] = np.nan, np.inf, -np.inf
    w = StoreWriter(tmp_path / "d.zarr", fingerprint={"t": 1}, n_total=45, chunk_rows=16, dtype=dtype,
                    compression=compression)
    for s in range(0, 45, 10):
        w.append({"a": x[s : s + 10]}, ids=np.arange(s, min(s + 10, 45)))
    w.finish()
    ref = zarr.open_group(str(tmp_path / "ref.zarr"), mode="a").create_array(
        "a", shape=(45, 9), chunks=(16, 9), dtype=dtype, fill_value=0, compressors=core._compressors(compression),
        config=core._ALWAYS_WRITE)
    ref[:] = x
    for i in range(3):
        ours = (tmp_path / f"d.zarr/layers/L000/c/{i}/0").read_bytes()
        assert ours == (tmp_path / f"ref.zarr/a/c/{i}/0").read_bytes()
    st = rs.open_store(tmp_path / "d.zarr")
    np.testing.assert_array_equal(st.read("a"), x)
    assert st.nonfinite("a") == 3 and st.layer_info("a")["compression"] == compression
    assert st.verify().ok and not list((tmp_path / "d.zarr").rglob("*.partial"))


def test_auto_compression_keeps_lz4_only_where_it_pays(tmp_path):
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((64, 300)).astype(np.float32)  # random mantissas: lz4 saves ~nothing
    sparse = np.where(rng.random((64, 300)) < 0.9, 0, dense).astype(np.float32)  # 90 % exact zeros
    w = StoreWriter(tmp_path / "a.zarr", fingerprint={"t": 1}, n_total=64, chunk_rows=16)
    w.append({"dense": dense, "sparse": sparse}, ids=np.arange(64))
    w.finish()
    st = rs.open_store(tmp_path / "a.zarr")
    assert st.layer_info("dense")["compression"] == "none"
    assert st.layer_info("sparse")["compression"] == "lz4"
    np.testing.assert_array_equal(st.read("dense"), dense)
    np.testing.assert_array_equal(st.read("sparse"), sparse)
    with pytest.raises(InputError, match="compression='gzip'"):
        StoreWriter(tmp_path / "b.zarr", fingerprint={"t": 1}, compression="gzip")
