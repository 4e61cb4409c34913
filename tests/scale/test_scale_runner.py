"""The pairwise runner on a real Dask LocalCluster equals the serial runner (layer, PH and DSA-like jobs),
survives a worker dying mid-job, never returns partial results, and cancels cleanly."""

from __future__ import annotations

import functools
import signal
import time

import _scale_jobs as jobs
import numpy as np
import pytest

import repscope as rs
from repscope.errors import InputError
from repscope.metrics import linear_cka, procrustes
from repscope.parallel import all_pairs, map_items, map_pairs, resolve_scheduler, use_scheduler


def _layers(seed=0, n=150):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, 6))
    return [np.tanh(base @ rng.standard_normal((6, d))) + 3.0 + 0.1 * rng.standard_normal((n, d))
            for d in (4, 9, 16, 25, 7)]


def test_layer_matrix_job_equals_serial(dask_client):
    items = _layers()
    pairs = all_pairs(len(items), diagonal=True)
    for func in (linear_cka, procrustes):
        serial = map_pairs(func, items, pairs)
        dask = map_pairs(func, items, pairs, scheduler=dask_client, batch_size=2)
        np.testing.assert_allclose(dask, serial, rtol=0, atol=1e-12)
    # symmetric closed form: CKA of a layer with itself is 1
    assert serial is not None and abs(map_pairs(linear_cka, items, [(1, 1)], scheduler=dask_client)[0] - 1) < 1e-12


def test_lens_layer_matrix_through_use_scheduler(dask_client):
    """A lens that calls the runner with its defaults goes to Dask inside use_scheduler."""
    arrays = {f"l{i}": a for i, a in enumerate(_layers(1, n=80))}
    serial = rs.metrics.layer_matrix(arrays, metric="rbf_cka").values
    with use_scheduler(dask_client) as client:
        assert client is dask_client
        assert resolve_scheduler(None, 1) is dask_client
        flags = map_items(jobs.in_worker_flag, [0, 1, 2])
        dask = rs.metrics.layer_matrix(arrays, metric="rbf_cka").values
    assert flags == ["1", "1", "1"]  # ran on the workers (thread-pinning plugin marks them)
    np.testing.assert_allclose(dask, serial, rtol=0, atol=1e-12)
    assert resolve_scheduler(None, 1) == "serial"


def test_persistence_matrix_job_equals_serial(dask_client):
    clouds = [jobs.circle_cloud(s) for s in range(6)]
    dg_serial = map_items(jobs.rips_diagram, clouds)
    dg_dask = map_items(jobs.rips_diagram, clouds, scheduler=dask_client)
    for a, b in zip(dg_serial, dg_dask):
        np.testing.assert_array_equal(a, b)
    assert all(len(d) >= 1 for d in dg_serial)  # every noisy circle has its H1 loop
    pairs = all_pairs(len(clouds))
    bn_serial = map_pairs(jobs.bottleneck, dg_serial, pairs)
    bn_dask = map_pairs(jobs.bottleneck, dg_dask, pairs, scheduler=dask_client)
    np.testing.assert_allclose(bn_dask, bn_serial, rtol=0, atol=1e-12)


def test_dsa_like_job_equals_serial(dask_client):
    trajs = [jobs.linear_system_trajectory(s) for s in range(5)]
    fit = functools.partial(jobs.fit_dmd, n_delays=3)
    ops_serial = map_items(fit, trajs)
    ops_dask = map_items(fit, trajs, scheduler=dask_client, batch_size=1)
    for a, b in zip(ops_serial, ops_dask):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    pairs = all_pairs(len(trajs), symmetric=False)
    d_serial = map_pairs(jobs.spectrum_distance, ops_serial, pairs)
    d_dask = map_pairs(jobs.spectrum_distance, ops_dask, pairs, scheduler=dask_client)
    np.testing.assert_allclose(d_dask, d_serial, rtol=0, atol=1e-12)
    # the distance is invariant to a similarity transform of the operator: A vs T A T⁻¹ → 0
    T = np.random.default_rng(0).standard_normal(ops_serial[0].shape)
    assert jobs.spectrum_distance(ops_serial[0], T @ ops_serial[0] @ np.linalg.inv(T)) < 1e-8


