"""Hyperparameter sweep: a partially observed 4-d linear system needs ≥ 4 delays and rank 4; statistics by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from repscope.dynamics import fit_dmd
from repscope.dynamics.sweep import prediction_stats, split_trials, sweep_dmd
from repscope.errors import InputError


def _observed_oscillators(seed=0, K=8, T=60, noise=1e-3, rho=(0.98, 0.95)):
    """y_t = first coordinate of each of two damped rotations (latent dim 4), summed with fixed weights."""
    rng = np.random.default_rng(seed)

    def rot(th, rho):
        return rho * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])

    A = np.zeros((4, 4))
    A[:2, :2], A[2:, 2:] = rot(0.35, rho[0]), rot(1.1, rho[1])
    C = np.array([[1.0, 0.0, 0.7, 0.0], [0.2, 0.0, -0.5, 0.0]])  # 2 observed dims, both need history
    Y = np.empty((K, T, 2))
    for k in range(K):
        x = rng.standard_normal(4)
        for t in range(T):
            Y[k, t] = C @ x
            x = A @ x
    return Y + noise * rng.standard_normal(Y.shape)


def test_sweep_picks_the_true_order():
    Y = _observed_oscillators()
    res = sweep_dmd(Y, n_delays=[1, 2, 4, 8], ranks=[1, 2, 3, 4, 6, 8])
    assert res.best_rank == 4 and res.best_n_delays >= 2  # 2 observed dims × 2 delays already span the 4-d state
    i1 = res.n_delays.index(1)
    j4 = res.ranks.index(4)
    # no delays: the 2-d observation is not Markov, prediction is much worse than with delays
    assert np.nanmin(res.relative_mse[0, i1, :]) > 100 * res.relative_mse[0, res.n_delays.index(4), j4]
    assert "n_delays" in res.summary() and res.table()[0][0] == "n_delays"
    assert json.dumps(res.to_dict(), allow_nan=False)


def test_prediction_statistics_by_hand():
    Y = _observed_oscillators(seed=1, noise=0.05)
    train, test = Y[:6], Y[6:]
    d = fit_dmd(train, 3, rank=5)
    st = prediction_stats(d, test)
    # by hand: embed, project, step, un-project, compare the current-state block
    preds, trues, prevs = [], [], []
    U, S = d.modes_, d.singular_values_[:5]
    for y in test:
        H = np.stack([np.r_[y[t], y[t - 1], y[t - 2]] for t in range(2, len(y))])
        V = H @ U / S
        Hn = ((V[:-1] @ d.A_.T) * S) @ U.T
        preds.append(Hn[:, :2])
        trues.append(y[3:])
        prevs.append(y[2:-1])
    P, T_, Pr = map(np.concatenate, (preds, trues, prevs))
    n = P.size
    sse = np.sum((P - T_) ** 2)
    assert st["mse"] == pytest.approx(sse / n, rel=1e-10)
    assert st["mase"] == pytest.approx(np.mean(np.abs(P - T_)) / np.mean(np.abs(Pr - T_)), rel=1e-10)
    assert st["aic"] == pytest.approx((n * np.log(sse / n) + 2 * (25 + 1)) / n, rel=1e-10)
    assert st["relative_mse"] == pytest.approx((sse / n) / np.mean((Pr - T_) ** 2), rel=1e-10)


def test_persistence_model_has_mase_one():
    """A DMD whose operator is the identity predicts x_{t+1} = x_t: MASE = relative MSE = 1 exactly."""
    rng = np.random.default_rng(2)
    X = np.cumsum(rng.standard_normal((4, 50, 3)), axis=1)
    d = fit_dmd(X[:3], rank=3)
    d.A_ = np.eye(3)
    st = prediction_stats(d, X[3:])
    assert st["mase"] == pytest.approx(1.0) and st["relative_mse"] == pytest.approx(1.0)


def test_split_and_common_choice_for_several_systems():
    Y = _observed_oscillators(seed=3)
    tr, te, how = split_trials(list(Y), 0.25, seed=0)
    assert len(te) == 2 and len(tr) == 6 and "2 of 8 trials" in how
    tr1, te1, how1 = split_trials([Y[0]], 0.2)
    assert tr1[0].shape[0] == 48 and te1[0].shape[0] == 12 and "time steps" in how1
    res = sweep_dmd([Y, _observed_oscillators(seed=4)], n_delays=[1, 4], ranks=[2, 4], names=["a", "b"])
    assert res.mse.shape == (2, 2, 2) and res.best_rank == 4 and res.best_n_delays == 4
    with pytest.raises(InputError, match="test_frac"):
        sweep_dmd(Y, test_frac=1.5)
    with pytest.raises(InputError, match="no \\(n_delays, rank\\)"):
        sweep_dmd(Y[:, :5], n_delays=[8], ranks=[2])
    with pytest.raises(InputError, match="no list of systems"):
        sweep_dmd(1.0, names=["a"])  # names= wants one system per name
    with pytest.raises(InputError, match="one input array that is no list"):
        sweep_dmd([Y, Y], names=["a", "b"], inputs=1.0)


def test_default_grid_runs_on_a_single_trial():
    # undamped modes, so that the held-out end of the single trial still shows all four dimensions
    Y = _observed_oscillators(seed=5, K=1, T=200, rho=(1.0, 1.0))
    res = sweep_dmd(Y[0])
    assert res.best_rank == 4 and "time steps" in res.split


def test_prediction_mse_agrees_with_dsa_metric():
    """dsa-metric 2.0.2 (float32) MSE of DMD.predict(reseed=1); it also counts the first (n_delays−1)+1 frames
    of each test trial, which its predict copies from the data (zero error): rescale ours to that count."""
    from pathlib import Path

    ref = json.loads((Path(__file__).parent / "data" / "dsa_metric_dmd.json").read_text())
    train, test = np.asarray(ref["train"]), np.asarray(ref["test"])
    for case in ref["cases"]:
        d = fit_dmd(train, case["n_delays"], rank=case["rank"])
        st = prediction_stats(d, test)
        K, T, N = test.shape
        mse_ref_frames = st["mse"] * st["n_values"] / (K * T * N)
        assert mse_ref_frames == pytest.approx(case["mse"], rel=1e-4)


def test_fit_dmd_ranks_equals_fit_dmd():
    from repscope.dynamics.dmd import fit_dmd_ranks

    Y = _observed_oscillators(seed=6, noise=0.05)
    fits = fit_dmd_ranks(Y, 3, 1, [1, 3, 6, 7])
    for r, f in zip([1, 3, 6], fits):
        ref = fit_dmd(Y, 3, rank=r)
        np.testing.assert_array_equal(f.A_, ref.A_)
        np.testing.assert_array_equal(f.eig_residuals_, ref.eig_residuals_)
    assert isinstance(fits[3], InputError)  # rank 7 > the 6-d embedding


def test_sweep_with_inputs_sweeps_dmdc():
    from repscope.dynamics.inputdsa import dmdc_predict, fit_dmdc

    rng = np.random.default_rng(7)
    A = rng.standard_normal((3, 3))
    A *= 0.9 / np.max(np.abs(np.linalg.eigvals(A)))
    B = rng.standard_normal((3, 2))
    U = rng.standard_normal((8, 60, 2))
    X = np.zeros((8, 60, 3))
    for k in range(8):
        x = rng.standard_normal(3)
        for t in range(60):
            X[k, t] = x
            x = A @ x + B @ U[k, t] + 0.01 * rng.standard_normal(3)
    res = sweep_dmd(X, n_delays=[1, 2], ranks=[1, 2, 3, 4], inputs=U)
    assert (res.best_n_delays, res.best_rank) == (1, 3) and res.params["model"] == "DMDc"
    # statistics by hand for one DMDc fit: predictions x̂_{t+1} = A x_t + B u_t on the held-out trials
    f = fit_dmdc(X[:6], U[:6], 1, rank=3)
    pred, true, prev = dmdc_predict(f, X[6:], U[6:])
    np.testing.assert_allclose(pred, np.concatenate([x[:-1] @ f.A_embedded_.T + u[:-1] @ f.B_embedded_.T
                                                     for x, u in zip(X[6:], U[6:])]), atol=1e-12)
    np.testing.assert_array_equal(true, X[6:, 1:].reshape(-1, 3))
    st = prediction_stats(f, X[6:], U[6:])
    n = pred.size
    sse = np.sum((pred - true) ** 2)
    assert st["aic"] == pytest.approx((n * np.log(sse / n) + 2 * (9 + 6 + 1)) / n)
    with pytest.raises(InputError, match="one per system"):
        sweep_dmd([X, X], names=["a", "b"], inputs=[U])
