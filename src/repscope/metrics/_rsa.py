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
* ``"kendall_tau_b"``: τ_b = (n_c − n_d)/√((N₀ − T_a)(N₀ − T_b)), the tie-corrected Kendall τ (scipy;
  rsatoolbox ``"tau-b"``);
* ``"rho_a"``: ρ_a = 12 Σ(r_a − r̄)(r_b − r̄)/(m³ − m) with average ranks r (Schütt et al. 2023, "Statistical
  inference on representational geometries", eLife; rsatoolbox ``"rho-a"``): the expected Spearman ρ
  under random tie-breaking — it equals Spearman without ties and is smaller than it when a model RDM
  has ties (a categorical model does not earn a high score by predicting ties);
* ``"cosine_cov"`` / ``"corr_cov"``: whitened comparisons of rsatoolbox (Diedrichsen et al. 2021,
  "Comparing representational geometries using whitened unbiased-distance-matrix similarity",
  Neurons Behav. Data Anal. Theory) for i.i.d. pattern noise: the RDM entries are whitened by their
  covariance, which equals comparing the double-centred second-moment matrices G = −½ H D H by their
  Frobenius cosine (``"corr_cov"`` first subtracts the mean dissimilarity). The *unbiased* part of that
  method needs cross-validated distances from repeated measurements, which single activation matrices
  do not have.

Cost and memory: the condensed RDM (m = n(n−1)/2 entries) is built in row blocks of ≤ 64 MiB
straight into one float64 vector — never the n×n matrix — from one half-GEMM (O(n²·d/2) flops). Rank
comparators keep only the *doubled average ranks* of each RDM (int32 while 2m < 2³¹, i.e. n ≤ 46 340),
found with one packed-key integer sort (see :func:`doubled_ranks`; ~5× faster than ``np.argsort``).
The prepared state of one representation is 4m bytes; one Spearman/ρ_a pair peaks at the first RDM's
ranks (4m) plus the second RDM's values, sort keys and ranks (8m + 8m + 4m) = 24m ≈ 12·n² bytes plus
the inputs, so n ≈ 18 000 fits in 4 GiB (measured in ``benchmarks/peers_metrics.py``: one pair at
n = 5000 runs ≥ 3× faster than rsatoolbox with less memory). Pearson/cosine keep a float64 vector (8m)
per representation. The whitened ``cosine_cov``/``corr_cov`` comparators need the square matrix
(8n² bytes each).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.metrics._common import centre, check_choice, pair, single, use_torch

__all__ = [
    "rdm",
    "condensed_rdm",
    "compare_rdms",
    "rsa",
    "rsa_prepare",
    "rsa_compare",
    "kendall_tau_a",
    "kendall_tau_b",
    "rho_a",
    "doubled_ranks",
    "categorical_ceiling",
    "binary_rdm_ceiling",
    "RDM_METHODS",
    "COMPARATORS",
]

RDM_METHODS = ("correlation", "cosine", "euclidean", "sqeuclidean")
COMPARATORS = (
    "pearson",
    "spearman",
    "rho_a",
    "kendall_tau_a",
    "kendall_tau_b",
    "cosine",
    "cosine_cov",
    "corr_cov",
)
#: rsatoolbox's spellings of the same comparators.
ALIASES = {"rho-a": "rho_a", "tau-a": "kendall_tau_a", "tau-b": "kendall_tau_b", "corr": "pearson"}
_RANKED = ("spearman", "rho_a")
#: Bytes of scratch per row block when building a condensed RDM (one block of Gram rows).
BLOCK_BYTES = 64 * 2**20


def _comparator(name: str, choices: tuple[str, ...] = COMPARATORS) -> str:
    return check_choice(ALIASES.get(name, name), "compare", choices)


def _rows_prepared(A: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows transformed so that the RDM is a function of their Gram matrix (and squared norms)."""
    check_choice(method, "rdm", RDM_METHODS)
    if method in ("correlation", "cosine"):
        Z = A - A.mean(axis=1, keepdims=True) if method == "correlation" else A.copy()
        nrm = np.linalg.norm(Z, axis=1)
        ok = nrm > 0
        Z[ok] /= nrm[ok, None]
        return Z, None
    Z = centre(A)  # distances are shift-invariant; centring limits cancellation
    return Z, np.einsum("ij,ij->i", Z, Z)


def _gram_to_dissimilarity(G: np.ndarray, method: str, sq_rows: Any, sq_cols: Any) -> np.ndarray:
    """In place: Gram entries → dissimilarities."""
    if method in ("correlation", "cosine"):
        np.subtract(1.0, G, out=G)
        return G
    G *= -2.0
    G += sq_rows[:, None]
    G += sq_cols[None, :]
    np.maximum(G, 0.0, out=G)
    if method == "euclidean":
        np.sqrt(G, out=G)
    return G


def _gram_block(Z: np.ndarray, t: Any, s: int, e: int) -> np.ndarray:
    """Rows s:e of the Gram matrix, columns s: (the upper block-triangle)."""
    if t is not None:
        return (t[s:e] @ t[s:].T).cpu().numpy()
    return Z[s:e] @ Z[s:].T


def condensed_rdm(
    X: ArrayLike, method: str = "correlation", *, device: Any = None, block_bytes: int = BLOCK_BYTES
) -> np.ndarray:
    """Upper-triangle RDM vector (length m = n(n−1)/2, row-major like scipy ``pdist``) of X (n×d), built
    in row blocks of at most ``block_bytes`` scratch: memory 8m bytes for the result, never n×n.
    """
    A = single(X)
    Z, sq = _rows_prepared(A, method)
    n = Z.shape[0]
    m = n * (n - 1) // 2
    out = np.empty(m, dtype=np.float64)
    dev = use_torch(device)
    t = None
    if dev is not None:
        import torch

        t = torch.as_tensor(Z, device=dev)
    rows = max(1, int(block_bytes) // (8 * n))
    pos = 0
    for s in range(0, n - 1, rows):
        e = min(n, s + rows)
        G = _gram_block(Z, t, s, e)
        _gram_to_dissimilarity(G, method, None if sq is None else sq[s:e], None if sq is None else sq[s:])
        for r in range(e - s):
            k = n - s - r - 1  # entries j > i = s + r
            out[pos : pos + k] = G[r, r + 1 :]
            pos += k
    return out


def _square_rdm(A: np.ndarray, method: str, device: Any = None) -> np.ndarray:
    """The full n×n RDM (only the whitened comparators need it)."""
    Z, sq = _rows_prepared(A, method)
    dev = use_torch(device)
    G = _gram_block(Z, None if dev is None else __import__("torch").as_tensor(Z, device=dev), 0, Z.shape[0])
    D = _gram_to_dissimilarity(G, method, sq, sq)
    np.fill_diagonal(D, 0.0)
    return D


def rdm(X: ArrayLike, method: str = "correlation", *, device: Any = None) -> np.ndarray:
    """Upper-triangle RDM vector (length n(n−1)/2, row-major order like scipy ``pdist``) of X (n×d).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import rdm
    >>> X = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    >>> rdm(X, "euclidean").round(6).tolist()        # pairs (0,1), (0,2), (1,2), scipy pdist order
    [5.0, 1.0, 4.242641]
    """
    return condensed_rdm(X, method, device=device)


def _tie_groups(pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs in sorted positions: ``pos`` holds every p whose element ties with p + 1 (ascending);
    returns (first, last) sorted positions of each run of ≥ 2 tied elements."""
    brk = np.flatnonzero(np.diff(pos) != 1)
    first = np.concatenate([pos[:1], pos[brk + 1]])
    last = np.concatenate([pos[brk], pos[-1:]]) + 1
    return first, last


def _group_members(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted positions of every element of the runs first..last, their run lengths)."""
    lens = last - first + 1
    members = np.repeat(first - np.cumsum(np.concatenate([[0], lens[:-1]])), lens) + np.arange(lens.sum())
    return members, lens


def _argsort_ties(v: np.ndarray, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """(order, tie positions) of v: ``v[order]`` ascending; tie positions p with v[order[p]] == v[order[p+1]].

    Sorting is by packed 64-bit keys — a fixed-point code of each value, q = ⌊(v − min)·(2^(64−b) − 1)/
    (max − min)⌋ in the high 64 − b bits, the element's index in the low b = ⌈log₂ m⌉ bits — so a plain
    (SIMD) integer sort gives the argsort several times faster than ``np.argsort``. q is a monotone
    non-decreasing function of v (float subtraction, multiplication by a positive constant and flooring
    all are), so only values sharing a code can be out of order; those small groups are re-sorted by
    their exact values (``np.lexsort`` on those elements only). The fixed-point code spreads its
    2^(64−b) levels evenly over the data's range (float bit patterns would waste most of them on the
    exponent), so groups are rare. When they cover more than a quarter of the entries (huge m or heavily
    tied data) ``np.argsort`` is used instead. Exact ties always share a code, so they are found there.
    """
    m = v.size
    b = max(1, int(m - 1).bit_length())
    mask = np.uint64((1 << b) - 1)
    lo, hi = float(v.min()), float(v.max())
    levels = float(min(2 ** (64 - b), 2**53) - 1)  # exactly representable, fits the high bits
    scale = levels / (0.5 * hi - 0.5 * lo) if hi > lo else 0.0
    key = np.empty(m, dtype=np.uint64)
    for s in range(0, m, chunk):
        e = min(m, s + chunk)
        q = (0.5 * v[s:e] - 0.5 * lo) * scale  # halves: no overflow for any finite range
        np.minimum(q, levels, out=q)  # rounding may overshoot the top level by one ulp
        kc = q.astype(np.uint64)
        kc <<= np.uint64(b)
        kc |= np.arange(s, e, dtype=np.uint64)
        key[s:e] = kc
    key.sort()
    same: list[np.ndarray] = []
    n_same = 0
    for s in range(0, m - 1, chunk):
        e = min(m - 1, s + chunk)
        eq = np.flatnonzero((key[s:e] ^ key[s + 1 : e + 1]) <= mask)  # same code (high bits)
        n_same += eq.size
        if 4 * n_same > m:
            del key
            order = np.argsort(v)
            ties = [np.flatnonzero(v[order[s2 : s2 + chunk + 1]][1:] == v[order[s2 : s2 + chunk + 1]][:-1]) + s2
                    for s2 in range(0, m - 1, chunk)]
            return order, (np.concatenate(ties) if ties else np.empty(0, np.int64))
        same.append(eq + s)
    key &= mask
    order = key.view(np.int64)
    if not n_same:
        return order, np.empty(0, np.int64)
    first, last = _tie_groups(np.concatenate(same))
    members, lens = _group_members(first, last)
    gid = np.repeat(np.arange(first.size), lens)
    idx = order[members]
    vals = v[idx]
    perm = np.lexsort((vals, gid))
    order[members] = idx[perm]
    vals, gid = vals[perm], gid[perm]
    tie = np.flatnonzero((vals[1:] == vals[:-1]) & (gid[1:] == gid[:-1]))
    return order, members[tie]


def doubled_ranks(v: ArrayLike, *, chunk: int = 1 << 20) -> np.ndarray:
    """2 × the average ranks (1-based, ties get the mean of their positions) of a vector, as integers.

    Doubling makes every average rank an integer, so the ranks are exact in int32 while 2m < 2³¹ (int64
    beyond). Cost: one packed-key integer sort (see :func:`_argsort_ties`); memory: 8m for the order and
    4m for the result. Equals ``2 * scipy.stats.rankdata(v)``.
    """
    v = np.ascontiguousarray(v, dtype=np.float64).ravel()
    m = v.size
    order, tie = _argsort_ties(v, chunk)
    dtype = np.int32 if 2 * m + 2 < 2**31 else np.int64
    out = np.empty(m, dtype=dtype)
    for s in range(0, m, chunk):
        e = min(m, s + chunk)
        np.put(out, order[s:e], np.arange(2 * s + 2, 2 * e + 2, 2, dtype=dtype))  # put: faster than out[idx] =
    if tie.size:
        first, last = _tie_groups(tie)
        members, lens = _group_members(first, last)
        out[order[members]] = np.repeat(first + last + 2, lens)  # 2 × mean of ranks first+1 … last+1
    return out


def _centred_dot(a: np.ndarray, b: np.ndarray, ca: float, cb: float, chunk: int = 1 << 20) -> float:
    """Σ (a − ca)(b − cb) in float64 chunks (a, b may be integer arrays)."""
    tot = 0.0
    for s in range(0, a.size, chunk):
        x = a[s : s + chunk].astype(np.float64) - ca
        y = b[s : s + chunk].astype(np.float64) - cb
        tot += float(x @ y)
    return tot


def _rankdata(v: np.ndarray) -> np.ndarray:
    return doubled_ranks(v) / 2.0


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt(float(a @ a) * float(b @ b))
    if den <= 0:
        raise InputError("an RDM is constant (all dissimilarities equal); its correlation is undefined")
    return float(a @ b / den)


def _two_vectors(a: Any, b: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape or a.size < 2:
        raise InputError(f"{name} needs two vectors of the same length ≥ 2, got {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise InputError(f"{name}: the RDM vectors contain NaN or Inf; drop those entries from both first")
    return a, b


def rho_a(a: ArrayLike, b: ArrayLike) -> float:
    """ρ_a = 12 Σ(r_a − r̄)(r_b − r̄)/(m³ − m), r the average ranks of the m entries (rsatoolbox
    ``compare_rho_a``; Schütt et al. 2023, eLife 12:e82566). Equals Spearman's ρ when neither vector
    has ties; with ties it is smaller (the expected Spearman ρ under random tie-breaking)."""
    a, b = _two_vectors(a, b, "rho_a")
    m = a.size
    return float(_centred_dot(doubled_ranks(a), doubled_ranks(b), m + 1, m + 1) * 3.0 / (m**3 - m))


def kendall_tau_b(a: ArrayLike, b: ArrayLike) -> float:
    """Kendall's τ_b (tie-corrected; scipy ``kendalltau``, rsatoolbox ``"tau-b"``), O(m log m)."""
    import scipy.stats

    a, b = _two_vectors(a, b, "kendall_tau_b")
    tau = scipy.stats.kendalltau(a, b, variant="b").statistic
    if not np.isfinite(tau):
        raise InputError("kendall_tau_b: an RDM is constant (all entries tied); τ_b is undefined")
    return float(tau)


def kendall_tau_a(a: ArrayLike, b: ArrayLike) -> float:
    """Kendall's τ_a = (n_c − n_d) / (m(m−1)/2) in O(m log m).

    scipy returns τ_b = (n_c − n_d)/√((N₀ − T_a)(N₀ − T_b)) with N₀ = m(m−1)/2 and T the pairs tied in
    each vector, so τ_a = τ_b·√((N₀ − T_a)(N₀ − T_b))/N₀ (equals rsatoolbox ``compare_kendall_tau_a``).
    """
    import scipy.stats

    a, b = _two_vectors(a, b, "kendall_tau_a")
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


def _prepare_vector(v: np.ndarray, compare: str, n: int) -> dict:
    """Prepared state of one condensed RDM vector ``v`` (consumed) for the comparator ``compare``."""
    if compare in _RANKED:
        r2 = doubled_ranks(v)
        del v
        m = r2.size
        ss = _centred_dot(r2, r2, m + 1, m + 1)
        if ss <= 0:
            raise InputError("an RDM is constant (all dissimilarities equal); the rank comparison is undefined")
        return {"compare": compare, "r2": r2, "ss": ss, "n": n}
    if compare in ("kendall_tau_a", "kendall_tau_b"):
        return {"compare": compare, "v": v, "n": n}
    if compare == "pearson":
        v -= v.mean()
    nrm = np.linalg.norm(v)
    if nrm <= 0:
        raise InputError("an RDM is constant (all dissimilarities equal); the comparison is undefined")
    v /= nrm
    return {"compare": compare, "v": v, "n": n}


def rsa_prepare(
    X: ArrayLike, *, rdm: str = "correlation", compare: str = "spearman", device: Any = None
) -> dict:
    """Per-representation work for :func:`rsa`: the RDM, already transformed for the comparator
    (doubled ranks for ``spearman``/``rho_a``, a unit vector for ``pearson``/``cosine``)."""
    compare = _comparator(compare)
    A = single(X)
    n = A.shape[0]
    if compare in ("cosine_cov", "corr_cov"):
        D = _square_rdm(A, rdm, device)
        if compare == "corr_cov":
            iu = np.triu_indices(n, 1)
            D = D - D[iu].mean()
            np.fill_diagonal(D, 0.0)
        G = _double_centred(D)
        nrm = np.linalg.norm(G)
        if nrm <= 0:
            raise InputError("an RDM is constant after centring; the whitened comparison is undefined")
        return {"compare": compare, "v": G / nrm, "n": n}
    return _prepare_vector(condensed_rdm(A, rdm, device=device), compare, n)


def rsa_compare(a: dict, b: dict) -> float:
    if a["compare"] != b["compare"] or a["n"] != b["n"]:
        raise InputError(
            "the two prepared RDMs differ in comparator or number of samples; prepare both alike"
        )
    c = a["compare"]
    if c == "kendall_tau_a":
        return kendall_tau_a(a["v"], b["v"])
    if c == "kendall_tau_b":
        return kendall_tau_b(a["v"], b["v"])
    if c in _RANKED:
        m = a["r2"].size
        dot = _centred_dot(a["r2"], b["r2"], m + 1, m + 1)
        den = np.sqrt(a["ss"] * b["ss"]) if c == "spearman" else 4.0 * (m**3 - m) / 12.0
        return float(np.clip(dot / den, -1.0, 1.0))
    return float(np.clip(np.vdot(a["v"], b["v"]), -1.0, 1.0))


VECTOR_COMPARATORS = ("pearson", "spearman", "rho_a", "kendall_tau_a", "kendall_tau_b", "cosine")


def compare_rdms(a: ArrayLike, b: ArrayLike, method: str = "spearman") -> float:
    """Compare two RDM vectors (upper triangles) with ``"pearson"``, ``"spearman"``, ``"rho_a"``,
    ``"kendall_tau_a"``, ``"kendall_tau_b"`` or ``"cosine"`` (rsatoolbox spellings ``"rho-a"``,
    ``"tau-a"``, ``"tau-b"``, ``"corr"`` accepted; for the whitened comparators use :func:`rsa` on the
    activations)."""
    method = _comparator(method, VECTOR_COMPARATORS)
    a, b = _two_vectors(a, b, "compare_rdms")
    if method == "kendall_tau_a":
        return kendall_tau_a(a, b)
    if method == "kendall_tau_b":
        return kendall_tau_b(a, b)
    if method == "rho_a":
        return rho_a(a, b)
    if method == "spearman":
        return _pearson(_rankdata(a), _rankdata(b))
    if method == "pearson":
        return _pearson(a, b)
    den = np.linalg.norm(a) * np.linalg.norm(b)
    if den <= 0:
        raise InputError("an RDM is all zeros; the cosine is undefined")
    return float(a @ b / den)


def rsa(
    X: ArrayLike, Y: ArrayLike, *, rdm: str = "correlation", compare: str = "spearman", device: Any = None
) -> float:
    """RSA similarity: compare the RDMs of X (n×p) and Y (n×q) over the same n samples.

    Default: correlation-distance RDMs (1 − Pearson between samples) compared by Spearman rank
    correlation (Kriegeskorte et al. 2008). See the module docstring for all ``rdm=`` and ``compare=``
    choices and for the memory used (≈ 10·n² bytes for a rank comparison). A similarity in [−1, 1].
    Needs n ≥ 3.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import rsa
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20, 5))
    >>> round(rsa(X, 2 * X + 1, rdm="euclidean"), 6)    # same distance ranks → Spearman ρ = 1
    1.0
    """
    A, B = pair(X, Y)
    sa = rsa_prepare(A, rdm=rdm, compare=compare, device=device)
    del A
    return rsa_compare(sa, rsa_prepare(B, rdm=rdm, compare=compare, device=device))


def _ceiling_from_counts(m0: int, m1: int, compare: str, data_ties: bool) -> float:
    """Closed-form ceiling for a two-valued model RDM with m0 entries at its lower value, m1 at its upper."""
    m = m0 + m1
    if compare in ("pearson", "cosine", "cosine_cov", "corr_cov"):
        return 1.0
    if compare == "rho_a":
        return 3.0 * m0 * m1 / (m * m - 1.0)
    if compare == "kendall_tau_a":
        return 2.0 * m0 * m1 / (m * (m - 1.0))
    if data_ties:  # spearman, kendall_tau_b: a data RDM that is itself two-valued reaches 1
        return 1.0
    if compare == "spearman":
        return float(np.sqrt(3.0 * m0 * m1 / (m * m - 1.0)))
    return float(np.sqrt(2.0 * m0 * m1 / (m * (m - 1.0))))  # kendall_tau_b


def binary_rdm_ceiling(model: ArrayLike, compare: str = "spearman", *, data_ties: bool = False) -> float:
    """The largest value ``compare(data RDM, model)`` can take over every data RDM, for a model RDM
    vector with exactly two values (a categorical model: 0 within a category, 1 between).

    With m entries, m₀ at the model's lower value and m₁ = m − m₀ at its upper value, a data RDM
    without tied entries (what continuous activations give) is best when it ranks every lower-value
    entry below every upper-value one (rearrangement inequality: the covariance with a two-valued vector
    is the sum of the data ranks in the upper group, up to constants). Its ranks are then 1…m, the
    model's average ranks (m₀+1)/2 and m₀+(m₁+1)/2, and

    * Spearman ρ = Pearson of the ranks: cov = m·m₀m₁/4, Σ(r_data − r̄)² = (m³ − m)/12,
      Σ(r_model − r̄)² = m·m₀m₁/4, so **ρ_max = √(3 m₀m₁ / (m² − 1))**. Ten balanced classes of n/10
      samples: m₀/m = (n/10 − 1)/(n − 1) → 1/10, ρ_max → √0.27 = 0.5196 (0.5186 at n = 2000);
    * ρ_a (Schütt et al. 2023) = 12·cov/(m³ − m) = **3 m₀m₁ / (m² − 1)** (ties in the data cannot raise
      it: they leave the covariance of a separating ranking unchanged);
    * Kendall τ_a = (n_c − n_d)/(m(m−1)/2) and only the m₀m₁ pairs across the groups can be concordant:
      **2 m₀m₁ / (m(m − 1))**, with or without ties in the data;
    * Kendall τ_b = (n_c − n_d)/√((N₀ − T_data)(N₀ − T_model)) with N₀ − T_model = m₀m₁:
      **√(2 m₀m₁ / (m(m − 1)))** for a tie-free data RDM;
    * Pearson, cosine (and the whitened ``cosine_cov``/``corr_cov``): 1, the model itself.

    ``data_ties=True`` gives the ceiling over data RDMs that may have tied entries: then the model
    itself is allowed, and Spearman and τ_b reach 1 (a layer mapping each class to one point comes
    close). Source: these are the standard moments of ranks with ties (Kendall & Gibbons 1990, "Rank
    Correlation Methods", ch. 3); Nili et al. (2014, PLoS Comput. Biol.) discuss why categorical
    models cap rank correlations.

    Examples
    --------
    >>> from repscope.metrics import binary_rdm_ceiling, model_rdm
    >>> model = model_rdm([0, 0, 1, 1]).vector          # 0 within, 1 between categories
    >>> model.tolist()
    [0.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    >>> round(binary_rdm_ceiling(model, compare="pearson"), 6)
    1.0
    """
    compare = _comparator(compare)
    v = np.asarray(model, dtype=np.float64).ravel()
    if not np.isfinite(v).all():
        raise InputError("the model RDM contains NaN or Inf; give a finite two-valued model RDM")
    vals = np.unique(v)
    if vals.size != 2:
        raise InputError(
            f"the model RDM has {vals.size} distinct value(s); the closed-form ceiling is for a two-valued "
            f"(categorical, same/different) model — build it with model_rdm(labels, 'categorical')"
        )
    m0 = int(np.count_nonzero(v == vals[0]))
    return _ceiling_from_counts(m0, v.size - m0, compare, data_ties)


def categorical_ceiling(labels: ArrayLike, compare: str = "spearman", *, data_ties: bool = False) -> float:
    """The ceiling of :func:`binary_rdm_ceiling` for the categorical model RDM 1[yᵢ ≠ yⱼ] of ``labels``,
    from the class sizes alone (no m-long vector): m₀ = Σ_k n_k(n_k − 1)/2 same-class pairs,
    m = n(n − 1)/2. Needs ≥ 2 classes and a class with ≥ 2 samples (else the model RDM is constant).

    Examples
    --------
    >>> from repscope.metrics import categorical_ceiling
    >>> round(categorical_ceiling([0, 0, 1, 1, 2, 2], compare="pearson"), 6)   # a data RDM can equal the model
    1.0
    >>> categorical_ceiling([0, 0, 1, 1, 2, 2]) < 1          # Spearman: the tied model cannot be matched
    True
    """
    compare = _comparator(compare)
    y = np.asarray(labels).reshape(-1)
    _, counts = np.unique(y, return_counts=True)
    c = counts.astype(np.int64)
    m = int(y.size * (y.size - 1) // 2)
    m0 = int(np.sum(c * (c - 1) // 2))
    if m0 == 0 or m0 == m:
        raise InputError(
            f"the categorical model RDM of these labels is constant ({counts.size} class(es), {y.size} samples); "
            "give labels with at least 2 classes and a class of at least 2 samples"
        )
    return _ceiling_from_counts(m0, m - m0, compare, data_ties)
