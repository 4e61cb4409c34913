"""The runner's automatic serial/parallel choice (repscope.parallel.autosched): known answers of the cost
model, and a small job on a local parallel scheduler runs in this process."""

from __future__ import annotations

import os

import numpy as np

from repscope.parallel import autosched
from repscope.parallel.runner import map_items, map_pairs


def test_cost_model_known_answers(monkeypatch):
    monkeypatch.delenv(autosched.AUTO_ENV, raising=False)  # tests/scale switch the rule off by default
    # 100 tasks of 1 ms: 0.1 s of work never pays for a 1.5 s process pool
    assert not autosched.worth_parallel(1e-3, 1e-3, 100, 2, 2, 0, dask=False)[0]
    # 100 single-threaded tasks of 1 s on 4 cores: 100 s serial vs 1.5 + 25 s
    ok, why = autosched.worth_parallel(1.0, 1.0, 100, 4, 4, 0, dask=False)
    assert ok and why["parallel_s"] == autosched.PROCESS_START_S + 25.0
    # the task already keeps both cores busy (BLAS threads): workers cannot speed it up
    assert not autosched.worth_parallel(1.0, 2.0, 100, 2, 2, 0, dask=False)[0]
    # one core: never
    assert not autosched.worth_parallel(1.0, 1.0, 1000, 2, 1, 0, dask=True)[0]
    # shipping 4 GB to each of 2 workers costs more than it saves on 10 s of work
    assert not autosched.worth_parallel(1.0, 1.0, 10, 2, 2, 4 * 10**9, dask=True)[0]
    assert autosched.local_workers("local:3", None, 8) == 3 and autosched.local_workers("processes", None, 8) == 8
    assert autosched.local_workers("tcp://h:1", None, 8) is None  # a running cluster is always used
    assert autosched.item_bytes([np.zeros(10), {"a": np.zeros(5)}, "x"]) == 120


def _pid(_x, _y=None):
    return os.getpid()


def test_small_job_on_local_schedulers_runs_here(monkeypatch):
    monkeypatch.delenv(autosched.AUTO_ENV, raising=False)
    items = [np.arange(4.0) * k for k in range(6)]
    me = os.getpid()
    assert set(map_items(_pid, items, scheduler="processes", n_workers=2)) == {me}
    assert set(map_pairs(_pid, items, [(0, 1), (2, 3), (4, 5)], scheduler="local:2")) == {me}
