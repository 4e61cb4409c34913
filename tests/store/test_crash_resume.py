"""kill -9 at chosen and random instants (creation included) → re-running the same capture gives exactly
the uninterrupted store; a resume with other weights, data or labels is refused; one writer at a time."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

import repscope as rs
from repscope.errors import StoreError
from repscope.store import StoreWriter

CHILD = pathlib.Path(__file__).with_name("_capture_child.py")

#: Every instant of store creation, plus mid-capture and just-before-complete ones.
KILL_POINTS = [
    "lock:1",  # lock taken, nothing else written
    "save_meta:1",  # zarr group exists without repscope metadata
    "commit:1",  # metadata written, no progress.json yet
    "create_array:1",  # first batch: before any array exists
    "create_array:3",  # some arrays created, metadata does not list them yet
    "save_meta:2",  # every array created, metadata without layers (ContainsArrayError before)
    "chunk:2",  # first chunk half-written, nothing committed
    "commit:3",  # 16 rows committed, second chunk being committed
    "finish:1",  # every row written, completion not recorded
]


def run_plan(tmp_path: pathlib.Path, plan: list[dict]) -> list[int]:
    f = tmp_path / f"plan{len(list(tmp_path.glob('plan*')))}.json"
    f.write_text(json.dumps(plan))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(pathlib.Path(rs.__file__).parents[1]),
                                                         os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, str(CHILD), str(f)], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return [r["status"] for r in json.loads(out.stdout.strip().splitlines()[-1])]


def assert_same_store(path: pathlib.Path, ref: pathlib.Path) -> None:
    a, b = rs.open_store(path), rs.open_store(ref)
    assert a.complete and a.n_samples == b.n_samples == 150
    assert a.layers == b.layers
    for layer in a.layers:
        np.testing.assert_array_equal(a.read(layer), b.read(layer))
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.sample_ids, b.sample_ids)
    np.testing.assert_array_equal(a.sample_ids, 1000 + 7 * np.arange(150))
    assert list(a.attributes) == list(b.attributes) == ["k", "tag"]
    for k in a.attributes:
        np.testing.assert_array_equal(a.attributes[k], b.attributes[k])
    assert a.verify().ok


def test_kill_9_at_every_creation_instant_and_mid_capture_then_resume_is_exact(tmp_path):
    ref = tmp_path / "ref.zarr"
    plan = [{"out": str(ref), "kill": "none"}]
    for i, point in enumerate(KILL_POINTS):
        plan.append({"out": str(tmp_path / f"k{i}.zarr"), "kill": point})
        plan.append({"out": str(tmp_path / f"k{i}.zarr"), "kill": "none"})  # the same command, re-run
    # two kills in a row on one store, then the resume
    plan += [{"out": str(tmp_path / "kk.zarr"), "kill": "commit:2"},
             {"out": str(tmp_path / "kk.zarr"), "kill": "chunk:5"},
             {"out": str(tmp_path / "kk.zarr"), "kill": "none"}]
    status = run_plan(tmp_path, plan)
    assert status[0] == 0
    assert status[1:-3:2] == [-9] * len(KILL_POINTS), "each kill point was reached"
    assert status[2:-3:2] == [0] * len(KILL_POINTS), "each re-run completed"
    assert status[-3:] == [-9, -9, 0]
    for i in range(len(KILL_POINTS)):
        assert_same_store(tmp_path / f"k{i}.zarr", ref)
    assert_same_store(tmp_path / "kk.zarr", ref)


def test_kill_9_at_random_instants_then_resume_is_exact(tmp_path):
    rng = np.random.default_rng(12)
    ref = tmp_path / "ref.zarr"
    plan = [{"out": str(ref), "kill": "none", "slow": True}]
    delays = rng.uniform(0.05, 0.6, size=3)
    for i, d in enumerate(delays):
        plan.append({"out": str(tmp_path / f"r{i}.zarr"), "kill": "none", "slow": True, "delay": float(d)})
        plan.append({"out": str(tmp_path / f"r{i}.zarr"), "kill": "none", "slow": True})
    status = run_plan(tmp_path, plan)
    assert status[0] == 0 and status[2::2] == [0, 0, 0]
    for i in range(3):
        assert_same_store(tmp_path / f"r{i}.zarr", ref)


def test_resume_with_other_weights_data_or_labels_is_refused(tmp_path):
    path = str(tmp_path / "s.zarr")
    plan = [{"out": path, "kill": "commit:3"},
            {"out": path, "kill": "none", "variant": {"weights_seed": 1}},
            {"out": path, "kill": "none", "variant": {"data_seed": 2}},
            {"out": path, "kill": "none", "variant": {"label_shift": 1}},
            {"out": path, "kill": "none"},
            {"out": path, "kill": "none", "variant": {"weights_seed": 1}},
            {"out": path, "kill": "none", "variant": {"weights_seed": 1}, "overwrite": True}]
    status = run_plan(tmp_path, plan)
    assert status == [-9, 2, 2, 2, 0, 2, 0]


def test_refusal_messages_name_what_changed_and_complete_store_says_so(tmp_path, tiny_model, tiny_data):
    X, y = tiny_data
    path = tmp_path / "s.zarr"
    rs.capture(tiny_model, X, ["fc"], path, labels=y, progress=False)
    with pytest.warns(UserWarning, match="already complete"):
        again = rs.capture(tiny_model, X, ["fc"], path, labels=y, progress=False)
    assert again.already_complete and again.n_samples == 70
    import torch

    other = type(tiny_model)()
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.0)
    with pytest.raises(StoreError, match=r"model differ.*weights changed.*overwrite"):
        rs.capture(other, X, ["fc"], path, labels=y, progress=False)
    X2 = X.copy()
    X2[0] += 1
    with pytest.raises(StoreError, match=r"data differ.*input data changed"):
        rs.capture(tiny_model, X2, ["fc"], path, labels=y, progress=False)
    with pytest.raises(StoreError, match=r"labels differ"):
        rs.capture(tiny_model, X, ["fc"], path, labels=(y + 1) % 3, progress=False)
    with pytest.raises(StoreError, match=r"attributes differ"):
        rs.capture(tiny_model, X, ["fc"], path, labels=y, attributes={"a": np.arange(70)}, progress=False)


# ------------------------------------------------------------------------------------------- locking


def _writer(path, **kw):
    return StoreWriter(path, fingerprint={"x": 1}, n_total=None, chunk_rows=4, **kw)


def test_second_writer_is_refused_with_pid_and_host(tmp_path):
    path = tmp_path / "s.zarr"
    w = _writer(path)
    with pytest.raises(StoreError, match=rf"being written by another capture \(pid {os.getpid()} on host"):
        _writer(path)
    w.abort("test")
    w2 = _writer(path)  # released: a new writer may proceed
    w2.close()


def test_stale_lock_of_a_dead_writer_is_taken_over(tmp_path):
    path = tmp_path / "s.zarr"
    status = run_plan(tmp_path, [{"out": str(path), "kill": "commit:3"}])
    assert status == [-9]
    holder = json.loads((path / ".repscope-writer.lock").read_text())
    assert holder["pid"] != os.getpid()  # the dead writer's record is still there
    model_plan = [{"out": str(path), "kill": "none"}]
    assert run_plan(tmp_path, model_plan) == [0]  # taken over and completed
    assert not (path / ".repscope-writer.lock").exists()
    # in-process: a lock file naming a dead pid does not block
    path2 = tmp_path / "t.zarr"
    path2.mkdir()
    (path2 / ".repscope-writer.lock").write_text(json.dumps({"pid": 2**22 + 7, "host": "h", "started": "x"}))
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        w = _writer(path2)
    assert any("took over the lock" in str(r.message) for r in rec)
    w.close()


def test_foreign_directory_is_never_written_or_deleted(tmp_path, tiny_model, tiny_data):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "thesis.tex").write_text("precious")
    for kw in ({}, {"overwrite": True}):
        with pytest.raises(StoreError, match="not a repscope store"):
            rs.capture(tiny_model, tiny_data[0], ["fc"], d, progress=False, **kw)
    assert sorted(p.name for p in d.iterdir()) == ["thesis.tex"]


# --------------------------------------------------------------------------------- concurrent appends


def test_concurrent_appends_keep_every_row_exactly_once(tmp_path):
    """8 threads append 25 batches each (sizes 1..9) into 5-row chunks while the writer thread commits:
    every row lands once, with its own activations, label and attribute (values derived from the id)."""
    path = tmp_path / "c.zarr"
    w = StoreWriter(path, fingerprint={"stress": 1}, n_total=None, chunk_rows=5)
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        rng = np.random.default_rng(t)
        try:
            for b in range(25):
                k = int(rng.integers(1, 10))
                ids = t * 100_000 + b * 10 + np.arange(k)
                acts = {"a": np.stack([ids, -ids, ids % 7], 1).astype(np.float32), "b": (ids % 13)[:, None] * 1.0}
                w.append(acts, ids=ids, labels=ids % 3, attributes={"t": np.full(k, t)})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    w.finish()
    st = rs.open_store(path)
    ids = st.sample_ids
    assert len(np.unique(ids)) == len(ids) == st.n_samples
    a = st.read("a")
    np.testing.assert_array_equal(a[:, 0], ids.astype(np.float32))
    np.testing.assert_array_equal(a[:, 1], -ids.astype(np.float32))
    np.testing.assert_array_equal(a[:, 2], ids % 7)
    np.testing.assert_array_equal(st.read("b")[:, 0], ids % 13)
    np.testing.assert_array_equal(st.labels, ids % 3)
    np.testing.assert_array_equal(st.attributes["t"], ids // 100_000)
    # each thread's batches are stored whole and in its own order
    for t in range(8):
        mine = ids[ids // 100_000 == t]
        assert np.all(np.diff(mine) > 0)
