"""Stochastic shape metrics: distances between *noisy* networks, which answer each input with a
distribution rather than a point (dropout at test time, sampling, neural recordings over trials).

Inputs are responses shaped ``(n_conditions, n_repeats, d)`` — the same conditions (inputs), several
noisy repeats of each, d units — for both networks (same n_conditions; the Gaussian metric also
accepts ``(means (n, d), covariances (n, d, d))`` tuples). The narrower network is zero-padded.

**Gaussian shape distance** (Duong, Zhou, Nassar, Berman, Olieslagers & Williams 2023, "Representational
dissimilarity metric spaces for stochastic neural networks", ICLR; reference code netrep
``GaussianStochasticMetric``). Each condition i is summarised by a Gaussian N(μᵢ, Σᵢ) (sample mean and
unbiased covariance over the repeats); with α ∈ [0, 2],

    d_α(X, Y)² = min_{T ∈ G} (1/n) Σᵢ [ α ‖μᵢˣ − Tᵀμᵢʸ‖² + (2 − α) B²(Σᵢˣ, TᵀΣᵢʸT) ],
    B²(A, C) = tr A + tr C − 2 ‖A^{1/2} C^{1/2}‖_*      (squared Bures distance),

so α = 1 is the 2-Wasserstein distance between the condition-wise Gaussians (averaged over conditions),
α = 2 the deterministic Procrustes distance of the means (scaled by √2) and α = 0 covariance only. G is the
orthogonal group (``group="orth"``), permutations (``"perm"``) or the identity. Minimised by
alternating Procrustes steps: B²(A, C) = min_Q ‖A^{1/2} − C^{1/2}Q‖², so for fixed T each condition's
Qᵢ is a Procrustes rotation, and for fixed Qᵢ the shared T solves one stacked Procrustes problem on
[√α μˣ; √(2−α) Σᵢˣ^{1/2}] vs [√α μʸ; √(2−α) Qᵢᵀ Σᵢʸ^{1/2}]. The loss never increases; initialised at
the alignment of the means. (netrep stacks the blocks with weights α and 2 − α instead of their square
roots, so for α ≠ 1 it fits T to a different objective than the one it scores; repscope minimises the
score itself — the same at α = 1.)

**Energy shape distance** (same paper; netrep ``EnergyStochasticMetric``): with the energy distance
between the repeat distributions of each condition,

    d_E(X, Y)² = min_{Q ∈ G} (1/n) Σᵢ [ E‖xᵢ − Qᵀyᵢ‖ − ½ E‖xᵢ − xᵢ'‖ − ½ E‖yᵢ − yᵢ'‖ ],

expectations over all r² cross pairs and the r(r−1)/2 distinct within pairs (half of Székely's energy
distance, netrep's convention). Needs no Gaussian assumption. The alignment is fitted by iteratively
re-weighted Procrustes on the cross pairs (weights 1/‖x − Qᵀy‖, Weiszfeld-style), as netrep does.

*When the alignment is not unique.* The distance is a minimum *value*, so it is well defined even when
several Q attain it; only the reported alignment ``T`` is then one of many. For ``group="orth"`` each IRLS
step is a Procrustes problem on ``M = Σ w y xᵀ``; its maximisers are ``U diag(I_k, R) Vᵀ`` with ``R``
arbitrary on the null space of ``M`` (rank k < d — always so when the responses span fewer than d
directions: the zero-padded narrower network, or n·r ≤ d). If ``k = min(rank X, rank Y)`` (the generic
case) one side's data lies entirely in the determined part, every such Q gives the same cross distances,
hence the same distance: ``StochasticFit.alignment_unique`` is False but nothing else changes. If
``k < min(rank X, rank Y)`` (cancellations in M, e.g. symmetric repeat clouds) the arbitrary part of Q
moves data that enter the distances, the IRLS iterate is not a determined minimiser and the returned
number may be above the minimum: the fit is then marked ``converged=False`` and a
:class:`~repscope.errors.ConvergenceWarning` says so. With few repeats the estimate inside the square root
(an unbiased U-statistic) can be negative — e.g. always for identical networks — and is clipped at 0:
"no difference detectable at this number of repeats".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError, not_converged
from repscope.metrics._common import check_choice, homogeneous
from repscope.metrics.permutation import GROUPS, align
from repscope.results import ResultBase

__all__ = [
    "gaussian_shape_distance",
    "energy_shape_distance",
    "gaussian_moments",
    "StochasticFit",
    "stochastic_fit",
]


def _responses(X: ArrayLike, name: str, min_repeats: int = 1, *, allow_2d: bool = False) -> np.ndarray:
    if hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    A = np.asarray(X)
    if A.dtype == object or not (np.issubdtype(A.dtype, np.number) or A.dtype == np.bool_):
        raise InputError(f"{name} has non-numeric dtype {A.dtype}; pass an array (n_conditions, n_repeats, d)")
    if allow_2d and A.ndim == 2:
        A = A[:, None, :]  # a deterministic network: one noise-free repeat per condition
        min_repeats = 1
    if A.ndim != 3:
        raise InputError(
            f"{name} has shape {A.shape}; stochastic metrics need responses shaped (n_conditions, "
            f"n_repeats, d) — several noisy repeats per condition (for one response per condition use "
            f"procrustes or shape_metric)"
        )
    if A.shape[0] < 2 or A.shape[1] < min_repeats or A.shape[2] < 1:
        raise InputError(
            f"{name} has shape {A.shape}; need ≥ 2 conditions, ≥ {min_repeats} repeats and ≥ 1 unit"
        )
    A = A.astype(np.float64)
    if not np.isfinite(A).all():
        raise InputError(f"{name} contains NaN or Inf; remove those repeats or conditions first")
    return A


def _pad_to(A: np.ndarray, d: int) -> np.ndarray:
    if A.shape[-1] == d:
        return A
    pad = [(0, 0)] * (A.ndim - 1) + [(0, d - A.shape[-1])]
    return np.pad(A, pad)


def gaussian_moments(X: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(means (n, d), covariances (n, d, d)) over the repeat axis of X (n, r, d); covariance with
    denominator r − 1."""
    A = _responses(X, "X", allow_2d=True)
    mu = A.mean(axis=1)
    R = A - mu[:, None, :]
    return mu, np.einsum("irj,irk->ijk", R, R) / max(A.shape[1] - 1, 1)  # one repeat: zero covariance


