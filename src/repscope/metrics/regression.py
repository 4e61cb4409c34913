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
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.metrics._common import check_choice, sym_eigh
from repscope.metrics.shape import cov_blocks

__all__ = ["linear_regression", "regression_r2_from_cov"]


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


def regression_r2_from_cov(
    Sxx, Syy, Sxy, *, ridge: float = 0.0, direction: str = "mean", rtol: float = 1e-10
):
    check_choice(direction, "direction", ("x_to_y", "y_to_x", "mean"))
    if not (ridge >= 0 and np.isfinite(ridge)):
        raise InputError(f"ridge={ridge!r}; give a non-negative relative ridge penalty (e.g. 0 or 1e-3)")
    if direction == "x_to_y":
        return _r2(Sxx, Syy, Sxy, ridge, rtol)
    if direction == "y_to_x":
        return _r2(Syy, Sxx, Sxy.T, ridge, rtol)
    return 0.5 * (_r2(Sxx, Syy, Sxy, ridge, rtol) + _r2(Syy, Sxx, Sxy.T, ridge, rtol))


def linear_regression(
    X: ArrayLike, Y: ArrayLike, *, ridge: float = 0.0, direction: str = "mean", rtol: float = 1e-10
) -> float:
    """In-sample R² of the (ridge) least-squares map X→Y, Y→X, or their mean (see module docstring)."""
    Sxx, Syy, Sxy, _ = cov_blocks(X, Y)
    return regression_r2_from_cov(Sxx, Syy, Sxy, ridge=ridge, direction=direction, rtol=rtol)
