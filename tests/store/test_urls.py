"""Stores on fsspec URLs: ``memory://`` (in-process) and ``file://`` through the API and the CLI — the same
values as a local store, checksums verified by every reader, resume, the writer lock as an object, shards."""

from __future__ import annotations

import json
import socket
import uuid
import warnings

import fsspec
import numpy as np
import pytest
import torch

import repscope as rs
from repscope.errors import CaptureError, StoreError
from repscope.store import StoreWriter, verify_store
from repscope.store.location import FsPath, as_location

KW = {"batch_size": 8, "chunk_rows": 16, "progress": False}
N = 60


def _mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 9), torch.nn.ReLU(), torch.nn.Linear(9, 2))


def _data():
    X = np.random.default_rng(0).standard_normal((N, 5)).astype(np.float32)
    return X, np.arange(N) % 3, {"tag": np.array(["a", "b"])[np.arange(N) % 2]}


def _url() -> str:
    return f"memory://repscope-tests/{uuid.uuid4().hex}/acts.zarr"


def _same(a: rs.ActivationStore, b: rs.ActivationStore) -> None:
    assert a.complete and a.n_samples == b.n_samples == N and a.layers == b.layers
    for layer in a.layers:
        np.testing.assert_array_equal(a.read(layer), b.read(layer))
    np.testing.assert_array_equal(a.sample_ids, b.sample_ids)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.attributes["tag"], b.attributes["tag"])


@pytest.fixture
def ref(tmp_path):
    X, y, attrs = _data()
    return rs.capture(_mlp(), X, ["0", "2"], tmp_path / "ref.zarr", labels=y, attributes=attrs, **KW)


def test_locations():
    assert as_location("file:///data/a.zarr") == as_location("/data/a.zarr")  # the local fast path
    loc = as_location("memory://bucket/a.zarr")
    assert isinstance(loc, FsPath) and str(loc) == "memory://bucket/a.zarr" and loc.name == "a.zarr"
    with pytest.raises(StoreError, match="names a local path"):
        as_location("file://otherhost/a.zarr")
    with pytest.raises(StoreError, match="no filesystem for 'nosuchproto://x'"):
        as_location("nosuchproto://x")


def test_memory_store_equals_local_and_every_reader_raises_on_damage(ref):
    X, y, attrs = _data()
    url = _url()
    st = rs.capture(_mlp(), X, ["0", "2"], url, labels=y, attributes=attrs, **KW)
    _same(st, ref)
    assert str(st.path) == url and st.has_checksums and verify_store(url).ok
    fs, root = fsspec.core.url_to_fs(url)
    assert not [p for p in fs.ls(root, detail=False) if ".repscope-" in p]  # the lock object is gone
    layer0 = f"{root}/layers/{st.layer_info('0')['key']}/c"
    # flip one byte of chunk 1 of layer "0" and of chunk 2 of the labels
    for key in (f"{layer0}/1/0", f"{root}/labels/c/2"):
        b = bytearray(fs.cat_file(key))
        b[len(b) // 2] ^= 0x10
        fs.pipe_file(key, bytes(b))
    s = rs.open_store(url)  # structure intact: opens
    damaged = r"layer '0', rows 16–31 \(chunk 1\): checksum mismatch"
    with pytest.raises(StoreError, match=damaged):
        s.read("0")
    with pytest.raises(StoreError, match=damaged):
        s.read("0", rows=[3, 20])
    with pytest.raises(StoreError, match=damaged):
        list(s.iter_rows("0"))
    with pytest.raises(StoreError, match=damaged):
        s.dask_array("0").compute(scheduler="sync")
    with pytest.raises(StoreError, match=r"labels, rows 32–47 \(chunk 2\): checksum mismatch"):
        s.labels  # noqa: B018
    np.testing.assert_array_equal(s.read("0", rows=slice(0, 16)), ref.read("0")[:16])  # the intact chunk
    res = verify_store(url)
    assert [(p["array"], p["chunk"]) for p in res.problems] == [("layer '0'", 1), ("labels", 2)]
    # truncated and missing chunks are refused when the store opens
    fs.pipe_file(f"{layer0}/2/0", b"\x00\x01")
    with pytest.raises(StoreError, match=r"rows 32–47 \(chunk 2\): chunk file truncated \(2 bytes\)"):
        rs.open_store(url)
    fs.rm_file(f"{layer0}/2/0")
    with pytest.raises(StoreError, match=r"rows 32–47 \(chunk 2\): chunk file missing"):
        rs.open_store(url)
    # the fix the message names: overwrite
    _same(rs.capture(_mlp(), X, ["0", "2"], url, labels=y, attributes=attrs, overwrite=True, **KW), ref)


def test_memory_store_resumes_after_a_failed_capture(ref):
    X, y, attrs = _data()
    url = _url()
    calls = {"n": 0}

    def flaky(model, x):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("device lost")
        return model(x)

    with pytest.raises(CaptureError, match="device lost"):
        rs.capture(_mlp(), X, ["0", "2"], url, labels=y, attributes=attrs, forward=flaky, **KW)
    with pytest.raises(StoreError, match=r"incomplete: 32 of 60 rows written \(capture stopped with"):
        rs.open_store(url)
    assert rs.open_store(url, allow_incomplete=True).n_samples == 32
    st = rs.capture(_mlp(), X, ["0", "2"], url, labels=y, attributes=attrs, forward=flaky, **KW)
    _same(st, ref)
    assert calls["n"] == 5 + 4  # resumed at row 32: batches 4…7 only


def test_memory_lock_object_one_writer_and_stale_locks(tmp_path):
    url = _url()
    w = StoreWriter(url, fingerprint={"a": 1}, n_total=4)
    with pytest.raises(StoreError, match=r"being written by another capture \(pid .*delete the lock object "
                                         r"'memory://.*/\.repscope-writer\.lock'"):
        StoreWriter(url, fingerprint={"a": 1}, n_total=4)
    w.close()
    StoreWriter(url, fingerprint={"a": 1}, n_total=4).close()  # released: a new writer gets it
    lock = as_location(url) / ".repscope-writer.lock"
    lock.write_text(json.dumps({"pid": 2**22 + 7, "host": socket.gethostname(), "started": "x"}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w2 = StoreWriter(url, fingerprint={"a": 1}, n_total=4)  # a dead pid on this host: taken over silently
    assert w2._lock.took_over["pid"] == 2**22 + 7
    w2.close()
    lock.write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "x"}))
    with pytest.raises(StoreError, match="pid 1 on host elsewhere.*delete the lock object"):
        StoreWriter(url, fingerprint={"a": 1}, n_total=4)


