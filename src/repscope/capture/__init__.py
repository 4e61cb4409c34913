"""Capture activations of any PyTorch model into an on-disk :class:`~repscope.store.ActivationStore`.

``repscope.capture`` is this package *and* callable: ``rs.capture(model, data, layers=..., out=...)`` is
:func:`repscope.capture.core.capture` (same signature and docstring), while ``rs.capture.list_layers``,
``rs.capture.select_layers`` and the submodules (``rs.capture.select``, ``rs.capture.pooling`` …) are the
package's attributes as usual. One object, one name: the module's class is swapped for a
:class:`types.ModuleType` subclass whose ``__call__`` forwards to the function, so no function shadows
the package and no package hides behind a function (``tests/test_names.py`` checks every package).

Type checkers see a module here; call ``repscope.capture.capture(...)`` (the same function) where a
checker must know the call's signature.
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any

from repscope.capture.core import capture
from repscope.capture.listing import LayerTable, list_layers
from repscope.capture.select import select_layers

__all__ = ["capture", "select_layers", "list_layers", "LayerTable"]


class _CallableModule(types.ModuleType):
    """The ``repscope.capture`` package, callable as :func:`repscope.capture.core.capture`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return capture(*args, **kwargs)


#: ``inspect.signature(rs.capture)`` and ``help()`` users see the function's signature.
__signature__ = inspect.signature(capture)
sys.modules[__name__].__class__ = _CallableModule
