"""Validation at the boundary: every lens checks its inputs here once, so errors are uniform.

Each check raises :class:`repscope.errors.InputError` naming the problem and the fix.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError

__all__ = ["as_2d", "check_paired", "check_choice", "check_positive_int", "check_fraction"]


def as_2d(
    X: ArrayLike,
    name: str = "X",
    *,
    min_samples: int = 3,
    dtype: Any = np.float64,
    allow_nonfinite: bool = False,
    allow_constant: bool = True,
) -> np.ndarray:
    """Validate one activation matrix and return it as a 2-D ``(n_samples, n_features)`` array.

    Arrays with more than two dimensions are flattened after the first (sample) axis. Raises
    :class:`InputError` with the fix for: non-numeric data, 0-/1-D input, fewer than ``min_samples``
    rows, NaN/Inf values, and (when ``allow_constant`` is false) an all-constant matrix.
    The caller's array is never modified (a copy is made when a dtype conversion is needed).
    """
    if hasattr(X, "detach"):  # torch tensor
        X = X.detach().cpu().numpy()
    try:
        A = np.asarray(X)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise InputError(f"{name} could not be converted to an array ({exc}); pass a numpy array") from exc
    if A.dtype == object or not (np.issubdtype(A.dtype, np.number) or A.dtype == np.bool_):
        raise InputError(f"{name} has non-numeric dtype {A.dtype}; pass a numeric array (n_samples, n_features)")
    if A.ndim < 2:
        raise InputError(
            f"{name} has shape {A.shape}; expected (n_samples, n_features) — reshape a single feature "
            f"with X.reshape(-1, 1)"
        )
    if A.ndim > 2:
        A = A.reshape(A.shape[0], -1)
    if A.shape[0] < min_samples:
        raise InputError(f"{name} has {A.shape[0]} samples; at least {min_samples} are needed")
    if A.shape[1] < 1:
        raise InputError(f"{name} has no features (shape {A.shape})")
    if dtype is not None:
        A = A.astype(dtype, copy=False)
    if not allow_nonfinite and not np.isfinite(A).all():
        bad = int((~np.isfinite(A)).any(axis=1).sum())
        raise InputError(
            f"{name} contains NaN or Inf values in {bad} of {A.shape[0]} samples; remove those rows "
            f"(e.g. X[np.isfinite(X).all(axis=1)]) or fix the model producing them"
        )
    if not allow_constant and A.shape[0] > 0 and np.all(A == A[:1]):
        raise InputError(f"{name} is constant across samples; similarity is undefined for a constant representation")
    return A


def check_paired(X: np.ndarray, Y: np.ndarray, names: tuple[str, str] = ("X", "Y")) -> None:
    """Raise if two representations do not have the same number of samples."""
    if X.shape[0] != Y.shape[0]:
        raise InputError(
            f"{names[0]} has {X.shape[0]} samples but {names[1]} has {Y.shape[0]}; both must describe "
            f"the same samples in the same order"
        )




def check_choice(value: Any, name: str, choices: tuple[str, ...] | list[str]) -> str:
    """``value`` if it is one of ``choices``, else an InputError listing them."""
    if value not in choices:
        raise InputError(f"{name}={value!r} is not supported; choose one of {', '.join(map(repr, choices))}")
    return value


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """An integer ≥ ``minimum`` (booleans and non-integral floats refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral | float) or int(value) != value:
        raise InputError(f"{name}={value!r} must be an integer ≥ {minimum}")
    if int(value) < minimum:
        raise InputError(f"{name}={value!r} must be ≥ {minimum}")
    return int(value)


def check_fraction(value: Any, name: str, *, low: float = 0.0, high: float = 1.0, closed: bool = False) -> float:
    """A real number in ``(low, high)`` (``[low, high]`` with ``closed``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}={value!r} must be a number between {low} and {high}") from None
    ok = (low <= v <= high) if closed else (low < v < high)
    if not ok or not np.isfinite(v):
        br = "[]" if closed else "()"
        raise InputError(f"{name}={value!r} must lie in {br[0]}{low}, {high}{br[1]}")
    return v


def renamed_parameter(old: str, new: str) -> Any:
    """Decorator: keyword ``old=`` still works, with a DeprecationWarning, and means ``new=``.

    repscope's vocabulary is one word per concept (``metric=`` for the measure everywhere); this keeps the
    older spellings working while users move over.
    """
    import functools
    import warnings

    def deco(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if old in kwargs:
                if new in kwargs:
                    raise InputError(f"{fn.__name__}() got both {new}= and its deprecated name {old}=; give {new}=")
                warnings.warn(f"{fn.__name__}({old}=...) is deprecated; use {new}=", DeprecationWarning,
                              stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return wrapper

    return deco
