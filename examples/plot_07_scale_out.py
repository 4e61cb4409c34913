"""
Scaling out: a local Dask cluster
=================================

Every many-pair job goes through one runner that runs serially, in local processes or on a Dask cluster;
linear statistics stream over the zarr chunks of a store (:mod:`repscope.scale`). Here a 2-worker
``LocalCluster`` (``"local:2"``) computes a non-linear layer matrix and a streamed linear one of a small
store, and both are checked against the serial, in-memory results. On a real cluster use
``"tcp://head:8786"`` or set ``REPSCOPE_SCHEDULER`` (see :doc:`/scale-out`).
"""

import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

import repscope as rs
from repscope.parallel import use_scheduler
from repscope.scale import streamed_layer_matrix

# %%
# A small store: an untrained 3-layer MLP on 300 random inputs (the zarr store is chunked by rows).
torch.manual_seed(0)
mlp = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 8))
X = torch.randn(300, 16)
work = Path(tempfile.mkdtemp(prefix="repscope-dask-"))
store = rs.capture(mlp, X, layers=["0", "2", "4"], out=work / "mlp.zarr", progress=False)
serial_rbf = rs.metrics.layer_matrix(store, metric="rbf_cka")
serial_cka = rs.metrics.layer_matrix(store, metric="linear_cka")

# %%
# ``use_scheduler("local:2")`` starts one cluster for the block and makes it the default of every runner
# call inside (a started cluster is always used; ``scheduler="local:2"`` on a single call instead lets the
# runner stay serial when workers cannot pay for themselves). The runner ships each layer once per worker
# and pins BLAS threads so that workers × threads never exceed the cores. Worker processes re-import the
# main module of a script, hence the ``__main__`` guard.
if __name__ == "__main__":
    with use_scheduler("local:2") as client:
        print("workers:", len(client.scheduler_info()["workers"]))
        on_dask = rs.metrics.layer_matrix(store, metric="rbf_cka")                 # many-pair job on Dask
        streamed = streamed_layer_matrix(store, metric="linear_cka", scheduler=client)  # chunks on Dask
    print(np.round(on_dask.values, 4))
    print("RBF CKA, max |dask − serial| =", float(np.abs(on_dask.values - serial_rbf.values).max()))
    print("linear CKA, max |streamed − in memory| =", float(np.abs(streamed.values - serial_cka.values).max()))
    assert np.allclose(on_dask.values, serial_rbf.values, atol=1e-10)
    assert np.allclose(streamed.values, serial_cka.values, atol=1e-10)
    streamed.plot()
