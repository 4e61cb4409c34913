"""No public name is both a module and a function: for every submodule ``m`` of every package ``p`` under
repscope, ``p.m`` *is* that module after everything is imported (a function re-exported under a module's name
would hide the module: ``repscope.metrics.rsa.compare_rdms`` raised AttributeError). A module whose name
would equal a public function of its package carries a leading underscore (``metrics/_rsa.py``).
``repscope.capture`` is the one callable module, by design (see :mod:`repscope.capture`)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types

import numpy as np
import pytest

#: Modules meant to be called, with the function a call runs.
CALLABLE_MODULES = {"repscope.capture": "repscope.capture.core.capture"}


def _walk(name: str) -> list[tuple[str, str]]:
    """[(package, submodule name)] for every package at or under ``name``, every submodule imported."""
    pkg = importlib.import_module(name)
    out = []
    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{name}.{info.name}")
        out.append((name, info.name))
        if info.ispkg:
            out += _walk(f"{name}.{info.name}")
    return out


def test_every_submodule_is_its_packages_attribute():
    pairs = _walk("repscope")
    assert ("repscope.metrics", "_rsa") in pairs and ("repscope", "capture") in pairs  # the walk is complete
    bad = []
    for parent, child in pairs:
        pkg = importlib.import_module(parent)
        got = getattr(pkg, child)
        if got is not importlib.import_module(f"{parent}.{child}"):
            bad.append(f"{parent}.{child} is a {type(got).__name__}, not the module")
    assert not bad, "names that are both a module and something else:\n" + "\n".join(bad)


def test_modules_are_callable_only_when_documented():
    callables = set()
    for parent, child in _walk("repscope"):
        mod = importlib.import_module(f"{parent}.{child}")
        if callable(mod):
            callables.add(mod.__name__)
    assert callables == set(CALLABLE_MODULES)
    for name, func in CALLABLE_MODULES.items():
        mod = importlib.import_module(name)
        target = getattr(importlib.import_module(func.rpartition(".")[0]), func.rpartition(".")[2])
        assert isinstance(mod, types.ModuleType)
        assert inspect.signature(mod) == inspect.signature(target)
        assert "callable" in (mod.__doc__ or "")


def test_capture_is_the_package_and_captures(tmp_path):
    torch = pytest.importorskip("torch")
    import repscope as rs
    from repscope.capture import select  # the submodule, reachable as an attribute too

    assert rs.capture is importlib.import_module("repscope.capture")
    assert rs.capture.select is select and callable(rs.capture.select.select_layers)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    X = torch.randn(8, 3)
    table = rs.capture.list_layers(net, X[:2])
    assert [r.name for r in table.rows] == ["0", "1", "2"]
    store = rs.capture(net, X, layers=["0", "2"], out=tmp_path / "a.zarr")
    with torch.no_grad():
        want = net(X).numpy()
    np.testing.assert_allclose(store.read("2"), want, rtol=1e-6, atol=1e-6)
    assert store.read("0").shape == (8, 5)
    assert rs.capture.capture is importlib.import_module("repscope.capture.core").capture
