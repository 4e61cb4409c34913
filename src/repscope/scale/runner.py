"""Moved to :mod:`repscope.parallel.dask` (kept so old imports work)."""

from repscope.parallel.dask import run_dask  # noqa: F401
