"""Shared compute layer: array validation, device selection and torch/BLAS threading.

Every lens validates its inputs here once, at the boundary, so error messages are uniform.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from repscope.errors import InputError

__all__ = [
    "as_2d",
    "check_paired",
    "resolve_device",
    "torch_threads",
    "blas_threads",
    "n_cores",
    "map_items",
    "map_pairs",
    "all_pairs",
    "use_scheduler",
    "resolve_scheduler",
    "SCHEDULER_ENV",
    "DEVICE_ENV",
]


def n_cores() -> int:
    """Number of CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def as_2d(
    X: Any,
    name: str = "X",
    *,
    min_samples: int = 3,
    dtype: Any = np.float64,
    allow_nonfinite: bool = False,
    allow_constant: bool = True,
) -> np.ndarray:
    """Validate one activation matrix and return it as a 2-D ``(n_samples, n_features)`` array.

    Arrays with more than two dimensions are flattened after the first (sample) axis. Raises
    :class:`InputError` with the fix for: non-numeric data, 0-/1-D input, fewer than ``min_samples``
    rows, NaN/Inf values, and (when ``allow_constant`` is false) an all-constant matrix.
    The caller's array is never modified (a copy is made when a dtype conversion is needed).
    """
    if hasattr(X, "detach"):  # torch tensor
        X = X.detach().cpu().numpy()
    try:
        A = np.asarray(X)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise InputError(f"{name} could not be converted to an array ({exc}); pass a numpy array") from exc
    if A.dtype == object or not (np.issubdtype(A.dtype, np.number) or A.dtype == np.bool_):
        raise InputError(f"{name} has non-numeric dtype {A.dtype}; pass a numeric array (n_samples, n_features)")
    if A.ndim < 2:
        raise InputError(
            f"{name} has shape {A.shape}; expected (n_samples, n_features) — reshape a single feature "
            f"with X.reshape(-1, 1)"
        )
    if A.ndim > 2:
        A = A.reshape(A.shape[0], -1)
    if A.shape[0] < min_samples:
        raise InputError(f"{name} has {A.shape[0]} samples; at least {min_samples} are needed")
    if A.shape[1] < 1:
        raise InputError(f"{name} has no features (shape {A.shape})")
    if dtype is not None:
        A = A.astype(dtype, copy=False)
    if not allow_nonfinite and not np.isfinite(A).all():
        bad = int((~np.isfinite(A)).any(axis=1).sum())
        raise InputError(
            f"{name} contains NaN or Inf values in {bad} of {A.shape[0]} samples; remove those rows "
            f"(e.g. X[np.isfinite(X).all(axis=1)]) or fix the model producing them"
        )
    if not allow_constant and A.shape[0] > 0 and np.all(A == A[:1]):
        raise InputError(f"{name} is constant across samples; similarity is undefined for a constant representation")
    return A


def check_paired(X: np.ndarray, Y: np.ndarray, names: tuple[str, str] = ("X", "Y")) -> None:
    """Raise if two representations do not have the same number of samples."""
    if X.shape[0] != Y.shape[0]:
        raise InputError(
            f"{names[0]} has {X.shape[0]} samples but {names[1]} has {Y.shape[0]}; both must describe "
            f"the same samples in the same order"
        )


#: Environment variable giving the default device (``cpu``, ``cuda``, ``cuda:1``, ``auto``).
DEVICE_ENV = "REPSCOPE_DEVICE"


def resolve_device(device: Any = None) -> Any:
    """Return a ``torch.device`` — the one place repscope chooses where tensors live.

    ``None`` → the ``REPSCOPE_DEVICE`` environment variable when set, else ``"auto"``; ``"auto"`` → CUDA
    when available, else CPU; anything else is passed to ``torch.device`` (``"cpu"``, ``"cuda"``,
    ``"cuda:1"``, a ``torch.device``). Requesting CUDA without a GPU raises :class:`InputError`.
    """
    import torch

    if device is None:
        device = os.environ.get(DEVICE_ENV, "").strip() or "auto"
    if isinstance(device, str) and device.strip().lower() == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device.strip() if isinstance(device, str) else device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(
            f"device={device!r} is not a device name ({exc}); use 'cpu', 'cuda', 'cuda:0' or 'auto'"
        ) from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device={device!r} was requested but CUDA is not available; use device='cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(
                f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s); use cuda:0..cuda:"
                f"{torch.cuda.device_count() - 1}"
            )
    return dev


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (``None`` leaves it alone).

    Small-matrix work (r×r with r ≲ 64) is fastest on one thread; large GEMMs want all cores.
    """
    import torch

    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Temporarily limit numpy/scipy BLAS threads (via threadpoolctl)."""
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=max(1, int(n))):
        yield