def test_memory_store_written_in_shards_equals_one_process(ref):
    X, y, attrs = _data()
    url = _url()
    for i in (1, 0, 3, 2):
        st = rs.capture(_mlp(), X, ["0", "2"], url, labels=y, attributes=attrs, shard=(i, 4), **KW)
        assert st.complete == (i == 2)
    _same(rs.open_store(url), ref)
    assert verify_store(url).ok


def test_four_concurrent_shard_writers_on_memory_equal_one_process(ref):
    """Four writer threads start together on one memory:// store: the creation lock object makes one of
    them the creator while the others poll, then all write their shards at once."""
    import threading

    X, y, attrs = _data()
    url = _url()
    models = [_mlp() for _ in range(4)]  # built here: the seeded construction uses the global RNG
    barrier, errors = threading.Barrier(4), []

    def run(i: int) -> None:
        try:
            barrier.wait()
            rs.capture(models[i], X, ["0", "2"], url, labels=y, attributes=attrs, shard=(i, 4), **KW)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    _same(rs.open_store(url), ref)
    assert verify_store(url).ok
    fs, root = fsspec.core.url_to_fs(url)
    assert not [p for p in fs.ls(root, detail=False) if ".repscope-" in p]  # every lock object removed


def test_memory_creation_lock_object_waits_and_stale_ones_are_taken_over(ref, monkeypatch):
    from repscope.store import integrity

    X, y, attrs = _data()
    url = _url()
    create = as_location(url) / ".repscope-create.lock"
    create.write_text(json.dumps({"pid": 2**22 + 7, "host": socket.gethostname(), "started": "x"}))
    rs.capture(_mlp(), X, ["0", "2"], url, labels=y, attributes=attrs, shard=(1, 2), **KW)  # dead pid: taken over
    assert not create.exists()  # released
    url2 = _url()
    create2 = as_location(url2) / ".repscope-create.lock"
    create2.write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "x"}))
    monkeypatch.setattr(integrity, "CREATE_WAIT_S", 0.3)
    with pytest.raises(StoreError, match=r"waited 0 s for another writer \(pid 1 on host elsewhere\) to create "
                                         r"its arrays; if it is no longer running, delete the lock object"):
        rs.capture(_mlp(), X, ["0", "2"], url2, shard=(0, 2), **KW)
    assert not (as_location(url2) / ".repscope-writer-shard-000.lock").exists()  # its own lock released
    rs.capture(_mlp(), X, ["0", "2"], url, labels=y, attributes=attrs, shard=(0, 2), **KW)
    _same(rs.open_store(url), ref)


def test_file_url_through_the_api_and_the_cli(tmp_path, monkeypatch, capsys, ref):
    from repscope.cli import main

    def cli(*args: str) -> tuple[int, str, str]:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        got = capsys.readouterr()
        return code, got.out, got.err

    X, y, attrs = _data()
    url = (tmp_path / "api.zarr").as_uri()
    st = rs.capture(_mlp(), X, ["0", "2"], url, labels=y, attributes=attrs, **KW)
    assert st.path == tmp_path / "api.zarr"  # a local path: the direct-write fast path
    _same(rs.open_store(url), ref)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text("import torch\n\ndef mlp():\n    torch.manual_seed(0)\n    return "
                                     "torch.nn.Sequential(torch.nn.Linear(5, 9), torch.nn.ReLU(), "
                                     "torch.nn.Linear(9, 2))\n")
    np.save("x.npy", X)
    out = (tmp_path / "cli.zarr").as_uri()
    code, _, err = cli("capture", "--model", "net.py:mlp", "--data", "x.npy", "--layers", "0,2", "--batch-size",
                       "8", "--chunk-rows", "16", "--out", out, "--quiet")
    assert code == 0, err
    np.testing.assert_array_equal(rs.open_store(tmp_path / "cli.zarr").read("2"), ref.read("2"))
    code, text, _ = cli("info", out, "--json")
    assert code == 0 and json.loads(text)["n_samples"] == N
    assert cli("verify", out)[0] == 0
    f = tmp_path / "cli.zarr" / "layers" / "L001" / "c" / "1" / "0"
    b = bytearray(f.read_bytes())
    b[-1] ^= 1  # the checksum itself
    f.write_bytes(bytes(b))
    code, _, err = cli("verify", out)
    assert code == 2 and "layer '2' rows 16–31 (chunk 1): checksum mismatch" in err
