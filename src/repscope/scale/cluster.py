"""Moved to :mod:`repscope.parallel.dask` (kept so old imports work)."""

from repscope.parallel.dask import *  # noqa: F403
from repscope.parallel.dask import (  # noqa: F401
    _PLUGIN_NAME,
    _ThreadPlugin,
    configure_workers,
    is_dask_scheduler,
)
from repscope.parallel.threads import IN_WORKER_ENV, THREAD_ENV_VARS  # noqa: F401
from repscope.parallel.threads import pin_threads as _pin_threads  # noqa: F401
