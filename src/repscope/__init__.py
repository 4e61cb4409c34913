"""repscope — understand what a neural network has learned by looking at its activations.

One activation store, several lenses from the literature, one report::

    import repscope as rs
    store = rs.capture(model, data, layers=["features.*", "fc1"], out="acts.zarr")
    rs.metrics.layer_matrix(store, metric="linear_cka").plot()
"""

from __future__ import annotations

import importlib
from typing import Any

from repscope.capture import capture  # binds the function over the subpackage attribute
from repscope.errors import (
    CaptureError,
    ConvergenceError,
    ConvergenceWarning,
    InputError,
    RepscopeError,
    StoreError,
)
from repscope.store import open_store

__version__ = "0.1.0"

_SUBMODULES = {
    "metrics": "repscope.metrics",
    "ranges": "repscope.ranges",
    "topology": "repscope.topology",
    "dynamics": "repscope.dynamics",
    "descramble": "repscope.descramble",
    "report": "repscope.report",
    "results": "repscope.results",
    "experiments": "repscope.experiments",
    "compute": "repscope.compute",
    # deprecated aliases (moved to repscope.experiments); importing them warns
    "datasets": "repscope.datasets",
    "models": "repscope.models",
}

__all__ = [
    "__version__",
    "capture",
    "open_store",
    "RepscopeError",
    "InputError",
    "StoreError",
    "CaptureError",
    "ConvergenceError",
    "ConvergenceWarning",
    *_SUBMODULES,
]


def __getattr__(name: str) -> Any:
    # Lazy imports keep `import repscope` (and the CLI's --help) fast.
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    raise AttributeError(f"module 'repscope' has no attribute {name!r}")
