"""InputDSA: DMD with control, separating intrinsic dynamics from input coupling (Huang, Ostrow et al. 2025).

Model (linear time-invariant with inputs, on delay-embedded states ``h_t``)::

    h_{t+1} = A h_t + B u_t                                                         (DMDc)

**DMDc** (Proctor, Brunton & Kutz 2016, "Dynamic mode decomposition with control", SIAM J. Appl. Dyn.
Syst. 15:142; the DMDc of the reference package ``dsa-metric`` ≥ 2.0, class ``DMDc``):

1. delay-embed every trial of the states (``n_delays`` copies ``delay_interval`` apart, current state
   first, as in :func:`repscope.dynamics.delay_embed`); the inputs are aligned to the *current* time of each
   embedding row (optionally delay-embedded too, ``n_input_delays``);
2. thin SVD of the stacked embedding ``H = V S Uᵀ``; the state coordinates are the orthonormal projection
   ``z_t = U_rᵀ h_t`` onto the top ``r`` principal directions — *not whitened*, so that ``Ã = U_rᵀ A U_r`` is
   orthogonally similar to the true operator whenever ``U_r`` spans the states, which makes the intrinsic
   comparison independent of how strongly the inputs drive the system (the reference's ``A_tilde`` uses the
   same unwhitened projection);
3. pair consecutive rows *within* each trial and solve the ridge regression
   ``[Ã B̃] = argmin ‖Z⁺ − Ã Z⁻ − B̃ U⁻‖² + λ‖[Ã B̃]‖²``; in embedding coordinates
   ``A = U_r Ã U_rᵀ``, ``B = U_r B̃`` (reference: ``A_havok_dmd``/``B_havok_dmd``).

**Subspace DMDc** (N4SID, van Overschee & De Moor 1994, "N4SID: subspace algorithms for the identification
of combined deterministic–stochastic systems", Automatica 30:75; the reference's ``SubspaceDMDc``), for
partially observed systems ``x_{t+1} = A x_t + B u_t``, ``y_t = C x_t``: block-Hankel matrices of past
(``p = n_delays`` steps) and future (``f = p``) inputs and outputs, built within trials; the oblique
projection ``O = Y_f /_{U_f} [U_p; Y_p] = L_p Z_p`` with ``[L_u L_p] = Y_f [U_f; Z_p]⁺`` (≈ ``Γ_f X_f``);
SVD ``O = U S Vᵀ`` truncated at the state order ``n``; states ``X̂ = S^{1/2} Vᵀ``, ``Γ = U S^{1/2}``,
``C = Γ[:N]``; then ``A, B`` by ridge regression of ``x̂_{j+1}`` on ``(x̂_j, u_{j+p})`` within trials.
``A, B, C`` are determined up to an invertible change of basis; the Markov parameters ``C A^k B`` are not.

**Distances** between two fitted systems (Huang, Ostrow et al. 2025, "InputDSA"), all after scaling each
matrix to unit Frobenius norm:

- ``state`` (intrinsic dynamics): the DSA distance between ``Ã₁`` and ``Ã₂`` up to an orthogonal
  similarity, ``arccos max_{C∈O(r)} tr(Â₁ᵀ C Â₂ Cᵀ)`` (:func:`similarity_transform_distance`, certified multi-start);
- ``input`` (input coupling): ``arccos max_{C∈O(r)} tr(B̂₁ᵀ C B̂₂)`` — orthogonal Procrustes, closed form
  ``max = Σ σ_i(B̂₁ B̂₂ᵀ)`` (Schönemann 1966);
- ``joint``: the same Procrustes distance between the controllability matrices
  ``K = [B, AB, …, A^{r−1}B]`` (the reference builds ``[B, AB, AᵀB, A²B, (Aᵀ)²B, …]`` instead).

With a single input channel ``B`` is one vector and any vector can be rotated onto any other, so the
``input`` distance is 0 by construction; the ``joint`` distance (which ties ``B`` to ``A``) is then the
informative one (the same holds for the reference's ``compare="control"``).

- ``spectral``: the 2-Wasserstein distance between the eigenvalue sets of ``A₁`` and ``A₂``
  (:func:`eig_wasserstein`) — invariant to *any* change of basis, hence the one to read for subspace fits,
  whose state bases are fixed only up to an invertible transform.

Each fit also carries ResDMD residuals of the eigenpairs of ``A`` (:mod:`repscope.dynamics.dmd`), computed
on the autonomous part ``z_{t+1} − B u_t`` as the reference's ``resdmd`` does for DMDc.

``score="euclidean"`` gives the chordal versions ``‖X̂ − C Ŷ …‖_F = sqrt(2 − 2 cos)``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.dynamics.config import DSAConfig
from repscope.dynamics.dmd import center_trials, resdmd_residuals, select_rank
from repscope.dynamics.embedding import _check_int, _embed_one, as_trials
from repscope.errors import InputError
from repscope.results import ResultBase, to_jsonable
from repscope.validation import renamed_parameter

__all__ = [
    "DMDcResult",
    "InputDSAMatrix",
    "InputDSAResult",
    "fit_dmdc",
    "fit_subspace_dmdc",
    "input_dsa",
    "input_dsa_matrix",
    "procrustes_angle",
]

_SCORES = ("angular", "euclidean")


def _paired(data: Any, inputs: ArrayLike | None, name: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Validate states and inputs: same number of trials, same length per trial."""
    trials = as_trials(data, name)
    if inputs is None:
        raise InputError(f"no inputs given for {name}; InputDSA needs the input u_t that drives each trial")
    us = as_trials(inputs, f"{name} inputs")
    if len(us) != len(trials):
        raise InputError(
            f"{name} has {len(trials)} trial(s) but its inputs have {len(us)}; give one input trajectory per trial"
        )
    for k, (x, u) in enumerate(zip(trials, us)):
        if x.shape[0] != u.shape[0]:
            raise InputError(
                f"{name} trial {k} has {x.shape[0]} time steps but its input has {u.shape[0]}; states and "
                f"inputs must be sampled at the same times"
            )
    return trials, us