def test_address_string_and_env_var(dask_client, monkeypatch):
    addr = dask_client.scheduler.address
    assert addr.startswith("tcp://127.0.0.1:")
    items = _layers(2, n=60)
    pairs = all_pairs(len(items))
    serial = map_pairs(linear_cka, items, pairs)
    np.testing.assert_allclose(map_pairs(linear_cka, items, pairs, scheduler=addr), serial, atol=1e-12, rtol=0)
    monkeypatch.setenv("REPSCOPE_SCHEDULER", addr)
    assert resolve_scheduler(None, 1) == addr
    assert map_items(jobs.in_worker_flag, [0, 1]) == ["1", "1"]
    np.testing.assert_allclose(map_pairs(linear_cka, items, pairs), serial, atol=1e-12, rtol=0)
    monkeypatch.setenv("REPSCOPE_IN_WORKER", "1")  # nested calls inside a worker stay local
    assert resolve_scheduler(None, 1) == "serial"


def test_threads_pinned_per_worker(dask_client):
    from repscope.scale import cluster_info, configure_workers

    threads = configure_workers(dask_client, blas_threads=None)
    cores = rs.parallel.n_cores()
    assert set(threads.values()) == {max(1, cores // 2)}  # 2 workers × 1 thread on one host
    info = cluster_info(dask_client)
    assert info["n_workers"] == 2
    for w in info["workers"]:
        assert w["nthreads"] * w["blas_threads"] * 2 <= max(2, cores)
        assert w["repscope"] == rs.__version__


def test_failed_task_returns_nothing_and_cancels(dask_client):
    with pytest.raises(ValueError, match="item 7 is bad"):
        map_items(functools.partial(jobs.fail_on, bad=7), list(range(40)), scheduler=dask_client, batch_size=1)
    deadline = time.time() + 10
    while time.time() < deadline and any(str(k).startswith("repscope-") for k in dask_client.futures):
        time.sleep(0.1)
    assert not any(str(k).startswith("repscope-") for k in dask_client.futures)


def test_retries_rerun_a_task_that_raised(dask_client, tmp_path):
    func = functools.partial(jobs.fail_once, marker=str(tmp_path / "fail-once"))
    with pytest.raises(RuntimeError, match="transient"):
        map_items(func, [1.0, 2.0], scheduler=dask_client, batch_size=1)
    func = functools.partial(jobs.fail_once, marker=str(tmp_path / "fail-once-2"))
    assert map_items(func, [1.0, 2.0, 3.0], scheduler=dask_client, batch_size=1, retries=1) == [2.0, 4.0, 6.0]


def test_ctrl_c_cancels_outstanding_tasks(dask_client):
    def _interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, _interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            map_items(jobs.slow_square, list(range(40)), scheduler=dask_client, batch_size=1)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    deadline = time.time() + 10
    while time.time() < deadline and (
        any(str(k).startswith("repscope-") for k in dask_client.futures) or any(dask_client.processing().values())
    ):
        time.sleep(0.1)
    assert not any(str(k).startswith("repscope-") for k in dask_client.futures)
    assert not any(dask_client.processing().values())  # nothing left running on the workers


def test_worker_killed_mid_job_still_completes(dask_client, tmp_path):
    """One worker process dies (os._exit) while running a task; the scheduler re-runs its tasks on the
    surviving / restarted worker and the result equals the serial one."""
    marker = tmp_path / "killed"
    items = _layers(3, n=60)
    pairs = all_pairs(len(items), diagonal=True)
    func = functools.partial(jobs.die_once, marker=str(marker))
    serial = map_pairs(func, items, pairs)  # in this process: never dies
    assert not marker.exists()
    pids_before = set(dask_client.run(lambda: __import__("os").getpid()).values())
    dask = map_pairs(func, items, pairs, scheduler=dask_client, batch_size=1)
    assert marker.exists()  # a worker really died ...
    killed_pid = int(marker.read_text())
    assert killed_pid in pids_before
    np.testing.assert_allclose(dask, serial, rtol=0, atol=1e-12)  # ... and the job still completed
    dask_client.wait_for_workers(2, timeout=60)  # the nanny restarted it
    assert killed_pid not in set(dask_client.run(lambda: __import__("os").getpid()).values())


def test_local_n_scheduler_starts_and_stops_a_cluster():
    items = [np.arange(5.0) * k for k in range(4)]
    out = map_items(np.sum, items, scheduler="local:2")
    assert out == [float(np.sum(x)) for x in items]


def test_bad_scheduler_values():
    with pytest.raises(InputError, match="not understood"):
        map_items(abs, [1], scheduler="threads-please")
    with pytest.raises(InputError, match="local:"):
        map_items(abs, [1], scheduler="local:two")
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        with pytest.raises(InputError, match="cannot connect"):
            map_items(abs, [1], scheduler="tcp://127.0.0.1:9")
