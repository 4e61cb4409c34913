"""Synthetic test cases for dynamical similarity (after Ostrow et al. 2023 and Guilhot et al. 2024).

Every generator is seeded and returns a :class:`SystemSet`: a list of systems (each ``(K, T, N)`` trials),
their names, group labels (for within/between-group ratios and 1-NN accuracy) and, for learning cases, a
per-system ``accuracy`` (or learning proxy) and a ``reference`` system to measure distances to.

Cases
-----
- :func:`attractors`: ring, line and point attractors and limit cycles (2-D flows, randomly embedded in N
  dimensions with a random orthonormal map, process and observation noise, parameters jittered per instance).
  Ring vs limit cycle share their geometry (a circle) but not their dynamics.
- :func:`authors_lorenz`: the Lorenz simulation of Guilhot et al.'s own code (their regimes
  :data:`AUTHORS_LORENZ_RHOS`, unit-interval scaling, their perturbation model and levels).
- :func:`lorenz_regimes`: the Lorenz system in several parameter regimes (paper Test 1): ρ = 10 (stable
  fixed points), 28 (chaotic), 150 (periodic window), each rescaled to unit variance.
- :func:`learning_proxy`: a learner whose dynamics move from a random stable linear system to a target
  limit cycle as a proxy "accuracy" α grows, observed through a *random invertible anisotropic linear map*
  per checkpoint (a spurious geometric signal unrelated to learning; paper Test 2 analogue).
- :func:`motif_sequences`: trials composed of short linear-flow motifs (rotations, decays, a saddle); systems
  using the same motif set (in random orders and durations) form a group.
- :func:`rotated_copy` / :func:`noisy_copy`: floors (the same system rotated, or re-simulated with new noise).

RNN / SSM cases (trained networks on composable tasks) are in :mod:`repscope.experiments.dynamics.models`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from repscope.errors import InputError

__all__ = [
    "SystemSet",
    "attractors",
    "lorenz_regimes",
    "learning_proxy",
    "motif_sequences",
    "rotated_copy",
    "noisy_copy",
    "random_orthogonal",
    "simulate_flow",
    "ATTRACTOR_KINDS",
]

ATTRACTOR_KINDS = ("ring", "line", "point", "limit_cycle")


@dataclass
class SystemSet:
    """A named collection of systems with group labels (and, for learning cases, accuracies)."""

    name: str
    systems: list[np.ndarray]
    names: list[str]
    groups: list[str]
    accuracy: np.ndarray | None = None
    reference: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.systems)

    def learning(self) -> tuple[np.ndarray, np.ndarray]:
        """``(accuracy, reference)`` of a learning case (e.g. :func:`learning_proxy`); an error otherwise."""
        if self.accuracy is None or self.reference is None:
            raise InputError(f"{self.name!r} is no learning case (it has no accuracies and reference system)")
        return self.accuracy, self.reference


def random_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """Haar-random orthogonal n×n matrix (either determinant)."""
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    return Q * np.sign(np.diag(R))


def _embed(Z: np.ndarray, n_dims: int, rng: np.random.Generator, obs_noise: float) -> np.ndarray:
    """Map (K, T, d) latent trajectories into n_dims with a random orthonormal frame, add obs. noise."""
    d = Z.shape[-1]
    if n_dims < d:
        raise InputError(f"n_dims={n_dims} is smaller than the latent dimension {d}")
    W = random_orthogonal(n_dims, rng)[:, :d]
    X = Z @ W.T
    scale = np.std(X) if np.std(X) > 0 else 1.0
    return X + obs_noise * scale * rng.standard_normal(X.shape)


def simulate_flow(
    f: Callable[[np.ndarray], np.ndarray],
    x0: np.ndarray,
    *,
    dt: float,
    n_steps: int,
    substeps: int = 4,
    process_noise: float = 0.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Integrate ``ẋ = f(x)`` for a batch of initial states ``x0`` (K, d) with RK4 (+ Euler–Maruyama noise).

    Returns (K, n_steps, d), sampled every ``dt`` (``substeps`` RK4 steps in between).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    x = np.array(x0, dtype=np.float64)
    h = dt / substeps
    out = np.empty((x.shape[0], n_steps, x.shape[1]))
    for t in range(n_steps):
        out[:, t] = x
        for _ in range(substeps):
            k1 = f(x)
            k2 = f(x + 0.5 * h * k1)
            k3 = f(x + 0.5 * h * k2)
            k4 = f(x + h * k3)
            x = x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
            if process_noise:
                x = x + process_noise * np.sqrt(h) * rng.standard_normal(x.shape)
    return out


def _attractor_flow(kind: str, rng: np.random.Generator) -> tuple[Callable, Callable]:
    j = lambda: rng.uniform(0.8, 1.25)  # noqa: E731 - parameter jitter per instance
    if kind == "ring":
        a = 4.0 * j()

        def f(x):
            r2 = (x**2).sum(1, keepdims=True)
            return a * x * (1 - r2)

        def x0(k):
            th = rng.uniform(0, 2 * np.pi, k)
            r = rng.uniform(0.2, 1.8, k)
            return np.c_[r * np.cos(th), r * np.sin(th)]
    elif kind == "line":
        lam = 4.0 * j()

        def f(x):
            return np.c_[np.zeros(len(x)), -lam * x[:, 1]]

        def x0(k):
            return np.c_[rng.uniform(-1.5, 1.5, k), rng.uniform(-1.5, 1.5, k)]
    elif kind == "point":
        lam = 1.5 * j()

        def f(x):
            return -lam * x

        def x0(k):
            th = rng.uniform(0, 2 * np.pi, k)
            r = rng.uniform(0.2, 1.8, k)
            return np.c_[r * np.cos(th), r * np.sin(th)]
    elif kind == "limit_cycle":
        a, w = 4.0 * j(), 2 * np.pi * j()

        def f(x):
            r2 = (x**2).sum(1, keepdims=True)
            return a * x * (1 - r2) + w * np.c_[-x[:, 1], x[:, 0]]

        def x0(k):
            th = rng.uniform(0, 2 * np.pi, k)
            r = rng.uniform(0.2, 1.8, k)
            return np.c_[r * np.cos(th), r * np.sin(th)]
    else:
        raise InputError(f"unknown attractor kind {kind!r}; use one of {ATTRACTOR_KINDS}")
    return f, x0


def attractor(
    kind: str,
    *,
    n_trials: int = 20,
    n_steps: int = 60,
    n_dims: int = 8,
    dt: float = 0.05,
    process_noise: float = 0.05,
    obs_noise: float = 0.02,
    seed: int = 0,
) -> np.ndarray:
    """One attractor system: (n_trials, n_steps, n_dims) trajectories (see :func:`attractors`)."""
    rng = np.random.default_rng(seed)
    f, x0 = _attractor_flow(kind, rng)
    Z = simulate_flow(f, x0(n_trials), dt=dt, n_steps=n_steps, process_noise=process_noise, rng=rng)
    return _embed(Z, n_dims, rng, obs_noise)


def attractors(
    kinds: tuple[str, ...] = ATTRACTOR_KINDS,
    *,
    n_per_kind: int = 4,
    n_trials: int = 20,
    n_steps: int = 60,
    n_dims: int = 8,
    process_noise: float = 0.05,
    obs_noise: float = 0.02,
    seed: int = 0,
) -> SystemSet:
    """Ring / line / point attractors and limit cycles, ``n_per_kind`` jittered instances each."""
    systems, names, groups = [], [], []
    ss = np.random.SeedSequence(seed)
    for kind, child in zip(kinds, ss.spawn(len(kinds))):
        for i, s in enumerate(child.generate_state(n_per_kind)):
            systems.append(
                attractor(
                    kind,
                    n_trials=n_trials,
                    n_steps=n_steps,
                    n_dims=n_dims,
                    process_noise=process_noise,
                    obs_noise=obs_noise,
                    seed=int(s),
                )
            )
            names.append(f"{kind}-{i}")
            groups.append(kind)
    return SystemSet(
        "attractors", systems, names, groups, meta={"process_noise": process_noise, "obs_noise": obs_noise}
    )


def lorenz(
    rho: float,
    *,
    sigma: float = 10.0,
    beta: float = 8.0 / 3.0,
    n_trials: int = 10,
    n_steps: int = 100,
    dt: float = 0.02,
    burn_in: int = 25,
    n_dims: int = 3,
    obs_noise: float = 0.02,
    seed: int = 0,
) -> np.ndarray:
    """Lorenz trajectories (n_trials, n_steps, n_dims): standardised, randomly rotated, noisy."""
    rng = np.random.default_rng(seed)

    def f(x):
        return np.c_[
            sigma * (x[:, 1] - x[:, 0]),
            x[:, 0] * (rho - x[:, 2]) - x[:, 1],
            x[:, 0] * x[:, 1] - beta * x[:, 2],
        ]

    x0 = rng.normal(0, 1, (n_trials, 3)) * np.array([8.0, 8.0, 8.0]) + np.array([0, 0, rho])
    Z = simulate_flow(f, x0, dt=dt, n_steps=n_steps + burn_in, substeps=8, rng=rng)[:, burn_in:]
    Z = (Z - Z.mean((0, 1))) / Z.std()
    return _embed(Z, n_dims, rng, obs_noise)


# Guilhot et al. (2024), authors' configuration (github.com/qglht/RepAL 988df86, config.yaml "simulations"):
# three Lorenz regimes of three ρ each (σ = 10, β = 2.667), 200 trajectories × 200 Euler steps of dt = 0.01,
# and the perturbation levels of their learning simulation (epochs 1–3).
AUTHORS_LORENZ_RHOS = ((0.25, 0.5, 0.75), (5.0, 10.0, 15.0), (30.0, 40.0, 50.0))
AUTHORS_PERTURBATIONS = (0.004, 0.002, 0.001)


def authors_lorenz(
    rho: float,
    *,
    sigma: float = 10.0,
    beta: float = 2.667,
    n_samples: int = 200,
    n_steps: int = 200,
    dt: float = 0.01,
    perturbation: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Lorenz trajectories (n_samples, n_steps, 3) as the authors of Guilhot et al. (2024) simulate them.

    As in their ``dsa_analysis/lorenz_class.py`` (``Simulation.simulation_lorenz`` and ``perturbation``):
    initial points uniform in [0, 1)³, forward-Euler steps ``x ← x + f(x)·dt``, each trajectory min–max
    scaled into the unit interval (``normalize_within_unit_volume``: one min and max over its three
    coordinates), then the perturbation ``x ← √(1 − p²)·x + p·ε`` with ε ~ N(0, 1) per value (p = 0: none).
    """
    if not 0.0 <= perturbation < 1.0:
        raise InputError(f"perturbation={perturbation} must lie in [0, 1) (x ← √(1 − p²)·x + p·ε)")
    if int(n_samples) < 1 or int(n_steps) < 2 or not dt > 0:
        raise InputError(f"n_samples={n_samples}, n_steps={n_steps}, dt={dt}: need ≥ 1 trajectory, ≥ 2 steps "
                         f"and a positive time step")
    rng = np.random.default_rng(seed)
    x = rng.random((n_samples, 3))
    out = np.empty((n_samples, n_steps, 3))
    out[:, 0] = x
    for t in range(n_steps - 1):
        dx = np.c_[sigma * (x[:, 1] - x[:, 0]), rho * x[:, 0] - x[:, 1] - x[:, 0] * x[:, 2],
                   x[:, 0] * x[:, 1] - beta * x[:, 2]]
        x = x + dx * dt
        out[:, t + 1] = x
    lo = out.min(axis=(1, 2), keepdims=True)
    hi = out.max(axis=(1, 2), keepdims=True)
    out = (out - lo) / (hi - lo + 1e-6)
    if perturbation:
        out = np.sqrt(1.0 - perturbation**2) * out + perturbation * rng.standard_normal(out.shape)
    return out


