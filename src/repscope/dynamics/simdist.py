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
Barzilai–Borwein gradient ascent with backtracking.

**Where the spurious optima come from.** ``f`` is a quartic in ``C`` on a disconnected manifold: O(n) has two
components (det ±1) that no continuous path — no Cayley/exponential parametrisation started at the identity,
as in the reference — can cross, and on each component random Gaussian 8×8 pairs have tens of local maxima
whose values differ by only a few 1e-3 (so "6 of 16 starts agree" can happen at a non-global one). Starts
(optimised in one batch, over all pairs):

- spectral starts: for each invariant ``S(X)`` ∈ {X+Xᵀ, XXᵀ, XᵀX, (X−Xᵀ)(X−Xᵀ)ᵀ} (each satisfies
  ``S(CBCᵀ) = C S(B) Cᵀ``) align the eigenvectors, ``C₀ = U_A D U_Bᵀ``, with the sign pattern ``D`` chosen by
  maximising the Ising form ``Σ_ij (U_AᵀÂU_A)_ij (U_BᵀB̂U_B)_ij d_i d_j`` (spectral rounding + greedy flips);
  plus a signed identity (DMD operators of rotated data differ by a signed permutation-free diagonal);
- Schur starts: the orthogonal Procrustes map between real Schur bases (nested invariant subspaces) of A and
  B with the eigenvalues in the same order (by modulus, by real part both ways, by rotation speed), signs
  as above;
- each of these again with the least costly sign flipped (the other component of O(n));
- Haar-random starts (alternating det = +1 / −1) in rounds: ``n_random`` (8) with the deterministic ones,
  then doubling the total (16, 32, 64, 128), only for pairs not yet certified, up to ``max_random`` (128,
  the documented budget). A round's random starts are the same for every pair of that size (seeded by
  ``seed``, n and the round), so a pair's answer does not depend on the batch it is solved in.

**Certificate / stopping rule.** The deterministic starts are correlated (in the issue's 8×8 Gaussian case
six of them end at the same wrong optimum), so only the random starts count as independent witnesses: a
pair is certified when its best value is reached (within ``agree_tol`` in ``f``) by at least ``min_agree``
= 3 random starts, or when it meets the closed-form upper bound ``Σ λ↓(sym Â)λ↓(sym B̂) + Σ s↓(skew Â)
s↓(skew B̂)`` (exact for exactly orthogonally similar, symmetric or skew pairs). If a wrong optimum ``L``
and the global one ``G`` have basins of Haar measure ``p_L``, ``p_G``, the rule certifies ``L`` only if
the deterministic starts all miss ``G`` and ``L`` collects k random hits before ``G`` gets one
(probability ≈ ``(p_L/(p_L+p_G))^k``; Gaussian 8–10-dimensional pairs have global basins as small as
``p_G`` ≈ 4 %). Measured on 161 Gaussian pairs (sizes 4–10, a quarter near-similar) against 210 starts,
3 seeds: the deterministic starts miss the global optimum on 3 % of pairs; k = 2 certified a wrong
optimum on 0.6 % of runs (up to 0.023 rad off), k = 3 on none of 483 (mean ≈ 25 random starts). A pair
still uncertified after ``max_random`` random starts returns its best value (an upper bound on the
distance) with ``converged=False`` and a :class:`~repscope.errors.ConvergenceWarning`. Random starts that
the Newton model shows to be heading below the best value are dropped early, but only where the model is
accurate and f strictly concave with negligible damping — elsewhere (saddles, the flat landscapes of
near-scalar DMD operators) a start can still climb past the best.

