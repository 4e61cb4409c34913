"""ResDMD residuals (Colbrook & Townsend): exact systems have zero residuals, noise modes are flagged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from repscope.dynamics import fit_dmd
from repscope.dynamics.dmd import resdmd_residuals
from repscope.errors import InputError


def _system(seed, K=6, T=60, noise_dims=0, n=3):
    rng = np.random.default_rng(seed)
    th = 0.3
    A = np.zeros((n, n))
    A[:2, :2] = 0.97 * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    A[2, 2] = 0.8
    X = np.empty((K, T, n))
    for k in range(K):
        x = rng.standard_normal(n)
        for t in range(T):
            X[k, t] = x
            x = A @ x
    if noise_dims:
        X = np.concatenate([X, 0.3 * rng.standard_normal((K, T, noise_dims))], axis=2)
    return A, X


def test_exact_linear_system_has_zero_residuals():
    A, X = _system(0)
    d = fit_dmd(X, rank=3)
    assert d.eig_residuals_.shape == (3,)
    assert np.all(d.eig_residuals_ < 1e-8) and not d.spurious_.any()
    held = d.residuals(_system(1)[1])
    assert held.held_out and np.all(held.residuals < 1e-8)


def test_noise_dimensions_give_flagged_eigenvalues():
    A, X = _system(2, noise_dims=2)
    d = fit_dmd(X, rank=5)
    true = np.linalg.eigvals(A)
    is_true = np.array([np.min(np.abs(true - e)) < 0.05 for e in d.eigenvalues_])
    assert is_true.sum() == 3
    res = d.residuals(_system(3, noise_dims=2)[1])  # held-out trials of the same system
    # genuine eigenvalues: small residual (noise enters the coordinates only weakly); noise modes: ≈ 1
    assert np.all(res.residuals[is_true] < 0.2)
    assert np.all(res.residuals[~is_true] > 0.7)
    np.testing.assert_array_equal(res.flagged, ~is_true)
    assert "2 of 5" in res.summary()
    assert json.dumps(res.to_dict(), allow_nan=False) and json.dumps(d.to_dict(), allow_nan=False)
    header, rows = d.table()
    assert header[-1] == "spurious" and len(rows) == 5


def test_residual_matches_gram_formula():
    """res² = gᴴ(L − λHᴴ − λ̄H + |λ|²G)g / gᴴGg (Colbrook & Townsend 2024, with G, H, L Gram matrices)."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((50, 4))
    Y = X @ rng.standard_normal((4, 4)) * 0.5 + 0.1 * rng.standard_normal((50, 4))
    A = np.linalg.lstsq(X, Y, rcond=None)[0].T
    res = resdmd_residuals(A, X, Y)
    w, Gv = np.linalg.eig(A.T)
    G, H, L = X.T @ X, X.T @ Y, Y.T @ Y
    for i in range(4):
        g, lam = Gv[:, i], w[i]
        num = g.conj() @ (L - lam * H.conj().T - np.conj(lam) * H + abs(lam) ** 2 * G) @ g
        assert res[i] == pytest.approx(np.sqrt((num / (g.conj() @ G @ g)).real), rel=1e-9)


def test_residuals_validation():
    _, X = _system(5)
    d = fit_dmd(X, rank=3)
    with pytest.raises(InputError, match="dimensions"):
        d.residuals(X[..., :2])
    with pytest.raises(InputError, match="resdmd_threshold"):
        fit_dmd(X, rank=3, resdmd_threshold=-1.0)


def test_residuals_agree_with_dsa_metric():
    """dsa-metric 2.0.2 DSA.resdmd.compute_residuals (float32) reports res² on held-out trials."""
    from pathlib import Path

    ref = json.loads((Path(__file__).parent / "data" / "dsa_metric_dmd.json").read_text())
    train, test = np.asarray(ref["train"]), np.asarray(ref["test"])
    for case in ref["cases"]:
        d = fit_dmd(train, case["n_delays"], rank=case["rank"])
        ours = np.sort(d.residuals(test).residuals ** 2)
        np.testing.assert_allclose(ours, case["res2"], rtol=5e-3, atol=1e-7)
