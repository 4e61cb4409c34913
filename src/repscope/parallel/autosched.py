"""Serial or parallel? The runner's automatic choice, so that a scheduler never makes a job slower.

Called by :func:`repscope.parallel.runner._run` for the *local* parallel schedulers (``"processes"``,
``"local"``/``"local:N"``); a running cluster (``tcp://…``, a ``Client``, ``"dask"``) is the user's
explicit choice of remote resources and is always used.

The rule (measured, not guessed): the runner first runs **two tasks in this process** — one with all
BLAS threads, one with a single thread — and keeps the faster thread count for the rest if it stays
serial (on a busy 2-core machine two BLAS threads made 64×64 products 15× slower than one). For the
faster of the two it has the wall time w and the CPU time c it used (all threads). c / w is the
parallelism the task already has (BLAS threads): a task that keeps every core busy gains nothing from
more workers. Workers pay for themselves when

    start-up + shipping + T · (c/w) / min(W, cores)  <  T / 1.1,       T = w · (tasks left)

with start-up :data:`PROCESS_START_S` per process pool or :data:`DASK_START_S` per local cluster, and
shipping = bytes of the items / :data:`SHIP_BYTES_PER_S` per worker (items travel once per worker).
Otherwise the remaining tasks run serially in this process (``REPSCOPE_AUTO_SERIAL=0`` turns the rule off).
Measured on 2 cores: Dask ``local:2`` was 4.7× slower than serial on RBF CKA of 8 layers at
n = 1500 and 10× slower on a 6-layer n = 1200 job — both are run serially by this rule.
"""

from __future__ import annotations

import os
import time
from typing import Any

__all__ = ["worth_parallel", "probe", "local_workers", "AUTO_ENV"]

#: Set to "0" to always use the scheduler asked for.
AUTO_ENV = "REPSCOPE_AUTO_SERIAL"
#: Seconds to start a spawn-context process pool and import repscope in its workers (2-core machine).
PROCESS_START_S = 1.5
#: Seconds to start a local Dask cluster (scheduler + nanny-managed workers).
DASK_START_S = 3.0
#: Pickling + transfer rate of the items to one worker.
SHIP_BYTES_PER_S = 200e6
#: Required gain: parallel must be predicted at least this much faster.
MARGIN = 1.1


def local_workers(sched: Any, n_workers: int | None, cores: int) -> int | None:
    """Workers a local parallel scheduler would start (None: not a local scheduler — never overridden)."""
    if sched == "processes":
        return cores if n_workers in (None, 0, -1) else int(n_workers)
    if isinstance(sched, str) and (sched == "local" or sched.startswith("local:")):
        tail = sched.partition(":")[2]
        return int(tail) if tail.strip().isdigit() else cores
    return None


def item_bytes(items: list[Any]) -> int:
    """Bytes of the items' arrays (numpy arrays, or dicts/tuples of them); other objects count 0."""

    def size(x: Any) -> int:
        if hasattr(x, "nbytes"):
            return int(x.nbytes)
        if isinstance(x, dict):
            return sum(size(v) for v in x.values())
        if isinstance(x, list | tuple):
            return sum(size(v) for v in x)
        return 0

    return sum(size(x) for x in items)


def probe(fn: Any) -> tuple[Any, float, float]:
    """Run ``fn()`` here; (result, wall seconds, CPU seconds of this process)."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def worth_parallel(wall: float, cpu: float, n_left: int, workers: int, cores: int, ship_bytes: int,
                   dask: bool) -> tuple[bool, dict[str, float]]:
    """Whether ``workers`` local workers are predicted to beat running the ``n_left`` remaining tasks
    serially (see the module docstring); returns (decision, the numbers behind it)."""
    if os.environ.get(AUTO_ENV) == "0":
        return True, {}
    serial = wall * n_left
    used = max(1.0, min(float(cores), cpu / wall if wall > 0 else 1.0))  # threads the task already keeps busy
    eff = max(1, min(workers, cores))
    start = DASK_START_S if dask else PROCESS_START_S
    parallel = start + eff * ship_bytes / SHIP_BYTES_PER_S + serial * used / eff
    why = {"serial_s": serial, "parallel_s": parallel, "task_threads": used, "workers": float(eff)}
    return (cores > 1 and workers > 1 and parallel * MARGIN < serial), why
