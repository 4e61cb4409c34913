"""The sample-side (n×n) formulation of the linear measures (repscope.metrics.gram): same values as the
covariance (d×d) route to 1e-10 over random shapes, known answers, and the automatic choice in single pairs,
layer matrices and the CLI — on a residual CNN captured with full feature maps."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import repscope as rs
import repscope.metrics as M
from repscope.errors import InputError
from repscope.metrics import gram, shape
from repscope.metrics._common import centre

#: (measure, options) of every registered measure with a sample-side finisher (checked below)
CASES = [
    ("linear_cka", {}), ("debiased_cka", {}), ("procrustes", {}),
    ("shape_metric", {}), ("shape_metric", {"score_method": "euclidean"}),
    ("cca", {}), ("cca", {"summary": "mean_sq"}), ("cca", {"summary": "yanai"}), ("cca", {"summary": "pillai"}),
    ("svcca", {}), ("svcca", {"threshold": 0.9}), ("svcca", {"n_components": 3}), ("svcca", {"n_components": (2, 4)}),
    ("pwcca", {}), ("linear_regression", {}), ("linear_regression", {"ridge": 1e-2}),
    ("linear_regression", {"direction": "x_to_y"}),
]


def _low_rank(rng, n, d, r):
    return rng.standard_normal((n, r)) @ rng.standard_normal((r, d))


def _pair(kind, seed):
    """Random pairs: n < d, n > d, rank-deficient (low rank with d > n and with d < n), d1 ≠ d2."""
    rng = np.random.default_rng(seed)
    if kind == "wide":  # n < d on both sides
        X = rng.standard_normal((30, 50))
        Y = X[:, :40] @ rng.standard_normal((40, 40)) * 0.3 + rng.standard_normal((30, 40))
    elif kind == "tall":  # n > d
        X = rng.standard_normal((80, 10))
        Y = X @ rng.standard_normal((10, 15)) * 0.5 + rng.standard_normal((80, 15))
    elif kind == "rank_wide":  # rank 5 and 7 in 100 and 60 features, n = 40
        X = _low_rank(rng, 40, 100, 5)
        Y = _low_rank(rng, 40, 60, 7) + X[:, :1]
    elif kind == "rank_tall":  # rank 3 of 12 features, n = 60
        X = _low_rank(rng, 60, 12, 3)
        Y = X[:, :6] + 0.5 * rng.standard_normal((60, 6))
    else:  # mixed: narrow X, wide Y, plus a large mean offset
        X = rng.standard_normal((60, 5)) + 40.0
        Y = np.hstack([X, rng.standard_normal((60, 115))]) @ rng.standard_normal((120, 120))
    return X, Y


KINDS = ["wide", "tall", "rank_wide", "rank_tall", "mixed"]


def test_every_linear_measure_has_a_sample_side_finisher():
    from repscope.metrics.engine import gram_measures, linear_measures

    assert {m for m, _ in CASES} <= set(gram_measures())
    builtin = {"linear_cka", "debiased_cka", "procrustes", "shape_metric", "cca", "svcca", "pwcca",
               "linear_regression"}
    assert builtin <= set(linear_measures()) and builtin <= set(gram_measures())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_formulations_agree_to_1e10(kind, seed):
    X, Y = _pair(kind, seed)
    for metric, kw in CASES:
        if metric == "pwcca" and kind == "wide":
            continue  # n < p + q: every ρ is 1, the weights are not unique (see pwcca's docstring)
        cov = M.similarity(X, Y, metric, formulation="covariance", **kw)
        g = M.similarity(X, Y, metric, formulation="gram", **kw)
        assert abs(cov - g) <= 1e-10 * max(1.0, abs(cov)), (kind, metric, kw, cov, g)
        if metric in ("cca", "linear_regression") and kw.get("direction", "mean") == "mean":
            assert abs(M.similarity(Y, X, metric, formulation="gram", **kw) - g) <= 1e-10 * max(1.0, abs(g))


@pytest.mark.parametrize("seed", [2, 3])
def test_partial_whitening_agrees_when_features_are_full_rank(seed):
    X, Y = _pair("tall", seed)
    for alpha in (0.0, 0.3, 0.7):
        cov = M.shape_distance(X, Y, alpha=alpha, formulation="covariance")
        assert abs(cov - M.shape_distance(X, Y, alpha=alpha, formulation="gram")) <= 1e-10


def test_partial_whitening_of_rank_deficient_features_matches_high_precision():
    """n < d: XᵀX has d − n + 1 zero eigenvalues; the d×d route whitens their rounding noise (errors
    ~1e-10), the n×n route treats them as exactly zero — and matches a 40-digit computation of netrep's
    definition."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    rng = np.random.default_rng(1)
    X = rng.standard_normal((10, 16))
    Y = 0.5 * X[:, :12] + rng.standard_normal((10, 12))

    def whitened(A, alpha, m, tol=1e-7):
        E, Q = mp.eigsy(A.T * A)
        lam = [max(E[i], mp.mpf(tol)) for i in range(A.cols)]
        lam_all = lam + [mp.mpf(tol)] * (m - A.cols)
        var = sum(alpha**2 * v + 2 * alpha * (1 - alpha) * mp.sqrt(v) + (1 - alpha) ** 2 for v in lam_all)
        c = mp.sqrt(sum(lam_all) / var)
        return A * Q * mp.diag([(alpha + (1 - alpha) / mp.sqrt(v)) * c for v in lam]) * Q.T

    def reference(alpha):
        Xm, Ym = mp.matrix(centre(X).tolist()), mp.matrix(centre(Y).tolist())
        Xp, Yp = whitened(Xm, alpha, 16), whitened(Ym, alpha, 16)
        nuc = sum(mp.svd_r(Xp.T * Yp, compute_uv=False))
        fro = mp.sqrt(sum(v**2 for v in Xp) * sum(v**2 for v in Yp))
        return float(mp.acos(nuc / fro))

    for alpha in (0.5, 0.9):
        assert abs(M.shape_distance(X, Y, alpha=alpha, formulation="gram") - reference(alpha)) < 1e-12


