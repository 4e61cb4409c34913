"""Out-of-core cross products with dask.array over zarr row chunks equal the in-memory numpy result."""

from __future__ import annotations

import numpy as np
import pytest

import repscope as rs
from repscope.errors import InputError
from repscope.scale import CrossProducts, streamed_cross_products, streamed_layer_matrix
from repscope.store import StoreWriter


def _write_store(path, arrays, *, ids=None, chunk_rows=64, batch=50):
    n = len(next(iter(arrays.values())))
    ids = np.arange(n) if ids is None else ids
    w = StoreWriter(path, fingerprint={"test": str(path)}, n_total=n, dtype="float32", chunk_rows=chunk_rows)
    for s in range(0, n, batch):
        w.append({k: v[s : s + batch] for k, v in arrays.items()}, ids=ids[s : s + batch])
    w.finish()
    return rs.open_store(path)


def _data(seed=0, n=530):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 5))
    return {
        # a large mean offset (centring must be exact) and a conv-like 3-D layer
        "conv": (np.tanh(z @ rng.standard_normal((5, 24))) + 50.0).reshape(n, 4, 3, 2).astype(np.float32),
        "fc": (z @ rng.standard_normal((5, 11)) + rng.standard_normal((n, 11))).astype(np.float32),
        "logits": rng.standard_normal((n, 3)).astype(np.float32),
    }


def _assert_blocks_equal(cp, ref):
    assert cp.n == ref.n and cp.dims == ref.dims and sorted(cp.S) == sorted(ref.S)
    for key, R in ref.S.items():
        np.testing.assert_allclose(cp.S[key], R, rtol=1e-10, atol=1e-10 * np.abs(R).max())
    for m, r in zip(cp.means, ref.means):
        np.testing.assert_allclose(m, r, rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return _write_store(tmp_path_factory.mktemp("ooc") / "a.zarr", _data())


def test_streamed_equals_in_memory_local_schedulers(store):
    ref = CrossProducts.from_arrays({k: store.read(k) for k in store.layers})
    for scheduler in (None, "serial", "processes"):
        cp = streamed_cross_products(store, scheduler=scheduler, block_rows=64)
        _assert_blocks_equal(cp, ref)
    # different block sizes (not a multiple of the chunking; a single block) give the same blocks
    _assert_blocks_equal(streamed_cross_products(store, block_rows=100), ref)
    _assert_blocks_equal(streamed_cross_products(str(store.path), block_rows=10_000), ref)
    # and they are what centring in float64 gives: X̃ᵀỸ
    X, Y = store.read("conv").astype(np.float64), store.read("fc").astype(np.float64)
    np.testing.assert_allclose(cp.block(0, 1), (X - X.mean(0)).T @ (Y - Y.mean(0)), rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(cp.block(1, 0), cp.block(0, 1).T)


def test_streamed_on_dask_cluster_and_metrics(store, dask_client):
    ref = CrossProducts.from_arrays({k: store.read(k) for k in store.layers})
    cp = streamed_cross_products(store, ["conv", "fc", "logits"], scheduler=dask_client)
    _assert_blocks_equal(cp, ref)
    X, Y = store.read("conv"), store.read("fc")
    assert cp.linear_cka("conv", "fc") == pytest.approx(rs.metrics.linear_cka(X, Y), abs=1e-10)
    assert cp.procrustes("conv", "fc") == pytest.approx(rs.metrics.procrustes(X, Y), abs=1e-10)
    lm = streamed_layer_matrix(store, metric="linear_cka", scheduler=dask_client.scheduler.address)
    ref_lm = rs.metrics.layer_matrix(store, metric="linear_cka")
    assert lm.rows == ref_lm.rows == store.layers
    np.testing.assert_allclose(lm.values, ref_lm.values, rtol=0, atol=1e-10)
    pm = cp.matrix("procrustes")
    np.testing.assert_allclose(pm.values, rs.metrics.layer_matrix(store, metric="procrustes").values, atol=1e-10)
    assert pm.kind == "distance" and lm.kind == "similarity"


def test_two_stores_cross_blocks(tmp_path, store):
    other = {k: v[:, ::-1].copy() * 2 - 1 for k, v in
             {"a": _data(1)["fc"], "b": _data(2)["logits"]}.items()}
    sb = _write_store(tmp_path / "b.zarr", other, chunk_rows=32)
    cp = streamed_cross_products(store, ["conv", "fc"], sb, ["a", "b"], pairs="cross")
    ref = CrossProducts.from_arrays({k: store.read(k) for k in ["conv", "fc"]},
                                    {k: sb.read(k) for k in ["a", "b"]}, pairs="cross")
    _assert_blocks_equal(cp, ref)
    assert (0, 1) not in cp.S and (0, 2) in cp.S  # only self and A×B blocks
    lm = cp.matrix("linear_cka")
    assert lm.rows == ["conv", "fc"] and lm.cols == ["a", "b"]
    expected = rs.metrics.linear_cka(store.read("fc"), sb.read("b"))
    assert lm.values[1, 1] == pytest.approx(expected, abs=1e-10)


def test_captured_store_and_mapping_input(tmp_path, tiny_model, tiny_data):
    X, y = tiny_data
    s = rs.capture(tiny_model, X, ["conv", "fc", "out"], tmp_path / "cap.zarr", labels=y, batch_size=16,
                   chunk_rows=16, progress=False)
    ref = CrossProducts.from_arrays({k: s.read(k) for k in s.layers})
    _assert_blocks_equal(streamed_cross_products(s, block_rows=16), ref)
    _assert_blocks_equal(streamed_cross_products({k: s.read(k) for k in s.layers}, block_rows=7), ref)


def test_bad_inputs(tmp_path, store):
    with pytest.raises(InputError, match="no layer"):
        streamed_cross_products(store, ["nope"])
    with pytest.raises(InputError, match="pairs="):
        streamed_cross_products(store, pairs="some")
    with pytest.raises(InputError, match="not linear"):
        streamed_layer_matrix(store, metric="rbf_cka")
    with pytest.raises(InputError, match="different numbers of samples"):
        streamed_cross_products({"a": np.ones((5, 2)), "b": np.ones((6, 2))})
    data = _data(3, n=100)
    shuffled = _write_store(tmp_path / "s.zarr", data, ids=np.arange(100)[::-1].copy())
    same = _write_store(tmp_path / "t.zarr", data)
    with pytest.raises(InputError, match="sample_ids differ"):
        streamed_cross_products(same, None, shuffled)
    with pytest.raises(InputError, match="NaN/Inf"):
        bad = np.ones((20, 3))
        bad[5, 1] = np.nan
        streamed_cross_products({"x": bad})
    with pytest.raises(InputError, match="zero variance"):
        streamed_cross_products({"x": np.ones((20, 3)), "y": np.arange(60.0).reshape(20, 3)}).linear_cka(0, 1)
