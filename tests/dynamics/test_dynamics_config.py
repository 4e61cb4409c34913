"""DSAConfig: one validated parameter object shared by DSA, InputDSA, their matrices, the sweep and the lens."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from repscope.dynamics import (
    DSA,
    DSAConfig,
    dsa,
    dsa_matrix,
    input_dsa,
    input_dsa_matrix,
    sweep_dmd,
)
from repscope.errors import InputError


def _rotation_system(theta: float, T: int = 120, seed: int = 0) -> np.ndarray:
    """A damped 2-D rotation by ``theta`` per step, observed in 3 dimensions."""
    rng = np.random.default_rng(seed)
    A = 0.97 * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    x = np.empty((T, 2))
    x[0] = rng.standard_normal(2)
    for t in range(1, T):
        x[t] = A @ x[t - 1]
    return x @ rng.standard_normal((2, 3))


def _driven(A: np.ndarray, B: np.ndarray, T: int = 150, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((T, B.shape[1]))
    x = np.zeros((T, A.shape[0]))
    for t in range(1, T):
        x[t] = A @ x[t - 1] + B @ u[t - 1]
    return x, u


@pytest.mark.parametrize(
    ("bad", "fix"),
    [
        ({"n_delays": 0}, "integer ≥ 1"),
        ({"n_delays": 2.5}, "integer ≥ 1"),
        ({"delay_interval": True}, "integer ≥ 1"),
        ({"rank": 0}, "integer ≥ 1"),
        ({"rank_thresh": -1.0}, "threshold > 0"),
        ({"rank_explained_variance": 1.5}, "(0, 1]"),
        ({"rank": 2, "rank_thresh": 0.1}, "pass only one of rank"),
        ({"ridge": float("nan")}, "finite number ≥ 0"),
        ({"ridge": -1e-3}, "finite number ≥ 0"),
        ({"center": "yes"}, "True or False"),
        ({"metric": "cosine"}, "use one of"),
        ({"method": "koopman"}, "use one of"),
        ({"n_random": 16, "max_random": 8}, "raise it to at least 16"),
        ({"min_agree": 0}, "integer ≥ 1"),
        ({"max_iter": 0}, "integer ≥ 1"),
        ({"seed": -1}, "integer ≥ 0"),
    ],
)
def test_config_refuses_bad_values_naming_value_and_fix(bad, fix):
    with pytest.raises(InputError) as err:
        DSAConfig(**bad)
    msg = str(err.value)
    assert fix in msg
    assert any(f"{k}=" in msg for k in bad)


def test_config_unknown_name_lists_the_parameters():
    with pytest.raises(InputError, match="unknown DSA parameter.*n_delays"):
        DSAConfig().replace(n_delay=3)
    with pytest.raises(InputError, match="unknown DSA parameter"):
        dsa(np.zeros((10, 2)), np.zeros((10, 2)), rnak=2)
    with pytest.raises(InputError, match="not a DSAConfig"):
        dsa(np.zeros((10, 2)), np.zeros((10, 2)), 3)  # old positional n_delays is not silently misread


def test_config_is_frozen_normalised_and_round_trips():
    cfg = DSAConfig(n_delays=np.int64(3), rank=np.int32(2), ridge=np.float32(0.5), metric="euclidean")
    assert type(cfg.n_delays) is int and type(cfg.rank) is int and type(cfg.ridge) is float
    with pytest.raises(AttributeError):
        cfg.rank = 4  # type: ignore[misc]
    d = json.loads(json.dumps(cfg.to_dict()))
    assert DSAConfig.from_dict(d) == cfg
    assert DSAConfig.resolve(d) == cfg
    assert cfg.replace(rank=5).rank == 5 and cfg.rank == 2
    assert DSAConfig.resolve(cfg, n_random=4) == cfg.replace(n_random=4)
    with pytest.raises(InputError, match="integer ≥ 1"):
        cfg.replace(rank=-2)


def test_dsa_through_config_equals_keywords():
    a, b = _rotation_system(0.3, seed=1), _rotation_system(0.5, seed=2)
    kw = dict(n_delays=2, rank=2, ridge=1e-6, n_random=4, max_random=16, seed=5)
    cfg = DSAConfig(**kw)
    for metric in ("angular", "euclidean", "wasserstein"):
        d_kw = dsa(a, b, metric=metric, **kw)
        d_cfg = dsa(a, b, cfg.replace(metric=metric))
        assert d_kw > 1e-3
        assert abs(d_kw - d_cfg) <= 1e-12
    # overrides on top of a config beat its fields
    assert abs(dsa(a, b, cfg, n_delays=1) - dsa(a, b, **{**kw, "n_delays": 1})) <= 1e-12
    with pytest.warns(DeprecationWarning, match="score"):
        d_old = dsa(a, b, cfg, score="euclidean")
    assert abs(d_old - dsa(a, b, cfg.replace(metric="euclidean"))) <= 1e-12


def test_dsa_matrix_takes_config_and_matches_pairwise_dsa():
    systems = [_rotation_system(th, seed=s) for s, th in enumerate((0.2, 0.25, 0.6))]
    cfg = DSAConfig(n_delays=2, rank=2, n_random=4, max_random=16, seed=1)
    M = dsa_matrix(systems, config=cfg, names=["a", "b", "c"])
    M_kw = dsa_matrix(systems, names=["a", "b", "c"], n_delays=2, rank=2, n_random=4, max_random=16, seed=1)
    np.testing.assert_allclose(M.distances, M_kw.distances, rtol=0, atol=1e-12)
    for i, j in ((0, 1), (0, 2), (1, 2)):
        assert abs(M.distances[i, j] - dsa(systems[i], systems[j], cfg)) <= 1e-12
    assert DSAConfig.from_dict({k: M.params[k] for k in cfg.to_dict()}) == cfg
    # the ordering the operators need is explained: near-equal dynamics closer than a different rotation
    assert M.distances[0, 1] < M.distances[0, 2]


def test_dsa_refuses_inputdsa_only_settings_and_vice_versa():
    a = _rotation_system(0.3)
    with pytest.raises(InputError, match="InputDSA settings"):
        dsa(a, a, method="subspace")
    A = np.array([[0.9, -0.2], [0.2, 0.9]])
    x, u = _driven(A, np.array([[1.0], [0.5]]))
    with pytest.raises(InputError, match="spectral"):
        input_dsa(x, u, x, u, metric="wasserstein")
    with pytest.raises(InputError, match="reduced_rank"):
        input_dsa(x, u, x, u, reduced_rank=True)


def test_input_dsa_and_matrix_through_config_equal_keywords():
    rng = np.random.default_rng(0)
    A1 = np.array([[0.9, -0.3], [0.3, 0.9]])
    A2 = np.array([[0.7, 0.1], [0.0, 0.5]])
    B = rng.standard_normal((2, 2))
    (x1, u1), (x2, u2), (x3, u3) = _driven(A1, B, seed=1), _driven(A2, B, seed=2), _driven(A1, 0.5 * B, seed=3)
    kw = dict(n_delays=1, rank=2, n_random=4, max_random=16, seed=3)
    cfg = DSAConfig(**kw)
    r_kw, r_cfg = input_dsa(x1, u1, x2, u2, **kw), input_dsa(x1, u1, x2, u2, cfg)
    for part in ("state", "input", "joint", "spectral"):
        assert abs(getattr(r_kw, part) - getattr(r_cfg, part)) <= 1e-12
    assert r_cfg.state > 0.05  # different intrinsic dynamics
    M = input_dsa_matrix([x1, x2, x3], [u1, u2, u3], cfg)
    M_kw = input_dsa_matrix([x1, x2, x3], [u1, u2, u3], **kw)
    for part in ("state", "input", "joint", "spectral"):
        np.testing.assert_allclose(getattr(M, part).distances, getattr(M_kw, part).distances, rtol=0, atol=1e-12)
    assert abs(M.state.distances[0, 1] - r_cfg.state) <= 1e-12
    assert M.state.distances[0, 2] < 1e-6  # same A, rescaled input: same intrinsic dynamics


def test_sweep_best_config_feeds_dsa_directly():
    a, b = _rotation_system(0.3, T=200, seed=1), _rotation_system(0.5, T=200, seed=2)
    base = DSAConfig(ridge=1e-6, metric="euclidean", n_random=4, max_random=16)
    sw = sweep_dmd([a, b], n_delays=[1, 2], ranks=[1, 2, 3], names=["a", "b"], config=base)
    best = sw.best_config
    assert isinstance(best, DSAConfig)
    assert (best.n_delays, best.rank) == (sw.best_n_delays, sw.best_rank)
    assert best.replace(n_delays=1, rank=None) == base.replace(n_delays=1)  # the rest is the sweep's config
    assert best.rank == 2  # a 2-D linear system seen in 3-D: rank 2 is the simplest exact model
    d = dsa(a, b, best)
    assert abs(d - dsa(a, b, metric="euclidean", ridge=1e-6, n_random=4, max_random=16,
                       n_delays=best.n_delays, rank=best.rank)) <= 1e-12
    # keyword overrides reach the sweep's fits too, and its best config survives a to_dict round trip
    sw2 = sweep_dmd(a, n_delays=[1, 2], ranks=[2], delay_interval=2)
    assert sw2.best_config.delay_interval == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from repscope.dynamics.sweep import DMDSweepResult

        if hasattr(DMDSweepResult, "from_dict"):
            back = DMDSweepResult.from_dict(json.loads(json.dumps(sw2.to_dict())))
            assert back.best_config == sw2.best_config


def test_estimator_caches_the_reference_fit_and_equals_dsa():
    a, b, c = (_rotation_system(th, seed=s) for s, th in ((1, 0.3), (2, 0.5), (3, 0.3)))
    cfg = DSAConfig(n_delays=2, rank=2, n_random=4, max_random=16)
    est = DSA(cfg).fit(a)
    ref = est.dmd_
    for other in (b, c):
        assert abs(est.score(other) - dsa(a, other, cfg)) <= 1e-12
    assert est.dmd_ is ref  # fitted once
    assert est.score(c) < est.score(b)  # same rotation, another basis, is closer
    assert DSA(rank=2, metric="euclidean").config == DSAConfig(rank=2, metric="euclidean")
    with pytest.raises(InputError, match="not fitted"):
        DSA(cfg).score(b)
