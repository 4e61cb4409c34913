"""The Dask back end of :func:`repscope.compute.map_items` / :func:`~repscope.compute.map_pairs`.

Called by the runner when ``scheduler`` names a Dask cluster; not meant to be called directly.

* **Data shipped once per worker.** ``map_pairs`` scatters the items with ``broadcast=True`` (every
  worker holds one replica; a worker that dies loses nothing the others lack). ``map_items`` puts each
  item inside its own task, so it travels once, to the worker that runs it, and the scheduler can re-run
  the task elsewhere if that worker dies. ``func`` is scattered once (broadcast) as well.
* **Batches.** Tasks are grouped (default: about 16 tasks per worker thread) so that Dask's per-task
  overhead (~1 ms) stays small next to the work; results are gathered in task order.
* **Failure handling.** A worker that dies mid-task is handled by the scheduler: its tasks are re-run on
  the remaining (or restarted) workers, up to ``distributed.scheduler.allowed-failures`` times (then
  ``KilledWorker`` is raised). ``retries`` re-runs tasks that raised. If any task fails for good, or on
  Ctrl-C, every outstanding task is cancelled and nothing is returned — callers never see, and so never
  write, a partial result as if it were complete.
"""

from __future__ import annotations

import math
import re
import uuid
import warnings
from typing import Any

__all__ = ["run_dask"]


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
    from repscope.scale.cluster import client_for

    if not tasks:
        return []
    with client_for(scheduler, n_workers=None if n_workers == 1 else n_workers) as client:
        return _run_on_client(client, func, items, tasks, pairwise, progress, desc, retries, batch_size)


def _run_on_client(client, func, items, tasks, pairwise, progress, desc, retries, batch_size):
    from distributed import as_completed

    from repscope.compute import _progress
    from repscope.errors import InputError

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
        with _progress(len(tasks), desc, progress) as prog:
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