@dataclass
class DMDcResult(ResultBase):
    """A fitted linear model with inputs ``z_{t+1} = A_ z_t + B_ u_t`` (fitted attributes end in ``_``).

    ``method`` is "dmdc" (``z`` = projection of the delay embedding on ``basis_``) or "subspace" (``z`` = the
    N4SID state, observed through ``C_``). ``B_`` has one column per (delayed) input dimension.
    """

    A_: np.ndarray
    B_: np.ndarray
    eigenvalues_: np.ndarray
    singular_values_: np.ndarray
    rank_: int
    method: str
    n_delays: int
    delay_interval: int
    n_input_delays: int
    ridge: float
    n_trials_: int
    n_transitions_: int
    residual_: float
    basis_: np.ndarray | None = None  # dmdc: (N·d, r) orthonormal U_r
    C_: np.ndarray | None = None  # subspace: (N, n) observation matrix
    mean_: np.ndarray | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    eig_residuals_: np.ndarray | None = None  # ResDMD residual per eigenvalue of A, after removing B u (in-sample)

    @property
    def title(self) -> str:
        return "DMD with control" + (" (subspace)" if self.method == "subspace" else "")

    @property
    def A_embedded_(self) -> np.ndarray:
        """DMDc: the state operator in delay-embedding coordinates ``U_r Ã U_rᵀ``."""
        if self.basis_ is None:
            raise InputError("A_embedded_ exists for method='dmdc' only; subspace models are defined up to basis")
        return self.basis_ @ self.A_ @ self.basis_.T

    @property
    def B_embedded_(self) -> np.ndarray:
        """DMDc: the input operator in delay-embedding coordinates ``U_r B̃``."""
        if self.basis_ is None:
            raise InputError("B_embedded_ exists for method='dmdc' only; subspace models are defined up to basis")
        return self.basis_ @ self.B_

    def residuals(self, data: Any = None, inputs: ArrayLike | None = None, threshold: float = 0.1) -> Any:
        """ResDMD residuals of A's eigenpairs (autonomous part ``z⁺ − B u``) on held-out ``data``/``inputs``
        (DMDc only), or the in-sample values with ``data=None``; a :class:`~repscope.dynamics.ResDMDResult`."""
        from repscope.dynamics.dmd import ResDMDResult

        if data is None:
            res = self.eig_residuals_ if self.eig_residuals_ is not None else np.full(self.rank_, np.nan)
            return ResDMDResult(self.eigenvalues_, res, float(threshold), held_out=False)
        Hm, Hp, Um = _held_out_rows(self, data, inputs, "held-out data")
        Zm, Zp = Hm @ self.basis_, Hp @ self.basis_ - Um @ self.B_.T
        return ResDMDResult(self.eigenvalues_, resdmd_residuals(self.A_, Zm, Zp, self.eigenvalues_),
                            float(threshold), held_out=True)

    def markov_parameters(self, k: int = 5) -> np.ndarray:
        """``(k, N_out, m)``: impulse responses ``O A^j B`` for j < k (basis-independent), with ``O`` = ``C_``
        (subspace) or ``basis_`` (DMDc, in embedding coordinates)."""
        O = self.C_ if self.C_ is not None else self.basis_
        out, M = [], self.B_
        for _ in range(int(k)):
            out.append(O @ M)
            M = self.A_ @ M
        return np.stack(out)

    def to_dict(self) -> dict:
        return to_jsonable(
            {
                "method": self.method,
                "rank": self.rank_,
                "n_delays": self.n_delays,
                "delay_interval": self.delay_interval,
                "n_input_delays": self.n_input_delays,
                "ridge": self.ridge,
                "n_trials": self.n_trials_,
                "n_transitions": self.n_transitions_,
                "residual": self.residual_,
                "eigenvalues_real": self.eigenvalues_.real,
                "eigenvalues_imag": self.eigenvalues_.imag,
                "eig_residuals": self.eig_residuals_,
                "input_gain": np.linalg.norm(self.B_, axis=0),
                "A": self.A_,
                "B": self.B_,
            }
        )

    def summary(self) -> str:
        rho = float(np.max(np.abs(self.eigenvalues_)))
        return (
            f"{self.title}: rank {self.rank_}, {self.B_.shape[1]} input channel(s), {self.n_trials_} trial(s), "
            f"{self.n_transitions_} transitions; spectral radius {rho:.3f}, ‖B‖_F {np.linalg.norm(self.B_):.3g}, "
            f"relative one-step residual {self.residual_:.3g}."
        )

    def table(self) -> tuple[list[str], list[list[Any]]]:
        res = self.eig_residuals_ if self.eig_residuals_ is not None else np.full(len(self.eigenvalues_), np.nan)
        rows = [[i, f"{e.real:.4f}", f"{e.imag:.4f}", f"{abs(e):.4f}", f"{r:.3g}"]
                for i, (e, r) in enumerate(zip(self.eigenvalues_, res))]
        return ["#", "Re λ", "Im λ", "|λ|", "ResDMD residual"], rows

    def plot(self, ax: Any = None):
        from repscope.dynamics.dmd import unit_circle_axes

        fig, ax = unit_circle_axes(ax, (4, 4))
        ax.scatter(self.eigenvalues_.real, self.eigenvalues_.imag, s=18)
        ax.set_aspect("equal")
        ax.set_xlabel("Re λ")
        ax.set_ylabel("Im λ")
        ax.set_title(f"{self.title}: eigenvalues of A (rank {self.rank_})", fontsize=9)
        return fig

    def plotly(self):
        from repscope.dynamics.dmd import unit_circle_plotly

        fig = unit_circle_plotly()
        fig.add_scatter(x=self.eigenvalues_.real, y=self.eigenvalues_.imag, mode="markers", name="λ(A)")
        fig.update_layout(title=html.escape(self.title), xaxis_title="Re λ", yaxis_title="Im λ",
                          yaxis={"scaleanchor": "x"})
        return fig


