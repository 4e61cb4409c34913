"""Permutation shape metric and the alignment groups shared by the netrep-style metrics.

Permutation distance (Williams, Kunz, Kornblith & Linderman 2021, "Generalized shape metrics on neural
representations", NeurIPS, §2; reference code netrep ``PermutationMetric``): like Procrustes, but the
alignment may only *relabel* units, not rotate them — the right invariance when single units are
meaningful (e.g. neurons recorded in two animals, or channels of two copies of a network that differ
by a permutation of hidden units). With X, Y column-centred and the narrower zero-padded to p = max
columns,

    θ_perm = arccos( max_P ⟨X, Y P⟩_F / (‖X‖_F ‖Y‖_F) ),     d_perm = √(‖X‖² + ‖Y‖² − 2 max_P ⟨X, Y P⟩),

the maximum over permutation matrices P is a linear assignment problem on the p×p cross-covariance
XᵀY (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``; O(p³)). θ_perm ≥ the Procrustes
angle (permutations are a subgroup of the orthogonal group); both are metrics.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.metrics._common import centre, check_choice, clip_unit, pair, scale_exponent
from repscope.validation import as_2d, check_paired

__all__ = ["permutation_distance", "permutation_from_cov", "align", "GROUPS"]

GROUPS = ("orth", "perm", "identity")


def align(A: np.ndarray, B: np.ndarray, group: str = "orth") -> np.ndarray:
    """The d×d matrix T in ``group`` minimising ‖A T − B‖_F for A, B (m×d) (netrep ``align``):

    * ``"orth"``: orthogonal Procrustes, T = U Vᵀ from the SVD AᵀB = U S Vᵀ (Schönemann 1966);
    * ``"perm"``: permutation matrix maximising tr(Tᵀ AᵀB) (linear assignment);
    * ``"identity"``: T = I.
    """
    import scipy.optimize

    check_choice(group, "group", GROUPS)
    d = A.shape[1]
    if group == "identity":
        return np.eye(d)
    M = A.T @ B
    if group == "orth":
        U, _, Vt = np.linalg.svd(M)
        return U @ Vt
    r, c = scipy.optimize.linear_sum_assignment(M, maximize=True)
    T = np.zeros((d, d))
    T[r, c] = 1.0
    return T


def permutation_from_cov(
    Sxy: np.ndarray, tx: float, ty: float, *, score_method: Literal["angular", "euclidean"] = "angular"
) -> float:
    """Permutation distance from the centred cross-covariance XᵀY (p×q) and the traces tx = ‖X‖²,
    ty = ‖Y‖² (a rectangular assignment equals zero-padding the narrower side)."""
    import scipy.optimize

    check_choice(score_method, "score_method", ("angular", "euclidean"))
    if tx <= 0 or ty <= 0:
        raise InputError("a representation has zero variance after centring; the shape distance is undefined")
    r, c = scipy.optimize.linear_sum_assignment(Sxy, maximize=True)
    best = float(Sxy[r, c].sum())
    if score_method == "angular":
        return float(np.arccos(clip_unit(best / np.sqrt(tx * ty))))
    return float(np.sqrt(max(0.0, tx + ty - 2.0 * best)))


def permutation_distance(
    X: ArrayLike,
    Y: ArrayLike,
    *,
    score_method: Literal["angular", "euclidean"] = "angular",
    center: bool = True,
) -> float:
    """Permutation shape distance between X (n×p) and Y (n×q) (netrep ``PermutationMetric``, zero
    padding): the angle (radians, ``score_method="angular"``) or Euclidean distance left after the best
    relabelling of Y's units (module docstring). 0 iff Y's columns are a permutation of X's (times a
    positive scale for the angle). ``center=False`` skips column centring (netrep ``center_columns``).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import permutation_distance
    >>> X = np.random.default_rng(0).normal(size=(30, 5))
    >>> round(permutation_distance(X, X[:, [4, 2, 0, 1, 3]]), 6)   # units reordered: distance 0
    0.0
    """
    check_choice(score_method, "score_method", ("angular", "euclidean"))
    if score_method == "angular":  # scale-free: each side may be rescaled on its own
        A, B = pair(X, Y)
        e = 0
    else:  # a distance in the data's units: one common power-of-two rescaling, undone at the end
        A = as_2d(X, "X", allow_constant=False)
        B = as_2d(Y, "Y", allow_constant=False)
        check_paired(A, B, ("X", "Y"))
        e = scale_exponent(A, B)
        A, B = np.ldexp(A, -e), np.ldexp(B, -e)
    if center:
        A, B = centre(A), centre(B)
    d = permutation_from_cov(A.T @ B, float(np.vdot(A, A)), float(np.vdot(B, B)), score_method=score_method)
    return float(np.ldexp(d, e))

