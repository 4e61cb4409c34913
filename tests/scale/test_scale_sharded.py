"""Sharded exact streaming (repscope.scale.sharded): equal to the in-memory measures to 1e-10, every worker
holds only its share of the blocks, stores matched by sample ids."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import repscope as rs
from repscope.errors import InputError
from repscope.metrics import cka, shape
from repscope.scale.sharded import plan_shards, shard_memory, sharded_layer_pairs
from repscope.store import StoreWriter

REF = {
    "linear_cka": cka.linear_cka,
    "debiased_cka": cka.debiased_cka,
    "procrustes": shape.procrustes,
    "cca": shape.cca,
    "svcca": shape.svcca,
}


def _residual(seed, n, n_layers, d, offset=0.0):
    """Layers correlated like a residual stream: h_{l+1} = h_l + f(h_l) + noise, with a large mean offset."""
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((n, d))
    out = {}
    for layer in range(n_layers):
        h = h + 0.5 * np.tanh(h @ rng.standard_normal((d, d)) / np.sqrt(d)) + 0.3 * rng.standard_normal((n, d))
        out[f"h{layer}"] = h + offset
    return out


def _check(res, A, B, metrics=tuple(REF), atol=1e-10):
    for metric in metrics:
        M = res[metric].values
        for a, la in enumerate(A):
            for b, lb in enumerate(B):
                if A is B and a == b:  # the registry's identity (arccos(1 − rounding) is ~1e-8, not 0)
                    assert M[a, b] == rs.metrics.registry.get(metric).identity
                    continue
                want = REF[metric](A[la], B[lb])
                assert M[a, b] == pytest.approx(want, abs=atol, rel=atol), (metric, la, lb)


def test_two_sources_equal_in_memory_measures_serial():
    A = _residual(0, 400, 3, 6, offset=1e4)  # the offset makes naive Σxxᵀ − nμμᵀ lose ~8 digits
    B = {k: v[:, :5] @ np.random.default_rng(1).standard_normal((5, 7)) + 0.2 * v[:, 1:2]
         for k, v in _residual(2, 400, 2, 6).items()}
    res = sharded_layer_pairs(A, B, n_shards=3)
    _check(res, A, B)
    assert res["linear_cka"].values.shape == (3, 2)


def test_measured_memory_covers_the_blocks_held():
    # in a fresh process: in a long test session freed memory is reused and the peak barely moves
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_scale_sharded import _residual\n"
        "from repscope.scale import sharded_layer_pairs\n"
        "A = _residual(12, 600, 2, 300)\n"
        "(s,) = sharded_layer_pairs(A, A, metrics=['linear_cka'], n_shards=1).shards\n"
        "print(s.bytes_blocks, s.bytes_model['blocks'], s.peak_rss - s.rss_at_start)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    held, model, grown = map(int, out.stdout.split())
    assert held == 8 * 300**2 * (4 + 4) == model  # 4 cross + 4 self blocks
    assert grown >= held // 2


def test_within_one_source_all_pairs_and_diagonal():
    A = _residual(3, 300, 4, 5, offset=-300.0)
    res = sharded_layer_pairs(A, metrics=["linear_cka", "debiased_cka", "procrustes", "pwcca"], n_shards=2)
    REF["pwcca"] = shape.pwcca  # not symmetric: both triangles finished
    try:
        _check(res, A, A, metrics=["linear_cka", "debiased_cka", "procrustes", "pwcca"])
    finally:
        del REF["pwcca"]


def test_float32_gemms_close_to_float64():
    A = _residual(4, 3000, 2, 8, offset=50.0)
    B = _residual(5, 3000, 2, 8)
    exact = sharded_layer_pairs(A, B, metrics=["linear_cka", "debiased_cka"])
    low = sharded_layer_pairs({k: v.astype(np.float16) for k, v in A.items()}, B, metrics=["linear_cka"],
                              precision="float32")
    ref16 = sharded_layer_pairs({k: v.astype(np.float16) for k, v in A.items()}, B, metrics=["linear_cka"])
    np.testing.assert_allclose(low["linear_cka"].values, ref16["linear_cka"].values, rtol=1e-5)
    assert np.all(np.isfinite(exact["debiased_cka"].values))


def test_plan_covers_every_pair_once_and_balances():
    for na, nb, k in [(8, 8, 2), (8, 8, 4), (32, 32, 16), (5, 3, 7), (3, 4, 1)]:
        plan = plan_shards(na, nb, k)
        got = sorted(p for sh in plan for p in sh.pairs)
        assert got == [(i, j) for i in range(na) for j in range(nb)]
        sizes = [len(sh.pairs) for sh in plan]
        assert max(sizes) <= 2 * -(-na * nb // len(plan))
    plan = plan_shards(9, None, 3)
    got = sorted(p for sh in plan for p in sh.pairs)
    assert got == [(i, j) for i in range(9) for j in range(i + 1, 9)]
    assert max(len(s.pairs) for s in plan) <= 2 * min(len(s.pairs) for s in plan)
    # 32 × 32 layers of 4096 on 16 shards: 4 × 4 tiles of 8 × 8, 80 blocks of 134 MB each (module docstring)
    plan = plan_shards(32, 32, 16)
    mem = shard_memory([4096] * 32, [4096] * 32, plan[0], 1024)
    assert mem["blocks"] == 8 * 4096**2 * (64 + 16)


def _write_store(path, arrays, ids, chunk_rows=64):
    n = len(ids)
    w = StoreWriter(path, fingerprint={"test": str(path)}, n_total=n, dtype="float32", chunk_rows=chunk_rows)
    for s in range(0, n, 50):
        w.append({k: v[s : s + 50].astype(np.float32) for k, v in arrays.items()}, ids=ids[s : s + 50])
    w.finish()
    return rs.open_store(path)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Two stores of the same samples in different orders (B permuted, with 20 extra samples)."""
    root = tmp_path_factory.mktemp("sharded")
    n = 350
    A = {k: v.astype(np.float32) for k, v in _residual(6, n, 4, 6, offset=20.0).items()}
    extra = _residual(7, n + 20, 3, 5)
    ids_b = np.random.default_rng(8).permutation(np.arange(n + 20) - 10)  # ids −10 … n+9; common: 0 … n−1
    B = {k: v.astype(np.float32) for k, v in extra.items()}
    sa = _write_store(root / "a.zarr", A, np.arange(n))
    sb = _write_store(root / "b.zarr", B, ids_b)
    keep = np.argsort(ids_b)[10 : 10 + n]  # rows of B holding ids 0 … n−1, in A's order
    return sa, sb, A, {k: v[keep] for k, v in B.items()}


