"""Representational similarity analysis (Kriegeskorte, Mur & Bandettini 2008, Front. Syst. Neurosci.).

A representational dissimilarity matrix (RDM) holds a dissimilarity for every pair of samples; two
representations are compared through their RDMs (upper triangles, diagonal excluded).

RDM methods (rows xᵢ of X):
* ``"correlation"``: 1 − Pearson(xᵢ, xⱼ) across features (a sample whose features are all equal has no
  defined correlation; it is treated as uncorrelated with everything, dissimilarity 1);
* ``"cosine"``: 1 − xᵢᵀxⱼ/(‖xᵢ‖‖xⱼ‖) (all-zero rows likewise get dissimilarity 1);
* ``"euclidean"``: ‖xᵢ − xⱼ‖; ``"sqeuclidean"``: ‖xᵢ − xⱼ‖² (rsatoolbox's ``"euclidean"`` is this divided
  by the number of features — the same RDM up to scale).

RDM comparators (RDM vectors a, b of length m = n(n−1)/2):
* ``"pearson"``, ``"spearman"`` (Pearson of average ranks), ``"cosine"``;
* ``"kendall_tau_a"``: τ_a = (concordant − discordant)/(m(m−1)/2), no tie correction, recommended by
  Nili et al. (2014, PLoS Comput. Biol.) when RDMs have ties; computed in O(m log m) from scipy's τ_b;
* ``"cosine_cov"`` / ``"corr_cov"``: whitened comparisons of rsatoolbox (Diedrichsen et al. 2021,
  "Comparing representational geometries using whitened unbiased-distance-matrix similarity",
  Neurons Behav. Data Anal. Theory) for i.i.d. pattern noise: the RDM entries are whitened by their
  covariance, which equals comparing the double-centred second-moment matrices G = −½ H D H by their
  Frobenius cosine (``"corr_cov"`` first subtracts the mean dissimilarity). The *unbiased* part of that
  method needs cross-validated distances from repeated measurements, which single activation matrices
  do not have.

Cost: O(n²·d) with BLAS for the RDMs and O(n²) memory, so keep n ≲ 20 000.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from repscope.errors import InputError
from repscope.metrics._common import centre, check_choice, pair, single, use_torch

__all__ = [
    "rdm",
    "compare_rdms",
    "rsa",
    "rsa_prepare",
    "rsa_compare",
    "kendall_tau_a",
    "RDM_METHODS",
    "COMPARATORS",
]

RDM_METHODS = ("correlation", "cosine", "euclidean", "sqeuclidean")
COMPARATORS = ("pearson", "spearman", "kendall_tau_a", "cosine", "cosine_cov", "corr_cov")


def _square_rdm(A: np.ndarray, method: str, device: Any = None) -> np.ndarray:
    check_choice(method, "rdm", RDM_METHODS)
    if method == "correlation":
        Z = A - A.mean(axis=1, keepdims=True)
    elif method == "cosine":
        Z = A.copy()
    else:
        Z = centre(A)  # distances are shift-invariant; centring limits cancellation
    if method in ("correlation", "cosine"):
        nrm = np.linalg.norm(Z, axis=1)
        ok = nrm > 0
        Z[ok] /= nrm[ok, None]
    dev = use_torch(device)
    if dev is not None:
        import torch

        t = torch.as_tensor(Z, device=dev)
        G = (t @ t.T).cpu().numpy()
    else:
        G = Z @ Z.T
    if method in ("correlation", "cosine"):
        D = 1.0 - G
    else:
        sq = np.diag(G).copy()
        D = sq[:, None] + sq[None, :] - 2.0 * G
        np.maximum(D, 0.0, out=D)
        if method == "euclidean":
            np.sqrt(D, out=D)
    np.fill_diagonal(D, 0.0)
    return D


def rdm(X: Any, method: str = "correlation", *, device: Any = None) -> np.ndarray:
    """Upper-triangle RDM vector (length n(n−1)/2, row-major order like scipy ``pdist``) of X (n×d)."""
    A = single(X)
    D = _square_rdm(A, method, device)
    return D[np.triu_indices(A.shape[0], 1)]


def _rankdata(v: np.ndarray) -> np.ndarray:
    import scipy.stats

    return scipy.stats.rankdata(v)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt(float(a @ a) * float(b @ b))
    if den <= 0:
        raise InputError("an RDM is constant (all dissimilarities equal); its correlation is undefined")
    return float(a @ b / den)


def kendall_tau_a(a: Any, b: Any) -> float:
    """Kendall's τ_a = (n_c − n_d) / (m(m−1)/2) in O(m log m).

    scipy returns τ_b = (n_c − n_d)/√((N₀ − T_a)(N₀ − T_b)) with N₀ = m(m−1)/2 and T the pairs tied in
    each vector, so τ_a = τ_b·√((N₀ − T_a)(N₀ − T_b))/N₀ (equals rsatoolbox ``compare_kendall_tau_a``).
    """
    import scipy.stats

    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape or a.size < 2:
        raise InputError(
            f"kendall_tau_a needs two vectors of the same length ≥ 2, got {a.shape} and {b.shape}"
        )
    m = a.size
    n0 = m * (m - 1) / 2.0

    def ties(v: np.ndarray) -> float:
        _, c = np.unique(v, return_counts=True)
        c = c.astype(np.float64)
        return float(np.sum(c * (c - 1) / 2.0))

    ta, tb = ties(a), ties(b)
    if ta >= n0 or tb >= n0:
        return 0.0
    tau_b = scipy.stats.kendalltau(a, b, variant="b").statistic
    return float(np.clip(tau_b * np.sqrt((n0 - ta) * (n0 - tb)) / n0, -1.0, 1.0))


def _double_centred(D: np.ndarray) -> np.ndarray:
    G = -0.5 * D
    G -= G.mean(axis=0, keepdims=True)
    G -= G.mean(axis=1, keepdims=True)
    return G


def rsa_prepare(X: Any, *, rdm: str = "correlation", compare: str = "spearman", device: Any = None) -> dict:
    """Per-representation work for :func:`rsa`: the RDM, already transformed for the comparator."""
    check_choice(compare, "compare", COMPARATORS)
    A = single(X)
    D = _square_rdm(A, rdm, device)
    n = A.shape[0]
    if compare in ("cosine_cov", "corr_cov"):
        if compare == "corr_cov":
            iu = np.triu_indices(n, 1)
            mu = D[iu].mean()
            D = D - mu
            np.fill_diagonal(D, 0.0)
        G = _double_centred(D)
        nrm = np.linalg.norm(G)
        if nrm <= 0:
            raise InputError("an RDM is constant after centring; the whitened comparison is undefined")
        return {"compare": compare, "v": G / nrm, "n": n}
    v = D[np.triu_indices(n, 1)]
    if compare == "spearman":
        v = _rankdata(v)
    if compare in ("pearson", "spearman"):
        v = v - v.mean()
    if compare != "kendall_tau_a":
        nrm = np.linalg.norm(v)
        if nrm <= 0:
            raise InputError("an RDM is constant (all dissimilarities equal); the comparison is undefined")
        v = v / nrm
    return {"compare": compare, "v": v, "n": n}


def rsa_compare(a: dict, b: dict) -> float:
    if a["compare"] != b["compare"] or a["n"] != b["n"]:
        raise InputError(
            "the two prepared RDMs differ in comparator or number of samples; prepare both alike"
        )
    if a["compare"] == "kendall_tau_a":
        return kendall_tau_a(a["v"], b["v"])
    return float(np.clip(np.vdot(a["v"], b["v"]), -1.0, 1.0))


def compare_rdms(a: Any, b: Any, method: str = "spearman") -> float:
    """Compare two RDM vectors (upper triangles) with ``"pearson"``, ``"spearman"``, ``"kendall_tau_a"``
    or ``"cosine"`` (for the whitened comparators use :func:`rsa` on the activations)."""
    check_choice(method, "method", ("pearson", "spearman", "kendall_tau_a", "cosine"))
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise InputError(
            f"RDM vectors have lengths {a.size} and {b.size}; both must come from the same samples"
        )
    if method == "kendall_tau_a":
        return kendall_tau_a(a, b)
    if method == "spearman":
        return _pearson(_rankdata(a), _rankdata(b))
    if method == "pearson":
        return _pearson(a, b)
    den = np.linalg.norm(a) * np.linalg.norm(b)
    if den <= 0:
        raise InputError("an RDM is all zeros; the cosine is undefined")
    return float(a @ b / den)


def rsa(X: Any, Y: Any, *, rdm: str = "correlation", compare: str = "spearman", device: Any = None) -> float:
    """RSA similarity: compare the RDMs of X (n×p) and Y (n×q) over the same n samples.

    Default: correlation-distance RDMs (1 − Pearson between samples) compared by Spearman rank
    correlation (Kriegeskorte et al. 2008). See the module docstring for all ``rdm=`` and ``compare=``
    choices. A similarity in [−1, 1]. Needs n ≥ 3.
    """
    A, B = pair(X, Y)
    return rsa_compare(
        rsa_prepare(A, rdm=rdm, compare=compare, device=device),
        rsa_prepare(B, rdm=rdm, compare=compare, device=device),
    )