For exactly orthogonally similar pairs a spectral start is already exact up to noise and Newton polishes it
to machine precision. Iteration stops when the Riemannian gradient norm ``‖g‖ ≤ gtol`` (on the unit-norm
problem). ``converged`` means: final gradient norm ≤ 10·gtol *and* a certificate.

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
    converged: bool  # grad_norm ≤ 10·gtol and a certificate (below)
    n_random: int = 0  # independent (Haar-random) starts used
    certificate: str = "none"  # "agreement" (≥ min_agree random starts reach the best), "bound", or "none"
    upper_bound: float = float("nan")  # closed-form bound on cos_similarity (symmetric + skew parts)

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
            "n_random": self.n_random,
            "certificate": self.certificate,
            "upper_bound": self.upper_bound,
        }

    def summary(self) -> str:
        return (
            f"{self.score} distance {self.distance:.6g} (gradient norm {self.grad_norm:.2g}, "
            f"{self.n_agree}/{self.n_random} random starts reach it, certificate: {self.certificate}, "
            f"det C = {self.det:+d})"
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
        starts.extend(_signed_alignments(A, B, Ua, Ub))
    return starts


def _signed_alignments(A: np.ndarray, B: np.ndarray, Ua: np.ndarray, Ub: np.ndarray) -> list[np.ndarray]:
    """``C₀ = U_A D U_Bᵀ`` with the Ising-rounded signs D, and again with the least costly sign flipped (the
    other component of O(n))."""
    d, cost = _ising_signs((Ua.T @ A @ Ua) * (Ub.T @ B @ Ub))
    d2 = d.copy()
    k = int(np.argmin(cost))
    d2[k] = -d2[k]
    return [(Ua * d) @ Ub.T, (Ua * d2) @ Ub.T]


def _schur_basis(X: np.ndarray, key) -> np.ndarray:
    """Orthonormal basis of nested invariant subspaces of ``X`` (a real Schur basis), eigenvalues ordered by
    ``key``: the QR factor of the real eigenvector basis (one column per real eigenvalue, ``Re v, Im v`` per
    complex pair) in that order. Covariant like the invariants: ``CBCᵀ`` has basis ``C U_B`` (up to signs)."""
    w, V = np.linalg.eig(X)
    keep = w.imag >= 0  # LAPACK returns exact conjugate pairs; one column block per pair
    order = np.flatnonzero(keep)[np.argsort(key(w[keep]), kind="stable")]
    cols = []
    for i in order:
        cols.append(V[:, i].real)
        if w[i].imag > 0:
            cols.append(V[:, i].imag)
    Q, _ = np.linalg.qr(np.stack(cols, axis=1))
    return Q


_SCHUR_ORDERS = (
    lambda w: -np.abs(w),  # by modulus (dominant modes first)
    lambda w: -w.real,
    lambda w: w.real,
    lambda w: -np.abs(w.imag),  # oscillatory modes first
)


def _schur_starts(A: np.ndarray, B: np.ndarray) -> list[np.ndarray]:
    """Procrustes-style starts between the Schur bases of A and B (same eigenvalue ordering on both sides):
    ``C₀ = U_A D U_Bᵀ`` with signs ``D`` from the Ising rounding, plus the other component of O(n)."""
    return [C for key in _SCHUR_ORDERS for C in _signed_alignments(A, B, _schur_basis(A, key), _schur_basis(B, key))]


def _random_orthogonal(rng: np.random.Generator, n: int, k: int, first: int = 0) -> np.ndarray:
    """``k`` Haar-random orthogonal matrices, det alternating +1 / −1 (start ``first`` of the sequence)."""
    Z = rng.standard_normal((k, n, n))
    Q, R = np.linalg.qr(Z)
    Q = Q * np.sign(np.diagonal(R, axis1=1, axis2=2))[:, None, :]
    det = np.linalg.det(Q)
    want = np.where((first + np.arange(k)) % 2 == 0, 1.0, -1.0)
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


def _skew_grad(M, B):
    """Lie-algebra gradient ``skew(MᵀB − BMᵀ)`` of f at each start of the batch (as n×n skew matrices)."""
    G = M.transpose(1, 2) @ B - B @ M.transpose(1, 2)
    return 0.5 * (G - G.transpose(1, 2))


def _newton_direction(Ma, g, E, YBa, mua, eye_p):
    """Damped Newton step ``(−H + μI)⁻¹ g`` (μ raised until Cholesky succeeds); returns w, predicted gain, H."""
    import torch

    a, n = Ma.shape[0], Ma.shape[1]
    p = E.shape[0]
    X = (Ma.unsqueeze(1) @ E - E @ Ma.unsqueeze(1)).reshape(a, p, n * n)
    H = -(X @ YBa.transpose(1, 2))
    H = 0.5 * (H + H.transpose(1, 2))
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
    return w, pred, H


def _capped_retraction(Ci, w, pred, iu):
    """Cap the step at norm 1 (exp is 2π-periodic in rotation angles) and retract: ``C e^Ω``; returns Cn, pred."""
    import torch

    a, n = Ci.shape[0], Ci.shape[1]
    wn = torch.linalg.vector_norm(w, dim=1)
    scale = torch.clamp(1.0 / torch.clamp(wn, min=1e-300), max=1.0)
    w = w * scale[:, None]
    pred = torch.where(scale < 1, pred * scale, pred)
    Om = torch.zeros(a, n, n, dtype=Ci.dtype, device=Ci.device)
    Om[:, iu[0], iu[1]] = w / math.sqrt(2.0)
    Om = Om - Om.transpose(1, 2)
    return Ci @ torch.linalg.matrix_exp(Om), pred


def _accept_step(gain, pred, rho, idx, mua, mu, alpha, active, newton: bool):
    """Accept or reject each step, adapt μ (Newton) or the BB step α in place, and retire stuck starts."""
    import torch

    if newton:
        accept = (gain > 0) | ((gain >= -1e-15) & (pred <= 1e-14))
        new_mu = torch.where(rho > 0.75, mua / 4, torch.where(rho < 0.25, mua * 4, mua))
        new_mu = torch.where(accept, new_mu, mua * 8)
        mu[idx] = torch.clamp(new_mu, min=1e-14, max=1e8)
        # stuck: no progress possible at float precision
        stuck = (~accept) & (mua * 8 >= 1e8)
    else:
        accept = gain >= 1e-4 * pred
        al = alpha[idx]
        alpha[idx] = torch.where(accept, al * 1.5, al * 0.3).clamp(1e-8, 1e3)
        stuck = (~accept) & (al * 0.3 <= 1e-8)
    if stuck.any():
        active[idx[stuck]] = False
    return accept


def _drop_dominated(f, idx, accept, rho, pred, H, mua, eye_p, group, n_groups, best0, cap, active, dropped):
    """Retire (in place) the starts whose trusted Newton model ends below their pair's best, or whose pair is capped."""
    import torch

    best = torch.full((n_groups,), -float("inf"), dtype=f.dtype, device=f.device) if best0 is None else best0.clone()
    best = best.scatter_reduce(0, group, f, reduce="amax")
    # trust the quadratic model only where it is accurate and f is strictly concave with the damping
    # negligible in every direction (−H − 10μI positive definite): then pred ≈ the gain left to the
    # local maximum. Near saddles or on flat landscapes (e.g. near-scalar operators) a damped step
    # predicts far less than the gain still to come, and such a start may be heading for the optimum.
    trust = accept & (rho > 0.5) & (rho < 2.0)
    if trust.any():
        ti = trust.nonzero().squeeze(1)
        _, info_c = torch.linalg.cholesky_ex(-H[ti] - 10 * mua[ti][:, None, None] * eye_p)
        trust[ti] = info_c == 0
    dom = trust & (f[idx] + 4 * pred < best[group[idx]] - 1e-7)
    if cap is not None:  # the pair's optimum is certified by the bound: nothing left to find
        dom = dom | ((best[group[idx]] >= cap[group[idx]]) & (f[idx] < best[group[idx]]))
    if dom.any():
        active[idx[dom]] = False
        dropped[idx[dom]] = True


def _solve(A, B, C, *, max_iter: int, gtol: float, newton: bool, group=None, n_groups: int = 1, best0=None,
           cap=None):
    """Maximise f(C) = <CᵀAC, B> for a batch of (A, B, C0). Returns C, f, grad_norm, n_iter, dropped.

    ``group`` (b,) assigns each start to its pair: a start whose local quadratic model is trustworthy (step
    accepted with ρ > 0.5 and little damping) and whose predicted final value ``f + 4·pred`` stays below the
    best value already reached by another start of its pair (minus 1e-7) — or ``best0`` (n_groups,), the
    best of earlier rounds — is dropped early ("dominated"). ``cap`` (n_groups,): once a pair's best value
    reaches it (the closed-form upper bound less the tolerance: that value is the global maximum), all its
    other starts stop.
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
        G = _skew_grad(Ma, Ba)
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
        mua = mu[idx]  # damping of the active starts (a copy; Newton path only)
        if newton:
            w, pred, H = _newton_direction(Ma, g, E, YB[idx], mua, eye_p)
        else:
            w = alpha[idx, None] * g
            pred = (g * w).sum(1)
        Cn, pred = _capped_retraction(C[idx], w, pred, iu)
        Mn = Cn.transpose(1, 2) @ A[idx] @ Cn
        fn = (Mn * B[idx]).sum((1, 2))
        gain = fn - fa
        rho = gain / torch.clamp(pred, min=1e-300)
        accept = _accept_step(gain, pred, rho, idx, mua, mu, alpha, active, newton)
        acc = idx[accept]
        C[acc] = Cn[accept]
        M[acc] = Mn[accept]
        f[acc] = fn[accept]
        if newton and n_groups > 0:
            _drop_dominated(f, idx, accept, rho, pred, H, mua, eye_p, group, n_groups, best0, cap, active, dropped)
    # final gradient for all
    G = _skew_grad(M, B)
    gnorm = sq2 * torch.linalg.vector_norm(G[:, iu[0], iu[1]], dim=1)
    return C, f, gnorm, n_iter, dropped


def _upper_bound(A: np.ndarray, B: np.ndarray) -> float:
    """Closed-form upper bound on ``max_{C∈O(n)} ⟨A, C B Cᵀ⟩`` (A, B already unit-norm).

    Conjugation by ``C`` keeps symmetric and skew parts apart, so ``⟨A, CBCᵀ⟩ = ⟨S_A, C S_B Cᵀ⟩ +
    ⟨K_A, C K_B Cᵀ⟩``; each term is at most its own maximum over O(n), which is ``Σ λ↓(S_A) λ↓(S_B)``
    (symmetric parts; Fan / von Neumann) and ``Σ s↓(K_A) s↓(K_B)`` (skew parts; von Neumann, attained by
    aligning the 2×2 rotation blocks). Equality holds when one ``C`` attains both (e.g. exactly
    orthogonally similar, symmetric, or skew operators); then a value within tolerance of the bound is the
    certified global maximum.
    """
    SA, SB = 0.5 * (A + A.T), 0.5 * (B + B.T)
    KA, KB = 0.5 * (A - A.T), 0.5 * (B - B.T)
    sym = float(np.sort(np.linalg.eigvalsh(SA)) @ np.sort(np.linalg.eigvalsh(SB)))
    skew = float(np.linalg.svd(KA, compute_uv=False) @ np.linalg.svd(KB, compute_uv=False))
    return sym + skew


def _certificate(best: float, bound: float, rand_f: list[np.ndarray], agree_tol: float, min_agree: int) -> str:
    """"bound" if ``best`` meets the closed-form bound, "agreement" if ≥ ``min_agree`` random starts reach it."""
    if best >= bound - agree_tol:
        return "bound"
    hits = sum(int(np.sum(f >= best - agree_tol)) for f in rand_f)
    return "agreement" if min_agree > 0 and hits >= min_agree else ""


def _batch_solve(prepped, ks, starts, best0, cap, *, dev, newton, max_iter, gtol, chunk_elems):
    """Optimise ``starts`` (list over ``ks`` of (s, n, n) arrays, equal s) for pairs ``ks``, chunked."""
    import torch

    n = starts[0].shape[1]
    n_st = starts[0].shape[0]
    p = n * (n - 1) // 2
    per_problem = max(1, (2 * p + 4) * n * n if newton else 8 * n * n)
    chunk_pairs = max(1, chunk_elems // (per_problem * n_st))
    outs = []
    for c0 in range(0, len(ks), chunk_pairs):
        cks = ks[c0 : c0 + chunk_pairs]
        m = len(cks)
        Ab = np.repeat(np.stack([prepped[k][0] for k in cks]), n_st, axis=0)
        Bb = np.repeat(np.stack([prepped[k][1] for k in cks]), n_st, axis=0)
        Cb = np.concatenate(starts[c0 : c0 + m], axis=0)
        At = torch.as_tensor(Ab, dtype=torch.float64, device=dev)
        Bt = torch.as_tensor(Bb, dtype=torch.float64, device=dev)
        Ct = torch.as_tensor(Cb, dtype=torch.float64, device=dev).clone()
        grp = torch.arange(m, device=dev).repeat_interleave(n_st)
        b0 = torch.as_tensor(np.asarray(best0[c0 : c0 + m], dtype=np.float64), device=dev)
        cp = torch.as_tensor(np.asarray(cap[c0 : c0 + m], dtype=np.float64), device=dev)
        C, f, gn, it, _ = _solve(
            At, Bt, Ct, max_iter=max_iter, gtol=gtol, newton=newton, group=grp, n_groups=m, best0=b0, cap=cp
        )
        outs.append((C.cpu().numpy().reshape(m, n_st, n, n), f.cpu().numpy().reshape(m, n_st),
                     gn.cpu().numpy().reshape(m, n_st), it.cpu().numpy().reshape(m, n_st)))
    return [np.concatenate(x, axis=0) for x in zip(*outs)]


def _prepare_pairs(pairs, score: str) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[bool]]:
    """Validate each pair, scale both operators to unit norm and put them in canonical (swap-free) order."""
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
    return prepped, swaps


def _solve_size(prepped, ks, n, ub, *, newton, n_random, max_random, min_agree, seed, agree_tol, solve_kw):
    """Start rounds for the pairs ``ks`` of size ``n``: best (C, f, grad, iters), random-start values, n_det."""
    # round 0: the deterministic starts and the first n_random random ones
    det = [np.stack(_spectral_starts(*prepped[k]) + _schur_starts(*prepped[k])) for k in ks]
    n_det = det[0].shape[0]
    n_rand = min(n_random, max_random)
    # the same Haar starts for every pair of this size in a round: a pair's result does not depend on
    # which other pairs share the batch (dsa(X, Y) equals its dsa_matrix entry)
    R = _random_orthogonal(np.random.default_rng([seed, n, 0]), n, n_rand)
    st = [np.concatenate([d, R]) for d in det]
    Cs, fs, gs, its = _batch_solve(
        prepped, ks, st, np.full(len(ks), -np.inf), ub - agree_tol, newton=newton, **solve_kw
    )
    best = np.argmax(fs, axis=1)
    ar = np.arange(len(ks))
    bC, bf, bg, bit = Cs[ar, best], fs[ar, best], gs[ar, best], its[ar, best]
    rand_f: list[list[np.ndarray]] = [[fs[j, n_det:]] for j in range(len(ks))]
    rnd = 1

    def certified(j: int, bf=bf, ub=ub, rand_f=rand_f) -> str:
        return _certificate(bf[j], ub[j], rand_f[j], agree_tol, min_agree)

    while n_rand < max_random:
        todo = [j for j in range(len(ks)) if not certified(j)]
        if not todo:
            break
        new = min(max(n_rand, 1), max_random - n_rand)  # doubling the random starts each round
        R = _random_orthogonal(np.random.default_rng([seed, n, rnd]), n, new, first=n_rand)
        Cs, fs, gs, its = _batch_solve(
            prepped, [ks[j] for j in todo], [R] * len(todo), bf[todo], ub[todo] - agree_tol, newton=newton,
            **solve_kw,
        )
        for t, j in enumerate(todo):
            rand_f[j].append(fs[t])
            i = int(np.argmax(fs[t]))
            if fs[t, i] > bf[j]:
                bC[j], bf[j], bg[j], bit[j] = Cs[t, i], fs[t, i], gs[t, i], its[t, i]
        n_rand += new
        rnd += 1
    return (bC, bf, bg, bit), rand_f, n_det


def _warn_uncertified(out: list[SimilarityInfo | None], *, gtol: float, min_agree: int, max_random: int,
                      on_fail: str) -> None:
    """One ConvergenceWarning (or error, per ``on_fail``) naming how many optimisations are not certified."""
    bad = [o for o in out if o is not None and not o.converged]
    if bad:
        n_grad = sum(o.grad_norm > gtol * 10 for o in bad)
        n_cert = sum(o.certificate == "none" for o in bad)
        not_converged(
            f"{len(bad)} of {len(out)} similarity-transform optimisations are not certified: {n_cert} with the "
            f"best value reached by fewer than min_agree={min_agree} of up to max_random={max_random} random "
            f"starts, {n_grad} with a final gradient norm above 10·gtol (largest "
            f"{max(o.grad_norm for o in bad):.2e}); raise max_random (or max_iter). Their distances are upper "
            f"bounds on the true minimum and carry converged=False",
            on_fail,
        )


@renamed_parameter("score", "metric")
def similarity_transform_distances(
    pairs: list[tuple[np.ndarray, np.ndarray]],
    *,
    metric: str = "angular",
    n_random: int = 8,
    max_random: int = 128,
    min_agree: int = 3,
    seed: int = 0,
    max_iter: int = 200,
    gtol: float = 1e-10,
    agree_tol: float = 1e-9,
    newton_max_dim: int = 24,
    device: Any = "cpu",
    threads: int | None = 1,
    chunk_elems: int = 20_000_000,
    on_fail: str = "warn",
) -> list[SimilarityInfo]:
    """Similarity-transform distances for many operator pairs, optimised together in batches.

    All pairs must have square operators of matching size within the pair (sizes may differ between pairs;
    pairs are grouped by size). See the module docstring for the algorithm and the stopping rule, and
    :func:`similarity_transform_distance` for the parameters. Pairs whose optimum is not certified
    (gradient, agreement or bound, see :class:`SimilarityInfo`) carry ``converged=False`` and trigger one
    :class:`~repscope.errors.ConvergenceWarning` (``on_fail``: ``"warn"`` / ``"raise"`` / ``"ignore"``).
    """
    score = metric
    _check_score(score)
    for nm, v in (("n_random", n_random), ("max_random", max_random), ("min_agree", min_agree)):
        if int(v) != v or v < 0:
            raise InputError(f"{nm}={v!r} must be a non-negative integer")
    dev = resolve_device(device)
    prepped, swaps = _prepare_pairs(pairs, score)
    out: list[SimilarityInfo | None] = [None] * len(prepped)
    by_n: dict[int, list[int]] = {}
    for k, (A, _) in enumerate(prepped):
        by_n.setdefault(A.shape[0], []).append(k)
    solve_kw = dict(dev=dev, max_iter=max_iter, gtol=gtol, chunk_elems=chunk_elems)
    with torch_threads(threads if dev.type == "cpu" else None):
        for n, ks in by_n.items():
            ub = np.array([_upper_bound(*prepped[k]) for k in ks])
            (bC, bf, bg, bit), rand_f, n_det = _solve_size(
                prepped, ks, n, ub, newton=n <= newton_max_dim, n_random=n_random, max_random=max_random,
                min_agree=min_agree, seed=seed, agree_tol=agree_tol, solve_kw=solve_kw,
            )
            for j, k in enumerate(ks):
                A, B = prepped[k]
                Cbest = bC[j]
                resid = float(np.linalg.norm(A - Cbest @ B @ Cbest.T))
                d_a = float(2.0 * np.arcsin(min(resid / 2.0, 1.0)))
                cert = _certificate(bf[j], ub[j], rand_f[j], agree_tol, min_agree)
                rf = np.concatenate(rand_f[j]) if rand_f[j] else np.zeros(0)
                out[k] = SimilarityInfo(
                    distance=d_a if score == "angular" else resid,
                    score=score,
                    C=Cbest.T if swaps[k] else Cbest,
                    cos_similarity=float(bf[j]),
                    grad_norm=float(bg[j]),
                    n_starts=int(n_det + rf.size),
                    n_agree=int(np.sum(rf >= bf[j] - agree_tol)),
                    det=int(np.sign(np.linalg.det(Cbest))),
                    n_iter=int(bit[j]),
                    converged=bool(bg[j] <= gtol * 10 and cert),
                    n_random=int(rf.size),
                    certificate=cert or "none",
                    upper_bound=float(ub[j]),
                )
    _warn_uncertified(out, gtol=gtol, min_agree=min_agree, max_random=max_random, on_fail=on_fail)
    return out  # type: ignore[return-value]


@renamed_parameter("score", "metric")
def similarity_transform_distance(
    A: ArrayLike,
    B: ArrayLike,
    metric: str = "angular",
    *,
    n_random: int = 8,
    max_random: int = 128,
    min_agree: int = 3,
    seed: int = 0,
    max_iter: int = 200,
    gtol: float = 1e-10,
    agree_tol: float = 1e-9,
    device: Any = "cpu",
    threads: int | None = 1,
    on_fail: str = "warn",
    return_info: bool = False,
) -> float | SimilarityInfo:
    """Distance between two square operators up to an orthogonal similarity transform over all of O(n).

    ``angular``: ``arccos max_C tr(Âᵀ C B̂ Cᵀ)`` in radians (0 … π); ``euclidean``:
    ``min_C ‖Â − C B̂ Cᵀ‖_F`` (0 … 2) with ``Â = A/‖A‖_F`` (Ostrow et al. 2023). Accepts arrays, torch
    tensors or :class:`~repscope.dynamics.DMDResult` objects.

    The deterministic (spectral and Schur) starts run first, then Haar-random starts in rounds of
    ``n_random``, then doubling (8, 16, 32, … in all), until the best value is reached by ``min_agree``
    independent random starts within ``agree_tol`` (in ``cos_similarity``), or it meets the closed-form upper
    bound, or ``max_random`` random starts are spent — then ``converged=False`` and a
    :class:`~repscope.errors.ConvergenceWarning` (``on_fail`` as in :func:`repscope.errors.not_converged`).
    ``gtol`` is the stopping tolerance on the Riemannian gradient norm. ``threads=1`` (default) runs torch
    single-threaded, fastest for r×r work with r ≲ 64. With ``return_info=True`` returns a
    :class:`SimilarityInfo` (optimal C, final gradient norm, agreeing random starts, certificate).
    """
    score = metric
    info = similarity_transform_distances(
        [(A, B)],
        metric=score,
        n_random=n_random,
        max_random=max_random,
        min_agree=min_agree,
        seed=seed,
        max_iter=max_iter,
        gtol=gtol,
        agree_tol=agree_tol,
        device=device,
        threads=threads,
        on_fail=on_fail,
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
