"""repscope.scale — run repscope on a Dask cluster: many-pair jobs and out-of-core statistics.

::

    from repscope.parallel import map_pairs, use_scheduler
    map_pairs(func, items, pairs, scheduler="local:2")          # a LocalCluster for this call
    map_pairs(func, items, pairs, scheduler="tcp://head:8786")  # a running `dask scheduler`
    with use_scheduler("local:4"):                              # one cluster for every call inside
        rs.metrics.layer_matrix(store, metric="rbf_cka")

    from repscope.scale import streamed_cross_products
    cp = streamed_cross_products(store, layers=["conv1", "fc1"])   # dask.array over the zarr chunks
    cp.linear_cka("conv1", "fc1"), cp.procrustes("conv1", "fc1")

    from repscope.scale import sharded_layer_pairs      # two LLM-size stores: (i, j) blocks sharded
    res = sharded_layer_pairs("a.zarr", "b.zarr", scheduler="tcp://head:8786", n_shards=16)
    res["linear_cka"], res["debiased_cka"], res.peak_rss_per_worker()

See ``docs/scale-out.md`` for multi-node clusters (``dask scheduler`` / ``dask worker``).
"""

from __future__ import annotations

from repscope.errors import DependencyError

try:
    import dask  # noqa: F401
    import distributed  # noqa: F401
except ImportError as exc:
    raise DependencyError(
        f"repscope.scale needs Dask, which cannot be imported ({exc}); install it with pip install 'repscope[dask]'"
    ) from exc

from repscope.parallel.dask import client_for, cluster_info, configure_workers, local_cluster
from repscope.scale.linear import CrossProducts, streamed_cross_products, streamed_layer_matrix
from repscope.scale.sharded import ShardedPairs, ShardReport, sharded_layer_pairs

__all__ = [
    "CrossProducts",
    "streamed_cross_products",
    "streamed_layer_matrix",
    "sharded_layer_pairs",
    "ShardedPairs",
    "ShardReport",
    "client_for",
    "cluster_info",
    "configure_workers",
    "local_cluster",
]
