"""repscope.scale without the dask extra: importing it raises repscope's DependencyError naming the extra to
install, never a raw ModuleNotFoundError (and the CLI, which catches RepscopeError, prints it on one line)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import repscope

_CHILD = """
import sys
sys.modules[{mod!r}] = None  # what Python does for a module that is not installed: import raises ImportError
from repscope.errors import DependencyError, RepscopeError
try:
    import repscope.scale
except DependencyError as exc:
    assert isinstance(exc, RepscopeError) and isinstance(exc, ImportError)
    print(exc)
else:
    raise SystemExit("repscope.scale imported without " + {mod!r})
"""


@pytest.mark.parametrize("mod", ["dask", "distributed"])
def test_scale_without_dask_names_the_extra(mod):
    out = subprocess.run([sys.executable, "-c", _CHILD.format(mod=mod)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "pip install 'repscope[dask]'" in out.stdout
    assert mod in out.stdout  # the cause: which module could not be imported


def test_the_extra_named_is_the_one_pyproject_defines():
    pyproject = Path(repscope.__file__).parents[2] / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    assert any(dep.startswith("dask") for dep in extras["dask"])
