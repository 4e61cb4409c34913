"""Centered kernel alignment (CKA) and the HSIC estimators behind it.

Definitions (X: n×p, Y: n×q, columns centred, K = XXᵀ, L = YYᵀ, H = I − 11ᵀ/n):

* HSIC₀(K, L) = tr(KHLH) / (n−1)² — biased (Gretton et al. 2005).
* HSIC₁(K, L) = [tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1)/((n−1)(n−2)) − 2·1ᵀK̃L̃1/(n−2)] / (n(n−3)), K̃, L̃ the Gram
  matrices with zeroed diagonal — unbiased (Song et al. 2012, "Feature selection via dependence
  maximization", JMLR 13, eq. 5).
* CKA(K, L) = HSIC(K, L) / √(HSIC(K, K)·HSIC(L, L)) (Kornblith et al. 2019, "Similarity of neural network
  representations revisited", ICML); with HSIC₁ in numerator *and* denominator it is debiased CKA
  (Nguyen, Raghu & Kornblith 2021, "Do wide and deep networks learn the same things?", ICLR).

For the linear kernel everything is computed in feature space, never forming an n×n matrix:
linear CKA = ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F), and with qᵢ = ‖xᵢ‖² (centred rows)
n(n−3)·HSIC₁ = ‖YᵀX‖²_F − n/(n−2)·q_xᵀq_y + (Σq_x)(Σq_y)/((n−1)(n−2)).
All products accumulate in float64 after two-pass centring, so a large mean offset costs no digits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.metrics._common import centre, pair, single, use_torch

__all__ = [
    "linear_cka",
    "debiased_cka",
    "rbf_cka",
    "gram_linear",
    "gram_rbf",
    "center_gram",
    "hsic_biased",
    "hsic_unbiased",
    "cka_from_grams",
    "MinibatchCKA",
    "minibatch_cka",
    "linear_cka_prepare",
    "linear_cka_compare",
    "rbf_cka_prepare",
    "rbf_cka_compare",
    "linear_cka_from_cov",
    "debiased_cka_from_cov",
    "linear_cka_from_grams",
    "debiased_cka_from_grams",
]


# --------------------------------------------------------------------------------------------------
# Gram-matrix (n×n) forms: reference formulas, and the only option for non-linear kernels
# --------------------------------------------------------------------------------------------------


def gram_linear(X: ArrayLike) -> np.ndarray:
    """Linear kernel Gram matrix K = XXᵀ (n×n, float64)."""
    A = single(X)
    return A @ A.T


def _sq_dists(A: np.ndarray, device: Any = None) -> np.ndarray:
    dev = use_torch(device)
    if dev is not None:
        import torch

        t = torch.as_tensor(A, dtype=torch.float64, device=dev)
        t = t - t.mean(0)
        G = t @ t.T
        sq = torch.diagonal(G)
        D = (sq[:, None] + sq[None, :] - 2.0 * G).clamp_min_(0.0)
        return D.cpu().numpy()
    Ac = centre(A)  # distances are shift invariant; centring reduces cancellation in ‖a‖²+‖b‖²−2aᵀb
    G = Ac @ Ac.T
    sq = np.diag(G).copy()
    D = sq[:, None] + sq[None, :] - 2.0 * G
    np.maximum(D, 0.0, out=D)
    np.fill_diagonal(D, 0.0)
    return D


def gram_rbf(X: ArrayLike, sigma: float = 1.0, *, device: Any = None) -> np.ndarray:
    """RBF Gram matrix k(x, y) = exp(−‖x−y‖² / (2 σ² · median‖x−y‖²)).

    The bandwidth is σ times the median pairwise distance; as in Kornblith et al. (2019, reference
    code ``gram_rbf(x, threshold)``) the median is taken over all n² squared distances, diagonal
    included.
    """
    if not np.isfinite(sigma) or sigma <= 0:
        raise InputError(f"sigma={sigma!r}; the RBF bandwidth factor must be a positive number (e.g. 1.0)")
    A = single(X)
    D = _sq_dists(A, device)
    med = float(np.median(D))
    if med <= 0:
        raise InputError("more than half of the pairwise distances are zero; the RBF bandwidth is undefined")
    return np.exp(-D / (2.0 * sigma**2 * med))


def center_gram(K: np.ndarray, unbiased: bool = False) -> np.ndarray:
    """Double-centred Gram HKH (a copy). ``unbiased=True`` gives the U-centring of Kornblith's reference
    code, for which ⟨Ũ(K), Ũ(L)⟩ = n(n−3)·HSIC₁(K, L)."""
    K = np.array(K, dtype=np.float64, copy=True)
    n = K.shape[0]
    if unbiased:
        np.fill_diagonal(K, 0.0)
        means = K.sum(0) / (n - 2)
        means -= means.sum() / (2 * (n - 1))
        K -= means[:, None]
        K -= means[None, :]
        np.fill_diagonal(K, 0.0)
    else:
        means = K.mean(0)
        means -= means.mean() / 2
        K -= means[:, None]
        K -= means[None, :]
    return K


def hsic_biased(K: np.ndarray, L: np.ndarray) -> float:
    """HSIC₀ = tr(KHLH)/(n−1)² (Gretton et al. 2005)."""
    n = K.shape[0]
    return float(np.sum(center_gram(K) * center_gram(L)) / (n - 1) ** 2)


def hsic_unbiased(K: np.ndarray, L: np.ndarray) -> float:
    """HSIC₁, Song et al. (2012) eq. 5, written out literally with zero-diagonal K̃, L̃ (needs n ≥ 4)."""
    n = K.shape[0]
    if n < 4:
        raise InputError(f"the unbiased HSIC estimator needs at least 4 samples, got {n}")
    Kt = np.array(K, dtype=np.float64, copy=True)
    Lt = np.array(L, dtype=np.float64, copy=True)
    np.fill_diagonal(Kt, 0.0)
    np.fill_diagonal(Lt, 0.0)
    one = np.ones(n)
    term1 = np.trace(Kt @ Lt)
    term2 = (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
    term3 = 2.0 * (one @ Kt @ Lt @ one) / (n - 2)
    return float((term1 + term2 - term3) / (n * (n - 3)))


def cka_from_grams(K: np.ndarray, L: np.ndarray, *, debiased: bool = False) -> float:
    """CKA from two n×n Gram matrices (biased: centred Frobenius cosine; debiased: HSIC₁ throughout)."""
    Kc = center_gram(K, unbiased=debiased)
    Lc = center_gram(L, unbiased=debiased)
    return _ratio(float(np.sum(Kc * Lc)), float(np.sum(Kc * Kc)), float(np.sum(Lc * Lc)), debiased)


def _ratio(xy: float, xx: float, yy: float, debiased: bool) -> float:
    if xx <= 0 or yy <= 0:
        if debiased:
            raise InputError(
                "the unbiased self-HSIC of a representation is ≤ 0 (too few samples or rank-1 data), so "
                "debiased CKA is undefined; use linear_cka or more samples"
            )
        raise InputError("a representation has zero variance after centring; CKA is undefined")
    return float(xy / np.sqrt(xx * yy))


# --------------------------------------------------------------------------------------------------
# Feature-space linear CKA
# --------------------------------------------------------------------------------------------------


def _products(Xc: np.ndarray, Yc: np.ndarray, device: Any, formulation: str = "auto"
              ) -> tuple[float, float, float]:
    """(‖XᵀY‖²_F, ‖XᵀX‖²_F, ‖YᵀY‖²_F) choosing the cheaper of the feature and the Gram form (or the one
    ``formulation`` forces)."""
    from repscope.metrics.gram import check_formulation

    n, p = Xc.shape
    q = Yc.shape[1]
    gram = {"auto": n < max(p, q), "gram": True, "covariance": False}[check_formulation(formulation)]
    dev = use_torch(device)
    if dev is not None:
        import torch

        X = torch.as_tensor(Xc, device=dev)
        Y = torch.as_tensor(Yc, device=dev)
        if gram:
            K, L = X @ X.T, Y @ Y.T
            return float((K * L).sum()), float((K * K).sum()), float((L * L).sum())
        return (
            float(torch.linalg.matrix_norm(X.T @ Y) ** 2),
            float(torch.linalg.matrix_norm(X.T @ X) ** 2),
            float(torch.linalg.matrix_norm(Y.T @ Y) ** 2),
        )
    if gram:  # Gram form is cheaper when n < max(p, q): O(n²(p+q)) instead of O(n(p+q)²)
        K, L = Xc @ Xc.T, Yc @ Yc.T
        return float(np.vdot(K, L)), float(np.vdot(K, K)), float(np.vdot(L, L))
    Sxy = Xc.T @ Yc
    Sxx = Xc.T @ Xc  # numpy dispatches AᵀA to BLAS syrk
    Syy = Yc.T @ Yc
    return float(np.vdot(Sxy, Sxy)), float(np.vdot(Sxx, Sxx)), float(np.vdot(Syy, Syy))


def _debias(xy: float, qx: np.ndarray, qy: np.ndarray, n: int) -> float:
    """n(n−3)·HSIC₁ from ‖XᵀY‖²_F and the squared row norms (Nguyen et al. 2021, feature-space form)."""
    return xy - n / (n - 2.0) * float(qx @ qy) + float(qx.sum()) * float(qy.sum()) / ((n - 1.0) * (n - 2.0))


def linear_cka_from_cov(Sxx: np.ndarray, Syy: np.ndarray, Sxy: np.ndarray) -> float:
    """Linear CKA from the centred blocks: ‖S_xy‖²_F / (‖S_xx‖_F ‖S_yy‖_F) (Kornblith et al. 2019)."""
    return _ratio(float(np.vdot(Sxy, Sxy)), float(np.vdot(Sxx, Sxx)), float(np.vdot(Syy, Syy)), False)


def debiased_cka_from_cov(
    Sxx: np.ndarray, Syy: np.ndarray, Sxy: np.ndarray, *, n: int, qx: np.ndarray, qy: np.ndarray
) -> float:
    """Debiased CKA from the centred blocks, the row count n and the squared norms q of the centred rows:
    n(n−3)·HSIC₁ = ‖S_xy‖²_F − n/(n−2)·q_xᵀq_y + (Σq_x)(Σq_y)/((n−1)(n−2)) (Song et al. 2012)."""
    if n < 4:
        raise InputError("debiased CKA needs at least 4 samples")
    return _ratio(
        _debias(float(np.vdot(Sxy, Sxy)), qx, qy, n),
        _debias(float(np.vdot(Sxx, Sxx)), qx, qx, n),
        _debias(float(np.vdot(Syy, Syy)), qy, qy, n),
        True,
    )


def linear_cka_from_grams(fx: Any, fy: Any) -> float:
    """Linear CKA from the centred Grams (:class:`repscope.metrics.gram.GramFactor`):
    ⟨K_X, K_Y⟩_F / (‖K_X‖_F ‖K_Y‖_F) — ⟨K_X, K_Y⟩_F = ‖XᵀY‖²_F (Kornblith et al. 2019, eq. 4)."""
    return _ratio(float(np.vdot(fx.K, fy.K)), float(np.vdot(fx.K, fx.K)), float(np.vdot(fy.K, fy.K)), False)


def debiased_cka_from_grams(fx: Any, fy: Any) -> float:
    """Debiased CKA from the centred Grams: the feature-space formula of :func:`debiased_cka_from_cov` with
    ‖XᵀY‖²_F = ⟨K_X, K_Y⟩_F and q = diag K."""
    n = fx.n
    if n < 4:
        raise InputError("debiased CKA needs at least 4 samples")
    return _ratio(
        _debias(float(np.vdot(fx.K, fy.K)), fx.q, fy.q, n),
        _debias(float(np.vdot(fx.K, fx.K)), fx.q, fx.q, n),
        _debias(float(np.vdot(fy.K, fy.K)), fy.q, fy.q, n),
        True,
    )


def linear_cka(X: ArrayLike, Y: ArrayLike, *, debiased: bool = False, device: Any = None,
               formulation: str = "auto") -> float:
    """Linear CKA = ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) on column-centred X (n×p), Y (n×q).

    Kornblith et al. (2019), eq. for linear CKA in feature space; equals tr(K̃L̃)/(‖K̃‖_F‖L̃‖_F) with
    K̃ = HXXᵀH. ``debiased=True`` replaces every HSIC by the unbiased HSIC₁ (Song et al. 2012;
    Nguyen et al. 2021) — see :func:`debiased_cka`. Cost O(n·(p+q)²) (or O(n²(p+q)) when n < p, q).
    A similarity in [0, 1]; 1 for identical representations up to rotation and isotropic scaling.

    ``device``: ``None``/``"cpu"`` uses numpy/BLAS; ``"cuda"``/``"auto"`` runs the products in torch.
    ``formulation``: ``"auto"`` (n×n Grams when n < max(p, q), else the feature-space products),
    ``"gram"`` or ``"covariance"`` to force one (:mod:`repscope.metrics.gram`).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import linear_cka
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 8))
    >>> Q, _ = np.linalg.qr(rng.normal(size=(8, 8)))      # a random rotation
    >>> round(linear_cka(X, 3 * X @ Q), 6)                # invariant to rotation and isotropic scaling
    1.0
    >>> 0 < linear_cka(X, rng.normal(size=(50, 8))) < 1
    True
    """
    A, B = pair(X, Y, min_samples=4 if debiased else 3)
    Xc, Yc = centre(A), centre(B)
    xy, xx, yy = _products(Xc, Yc, device, formulation)
    if debiased:
        n = Xc.shape[0]
        qx = np.einsum("ij,ij->i", Xc, Xc)
        qy = np.einsum("ij,ij->i", Yc, Yc)
        return _ratio(_debias(xy, qx, qy, n), _debias(xx, qx, qx, n), _debias(yy, qy, qy, n), True)
    return _ratio(xy, xx, yy, False)


def debiased_cka(X: ArrayLike, Y: ArrayLike, *, device: Any = None, formulation: str = "auto") -> float:
    """Debiased linear CKA = HSIC₁(K, L) / √(HSIC₁(K, K)·HSIC₁(L, L)), K = XXᵀ, L = YYᵀ.

    Unbiased HSIC estimator of Song et al. (2012) in numerator *and* denominator, as in Nguyen et al.
    (2021) and Kornblith's reference ``feature_space_linear_cka(..., debiased=True)``; computed in feature
    space: n(n−3)·HSIC₁ = ‖YᵀX‖²_F − n/(n−2)·q_xᵀq_y + (Σq_x)(Σq_y)/((n−1)(n−2)), qᵢ = ‖xᵢ‖² of the
    centred rows. Close to 0 for independent representations even at small n; may be negative.
    Needs n ≥ 4.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import debiased_cka
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 5))
    >>> round(debiased_cka(X, -2 * X), 6)
    1.0
    >>> abs(debiased_cka(X, rng.normal(size=(60, 5)))) < 0.1   # ≈ 0 for independent data (biased CKA is not)
    True
    """
    return linear_cka(X, Y, debiased=True, device=device, formulation=formulation)


def rbf_cka(X: ArrayLike, Y: ArrayLike, sigma: float = 1.0, *, debiased: bool = False, device: Any = None) -> float:
    """RBF-kernel CKA (Kornblith et al. 2019): CKA of the Gram matrices
    k(x, y) = exp(−‖x−y‖² / (2σ²·median‖x−y‖²)), bandwidth σ × the median pairwise distance.

    O(n²(p+q)) time. Memory: up to n = :data:`RBF_DENSE_MAX_N` the n×n matrices are formed
    (``device="cuda"`` computes them with torch); above it the Gram matrices are streamed in row blocks
    of :data:`RBF_BLOCK_BYTES` (:class:`_BlockedRBF`: exact median by a two-pass histogram selection, then
    the HSIC sums block by block), so memory is O(b·n) — n = 50 000 runs in well under 1 GiB.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import rbf_cka
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 6))
    >>> Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    >>> round(rbf_cka(X, X @ Q + 5.0), 6)        # distances (hence the RBF Gram) unchanged
    1.0
    """
    A, B = pair(X, Y, min_samples=4 if debiased else 3)
    if A.shape[0] > RBF_DENSE_MAX_N:
        a, b = _BlockedRBF(A, sigma, debiased), _BlockedRBF(B, sigma, debiased)
        return _ratio(a.hsic_with(b), a.self_hsic, b.self_hsic, debiased)
    return cka_from_grams(
        gram_rbf(A, sigma, device=device), gram_rbf(B, sigma, device=device), debiased=debiased
    )


#: Largest n for which RBF CKA forms dense n×n matrices; above it Gram rows are streamed.
RBF_DENSE_MAX_N = 3000
#: Bytes of one block of Gram rows (float64) in the streamed RBF path.
RBF_BLOCK_BYTES = 32 << 20


class _BlockedRBF:
    """RBF Gram matrix of one representation, streamed in row blocks (never n×n in memory).

    Squared distances D_ij = q_i + q_j − 2 x̃_iᵀx̃_j of the centred rows (as :func:`gram_rbf`). The median
    of all n² entries (diagonal included, as Kornblith's reference) is found exactly in two passes: a
    2¹⁶-bin histogram on [0, 4·max q] locates the bins of the middle order statistics, a second pass
    collects the few values in them. Then K = exp(−D/(2σ²·med)) with the diagonal zeroed for the
    debiased (U-)statistics. HSIC sums: biased ⟨HKH, HLH⟩ = Σ K∘L − (2/n) kᵀl + (1ᵀk)(1ᵀl)/n²
    (k = K1); debiased n(n−3)·HSIC₁ = Σ K̃∘L̃ + (1ᵀk̃)(1ᵀl̃)/((n−1)(n−2)) − 2 k̃ᵀl̃/(n−2).
    """

    _BINS = 1 << 16

    def __init__(self, A: np.ndarray, sigma: float, debiased: bool) -> None:
        if not np.isfinite(sigma) or sigma <= 0:
            raise InputError(f"sigma={sigma!r}; the RBF bandwidth factor must be a positive number (e.g. 1.0)")
        self.X = centre(A)
        self.n = self.X.shape[0]
        self.q = np.einsum("ij,ij->i", self.X, self.X)
        self.debiased = debiased
        self.rows = max(1, RBF_BLOCK_BYTES // (8 * self.n))
        med = self._median()
        if med <= 0:
            raise InputError("more than half of the pairwise distances are zero; the RBF bandwidth is undefined")
        self.scale = 2.0 * sigma**2 * med
        self.k = np.concatenate([K.sum(axis=1) for _, K in self.blocks()])
        self.self_hsic = self.hsic_with(self)

    def _dist(self, lo: int, hi: int) -> np.ndarray:
        D = self.q[lo:hi, None] + self.q[None, :] - 2.0 * (self.X[lo:hi] @ self.X.T)
        np.maximum(D, 0.0, out=D)
        D[np.arange(hi - lo), np.arange(lo, hi)] = 0.0
        return D

    def _median(self) -> float:
        n2 = self.n * self.n
        ranks = np.array([(n2 - 1) // 2, n2 // 2])
        upper = 4.0 * float(self.q.max()) * (1 + 1e-12) + 1e-300
        hist = np.zeros(self._BINS, dtype=np.int64)
        for lo in range(0, self.n, self.rows):
            b = self._bin(self._dist(lo, min(self.n, lo + self.rows)), upper)
            hist += np.bincount(b.ravel(), minlength=self._BINS)
        cum = np.cumsum(hist)
        bins = np.searchsorted(cum, ranks + 1)
        below = np.where(bins > 0, cum[np.maximum(bins - 1, 0)], 0)
        vals = []
        for lo in range(0, self.n, self.rows):
            D = self._dist(lo, min(self.n, lo + self.rows))
            b = self._bin(D, upper)
            vals.append(D[(b >= bins.min()) & (b <= bins.max())])
        vals = np.sort(np.concatenate(vals))
        return float(0.5 * (vals[ranks[0] - below.min()] + vals[ranks[1] - below.min()]))

    def _bin(self, D: np.ndarray, upper: float) -> np.ndarray:
        return np.minimum((D * (self._BINS / upper)).astype(np.int64), self._BINS - 1)

    def blocks(self):
        for lo in range(0, self.n, self.rows):
            hi = min(self.n, lo + self.rows)
            K = np.exp(-self._dist(lo, hi) / self.scale)
            if self.debiased:
                K[np.arange(hi - lo), np.arange(lo, hi)] = 0.0
            yield lo, K

    def hsic_with(self, other: _BlockedRBF) -> float:
        """Unnormalised (biased: centred Frobenius product; debiased: n(n−3)·HSIC₁) HSIC with ``other``."""
        if other.n != self.n:
            raise InputError("the two representations have different numbers of samples")
        if other is self:
            tot = sum(float(np.vdot(K, K)) for _, K in self.blocks())
        else:
            tot = sum(float(np.vdot(K, L)) for (_, K), (_, L) in zip(self.blocks(), other.blocks()))
        n, sk, sl, kl = self.n, float(self.k.sum()), float(other.k.sum()), float(self.k @ other.k)
        if self.debiased:
            return tot + sk * sl / ((n - 1) * (n - 2)) - 2.0 * kl / (n - 2)
        return tot - 2.0 * kl / n + sk * sl / (n * n)


# --------------------------------------------------------------------------------------------------
# prepare/compare (per-layer work once) for layer matrices
# --------------------------------------------------------------------------------------------------


def linear_cka_prepare(X: ArrayLike, *, debiased: bool = False) -> dict[str, Any]:
    """Centre once; keep the centred matrix, its self-product norm and squared row norms."""
    Xc = centre(single(X, min_samples=4 if debiased else 3))
    n = Xc.shape[0]
    q = np.einsum("ij,ij->i", Xc, Xc)
    G = Xc.T @ Xc if n >= Xc.shape[1] else Xc @ Xc.T
    xx = float(np.vdot(G, G))
    return {"Xc": Xc, "q": q, "xx": xx, "debiased": debiased}


def linear_cka_compare(a: dict[str, Any], b: dict[str, Any]) -> float:
    Xc, Yc = a["Xc"], b["Xc"]
    if Xc.shape[0] != Yc.shape[0]:
        raise InputError(
            f"X has {Xc.shape[0]} samples but Y has {Yc.shape[0]}; both must describe the same samples"
        )
    n, p = Xc.shape
    q = Yc.shape[1]
    if n < max(p, q):
        xy = float(np.vdot(Xc @ Xc.T, Yc @ Yc.T))
    else:
        S = Xc.T @ Yc
        xy = float(np.vdot(S, S))
    if a["debiased"]:
        return _ratio(
            _debias(xy, a["q"], b["q"], n),
            _debias(a["xx"], a["q"], a["q"], n),
            _debias(b["xx"], b["q"], b["q"], n),
            True,
        )
    return _ratio(xy, a["xx"], b["xx"], False)


def rbf_cka_prepare(
    X: ArrayLike, *, sigma: float = 1.0, debiased: bool = False, device: Any = None
) -> dict[str, Any]:
    """Centred (U-centred when ``debiased``) RBF Gram matrix, scaled to unit Frobenius norm; above
    :data:`RBF_DENSE_MAX_N` samples a streamed Gram (:class:`_BlockedRBF`, O(b·n) memory) instead."""
    A = single(X, min_samples=4 if debiased else 3)
    if A.shape[0] > RBF_DENSE_MAX_N:
        return {"blocked": _BlockedRBF(A, sigma, debiased), "debiased": debiased}
    K = center_gram(
        gram_rbf(A, sigma, device=device), unbiased=debiased
    )
    nrm = float(np.sqrt(np.vdot(K, K))) if not debiased else float(np.sqrt(max(np.vdot(K, K), 0.0)))
    if nrm <= 0:
        raise InputError("the centred RBF Gram matrix is zero; CKA is undefined")
    return {"K": K / nrm}


def rbf_cka_compare(a: dict[str, Any], b: dict[str, Any]) -> float:
    if "blocked" in a or "blocked" in b:
        if not ("blocked" in a and "blocked" in b):
            raise InputError("the two prepared Gram matrices come from different numbers of samples")
        x, y = a["blocked"], b["blocked"]
        return _ratio(x.hsic_with(y), x.self_hsic, y.self_hsic, a["debiased"])
    if a["K"].shape != b["K"].shape:
        raise InputError("the two prepared Gram matrices come from different numbers of samples")
    return float(np.vdot(a["K"], b["K"]))


# --------------------------------------------------------------------------------------------------
# Minibatch CKA (Nguyen et al. 2021)
# --------------------------------------------------------------------------------------------------


class MinibatchCKA:
    """Streaming minibatch CKA (Nguyen, Raghu & Kornblith 2021, sec. 3.1):

    CKA_mb = Σ_b HSIC₁(K_b, L_b) / √(Σ_b HSIC₁(K_b, K_b) · Σ_b HSIC₁(L_b, L_b)),

    with the unbiased HSIC₁ of each minibatch computed in feature space (no B×B Gram), accumulated in
    float64. Call :meth:`update` once per batch (same samples in X and Y, ≥ 4 rows), read :attr:`value`.
    Works for one pair; for many layers keep one accumulator per pair or per-layer sums.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import MinibatchCKA
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 6))
    >>> acc = MinibatchCKA()
    >>> for i in range(0, 200, 50):
    ...     _ = acc.update(X[i:i + 50], 2 * X[i:i + 50])
    >>> round(acc.value, 6)
    1.0
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> MinibatchCKA:
        self.hsic_xy_ = 0.0
        self.hsic_xx_ = 0.0
        self.hsic_yy_ = 0.0
        self.n_batches_ = 0
        self.n_samples_ = 0
        return self

    def update(self, X: ArrayLike, Y: ArrayLike) -> MinibatchCKA:
        """Add one minibatch (rows of X and Y describe the same samples)."""
        A, B = pair(X, Y, min_samples=4)
        Xc, Yc = centre(A), centre(B)  # HSIC₁ is invariant to centring; centring keeps the digits
        n = Xc.shape[0]
        xy, xx, yy = _products(Xc, Yc, None)
        qx = np.einsum("ij,ij->i", Xc, Xc)
        qy = np.einsum("ij,ij->i", Yc, Yc)
        norm = n * (n - 3.0)
        self.hsic_xy_ += _debias(xy, qx, qy, n) / norm
        self.hsic_xx_ += _debias(xx, qx, qx, n) / norm
        self.hsic_yy_ += _debias(yy, qy, qy, n) / norm
        self.n_batches_ += 1
        self.n_samples_ += n
        return self

    @property
    def value(self) -> float:
        if self.n_batches_ == 0:
            raise InputError("MinibatchCKA has seen no batch yet; call update(X_batch, Y_batch) first")
        return _ratio(self.hsic_xy_, self.hsic_xx_, self.hsic_yy_, True)


def minibatch_cka(X: ArrayLike, Y: ArrayLike, *, batch_size: int = 256, seed: int | None = 0) -> float:
    """Minibatch CKA of X and Y over shuffled batches of ``batch_size`` rows (Nguyen et al. 2021).

    ``seed=None`` keeps the sample order. A final batch with fewer than 4 rows is dropped.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import minibatch_cka
    >>> X = np.random.default_rng(0).normal(size=(200, 6))
    >>> round(minibatch_cka(X, X, batch_size=50, seed=0), 6)
    1.0
    """
    A, B = pair(X, Y, min_samples=4)
    if batch_size < 4:
        raise InputError(f"batch_size={batch_size}; minibatch CKA needs batches of at least 4 samples")
    n = A.shape[0]
    order = np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)
    acc = MinibatchCKA()
    for s in range(0, n, batch_size):
        idx = order[s : s + batch_size]
        if idx.size >= 4:
            acc.update(A[idx], B[idx])
    return acc.value