def lorenz_regimes(
    rhos: tuple[float, ...] = (10.0, 28.0, 150.0),
    *,
    n_per_regime: int = 4,
    n_trials: int = 10,
    n_steps: int = 100,
    n_dims: int = 3,
    obs_noise: float = 0.02,
    seed: int = 0,
) -> SystemSet:
    """Lorenz systems in several ρ regimes (ρ jittered ±2 % per instance)."""
    systems, names, groups = [], [], []
    ss = np.random.SeedSequence(seed)
    for rho, child in zip(rhos, ss.spawn(len(rhos))):
        for i, s in enumerate(child.generate_state(n_per_regime)):
            r = np.random.default_rng(int(s))
            systems.append(
                lorenz(
                    rho * r.uniform(0.98, 1.02),
                    n_trials=n_trials,
                    n_steps=n_steps,
                    n_dims=n_dims,
                    obs_noise=obs_noise,
                    seed=int(s),
                )
            )
            names.append(f"rho{rho:g}-{i}")
            groups.append(f"rho={rho:g}")
    return SystemSet("lorenz", systems, names, groups)


def _linear_traj(A: np.ndarray, X0: np.ndarray, n_steps: int, noise: float, rng) -> np.ndarray:
    K, d = X0.shape
    out = np.empty((K, n_steps, d))
    x = X0
    for t in range(n_steps):
        out[:, t] = x
        x = x @ A.T + noise * rng.standard_normal(x.shape)
    return out


