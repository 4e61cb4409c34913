"""The one streaming engine: block rule, exact merge, registry finishers, in-process == Dask."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import repscope.metrics as M
from repscope.errors import InputError
from repscope.metrics import engine, registry


def _layers(n=120, seed=0, offset=40.0):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, 4))
    return {f"l{i}": base @ rng.standard_normal((4, d)) + (0.5 + 0.3 * i) * rng.standard_normal((n, d)) + offset
            for i, d in enumerate([6, 3, 9])}


def test_block_rule_one_place():
    assert engine.auto_block_rows([512] * 6, 10**6) == (64 << 20) // (8 * 3072)
    assert engine.auto_block_rows([10], 100) == 100  # at most n
    assert engine.auto_block_rows([10**6], 10**6) == engine.MIN_BLOCK_ROWS  # at least 256
    assert engine.auto_block_rows([512] * 6, 10**6, native=1000) % 1000 == 0
    assert engine.auto_block_rows([10**6], 10**6, native=4096) == 4096  # at least one chunk


def test_merge_is_exact_chan_update():
    L = list(_layers().values())
    pairs = [(0, 0), (0, 2), (1, 2)]
    parts = [engine.block_moments([x[s : s + 37] for x in L], pairs) for s in range(0, 120, 37)]
    n, means, S = engine.merge_moments(parts[0], *parts[1:])
    assert n == 120
    for (i, j), G in S.items():
        Xc, Yc = L[i] - L[i].mean(0), L[j] - L[j].mean(0)
        np.testing.assert_allclose(G, Xc.T @ Yc, rtol=1e-11, atol=1e-9)
    np.testing.assert_allclose(means[2], L[2].mean(0), rtol=1e-14)


def test_registry_finishers_match_array_functions():
    L = _layers(offset=0.0)
    X, Y = L["l0"], L["l2"]
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Sxx, Syy, Sxy = Xc.T @ Xc, Yc.T @ Yc, Xc.T @ Yc
    qx, qy = (Xc**2).sum(1), (Yc**2).sum(1)
    for name in engine.linear_measures():
        got = engine.finish_pair(name, Sxx, Syy, Sxy, n=len(X), qx=qx, qy=qy)
        assert got == pytest.approx(M.similarity(X, Y, name), abs=1e-10), name
    assert set(engine.linear_measures()) >= {"linear_cka", "debiased_cka", "procrustes", "cca", "pwcca"}
    with pytest.raises(InputError, match="takes no options"):
        engine.finish_pair("procrustes", Sxx, Syy, Sxy, n=len(X), alpha=0.3)
    with pytest.raises(InputError, match="has no option"):
        engine.finish_pair("cca", Sxx, Syy, Sxy, n=len(X), alpha=0.3)
    with pytest.raises(InputError, match="cannot be finished"):
        engine.finish_pair("rsa", Sxx, Syy, Sxy, n=len(X))


def test_identity_and_symmetry_come_from_the_registry():
    L = _layers()
    pil = M.layer_matrix(L, metric="cca", summary="pillai").values
    ranks = [min(len(L[k]) - 1, L[k].shape[1]) for k in L]
    np.testing.assert_allclose(np.diag(pil), ranks, atol=1e-8)  # Σρ² of X with itself = its rank
    assert registry.get("cca").identity_for({}) == 1.0
    assert registry.get("linear_regression").symmetric_for({"direction": "x_to_y"}) is False
    # functools.partial finishers re-register under the same name (no __qualname__ on partials)
    f = functools.partial(M.linear_cka, debiased=False)
    registry.register("test_partial_measure", f, kind="similarity", value_range=(0.0, 1.0), description="")
    registry.register("test_partial_measure", functools.partial(M.linear_cka, debiased=False),
                      kind="similarity", value_range=(0.0, 1.0), description="")
    with pytest.raises(InputError, match="already registered"):
        registry.register("test_partial_measure", functools.partial(M.linear_cka, debiased=True),
                          kind="similarity", value_range=(0.0, 1.0), description="")
    registry._REGISTRY.pop("test_partial_measure")


def test_in_process_and_dask_paths_share_the_finishers():
    from repscope.scale import streamed_cross_products, streamed_layer_matrix

    L = _layers(n=90)
    cp = streamed_cross_products(L, block_rows=25, scheduler="serial", row_norms=True)
    for name in ["linear_cka", "debiased_cka", "procrustes", "svcca"]:
        ref = M.layer_matrix(L, metric=name, block_rows=13).values
        np.testing.assert_allclose(cp.matrix(name).values, ref, rtol=0, atol=1e-10)
    dask_dcka = streamed_layer_matrix(L, metric="debiased_cka", scheduler="serial").values
    np.testing.assert_allclose(dask_dcka, M.layer_matrix(L, metric="debiased_cka").values, atol=1e-10)
    no_q = streamed_cross_products(L, scheduler="serial")
    with pytest.raises(InputError, match="row norms"):
        no_q.matrix("debiased_cka")


def test_batched_finishing_equals_per_pair_svd_path():
    """Batched eigenvalue route (full-rank pairs) and the SVD fallback (a rank-deficient layer) both agree
    with the per-pair array functions."""
    rng = np.random.default_rng(5)
    n = 300
    base = rng.standard_normal((n, 8))
    L = {f"f{i}": base @ rng.standard_normal((8, 20)) + rng.standard_normal((n, 20)) for i in range(3)}
    L["lowrank"] = base @ rng.standard_normal((8, 20))  # rank 8 of 20: ill-conditioned Gram → SVD path
    for name, kw in [("procrustes", {}), ("cca", {}), ("svcca", {}), ("pwcca", {}), ("shape_metric", {"alpha": 0.3}),
                     ("shape_metric", {"alpha": 0.7, "score_method": "euclidean"})]:
        got = M.layer_matrix(L, metric=name, **kw).values
        ref = np.array([[M.similarity(L[a], L[b], name, **kw) if a != b else got[0, 0] for b in L] for a in L])
        np.testing.assert_allclose(got, ref, atol=1e-9, err_msg=name)
    svs = M.shape.batched_singular_values([L["f0"].T @ L["f1"], L["lowrank"].T @ L["lowrank"]])
    np.testing.assert_allclose(svs[0], np.linalg.svd(L["f0"].T @ L["f1"], compute_uv=False), rtol=1e-10)
    assert svs[1] is None  # rank 8 of 20: handed to the SVD


def test_float32_accumulation_error_is_below_1e6_relative():
    rng = np.random.default_rng(1)
    n = 6000
    base = rng.standard_normal((n, 16))
    L = {f"l{i}": (base @ rng.standard_normal((16, d)) + 0.5 * rng.standard_normal((n, d)) + 100.0).astype(np.float32)
         for i, d in enumerate([64, 90, 31])}
    ref = M.layer_matrix(L, metric="linear_cka").values
    for other in (None, dict(L)):  # stacked SYRK path and the cross-source GEMM path
        got = M.layer_matrix(L, other, metric="linear_cka", precision="float32", block_rows=2500).values
        assert np.abs(got / ref - 1).max() <= 1e-6
    with pytest.raises(InputError, match="linear_cka alone"):
        M.layer_matrices(L, metrics="linear_cka,procrustes", precision="float32")
    with pytest.raises(InputError, match="precision="):
        M.layer_matrix(L, precision="float16")


@pytest.mark.parametrize("debiased", [False, True])
def test_rbf_cka_streamed_gram_rows_equal_dense(monkeypatch, debiased):
    """Above RBF_DENSE_MAX_N the Gram matrices are streamed in row blocks (exact two-pass median); the
    value equals the dense n×n computation — also for an odd n² (median of two middle order statistics)."""
    from repscope.metrics import cka

    rng = np.random.default_rng(0)
    n = 301
    b = rng.standard_normal((n, 3))
    X = np.tanh(b @ rng.standard_normal((3, 10))) + 0.3 * rng.standard_normal((n, 10))
    Y = b @ rng.standard_normal((3, 6)) + rng.standard_normal((n, 6))
    L = {"x": X, "y": Y, "z": rng.standard_normal((n, 4))}
    ref = cka.rbf_cka(X, Y, 0.8, debiased=debiased)
    ref_m = M.layer_matrix(L, metric="rbf_cka", debiased=debiased).values
    monkeypatch.setattr(cka, "RBF_DENSE_MAX_N", 10)
    monkeypatch.setattr(cka, "RBF_BLOCK_BYTES", 8 * n * 37)  # 37 rows per block
    assert cka.rbf_cka(X, Y, 0.8, debiased=debiased) == pytest.approx(ref, abs=1e-12)
    blocked = cka._BlockedRBF(cka.single(X), 1.0, False)
    Xc = X - X.mean(0)
    D = np.maximum((Xc**2).sum(1)[:, None] + (Xc**2).sum(1)[None] - 2 * Xc @ Xc.T, 0)
    np.fill_diagonal(D, 0)
    assert blocked.scale / 2 == pytest.approx(np.median(D), rel=1e-12)
    np.testing.assert_allclose(M.layer_matrix(L, metric="rbf_cka", debiased=debiased).values, ref_m, atol=1e-12)
