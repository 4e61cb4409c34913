"""The docstring examples of the public API run, and every public callable has one (issue 24).

Collected with :mod:`doctest` from the modules that define the names in ``__all__`` of
``repscope.metrics``, ``.ranges``, ``.topology``, ``.descramble``, ``.store`` and ``repscope.results``
(``repscope.dynamics`` has its own doctest file). Importing only these modules keeps the collection free
of the CLI, torch-facing capture code and optional heavy imports that ``--doctest-modules`` over the
whole source tree would pull in.
"""

from __future__ import annotations

import doctest
import importlib
import inspect

import numpy as np
import pytest

PACKAGES = [
    "repscope.metrics",
    "repscope.ranges",
    "repscope.topology",
    "repscope.descramble",
    "repscope.store",
    "repscope.results",
]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def public_callables() -> list[tuple[str, str, object]]:
    """``(package, name, object)`` for every public function or class of :data:`PACKAGES`."""
    out = []
    for pkg in PACKAGES:
        mod = importlib.import_module(pkg)
        for name in mod.__all__:
            obj = getattr(mod, name)
            if callable(obj) and not inspect.ismodule(obj):
                out.append((pkg, name, obj))
    return out


def _defining_modules() -> list[str]:
    return sorted({obj.__module__ for _, _, obj in public_callables()})


@pytest.mark.parametrize("pkg,name", [(p, n) for p, n, _ in public_callables()])
def test_public_callable_has_an_example(pkg, name):
    doc = inspect.getdoc(getattr(importlib.import_module(pkg), name)) or ""
    assert ">>>" in doc, f"{pkg}.{name} has no runnable example: add an 'Examples' section with >>> lines"


@pytest.mark.parametrize("modname", _defining_modules())
def test_docstring_examples_run(modname):
    mod = importlib.import_module(modname)
    # fresh globals, not the module's: an example must import what it uses (copy-paste runnable)
    tests = [t for t in doctest.DocTestFinder(exclude_empty=True).find(mod, globs={"__name__": "__doctest__"})
             if t.examples]
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    old = np.get_printoptions()
    try:
        for t in tests:
            runner.run(t, out=report.append)
    finally:
        np.set_printoptions(**old)
    assert runner.failures == 0, "".join(report)