def _rot(theta: float, decay: float = 1.0) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return decay * np.array([[c, -s], [s, c]])


def learning_proxy(
    n_checkpoints: int = 10,
    *,
    n_trials: int = 15,
    n_steps: int = 50,
    n_dims: int = 6,
    noise: float = 0.05,
    spurious: float = 1.0,
    seed: int = 0,
) -> SystemSet:
    """Learner dynamics tracking a learning proxy α ∈ [0, 1] toward a target (paper Test 2 analogue).

    Latent 4-D linear dynamics ``A(α) = α·A_target + (1−α)·A_start`` (A_target: a slow rotation plus a
    decaying mode; A_start: a random stable matrix). Each checkpoint's states are observed through a random
    invertible linear map ``L_k = U diag(exp(spurious·z)) Vᵀ`` — a spurious change of geometry unrelated to
    learning (DSA is invariant to it; geometry measures are not). ``accuracy`` = α; ``reference`` = the
    target system observed through the identity.
    """
    rng = np.random.default_rng(seed)
    d = 4
    A_t = np.zeros((d, d))
    A_t[:2, :2] = _rot(2 * np.pi / 12, 0.99)
    A_t[2:, 2:] = np.array([[0.8, 0.0], [0.0, 0.5]])
    M = rng.standard_normal((d, d))
    A_s = 0.6 * M / np.max(np.abs(np.linalg.eigvals(M)))
    alphas = np.linspace(0.0, 1.0, n_checkpoints)
    W = random_orthogonal(n_dims, rng)[:, :d]

    def observe(A: np.ndarray, L: np.ndarray, r) -> np.ndarray:
        Z = _linear_traj(A, r.standard_normal((n_trials, d)), n_steps, noise, r)
        X = (Z @ L.T) @ W.T
        return X + 0.01 * r.standard_normal(X.shape)

    systems, names = [], []
    for k, a in enumerate(alphas):
        L = (
            random_orthogonal(d, rng)
            @ np.diag(np.exp(spurious * rng.standard_normal(d)))
            @ random_orthogonal(d, rng)
        )
        systems.append(observe(a * A_t + (1 - a) * A_s, L, np.random.default_rng(seed * 1000 + k + 1)))
        names.append(f"ckpt{k}")
    ref = observe(A_t, np.eye(d), np.random.default_rng(seed * 1000 + 999))
    return SystemSet(
        "learning_proxy", systems, names, ["learner"] * len(systems), accuracy=alphas, reference=ref
    )


