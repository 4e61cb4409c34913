"""Session-wide stores captured from the models in zoo.py (models the demo never uses)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def zoo_paths(tmp_path_factory):
    pytest.importorskip("transformers", reason="text extra not installed (make test installs it)")
    import zoo

    return zoo.capture_all(tmp_path_factory.mktemp("zoo"))


@pytest.fixture(scope="session")
def zoo_stores(zoo_paths):
    import repscope as rs

    return {k: rs.open_store(p) for k, p in zoo_paths.items()}
