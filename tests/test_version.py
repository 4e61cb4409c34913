"""The version is written once, in the bottom-layer module ``repscope._version``: pyproject.toml reads it, the
package root re-exports it, and a store records it — so no module needs to import the package root for it."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import numpy as np

import repscope
from repscope import _version
from repscope.store import StoreWriter, open_store

ROOT = Path(repscope.__file__).parents[2]


def test_pyproject_reads_the_version_from_the_ground_floor_module():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in project["project"]["dynamic"] and "version" not in project["project"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "repscope._version.__version__"}
    assert repscope.__version__ is _version.__version__
    assert [int(p) for p in _version.__version__.split(".")[:2]]  # a release number, e.g. 0.1.0


def test_the_version_module_imports_nothing():
    tree = ast.parse(Path(_version.__file__).read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]


def test_a_store_records_the_version(tmp_path):
    w = StoreWriter(tmp_path / "s.zarr", fingerprint={"t": 1}, n_total=4, chunk_rows=4)
    w.append({"fc": np.arange(12, dtype=np.float32).reshape(4, 3)}, ids=np.arange(4))
    w.finish()
    assert open_store(tmp_path / "s.zarr").metadata["repscope_version"] == _version.__version__
