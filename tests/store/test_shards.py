"""Distributed capture: several writer processes fill disjoint row ranges (shards) of one store.

Four concurrent writer processes (one killed with SIGKILL mid-way, then re-run alone) give a store equal,
value for value, to a single-process capture of the same model and data, and `repscope verify` passes; an
incomplete sharded store names its missing shards; mixing shard counts, single writers, overwrite and
shuffled data is refused; the CLI's --shard on a file-defined model."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import repscope as rs
from repscope.errors import CaptureError, InputError, StoreError
from repscope.store.core import shard_rows

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))
from _capture_child import N, _Slow, build  # noqa: E402

LAYERS = ["inner.0", "inner.1", "inner.2"]


def _reference(path: pathlib.Path) -> rs.ActivationStore:
    model, X, y, ids, attrs = build({})
    return rs.capture(_Slow(model, 0.0), X, LAYERS, path, labels=y, ids=ids, attributes=attrs, batch_size=7,
                      chunk_rows=16, progress=False)


def _start(tmp_path: pathlib.Path, out: pathlib.Path, i: int, k: int, kill: str, go: pathlib.Path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(pathlib.Path(rs.__file__).parents[1]),
                                                         os.environ.get("PYTHONPATH", "")])}
    ready = tmp_path / f"ready-{i}-{time.monotonic_ns()}"
    proc = subprocess.Popen([sys.executable, str(HERE / "_shard_child.py"), str(out), str(i), str(k), kill,
                             str(ready), str(go)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    return proc, ready


def _run_together(tmp_path, out, specs: list[tuple[int, int, str]]) -> list[tuple[int, str]]:
    go = tmp_path / f"go-{time.monotonic_ns()}"
    procs = [_start(tmp_path, out, i, k, kill, go) for i, k, kill in specs]
    deadline = time.monotonic() + 240
    while not all(r.exists() for _, r in procs):  # every writer has imported torch and armed its kill point
        assert time.monotonic() < deadline and all(p.poll() is None for p, _ in procs), \
            [p.communicate()[1] for p, _ in procs if p.poll() is not None]
        time.sleep(0.05)
    go.write_text("go")  # all start at once: creation races included
    return [(p.wait(timeout=240), p.communicate()[1]) for p, _ in procs]


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    from repscope.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    got = capsys.readouterr()
    return code, got.out, got.err


def assert_equal_stores(a: rs.ActivationStore, b: rs.ActivationStore) -> None:
    assert a.complete and b.complete and a.n_samples == b.n_samples == N
    assert a.layers == b.layers == LAYERS
    for layer in a.layers:
        np.testing.assert_array_equal(a.read(layer), b.read(layer))
        assert a.layer_info(layer) | {"compression": None} == b.layer_info(layer) | {"compression": None}
        assert a.nonfinite(layer) == b.nonfinite(layer)
    np.testing.assert_array_equal(a.sample_ids, b.sample_ids)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.attributes.keys() == b.attributes.keys() == {"k", "tag"}
    for k in a.attributes:
        np.testing.assert_array_equal(a.attributes[k], b.attributes[k])


def test_shard_rows_are_whole_chunks_covering_every_row_once():
    for n, cr, k in [(150, 16, 4), (160, 16, 10), (1, 16, 1), (1000, 7, 3), (33, 16, 3)]:
        ranges = [shard_rows(n, cr, i, k) for i in range(k)]
        assert ranges[0][0] == 0 and ranges[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
        assert all(lo % cr == 0 and lo < hi for lo, hi in ranges)
        sizes = [-(-(hi - lo) // cr) for lo, hi in ranges]
        assert max(sizes) - min(sizes) <= 1  # chunks dealt out evenly
    assert [shard_rows(150, 16, i, 4) for i in range(4)] == [(0, 32), (32, 80), (80, 112), (112, 150)]


def test_four_concurrent_writers_one_killed_and_rerun_equal_a_single_process_capture(tmp_path, capsys):
    ref = _reference(tmp_path / "ref.zarr")
    out = tmp_path / "sharded.zarr"
    # shard 1 (rows 32–79, 3 chunks) dies with SIGKILL before its 4th commit: 1–2 chunks committed
    res = _run_together(tmp_path, out, [(0, 4, "none"), (1, 4, "commit:4"), (2, 4, "none"), (3, 4, "none")])
    assert [rc for rc, _ in res] == [0, -9, 0, 0], [err for _, err in res]
    with pytest.raises(StoreError, match=r"1 of 4 shards not committed — shard 1/4 \(rows 32–79: (16|32) "
                                         r"written\).*shard=\(i, 4\) \(--shard i/4\)"):
        rs.open_store(out)
    part = rs.open_store(out, allow_incomplete=True)
    assert part.n_samples in (48, 64)  # shard 0 + the committed chunks of shard 1: the complete prefix
    np.testing.assert_array_equal(part.read("inner.2"), ref.read("inner.2")[: part.n_samples])
    with pytest.raises(StoreError, match="written in 4 shards"):  # a single writer may not touch it
        _reference(out)
    # the killed shard alone, same command: it resumes from its own committed rows
    [(rc, err)] = _run_together(tmp_path, out, [(1, 4, "none")])
    assert rc == 0, err
    st = rs.open_store(out)
    assert_equal_stores(st, ref)
    assert st.metadata["shards"] == 4 and st.verify().ok
    code, out_text, _ = _cli(capsys, "verify", str(out))
    assert code == 0 and "no damage found" in out_text
    assert not list(out.glob(".repscope-writer*"))  # every shard released its lock
    # a re-run of any shard on the complete store changes nothing
    [(rc, err)] = _run_together(tmp_path, out, [(2, 4, "none")])
    assert rc == 0 and "shard 2/4 of store" in err and "already complete" in err, err
    assert_equal_stores(rs.open_store(out), ref)


def test_killed_creator_is_replaced_by_the_next_writer(tmp_path):
    """The first writer dies while creating the arrays (SIGKILL after the first one); the other three wait
    on the creation lock, one of them redoes the creation, and a re-run of the dead shard completes it."""
    ref = _reference(tmp_path / "ref.zarr")
    out = tmp_path / "s.zarr"
    [(rc, _)] = _run_together(tmp_path, out, [(2, 4, "create_array:2")])
    assert rc == -9
    res = _run_together(tmp_path, out, [(0, 4, "none"), (1, 4, "none"), (3, 4, "none")])
    assert [rc for rc, _ in res] == [0, 0, 0], [err for _, err in res]
    with pytest.raises(StoreError, match=r"shard 2/4 \(rows 80–111: 0 written\)"):
        rs.open_store(out)
    [(rc, err)] = _run_together(tmp_path, out, [(2, 4, "none")])
    assert rc == 0, err
    assert_equal_stores(rs.open_store(out), ref)


def _mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 9), torch.nn.ReLU(), torch.nn.Linear(9, 2))


def test_refusals_name_the_problem_and_the_fix(tmp_path, monkeypatch):
    X = np.random.default_rng(0).standard_normal((64, 5)).astype(np.float32)
    out = tmp_path / "a.zarr"
    kw = {"batch_size": 8, "chunk_rows": 16, "progress": False}
    monkeypatch.setattr(sys, "argv", ["/venv/bin/repscope", "capture", "--out", "a b.zarr", "--shard", "3/4"])
    st = rs.capture(_mlp(), X, ["0", "2"], out, shard=(3, 4), **kw)  # any shard may come first
    assert not st.complete and st.n_samples == 0
    with pytest.raises(StoreError, match="3 of 4 shards not committed — shard 0/4 .* shard 2/4 .* missing shard i "
                                         "to resume it, or open_store"):
        rs.open_store(out)  # shards 0-2 never ran: no command recorded for them
    monkeypatch.setattr(sys, "argv", ["/venv/lib/repscope/__main__.py", "capture", "--out", "a b.zarr",
                                      "--shard", "0/4"])
    with pytest.raises(CaptureError, match="boom"):
        rs.capture(_mlp(), X, ["0", "2"], out, shard=(0, 4), forward=lambda m, x: (_ for _ in ()).throw(
            RuntimeError("boom")), **kw)
    with pytest.raises(StoreError, match=r"shard 0/4 \(rows 0–15: 0 written, stopped with: CaptureError: .*boom.*"
                                         r"\(e\.g\. `repscope capture --out 'a b\.zarr' --shard 0/4`\)"):
        rs.open_store(out)
    with pytest.raises(StoreError, match="overwrite=True .* is refused with shard="):
        rs.capture(_mlp(), X, ["0", "2"], out, shard=(0, 4), overwrite=True, **kw)
    with pytest.raises(StoreError, match="shards differ"):
        rs.capture(_mlp(), X, ["0", "2"], out, shard=(0, 2), **kw)
    other = _mlp()
    with torch.no_grad():
        other[0].weight.add_(1.0)
    with pytest.raises(StoreError, match="model differ.*every shard must run the same capture"):
        rs.capture(other, X, ["0", "2"], out, shard=(0, 4), **kw)
    with pytest.raises(StoreError, match="written in 4 shards"):
        rs.capture(_mlp(), X, ["0", "2"], out, **kw)
    with pytest.raises(InputError, match="only 4 chunks of 16 rows, fewer than 5 shards"):
        rs.capture(_mlp(), X, ["0", "2"], tmp_path / "b.zarr", shard=(0, 5), **kw)
    with pytest.raises(InputError, match=r"0 ≤ i < k"):
        rs.capture(_mlp(), X, ["0", "2"], tmp_path / "c.zarr", shard=(4, 4), **kw)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(X)), batch_size=8,
                                         shuffle=True)
    with pytest.raises(InputError, match="shuffles"):
        rs.capture(_mlp(), loader, ["0", "2"], tmp_path / "d.zarr", shard=(0, 2), **kw)
    # a single-process store is not taken over by shards
    rs.capture(_mlp(), X, ["0", "2"], tmp_path / "e.zarr", **kw)
    with pytest.raises(StoreError, match="single capture process"):
        rs.capture(_mlp(), X, ["0", "2"], tmp_path / "e.zarr", shard=(0, 2), **kw)


def test_shards_through_a_dataloader_equal_one_process(tmp_path):
    """A DataLoader over a map-style Dataset (ids = Dataset indices), batch boundaries not on chunk ones."""
    X = torch.from_numpy(np.random.default_rng(1).standard_normal((70, 5)).astype(np.float32))
    y = torch.arange(70) % 3
    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=6)
    kw = {"batch_size": 6, "chunk_rows": 16, "progress": False, "pool": "none"}
    ref = rs.capture(_mlp(), dl, ["0", "1", "2"], tmp_path / "ref.zarr", **kw)
    out = tmp_path / "s.zarr"
    for i in (2, 0, 1):
        rs.capture(_mlp(), dl, ["0", "1", "2"], out, shard=(i, 3), **kw)
    st = rs.open_store(out)
    for layer in ref.layers:
        np.testing.assert_array_equal(st.read(layer), ref.read(layer))
    np.testing.assert_array_equal(st.sample_ids, ref.sample_ids)
    np.testing.assert_array_equal(st.labels, ref.labels)
    assert st.verify().ok


def test_cli_shard_option_on_a_file_defined_model(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text("import torch\n\ndef mlp():\n    torch.manual_seed(0)\n    return "
                                     "torch.nn.Sequential(torch.nn.Linear(5, 9), torch.nn.ReLU(), "
                                     "torch.nn.Linear(9, 2))\n")
    np.save("x.npy", np.random.default_rng(2).standard_normal((50, 5)).astype(np.float32))

    def cli(*args: str) -> tuple[int, str]:
        code, _, err = _cli(capsys, *args)
        return code, err

    common = ["--model", "net.py:mlp", "--data", "x.npy", "--layers", "0,2", "--chunk-rows", "8", "--batch-size",
              "5"]
    assert cli("capture", *common, "--out", "ref.zarr", "--quiet")[0] == 0
    code, err = cli("capture", *common, "--out", "s.zarr", "--shard", "1/2")
    assert code == 0 and "waiting for other shards" in err, err
    code, text, _ = _cli(capsys, "info", "s.zarr")
    assert code == 0 and "INCOMPLETE" in text
    assert "1 of 2 shards not committed — shard 0/2 (rows 0–23: 0 written)" in text
    code, err = cli("capture", *common, "--out", "s.zarr", "--shard", "0/2", "--quiet")
    assert code == 0, err
    assert cli("verify", "s.zarr")[0] == 0
    code, err = cli("capture", *common, "--out", "t.zarr", "--shard", "1-2")
    assert code == 2 and "write I/K" in err
    a, b = rs.open_store("s.zarr"), rs.open_store("ref.zarr")
    for layer in b.layers:
        np.testing.assert_array_equal(a.read(layer), b.read(layer))


def test_a_sharded_writer_used_directly_must_fix_its_rows_before_appending(tmp_path):
    """StoreWriter(shard=(i, k)) knows its rows only once set_chunk_rows has fixed the chunk size: an append
    before that is refused naming the call to make (it used to fail in the writer thread with "'NoneType'
    object is not iterable"); set_chunk_rows on a single writer is refused too. Then the shard writes exactly
    its rows."""
    from repscope.store import StoreWriter

    h = np.arange(32 * 3, dtype=np.float32).reshape(32, 3)
    w = StoreWriter(tmp_path / "s.zarr", fingerprint={"model": "toy"}, n_total=32, shard=(0, 2))
    with pytest.raises(InputError, match=r"set_chunk_rows\(writer.plan_chunk_rows"):
        w.append({"h": h[:8]}, ids=np.arange(8))
    w.set_chunk_rows(8)
    assert w.shard_range == (0, 16)  # shard 0 of 2 over 4 chunks of 8 rows
    for s in (0, 8):
        w.append({"h": h[s : s + 8]}, ids=np.arange(s, s + 8))
    w.finish()
    st = rs.open_store(tmp_path / "s.zarr", allow_incomplete=True)
    assert st.n_samples == 16 and "shard 1/2" in st.incomplete_reason
    np.testing.assert_array_equal(st.read("h"), h[:16])

    single = StoreWriter(tmp_path / "t.zarr", fingerprint={"model": "toy"}, n_total=32)
    with pytest.raises(InputError, match="sharded writer"):
        single.set_chunk_rows(8)
    single.close()
