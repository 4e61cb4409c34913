"""Sample-space (n×n) formulation of the linear measures — for few samples and wide layers.

Every linear measure (linear / debiased CKA, Procrustes and the shape metrics, the CCA family, linear
regression) depends on centred X (n×p) and Y (n×q) only through quantities that are invariant to a rotation
of either feature space, so each can be finished either from the covariance blocks S_xx = XᵀX, S_yy, S_xy
(p×p, q×q, p×q: the *covariance* formulation, :mod:`repscope.metrics.engine`) or from the n×n side (the
*gram* formulation, this module):

* centred Gram K = XXᵀ (n×n): ‖XᵀY‖²_F = ⟨K_X, K_Y⟩_F, squared row norms q = diag K (CKA, debiased CKA);
* thin spectral factor X = U S Vᵀ (U n×r orthonormal, S the singular values): the singular values of XᵀY
  are those of S_x U_xᵀ U_y S_y (r_x × r_y; Procrustes nuclear norm, shape metrics after scaling S), the
  canonical correlations are the singular values of U_xᵀ U_y restricted to each side's numerical range
  (CCA), SVCCA keeps the leading columns of U (the principal-component scores XV = US), linear regression
  needs ‖U_iᵀ Y‖² = ‖U_iᵀ U_y S_y‖², PWCCA's weights Σ_j |⟨x_j, h_k⟩| need Xᵀh (the data, d×k).

Which is cheaper (:func:`choose_pair`, :func:`choose_matrix`): the covariance route costs about
n·(p+q)² to form the blocks plus p³ + q³ for the per-side eigen-decompositions and SVDs; the gram route
n²·(p+q) for the Grams plus ~4·n³ for their decompositions and the pair products (flop counts; memory
(p+q)² against 2n² doubles). With p = q = d the gram route wins roughly when n < d. ``"auto"`` picks the
smaller estimate, ``"gram"`` / ``"covariance"`` force one.

The spectral factor of one representation (:class:`GramFactor`) comes from ``eigh`` of the centred Gram
(σ = √λ, cheap: the Gram is already there for CKA) when that is accurate enough, else from a
QR factorisation of Xᵀ followed by an SVD of the n×n triangular factor (backward stable: singular values
to eps·σ_max absolute, like an SVD of X itself). ``eigh`` of the Gram carries an absolute error
δ ≈ 4·eps·λ_max·√n (the same estimate as :func:`repscope.metrics.shape.batched_singular_values`), so
σ_k is off by at most min(√δ, δ/(2σ_k)); the factor is kept when the summed bound is below
:data:`EIG_ACCEPT` × ‖X‖_F (the Procrustes cosine then moves by less than that), not counting the one
zero eigenvalue that centring puts in every centred Gram (its eigenvector is 1/√n exactly). Rank-deficient
layers (several zero singular values, whose √δ each would be too large) take the QR route. Components with
λ ≤ δ are treated as exactly zero. Rank thresholds of the measures (CCA's ``rtol``, the shape metric's
``eigval_tol``) are then applied to σ² exactly as the covariance route applies them to the eigenvalues of
S_xx, so both routes keep the same directions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from repscope.errors import InputError

__all__ = ["FORMULATIONS", "EIG_ACCEPT", "GramFactor", "check_formulation", "choose_pair", "choose_matrix",
           "pair_costs", "matrix_costs"]

FORMULATIONS = ("auto", "gram", "covariance")
#: Largest accepted bound (relative to ‖X‖_F) on the summed singular-value error of the Gram ``eigh`` route.
#: The bound is pessimistic: on ReLU layers of n = 62…500 rows it reads 3·10⁻¹³…3·10⁻¹¹ while the singular
#: values agree with an SVD of X to 1.5·10⁻¹⁵·σ_max and Procrustes cosines to 10⁻¹⁴.
EIG_ACCEPT = 1e-10
#: Memory the gram route of a layer matrix may use for all layers' n×n Grams and factors (bytes).
GRAM_BUDGET = 1 << 30
#: Memory above which the covariance route of a layer matrix is not chosen automatically (bytes).
COVARIANCE_BUDGET = 4 << 30


def check_formulation(formulation: str) -> str:
    if formulation not in FORMULATIONS:
        raise InputError(
            f"formulation={formulation!r}; use 'auto' (the cheaper one), 'gram' (n×n, few samples × wide "
            f"layers) or 'covariance' (d×d, many samples × narrow layers)"
        )
    return formulation


def pair_costs(n: int, p: int, q: int) -> tuple[float, float]:
    """(covariance, gram) flop estimates for one pair: n(p+q)² + p³ + q³ against n²(p+q) + 4n³."""
    n, p, q = float(n), float(p), float(q)
    return n * (p + q) ** 2 + p**3 + q**3, n * n * (p + q) + 4.0 * n**3


def choose_pair(n: int, p: int, q: int, formulation: str = "auto") -> str:
    """``"gram"`` or ``"covariance"`` for one pair of shapes (n, p), (n, q) (see the module docstring)."""
    if check_formulation(formulation) != "auto":
        return formulation
    cov, gram = pair_costs(n, p, q)
    return "gram" if gram < cov else "covariance"


def matrix_costs(n: int, dims: list[int], n_pairs: int) -> tuple[float, float]:
    """(covariance, gram) flop estimates of a layer matrix over layers of widths ``dims`` with ``n_pairs``
    pairs to finish: n·D² for the stacked products (D = Σd) + Σd³ + pairs·d̄³ for the finishing, against
    n²·D + (layers + pairs)·4n³."""
    n = float(n)
    D = float(sum(dims))
    dbar = D / max(1, len(dims))
    cov = n * D * D + sum(float(d) ** 3 for d in dims) + n_pairs * dbar**3
    gram = n * n * D + (len(dims) + n_pairs) * 4.0 * n**3
    return cov, gram


def choose_matrix(n: int, dims: list[int], n_pairs: int, formulation: str = "auto") -> str:
    """``"gram"`` or ``"covariance"`` for a layer matrix: the cheaper by :func:`matrix_costs`, provided the
    n×n Grams of all layers fit in :data:`GRAM_BUDGET`; the gram route is also taken whenever the D×D
    covariance would exceed :data:`COVARIANCE_BUDGET` and the Grams fit."""
    if check_formulation(formulation) != "auto":
        return formulation
    grams_fit = 3 * len(dims) * n * n * 8 <= GRAM_BUDGET
    if not grams_fit:
        return "covariance"
    cov, gram = matrix_costs(n, dims, n_pairs)
    if gram < cov or sum(dims) ** 2 * 8 > COVARIANCE_BUDGET:
        return "gram"
    return "covariance"


class GramFactor:
    """One centred representation seen from the sample side.

    ``K`` the centred Gram XXᵀ (n×n), ``q`` its diagonal (squared norms of the centred rows), ``trace``
    = ‖X‖²_F, ``n``, ``d`` (feature count); ``s`` (descending singular values, zeros dropped) and ``U``
    (n×r, orthonormal columns) the thin factor X = U diag(s) Vᵀ, computed on first use (see the module
    docstring for the ``eigh``/QR choice; ``method`` says which); :meth:`data` the centred data (PWCCA's
    weights need it; given as an array or a loader).
    """

    def __init__(self, Xc: np.ndarray, *, data: np.ndarray | Callable[[], np.ndarray] | None = None,
                 spectrum: bool = True) -> None:
        self.n, self.d = int(Xc.shape[0]), int(Xc.shape[1])
        K = Xc @ Xc.T
        self.K = 0.5 * (K + K.T)
        self.q = np.diag(self.K).copy()
        self.trace = float(self.q.sum())
        self._data = data
        self._spec: tuple[np.ndarray, np.ndarray] | None = None
        self.method: str | None = None
        if spectrum:
            self._decompose(Xc)

    # ---- the thin factor -------------------------------------------------------------------------------
    @property
    def s(self) -> np.ndarray:
        return self._spectrum()[0]

    @property
    def U(self) -> np.ndarray:
        return self._spectrum()[1]

    def _spectrum(self) -> tuple[np.ndarray, np.ndarray]:
        return self._spec if self._spec is not None else self._decompose(self.data())

    def data(self) -> np.ndarray:
        """The centred data (n×d)."""
        if self._data is None:
            raise InputError("this Gram factor was built without its data; rebuild it with data=")
        return self._data() if callable(self._data) else self._data

    def _decompose(self, Xc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Compute, keep and return the thin factor (s, U) (and which method gave it)."""
        spec, self.method = self._factor(Xc)
        self._spec = spec
        return spec

    def _factor(self, Xc: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], str]:
        import scipy.linalg

        n = self.n
        if self.trace <= 0 or n == 0:
            return (np.zeros(0), np.zeros((n, 0))), "eigh"
        lam, V = scipy.linalg.eigh(self.K, driver="evd", check_finite=False)
        lam, V = lam[::-1], V[:, ::-1]
        top = max(float(lam[0]), 0.0)
        delta = 4.0 * np.finfo(np.float64).eps * np.sqrt(n) * top
        keep = lam > delta
        s = np.sqrt(lam[keep])
        # error bound, leaving out the one zero eigenvalue centring puts in every centred Gram
        n_small = int(np.count_nonzero(~keep)) - 1
        err = float(np.sum(delta / (2.0 * s))) if s.size else 0.0
        err += max(0, n_small) * np.sqrt(delta)
        if err <= EIG_ACCEPT * np.sqrt(self.trace):
            return (s, np.ascontiguousarray(V[:, keep])), "eigh"
        # QR of Xᵀ (d×n) then the SVD of the small triangular factor: X = Rᵀ Qᵀ, Rᵀ = U Σ Wᵀ
        try:
            R = scipy.linalg.qr(np.asarray(Xc).T, mode="r", check_finite=False)[0]
            U, s, _ = scipy.linalg.svd(R.T, full_matrices=False, check_finite=False)
        except (np.linalg.LinAlgError, ValueError):  # pragma: no cover - gesdd failure: slower gesvd
            U, s, _ = scipy.linalg.svd(np.asarray(Xc), full_matrices=False, lapack_driver="gesvd",
                                       check_finite=False)
        pos = s > 0
        return (s[pos], np.ascontiguousarray(U[:, pos])), "svd"

    # ---- products every finisher uses --------------------------------------------------------------------
    def cross(self, other: GramFactor) -> np.ndarray:
        """U_xᵀ U_y (r_x × r_y)."""
        if other.n != self.n:
            raise InputError(
                f"X has {self.n} samples but Y has {other.n}; both must describe the same samples"
            )
        return self.U.T @ other.U

    def scaled_cross(self, other: GramFactor, wx: np.ndarray | None = None, wy: np.ndarray | None = None
                     ) -> np.ndarray:
        """diag(w_x) U_xᵀ U_y diag(w_y) (default w = s: the singular values of XᵀY are this matrix's)."""
        wx = self.s if wx is None else wx
        wy = other.s if wy is None else wy
        return wx[:, None] * self.cross(other) * wy[None, :]
