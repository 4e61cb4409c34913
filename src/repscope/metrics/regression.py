"""Linear predictivity: R² of a (ridge) linear regression from one representation to the other.

R²(X→Y) = 1 − ‖Y − XW − 1b‖²_F / ‖Y − 1ȳᵀ‖²_F with W = (XᵀX + λI)⁻¹XᵀY on centred data (in-sample fit;
e.g. Kornblith et al. 2019, sec. 2, "linear regression"; Klabunde et al. 2023 survey, ReSi). With the
eigen-decomposition XᵀX = VΛVᵀ and M = VᵀXᵀY this is

    R² = Σᵢ ‖Mᵢ‖² (2/(λᵢ+λ) − λᵢ/(λᵢ+λ)²) / tr(YᵀY),

computed from the centred second moments only, so layer matrices get it from the same streamed pass
as CKA. ``ridge`` is relative: λ = ridge · tr(XᵀX)/p (scale-free). With ``ridge=0`` it is ordinary least
squares on the numerical range of X (eigenvalues below ``rtol`` × the largest dropped); note that
in-sample OLS R² is 1 whenever X has ≥ n − 1 independent columns.
Pooled over all outputs (sklearn's ``multioutput="variance_weighted"``).
``direction``: ``"x_to_y"``, ``"y_to_x"`` or ``"mean"`` (average of both — symmetric).

Sample-side form (few samples, wide layers; :mod:`repscope.metrics.gram`): with X = U diag(s) Vᵀ the
eigenvalues of XᵀX are λ = s² and ‖Mᵢ‖² = λᵢ‖UᵢᵀY‖² = λᵢ‖(UᵀU_y diag(s_y))ᵢ‖², the d − r other
directions contributing nothing — :func:`regression_r2_from_grams`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.metrics._common import check_choice, sym_eigh
from repscope.metrics.gram import GramFactor
from repscope.metrics.shape import factors_or_blocks

__all__ = ["linear_regression", "regression_r2_from_cov", "regression_r2_from_grams"]


def _r2(Sxx: np.ndarray, Syy: np.ndarray, Sxy: np.ndarray, ridge: float, rtol: float) -> float:
    ty = float(np.trace(Syy))
    if ty <= 0:
        raise InputError("the regression target has zero variance after centring; R² is undefined")
    lam, V = sym_eigh(Sxx)
    lam = np.clip(lam, 0.0, None)
    M2 = np.sum((V.T @ Sxy) ** 2, axis=1)
    if ridge > 0:
        r = ridge * float(lam.sum()) / lam.size
        expl = np.sum(M2 * (2.0 / (lam + r) - lam / (lam + r) ** 2))
    else:
        keep = lam > rtol * lam[-1]
        expl = np.sum(M2[keep] / lam[keep])
    return float(expl / ty)


def _r2_grams(fx: GramFactor, fy: GramFactor, ridge: float, rtol: float) -> float:
    if fy.trace <= 0:
        raise InputError("the regression target has zero variance after centring; R² is undefined")
    lam = fx.s**2  # descending; the d − r other eigenvalues of XᵀX are 0 and carry no ‖Mᵢ‖²
    P2 = np.sum(fx.scaled_cross(fy, np.ones_like(fx.s)) ** 2, axis=1)  # ‖UᵢᵀY‖² = ‖Mᵢ‖²/λᵢ
    if lam.size == 0:
        return 0.0
    if ridge > 0:
        r = ridge * float(lam.sum()) / fx.d
        expl = np.sum(lam * P2 * (2.0 / (lam + r) - lam / (lam + r) ** 2))
    else:
        expl = np.sum(P2[lam > rtol * lam[0]])
    return float(expl / fy.trace)


def _both(r2, a, b, ab, ba, direction: str, ridge: float, rtol: float) -> float:
    check_choice(direction, "direction", ("x_to_y", "y_to_x", "mean"))
    if not (ridge >= 0 and np.isfinite(ridge)):
        raise InputError(f"ridge={ridge!r}; give a non-negative relative ridge penalty (e.g. 0 or 1e-3)")
    if direction == "x_to_y":
        return r2(a, b, ab, ridge, rtol)
    if direction == "y_to_x":
        return r2(b, a, ba, ridge, rtol)
    return 0.5 * (r2(a, b, ab, ridge, rtol) + r2(b, a, ba, ridge, rtol))


def regression_r2_from_cov(
    Sxx, Syy, Sxy, *, ridge: float = 0.0, direction: str = "mean", rtol: float = 1e-10
):
    return _both(_r2, Sxx, Syy, Sxy, Sxy.T, direction, ridge, rtol)


def regression_r2_from_grams(
    fx: GramFactor, fy: GramFactor, *, ridge: float = 0.0, direction: str = "mean", rtol: float = 1e-10
) -> float:
    """:func:`regression_r2_from_cov` from the sample side (module docstring)."""
    return _both(lambda a, b, _ab, rg, rt: _r2_grams(a, b, rg, rt), fx, fy, None, None, direction, ridge, rtol)


def linear_regression(
    X: ArrayLike, Y: ArrayLike, *, ridge: float = 0.0, direction: str = "mean", rtol: float = 1e-10,
    formulation: str = "auto",
) -> float:
    """In-sample R² of the (ridge) least-squares map X→Y, Y→X, or their mean (see module docstring);
    ``formulation``: d×d blocks or the n×n side, the cheaper by default (:mod:`repscope.metrics.gram`).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import linear_regression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 4))
    >>> round(linear_regression(X, X @ rng.normal(size=(4, 3)), direction="x_to_y"), 6)   # Y is linear in X
    1.0
    """
    route, parts = factors_or_blocks(X, Y, formulation)
    finish = regression_r2_from_grams if route == "gram" else regression_r2_from_cov
    return finish(*parts, ridge=ridge, direction=direction, rtol=rtol)
