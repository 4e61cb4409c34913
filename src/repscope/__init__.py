"""repscope — understand what a neural network has learned by looking at its activations.

One activation store, several lenses from the literature, one report::

    import repscope as rs
    store = rs.capture(model, data, layers=["features.*", "fc1"], out="acts.zarr")
    rs.metrics.layer_matrix(store, metric="linear_cka").plot()
"""

from __future__ import annotations

import importlib
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

#: ``capture`` is the callable capture package: ``rs.capture(model, data, ...)`` captures,
#: ``rs.capture.list_layers(...)`` lists (see :mod:`repscope.capture`).
_SUBMODULES = {
    "capture": "repscope.capture",
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
    "open_store",
    "load_result",
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
    if name == "load_result":
        return _load_result
    raise AttributeError(f"module 'repscope' has no attribute {name!r}")


#: The modules that define result classes (and the records they hold): ``load_result`` imports these, so
#: that every class a result file can name is registered — and nothing else is ever imported for a file.
#: ``tests/test_results_io.py`` checks that the list is complete.
_RESULT_MODULES = (
    "repscope.results", "repscope.lenses.protocol", "repscope.store.summary", "repscope.store.integrity",
    "repscope.capture.listing", "repscope.metrics.embedding", "repscope.metrics.entry",
    "repscope.metrics.estimators", "repscope.metrics._rdm", "repscope.metrics.stochastic",
    "repscope.metrics.uncertainty", "repscope.ranges.analysis", "repscope.ranges._associations",
    "repscope.ranges._bands", "repscope.ranges.entry", "repscope.ranges.views", "repscope.topology.entry",
    "repscope.topology.layers", "repscope.topology._mapper", "repscope.topology._persistence",
    "repscope.topology.summaries", "repscope.dynamics.dmd", "repscope.dynamics.entry",
    "repscope.dynamics.inputdsa", "repscope.dynamics.results", "repscope.dynamics.simdist",
    "repscope.dynamics.sweep", "repscope.descramble.entry", "repscope.descramble.results",
)


def _load_result(path: Any, section: str | None = None, entry: int | str = 0) -> Any:
    """Read a result back from JSON: a file written by ``result.save(path)`` / ``result.to_json()``, or one
    entry of a report's ``results.json`` (``section``: its key, e.g. ``"similarity"``; ``entry``: index or
    title). The class is looked up by name among repscope's result classes — no module named in the file
    is imported and nothing is unpickled (see :func:`repscope.results.load_result`)."""
    for module in _RESULT_MODULES:
        importlib.import_module(module)
    from repscope.results import load_result

    return load_result(path, section=section, entry=entry)
