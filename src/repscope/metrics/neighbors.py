"""Nearest-neighbour agreement between representations.

Mutual k-NN alignment (Huh, Cheung, Wang & Isola 2024, "The platonic representation hypothesis", ICML):
rows are L2-normalised, each sample's k nearest neighbours are the k largest dot products excluding the
sample itself, and

    mutual_knn = (1/n) Σᵢ |N_k^X(i) ∩ N_k^Y(i)| / k,      jaccard_knn = (1/n) Σᵢ |∩| / |∪|.

Similarities in [0, 1]; chance level for unrelated representations is ≈ k/(n−1).

Relatives from the same paper (reference code: github.com/minyoungg/platonic-rep, ``metrics.py``):

* **cycle-kNN**: the fraction of samples i that come back to themselves when stepping to a k-NN of i in
  Y and then to a k-NN of that sample in X: (1/n) Σᵢ 1[i ∈ ⋃_{j ∈ N_k^Y(i)} N_k^X(j)].
* **CKNNA** (centred kernel nearest-neighbour alignment): CKA restricted to the pairs that are mutual
  neighbours. With K = X̂X̂ᵀ, L = ŶŶᵀ (rows L2-normalised) and the mask α_ij = 1[j ∈ N_k^X(i) ∩ N_k^Y(i)]
  (self excluded), CKNNA = HSIC₁(α∘K, α∘L)/√(HSIC₁(α_X∘K, α_X∘K)·HSIC₁(α_Y∘L, α_Y∘L)) with α_X the
  k-NN mask of X alone and HSIC₁ the unbiased estimator of Song et al. (2012), as in the reference:
  HSIC₁(A, B) = [Σ_ij A_ij B_ji + (1ᵀA1)(1ᵀB1)/((n−1)(n−2)) − 2·1ᵀAB1/(n−2)] / (n(n−3)).
  The masks have at most k entries per row, so every term is a sum over ≤ nk entries: computed from
  the neighbour tables in O(nk) memory (the reference builds four n×n matrices). The reference adds
  1e-6 to the denominator (a bias of ~1e-6/HSIC, up to 1e-3 relative at n = 1000); repscope does not.

Neighbour search runs in row blocks of at most ``block_bytes`` scratch (default 64 MiB: memory
O(n·k) + one block of similarities, whatever n), in torch (``device=`` for GPU). Exact ties in
similarity are broken by ``torch.topk`` (deterministic on CPU). Measured (``benchmarks/peers_metrics.py``):
mutual k-NN at n = 20 000, d = 64 peaks at 78 MiB — one 64 MiB block plus ≈ 730 bytes per sample — so
memory allows millions of samples in 4 GiB; time grows as n²·d (every similarity is computed once).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.metrics._common import pair, single, use_torch

__all__ = [
    "knn_indices",
    "knn_table",
    "mutual_knn",
    "jaccard_knn",
    "cycle_knn",
    "cknna",
    "knn_prepare",
    "knn_compare",
    "cknna_prepare",
    "cknna_compare",
]

#: Scratch bytes for one block of similarity rows in the neighbour search.
BLOCK_BYTES = 64 * 2**20


def _unit_rows(A: np.ndarray) -> np.ndarray:
    nrm = np.linalg.norm(A, axis=1, keepdims=True)
    return np.divide(A, nrm, out=np.zeros_like(A), where=nrm > 0)


def _check_k(k: Any, n: int, lo: int = 1) -> int:
    if not (lo <= int(k) <= n - 1):
        raise InputError(f"k={k}; the number of neighbours must be between {lo} and n−1 = {n - 1}")
    return int(k)


def knn_table(
    X: ArrayLike,
    k: int = 10,
    *,
    normalize: bool = True,
    block_rows: int | None = None,
    block_bytes: int = BLOCK_BYTES,
    device: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """((n, k) neighbour indices, (n, k) their similarities ẑᵢᵀẑⱼ): each row's k largest dot products,
    self excluded (rows L2-normalised first unless ``normalize=False``), in row blocks."""
    import torch

    A = single(X)
    n = A.shape[0]
    k = _check_k(k, n)
    dev = use_torch(device) or torch.device("cpu")
    t = torch.as_tensor(_unit_rows(A) if normalize else A, device=dev)
    rows_per = block_rows or max(1, int(block_bytes) // (8 * n))
    idx = np.empty((n, k), dtype=np.int64)
    val = np.empty((n, k), dtype=np.float64)
    for s in range(0, n, rows_per):
        S = t[s : s + rows_per] @ t.T
        rows = torch.arange(S.shape[0], device=dev)
        S[rows, rows + s] = -torch.inf
        top = torch.topk(S, k, dim=1)
        idx[s : s + S.shape[0]] = top.indices.cpu().numpy()
        val[s : s + S.shape[0]] = top.values.cpu().numpy()
        del S, top  # one block alive at a time: the next product is allocated after this one is freed
    return idx, val


def knn_indices(
    X: ArrayLike, k: int = 10, *, block_rows: int | None = None, block_bytes: int = BLOCK_BYTES, device: Any = None
) -> np.ndarray:
    """(n, k) indices of each row's k nearest neighbours by cosine similarity, self excluded."""
    return knn_table(X, k, block_rows=block_rows, block_bytes=block_bytes, device=device)[0]


