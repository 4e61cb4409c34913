"""`repscope cluster` commands (registered by the lead via repscope.commands.scale.register)."""

from __future__ import annotations

import json

import numpy as np
import typer
from typer.testing import CliRunner

import repscope as rs
from repscope.commands.scale import register
from repscope.store import StoreWriter


def _app():
    app = typer.Typer()
    register(app)
    return app


def test_cluster_info_and_streamed_layer_matrix(tmp_path, dask_client):
    rng = np.random.default_rng(0)
    n = 200
    z = rng.standard_normal((n, 4))
    w = StoreWriter(tmp_path / "s.zarr", fingerprint={"cli": 1}, n_total=n, chunk_rows=32)
    w.append({"a": (z @ rng.standard_normal((4, 6))).astype(np.float32),
              "b": np.tanh(z @ rng.standard_normal((4, 5))).astype(np.float32)}, ids=np.arange(n))
    w.finish()
    runner = CliRunner()
    addr = dask_client.scheduler.address
    res = runner.invoke(_app(), ["cluster", "info", "--scheduler", addr, "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["n_workers"] == 2 and all(wk["blas_threads"] >= 1 for wk in info["workers"])
    res = runner.invoke(_app(), ["cluster", "layer-matrix", str(tmp_path / "s.zarr"), "--scheduler", addr,
                                 "--json", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    ref = rs.metrics.layer_matrix(rs.open_store(tmp_path / "s.zarr"), metric="linear_cka")
    np.testing.assert_allclose(np.asarray(got["values"], dtype=float), ref.values, atol=1e-10)
    assert (tmp_path / "out" / "layer_matrix_linear_cka.png").exists()