def test_two_stores_matched_by_sample_ids_serial(stores):
    sa, sb, A, B = stores
    res = sharded_layer_pairs(sa, str(sb.path), n_shards=4)
    assert res.n == len(next(iter(A.values())))
    _check(res, {k: v.astype(np.float64) for k, v in A.items()}, {k: v.astype(np.float64) for k, v in B.items()})


def test_dask_local_cluster_each_worker_holds_only_its_share(stores, dask_client):
    sa, sb, A, B = stores
    res = sharded_layer_pairs(sa, sb, scheduler=dask_client, return_blocks=True)
    _check(res, {k: v.astype(np.float64) for k, v in A.items()}, {k: v.astype(np.float64) for k, v in B.items()})
    workers = sorted(dask_client.scheduler_info()["workers"])
    assert len(res.shards) == 2 and sorted(s.worker for s in res.shards) == workers  # one shard per worker
    held = [set(s.cross_blocks) for s in res.shards]
    assert held[0].isdisjoint(held[1])
    assert held[0] | held[1] == {(a, b) for a in sa.layers for b in sb.layers}
    for s, blocks in zip(res.shards, res.blocks):
        assert len(s.cross_blocks) == 6  # 4 × 3 blocks, half each (a 2 × 3 tile)
        layers_a = {b[1] for b in s.self_blocks if b[0] == "a"}
        layers_b = {b[1] for b in s.self_blocks if b[0] == "b"}
        assert {a for a, _ in s.cross_blocks} == layers_a and {b for _, b in s.cross_blocks} == layers_b
        assert len(blocks) == 6 + len(s.self_blocks)  # nothing else was accumulated
        assert s.bytes_blocks == s.bytes_model["blocks"]
        assert s.peak_rss > 0 and s.rows == res.n
    # the shard that holds a block has its exact value: compare one cross block with numpy
    s0, b0 = res.shards[0], res.blocks[0]
    a_name, b_name = s0.cross_blocks[0]
    key = next(k for k in b0 if k.startswith("a") and ",b" in k)
    X = A[a_name].astype(np.float64) - A[a_name].astype(np.float64).mean(0)
    Y = B[b_name].astype(np.float64) - B[b_name].astype(np.float64).mean(0)
    np.testing.assert_allclose(b0[key], X.T @ Y, rtol=1e-10, atol=1e-8)