_MOTIFS = {
    "rot_slow": _rot(2 * np.pi / 16, 0.995),
    "rot_fast": _rot(2 * np.pi / 5, 0.995),
    "decay": np.diag([0.85, 0.6]),
    "saddle": np.array([[1.04, 0.0], [0.0, 0.7]]),
}


def motif_sequences(
    motif_sets: tuple[tuple[str, ...], ...] = (
        ("rot_slow", "decay"),
        ("rot_fast", "decay"),
        ("rot_slow", "rot_fast"),
    ),
    *,
    n_per_set: int = 4,
    n_trials: int = 16,
    segment: tuple[int, int] = (12, 20),
    n_segments: int = 3,
    n_dims: int = 6,
    noise: float = 0.03,
    seed: int = 0,
) -> SystemSet:
    """Trials composed of motif segments (2-D linear flows) drawn from a motif set, in random order/duration.

    Motifs: ``rot_slow``, ``rot_fast`` (rotations), ``decay`` (node), ``saddle``. Systems built from the same
    motif set are one group; the state carries over between segments within a trial.
    """
    for ms in motif_sets:
        for m in ms:
            if m not in _MOTIFS:
                raise InputError(f"unknown motif {m!r}; use some of {sorted(_MOTIFS)}")
    systems, names, groups = [], [], []
    ss = np.random.SeedSequence(seed)
    for ms, child in zip(motif_sets, ss.spawn(len(motif_sets))):
        label = "+".join(ms)
        for i, s in enumerate(child.generate_state(n_per_set)):
            rng = np.random.default_rng(int(s))
            T_total = n_segments * segment[1]
            trials = np.empty((n_trials, T_total, 2))
            for k in range(n_trials):
                x = rng.standard_normal(2)
                t = 0
                order = [ms[j % len(ms)] for j in rng.permutation(n_segments)]
                while t < T_total:
                    for m in order:
                        L = int(rng.integers(segment[0], segment[1] + 1))
                        for _ in range(L):
                            if t >= T_total:
                                break
                            trials[k, t] = x
                            x = _MOTIFS[m] @ x + noise * rng.standard_normal(2)
                            if np.linalg.norm(x) > 3:
                                x = x / np.linalg.norm(x)
                            t += 1
            systems.append(_embed(trials, n_dims, rng, 0.01))
            names.append(f"{label}-{i}")
            groups.append(label)
    return SystemSet("motifs", systems, names, groups)


def rotated_copy(X: np.ndarray, seed: int = 0) -> np.ndarray:
    """The same trajectories observed through a Haar-random orthogonal map (either determinant)."""
    X = np.asarray(X, dtype=np.float64)
    Q = random_orthogonal(X.shape[-1], np.random.default_rng(seed))
    return X @ Q


def noisy_copy(X: np.ndarray, noise: float, seed: int = 0) -> np.ndarray:
    """The same trajectories with fresh i.i.d. observation noise of relative size ``noise``."""
    X = np.asarray(X, dtype=np.float64)
    rng = np.random.default_rng(seed)
    return X + noise * X.std() * rng.standard_normal(X.shape)
