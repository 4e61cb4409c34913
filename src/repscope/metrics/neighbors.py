"""Nearest-neighbour agreement between representations.

Mutual k-NN alignment (Huh, Cheung, Wang & Isola 2024, "The platonic representation hypothesis", ICML):
rows are L2-normalised, each sample's k nearest neighbours are the k largest dot products excluding the
sample itself, and

    mutual_knn = (1/n) Σᵢ |N_k^X(i) ∩ N_k^Y(i)| / k,      jaccard_knn = (1/n) Σᵢ |∩| / |∪|.

Similarities in [0, 1]; chance level for unrelated representations is ≈ k/(n−1).
Neighbour search runs in row blocks (memory O(block·n)), in torch (``device=`` for GPU). Exact ties in
similarity are broken by ``torch.topk`` (deterministic on CPU).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from repscope.errors import InputError
from repscope.metrics._common import pair, single, use_torch

__all__ = ["knn_indices", "mutual_knn", "jaccard_knn", "knn_prepare", "knn_compare"]


def knn_indices(X: Any, k: int = 10, *, block_rows: int = 2048, device: Any = None) -> np.ndarray:
    """(n, k) indices of each row's k nearest neighbours by cosine similarity, self excluded."""
    import torch

    A = single(X)
    n = A.shape[0]
    if not (1 <= int(k) <= n - 1):
        raise InputError(f"k={k}; the number of neighbours must be between 1 and n−1 = {n - 1}")
    k = int(k)
    dev = use_torch(device) or torch.device("cpu")
    nrm = np.linalg.norm(A, axis=1, keepdims=True)
    Z = np.divide(A, nrm, out=np.zeros_like(A), where=nrm > 0)
    t = torch.as_tensor(Z, device=dev)
    out = np.empty((n, k), dtype=np.int64)
    for s in range(0, n, block_rows):
        S = t[s : s + block_rows] @ t.T
        rows = torch.arange(S.shape[0], device=dev)
        S[rows, rows + s] = -torch.inf
        idx = torch.topk(S, k, dim=1).indices
        out[s : s + S.shape[0]] = idx.cpu().numpy()
    return out


def _overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row |a_i ∩ b_i| for index rows without repeats."""
    both = np.sort(np.concatenate([a, b], axis=1), axis=1)
    return (both[:, 1:] == both[:, :-1]).sum(axis=1)


def knn_prepare(X: Any, *, k: int = 10, device: Any = None) -> np.ndarray:
    return knn_indices(X, k, device=device)


def knn_compare(a: np.ndarray, b: np.ndarray, *, jaccard: bool = False) -> float:
    if a.shape != b.shape:
        raise InputError(f"neighbour tables have shapes {a.shape} and {b.shape}; use the same samples and k")
    k = a.shape[1]
    c = _overlap(a, b).astype(np.float64)
    return float(np.mean(c / (2 * k - c))) if jaccard else float(np.mean(c / k))


def knn_compare_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return knn_compare(a, b, jaccard=True)


def mutual_knn(X: Any, Y: Any, *, k: int = 10, device: Any = None) -> float:
    """Mutual k-NN alignment of Huh et al. (2024): mean fraction of shared k nearest neighbours."""
    A, B = pair(X, Y)
    return knn_compare(knn_indices(A, k, device=device), knn_indices(B, k, device=device))


def jaccard_knn(X: Any, Y: Any, *, k: int = 10, device: Any = None) -> float:
    """Neighbourhood Jaccard similarity: mean over samples of |N_k^X(i) ∩ N_k^Y(i)| / |N_k^X(i) ∪ N_k^Y(i)|
    (Klabunde et al. 2023, ReSi "Jaccard")."""
    A, B = pair(X, Y)
    return knn_compare(knn_indices(A, k, device=device), knn_indices(B, k, device=device), jaccard=True)
