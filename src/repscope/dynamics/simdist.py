"""Distance between linear operators up to an orthogonal change of basis, and between their spectra.

**Similarity-transform distance** (Ostrow et al. 2023, NeurIPS, eq. 3): for square ``A, B`` scaled to unit
Frobenius norm,

    d_E(A, B) = min_{C ∈ O(n)} ‖Â − C B̂ Cᵀ‖_F,
    d_∠(A, B) = arccos max_{C ∈ O(n)} tr(Âᵀ C B̂ Cᵀ)  = 2·arcsin(d_E / 2),

with ``Â = A/‖A‖_F``. Both share the optimal ``C`` (they are monotone in ``f(C) = tr(Âᵀ C B̂ Cᵀ)``).
``O(n)`` has two components (det ±1); the optimum can lie in either.

**Solver** (ours; the reference uses Adam on a Cayley parametrisation from the identity, 2 starts, a fixed
1500 steps). We maximise ``f`` on O(n) with a Levenberg–Marquardt-damped Riemannian Newton method:
at ``C`` with ``M = Cᵀ Â C`` the pull-back ``f(C e^Ω)`` has the Lie-algebra gradient
``G = skew(MᵀB̂ − B̂Mᵀ)`` and Hessian form ``ω ↦ ⟨[[M, Ω], Ω], B̂⟩``; each step solves
``(−H + μI) ω = g`` (Cholesky; μ adapted like a trust region) and retracts with the matrix exponential, so
convergence is quadratic near a non-degenerate maximum. Above ``newton_max_dim`` we fall back to
Barzilai–Borwein gradient ascent with backtracking. Starts (all optimised in one batch, over all pairs):

- spectral starts: for each invariant ``S(X)`` ∈ {X+Xᵀ, XXᵀ, XᵀX, (X−Xᵀ)(X−Xᵀ)ᵀ} (each satisfies
  ``S(CBCᵀ) = C S(B) Cᵀ``) align the eigenvectors, ``C₀ = U_A D U_Bᵀ``, with the sign pattern ``D`` chosen by
  maximising the Ising form ``Σ_ij (U_AᵀÂU_A)_ij (U_BᵀB̂U_B)_ij d_i d_j`` (spectral rounding + greedy flips);
  plus a signed identity (DMD operators of rotated data differ by a signed permutation-free diagonal);
- each spectral start again with the least costly sign flipped (the other component of O(n));
- ``n_random`` Haar-random starts, alternating det = +1 / −1.

For exactly orthogonally similar pairs a spectral start is already exact up to noise and Newton polishes it
to machine precision. Iteration stops when the Riemannian gradient norm ``‖g‖ ≤ gtol`` (on the unit-norm
problem). The certificate reports the final gradient norm, the number of starts that reach the best value
(within ``agree_tol`` in ``f``) and the component (det) of the optimum.

**Eigenvalue Wasserstein distance** (Redman et al. 2023; the reference package's cheap score): optimal
transport between the eigenvalue sets as points in the complex plane with uniform weights. Ours returns
``W_p`` (p = 2 by default), a metric; the reference reports the transport cost with squared-Euclidean ground
cost, i.e. ``W_2²``, and zero-pads the smaller set (we do the same padding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError, not_converged
from repscope.parallel import resolve_device, torch_threads
from repscope.results import register
from repscope.validation import renamed_parameter

__all__ = [
    "SimilarityInfo",
    "similarity_transform_distance",
    "similarity_transform_distances",
    "eig_wasserstein",
]

_SCORES = ("angular", "euclidean")


@register
@dataclass
class SimilarityInfo:
    """Distance plus a convergence certificate for one pair of operators."""

    distance: float
    score: str
    C: np.ndarray  # optimal orthogonal matrix: Â ≈ C B̂ Cᵀ
    cos_similarity: float  # tr(Âᵀ C B̂ Cᵀ)
    grad_norm: float  # Riemannian gradient norm at the returned C (unit-norm problem)
    n_starts: int
    n_agree: int  # starts whose final value is within agree_tol of the best
    det: int  # +1 or -1: component of O(n) holding the optimum
    n_iter: int
    converged: bool  # grad_norm ≤ gtol

    title = "Similarity-transform distance"

    def to_dict(self) -> dict:
        return {
            "distance": self.distance,
            "score": self.score,
            "cos_similarity": self.cos_similarity,
            "grad_norm": self.grad_norm,
            "n_starts": self.n_starts,
            "n_agree": self.n_agree,
            "det": self.det,
            "n_iter": self.n_iter,
            "converged": self.converged,
        }

    def summary(self) -> str:
        return (
            f"{self.score} distance {self.distance:.6g} (gradient norm {self.grad_norm:.2g}, "
            f"{self.n_agree}/{self.n_starts} starts agree, det C = {self.det:+d})"
        )


# --------------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------------


def _as_operator(A: ArrayLike, name: str) -> np.ndarray:
    if hasattr(A, "A_"):  # DMDResult
        A = A.A_
    if hasattr(A, "detach"):
        A = A.detach().cpu().numpy()
    arr = np.asarray(A)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise InputError(f"{name} must be a real numeric square matrix (got dtype {arr.dtype})")
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 1:
        raise InputError(f"{name} has shape {arr.shape}; expected a square (n, n) operator matrix")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise InputError(f"{name} contains NaN or Inf; fit the operator on finite data")
    if not np.any(arr):
        raise InputError(f"{name} is the zero matrix; the angular distance is undefined for it")
    return arr


def _check_score(score: str) -> str:
    if score not in _SCORES:
        raise InputError(f"metric={score!r} is unknown; use one of {_SCORES} (or eig_wasserstein)")
    return score


# --------------------------------------------------------------------------------------------------
# starts
# --------------------------------------------------------------------------------------------------


def _ising_signs(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signs d ∈ {±1}ⁿ (approximately) maximising dᵀWd; also returns the cost of flipping each sign."""
    Ws = 0.5 * (W + W.T)
    np.fill_diagonal(Ws, 0.0)
    n = Ws.shape[0]
    if n == 1:
        return np.ones(1), np.zeros(1)
    _, vecs = np.linalg.eigh(Ws)
    d = np.sign(vecs[:, -1])
    d[d == 0] = 1.0
    for _ in range(4 * n):
        gain = -4.0 * d * (Ws @ d)
        i = int(np.argmax(gain))
        if gain[i] <= 1e-15:
            break
        d[i] = -d[i]
    flip_cost = 4.0 * d * (Ws @ d)  # loss in dᵀWd when flipping sign i (≥ 0 at a local optimum)
    return d, flip_cost


