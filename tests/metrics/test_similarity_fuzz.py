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
HOMOGENEOUS = {m for m in MEASURES if m.startswith("ph_")}  # d(cX, cY) = c·d(X, Y)


def _call(X, Y, m):
    try:
        v = similarity(X, Y, m)
    except RepscopeError as exc:
        assert str(exc), "errors must say what is wrong"
        return exc
    assert isinstance(v, float) and np.isfinite(v), (m, v)
    return v


def _unit(A: np.ndarray) -> np.ndarray:
    A = np.asarray(A, dtype=np.float64)
    m = np.max(np.abs(A)) if A.size else 0.0
    return A if m == 0 else np.ldexp(A, -int(np.frexp(m)[1]))


@st.composite
def pairs(draw):
    n = draw(st.integers(2, 14))
    p, q = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int32]))
    if np.issubdtype(dtype, np.integer):
        elems = st.integers(-50, 50)
    else:
        elems = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32)
    X = draw(hnp.arrays(dtype, (n, p), elements=elems))
    Y = draw(hnp.arrays(dtype, (n, q), elements=elems))
    kx = draw(st.integers(-1000, 1000))
    ky = kx if draw(st.booleans()) else draw(st.integers(-1000, 1000))
    return X, Y, kx, ky


@pytest.mark.parametrize("metric", MEASURES)
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=pairs())
def test_any_shape_dtype_and_scale_gives_the_unit_scale_answer_or_a_clear_error(metric, data):
    X, Y, kx, ky = data
    if metric in HOMOGENEOUS:
        ky = kx
    _call(X, Y, metric)  # as given (any dtype): finite or a RepscopeError
    Xu, Yu = _unit(X), _unit(Y)
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
    want = float(np.ldexp(ref, kx)) if metric in HOMOGENEOUS else ref
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12 * (abs(want) + (2.0**kx if metric in HOMOGENEOUS else 1))), \
        (metric, kx, ky, got, want)


# ----------------------------------------------------------------------------- the issue's extreme cases

RNG = np.random.default_rng(7)
X0 = RNG.standard_normal((60, 8))
Y0 = X0 @ RNG.standard_normal((8, 6)) + 0.7 * RNG.standard_normal((60, 6))


@pytest.mark.parametrize("metric", MEASURES)
@pytest.mark.parametrize(("sx", "sy"), [(1e300, 1.0), (1e-150, 1.0), (1e200, 1e200), (1e-300, 1e300), (1e-160, 1e-160)])
def test_decimal_extremes_match_unit_scale(metric, sx, sy):
    if metric in HOMOGENEOUS:
        if sx != sy:
            return
        want = similarity(X0, Y0, metric) * sx
    else:
        want = similarity(X0, Y0, metric)
    got = similarity(X0 * sx, Y0 * sy, metric)
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
