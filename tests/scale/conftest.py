"""A real Dask LocalCluster on loopback (2 worker processes, 1 thread each), shared by a test module."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _always_use_the_scheduler_asked_for(monkeypatch):
    """These tests exercise the parallel back ends themselves: switch off the runner's automatic serial
    choice for small jobs (repscope.parallel.autosched)."""
    monkeypatch.setenv("REPSCOPE_AUTO_SERIAL", "0")


@pytest.fixture(scope="module")
def dask_client():
    import _scale_jobs
    import cloudpickle
    from distributed import Client, LocalCluster

    cloudpickle.register_pickle_by_value(_scale_jobs)  # the workers cannot import the tests folder
    cluster = LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, host="127.0.0.1",
        silence_logs=50,
    )
    client = Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
