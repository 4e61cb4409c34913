"""Tiny trainable recurrent models and composable tasks for dynamics test cases (after Guilhot et al. 2024).

Tasks (numpy, seeded) share one input layout ``[fixation, stim_a, stim_b, rule one-hot…]`` and a binary
choice read out during a final response epoch:

- ``dm`` — perceptual decision: ``stim_a = 1 + c + noise``, ``stim_b = 1 − c + noise``; choose a if c > 0;
- ``go`` — go/no-go: cue on ``stim_a`` (go → choice 0) or ``stim_b`` (no-go → choice 1);
- ``_anti`` — the opposite mapping; ``_delay`` — the stimulus is switched off for a delay epoch before the
  response (memory needed); without ``_delay`` the stimulus stays on through that epoch.

All tasks have the same length, so trajectories of different tasks and networks are paired by (trial, time).

Models (pure torch): :class:`LeakyRNN` (``h ← (1−α)h + α·tanh(W h + U u + b)``), :class:`GRUNet`
(``torch.nn.GRU``) and :class:`SelectiveSSM` — a one-layer Mamba-style selective state-space model
(input-dependent step Δ, B, C; diagonal negative A; zero-order-hold discretisation ``exp(ΔA)``; sequential
scan; SiLU gate; no convolution).

Training regimes (:func:`train_run`): ``direct`` (composite task from scratch), ``pretrain_free`` (first the
sub-tasks, then the composite, all weights trained) and ``pretrain_frozen`` (same, recurrence frozen while
learning the composite). Checkpoints store the hidden trajectories on a fixed evaluation batch of the
composite task and its accuracy. Training takes seconds on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import torch

from repscope.errors import InputError

__all__ = [
    "TASKS",
    "make_task",
    "LeakyRNN",
    "GRUNet",
    "SelectiveSSM",
    "build_model",
    "TrainedRun",
    "train_run",
    "subtasks",
]

TASKS = ("dm", "dm_anti", "dm_delay", "dm_anti_delay", "go", "go_anti", "go_delay", "go_anti_delay")
N_IN = 3 + len(TASKS)
EPOCHS = {"fix": 4, "stim": 8, "delay": 8, "resp": 6}


def subtasks(task: str) -> list[str]:
    """Sub-tasks of a composite task: the base task plus each single variant (``dm_anti_delay`` →
    ``dm``, ``dm_anti``, ``dm_delay``)."""
    _check_task(task)
    base, *mods = task.split("_")
    out = [base] + [f"{base}_{m}" for m in mods]
    return out if len(mods) > 1 else [base]


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise InputError(f"unknown task {task!r}; use one of {TASKS}")


def make_task(
    task: str, n_trials: int, *, seed: int = 0, noise: float = 0.3, epochs: dict[str, int] | None = None
) -> dict[str, np.ndarray]:
    """Generate one batch: ``inputs`` (B, T, N_IN) float32, ``target`` (B,) int64, ``resp_mask`` (T,) bool.

    ``epochs``: lengths of the ``fix``, ``stim``, ``delay`` and ``resp`` epochs (default :data:`EPOCHS`).
    """
    _check_task(task)
    rng = np.random.default_rng(seed)
    e = dict(EPOCHS, **(epochs or {}))
    T = e["fix"] + e["stim"] + e["delay"] + e["resp"]
    s0, s1 = e["fix"], e["fix"] + e["stim"]
    d1 = s1 + e["delay"]
    u = np.zeros((n_trials, T, N_IN), dtype=np.float32)
    u[:, :d1, 0] = 1.0  # fixation until the response epoch
    u[:, :, 3 + TASKS.index(task)] = 1.0
    stim_end = s1 if "delay" in task else d1
    if task.startswith("dm"):
        c = rng.choice([-0.4, -0.2, -0.1, -0.05, 0.05, 0.1, 0.2, 0.4], size=n_trials)
        u[:, s0:stim_end, 1] = (1 + c)[:, None]
        u[:, s0:stim_end, 2] = (1 - c)[:, None]
        target = (c < 0).astype(np.int64)
    else:
        go = rng.random(n_trials) < 0.5
        u[go, s0:stim_end, 1] = 1.0
        u[~go, s0:stim_end, 2] = 1.0
        target = (~go).astype(np.int64)
    u[:, s0:stim_end, 1:3] += noise * rng.standard_normal((n_trials, stim_end - s0, 2)).astype(np.float32)
    if "anti" in task:
        target = 1 - target
    mask = np.zeros(T, dtype=bool)
    mask[d1:] = True
    return {"inputs": u, "target": target, "resp_mask": mask}


class _LeakyScan(torch.autograd.Function):
    """The leaky-RNN recurrence ``h_t = (1−α)h_{t−1} + α·tanh(W h_{t−1} + drive_t)`` with a hand-written
    backward pass through time (one ``addmm`` per step each way, no autograd graph of 404 × 5 nodes).

    Measured on one CPU thread (batch 32, 404 steps, 128 units, forward + backward): 0.045 s against 0.21 s
    for the same loop under autograd; gradients equal autograd's (``torch.autograd.gradcheck`` in float64,
    tests/experiments/test_repro_dynamics.py)."""

    @staticmethod
    def forward(ctx: Any, drive: torch.Tensor, W: torch.Tensor, alpha: float) -> torch.Tensor:
        B, T, N = drive.shape
        Hs = drive.new_empty(T + 1, B, N)  # time-major: every slice below is contiguous
        Hs[0] = 0
        A = drive.new_empty(T, B, N)
        dT = drive.transpose(0, 1).contiguous()
        Wt = W.t()
        for t in range(T):
            a = torch.tanh(torch.addmm(dT[t], Hs[t], Wt), out=A[t])
            torch.add(Hs[t] * (1 - alpha), a, alpha=alpha, out=Hs[t + 1])
        ctx.save_for_backward(W, Hs, A)
        ctx.alpha = alpha
        return Hs[1:].transpose(0, 1)

    @staticmethod
    def backward(ctx: Any, gH: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        W, Hs, A = ctx.saved_tensors
        al = ctx.alpha
        T, B, N = A.shape
        D = (1 - A * A) * al  # ∂h_t/∂pre_t
        gT = gH.transpose(0, 1).contiguous()
        G = torch.empty_like(A)  # ∂loss/∂pre_t = ∂loss/∂drive_t
        g = gH.new_zeros(B, N)
        for t in range(T - 1, -1, -1):
            g = g + gT[t]
            gp = torch.mul(g, D[t], out=G[t])
            g = torch.addmm(g, gp, W, beta=1 - al)
        gW = G.reshape(T * B, N).t() @ Hs[:-1].reshape(T * B, N)
        return G.transpose(0, 1), gW, None


class _GRUScan(torch.autograd.Function):
    """A GRU (``torch.nn.GRU``'s equations and gate order r, z, n) with noise ``ξ_t`` added to the state
    after every step, with a hand-written backward pass through time. ``gi``: the input projections
    ``x W_ihᵀ + b_ih`` of every step (B, T, 3H), computed outside; ``W``, ``b``: ``weight_hh``, ``bias_hh``.

    Replaces a loop of one-step ``nn.GRU`` calls (0.23–0.33 s → 0.19–0.21 s forward + backward at batch 32,
    404 steps, 128 units, one thread — the step's matrix products dominate); equal to it to float rounding,
    gradients checked with ``torch.autograd.gradcheck``."""

    @staticmethod
    def forward(ctx: Any, gi: torch.Tensor, W: torch.Tensor, b: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        B, T, H3 = gi.shape
        N = H3 // 3
        giT, nT = gi.transpose(0, 1).contiguous(), noise.transpose(0, 1).contiguous()
        Hs = gi.new_empty(T + 1, B, N)
        Hs[0] = 0
        RZ, Nn, GHn = gi.new_empty(T, B, 2 * N), gi.new_empty(T, B, N), gi.new_empty(T, B, N)
        Wt = W.t()
        for t in range(T):
            h = Hs[t]
            gh = torch.addmm(b, h, Wt)
            rz = torch.sigmoid(torch.add(giT[t, :, : 2 * N], gh[:, : 2 * N]), out=RZ[t])
            GHn[t] = gh[:, 2 * N :]
            n = torch.tanh(torch.addcmul(giT[t, :, 2 * N :], rz[:, :N], gh[:, 2 * N :]), out=Nn[t])
            torch.add(torch.addcmul(n, rz[:, N:], h - n), nT[t], out=Hs[t + 1])
        ctx.save_for_backward(W, Hs, RZ, Nn, GHn)
        return Hs[1:].transpose(0, 1)

    @staticmethod
    def backward(ctx: Any, gH: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, None]:
        W, Hs, RZ, Nn, GHn = ctx.saved_tensors
        T, B, N = Nn.shape
        Hp = Hs[:-1]
        r, z = RZ[..., :N], RZ[..., N:].contiguous()
        f_n = (1 - z) * (1 - Nn * Nn)  # ∂h/∂(n's pre-activation)
        f_z = (Hp - Nn) * z * (1 - z)  # ∂h/∂(z's pre-activation)
        f_r = f_n * GHn * r * (1 - r)  # ∂h/∂(r's pre-activation)
        F = torch.stack([f_r, f_z, f_n], 2)  # (T, B, 3, N): ∂loss/∂gi_t = g_t · F_t
        Rm = torch.stack([torch.ones_like(f_r), torch.ones_like(f_z), r], 2)  # ∂gh_t = ∂gi_t · Rm_t
        gT = gH.transpose(0, 1).contiguous()
        Gi, Gh = gH.new_empty(T, B, 3, N), gH.new_empty(T, B, 3, N)
        g = gH.new_zeros(B, N)
        for t in range(T - 1, -1, -1):
            g = g + gT[t]
            dgi = torch.mul(F[t], g[:, None, :], out=Gi[t])
            dgh = torch.mul(dgi, Rm[t], out=Gh[t])
            g = torch.addmm(g * z[t], dgh.view(B, 3 * N), W)
        Gh2 = Gh.view(T * B, 3 * N)
        return Gi.view(T, B, 3 * N).transpose(0, 1), Gh2.t() @ Hp.reshape(T * B, N), Gh2.sum(0), None


class LeakyRNN(torch.nn.Module):
    """Leaky (continuous-time, Euler-discretised) tanh RNN with a linear readout."""

    def __init__(self, n_in: int = N_IN, hidden: int = 32, n_out: int = 2, alpha: float = 0.2, noise: float = 0.0):
        super().__init__()
        self.alpha = alpha
        self.noise = float(noise)  # σ_rec: recurrent noise σ·sqrt(2/α)·ξ added inside the tanh (Yang et al. 2019)
        self.inp = torch.nn.Linear(n_in, hidden)
        self.rec = torch.nn.Linear(hidden, hidden, bias=False)
        torch.nn.init.orthogonal_(self.rec.weight, gain=0.9)
        self.out = torch.nn.Linear(hidden, n_out)

    def recurrent_parameters(self):
        return list(self.rec.parameters())

    def forward(self, u):
        drive = self.inp(u)
        if self.noise > 0:
            drive = drive + self.noise * (2.0 / self.alpha) ** 0.5 * torch.randn_like(drive)
        H = _LeakyScan.apply(drive, self.rec.weight, self.alpha)
        return self.out(H), H


class GRUNet(torch.nn.Module):
    """Single-layer GRU with a linear readout (``noise`` > 0: σ·ξ added to the state after every step)."""

    def __init__(self, n_in: int = N_IN, hidden: int = 32, n_out: int = 2, noise: float = 0.0):
        super().__init__()
        self.gru = torch.nn.GRU(n_in, hidden, batch_first=True)
        self.out = torch.nn.Linear(hidden, n_out)
        self.noise = float(noise)

    def recurrent_parameters(self):
        return [self.gru.weight_hh_l0, self.gru.bias_hh_l0]

    def forward(self, u):
        if self.noise <= 0:
            H, _ = self.gru(u)
            return self.out(H), H
        g = self.gru
        w_ih, b_ih = cast(torch.Tensor, g.weight_ih_l0), cast(torch.Tensor, g.bias_ih_l0)
        gi = torch.nn.functional.linear(u, w_ih, b_ih)
        xi = self.noise * torch.randn(u.shape[0], u.shape[1], g.hidden_size, dtype=u.dtype, device=u.device)
        H = _GRUScan.apply(gi, g.weight_hh_l0, g.bias_hh_l0, xi)
        return self.out(H), H


class SelectiveSSM(torch.nn.Module):
    """One-layer Mamba-style selective SSM (pure torch, sequential scan).

    ``h_t = exp(Δ_t A) ⊙ h_{t−1} + (Δ_t x_t) ⊗ B_t``, ``y_t = (h_t C_t) + D x_t``, output ``y_t · SiLU(z_t)``,
    with ``x, z`` from an input projection and ``Δ_t = softplus(W_Δ x_t + b)``, ``B_t, C_t`` linear in
    ``x_t``.
    The observed hidden state is ``h_t`` flattened (d_model·d_state).
    """

    def __init__(self, n_in: int = N_IN, d_model: int = 16, d_state: int = 4, n_out: int = 2):
        super().__init__()
        self.in_proj = torch.nn.Linear(n_in, 2 * d_model)
        self.dt_proj = torch.nn.Linear(d_model, d_model)
        self.B_proj = torch.nn.Linear(d_model, d_state, bias=False)
        self.C_proj = torch.nn.Linear(d_model, d_state, bias=False)
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_model, 1)
        self.A_log = torch.nn.Parameter(torch.log(A))
        self.D = torch.nn.Parameter(torch.ones(d_model))
        self.out = torch.nn.Linear(d_model, n_out)
        torch.nn.init.constant_(self.dt_proj.bias, -2.0)

    def recurrent_parameters(self):
        return [self.A_log, *self.dt_proj.parameters(), *self.B_proj.parameters(), *self.C_proj.parameters()]

    def forward(self, u):
        F = torch.nn.functional
        xz = self.in_proj(u)
        x, z = xz.chunk(2, dim=-1)
        dt = F.softplus(self.dt_proj(x))  # (B, T, D)
        Bt, Ct = self.B_proj(x), self.C_proj(x)  # (B, T, S)
        A = -torch.exp(self.A_log)  # (D, S)
        Bsz, T, Dm = x.shape
        # everything but the scan itself is computed for all steps at once; the scan is one fused
        # ``h ← inc_t + dA_t ⊙ h`` per step over unbound views (indexing [:, t] would make autograd allocate a
        # full-size gradient per step): 0.10–0.15 s against 0.43–0.61 s forward + backward at batch 32, 404 steps
        dA = torch.exp(dt[..., None] * A)  # (B, T, D, S)
        inc = (dt * x)[..., None] * Bt[:, :, None, :]
        h = x.new_zeros(Bsz, Dm, A.shape[1])
        hs = []
        for i_t, a_t in zip(inc.unbind(1), dA.unbind(1)):
            h = torch.addcmul(i_t, a_t, h)
            hs.append(h)
        Hs = torch.stack(hs, 1)
        y = ((Hs * Ct[:, :, None, :]).sum(-1) + self.D * x) * F.silu(z)
        return self.out(y), Hs.reshape(Bsz, T, -1)


def build_model(arch: str, hidden: int = 32, seed: int = 0, noise: float = 0.0):
    """``rnn`` (leaky RNN), ``gru`` or ``ssm`` (selective SSM with d_model = hidden // 2, d_state = 4);
    ``noise``: recurrent noise σ of the RNN and GRU (the SSM has none)."""
    torch.manual_seed(seed)
    if arch == "rnn":
        return LeakyRNN(hidden=hidden, noise=noise)
    if arch == "gru":
        return GRUNet(hidden=hidden, noise=noise)
    if arch == "ssm":
        return SelectiveSSM(d_model=max(2, hidden // 2), d_state=4)
    raise InputError(f"unknown arch {arch!r}; use 'rnn', 'gru' or 'ssm'")


@dataclass
class TrainedRun:
    """Checkpoints of one training run: steps, accuracies and hidden trajectories on a fixed eval batch."""

    arch: str
    task: str
    regime: str
    seed: int
    steps: list[int]
    accuracy: list[float]
    hidden: list[np.ndarray]  # each (K, T, H), float64
    meta: dict[str, Any] = field(default_factory=dict)
    model: Any = None  # the trained torch module

    @property
    def final_hidden(self) -> np.ndarray:
        return self.hidden[-1]

    @property
    def final_accuracy(self) -> float:
        return self.accuracy[-1]


def _loss_acc(model, batch):
    logits, H = model(batch["u"])
    m = batch["mask"]
    lr = logits[:, m]  # (B, Tm, 2)
    tgt = batch["y"][:, None].expand(-1, lr.shape[1])
    loss = torch.nn.functional.cross_entropy(lr.reshape(-1, 2), tgt.reshape(-1))
    acc = (lr.mean(1).argmax(-1) == batch["y"]).float().mean()
    return loss, acc, H


def _batch(task: str, n: int, seed: int, epochs: dict[str, int] | None = None) -> dict:
    b = make_task(task, n, seed=seed, epochs=epochs)
    return {
        "u": torch.from_numpy(b["inputs"]),
        "y": torch.from_numpy(b["target"]),
        "mask": torch.from_numpy(b["resp_mask"]),
    }


def train_run(
    arch: str = "rnn",
    task: str = "dm_anti_delay",
    regime: str = "direct",
    *,
    hidden: int = 32,
    steps: int = 150,
    pre_steps: int = 150,
    batch_size: int = 64,
    lr: float = 3e-3,
    n_checkpoints: int = 8,
    eval_trials: int = 32,
    eval_seed: int = 12345,
    seed: int = 0,
    noise: float = 0.0,
    epochs: dict[str, int] | None = None,
) -> TrainedRun:
    """Train one network on ``task`` under ``regime`` and record checkpoints of the composite-task learning.

    ``regime``: ``direct`` | ``pretrain_free`` | ``pretrain_frozen`` (pre-training on :func:`subtasks` first;
    ``frozen`` keeps the recurrent parameters fixed while learning the composite). Checkpoints are spread
    log-spaced over the ``steps`` composite-task updates, including step 0 (before any composite training).
    ``noise``: recurrent noise σ (RNN, GRU) during training and evaluation (the evaluation noise is
    seeded by ``eval_seed``); ``epochs``: epoch lengths of the task (default :data:`EPOCHS`).
    ``steps=0`` with ``regime="direct"`` records the untrained network (one checkpoint).
    Deterministic for a given seed (single-threaded torch recommended).
    """
    if regime not in ("direct", "pretrain_free", "pretrain_frozen"):
        raise InputError(f"unknown regime {regime!r}; use 'direct', 'pretrain_free' or 'pretrain_frozen'")
    _check_task(task)
    model = build_model(arch, hidden=hidden, seed=seed, noise=noise)
    rng = np.random.default_rng(seed)
    if regime != "direct":
        subs = subtasks(task)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        for s in range(pre_steps):
            b = _batch(subs[s % len(subs)], batch_size, int(rng.integers(2**31)), epochs)
            loss, _, _ = _loss_acc(model, b)
            opt.zero_grad()
            loss.backward()
            opt.step()
    rec_before = [p.detach().clone() for p in model.recurrent_parameters()]
    if regime == "pretrain_frozen":
        rec = {id(p) for p in model.recurrent_parameters()}
        params = [p for p in model.parameters() if id(p) not in rec]
        for p in model.recurrent_parameters():
            p.requires_grad_(False)
    else:
        params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    ev = _batch(task, eval_trials, eval_seed, epochs)  # same eval batch for every run: rows paired across networks
    # checkpoints log-spaced over the composite-task updates (learning is fastest early), always 0 and steps
    # (np.geomspace(1, steps, 1) is [1], not [steps]: with two checkpoints the grid is [0, steps])
    grid = (
        np.concatenate([[0], np.geomspace(1, steps, n_checkpoints - 1) if n_checkpoints > 2 else [steps]])
        if steps > 0 else np.zeros(1)
    )
    ck_at = set(np.unique(grid.round().astype(int)).tolist())
    steps_out, accs, hids = [], [], []

    def record(step):
        with torch.no_grad(), torch.random.fork_rng():
            torch.manual_seed(eval_seed)
            _, acc, H = _loss_acc(model, ev)
        steps_out.append(step)
        accs.append(float(acc))
        hids.append(H.double().numpy())

    for s in range(steps + 1):
        if s in ck_at:
            record(s)
        if s == steps:
            break
        b = _batch(task, batch_size, int(rng.integers(2**31)), epochs)
        loss, _, _ = _loss_acc(model, b)
        opt.zero_grad()
        loss.backward()
        opt.step()
    rec_change = float(
        sum((p.detach() - q).abs().sum() for p, q in zip(model.recurrent_parameters(), rec_before))
    )
    return TrainedRun(
        arch,
        task,
        regime,
        seed,
        steps_out,
        accs,
        hids,
        meta={"hidden": hidden, "steps": steps, "pre_steps": pre_steps, "recurrent_change": rec_change,
              "noise": noise, "epochs": dict(EPOCHS, **(epochs or {}))},
        model=model,
    )
