"""Shared compute layer: array validation, device selection and torch/BLAS threading.

Every lens validates its inputs here once, at the boundary, so error messages are uniform.
"""

from __future__ import annotations

import contextlib
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


def resolve_device(device: Any = None) -> Any:
    """Return a ``torch.device``: ``None``/``"auto"`` → CUDA when available, else CPU."""
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device={device!r} was requested but CUDA is not available; use device='cpu'")
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

_WORKER_ITEMS: list[Any] | None = None
_WORKER_FUNC: Any = None


def _worker_init(items: list[Any], func: Any, threads: int) -> None:  # pragma: no cover - in subprocess
    global _WORKER_ITEMS, _WORKER_FUNC
    _WORKER_ITEMS, _WORKER_FUNC = items, func
    os.environ["OMP_NUM_THREADS"] = str(threads)
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


def map_items(
    func: Any,
    items: list[Any],
    *,
    n_workers: int | None = 1,
    progress: bool = False,
    desc: str = "items",
) -> list[Any]:
    """Apply ``func`` to every item, serially (``n_workers=1``) or in local worker processes.

    Processes, not threads: per-item work such as persistent homology holds the GIL. Each worker gets
    ``cores // n_workers`` BLAS/torch threads so workers × threads ≤ cores. Results keep item order.
    ``func`` must be picklable (a module-level function or ``functools.partial`` of one).
    """
    return _run(func, items, list(range(len(items))), _worker_item, n_workers, progress, desc, pairwise=False)


def map_pairs(
    func: Any,
    items: list[Any],
    pairs: list[tuple[int, int]],
    *,
    n_workers: int | None = 1,
    progress: bool = False,
    desc: str = "pairs",
) -> list[Any]:
    """Evaluate ``func(items[i], items[j])`` for every ``(i, j)`` in ``pairs``; results in pair order.

    Items are shipped once per worker process (pool initializer), not once per task.
    """
    return _run(func, items, pairs, _worker_pair, n_workers, progress, desc, pairwise=True)


def _run(func, items, tasks, worker_fn, n_workers, progress, desc, *, pairwise):
    n_workers = n_cores() if n_workers in (None, 0, -1) else int(n_workers)
    n_workers = max(1, min(n_workers, len(tasks) or 1))
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
        with ProcessPoolExecutor(
            max_workers=n_workers, mp_context=ctx, initializer=_worker_init, initargs=(items, func, threads)
        ) as ex:
            futs = {ex.submit(worker_fn, t): k for k, t in enumerate(tasks)}
            try:
                for fut in as_completed(futs):
                    out[futs[fut]] = fut.result()
                    prog.advance(task_id)
            except BaseException:
                for f in futs:
                    f.cancel()
                raise
    return out


def all_pairs(n: int, *, symmetric: bool = True, diagonal: bool = False) -> list[tuple[int, int]]:
    """Index pairs for an n×n matrix: upper triangle (``symmetric``) or every ordered pair."""
    if symmetric:
        return [(i, j) for i in range(n) for j in range(i if diagonal else i + 1, n)]
    return [(i, j) for i in range(n) for j in range(n) if diagonal or i != j]
