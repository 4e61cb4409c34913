"""Cores, devices and threads: the one place repscope decides where and on how many threads work runs.

BLAS/torch threads × worker processes ≤ cores: small-matrix work (r×r, r ≲ 64) was 7× faster on one
thread than on two on a 2-core machine, and oversubscribed BLAS made Dask jobs several times slower.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from repscope.errors import InputError

__all__ = [
    "n_cores",
    "resolve_device",
    "torch_threads",
    "blas_threads",
    "pin_threads",
    "THREAD_ENV_VARS",
    "IN_WORKER_ENV",
    "DEVICE_ENV",
]

#: Environment variables read by BLAS/OpenMP libraries (and torch) for their thread count.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
#: Set to "1" inside repscope's worker processes: nested runner calls there run serially.
IN_WORKER_ENV = "REPSCOPE_IN_WORKER"
#: Environment variable giving the default device (``cpu``, ``cuda``, ``cuda:1``, ``auto``).
DEVICE_ENV = "REPSCOPE_DEVICE"


def n_cores() -> int:
    """Number of CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def pin_threads(t: int) -> int:
    """Limit this (worker) process's BLAS/OpenMP/torch threads to ``t`` and mark it as a repscope worker.

    Used by every worker repscope starts: process-pool initialisers, Dask worker plugins and tasks.
    """
    t = max(1, int(t))
    for k in THREAD_ENV_VARS:
        os.environ[k] = str(t)
    os.environ[IN_WORKER_ENV] = "1"
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=t)
    except Exception:  # pragma: no cover - threadpoolctl ships with scikit-learn
        pass
    if "torch" in sys.modules:  # otherwise torch reads OMP_NUM_THREADS when it is first imported
        sys.modules["torch"].set_num_threads(t)
    return t


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