def test_local_n_scheduler_string(stores):
    sa, sb, A, B = stores
    res = sharded_layer_pairs(sa, sb, metrics=["linear_cka"], scheduler="local:2", n_shards=3)
    _check(res, {k: v.astype(np.float64) for k, v in A.items()}, {k: v.astype(np.float64) for k, v in B.items()},
           metrics=["linear_cka"])
    assert len(res.shards) == 3 and len(res.peak_rss_per_worker()) <= 2
    assert "peak RSS" in res.summary() and res.to_dict()["shards"][0]["cross_blocks"]
    head, rows = res.table()
    assert len(rows) == 3 and sum(r[2] for r in rows) == 4 * 3


def test_errors_name_the_fix():
    A = _residual(9, 50, 2, 3)
    with pytest.raises(InputError, match="choose from"):
        sharded_layer_pairs(A, A, metrics=["rbf_cka"])
    with pytest.raises(InputError, match="same samples"):
        sharded_layer_pairs(A, {k: v[:40] for k, v in A.items()})
    with pytest.raises(InputError, match="precision"):
        sharded_layer_pairs(A, A, precision="float16")
    bad = dict(A)
    bad["h0"] = bad["h0"].copy()
    bad["h0"][3, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        sharded_layer_pairs(bad, A)


def test_torch_accumulator_path_equals_numpy():
    """The device path (torch tensors; device="cuda" on a GPU) run on the CPU: same values to 1e-10."""
    import torch
    A = _residual(10, 200, 2, 5, offset=100.0)
    B = _residual(11, 200, 2, 4)
    res = sharded_layer_pairs(A, B, device=torch.device("cpu"), n_shards=2)
    _check(res, A, B)
    low = sharded_layer_pairs(A, B, device=torch.device("cpu"), precision="float32", metrics=["linear_cka"])
    np.testing.assert_allclose(low["linear_cka"].values, res["linear_cka"].values, rtol=1e-5)


def _residual_mlp(seed):
    """A file-defined residual MLP (a transformer's residual stream without attention)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mlp = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8))

        def forward(self, h):
            return h + self.mlp(h)

    class ResidualMLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Linear(5, 8)
            self.blocks = nn.Sequential(Block(), Block(), Block())

        def forward(self, x):
            return self.blocks(self.embed(x))

    return ResidualMLP().eval()


def test_captured_residual_models_two_stores(tmp_path):
    import torch

    X = torch.randn(150, 5, generator=torch.Generator().manual_seed(0))
    layers = ["blocks.0", "blocks.1", "blocks.2"]
    sa = rs.capture(_residual_mlp(0), X, layers, tmp_path / "a.zarr", batch_size=32, chunk_rows=32, progress=False)
    sb = rs.capture(_residual_mlp(1), X, layers, tmp_path / "b.zarr", batch_size=32, chunk_rows=32, progress=False)
    res = sharded_layer_pairs(sa, sb, n_shards=2, block_rows=40)
    _check(res, {k: sa.read(k).astype(np.float64) for k in layers}, {k: sb.read(k).astype(np.float64) for k in layers})
