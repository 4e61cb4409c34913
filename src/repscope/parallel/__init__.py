"""repscope.parallel — where work runs: devices, threads, the pairwise runner, progress bars.

- :mod:`.threads`: :func:`n_cores`, :func:`resolve_device`, :func:`torch_threads`, :func:`blas_threads`,
  :func:`pin_threads` (the one thread-pinning function every worker uses);
- :mod:`.runner`: :func:`map_items`, :func:`map_pairs`, :func:`all_pairs`, :func:`use_scheduler`,
  :func:`resolve_scheduler` — serial, a process pool, or a Dask cluster;
- :mod:`.dask`: the Dask back end (clusters, clients, worker thread pinning, task submission); imported
  only when a Dask scheduler is asked for;
- :mod:`.progress`: :func:`progress_bar`, the one progress helper (stderr, terminals only).
"""

from __future__ import annotations

from repscope.parallel.progress import progress_bar, stderr_console
from repscope.parallel.runner import (
    SCHEDULER_ENV,
    all_pairs,
    check_scheduler,
    map_items,
    map_pairs,
    resolve_scheduler,
    use_scheduler,
)
from repscope.parallel.threads import (
    DEVICE_ENV,
    IN_WORKER_ENV,
    THREAD_ENV_VARS,
    blas_threads,
    n_cores,
    pin_threads,
    resolve_device,
    torch_threads,
)

__all__ = [
    "progress_bar",
    "stderr_console",
    "SCHEDULER_ENV",
    "all_pairs",
    "check_scheduler",
    "map_items",
    "map_pairs",
    "resolve_scheduler",
    "use_scheduler",
    "DEVICE_ENV",
    "IN_WORKER_ENV",
    "THREAD_ENV_VARS",
    "blas_threads",
    "n_cores",
    "pin_threads",
    "resolve_device",
    "torch_threads",
]