def test_svcca_keeps_the_same_directions_on_both_routes():
    """The component counts come from λ = σ² on the sample side and from eig(XᵀX) in feature space: equal."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((50, 80)) * np.geomspace(1, 1e-3, 80)  # decaying spectrum
    Xc = centre(X)
    lam_cov = np.linalg.eigvalsh(Xc.T @ Xc)[::-1].clip(0)
    lam_gram = gram.GramFactor(Xc).s ** 2
    for t in (0.5, 0.9, 0.99, 0.999, 1.0):
        assert shape._pca_keep(lam_cov, t) == shape._pca_keep(lam_gram, t)
    Y = X[:, :30] @ rng.standard_normal((30, 30)) + 0.1 * rng.standard_normal((50, 30))
    for t in (0.5, 0.9, 0.99):
        a = M.svcca(X, Y, threshold=t, formulation="covariance")
        assert abs(a - M.svcca(X, Y, threshold=t, formulation="gram")) < 1e-10


def test_pwcca_weights_agree_and_known_answer():
    rng = np.random.default_rng(5)
    X = _low_rank(rng, 40, 90, 6)  # wide but low rank: r_x + r_y ≤ n − 1, distinct ρ < 1
    Y = _low_rank(rng, 40, 70, 5) + 0.5 * X[:, :70]
    assert abs(M.pwcca(X, Y, formulation="covariance") - M.pwcca(X, Y, formulation="gram")) < 1e-10
    A = rng.standard_normal((90, 90))
    assert M.pwcca(X, X @ A, formulation="gram") == pytest.approx(1.0, abs=1e-10)


def test_known_answers_from_the_sample_side():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((20, 300))
    Q, _ = np.linalg.qr(rng.standard_normal((300, 300)))
    XQ = 3.0 * X @ Q
    assert M.linear_cka(X, XQ, formulation="gram") == pytest.approx(1.0, abs=1e-12)
    assert M.debiased_cka(X, XQ, formulation="gram") == pytest.approx(1.0, abs=1e-12)
    assert M.procrustes(X, XQ, formulation="gram") == pytest.approx(0.0, abs=1e-6)  # arccos near 1: √ε
    assert M.linear_regression(X, XQ, formulation="gram") == pytest.approx(1.0, abs=1e-12)
    # principal angles: span(X) and span(Y) in the centred sample space share e1, meet e2 at 60°, e3 at 90°
    n = 20
    B, _ = np.linalg.qr(centre(rng.standard_normal((n, 5))))
    Ux = B[:, :3]
    Uy = np.column_stack([B[:, 0], 0.5 * B[:, 1] + np.sqrt(0.75) * B[:, 3], B[:, 4]])
    Xw = Ux @ rng.standard_normal((3, 500))
    Yw = Uy @ rng.standard_normal((3, 400))
    rho = M.canonical_correlations(Xw, Yw, formulation="gram")
    np.testing.assert_allclose(rho, [1.0, 0.5, 0.0], atol=1e-12)
    assert M.cca(Xw, Yw, formulation="gram") == pytest.approx(0.5, abs=1e-12)


def test_rank_deficient_layers_take_the_stable_factor():
    """Several zero singular values: eigh of the Gram would put √ε·σ_max on each, so the factor comes from
    QR + SVD instead (``method == "svd"``); well-conditioned full-rank layers keep the cheap eigh."""
    rng = np.random.default_rng(7)
    low = gram.GramFactor(centre(_low_rank(rng, 40, 200, 5)))
    assert low.method == "svd" and low.s.size >= 5 and low.s[5:].max() < 1e-12 * low.s[0]
    full = gram.GramFactor(centre(rng.standard_normal((40, 200))))
    assert full.method == "eigh" and full.s.size == 39


def test_choice_of_formulation():
    assert gram.choose_pair(62, 6144, 6144) == "gram"
    assert gram.choose_pair(5000, 20, 30) == "covariance"
    assert gram.choose_pair(5000, 20, 30, "gram") == "gram"
    assert gram.choose_matrix(500, [16384] * 6, 15) == "gram"
    assert gram.choose_matrix(10000, [64] * 6, 15) == "covariance"
    with pytest.raises(InputError, match="formulation"):
        M.procrustes(np.eye(5), np.eye(5), formulation="fast")
    with pytest.raises(InputError, match="formulation"):
        M.layer_matrix({"a": np.eye(5), "b": np.eye(5)}, metric="cca", formulation="n2")


def _layers(n=24, seed=8):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, 6))
    out = {f"w{i}": base @ rng.standard_normal((6, 150)) + 0.3 * rng.standard_normal((n, 150)) for i in range(3)}
    out["r"] = _low_rank(rng, n, 120, 4) + base[:, :1]
    out["narrow"] = base[:, :4] + 0.1 * rng.standard_normal((n, 4))
    return out


@pytest.mark.parametrize("metric,kw", [c for c in CASES if c[0] != "pwcca"] + [("shape_metric", {"alpha": 0.5})])
def test_layer_matrix_routes_agree(metric, kw):
    """Wide layers (n = 24 ≪ d) take the gram route by default: equal to 1e-10 to the exact per-pair values of
    the covariance route; the covariance layer matrix itself finishes Procrustes from batched eigenvalues
    accurate to 1e-8 relative (shape.batched_singular_values), so it is compared at that level."""
    L = _layers()
    auto = M.layer_matrix(L, metric=metric, **kw)
    cov = M.layer_matrix(L, metric=metric, formulation="covariance", **kw)
    assert auto.meta["formulation"] == "gram" and cov.meta["formulation"] == "covariance"
    two = M.layer_matrix(L, L, metric=metric, formulation="gram", **kw)
    assert two.to_dict()["extra"]["formulation"] == "gram"
    ref = np.array([[M.similarity(L[a], L[b], metric, formulation="covariance", **kw) for b in L] for a in L])
    scale = max(1.0, np.abs(ref).max())
    tol = 1e-7 if kw.get("alpha", 1.0) < 1 else 1e-10  # α < 1 on rank-deficient layers: see above
    off = ~np.eye(len(L), dtype=bool)
    np.testing.assert_allclose(two.values[off], ref[off], rtol=0, atol=tol * scale)
    sym = M.get(metric).symmetric_for(kw)
    np.testing.assert_allclose(auto.values[off], (ref if not sym else np.triu(ref) + np.triu(ref, 1).T)[off],
                               rtol=0, atol=tol * scale)
    np.testing.assert_allclose(auto.values, cov.values, rtol=0, atol=1e-7 * scale)


def test_layer_matrix_pwcca_and_permutation_null_agree():
    rng = np.random.default_rng(9)
    base = rng.standard_normal((40, 4))
    L = {f"l{i}": (base + 0.5 * rng.standard_normal((40, 4))) @ rng.standard_normal((4, 90))
         + _low_rank(rng, 40, 90, 2) for i in range(3)}  # rank 6 each, distinct ρ < 1
    a = M.layer_matrix(L, metric="pwcca", formulation="gram")
    b = M.layer_matrix(L, metric="pwcca", formulation="covariance")
    np.testing.assert_allclose(a.values, b.values, atol=1e-10)
    pa = M.layer_matrix(L, metric="procrustes", n_perm=3, seed=1)
    pb = M.layer_matrix(L, metric="procrustes", n_perm=3, seed=1, formulation="covariance")
    assert pa.meta["formulation"] == "gram"
    np.testing.assert_allclose(pa.null_mean_, pb.null_mean_, atol=1e-10)
    ci = M.layer_matrix(L, metric="procrustes", n_boot=20, seed=1)
    assert np.all(ci.ci_low <= ci.ci_high + 1e-12)


class _ResCNN(nn.Module):
    """A residual CNN whose full feature maps (8 channels × 8 × 8 = 512 features) dwarf the 30 samples."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        h = torch.relu(h + self.conv2(torch.relu(self.conv1(h))))
        return self.head(h.mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def rescnn_store(tmp_path_factory):
    torch.manual_seed(0)
    X = np.random.default_rng(0).standard_normal((30, 1, 8, 8)).astype(np.float32)
    path = tmp_path_factory.mktemp("gram") / "rescnn.zarr"
    rs.capture(_ResCNN(), X, ["stem", "conv1", "conv2", "head"], path, pool="none", progress=False, overwrite=True)
    return path


def test_rescnn_store_api_and_cli(rescnn_store):
    from typer.testing import CliRunner

    from repscope.cli import app

    store = rs.open_store(rescnn_store)
    metrics = ["linear_cka", "procrustes", "svcca", "cca"]
    auto = M.layer_matrices(store, metrics=metrics)
    cov = M.layer_matrices(store, metrics=metrics, formulation="covariance")
    for a, c in zip(auto, cov):
        assert a.meta["formulation"] == "gram" and c.meta["formulation"] == "covariance"
        np.testing.assert_allclose(a.values, c.values, atol=1e-9)
    outs = {}
    for form in ("gram", "covariance"):
        res = CliRunner().invoke(app, ["compare", str(rescnn_store), "--metric", "procrustes,svcca", "--json",
                                       "--quiet", "--formulation", form])
        assert res.exit_code == 0, res.output
        outs[form] = json.loads(res.output)["results"]
    for g, c in zip(outs["gram"], outs["covariance"]):
        assert g["extra"]["formulation"] == "gram" and c["extra"]["formulation"] == "covariance"
        np.testing.assert_allclose(np.array(g["values"], dtype=float), np.array(c["values"], dtype=float), atol=1e-9)
    bad = CliRunner().invoke(app, ["compare", str(rescnn_store), "--formulation", "fast", "--quiet"])
    assert bad.exit_code != 0 and "formulation" in str(bad.exception or bad.output)