def _invariants(X: np.ndarray) -> list[np.ndarray]:
    K = X - X.T
    return [X + X.T, X @ X.T, X.T @ X, K @ K.T]


def _spectral_starts(A: np.ndarray, B: np.ndarray) -> list[np.ndarray]:
    """Candidate C with A ≈ C B Cᵀ from eigenvector alignment of similarity-covariant symmetric invariants."""
    n = A.shape[0]
    starts = []
    pairs = [(np.eye(n), np.eye(n))]
    for SA, SB in zip(_invariants(A), _invariants(B)):
        _, Ua = np.linalg.eigh(SA)
        _, Ub = np.linalg.eigh(SB)
        pairs.append((Ua, Ub))
    for Ua, Ub in pairs:
        Ma = Ua.T @ A @ Ua
        Mb = Ub.T @ B @ Ub
        d, cost = _ising_signs(Ma * Mb)
        starts.append((Ua * d) @ Ub.T)
        d2 = d.copy()
        k = int(np.argmin(cost))
        d2[k] = -d2[k]
        starts.append((Ua * d2) @ Ub.T)
    return starts


def _random_orthogonal(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    Z = rng.standard_normal((k, n, n))
    Q, R = np.linalg.qr(Z)
    Q = Q * np.sign(np.diagonal(R, axis1=1, axis2=2))[:, None, :]
    det = np.linalg.det(Q)
    want = np.where(np.arange(k) % 2 == 0, 1.0, -1.0)
    flip = np.sign(det) != want
    Q[flip, :, 0] *= -1
    return Q


# --------------------------------------------------------------------------------------------------
# batched Riemannian solver
# --------------------------------------------------------------------------------------------------


def _skew_basis(n: int, torch, dtype, device):
    iu = torch.triu_indices(n, n, 1, device=device)
    p = iu.shape[1]
    E = torch.zeros(p, n, n, dtype=dtype, device=device)
    ar = torch.arange(p, device=device)
    s = 1.0 / math.sqrt(2.0)
    E[ar, iu[0], iu[1]] = s
    E[ar, iu[1], iu[0]] = -s
    return E, iu


def _solve(A, B, C, *, max_iter: int, gtol: float, newton: bool, group=None, n_groups: int = 1):
    """Maximise f(C) = <CᵀAC, B> for a batch of (A, B, C0). Returns C, f, grad_norm, n_iter, dropped.

    ``group`` (b,) assigns each start to its pair: a start whose local quadratic model is trustworthy (step
    accepted with ρ > 0.5 and little damping) and whose predicted final value ``f + 4·pred`` stays below the
    best value already reached by another start of its pair (minus 1e-7) is dropped early ("dominated").
    """
    import torch

    b, n, _ = A.shape
    dt, dev = A.dtype, A.device
    sq2 = math.sqrt(2.0)
    E, iu = _skew_basis(n, torch, dt, dev)
    p = E.shape[0]
    M = C.transpose(1, 2) @ A @ C
    f = (M * B).sum((1, 2))
    gnorm = torch.full((b,), float("inf"), dtype=dt, device=dev)
    n_iter = torch.zeros(b, dtype=torch.long, device=dev)
    active = torch.ones(b, dtype=torch.bool, device=dev)
    mu = torch.full((b,), 1e-3, dtype=dt, device=dev)
    alpha = torch.full((b,), 0.5, dtype=dt, device=dev)  # BB step (first-order path)
    dropped = torch.zeros(b, dtype=torch.bool, device=dev)
    if group is None:
        group = torch.zeros(b, dtype=torch.long, device=dev)
    if newton and p > 0:
        YB = (B.unsqueeze(1) @ E - E @ B.unsqueeze(1)).reshape(b, p, n * n)
    eye_p = torch.eye(p, dtype=dt, device=dev)
    if p == 0:
        return C, f, torch.zeros(b, dtype=dt, device=dev), n_iter, dropped
    for _it in range(max_iter + 1):
        idx = active.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        Ma, Ba, fa = M[idx], B[idx], f[idx]
        P = Ma.transpose(1, 2) @ Ba
        G = P - Ba @ Ma.transpose(1, 2)
        G = 0.5 * (G - G.transpose(1, 2))
        g = sq2 * G[:, iu[0], iu[1]]
        gn = torch.linalg.vector_norm(g, dim=1)
        gnorm[idx] = gn
        done = gn <= gtol
        if _it == max_iter:
            break
        if done.any():
            active[idx[done]] = False
            keep = ~done
            idx, Ma, fa, g, gn = idx[keep], Ma[keep], fa[keep], g[keep], gn[keep]
            if idx.numel() == 0:
                break
        n_iter[idx] += 1
        a = idx.numel()
        if newton:
            X = (Ma.unsqueeze(1) @ E - E @ Ma.unsqueeze(1)).reshape(a, p, n * n)
            H = -(X @ YB[idx].transpose(1, 2))
            H = 0.5 * (H + H.transpose(1, 2))
            mua = mu[idx]
            K = -H + mua[:, None, None] * eye_p
            L, info = torch.linalg.cholesky_ex(K)
            ok = info == 0
            # shift until positive definite (few rounds)
            for _ in range(8):
                if bool(ok.all()):
                    break
                bad = ~ok
                lam_min = torch.linalg.eigvalsh(-H[bad])[:, 0]
                mua[bad] = torch.maximum(mua[bad] * 10, -lam_min + 1e-8 + mua[bad])
                L2, info2 = torch.linalg.cholesky_ex(-H[bad] + mua[bad][:, None, None] * eye_p)
                L[bad] = L2
                ok[bad] = info2 == 0
            w = torch.cholesky_solve(g.unsqueeze(2), L).squeeze(2)
            w = torch.where(ok[:, None], w, g * 1e-3)
            pred = (g * w).sum(1) + 0.5 * (w.unsqueeze(1) @ H @ w.unsqueeze(2)).reshape(a)
        else:
            w = alpha[idx, None] * g
            pred = (g * w).sum(1)
            mua = None
        # cap step length (the exponential map is 2π-periodic in rotation angles)
        wn = torch.linalg.vector_norm(w, dim=1)
        scale = torch.clamp(1.0 / torch.clamp(wn, min=1e-300), max=1.0)
        w = w * scale[:, None]
        pred = torch.where(scale < 1, pred * scale, pred)
        Om = torch.zeros(a, n, n, dtype=dt, device=dev)
        Om[:, iu[0], iu[1]] = w / sq2
        Om = Om - Om.transpose(1, 2)
        Cn = C[idx] @ torch.linalg.matrix_exp(Om)
        Mn = Cn.transpose(1, 2) @ A[idx] @ Cn
        fn = (Mn * B[idx]).sum((1, 2))
        gain = fn - fa
        rho = gain / torch.clamp(pred, min=1e-300)
        if newton:
            accept = (gain > 0) | ((gain >= -1e-15) & (pred <= 1e-14))
            new_mu = torch.where(rho > 0.75, mua / 4, torch.where(rho < 0.25, mua * 4, mua))
            new_mu = torch.where(accept, new_mu, mua * 8)
            mu[idx] = torch.clamp(new_mu, min=1e-14, max=1e8)
            # stuck: no progress possible at float precision
            stuck = (~accept) & (mua * 8 >= 1e8)
            if stuck.any():
                active[idx[stuck]] = False
        else:
            accept = gain >= 1e-4 * pred
            al = alpha[idx]
            alpha[idx] = torch.where(accept, al * 1.5, al * 0.3).clamp(1e-8, 1e3)
            stuck = (~accept) & (al * 0.3 <= 1e-8)
            if stuck.any():
                active[idx[stuck]] = False
        acc = idx[accept]
        C[acc] = Cn[accept]
        M[acc] = Mn[accept]
        f[acc] = fn[accept]
        if newton and n_groups > 0:
            best = torch.full((n_groups,), -float("inf"), dtype=dt, device=dev)
            best = best.scatter_reduce(0, group, f, reduce="amax")
            trust = accept & (rho > 0.5) & (mua <= 1e-2)
            dom = trust & (f[idx] + 4 * pred < best[group[idx]] - 1e-7)
            if dom.any():
                active[idx[dom]] = False
                dropped[idx[dom]] = True
    # final gradient for all
    P = M.transpose(1, 2) @ B
    G = P - B @ M.transpose(1, 2)
    G = 0.5 * (G - G.transpose(1, 2))
    gnorm = sq2 * torch.linalg.vector_norm(G[:, iu[0], iu[1]], dim=1)
    return C, f, gnorm, n_iter, dropped


@renamed_parameter("score", "metric")
def similarity_transform_distances(
    pairs: list[tuple[np.ndarray, np.ndarray]],
    *,
    metric: str = "angular",
    n_random: int = 6,
    seed: int = 0,
    max_iter: int = 200,
    gtol: float = 1e-10,
    agree_tol: float = 1e-8,
    newton_max_dim: int = 24,
    device: Any = "cpu",
    threads: int | None = 1,
    chunk_elems: int = 20_000_000,
) -> list[SimilarityInfo]:
    """Similarity-transform distances for many operator pairs, optimised together in batches.

    All pairs must have square operators of matching size within the pair (sizes may differ between pairs;
    pairs are grouped by size). See the module docstring for the algorithm and
    :func:`similarity_transform_distance` for the parameters.
    """
    score = metric
    import torch

    _check_score(score)
    dev = resolve_device(device)
    prepped = []
    swaps: list[bool] = []
    for k, (A, B) in enumerate(pairs):
        A = _as_operator(A, f"A (pair {k})")
        B = _as_operator(B, f"B (pair {k})")
        if A.shape != B.shape:
            raise InputError(
                f"operators of pair {k} have shapes {A.shape} and {B.shape}; the {score} "
                f"similarity-transform distance needs equal sizes — fit both systems with the same "
                f"rank, or use score='wasserstein'"
            )
        An, Bn = A / np.linalg.norm(A), B / np.linalg.norm(B)
        # canonical order so that d(A, B) and d(B, A) run the identical optimisation (exact symmetry)
        swapped = An.tobytes() > Bn.tobytes()
        prepped.append((Bn, An) if swapped else (An, Bn))
        swaps.append(swapped)
    out: list[SimilarityInfo | None] = [None] * len(prepped)
    by_n: dict[int, list[int]] = {}
    for k, (A, _) in enumerate(prepped):
        by_n.setdefault(A.shape[0], []).append(k)
    rng = np.random.default_rng(seed)
    with torch_threads(threads if dev.type == "cpu" else None):
        for n, ks in by_n.items():
            newton = n <= newton_max_dim
            starts_per = []
            for k in ks:
                A, B = prepped[k]
                st = _spectral_starts(A, B)
                if n_random > 0:
                    st.extend(list(_random_orthogonal(rng, n, n_random)))
                starts_per.append(np.stack(st))
            n_st = starts_per[0].shape[0]
            p = n * (n - 1) // 2
            per_problem = max(1, (2 * p + 4) * n * n if newton else 8 * n * n)
            chunk_pairs = max(1, chunk_elems // (per_problem * n_st))
            for c0 in range(0, len(ks), chunk_pairs):
                cks = ks[c0 : c0 + chunk_pairs]
                Ab = np.repeat(np.stack([prepped[k][0] for k in cks]), n_st, axis=0)
                Bb = np.repeat(np.stack([prepped[k][1] for k in cks]), n_st, axis=0)
                Cb = np.concatenate(starts_per[c0 : c0 + len(cks)], axis=0)
                At = torch.as_tensor(Ab, dtype=torch.float64, device=dev)
                Bt = torch.as_tensor(Bb, dtype=torch.float64, device=dev)
                Ct = torch.as_tensor(Cb, dtype=torch.float64, device=dev).clone()
                grp = torch.arange(len(cks), device=dev).repeat_interleave(n_st)
                C, f, gn, it, _ = _solve(
                    At, Bt, Ct, max_iter=max_iter, gtol=gtol, newton=newton, group=grp, n_groups=len(cks)
                )
                C = C.cpu().numpy().reshape(len(cks), n_st, n, n)
                f = f.cpu().numpy().reshape(len(cks), n_st)
                gn = gn.cpu().numpy().reshape(len(cks), n_st)
                it = it.cpu().numpy().reshape(len(cks), n_st)
                for j, k in enumerate(cks):
                    best = int(np.argmax(f[j]))
                    Cbest = C[j, best]
                    A, B = prepped[k]
                    resid = float(np.linalg.norm(A - Cbest @ B @ Cbest.T))
                    d_e = resid
                    d_a = float(2.0 * np.arcsin(min(resid / 2.0, 1.0)))
                    out[k] = SimilarityInfo(
                        distance=d_a if score == "angular" else d_e,
                        score=score,
                        C=Cbest.T if swaps[k] else Cbest,
                        cos_similarity=float(f[j, best]),
                        grad_norm=float(gn[j, best]),
                        n_starts=int(n_st),
                        n_agree=int(np.sum(f[j] >= f[j, best] - agree_tol)),
                        det=int(np.sign(np.linalg.det(Cbest))),
                        n_iter=int(it[j, best]),
                        converged=bool(gn[j, best] <= gtol * 10),
                    )
    bad = [o for o in out if o is not None and not o.converged]
    if bad:
        not_converged(
            f"{len(bad)} of {len(out)} similarity-transform fits stopped with gradient norm up to "
            f"{max(o.grad_norm for o in bad):.2e} (> 10·gtol); raise max_iter or n_random (their results carry "
            f"converged=False)"
        )
    return out  # type: ignore[return-value]


@renamed_parameter("score", "metric")
def similarity_transform_distance(
    A: ArrayLike,
    B: ArrayLike,
    metric: str = "angular",
    *,
    n_random: int = 6,
    seed: int = 0,
    max_iter: int = 200,
    gtol: float = 1e-10,
    device: Any = "cpu",
    threads: int | None = 1,
    return_info: bool = False,
) -> float | SimilarityInfo:
    """Distance between two square operators up to an orthogonal similarity transform over all of O(n).

    ``angular``: ``arccos max_C tr(Âᵀ C B̂ Cᵀ)`` in radians (0 … π); ``euclidean``:
    ``min_C ‖Â − C B̂ Cᵀ‖_F`` (0 … 2) with ``Â = A/‖A‖_F`` (Ostrow et al. 2023). Accepts arrays, torch
    tensors or
    :class:`~repscope.dynamics.DMDResult` objects. ``n_random`` random starts are added to the spectral
    starts; ``gtol`` is the stopping tolerance on the Riemannian gradient norm. ``threads=1`` (default) runs
    torch single-threaded, fastest for r×r work with r ≲ 64. With ``return_info=True`` returns a
    :class:`SimilarityInfo` (optimal C, final gradient norm, agreeing starts).
    """
    score = metric
    info = similarity_transform_distances(
        [(A, B)],
        metric=score,
        n_random=n_random,
        seed=seed,
        max_iter=max_iter,
        gtol=gtol,
        device=device,
        threads=threads,
    )[0]
    return info if return_info else info.distance


def eig_wasserstein(a: Any, b: Any, *, p: int = 2) -> float:
    """p-Wasserstein distance between two eigenvalue sets (complex numbers as points in ℝ², uniform weights).

    ``a``/``b``: 1-D arrays of eigenvalues, or square operators / DMD results (their eigenvalues are used).
    The smaller set is padded with zeros, as in the reference package. Returns ``W_p`` (metric units); the
    reference ``dsa-metric`` reports ``W_2²``. Exact: equal-size uniform OT is an assignment problem
    (Hungarian algorithm via scipy).
    """
    from scipy.optimize import linear_sum_assignment

    def _eigs(x: ArrayLike, name: str) -> np.ndarray:
        if hasattr(x, "eigenvalues_"):
            return np.asarray(x.eigenvalues_)
        arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
        if arr.ndim == 2:
            return np.linalg.eigvals(_as_operator(arr, name))
        if arr.ndim != 1 or arr.size == 0:
            raise InputError(
                f"{name} must be a 1-D array of eigenvalues or a square matrix (got {arr.shape})"
            )
        if not np.isfinite(arr).all():
            raise InputError(f"{name} contains NaN or Inf eigenvalues")
        return arr.astype(np.complex128)

    if p < 1:
        raise InputError(f"p={p} must be ≥ 1")
    ea, eb = _eigs(a, "a"), _eigs(b, "b")
    m = max(len(ea), len(eb))
    ea = np.concatenate([ea, np.zeros(m - len(ea))])
    eb = np.concatenate([eb, np.zeros(m - len(eb))])
    D = np.abs(ea[:, None] - eb[None, :]) ** p
    r, c = linear_sum_assignment(D)
    return float((D[r, c].mean()) ** (1.0 / p))
