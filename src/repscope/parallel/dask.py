"""The Dask back end: cluster and client management (one parser for every ``scheduler=`` value) and the
runner's task submission.

Accepted ``scheduler`` values (:func:`repscope.parallel.map_items` / :func:`~repscope.parallel.map_pairs`
and the streamed statistics in :mod:`repscope.scale.linear`):

``None`` / ``"serial"``
    In this process, one task after the other.
``"processes"``
    A local process pool (``concurrent.futures``), ``n_workers`` processes.
``"local"`` / ``"local:N"``
    A ``dask.distributed.LocalCluster`` on loopback with N worker processes (default: one per core), one
    task thread each; started for the call and closed after it. Use :func:`local_cluster` or
    :func:`repscope.parallel.use_scheduler` to keep one cluster up across several calls.
``"tcp://host:port"`` (any ``"proto://..."`` address)
    Connect to a running ``dask scheduler`` (see ``docs/scale-out.md``); the cluster stays up afterwards.
``"dask"``
    The current default ``dask.distributed.Client`` of this process (``distributed.get_client()``).
a ``dask.distributed.Client``
    Used as is (never closed by repscope).

Every client repscope uses gets a worker plugin (:func:`configure_workers`) that pins BLAS/OpenMP/torch
threads on each worker so that, per host, worker processes × task threads × BLAS threads ≤ cores —
oversubscribed BLAS made the same job several times slower on a 2-core machine.
"""

from __future__ import annotations

import contextlib
import math
import re
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from repscope.errors import InputError
from repscope.parallel.progress import progress_bar
from repscope.parallel.threads import IN_WORKER_ENV, THREAD_ENV_VARS, n_cores, pin_threads

__all__ = [
    "run_dask",
    "is_client",
    "is_dask_scheduler",
    "client_for",
    "local_cluster",
    "configure_workers",
    "cluster_info",
    "THREAD_ENV_VARS",
    "IN_WORKER_ENV",
]

_PLUGIN_NAME = "repscope-threads"


def is_client(obj: Any) -> bool:
    """True for a ``dask.distributed.Client``."""
    from distributed import Client

    return isinstance(obj, Client)


def is_dask_scheduler(scheduler: Any) -> bool:
    """True when ``scheduler`` names a Dask cluster (a client, ``"dask"``, ``"local[:N]"`` or an address)."""
    if is_client(scheduler):
        return True
    if not isinstance(scheduler, str):
        return False
    s = scheduler.strip()
    return s == "dask" or s == "local" or s.startswith("local:") or "://" in s


def _parse_local(spec: str, n_workers: int | None) -> int:
    if spec == "local":
        n = n_workers
    else:
        tail = spec.split(":", 1)[1]
        try:
            n = int(tail)
        except ValueError:
            raise InputError(
                f"scheduler={spec!r}: the worker count after 'local:' must be an integer, e.g. 'local:2'"
            ) from None
    if n in (None, 0, -1):
        n = n_cores()
    if n < 1:
        raise InputError(f"scheduler={spec!r}: need at least one worker, e.g. 'local:2'")
    return int(n)


