"""repscope — understand what a neural network has learned by looking at its activations.

One activation store, several lenses from the literature, one report::

    import repscope as rs
    store = rs.capture(model, data, layers=["features.*", "fc1"], out="acts.zarr")
    rs.metrics.layer_matrix(store, metric="linear_cka").plot()
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from repscope._version import __version__
from repscope.errors import (
    CaptureError,
    ConvergenceError,
    ConvergenceWarning,
    InputError,
    RepscopeError,
    StoreError,
)

_SUBMODULES = {
    "metrics": "repscope.metrics",
    "ranges": "repscope.ranges",
    "topology": "repscope.topology",
    "dynamics": "repscope.dynamics",
    "descramble": "repscope.descramble",
    "report": "repscope.report",
    "results": "repscope.results",
    "experiments": "repscope.experiments",
    "parallel": "repscope.parallel",
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
    # Lazy imports keep `import repscope` (and the CLI's --help) fast: no numpy, zarr or torch until used.
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    if name == "open_store":
        from repscope.store import open_store

        return open_store
    raise AttributeError(f"module 'repscope' has no attribute {name!r}")


class _Package(types.ModuleType):
    """``repscope.capture`` is the function, imported on first use, even after the import system binds the
    ``repscope.capture`` subpackage onto this module (the setter keeps the function in front)."""

    @property
    def capture(self) -> Any:
        from repscope.capture.core import capture

        return capture

    @capture.setter
    def capture(self, value: Any) -> None:
        self.__dict__["_capture_package"] = value


sys.modules[__name__].__class__ = _Package