def _moments_input(X: ArrayLike, name: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(X, tuple):
        if len(X) != 2:
            raise InputError(f"{name}: a tuple must be (means (n, d), covariances (n, d, d))")
        mu, cov = (np.asarray(v, dtype=np.float64) for v in X)
        n, d = mu.shape if mu.ndim == 2 else (0, 0)
        if mu.ndim != 2 or cov.shape != (n, d, d):
            raise InputError(
                f"{name}: means {mu.shape} and covariances {cov.shape} must be (n, d) and (n, d, d)"
            )
        if not (np.isfinite(mu).all() and np.isfinite(cov).all()):
            raise InputError(f"{name}: means or covariances contain NaN or Inf")
        if not np.allclose(cov, np.swapaxes(cov, 1, 2), atol=1e-10 * max(1.0, float(np.abs(cov).max()))):
            raise InputError(f"{name}: covariances must be symmetric")
        return mu, cov
    return gaussian_moments(_responses(X, name, allow_2d=True))


def _psd_sqrt(C: np.ndarray) -> np.ndarray:
    """Batched symmetric square roots (eigenvalues clipped at 0)."""
    w, V = np.linalg.eigh(C)
    return np.einsum("ijk,ik,ilk->ijl", V, np.sqrt(np.maximum(w, 0.0)), V)


def _batched_procrustes(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Qᵢ = argmin over orthogonal Q of ‖Aᵢ Q − Bᵢ‖ for a batch (n, d, d)."""
    U, _, Vt = np.linalg.svd(np.swapaxes(A, 1, 2) @ B)
    return U @ Vt


def _sq_bures(sA: np.ndarray, sC: np.ndarray) -> np.ndarray:
    """Batched B²(A, C) from the square roots sA = A^{1/2}, sC = C^{1/2}."""
    nuc = np.linalg.svd(sA @ sC, compute_uv=False).sum(axis=1)
    return np.einsum("ijk,ijk->i", sA, sA) + np.einsum("ijk,ijk->i", sC, sC) - 2.0 * nuc


@dataclass
class StochasticFit(ResultBase):
    """A fitted stochastic shape distance: the value, the alignment T (Y's units → X's) and the loss
    per iteration."""

    distance: float
    metric: str
    T: np.ndarray
    loss: list[float]
    converged: bool
    params: dict[str, Any] = field(default_factory=dict)
    alignment_unique: bool | None = None  # T is the only minimiser (None: not checked for this group)

    title = "Stochastic shape distance"

    def to_dict(self) -> dict[str, Any]:
        from repscope.results import to_jsonable

        return to_jsonable(
            {"metric": self.metric, "distance": self.distance, "n_iter": len(self.loss),
             "converged": self.converged, "loss": self.loss, "params": self.params,
             "alignment_unique": self.alignment_unique}
        )

    def summary(self) -> str:
        state = "converged" if self.converged else "stopped at the iteration limit"
        uniq = "" if self.alignment_unique is not False else "; the alignment T is one of many minimisers"
        return (f"{self.metric} = {self.distance:.4g} after {len(self.loss)} alignment iterations "
                f"({state}; group {self.params.get('group')}{uniq}).")

    def table(self) -> tuple[list[str], list[list[str]]]:
        return ["iteration", "loss"], [[str(i), f"{v:.6g}"] for i, v in enumerate(self.loss)]

    def plot(self, ax: Any = None) -> Any:
        from repscope.results import axes_figure

        fig, ax = axes_figure(ax, (5, 3.5))  # a plain Figure, never pyplot
        ax.plot(range(len(self.loss)), self.loss, marker="o", ms=3)
        ax.set_xlabel("iteration")
        ax.set_ylabel("alignment loss")
        ax.set_title(f"{self.metric}: {self.distance:.4g}")
        fig.tight_layout()
        return fig

    def plotly(self) -> Any:
        import plotly.graph_objects as go

        fig = go.Figure(go.Scatter(x=list(range(len(self.loss))), y=self.loss, mode="lines+markers"))
        fig.update_layout(title=f"{self.metric}: {self.distance:.4g}", xaxis_title="iteration",
                          yaxis_title="alignment loss")
        return fig


def _fit_gaussian(X: ArrayLike, Y: ArrayLike, alpha: float, group: str, max_iter: int, tol: float) -> StochasticFit:
    if not 0.0 <= float(alpha) <= 2.0:
        raise InputError(f"alpha={alpha}; the Gaussian shape distance needs 0 ≤ alpha ≤ 2")
    check_choice(group, "group", GROUPS)
    (mx, cx), (my, cy) = _moments_input(X, "X"), _moments_input(Y, "Y")
    if mx.shape[0] != my.shape[0]:
        raise InputError(
            f"X has {mx.shape[0]} conditions but Y has {my.shape[0]}; both must answer the same inputs"
        )
    d = max(mx.shape[1], my.shape[1])
    mx, my = _pad_to(mx, d), _pad_to(my, d)
    cx = _pad_to(np.swapaxes(_pad_to(cx, d), 1, 2), d)
    cy = _pad_to(np.swapaxes(_pad_to(cy, d), 1, 2), d)
    sx, sy = _psd_sqrt(cx), _psd_sqrt(cy)
    a, b = np.sqrt(alpha), np.sqrt(2.0 - alpha)
    n = mx.shape[0]
    A = np.concatenate([a * mx, b * sx.reshape(n * d, d)])
    T = align(my, mx, group)  # initial: align the means
    loss: list[float] = []
    converged = group == "identity"
    for _ in range(1 if group == "identity" else max_iter):
        Q = _batched_procrustes(T.T[None] @ sy, sx)  # (Tᵀ sy) Q ≈ sx
        B = np.concatenate([a * my, b * (np.swapaxes(Q, 1, 2) @ sy).reshape(n * d, d)])
        T = align(B, A, group)
        loss.append(float(np.linalg.norm(A - B @ T)))
        if len(loss) > 2 and loss[-2] - loss[-1] < tol:
            converged = True
            break
    sy_t = T.T[None] @ sy @ T[None]
    mean_term = np.sum((mx - my @ T) ** 2, axis=1)
    d2 = float(np.mean(alpha * mean_term + (2.0 - alpha) * _sq_bures(sx, sy_t)))
    return StochasticFit(
        distance=float(np.sqrt(max(0.0, d2))), metric="gaussian_shape", T=T, loss=loss,
        converged=converged, params={"alpha": float(alpha), "group": group, "max_iter": max_iter, "tol": tol},
    )


def _pair_responses(X: ArrayLike, Y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    A, B = _responses(X, "X", allow_2d=True), _responses(Y, "Y", allow_2d=True)
    if A.shape[:2] != B.shape[:2]:
        raise InputError(
            f"X has shape {A.shape} and Y {B.shape}; both need the same conditions and number of repeats"
        )
    d = max(A.shape[2], B.shape[2])
    return _pad_to(A, d), _pad_to(B, d)


def _cross_dists(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """(n, r, r) Euclidean distances between repeats a of A[i] and b of B[i] (scipy ``cdist``: exact
    differences, memory O(n·r²))."""
    from scipy.spatial.distance import cdist

    return np.stack([cdist(a, b) for a, b in zip(A, B)])


def _energy_score(A: np.ndarray, B: np.ndarray) -> float:
    r = A.shape[1]
    iu = np.triu_indices(r, 1)
    dxy = _cross_dists(A, B).mean(axis=(1, 2))
    if r == 1:  # deterministic responses: no spread within a condition
        return float(np.sqrt(float(np.mean(dxy))))
    dxx = _cross_dists(A, A)[:, iu[0], iu[1]].mean(axis=1)
    dyy = _cross_dists(B, B)[:, iu[0], iu[1]].mean(axis=1)
    return float(np.sqrt(max(0.0, float(np.mean(dxy - 0.5 * (dxx + dyy))))))


#: default stopping rule of the energy fit: loss decrease below this fraction of the loss (scale-free)
ENERGY_RTOL = 1e-12


def _fit_energy(X: ArrayLike, Y: ArrayLike, group: str, max_iter: int, tol: float | None) -> StochasticFit:
    """IRLS fit; ``tol=None`` stops when the loss decreases by less than ENERGY_RTOL × loss (the same
    iterations at any scale of the data), a float ``tol`` by less than ``tol`` in absolute terms (netrep's
    rule, default 1e-6 there)."""
    check_choice(group, "group", GROUPS)
    A, B = _pair_responses(X, Y)
    D = _cross_dists(A, B)
    loss = [float(D.mean())]
    W = np.ones_like(D)  # squared IRLS weights per cross pair
    Q = np.eye(A.shape[2])
    converged = group == "identity"
    for _ in range(0 if group == "identity" else max_iter):
        M = np.einsum("ibk,iab,ial->kl", B, W, A)  # Σ w² y xᵀ: weighted Procrustes of Y onto X
        if group == "orth":
            U, _, Vt = np.linalg.svd(M)
            Q = U @ Vt
        else:
            Q = _perm_from_cross(M)
        D = _cross_dists(A, B @ Q)
        loss.append(float(D.mean()))
        W = 1.0 / np.maximum(np.sqrt(D), 1e-6) ** 2
        if loss[-2] - loss[-1] < (ENERGY_RTOL * loss[-1] if tol is None else tol):
            converged = True
            break
    unique = None
    if group == "orth":
        unique, determined = _alignment_determined(A, B, np.einsum("ibk,iab,ial->kl", B, W, A))
        if not determined:
            converged = False
            not_converged(
                "energy_shape: the alignment is not determined by the data — the weighted cross-covariance has "
                "lower rank than both responses (symmetric or cancelling repeat clouds), so the fitted Q is an "
                "arbitrary choice and the distance may be above the minimum; use more conditions, or "
                "group='identity' / 'perm'"
            )
    return StochasticFit(
        distance=_energy_score(A, B @ Q), metric="energy_shape", T=Q, loss=loss, converged=converged,
        params={"group": group, "max_iter": max_iter, "tol": tol}, alignment_unique=unique,
    )


def _alignment_determined(A: np.ndarray, B: np.ndarray, M: np.ndarray) -> tuple[bool, bool]:
    """(T unique, distance determined) for a Procrustes step on M = Σ w y xᵀ (module docstring)."""
    def rank(Z: np.ndarray) -> int:
        sv = np.linalg.svd(Z, compute_uv=False)
        return int(np.sum(sv > 1e-9 * sv[0])) if sv.size and sv[0] > 0 else 0

    k = rank(M)
    return k == M.shape[0], k >= min(rank(A.reshape(-1, A.shape[-1])), rank(B.reshape(-1, B.shape[-1])))


def _perm_from_cross(M: np.ndarray) -> np.ndarray:
    import scipy.optimize

    r, c = scipy.optimize.linear_sum_assignment(M, maximize=True)
    T = np.zeros_like(M)
    T[r, c] = 1.0
    return T


def stochastic_fit(
    X: ArrayLike,
    Y: ArrayLike,
    *,
    metric: Literal["gaussian_shape", "energy_shape"] = "gaussian_shape",
    alpha: float = 1.0,
    group: Literal["orth", "perm", "identity"] = "orth",
    max_iter: int | None = None,
    tol: float | None = None,
) -> StochasticFit:
    """Fit a stochastic shape distance and return it with its alignment and loss history
    (:class:`StochasticFit`). ``max_iter``/``tol`` default to netrep's for the Gaussian fit (1000/1e-8);
    the energy fit stops on a relative loss change of 1e-12 unless ``tol`` (netrep: 1e-6) is given.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import stochastic_fit
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(10, 20, 3))
    >>> fit = stochastic_fit(X, X[..., [2, 0, 1]], group="perm")
    >>> round(fit.distance, 4), fit.T.shape
    (0.0, (3, 3))
    """
    check_choice(metric, "metric", ("gaussian_shape", "energy_shape"))
    if metric == "gaussian_shape":
        return _fit_gaussian(X, Y, alpha, group, max_iter or 1000, 1e-8 if tol is None else tol)
    return _fit_energy(X, Y, group, max_iter or 100, tol)


@homogeneous  # exact power-of-two rescaling at extreme scales (1e-150, 1e300)
def gaussian_shape_distance(
    X: ArrayLike, Y: ArrayLike, *, alpha: float = 1.0, group: Literal["orth", "perm", "identity"] = "orth",
    max_iter: int = 1000, tol: float = 1e-8,
) -> float:
    """Gaussian (2-Wasserstein/Bures) shape distance between noisy networks X, Y shaped
    (n_conditions, n_repeats, d) or given as (means, covariances) — see the module docstring
    (Duong et al. 2023; netrep ``GaussianStochasticMetric``). A metric; 0 iff the condition-wise
    Gaussians coincide after one shared alignment in ``group``.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import gaussian_shape_distance
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(10, 20, 3))          # 10 conditions × 20 noisy repeats × 3 units
    >>> Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    >>> round(gaussian_shape_distance(X, X @ Q), 4)
    0.0
    """
    return _fit_gaussian(X, Y, alpha, group, max_iter, tol).distance


@homogeneous  # d_E² is a mean of distances: degree 1, so the common power-of-two rescaling applies to it
def _energy_sq(X: ArrayLike, Y: ArrayLike, *, group: str, max_iter: int, tol: float | None) -> float:
    return _fit_energy(X, Y, group, max_iter, tol).distance ** 2


def energy_shape_distance(
    X: ArrayLike, Y: ArrayLike, *, group: Literal["orth", "perm", "identity"] = "orth", max_iter: int = 100,
    tol: float | None = None,
) -> float:
    """Energy shape distance between noisy networks X, Y shaped (n_conditions, n_repeats, d) — module
    docstring (Duong et al. 2023; netrep ``EnergyStochasticMetric``). Distribution-free; ≈ 0 when the
    repeat distributions coincide after one shared alignment. In the data's units to the power ½:
    d_E(cX, cY) = √c·d_E(X, Y) (d_E² is a mean of distances). ``tol=None`` stops the alignment fit on a
    relative loss change of 1e-12 (scale-free); ``tol=1e-6`` reproduces netrep's absolute rule.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import energy_shape_distance
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(8, 10, 3))
    >>> Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    >>> round(energy_shape_distance(X, X @ Q), 3)
    0.0
    """
    return float(np.sqrt(_energy_sq(X, Y, group=group, max_iter=max_iter, tol=tol)))

