"""Deprecated import paths kept working: ``repscope.datasets`` and ``repscope.models`` moved to
``repscope.experiments`` (the library never depends on them)."""

from __future__ import annotations

import importlib
import sys
import warnings
from types import ModuleType


def alias_package(old: str, new: str, submodules: tuple[str, ...]) -> ModuleType:
    """Make ``old`` and ``old.<sub>`` resolve to ``new`` / ``new.<sub>`` with a DeprecationWarning."""
    warnings.warn(f"{old} moved to {new}; import from there (the old path will be removed in 0.3)",
                  DeprecationWarning, stacklevel=3)
    target = importlib.import_module(new)
    for sub in submodules:
        sys.modules[f"{old}.{sub}"] = importlib.import_module(f"{new}.{sub}")
    return target
