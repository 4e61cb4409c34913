"""Each lens's pairwise job on a real 2-worker LocalCluster equals its serial result."""

from __future__ import annotations

import numpy as np


def _layers(seed=0, n=120):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, 6))
    return {f"l{i}": np.tanh(base @ rng.standard_normal((6, 10 + 3 * i))) for i in range(4)}


def test_generic_layer_matrix_on_dask_equals_serial(dask_client):
    from repscope.metrics import layer_matrix

    src = _layers()
    for metric in ("rsa", "mutual_knn"):
        serial = layer_matrix(src, metric=metric).values
        dist = layer_matrix(src, metric=metric, scheduler=dask_client).values
        np.testing.assert_allclose(dist, serial, rtol=0, atol=1e-12)


def test_ph_layer_matrix_on_dask_equals_serial(dask_client):
    from repscope.topology import ph_layer_matrix

    src = _layers(1, n=80)
    a = ph_layer_matrix(src, cloud="flatten", seed=0).values
    b = ph_layer_matrix(src, cloud="flatten", seed=0, scheduler=dask_client).values
    assert a.shape == (4, 4) and a[0, 1] > 0
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-12)


def test_dsa_matrix_on_dask_equals_serial(dask_client):
    from repscope.dynamics import dsa_matrix
    from repscope.experiments.dynamics.testcases import attractors

    systems = attractors(n_per_kind=1, n_trials=5, n_steps=40, seed=0).systems
    a = dsa_matrix(systems, n_delays=3, rank=6, seed=0).distances
    b = dsa_matrix(systems, n_delays=3, rank=6, seed=0, scheduler=dask_client).distances
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-9)