def _overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row |a_i ∩ b_i| for index rows without repeats."""
    both = np.sort(np.concatenate([a, b], axis=1), axis=1)
    return (both[:, 1:] == both[:, :-1]).sum(axis=1)


def knn_prepare(X: ArrayLike, *, k: int = 10, device: Any = None) -> np.ndarray:
    return knn_indices(X, k, device=device)


def knn_compare(a: np.ndarray, b: np.ndarray, *, jaccard: bool = False) -> float:
    if a.shape != b.shape:
        raise InputError(f"neighbour tables have shapes {a.shape} and {b.shape}; use the same samples and k")
    k = a.shape[1]
    c = _overlap(a, b).astype(np.float64)
    return float(np.mean(c / (2 * k - c))) if jaccard else float(np.mean(c / k))


def knn_compare_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return knn_compare(a, b, jaccard=True)


def mutual_knn(X: ArrayLike, Y: ArrayLike, *, k: int = 10, device: Any = None) -> float:
    """Mutual k-NN alignment of Huh et al. (2024): mean fraction of shared k nearest neighbours.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import mutual_knn
    >>> X = np.random.default_rng(0).normal(size=(40, 5))
    >>> mutual_knn(X, 10 * X, k=5)          # identical neighbourhoods
    1.0
    """
    A, B = pair(X, Y)
    return knn_compare(knn_indices(A, k, device=device), knn_indices(B, k, device=device))


def jaccard_knn(X: ArrayLike, Y: ArrayLike, *, k: int = 10, device: Any = None) -> float:
    """Neighbourhood Jaccard similarity: mean over samples of |N_k^X(i) ∩ N_k^Y(i)| / |N_k^X(i) ∪ N_k^Y(i)|
    (Klabunde et al. 2023, ReSi "Jaccard").

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import jaccard_knn
    >>> X = np.random.default_rng(0).normal(size=(40, 5))
    >>> jaccard_knn(X, 2 * X, k=5)
    1.0
    """
    A, B = pair(X, Y)
    return knn_compare(knn_indices(A, k, device=device), knn_indices(B, k, device=device), jaccard=True)


def cycle_knn(X: ArrayLike, Y: ArrayLike, *, k: int = 10, device: Any = None) -> float:
    """Cycle k-NN of Huh et al. (2024) (platonic-rep ``cycle_knn(feats_A=X, feats_B=Y)``): fraction of
    samples i with i ∈ N_k^X(j) for some j ∈ N_k^Y(i) — a Y-neighbour step followed by an X-neighbour
    step returns to i. In [0, 1]; 1 when X and Y share their neighbourhoods. Not symmetric in X, Y.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import cycle_knn
    >>> X = np.random.default_rng(0).normal(size=(40, 5))
    >>> cycle_knn(X, X, k=5)
    1.0
    """
    A, B = pair(X, Y)
    return knn_cycle_compare(knn_indices(A, k, device=device), knn_indices(B, k, device=device))


def knn_cycle_compare(a: np.ndarray, b: np.ndarray) -> float:
    """Cycle k-NN from two neighbour tables (``a`` of X, ``b`` of Y)."""
    if a.shape != b.shape:
        raise InputError(f"neighbour tables have shapes {a.shape} and {b.shape}; use the same samples and k")
    back = a[b]  # (n, k, k): X-neighbours of each Y-neighbour of i
    hit = (back == np.arange(a.shape[0])[:, None, None]).any(axis=(1, 2))
    return float(hit.mean())


def _sparse_hsic(rows: np.ndarray, cols: np.ndarray, kv: np.ndarray, lv: np.ndarray, n: int) -> float:
    """Unbiased HSIC₁ of two n×n matrices with the same sparse support {(rows, cols)} (no diagonal
    entries), values kv and lv — the terms of the dense formula summed over the support only."""
    import scipy.sparse

    Kt = scipy.sparse.csr_matrix((kv, (rows, cols)), shape=(n, n))
    Lt = scipy.sparse.csr_matrix((lv, (rows, cols)), shape=(n, n))
    t1 = float(Kt.multiply(Lt.T).sum())  # Σ_ij K_ij L_ji
    t2 = float(kv.sum()) * float(lv.sum()) / ((n - 1) * (n - 2))
    t3 = float(np.asarray(Kt.sum(axis=0)).ravel() @ np.asarray(Lt.sum(axis=1)).ravel())  # 1ᵀ K L 1
    return (t1 + t2 - 2.0 * t3 / (n - 2)) / (n * (n - 3))


def cknna_prepare(X: ArrayLike, *, k: int = 10, normalize: bool = True, device: Any = None) -> dict:
    """Per-representation state of :func:`cknna`: the k-NN table with similarities and the self-HSIC."""
    A = single(X, min_samples=5)
    n = A.shape[0]
    k = _check_k(k, n, lo=2)
    idx, val = knn_table(A, k, normalize=normalize, device=device)
    rows = np.repeat(np.arange(n), k)
    self_h = _sparse_hsic(rows, idx.ravel(), val.ravel(), val.ravel(), n)
    return {"idx": idx, "val": val, "self": self_h}


def cknna_compare(a: dict, b: dict) -> float:
    ia, ib = a["idx"], b["idx"]
    if ia.shape != ib.shape:
        raise InputError(f"neighbour tables have shapes {ia.shape} and {ib.shape}; use the same samples and k")
    n, k = ia.shape
    # mutual neighbours (i, j): j in both rows; K_ij and L_ij are read from the two tables
    both = np.sort(np.concatenate([ia, ib], axis=1), axis=1)
    r, c = np.nonzero(both[:, 1:] == both[:, :-1])
    cols = both[r, c]
    kv = a["val"][r, np.argmax(ia[r] == cols[:, None], axis=1)]
    lv = b["val"][r, np.argmax(ib[r] == cols[:, None], axis=1)]
    den = a["self"] * b["self"]
    if not den > 0:
        raise InputError(
            "CKNNA is undefined here: a representation's neighbour kernel has no positive HSIC (too few "
            "samples or neighbours); increase n or k"
        )
    return float(_sparse_hsic(r, cols, kv, lv, n) / np.sqrt(den))


def cknna(
    X: ArrayLike, Y: ArrayLike, *, k: int = 10, normalize: bool = True, device: Any = None
) -> float:
    """CKNNA (Huh et al. 2024, "The platonic representation hypothesis", ICML): unbiased CKA restricted
    to mutual k-nearest-neighbour pairs (formula in the module docstring; equals platonic-rep
    ``AlignmentMetrics.cknna(topk=k)`` on L2-normalised rows, without its +1e-6 in the denominator).
    Rows are L2-normalised first (``normalize=False`` to use raw dot products, as the reference does
    when called on unnormalised features). Needs 2 ≤ k ≤ n−1 and n ≥ 5. Memory O(n·k).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import cknna
    >>> X = np.random.default_rng(0).normal(size=(40, 5))
    >>> round(cknna(X, 2 * X, k=5), 6)
    1.0
    """
    A, B = pair(X, Y, min_samples=5)
    pa = cknna_prepare(A, k=k, normalize=normalize, device=device)
    return cknna_compare(pa, cknna_prepare(B, k=k, normalize=normalize, device=device))