def _ridge(Z: np.ndarray, Y: np.ndarray, ridge: float) -> np.ndarray:
    """``W = argmin ‖Y − W Z‖² + λ‖W‖²`` for column data ``Z`` (p×n), ``Y`` (q×n)."""
    G = Z @ Z.T + ridge * np.eye(Z.shape[0])
    return np.linalg.solve(G, Z @ Y.T).T


def _check_common(ridge: float, n_delays: Any, delay_interval: Any, n_input_delays: Any) -> tuple[int, int, int]:
    if ridge is None or not np.isfinite(ridge) or ridge < 0:
        raise InputError(f"ridge={ridge!r} must be a finite number ≥ 0")
    return (
        _check_int(n_delays, "n_delays", 1),
        _check_int(delay_interval, "delay_interval", 1),
        _check_int(n_input_delays, "n_input_delays", 1),
    )


def _dmdc_rows(trials: list[np.ndarray], us: list[np.ndarray], n_delays: int, delay_interval: int,
               n_input_delays: int, name: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per trial: state embedding rows and the input (embedding) rows at the same current times."""
    span_x = (n_delays - 1) * delay_interval
    span_u = (n_input_delays - 1) * delay_interval
    s0 = max(span_x, span_u)
    Hs, Us = [], []
    for k, (x, u) in enumerate(zip(trials, us)):
        if x.shape[0] - s0 < 2:
            raise InputError(
                f"{name} trial {k} has T={x.shape[0]} steps, too short for the delays (span {s0}); DMDc needs ≥ 2 "
                f"embedded steps per trial — use fewer delays or longer trials"
            )
        Hs.append(_embed_one(x, n_delays, delay_interval)[s0 - span_x :])
        Us.append(_embed_one(u, n_input_delays, delay_interval)[s0 - span_u :])
    return Hs, Us


def dmdc_predict(fit: DMDcResult, data: ArrayLike | list, inputs: ArrayLike | list,
                 name: str = "test data") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-step predictions of a DMDc fit on held-out trials: ``(predicted x_{t+1}, observed x_{t+1}, x_t)``,
    rows stacked over trials (``ĥ_{t+1} = U_r (Ã U_rᵀ h_t + B̃ u_t)``, current-state block)."""
    H, Hn, Uc = _held_out_rows(fit, data, inputs, name)
    Ur = _dmdc_basis(fit)
    N = Ur.shape[0] // fit.n_delays
    pred = ((H @ Ur) @ fit.A_.T + Uc @ fit.B_.T) @ Ur.T
    return pred[:, :N], Hn[:, :N], H[:, :N]


def _dmdc_basis(fit: DMDcResult) -> np.ndarray:
    """``U_r`` of a DMDc fit; an error for a subspace fit (no basis: its states are latent)."""
    if fit.method != "dmdc" or fit.basis_ is None:
        raise InputError("held-out rows need observed states: use method='dmdc' (subspace states are latent)")
    return fit.basis_


def _held_out_rows(fit: DMDcResult, data: Any, inputs: ArrayLike | None, name: str) -> tuple[np.ndarray, ...]:
    """Embedding rows h_t, h_{t+1} and inputs u_t of held-out trials, aligned as in :func:`fit_dmdc`."""
    Ur = _dmdc_basis(fit)
    trials, us = _paired(data, inputs, name)
    N = Ur.shape[0] // fit.n_delays
    if trials[0].shape[1] != N:
        raise InputError(f"{name} has {trials[0].shape[1]} dimensions but the model was fitted on {N}")
    if fit.mean_ is not None:
        trials = [t - fit.mean_ for t in trials]
    Hs, Us = _dmdc_rows(trials, us, fit.n_delays, fit.delay_interval, fit.n_input_delays, name)
    return (np.concatenate([h[:-1] for h in Hs]), np.concatenate([h[1:] for h in Hs]),
            np.concatenate([u[:-1] for u in Us]))


def fit_dmdc(
    data: ArrayLike | list,
    inputs: ArrayLike | list,
    n_delays: int = 1,
    delay_interval: int = 1,
    *,
    rank: int | None = None,
    rank_thresh: float | None = None,
    rank_explained_variance: float | None = None,
    n_input_delays: int = 1,
    ridge: float = 1e-8,
    center: bool = False,
    name: str = "X",
) -> DMDcResult:
    """Fit DMD with control ``h_{t+1} = A h_t + B u_t`` on delay-embedded states (module docstring).

    ``data``: states ``(T, N)``, ``(K, T, N)`` or a list of trials; ``inputs``: the same structure with
    ``M`` input dimensions and the same number of time steps per trial. ``rank`` (or ``rank_thresh`` /
    ``rank_explained_variance``) sets the state dimension r (default: full numerical rank). ``ridge`` is λ
    of the joint ridge regression for ``[Ã B̃]``. Returns a :class:`DMDcResult` (method "dmdc").
    """
    trials, us = _paired(data, inputs, name)
    n_delays, delay_interval, n_input_delays = _check_common(ridge, n_delays, delay_interval, n_input_delays)
    trials, mean = center_trials(trials, center)
    Hs, Us = _dmdc_rows(trials, us, n_delays, delay_interval, n_input_delays, name)
    H = np.concatenate(Hs)
    if not np.any(H):
        raise InputError(f"{name} is identically zero; DMDc is undefined for a constant-zero trajectory")
    _, s, Uh = np.linalg.svd(H, full_matrices=False)
    r = select_rank(s, rank, rank_thresh, rank_explained_variance)
    Ur = Uh[:r].T
    lengths = [h.shape[0] for h in Hs]
    starts = np.cumsum([0, *lengths[:-1]])
    im = np.concatenate([st + np.arange(L - 1) for st, L in zip(starts, lengths)])
    Z = H @ Ur
    Uall = np.concatenate(Us)
    Zm, Zp, Um = Z[im].T, Z[im + 1].T, Uall[im].T
    n_par = r + Um.shape[0]
    if n_par > len(im):
        raise InputError(
            f"DMDc has {n_par} unknowns per state dimension but only {len(im)} transitions; lower the rank or "
            f"pass more/longer trials"
        )
    AB = _ridge(np.vstack([Zm, Um]), Zp, ridge)
    A, B = AB[:, :r], AB[:, r:]
    resid = np.linalg.norm(Zp - A @ Zm - B @ Um) / max(float(np.linalg.norm(Zp)), 1e-300)
    eig = np.linalg.eigvals(A)
    return DMDcResult(
        A_=A, B_=B, eigenvalues_=eig, singular_values_=s, rank_=int(r), method="dmdc",
        n_delays=n_delays, delay_interval=delay_interval, n_input_delays=n_input_delays, ridge=float(ridge),
        n_trials_=len(trials), n_transitions_=int(len(im)), residual_=float(resid), basis_=Ur, mean_=mean,
        eig_residuals_=resdmd_residuals(A, Zm.T, (Zp - B @ Um).T, eig),
    )


def _block_hankel(x: np.ndarray, start: int, L: int, J: int) -> np.ndarray:
    """``(L·dim, J)``: column j stacks x[start+j], …, x[start+j+L−1]."""
    return np.concatenate([x[start + i : start + i + J].T for i in range(L)], axis=0)


def fit_subspace_dmdc(
    data: ArrayLike | list,
    inputs: ArrayLike | list,
    n_delays: int = 2,
    *,
    rank: int | None = None,
    rank_thresh: float | None = None,
    rank_explained_variance: float | None = None,
    ridge: float = 1e-8,
    center: bool = False,
    name: str = "X",
) -> DMDcResult:
    """Subspace DMDc (N4SID oblique projection; module docstring) for partially observed systems.

    ``n_delays`` = past and future horizon p = f (must exceed the state order / observed dimensions);
    ``rank`` = state order n (default: the smallest order explaining 99.9 % of the projection's energy, the
    reference's default). Returns a :class:`DMDcResult` (method "subspace") with ``C_`` (N×n).
    """
    trials, us = _paired(data, inputs, name)
    p, _, _ = _check_common(ridge, n_delays, 1, 1)
    trials, mean = center_trials(trials, center)
    Up, Yp, Uf, Yf, Js = [], [], [], [], []
    for k, (y, u) in enumerate(zip(trials, us)):
        J = y.shape[0] - 2 * p + 1
        if J < 2:
            raise InputError(
                f"{name} trial {k} has T={y.shape[0]} steps; subspace DMDc with n_delays={p} needs T ≥ {2 * p + 1} "
                f"(past + future windows) — use fewer delays or longer trials"
            )
        Up.append(_block_hankel(u, 0, p, J))
        Yp.append(_block_hankel(y, 0, p, J))
        Uf.append(_block_hankel(u, p, p, J))
        Yf.append(_block_hankel(y, p, p, J))
        Js.append(J)
    Up, Yp, Uf, Yf = (np.concatenate(v, axis=1) for v in (Up, Yp, Uf, Yf))
    if not np.any(Yf):
        raise InputError(f"{name} is identically zero; subspace DMDc is undefined for it")
    Zp = np.vstack([Up, Yp])
    W = np.vstack([Uf, Zp])
    if W.shape[0] > W.shape[1]:
        raise InputError(
            f"subspace DMDc with n_delays={p} has {W.shape[0]} regressors but only {W.shape[1]} windows; use fewer "
            f"delays or more/longer trials"
        )
    L = _ridge(W, Yf, ridge)
    O = L[:, Uf.shape[0] :] @ Zp  # oblique projection Y_f /_{U_f} Z_p
    Uo, s, Vt = np.linalg.svd(O, full_matrices=False)
    if rank is None and rank_thresh is None and rank_explained_variance is None:
        rank_explained_variance = 0.999
    n = select_rank(s, rank, rank_thresh, rank_explained_variance)
    sh = np.sqrt(s[:n])
    Xh = sh[:, None] * Vt[:n]  # (n, ΣJ)
    Cmat = (Uo[:, :n] * sh)[: trials[0].shape[1]]
    starts = np.cumsum([0, *Js[:-1]])
    cur = np.concatenate([st + np.arange(J - 1) for st, J in zip(starts, Js)])
    Umid = np.concatenate([u[p : p + J - 1] for u, J in zip(us, Js)]).T
    Xm, Xn = Xh[:, cur], Xh[:, cur + 1]
    AB = _ridge(np.vstack([Xm, Umid]), Xn, ridge)
    A, B = AB[:, :n], AB[:, n:]
    resid = np.linalg.norm(Xn - A @ Xm - B @ Umid) / max(float(np.linalg.norm(Xn)), 1e-300)
    eig = np.linalg.eigvals(A)
    return DMDcResult(
        A_=A, B_=B, eigenvalues_=eig, singular_values_=s, rank_=int(n), method="subspace",
        n_delays=p, delay_interval=1, n_input_delays=1, ridge=float(ridge), n_trials_=len(trials),
        n_transitions_=int(len(cur)), residual_=float(resid), C_=Cmat, mean_=mean,
        eig_residuals_=resdmd_residuals(A, Xm.T, (Xn - B @ Umid).T, eig),
    )


def procrustes_angle(X: ArrayLike, Y: ArrayLike, score: str = "angular") -> float:
    """Distance between ``X`` and ``Y`` (same shape) up to a left orthogonal transform, after unit-norm scaling.

    ``cos = max_{C∈O(n)} tr(X̂ᵀ C Ŷ) = Σ σ_i(X̂ Ŷᵀ)`` (orthogonal Procrustes, Schönemann 1966); returns
    ``arccos(cos)`` (angular, 0…π/2 for non-negative cos) or ``sqrt(2 − 2 cos)`` (euclidean).
    """
    if score not in _SCORES:
        raise InputError(f"score={score!r} is unknown; use one of {_SCORES}")
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.shape != Y.shape:
        raise InputError(f"cannot compare matrices of shapes {X.shape} and {Y.shape}; fit both with the same rank")
    nx, ny = np.linalg.norm(X), np.linalg.norm(Y)
    if nx == 0 or ny == 0:
        raise InputError("an input operator is zero (the input does not drive the states); the angle is undefined")
    cos = float(np.clip(np.linalg.svd((X / nx) @ (Y / ny).T, compute_uv=False).sum(), -1.0, 1.0))
    return float(np.arccos(cos)) if score == "angular" else float(np.sqrt(max(2.0 - 2.0 * cos, 0.0)))


def controllability_matrix(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``[B, AB, …, A^{r−1}B]`` (Kalman), ``(r, r·m)``."""
    blocks, M = [], B
    for _ in range(A.shape[0]):
        blocks.append(M)
        M = A @ M
    return np.hstack(blocks)


@dataclass
class InputDSAResult(ResultBase):
    """InputDSA between two systems: intrinsic (``state``), input-coupling (``input``) and ``joint`` distances."""

    state: float
    input: float
    joint: float
    score: str
    fit_x: DMDcResult
    fit_y: DMDcResult
    info: Any = None  # SimilarityInfo for the state distance
    spectral: float = float("nan")  # W2 between the eigenvalues of A_x and A_y

    title = "InputDSA — intrinsic vs input-driven dynamics"

    def to_dict(self) -> dict:
        d = {
            "state": self.state,
            "input": self.input,
            "joint": self.joint,
            "spectral": self.spectral,
            "score": self.score,
            "fit_x": self.fit_x.to_dict(),
            "fit_y": self.fit_y.to_dict(),
        }
        if self.info is not None:
            d["certificate"] = self.info.to_dict()
        return to_jsonable(d)

    def summary(self) -> str:
        unit = " rad" if self.score == "angular" else ""
        return (
            f"InputDSA ({self.score}, {self.fit_x.method}, rank {self.fit_x.rank_}): intrinsic dynamics "
            f"{self.state:.4g}{unit}, input coupling {self.input:.4g}{unit}, joint (controllability) "
            f"{self.joint:.4g}{unit}; eigenvalue spectra (W2) {self.spectral:.4g}."
            + (" One input channel: the input-only distance is 0 by construction; read the joint distance."
               if self.fit_x.B_.shape[1] == 1 else "")
        )

    def table(self) -> tuple[list[str], list[list[Any]]]:
        return ["component", f"distance ({self.score})"], [
            ["intrinsic (A)", round(self.state, 6)],
            ["input coupling (B)", round(self.input, 6)],
            ["joint ([B, AB, …])", round(self.joint, 6)],
            ["spectra of A (W2)", round(self.spectral, 6)],
        ]

    def plot(self, ax: Any = None):
        from repscope.results import subplots

        if ax is None:
            fig, ax = subplots(figsize=(4.5, 3.2))
        else:
            fig = ax.figure
        ax.bar(["intrinsic A", "input B", "joint", "spectra"], [self.state, self.input, self.joint, self.spectral],
               color=["tab:blue", "tab:orange", "tab:green", "tab:gray"])
        ax.set_ylabel(f"distance ({self.score})")
        ax.set_title("InputDSA", fontsize=10)
        return fig

    def plotly(self):
        import plotly.graph_objects as go

        return go.Figure(
            go.Bar(x=["intrinsic A", "input B", "joint", "spectra"],
                   y=[self.state, self.input, self.joint, self.spectral]),
            layout={"title": "InputDSA", "yaxis_title": f"distance ({self.score})"},
        )


def _fit_any(system: Any, inputs: ArrayLike, cfg: DSAConfig, name: str) -> DMDcResult:
    if isinstance(system, DMDcResult):
        return system
    kw = cfg.dmdc_kwargs()
    if cfg.method == "dmdc":
        return fit_dmdc(system, inputs, name=name, **kw)
    kw = {k: v for k, v in kw.items() if k not in ("delay_interval", "n_input_delays")}  # checked to be 1
    return fit_subspace_dmdc(system, inputs, name=name, **kw)


@renamed_parameter("score", "metric")
def input_dsa(
    X: ArrayLike,
    X_inputs: ArrayLike,
    Y: ArrayLike,
    Y_inputs: ArrayLike,
    config: DSAConfig | None = None,
    **overrides: Any,
) -> InputDSAResult:
    """InputDSA between two input-driven systems (Huang, Ostrow et al. 2025; module docstring).

    ``X``/``Y``: states (as :func:`fit_dmdc`) or fitted :class:`DMDcResult`; ``X_inputs``/``Y_inputs``: their
    inputs (ignored for fitted results). Hyper-parameters: a :class:`~repscope.dynamics.DSAConfig` and/or
    keyword overrides of its fields (``n_delays=``, ``rank=``, ``metric=`` "angular"/"euclidean", ``method=``,
    ``n_input_delays=`` …; the deprecated ``score=`` means ``metric=``), as for :func:`~repscope.dynamics.dsa`.
    ``method``: "dmdc" or "subspace" (:func:`fit_subspace_dmdc`; there
    ``n_delays`` is the past/future horizon, default order rule as there). Both fits need the same rank and
    input width. ``seed``/``n_random`` drive the random starts of the state-distance optimiser (certified as in
    :func:`similarity_transform_distance`; ``info.converged`` is False, with a ConvergenceWarning, where not).
    """
    cfg = DSAConfig.resolve(config, **overrides)
    m = input_dsa_matrix([X, Y], [X_inputs, Y_inputs], cfg, names=["X", "Y"])
    return InputDSAResult(state=float(m.state.distances[0, 1]), input=float(m.input.distances[0, 1]),
                          joint=float(m.joint.distances[0, 1]), score=cfg.metric, fit_x=m.fits[0], fit_y=m.fits[1],
                          info=m.infos[0], spectral=float(m.spectral.distances[0, 1]))


def _check_compatible(fits: list[DMDcResult], names: list[str]) -> None:
    ranks = {f.rank_ for f in fits}
    if len(ranks) > 1:
        detail = ", ".join(f"{n}: {f.rank_}" for n, f in zip(names, fits))
        raise InputError(f"the fitted models have different state dimensions ({detail}); pass the same rank=… for all")
    widths = {f.B_.shape[1] for f in fits}
    if len(widths) > 1:
        detail = ", ".join(f"{n}: {f.B_.shape[1]}" for n, f in zip(names, fits))
        raise InputError(
            f"the systems have different numbers of input channels ({detail}); InputDSA compares input couplings "
            f"channel by channel, so all systems need the same inputs' dimensionality"
        )


def _input_joint(fx: DMDcResult, fy: DMDcResult, score: str) -> tuple[float, float]:
    return (
        procrustes_angle(fx.B_, fy.B_, score),
        procrustes_angle(controllability_matrix(fx.A_, fx.B_), controllability_matrix(fy.A_, fy.B_), score),
    )


@dataclass
class InputDSAMatrix(ResultBase):
    """InputDSA between all pairs of systems: one :class:`DistanceMatrixResult` per component."""

    state: Any
    input: Any
    joint: Any
    fits: list[DMDcResult]
    infos: list[Any] = field(default_factory=list)  # SimilarityInfo per pair (i < j, row-major)
    spectral: Any = None  # DistanceMatrixResult of eigenvalue W2 distances

    title = "InputDSA between systems — intrinsic, input coupling, joint"

    def _components(self) -> list[tuple[str, Any]]:
        comps = [("intrinsic (A)", self.state), ("input coupling (B)", self.input), ("joint", self.joint)]
        return comps + ([("spectra of A (W2)", self.spectral)] if self.spectral is not None else [])

    def to_dict(self) -> dict:
        return to_jsonable({"state": self.state.to_dict(), "input": self.input.to_dict(),
                            "joint": self.joint.to_dict(),
                            "spectral": None if self.spectral is None else self.spectral.to_dict(),
                            "ranks": [f.rank_ for f in self.fits]})

    def summary(self) -> str:
        parts = []
        for lab, m in self._components():
            D = m.distances
            parts.append(f"{lab}: median {np.median(D[np.triu_indices_from(D, 1)]):.4g}")
        return f"InputDSA over {len(self.fits)} systems ({self.state.metric}); " + "; ".join(parts) + "."

    def table(self) -> tuple[list[str], list[list[Any]]]:
        n = len(self.fits)
        names = self.state.names
        rows = [[names[i], names[j], *(f"{m.distances[i, j]:.4f}" for _, m in self._components())]
                for i in range(n) for j in range(i + 1, n)]
        return ["system", "system", *(lab for lab, _ in self._components())], rows

    def plot(self, ax: Any = None):
        from repscope.results import subplots

        if ax is not None:  # one axis: the intrinsic distances only
            return _heat(ax, self.state, "intrinsic (A)")
        comps = self._components()
        fig, axes = subplots(1, len(comps), figsize=(4.3 * len(comps), 4))
        for a, (lab, m) in zip(axes, comps):
            _heat(a, m, lab)
        fig.tight_layout()
        return fig

    def plotly(self):
        import plotly.graph_objects as go

        fig = go.Figure()
        for k, (lab, m) in enumerate(self._components()):
            fig.add_heatmap(z=m.distances, x=m.names_other, y=m.names, colorscale="Viridis", visible=k == 0,
                            name=lab)
        n_c = len(self._components())
        buttons = [{"label": lab, "method": "restyle", "args": [{"visible": [i == k for i in range(n_c)]}]}
                   for k, (lab, _) in enumerate(self._components())]
        fig.update_layout(title=self.title, yaxis={"autorange": "reversed"},
                          updatemenus=[{"buttons": buttons, "direction": "down", "x": 0.0, "y": 1.15,
                                        "xanchor": "left"}])
        return fig


def _heat(ax: Any, m: Any, label: str):
    im = ax.imshow(m.distances, cmap="viridis")
    ax.figure.colorbar(im, ax=ax, shrink=0.8)
    if len(m.names) <= 30:
        ax.set_xticks(range(len(m.names_other)), m.names_other, rotation=90, fontsize=7)
        ax.set_yticks(range(len(m.names)), m.names, fontsize=7)
    ax.set_title(label, fontsize=10)
    return ax.figure


@renamed_parameter("score", "metric")
def input_dsa_matrix(
    systems: list[Any],
    inputs: list[Any] | None,
    config: DSAConfig | None = None,
    *,
    names: list[str] | None = None,
    **overrides: Any,
) -> InputDSAMatrix:
    """InputDSA between all pairs of ``systems`` (states) driven by ``inputs`` (one per system; ignored for
    fitted :class:`DMDcResult` items, then pass None). Each system is fitted once; the intrinsic distances of
    all pairs are optimised in one batch. Hyper-parameters (``config``, keyword overrides) as in
    :func:`input_dsa`."""
    cfg = DSAConfig.resolve(config, **overrides).check_input_dsa()
    score = cfg.metric
    if not isinstance(systems, list | tuple) or len(systems) < 2:
        raise InputError("systems must be a list of at least two systems")
    inputs = list(inputs) if inputs is not None else [None] * len(systems)
    if len(inputs) != len(systems):
        raise InputError(f"{len(systems)} systems but {len(inputs)} input trajectories; give one per system")
    names = list(names) if names is not None else [f"s{i}" for i in range(len(systems))]
    if len(names) != len(systems):
        raise InputError(f"names has {len(names)} entries for {len(systems)} systems")
    fits = [_fit_any(x, u, cfg, nm) for x, u, nm in zip(systems, inputs, names)]
    _check_compatible(fits, names)
    from repscope.dynamics.results import DistanceMatrixResult
    from repscope.dynamics.simdist import eig_wasserstein, similarity_transform_distances

    n = len(fits)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    infos = similarity_transform_distances([(fits[i].A_, fits[j].A_) for i, j in pairs], **cfg.alignment_kwargs())
    mats = {k: np.zeros((n, n)) for k in ("state", "input", "joint", "spectral")}
    for (i, j), info in zip(pairs, infos):
        d_in, d_joint = _input_joint(fits[i], fits[j], score)
        d_sp = eig_wasserstein(fits[i].eigenvalues_, fits[j].eigenvalues_)
        for k, v in (("state", info.distance), ("input", d_in), ("joint", d_joint), ("spectral", d_sp)):
            mats[k][i, j] = mats[k][j, i] = v
    params = {**cfg.dmdc_kwargs(), **cfg.alignment_kwargs(), "score": score, "method": cfg.method}
    conv = np.ones((n, n), dtype=bool)
    for (i, j), info in zip(pairs, infos):
        conv[i, j] = conv[j, i] = info.converged
    res = {k: DistanceMatrixResult(distances=D, names=names, names_other=names,
                                   metric=f"InputDSA {k} ({'W2' if k == 'spectral' else score})", params=params,
                                   converged=conv if k == "state" else None)
           for k, D in mats.items()}
    return InputDSAMatrix(state=res["state"], input=res["input"], joint=res["joint"], fits=fits, infos=list(infos),
                          spectral=res["spectral"])