def local_cluster(
    n_workers: int | None = None,
    *,
    threads_per_worker: int = 1,
    memory_limit: str | float | int | None = "auto",
    host: str = "127.0.0.1",
    dashboard_address: str | None = ":0",
    silence_logs: int | bool = 40,
    **kwargs: Any,
) -> Any:
    """Start a ``LocalCluster`` of worker *processes* on loopback and return a connected ``Client``.

    Each worker runs ``threads_per_worker`` task threads and ``cores // (n_workers × threads_per_worker)``
    BLAS threads (at least one). ``dashboard_address=":0"`` puts the scheduler's HTTP server/dashboard on
    a free port (``client.dashboard_link``) instead of 8787, which another cluster may hold. Close it with
    ``client.close()`` (which also stops the cluster), or use ``with local_cluster(2) as client: ...``.
    """
    from distributed import Client

    n = n_cores() if n_workers in (None, 0, -1) else int(n_workers)
    if n < 1 or threads_per_worker < 1:
        raise InputError(
            f"local_cluster needs n_workers ≥ 1 and threads_per_worker ≥ 1 (got {n}, {threads_per_worker})"
        )
    blas = max(1, n_cores() // (n * threads_per_worker))
    env = {k: str(blas) for k in THREAD_ENV_VARS}
    env[IN_WORKER_ENV] = "1"
    client = Client(  # the client creates and owns the LocalCluster: client.close() closes both
        n_workers=n,
        threads_per_worker=threads_per_worker,
        processes=True,
        host=host,
        dashboard_address=dashboard_address,
        memory_limit=memory_limit,
        silence_logs=silence_logs,
        env=env,
        set_as_default=False,
        **kwargs,
    )
    configure_workers(client, blas_threads=blas)
    return client


@contextlib.contextmanager
def client_for(scheduler: Any, *, n_workers: int | None = None) -> Iterator[Any]:
    """Context manager yielding a configured ``Client`` for a Dask ``scheduler`` value (see module doc).

    Clusters and connections it opens are closed on exit; a client passed in (or ``"dask"``) is left open.
    """
    if is_client(scheduler):
        configure_workers(scheduler)
        yield scheduler
        return
    if not is_dask_scheduler(scheduler):
        raise InputError(
            f"scheduler={scheduler!r} is not a Dask scheduler; use 'local:N', 'tcp://host:port', 'dask' or a "
            f"dask.distributed.Client"
        )
    import distributed

    s = scheduler.strip()
    if s == "dask":
        try:
            client = distributed.get_client()
        except ValueError as exc:
            raise InputError(
                "scheduler='dask' but this process has no Dask client; create one first "
                "(dask.distributed.Client(...)) or pass scheduler='tcp://host:port' / 'local:N'"
            ) from exc
        configure_workers(client)
        yield client
        return
    if s == "local" or s.startswith("local:"):
        client = local_cluster(_parse_local(s, n_workers))
        try:
            yield client
        finally:
            client.close()
        return
    try:
        # connect timeout: dask config distributed.comm.timeouts.connect (default 30 s)
        client = distributed.Client(s, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise InputError(
            f"cannot connect to the Dask scheduler at {s} ({exc}); start it with `dask scheduler` and check "
            f"the address and firewall (see docs/scale-out.md)"
        ) from exc
    try:
        configure_workers(client)
        yield client
    finally:
        client.close()


class _ThreadPlugin(WorkerPlugin):
    """Worker plugin: pin BLAS/OpenMP/torch threads on every (also every restarted) worker."""

    name = _PLUGIN_NAME

    def __init__(self, threads_by_host: dict[str, int], default: int | None) -> None:
        self.threads_by_host = dict(threads_by_host)
        self.default = default

    def setup(self, worker: Any) -> None:  # pragma: no cover - runs in the worker process
        from distributed.comm import get_address_host

        host = get_address_host(worker.address)
        nthreads = max(1, int(getattr(worker.state, "nthreads", 1)))
        t = self.threads_by_host.get(host, self.default or max(1, n_cores() // nthreads))
        pin_threads(t)



def _worker_cores() -> tuple[str, int]:  # pragma: no cover - runs in the worker process
    import socket

    return socket.gethostname(), n_cores()


def configure_workers(client: Any, *, blas_threads: int | None = None) -> dict[str, int]:
    """Register the thread-pinning plugin on ``client``'s workers; returns ``{host: BLAS threads}``.

    Without ``blas_threads`` each host gets ``max(1, cores // total task threads of its workers)``, so
    workers × threads ≤ cores on every host. Workers that join or restart later get the same setting.
    Calling it again on a configured client is cheap (the plugin is registered once per client).
    """
    if getattr(client, "_repscope_configured", None) is not None and blas_threads is None:
        return client._repscope_configured
    info = client.scheduler_info(n_workers=-1)["workers"]
    per_host_threads: dict[str, int] = {}
    for w in info.values():
        per_host_threads[w["host"]] = per_host_threads.get(w["host"], 0) + int(w.get("nthreads", 1))
    if blas_threads is not None:
        threads = {h: max(1, int(blas_threads)) for h in per_host_threads}
    else:
        cores = client.run(_worker_cores) if info else {}
        host_cores: dict[str, int] = {}
        for addr, (_, c) in cores.items():
            host_cores[info[addr]["host"]] = int(c)
        threads = {h: max(1, host_cores.get(h, 1) // max(1, per_host_threads[h])) for h in per_host_threads}
    client.register_plugin(_ThreadPlugin(threads, blas_threads), name=_PLUGIN_NAME)
    client._repscope_configured = threads
    return threads


def cluster_info(client: Any) -> dict[str, Any]:
    """Workers, task threads, BLAS threads and repscope/dask versions seen by each worker (for diagnostics)."""

    def _probe() -> dict[str, Any]:  # pragma: no cover - runs in the worker process
        import dask
        import numpy as np
        from threadpoolctl import threadpool_info

        from repscope._version import __version__

        blas = [d.get("num_threads") for d in threadpool_info() if d.get("user_api") == "blas"]
        return {
            "repscope": __version__,
            "dask": dask.__version__,
            "numpy": np.__version__,
            "cores": n_cores(),
            "blas_threads": blas[0] if blas else None,
        }

    info = client.scheduler_info(n_workers=-1)
    probes = client.run(_probe)
    workers = []
    for addr, w in sorted(info["workers"].items()):
        workers.append({"address": addr, "host": w["host"], "nthreads": w.get("nthreads"), **probes.get(addr, {})})
    return {"scheduler": info.get("address"), "n_workers": len(workers), "workers": workers}


# --------------------------------------------------------------------------------------------------
# Running the runner's tasks on a cluster
# --------------------------------------------------------------------------------------------------
# Task submission (:func:`run_dask`), called by :func:`repscope.parallel.map_items` /
# :func:`~repscope.parallel.map_pairs`.
#
# Called by the runner when ``scheduler`` names a Dask cluster; not meant to be called directly.
#
# * **Data shipped once per worker.** ``map_pairs`` scatters the items with ``broadcast=True`` (every
#   worker holds one replica; a worker that dies loses nothing the others lack). ``map_items`` puts each
#   item inside its own task, so it travels once, to the worker that runs it, and the scheduler can re-run
#   the task elsewhere if that worker dies. ``func`` is scattered once (broadcast) as well.
# * **Batches.** Tasks are grouped (default: about 16 tasks per worker thread) so that Dask's per-task
#   overhead (~1 ms) stays small next to the work; results are gathered in task order.
# * **Failure handling.** A worker that dies mid-task is handled by the scheduler: its tasks are re-run on
#   the remaining (or restarted) workers, up to ``distributed.scheduler.allowed-failures`` times (then
#   ``KilledWorker`` is raised). ``retries`` re-runs tasks that raised. If any task fails for good, or on
#   Ctrl-C, every outstanding task is cancelled and nothing is returned — callers never see, and so never
#   write, a partial result as if it were complete.


def _pair_batch(func: Any, items: dict[int, Any], pairs: list[tuple[int, int]]) -> list[Any]:
    return [func(items[i], items[j]) for i, j in pairs]


def _item_batch(func: Any, batch: list[Any]) -> list[Any]:
    return [func(x) for x in batch]


def _total_threads(client: Any) -> int:
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))


def run_dask(
    func: Any,
    items: list[Any],
    tasks: list[Any],
    *,
    pairwise: bool,
    scheduler: Any,
    n_workers: int | None = None,
    progress: bool = False,
    desc: str = "tasks",
    retries: int = 0,
    batch_size: int | None = None,
) -> list[Any]:
    """Run the runner's tasks on a Dask cluster (see the module docstring); results in task order."""
    if not tasks:
        return []
    with client_for(scheduler, n_workers=None if n_workers == 1 else n_workers) as client:
        return _run_on_client(client, func, items, tasks, pairwise, progress, desc, retries, batch_size)


def _run_on_client(client, func, items, tasks, pairwise, progress, desc, retries, batch_size):
    from distributed import as_completed


    if batch_size is None:
        batch_size = max(1, math.ceil(len(tasks) / (16 * _total_threads(client))))
    batch_size = int(batch_size)
    if batch_size < 1:
        raise InputError(f"batch_size={batch_size}; give a positive number of tasks per Dask task")
    batches = [list(range(s, min(len(tasks), s + batch_size))) for s in range(0, len(tasks), batch_size)]
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "-", desc).strip("-") or "tasks"
    run_id = uuid.uuid4().hex[:10]
    keys = [f"repscope-{tag}-{run_id}-{b}" for b in range(len(batches))]
    retries = int(retries) if retries else None

    held: list[Any] = []
    out: list[Any] = [None] * len(tasks)
    try:
        func_f = client.scatter(func, broadcast=True, hash=False)
        held.append(func_f)
        if pairwise:
            used = sorted({i for t in tasks for i in t})
            scattered = client.scatter([items[i] for i in used], broadcast=True, hash=False)
            held.extend(scattered)
            fut_of = dict(zip(used, scattered))
            args = []
            for b in batches:
                pairs = [tuple(tasks[k]) for k in b]
                args.append(({i: fut_of[i] for p in pairs for i in p}, pairs))
            futs = [
                client.submit(_pair_batch, func_f, need, pairs, key=key, pure=False, retries=retries)
                for (need, pairs), key in zip(args, keys)
            ]
        else:
            # Items travel inside their tasks on purpose (recomputable after a worker dies); Dask's
            # "Sending large graph" warning is expected then and says nothing the caller can act on.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Sending large graph")
                futs = [
                    client.submit(_item_batch, func_f, [items[tasks[k]] for k in b], key=key, pure=False,
                                  retries=retries)
                    for b, key in zip(batches, keys)
                ]
        held.extend(futs)
        index = {f.key: b for f, b in zip(futs, batches)}
        with progress_bar(progress) as prog:
            tid = prog.add_task(desc, total=len(tasks))
            for fut in as_completed(futs, loop=client.loop):
                res = fut.result()  # raises the task's exception (or KilledWorker) here
                b = index[fut.key]
                if len(res) != len(b):  # pragma: no cover - defensive
                    raise RuntimeError(f"Dask task {fut.key} returned {len(res)} results for {len(b)} tasks")
                for k, r in zip(b, res):
                    out[k] = r
                prog.advance(tid, len(b))
    except BaseException:
        # Ctrl-C, a failed task or a lost cluster: cancel everything still queued or running.
        try:
            client.cancel(held, force=True)
        except Exception:  # pragma: no cover - the cluster may already be gone
            pass
        raise
    try:
        client.cancel(held)  # release scattered data and results on the workers
    except Exception:  # pragma: no cover
        pass
    return out
