"""Deprecated private path of :mod:`repscope.results` (kept for old imports)."""

from repscope.results import *  # noqa: F403
from repscope.results import dumps, to_jsonable  # noqa: F401
