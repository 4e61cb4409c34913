"""Shared helpers for the similarity measures: validation, centring, small linear algebra."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.validation import as_2d, check_paired

__all__ = [
    "pair", "single", "unit_scale", "scale_exponent", "homogeneous", "centre", "nuclear_norm", "sym_eigh",
    "clip_unit", "use_torch",
    "to_numpy",
]


def pair(
    X: ArrayLike, Y: ArrayLike, *, min_samples: int = 3, names: tuple[str, str] = ("X", "Y")
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a pair of representations: 2-D float64 after flattening, same n, finite, non-constant,
    each brought to unit scale by :func:`unit_scale` (exact; see there)."""
    A = single(X, names[0], min_samples=min_samples)
    B = single(Y, names[1], min_samples=min_samples)
    check_paired(A, B, names)
    return A, B


def single(X: ArrayLike, name: str = "X", *, min_samples: int = 3) -> np.ndarray:
    return unit_scale(as_2d(X, name, min_samples=min_samples, allow_constant=False))


#: Inputs whose largest magnitude lies in [2⁻⁴⁰, 2⁴⁰] are used as given: every product the measures form
#: (up to 4th powers summed over n²p² terms in CKA) stays far inside float64's range.
_SAFE_EXP = 40


def unit_scale(A: np.ndarray) -> np.ndarray:
    """Rescale ``A`` by a power of two when its largest magnitude is outside [2⁻⁴⁰, 2⁴⁰].

    Every registered measure is invariant to an isotropic rescaling of either input (CKA, Procrustes
    angle, CCA family, RSA, k-NN, R²; the partially whitened shape metric is evaluated at unit scale), so
    rescaling before forming products makes inputs at 1e-150 or 1e300 give the unit-scale answer instead
    of underflowing to 0/0 or overflowing to inf/nan. Multiplying by 2ᵏ is exact in floating point, so
    inputs already in range are returned untouched (bit-identical results) and rescaled ones lose nothing.
    The caller's array is never modified.
    """
    e = scale_exponent(A)
    return A if e == 0 else np.ldexp(A, -e)


def homogeneous(dist: Any) -> Any:
    """Decorator for a distance in the data's units, ``d(cX, cY) = c·d(X, Y)`` (c > 0): when the inputs'
    largest magnitude is outside [2⁻⁴⁰, 2⁴⁰], evaluate on both brought to unit scale by one common, exact
    power of two and scale the result back, so 1e-150 or 1e300 inputs neither underflow nor overflow.
    Inputs in range, and non-array inputs (e.g. ``(means, covariances)`` tuples), pass through untouched."""
    import functools

    @functools.wraps(dist)
    def wrapped(X: ArrayLike, Y: ArrayLike, *args: Any, **kw: Any) -> float:
        if not (isinstance(X, np.ndarray) and X.dtype.kind in "fiu" and isinstance(Y, np.ndarray)
                and Y.dtype.kind in "fiu"):
            return dist(X, Y, *args, **kw)
        if not (np.isfinite(X).all() and np.isfinite(Y).all()):
            return dist(X, Y, *args, **kw)  # the measure's own validation names the problem
        e = scale_exponent(X, Y)
        if e == 0:
            return dist(X, Y, *args, **kw)
        return float(np.ldexp(dist(np.ldexp(X.astype(np.float64), -e), np.ldexp(Y.astype(np.float64), -e),
                                   *args, **kw), e))

    return wrapped


def scale_exponent(*arrays: np.ndarray) -> int:
    """``e`` such that ``arrays · 2⁻ᵉ`` have their largest finite magnitude in [0.5, 1), or 0 when that
    magnitude is already within [2⁻⁴⁰, 2⁴⁰] (or there is none): the exact power-of-two rescaling used by
    :func:`unit_scale` and by measures that scale predictably (distance(2ᵏX, 2ᵏY) = 2ᵏ·distance)."""
    m = 0.0
    for A in arrays:
        a = np.abs(np.asarray(A, dtype=np.float64))
        a = a[np.isfinite(a)]
        if a.size:
            m = max(m, float(a.max()))
    if m == 0.0:
        return 0
    _, e = np.frexp(m)
    return 0 if -_SAFE_EXP <= e <= _SAFE_EXP else int(e)


def centre(X: np.ndarray) -> np.ndarray:
    """Column-centred float64 copy (the caller's array is never modified).

    Two-pass centring (subtract the mean, then subtract the mean of the residual) keeps full precision
    even when the mean is many standard deviations away from zero.
    """
    Xc = np.asarray(X, dtype=np.float64) - X.mean(axis=0, dtype=np.float64)
    Xc -= Xc.mean(axis=0)
    return Xc


def nuclear_norm(M: np.ndarray) -> float:
    """‖M‖_* = Σ singular values (LAPACK gesdd through scipy, singular values only).

    CPU linear algebra stays in numpy/scipy's BLAS on purpose: alternating torch (OpenMP) and OpenBLAS
    calls on this 2-core machine made each several times slower (spinning thread pools contend).
    Eigenvalues of MᵀM would be faster but lose ~√eps·σ_max on zero singular values of rank-deficient
    layers.
    """
    import scipy.linalg

    if M.size == 0:
        return 0.0
    try:
        s = scipy.linalg.svdvals(M, check_finite=False)
    except np.linalg.LinAlgError:  # pragma: no cover - gesdd failure, fall back to the slower gesvd
        s = scipy.linalg.svd(M, compute_uv=False, lapack_driver="gesvd", check_finite=False)
    return float(s.sum())


_EIG_CACHE: dict[int, tuple[Any, tuple[np.ndarray, np.ndarray]]] | None = None


@contextlib.contextmanager
def eig_cache(keep: bool = False) -> Iterator[None]:
    """Within this block, :func:`sym_eigh` of the *same array object* is computed once (layer matrices
    reuse each layer's eigen-decomposition across all pairs). The cache holds a reference to each key
    array, so ids cannot be recycled while it is active."""
    global _EIG_CACHE
    old = _EIG_CACHE
    if keep and old is not None:  # nested: reuse the enclosing cache
        yield
        return
    _EIG_CACHE = {}
    try:
        yield
    finally:
        _EIG_CACHE = old


def sym_eigh(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of a symmetric PSD matrix (symmetrised first), eigenvalues ascending."""
    import scipy.linalg

    if _EIG_CACHE is not None and id(S) in _EIG_CACHE and _EIG_CACHE[id(S)][0] is S:
        return _EIG_CACHE[id(S)][1]
    out = scipy.linalg.eigh(0.5 * (S + S.T), driver="evd", check_finite=False)  # divide & conquer
    if _EIG_CACHE is not None:
        _EIG_CACHE[id(S)] = (S, out)
    return out


def clip_unit(x: float, lo: float = -1.0) -> float:
    return float(min(1.0, max(lo, x)))


def use_torch(device: Any) -> Any:
    """``None``/``'cpu'`` → numpy path (returns None); otherwise a ``torch.device`` ('auto' → cuda if any)."""
    if device is None or (isinstance(device, str) and device == "cpu"):
        return None
    from repscope.parallel import resolve_device

    dev = resolve_device(device)
    return None if dev.type == "cpu" else dev


def to_numpy(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InputError(f"{name}={value!r} is not supported; choose one of {', '.join(map(repr, choices))}")
    return value
