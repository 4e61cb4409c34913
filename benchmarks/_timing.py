"""Shared helper of the side-by-side benchmark scripts (not a benchmark: run_all.sh skips ``_*`` files)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np


def median_time(fn: Callable[[], Any], reps: int = 3) -> tuple[Any, float]:
    """Run ``fn`` ``reps`` times; return its last result and the median wall-clock seconds."""
    ts, out = [], None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return out, float(np.median(ts))
