"""Fuzz of ``repscope.metrics.similarity`` over every registered measure: shapes, dtypes and scales over the
whole float64 range, and degenerate inputs (constant / zero / rank-one data, n < 2, one condition or repeat,
k ≥ n for the kNN measures; crossnobis, noise ceiling, RSA bootstrap, Gaussian and energy shape estimators).
A measure either returns a finite number or raises a RepscopeError (never a raw numpy /
LAPACK error, never nan); rescaling an input by any power of two gives the unit-scale answer (distances in
the clouds' units — the PH measures — scale with it)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from repscope.errors import ConvergenceWarning, InputError, RepscopeError
from repscope.metrics import available, similarity
from repscope.metrics._rdm import crossnobis_rdm, noise_ceiling, rsa_bootstrap
from repscope.metrics.stochastic import energy_shape_distance, gaussian_shape_distance, stochastic_fit

MEASURES = sorted(available())
#: measures on noisy responses (n_conditions, n_repeats, d) rather than (n, d)
STOCHASTIC = {"gaussian_shape", "energy_shape"} & set(MEASURES)
#: distances in the data's units: d(cX, cY) = c^DEGREE·d(X, Y); every other measure is scale-invariant
HOMOGENEOUS = {m for m in MEASURES if m.startswith("ph_")} | STOCHASTIC
#: the energy distance is a square root of a mean of distances: d_E(cX, cY) = √c·d_E(X, Y)
DEGREE = {m: (0.5 if m == "energy_shape" else 1.0) for m in HOMOGENEOUS}


def _call(X, Y, m):
    try:
        v = similarity(X, Y, m)
    except RepscopeError as exc:
        assert str(exc), "errors must say what is wrong"
        return exc
    assert isinstance(v, float) and np.isfinite(v), (m, v)
    return v


def _unit(*arrays: np.ndarray) -> list[np.ndarray]:
    """The arrays scaled by one power of two so the largest magnitude among them is in [0.5, 1)."""
    arrays = [np.asarray(A, dtype=np.float64) for A in arrays]
    m = max((float(np.max(np.abs(A))) if A.size else 0.0) for A in arrays)
    return arrays if m == 0 else [np.ldexp(A, -int(np.frexp(m)[1])) for A in arrays]


@st.composite
def pairs(draw, stochastic=False):
    n = draw(st.integers(2, 14))
    p, q = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    lead = (n,) if not stochastic else (max(2, n // 3), draw(st.integers(2, 4)))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int32]))
    if np.issubdtype(dtype, np.integer):
        elems = st.integers(-50, 50)
    else:
        elems = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32)
    X = draw(hnp.arrays(dtype, (*lead, p), elements=elems))
    Y = draw(hnp.arrays(dtype, (*lead, q), elements=elems))
    kx = draw(st.integers(-1000, 1000))
    ky = kx if draw(st.booleans()) else draw(st.integers(-1000, 1000))
    return X, Y, kx, ky


@pytest.mark.parametrize("metric", MEASURES)
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_any_shape_dtype_and_scale_gives_the_unit_scale_answer_or_a_clear_error(metric, data):
    X, Y, kx, ky = data.draw(pairs(stochastic=metric in STOCHASTIC))
    _call(X, Y, metric)  # as given (any dtype): finite or a RepscopeError
    if metric in HOMOGENEOUS:
        ky = kx
        Xu, Yu = _unit(X, Y)
    else:
        (Xu,), (Yu,) = _unit(X), _unit(Y)
    ref = _call(Xu, Yu, metric)
    # scaled copies, kept within float64 (a product that would overflow is not an input anyone can pass)
    Xs, Ys = np.ldexp(Xu, kx), np.ldexp(Yu, ky)
    if not (np.isfinite(Xs).all() and np.isfinite(Ys).all()) or (Xu.any() and not Xs.any()) or \
            (Yu.any() and not Ys.any()):
        return
    got = _call(Xs, Ys, metric)
    if isinstance(ref, Exception):
        assert isinstance(got, Exception) and type(got) is type(ref), (metric, ref, got)
        return
    assert not isinstance(got, Exception), (metric, got)
    want = float(ref * 2.0 ** (kx * DEGREE[metric])) if metric in HOMOGENEOUS else ref
    tol = 1e-12 * (2.0 ** (kx * DEGREE[metric]) if metric in HOMOGENEOUS else 1.0)
    assert got == pytest.approx(want, rel=1e-9, abs=tol), (metric, kx, ky, got, want)


# ----------------------------------------------------------------------------- the issue's extreme cases

RNG = np.random.default_rng(7)
X0 = RNG.standard_normal((60, 8))
Y0 = X0 @ RNG.standard_normal((8, 6)) + 0.7 * RNG.standard_normal((60, 6))
X3 = X0.reshape(15, 4, 8)  # (n_conditions, n_repeats, d) for the stochastic measures
Y3 = Y0.reshape(15, 4, 6)


@pytest.mark.parametrize("metric", MEASURES)
@pytest.mark.parametrize(("sx", "sy"), [(1e300, 1.0), (1e-150, 1.0), (1e200, 1e200), (1e-300, 1e300), (1e-160, 1e-160)])
def test_decimal_extremes_match_unit_scale(metric, sx, sy):
    X, Y = (X3, Y3) if metric in STOCHASTIC else (X0, Y0)
    if metric in HOMOGENEOUS:
        if sx != sy:
            return
        e = int(np.frexp(max(np.abs(X).max(), np.abs(Y).max()))[1])  # the unit scale is X·2⁻ᵉ
        want = similarity(*_unit(X, Y), metric) * (sx * 2.0**e) ** DEGREE[metric]
    else:
        want = similarity(_unit(X)[0], _unit(Y)[0], metric)
    got = similarity(X * sx, Y * sy, metric)
    assert got == pytest.approx(want, rel=1e-6), (metric, sx, sy)


def test_the_issue_values():
    X = RNG.standard_normal((50, 5))
    Y = np.tanh(X @ RNG.standard_normal((5, 4)))
    unit = similarity(X, Y, "procrustes")
    assert similarity(X * 1e300, Y, "procrustes") == pytest.approx(unit, rel=1e-9)
    assert 0.0 < unit < np.pi / 2 - 0.05
    for s in (1e200, 1e250, 1e300):
        assert similarity(X * s, Y * s, "linear_cka") == pytest.approx(similarity(X, Y, "linear_cka"), rel=1e-9)
    assert similarity(X * 1e300, Y, "cca") == pytest.approx(similarity(X, Y, "cca"), rel=1e-9)


# ----------------------------------------------------------------------------- degenerate inputs (issue 21)

_D = np.random.default_rng(21)
_X, _Y = _D.standard_normal((12, 5)), _D.standard_normal((12, 4))
#: (n, d) inputs no measure can compute honestly, or only at the edge of what is defined
DEGENERATE = {
    "constant column": (np.c_[_X[:, :4], np.ones(12)], _Y),
    "constant X": (np.ones((12, 5)), _Y),
    "zero X": (np.zeros((12, 5)), _Y),
    "both zero": (np.zeros((12, 5)), np.zeros((12, 4))),
    "n=1": (_X[:1], _Y[:1]),
    "n=2": (_X[:2], _Y[:2]),
    "n=4 (k ≥ n for the kNN measures)": (_X[:4], _Y[:4]),
    "one distinct row, repeated": (np.repeat(_X[:1], 12, 0), _Y),
    "three rows, each repeated": (np.repeat(_X[:3], 4, 0), np.repeat(_Y[:3], 4, 0)),
    "rank one": (np.outer(_D.standard_normal(12), _D.standard_normal(5)), _Y),
    "d=1": (_X[:, :1], _Y[:, :1]),
    "identical": (_X, _X),
}
_S, _T = _D.standard_normal((6, 3, 4)), _D.standard_normal((6, 3, 3))
#: (n_conditions, n_repeats, d) inputs for the stochastic measures
DEGENERATE_STOCHASTIC = {
    "one condition": (_S[:1], _T[:1]),
    "one repeat": (_S[:, :1], _T[:, :1]),
    "zero X": (np.zeros_like(_S), _T),
    "both zero": (np.zeros_like(_S), np.zeros_like(_T)),
    "identical repeats": (np.repeat(_S[:, :1], 3, 1), np.repeat(_T[:, :1], 3, 1)),
    "two conditions": (_S[:2], _T[:2]),
    "d=1": (_S[:, :, :1], _T[:, :, :1]),
    "identical": (_S, _S),
}


@pytest.mark.parametrize("metric", MEASURES)
@pytest.mark.parametrize("case", sorted(set(DEGENERATE) | set(DEGENERATE_STOCHASTIC)))
def test_degenerate_inputs_give_a_finite_value_or_a_clear_error(metric, case):
    cases = DEGENERATE_STOCHASTIC if metric in STOCHASTIC else DEGENERATE
    if case not in cases:
        return
    X, Y = cases[case]
    got = _call(X, Y, metric)  # a finite float or a RepscopeError, never nan / inf / a raw numpy error
    if case in ("n=1", "one condition", "constant X", "zero X", "both zero", "one distinct row, repeated") \
            and metric not in STOCHASTIC:
        assert isinstance(got, RepscopeError), (metric, case, got)
    if case == "one condition":
        assert isinstance(got, RepscopeError), (metric, case, got)


def _finite_or_error(fn):
    """Run fn; its numbers (value, RDM vector, bounds, CI) are all finite, or it raised a RepscopeError."""
    try:
        out = fn()
    except RepscopeError as exc:
        assert str(exc)
        return exc
    parts = [getattr(out, k) for k in ("vector", "lower", "upper", "estimate", "low", "high", "distance")
             if hasattr(out, k)]
    vals = np.concatenate([np.ravel(np.asarray(p, dtype=float)) for p in (parts or [out])])
    assert np.isfinite(vals).all(), (fn, vals)
    return out


_R3 = _D.standard_normal((6, 3, 4))  # (conditions, partitions / repeats, d)
ESTIMATORS = {
    "crossnobis: 1 partition": (lambda: crossnobis_rdm(_R3[:, :1]), True),
    "crossnobis: 2 partitions": (lambda: crossnobis_rdm(_R3[:, :2]), False),
    "crossnobis: constant data": (lambda: crossnobis_rdm(np.ones((6, 3, 4))), False),
    "crossnobis: 1 condition": (lambda: crossnobis_rdm(_R3[:1]), True),
    "crossnobis: zero precision": (lambda: crossnobis_rdm(_R3, precision=np.zeros((4, 4))), True),
    "crossnobis: indefinite precision": (lambda: crossnobis_rdm(_R3, precision=-np.eye(4)), True),
    "crossnobis: asymmetric precision": (lambda: crossnobis_rdm(_R3, precision=np.triu(np.ones((4, 4)))), True),
    "noise ceiling: 1 repeat": (lambda: noise_ceiling(_R3[:, :1]), True),
    "noise ceiling: constant data": (lambda: noise_ceiling(np.ones((6, 3, 4))), True),
    "noise ceiling: 2 conditions": (lambda: noise_ceiling(_R3[:2]), True),
    "noise ceiling: d=1 (constant RDMs)": (lambda: noise_ceiling(_R3[:, :, :1]), True),
    "noise ceiling: identical repeats": (lambda: noise_ceiling(np.repeat(_R3[:, :1], 3, 1)), False),
    "noise ceiling: constant RDMs, pearson": (lambda: noise_ceiling([np.ones(15)] * 2, compare="pearson"), True),
    "noise ceiling: zero RDMs, cosine": (lambda: noise_ceiling([np.zeros(15)] * 2, compare="cosine"), True),
    "rsa bootstrap: n=2": (lambda: rsa_bootstrap(_X[:2], _Y[:2], n_boot=20), True),
    "rsa bootstrap: n=3": (lambda: rsa_bootstrap(_X[:3], _Y[:3], n_boot=20), False),
    "rsa bootstrap: constant X": (lambda: rsa_bootstrap(np.ones((12, 5)), _Y, n_boot=20), True),
    "rsa bootstrap: constant RDM": (lambda: rsa_bootstrap(np.ones(66), _D.random(66), n_boot=20), True),
    "rsa bootstrap: ties": (lambda: rsa_bootstrap(np.r_[np.ones(65), 2.0], _D.random(66), n_boot=20), False),
    "gaussian shape: 1 condition": (lambda: gaussian_shape_distance(_S[:1], _T[:1]), True),
    "gaussian shape: 1 repeat": (lambda: gaussian_shape_distance(_S[:, :1], _T[:, :1]), False),
    "gaussian shape: zero covariances": (
        lambda: gaussian_shape_distance((_S.mean(1), np.zeros((6, 4, 4))), (_T.mean(1), np.zeros((6, 3, 3)))),
        False),
    "gaussian shape: alpha out of range": (lambda: gaussian_shape_distance(_S, _T, alpha=3), True),
    "energy shape: 1 condition": (lambda: energy_shape_distance(_S[:1], _T[:1]), True),
    "energy shape: 1 repeat": (lambda: energy_shape_distance(_S[:, :1], _T[:, :1]), False),
    "energy shape: perm": (lambda: energy_shape_distance(_S, _T, group="perm"), False),
    "energy shape: mismatched repeats": (lambda: energy_shape_distance(_S, _T[:, :2]), True),
}


@pytest.mark.parametrize("case", sorted(ESTIMATORS))
def test_estimators_refuse_what_they_cannot_compute(case):
    fn, must_refuse = ESTIMATORS[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        got = _finite_or_error(fn)
    assert isinstance(got, RepscopeError) == must_refuse, (case, got)


def test_crossnobis_one_partition_names_the_fix():
    with pytest.raises(InputError, match=r"≥ 2 independent partitions.*rdm_of"):
        crossnobis_rdm(_R3[:, :1])


def test_energy_alignment_not_unique_is_reported():
    # a zero-padded narrower network: T is one of many minimisers, the distance is not affected
    fit = stochastic_fit(_S, _T, metric="energy_shape")
    assert fit.alignment_unique is False and fit.converged
    rot = np.linalg.qr(_D.standard_normal((3, 3)))[0]
    assert energy_shape_distance(_S, _T @ rot) == pytest.approx(fit.distance, abs=1e-6)
    assert stochastic_fit(_S, _S @ np.linalg.qr(_D.standard_normal((4, 4)))[0],
                          metric="energy_shape").alignment_unique is True
    # ±e1 against ±e2 repeat clouds: the cross-covariance cancels (rank 0 < 1), the alignment is undetermined
    e1, e2 = np.eye(3)[:2]
    X, Y = np.array([[e1, -e1], [e1, -e1]]), np.array([[e2, -e2], [e2, -e2]])
    with pytest.warns(ConvergenceWarning, match="not determined"):
        fit = stochastic_fit(X, Y, metric="energy_shape")
    assert not fit.converged
