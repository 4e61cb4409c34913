"""The pairwise job runner: one place every lens goes through for "per-item work, then all pairs".

``scheduler`` values: ``None``/``"serial"``, ``"processes"``, ``"local:N"``, ``"tcp://host:port"``,
``"dask"`` or a ``dask.distributed.Client`` (Dask back end: :mod:`repscope.parallel.dask`).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator
from typing import Any

from repscope.errors import InputError
from repscope.parallel.autosched import item_bytes, local_workers, probe, worth_parallel
from repscope.parallel.progress import progress_bar
from repscope.parallel.threads import IN_WORKER_ENV, blas_threads, n_cores, pin_threads, torch_threads

__all__ = ["map_items", "map_pairs", "all_pairs", "use_scheduler", "resolve_scheduler", "check_scheduler",
           "SCHEDULER_ENV"]

#: Environment variable naming the default scheduler of every runner call (e.g. ``tcp://host:8786``).
SCHEDULER_ENV = "REPSCOPE_SCHEDULER"
_DEFAULT_SCHEDULER: contextvars.ContextVar[Any] = contextvars.ContextVar("repscope_scheduler", default=None)

_WORKER_ITEMS: list[Any] | None = None
_WORKER_FUNC: Any = None


def _worker_init(items: list[Any], func: Any, threads: int) -> None:  # pragma: no cover - in subprocess
    global _WORKER_ITEMS, _WORKER_FUNC
    _WORKER_ITEMS, _WORKER_FUNC = items, func
    pin_threads(threads)


def _worker_pair(pair: tuple[int, int]) -> Any:  # pragma: no cover - in subprocess
    assert _WORKER_ITEMS is not None
    i, j = pair
    return _WORKER_FUNC(_WORKER_ITEMS[i], _WORKER_ITEMS[j])


def _worker_item(i: int) -> Any:  # pragma: no cover - in subprocess
    assert _WORKER_ITEMS is not None
    return _WORKER_FUNC(_WORKER_ITEMS[i])


@contextlib.contextmanager
def use_scheduler(scheduler: Any) -> Iterator[Any]:
    """Make ``scheduler`` the default of every runner call (and lens) inside the ``with`` block.

    ``with use_scheduler("local:2"):`` starts one LocalCluster for the whole block (instead of one per
    call) and yields its ``Client``; ``"tcp://host:port"`` connects once; a ``Client`` is used as is;
    ``"serial"``/``"processes"`` just become the default. An explicit ``scheduler=`` argument still wins.
    """
    if scheduler is None or scheduler in ("serial", "processes"):
        token = _DEFAULT_SCHEDULER.set(scheduler)
        try:
            yield scheduler
        finally:
            _DEFAULT_SCHEDULER.reset(token)
        return
    check_scheduler(scheduler)
    from repscope.parallel.dask import client_for

    with client_for(scheduler) as client:
        token = _DEFAULT_SCHEDULER.set(client)
        try:
            yield client
        finally:
            _DEFAULT_SCHEDULER.reset(token)


def check_scheduler(scheduler: Any) -> None:
    if scheduler is None or scheduler in ("serial", "processes"):
        return
    try:
        from repscope.parallel.dask import is_dask_scheduler
    except ImportError as exc:
        raise InputError(
            f"scheduler={scheduler!r} needs dask.distributed, which cannot be imported ({exc}); install it with "
            f"pip install 'repscope[dask]', or use scheduler='processes'"
        ) from exc
    if not is_dask_scheduler(scheduler):
        raise InputError(
            f"scheduler={scheduler!r} is not understood; use None/'serial', 'processes', 'local:N' (a local Dask "
            f"cluster with N workers), 'tcp://host:port' (a running dask scheduler), 'dask' (this process's "
            f"default client) or a dask.distributed.Client"
        )


def resolve_scheduler(scheduler: Any = None, n_workers: int | None = 1) -> Any:
    """The scheduler a runner call will use: the argument, else the :func:`use_scheduler` default, else the
    ``REPSCOPE_SCHEDULER`` environment variable (ignored inside repscope worker processes, so nested
    calls stay local), else ``"serial"`` for ``n_workers == 1`` and ``"processes"`` otherwise."""
    if scheduler is None:
        scheduler = _DEFAULT_SCHEDULER.get()
    if scheduler is None and os.environ.get(IN_WORKER_ENV) != "1":
        scheduler = os.environ.get(SCHEDULER_ENV) or None
    if scheduler is None:
        return "serial" if n_workers == 1 else "processes"
    if isinstance(scheduler, str):
        scheduler = scheduler.strip()
        if scheduler in ("sync", "synchronous", "single-threaded"):
            scheduler = "serial"
    check_scheduler(scheduler)
    return scheduler


def map_items(
    func: Callable[[Any], Any],
    items: list[Any],
    *,
    n_workers: int | None = 1,
    progress: bool = False,
    desc: str = "items",
    scheduler: Any = None,
    retries: int = 0,
    batch_size: int | None = None,
) -> list[Any]:
    """Apply ``func`` to every item; results keep item order.

    ``scheduler`` (see :func:`resolve_scheduler`): ``None`` → serial when ``n_workers == 1`` else local
    processes; ``"serial"``; ``"processes"`` (``n_workers`` processes; ``None`` = one per core);
    ``"local:N"`` (a Dask LocalCluster, N worker processes); ``"tcp://host:port"`` (a running Dask
    scheduler); ``"dask"`` or a ``dask.distributed.Client``.

    Processes, not threads: per-item work such as persistent homology holds the GIL. Each worker gets
    ``cores // workers`` BLAS/torch threads so workers × threads ≤ cores. ``func`` must be picklable (a
    module-level function or ``functools.partial`` of one). On Dask each item travels inside its own
    task (shipped once, to the worker that runs it), so a task whose worker dies is re-run elsewhere by
    the scheduler; ``retries`` re-runs tasks that *raised* (default 0: errors propagate). Nothing is
    returned unless every task succeeded; Ctrl-C cancels all outstanding tasks.
    """
    return _run(func, items, list(range(len(items))), _worker_item, n_workers, progress, desc,
                pairwise=False, scheduler=scheduler, retries=retries, batch_size=batch_size)


def map_pairs(
    func: Callable[[Any, Any], Any],
    items: list[Any],
    pairs: list[tuple[int, int]],
    *,
    n_workers: int | None = 1,
    progress: bool = False,
    desc: str = "pairs",
    scheduler: Any = None,
    retries: int = 0,
    batch_size: int | None = None,
) -> list[Any]:
    """Evaluate ``func(items[i], items[j])`` for every ``(i, j)`` in ``pairs``; results in pair order.

    Items are shipped once per worker, not once per task: the process pool's initializer, or on Dask
    ``client.scatter(items, broadcast=True)`` (every worker holds a replica, so one dying loses no data).
    Pairs are grouped into ``batch_size`` pairs per task (default: ~16 tasks per worker thread) to keep
    the scheduler's per-task overhead small. ``scheduler``, ``retries``: see :func:`map_items`.
    """
    return _run(func, items, list(pairs), _worker_pair, n_workers, progress, desc,
                pairwise=True, scheduler=scheduler, retries=retries, batch_size=batch_size)


def _run(func, items, tasks, worker_fn, n_workers, progress, desc, *, pairwise, scheduler=None, retries=0,
         batch_size=None, _auto=True):
    if pairwise:
        n_items = len(items)
        for t in tasks:
            if len(t) != 2 or not (-n_items <= t[0] < n_items and -n_items <= t[1] < n_items):
                raise InputError(f"pair {t!r} does not index the {n_items} items; pairs are (i, j) with 0 ≤ i, j < n")
    sched = resolve_scheduler(scheduler, n_workers)
    workers = local_workers(sched, n_workers, n_cores()) if _auto else None
    if workers is not None and workers > 1 and len(tasks) > 2:
        # local parallel scheduler: run two tasks here (all BLAS threads, then one), keep going serially —
        # with the faster thread count — unless workers pay for themselves (repscope.parallel.autosched)
        def one(t):
            return lambda: func(items[t[0]], items[t[1]]) if pairwise else func(items[t])

        first, wall, cpu = probe(one(tasks[0]))
        with blas_threads(1), torch_threads(1):
            second, wall1, cpu1 = probe(one(tasks[1]))
        ok, _ = worth_parallel(min(wall, wall1), cpu if wall <= wall1 else cpu1, len(tasks) - 2, workers,
                               n_cores(), item_bytes(items), sched != "processes")
        rest_kw = dict(pairwise=pairwise, retries=retries, batch_size=batch_size, _auto=False)
        if ok:
            rest = _run(func, items, tasks[2:], worker_fn, n_workers, progress, desc, scheduler=sched, **rest_kw)
        else:
            with contextlib.ExitStack() as stack:
                if wall1 < wall:  # small tasks: threads only contend
                    stack.enter_context(blas_threads(1))
                    stack.enter_context(torch_threads(1))
                rest = _run(func, items, tasks[2:], worker_fn, 1, progress, desc, scheduler="serial", **rest_kw)
        return [first, second, *rest]
    if sched not in ("serial", "processes"):
        from repscope.parallel.dask import run_dask

        return run_dask(func, items, tasks, pairwise=pairwise, scheduler=sched, n_workers=n_workers,
                        progress=progress, desc=desc, retries=retries, batch_size=batch_size)
    n_workers = n_cores() if n_workers in (None, 0, -1) else int(n_workers)
    n_workers = max(1, min(n_workers, len(tasks) or 1))
    if sched == "serial":
        n_workers = 1
    out: list[Any] = [None] * len(tasks)
    with progress_bar(progress) as prog:
        task_id = prog.add_task(desc, total=len(tasks))
        if n_workers == 1:
            for k, t in enumerate(tasks):
                out[k] = func(items[t[0]], items[t[1]]) if pairwise else func(items[t])
                prog.advance(task_id)
            return out
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        threads = max(1, n_cores() // n_workers)
        ctx = mp.get_context("spawn")
        ex = ProcessPoolExecutor(
            max_workers=n_workers, mp_context=ctx, initializer=_worker_init, initargs=(items, func, threads)
        )
        try:
            futs = {ex.submit(worker_fn, t): k for k, t in enumerate(tasks)}
            for fut in as_completed(futs):
                out[futs[fut]] = fut.result()
                prog.advance(task_id)
        except BaseException:
            # Ctrl-C or a failed task: drop queued tasks, do not wait for running ones, return nothing.
            ex.shutdown(wait=False, cancel_futures=True)
            raise
        ex.shutdown(wait=True)
    return out


def all_pairs(n: int, *, symmetric: bool = True, diagonal: bool = False) -> list[tuple[int, int]]:
    """Index pairs for an n×n matrix: upper triangle (``symmetric``) or every ordered pair."""
    if symmetric:
        return [(i, j) for i in range(n) for j in range(i if diagonal else i + 1, n)]
    return [(i, j) for i in range(n) for j in range(n) if diagonal or i != j]
