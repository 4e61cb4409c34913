"""Fuzz of ``repscope.metrics.similarity`` over every registered measure: shapes, dtypes and scales over the
whole float64 range. A measure either returns a finite number or raises a RepscopeError (never a raw numpy /
LAPACK error, never nan); rescaling an input by any power of two gives the unit-scale answer (distances in
the clouds' units — the PH measures — scale with it)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from repscope.errors import RepscopeError
from repscope.metrics import available, similarity

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