# --------------------------------------------------------------------------------------------------
# Pairwise job runner: one place every lens goes through for "per-item work, then all pairs".
# --------------------------------------------------------------------------------------------------

#: Environment variable naming the default scheduler of every runner call (e.g. ``tcp://host:8786``).
SCHEDULER_ENV = "REPSCOPE_SCHEDULER"
_IN_WORKER_ENV = "REPSCOPE_IN_WORKER"  # = repscope.scale.cluster.IN_WORKER_ENV (kept import-free here)
_DEFAULT_SCHEDULER: contextvars.ContextVar[Any] = contextvars.ContextVar("repscope_scheduler", default=None)

_WORKER_ITEMS: list[Any] | None = None
_WORKER_FUNC: Any = None


def _worker_init(items: list[Any], func: Any, threads: int) -> None:  # pragma: no cover - in subprocess
    global _WORKER_ITEMS, _WORKER_FUNC
    _WORKER_ITEMS, _WORKER_FUNC = items, func
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ[_IN_WORKER_ENV] = "1"
    try:
        import torch

        torch.set_num_threads(threads)
    except Exception:
        pass
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
    except Exception:
        pass


def _worker_pair(pair: tuple[int, int]) -> Any:  # pragma: no cover - in subprocess
    assert _WORKER_ITEMS is not None
    i, j = pair
    return _WORKER_FUNC(_WORKER_ITEMS[i], _WORKER_ITEMS[j])


def _worker_item(i: int) -> Any:  # pragma: no cover - in subprocess
    assert _WORKER_ITEMS is not None
    return _WORKER_FUNC(_WORKER_ITEMS[i])


def _progress(total: int, desc: str, enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    prog = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        disable=not enabled, transient=True,
    )
    return prog


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
    _check_scheduler(scheduler)
    from repscope.scale.cluster import client_for

    with client_for(scheduler) as client:
        token = _DEFAULT_SCHEDULER.set(client)
        try:
            yield client
        finally:
            _DEFAULT_SCHEDULER.reset(token)


def _check_scheduler(scheduler: Any) -> None:
    if scheduler is None or scheduler in ("serial", "processes"):
        return
    try:
        from repscope.scale.cluster import is_dask_scheduler
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
    if scheduler is None and os.environ.get(_IN_WORKER_ENV) != "1":
        scheduler = os.environ.get(SCHEDULER_ENV) or None
    if scheduler is None:
        return "serial" if n_workers == 1 else "processes"
    if isinstance(scheduler, str):
        scheduler = scheduler.strip()
        if scheduler in ("sync", "synchronous", "single-threaded"):
            scheduler = "serial"
    _check_scheduler(scheduler)
    return scheduler


def map_items(
    func: Any,
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
    func: Any,
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
         batch_size=None):
    if pairwise:
        n_items = len(items)
        for t in tasks:
            if len(t) != 2 or not (-n_items <= t[0] < n_items and -n_items <= t[1] < n_items):
                raise InputError(f"pair {t!r} does not index the {n_items} items; pairs are (i, j) with 0 ≤ i, j < n")
    sched = resolve_scheduler(scheduler, n_workers)
    if sched not in ("serial", "processes"):
        from repscope.scale.runner import run_dask

        return run_dask(func, items, tasks, pairwise=pairwise, scheduler=sched, n_workers=n_workers,
                        progress=progress, desc=desc, retries=retries, batch_size=batch_size)
    n_workers = n_cores() if n_workers in (None, 0, -1) else int(n_workers)
    n_workers = max(1, min(n_workers, len(tasks) or 1))
    if sched == "serial":
        n_workers = 1
    out: list[Any] = [None] * len(tasks)
    with _progress(len(tasks), desc, progress) as prog:
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
