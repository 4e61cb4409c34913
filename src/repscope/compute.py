"""Deprecated grouping kept for old imports: validation moved to :mod:`repscope.validation`, devices,
threads and the job runner to :mod:`repscope.parallel`."""

from __future__ import annotations

from repscope.parallel.runner import (  # noqa: F401
    SCHEDULER_ENV,
    _run,
    _worker_init,
    _worker_item,
    _worker_pair,
    all_pairs,
    map_items,
    map_pairs,
    resolve_scheduler,
    use_scheduler,
)
from repscope.parallel.runner import check_scheduler as _check_scheduler  # noqa: F401
from repscope.parallel.threads import (  # noqa: F401
    DEVICE_ENV,
    blas_threads,
    n_cores,
    resolve_device,
    torch_threads,
)
from repscope.validation import as_2d, check_paired  # noqa: F401

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
