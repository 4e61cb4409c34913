"""Reproductions of Guilhot et al. (2024) — DSA on compositional learning in RNNs — and of the attractor case.

**Compositional RNNs (the paper's master-comparison design).** Per seed and architecture (leaky RNN and
GRU, ≥ 64 units, recurrent noise σ_rec = 0.05) four groups on the composite task ``dm_anti_delay``:

- *master*: trained directly on the composite task (its checkpoints are the learning curve);
- *pretrained-unfrozen*: pre-trained on the sub-tasks (``dm``, ``dm_anti``, ``dm_delay``), then trained on
  the composite with all weights free;
- *pretrained-frozen*: the same pre-trained network, recurrence frozen while learning the composite;
- *untrained*: the randomly initialised network (control).

Hidden states of the **stimulus epoch only** on one fixed evaluation batch; for each comparison both
networks' states are standardised (z-score per unit) and projected jointly onto 20 principal components.
DSA (angular, :func:`repscope.dynamics.dsa`) with the paper's hyperparameters (``n_delays=33``,
``delay_interval=6``, ``rank=50``; reduced by :func:`fit_delays` when the stimulus epoch is too short, and
reported as such) and with hyperparameters chosen by held-out one-step DMD prediction error
(:func:`select_by_prediction`); Procrustes (angular) and 1 − linear CKA as the geometry baselines.

**The authors' array layout.** The issue reports that the authors' pipeline passes arrays shaped
``(time, batch, PC)`` to a DSA that reads ``(trials, time, features)``. Their public code confirms it
(github.com/qglht/RepAL at 988df86): ``main/representation.py`` runs the RNN time-first
(``inputs.permute(1, 0, 2)``), keeps the stimulus epoch and concatenates batches along ``dim=1``, so
hidden states are (time, batch, units); ``src/toolkit.py: dissimilarity_over_learning`` projects them
jointly to 20 PCs (``compute_common_pca``, which z-scores over ``dim=0`` — across time, per trial and unit)
and calls ``DSA.DSA(curve_1, curve_2, n_delays=33, delay_interval=6, rank=50)``, whose
``embed_signal_torch`` reads a 3-D array as K trials × T time × N features. DSA therefore delay-embeds
across the trial index, which is also why a (33 − 1) × 6 = 192-step delay span fits a short stimulus epoch.
(``src/dissimilarity_pairwise.py`` computes the joint PCA and then passes the raw, unprojected curves to
CKA, Procrustes and DSA.) We compute the main contrast both ways (:func:`transposed_layout`) and report
what the transposed layout does to it.

**Selective SSM.** A Mamba-style selective SSM (:class:`~repscope.experiments.dynamics.models.SelectiveSSM`)
trained like the master; the paper's claim "its recurrent dynamics change less with learning than an
RNN's" is tested as DSA(first checkpoint, last checkpoint) of the SSM minus that of the leaky RNN, paired
by seed.

**Attractors (Ostrow et al. 2023 / Guilhot Test 1).** Lorenz systems simulated as in the authors' code
(ρ ∈ {0.25, 0.5, 0.75}, {5, 10, 15}, {30, 40, 50}; 200 trajectories × 200 Euler steps of dt = 0.01 from
U[0, 1)³, each scaled into [0, 1]), between/within-regime distance ratio and 1-NN accuracy for DSA,
Procrustes and CKA, over a sweep of the authors' perturbation ``x ← √(1 − p²)·x + p·ε`` that holds their
levels p = 0.001, 0.002, 0.004 and larger ones.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np

from repscope.errors import InputError
from repscope.experiments.verdict import (
    ClaimRow,
    ReproductionTable,
    bootstrap_ci,
    claim,
    disjoint_pairs,
    progress_steps,
    t_interval,
)
from repscope.results import subplots, to_jsonable

__all__ = [
    "PAPER_DSA",
    "fit_delays",
    "joint_pca",
    "heldout_prediction_error",
    "select_by_prediction",
    "transposed_layout",
    "guilhot_config",
    "guilhot_reproduction",
    "attractor_reproduction",
    "NoiseSweep",
    "reproduce",
]

#: DSA hyperparameters of the authors' public configuration.
PAPER_DSA = {"n_delays": 33, "delay_interval": 6, "rank": 50}
TASK = "dm_anti_delay"
N_PCS = 20


class DMDHyper(TypedDict):
    """DMD hyper-parameters (one point of :func:`select_by_prediction`'s grid, or :func:`fit_delays`)."""

    n_delays: int
    delay_interval: int
    rank: int


def fit_delays(n_steps: int, n_delays: int = 33, delay_interval: int = 6, rank: int = 50,
               n_features: int = N_PCS) -> tuple[DMDHyper, str]:
    """The paper's delay embedding if it spans at most half the trajectory, else a reduced one.

    Reduction rule: shrink ``delay_interval`` to fit ``(n_delays − 1)·τ ≤ T/2``; if τ = 1 still does not
    fit, lower ``n_delays`` to ``⌊T/2⌋ + 1``; ``rank`` is capped at the embedding dimension. Returns the
    hyperparameters and a sentence saying what was changed ("" when nothing was).
    """
    T = int(n_steps)
    if T < 4:
        raise InputError(f"trajectories of {T} steps are too short for DSA; use at least 4 steps")
    half = T // 2
    d, tau = int(n_delays), int(delay_interval)
    if (d - 1) * tau <= half:
        r = min(int(rank), d * n_features)
        return {"n_delays": d, "delay_interval": tau, "rank": r}, ""
    tau = max(1, half // max(d - 1, 1))
    if (d - 1) * tau > half:
        d = half + 1
    r = min(int(rank), d * n_features)
    why = (f"the stimulus epoch has {T} steps, too short for the paper's span (n_delays−1)·delay_interval = "
           f"{(n_delays - 1) * delay_interval}; reduced to n_delays={d}, delay_interval={tau}, rank={r} "
           f"(span ≤ T/2)")
    return {"n_delays": d, "delay_interval": tau, "rank": r}, why


def joint_pca(X: np.ndarray, Y: np.ndarray, n_pcs: int = N_PCS) -> tuple[np.ndarray, np.ndarray]:
    """Standardise each system's units (z-score over trials × time), stack both, project onto the joint
    top ``n_pcs`` principal components (the paper's preprocessing). Shapes ``(K, T, N)`` → ``(K, T, n_pcs)``."""
    Z = []
    for A in (X, Y):
        A = np.asarray(A, dtype=np.float64)
        flat = A.reshape(-1, A.shape[-1])
        mu, sd = flat.mean(0), flat.std(0)
        Z.append((A - mu) / np.where(sd > 1e-12, sd, 1.0))
    if Z[0].shape[-1] != Z[1].shape[-1]:
        raise InputError(f"joint PCA needs equal unit counts ({Z[0].shape[-1]} vs {Z[1].shape[-1]})")
    stack = np.concatenate([z.reshape(-1, z.shape[-1]) for z in Z])
    stack = stack - stack.mean(0)
    k = min(int(n_pcs), stack.shape[1])
    _, _, Vt = np.linalg.svd(stack, full_matrices=False)
    return Z[0] @ Vt[:k].T, Z[1] @ Vt[:k].T


def transposed_layout(X: np.ndarray) -> np.ndarray:
    """``(trials, time, PC)`` → ``(time, trials, PC)``: what DSA reads when handed the authors' layout."""
    return np.ascontiguousarray(np.swapaxes(np.asarray(X), 0, 1))


def heldout_prediction_error(X: np.ndarray, hp: DMDHyper, *, seed: int = 0) -> float:
    """Relative one-step prediction error of DMD (in delay coordinates) on held-out trials.

    DMD is fitted on a random half of the trials; on the other half, ``‖H⁺ − H⁻ Âᵀ‖ / ‖H⁺‖`` with
    ``Â`` the operator in delay-embedding coordinates (:attr:`DMDResult.A_embedded_`).
    """
    from repscope.dynamics import delay_embed, fit_dmd

    X = np.asarray(X, dtype=np.float64)
    K = X.shape[0]
    if K < 2:
        raise InputError("held-out prediction error needs at least 2 trials")
    perm = np.random.default_rng(seed).permutation(K)
    tr, te = perm[: K // 2], perm[K // 2 :]
    d = fit_dmd(X[tr], **hp)
    A = d.A_embedded_
    num = den = 0.0
    for E in delay_embed(list(X[te]), hp["n_delays"], hp["delay_interval"]):
        pred = E[:-1] @ A.T
        num += float(((E[1:] - pred) ** 2).sum())
        den += float((E[1:] ** 2).sum())
    return float(np.sqrt(num / max(den, 1e-300)))


def select_by_prediction(systems: list[np.ndarray], n_steps: int, *, seed: int = 0
                         ) -> tuple[DMDHyper, list[dict[str, Any]]]:
    """Pick (n_delays, delay_interval, rank) minimising the mean held-out prediction error over ``systems``.

    Grid: n_delays ∈ {2, 5, 10, 20, 33}, delay_interval ∈ {1, 3, 6}, rank ∈ {10, 20, 50}, keeping only
    embeddings spanning at most half the trajectory and ranks the training half's transitions determine.
    Returns the choice and every grid point's error.
    """
    grid: list[tuple[DMDHyper, float]] = []
    for nd in (2, 5, 10, 20, 33):
        for tau in (1, 3, 6):
            if (nd - 1) * tau > n_steps // 2:
                continue
            n_trans = (systems[0].shape[0] // 2) * (n_steps - (nd - 1) * tau - 1)
            for r in (10, 20, 50):
                if r > nd * systems[0].shape[-1] or r > n_trans:
                    continue
                hp: DMDHyper = {"n_delays": nd, "delay_interval": tau, "rank": r}
                err = float(np.mean([heldout_prediction_error(S, hp, seed=seed) for S in systems]))
                grid.append((hp, err))
    if not grid:
        raise InputError(f"no DSA hyperparameters fit trajectories of {n_steps} steps")
    best = min(grid, key=lambda g: g[1])[0]
    return best, [{**hp, "error": e} for hp, e in grid]


def _geometry(pairs: list[tuple[np.ndarray, np.ndarray]], metric: str) -> np.ndarray:
    from repscope.dynamics.evaluate import geometry_distance

    f = geometry_distance(metric)
    return np.array([f(X, Y) for X, Y in pairs])


def guilhot_config(quick: bool, seeds: int | None = None) -> dict[str, Any]:
    """Sizes of the compositional-RNN reproduction (``quick``: ≈ 7 min on 2 cores, reduced delay embedding,
    too few seeds for verdicts; full: the paper's delay embedding on a 384-step stimulus epoch, 20 seeds —
    on 2 cores ≈ 40 min for the leaky RNN and the SSM, ≈ 80 min with the GRU as well; peak memory ≈ 10 GB per
    architecture). ``dsa_hp`` ("paper" or "held-out") fixes, before any distance is computed, which
    hyper-parameters every DSA row uses."""
    if quick:
        cfg = dict(archs=("rnn",), hidden=64, epochs={"fix": 4, "stim": 24, "delay": 6, "resp": 4},
                   steps=100, pre_steps=100, batch_size=32, lr=1e-2, eval_trials=48, n_checkpoints=5, seeds=5,
                   ssm=True, dmd_solver="gram", dsa_max_random=8)
    else:
        # lr 1e-3: at 1e-2 the 128-unit leaky RNN and the SSM stay at chance (0.47–0.59) on the 60-step
        # stimulus; at 1e-3 all three architectures reach 0.95–1.0 in 300 steps (probe, 2–3 seeds each)
        # stimulus epoch 384 steps: the paper's delay span (33 − 1) × 6 = 192 fits in half of it, so the paper's
        # hyper-parameters are used unreduced; 20 seeds: the master spread rests on 10 disjoint seed pairs
        cfg = dict(archs=("rnn", "gru"), hidden=128, epochs={"fix": 5, "stim": 384, "delay": 10, "resp": 5},
                   steps=300, pre_steps=300, batch_size=32, lr=1e-3, eval_trials=64, n_checkpoints=8, seeds=20,
                   ssm=True, dmd_solver="gram", dsa_max_random=8)
    # DSA alignment budget: the deterministic starts + 8 random ones (the library default allows 128). At rank 50
    # no budget certifies the optimum (on a probe pair of untrained 128-unit RNNs 0 of 146 starts agreed), so
    # every distance is an upper bound either way; there 8 and 128 random starts gave 0.02660 and 0.02648
    # (SVD route: 0.02543 both) at 1.3 s against 7.3 s. DMD by the Gram route (fit_dmd(solver="gram")): 4.7×
    # faster on the 12 288 × 660 embeddings, same operator up to rounding.
    cfg["dsa_hp"] = "paper"
    if seeds is not None:
        cfg["seeds"] = int(seeds)
    return cfg


def _train_groups(arch: str, seed: int, cfg: dict[str, Any]) -> dict[str, Any]:
    """master (direct), pretrained-unfrozen and -frozen (sharing one pre-training) and untrained runs."""
    import copy

    import torch

    from repscope.experiments.dynamics import models as M

    ep, bs, lr = cfg["epochs"], cfg["batch_size"], cfg["lr"]
    noise = 0.05 if arch in ("rnn", "gru") else 0.0
    common = dict(hidden=cfg["hidden"], batch_size=bs, lr=lr, n_checkpoints=cfg["n_checkpoints"],
                  eval_trials=cfg["eval_trials"], noise=noise, epochs=ep)
    master = M.train_run(arch, TASK, "direct", steps=cfg["steps"], seed=seed, **common)
    untrained = M.train_run(arch, TASK, "direct", steps=0, seed=seed + 7919, **common)
    # one pre-training on the sub-tasks, then two branches (the paper's frozen / unfrozen groups)
    torch.manual_seed(seed + 104729)
    model = M.build_model(arch, hidden=cfg["hidden"], seed=seed + 104729, noise=noise)
    rng = np.random.default_rng(seed + 104729)
    subs = M.subtasks(TASK)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for s in range(cfg["pre_steps"]):
        b = M._batch(subs[s % len(subs)], bs, int(rng.integers(2**31)), ep)
        loss, _, _ = M._loss_acc(model, b)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ev = M._batch(TASK, cfg["eval_trials"], 12345, ep)
    out: dict[str, Any] = {"master": master, "untrained": untrained}
    for name, frozen in (("unfrozen", False), ("frozen", True)):
        net = copy.deepcopy(model)
        rec = {id(p) for p in net.recurrent_parameters()}
        params = [p for p in net.parameters() if not (frozen and id(p) in rec)]
        o = torch.optim.Adam(params, lr=lr)
        r2 = np.random.default_rng(seed + (1 if frozen else 2))
        for _ in range(cfg["steps"]):
            b = M._batch(TASK, bs, int(r2.integers(2**31)), ep)
            loss, _, _ = M._loss_acc(net, b)
            o.zero_grad()
            loss.backward()
            if frozen:
                for p in net.recurrent_parameters():
                    p.grad = None
            o.step()
        with torch.no_grad(), torch.random.fork_rng():
            torch.manual_seed(12345)
            _, acc, H = M._loss_acc(net, ev)
        out[name] = {"hidden": H.double().numpy(), "accuracy": float(acc)}
    return out


def _train_job(seed: int, *, arch: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """:func:`_train_groups` for one seed without the torch modules (results travel between processes)."""
    from repscope.parallel import torch_threads

    with torch_threads(1):
        out = _train_groups(arch, seed, cfg)
    out["master"].model = None
    out["untrained"].model = None
    # float32, as the networks computed them (``.double()`` of float32 is exact): half the memory, same numbers
    for g in ("master", "untrained"):
        out[g].hidden = [h.astype(np.float32) for h in out[g].hidden]
    for g in ("unfrozen", "frozen"):
        out[g]["hidden"] = out[g]["hidden"].astype(np.float32)
    return out


def _per_pair(per_seed: np.ndarray) -> np.ndarray:
    """Per-seed values averaged within the disjoint seed pairs (2i, 2i+1) — to set beside a per-pair statistic."""
    v = np.asarray(per_seed, dtype=float)
    return np.array([(v[a] + v[b]) / 2 for a, b in disjoint_pairs(len(v))])


def _stim(H: np.ndarray, ep: dict[str, int]) -> np.ndarray:
    s0 = ep["fix"]
    return H[:, s0 : s0 + ep["stim"]]


@dataclass
class LearningCurves:
    """Distance of each group's final network to the master's checkpoints, per measure (mean over seeds)."""

    master_accuracy: list[float]
    curves: dict[str, dict[str, list[float]]]  # measure → group → mean distance per master checkpoint
    arch: str = "rnn"
    title = "Guilhot et al. — distance to the master's checkpoints"

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({"master_accuracy": self.master_accuracy, "curves": self.curves, "arch": self.arch})

    def summary(self) -> str:
        return ("Each group's final network compared with the master's checkpoints (x: the master's accuracy "
                "at that checkpoint); a measure that tracks learning falls as the master learns for the trained "
                "groups and not for the untrained control.")

    def table(self) -> tuple[list[str], list[list[Any]]]:
        rows = []
        for m, groups in self.curves.items():
            for g, v in groups.items():
                rows.append([m, g, " ".join(f"{x:.3f}" for x in v)])
        return ["measure", "group", "distance per master checkpoint"], rows

    def plot(self, ax: Any = None) -> Any:
        fig, axs = subplots(1, len(self.curves), figsize=(10, 3)) if ax is None else (ax.figure, [ax])
        for a, (m, groups) in zip(np.atleast_1d(axs), self.curves.items()):
            for g, v in groups.items():
                a.plot(self.master_accuracy, v, "o-", label=g, ms=3)
            a.set_title(f"{m} ({self.arch})", fontsize=9)
            a.set_xlabel("master accuracy at checkpoint")
        np.atleast_1d(axs)[0].set_ylabel("distance to master checkpoint")
        np.atleast_1d(axs)[0].legend(fontsize=7)
        fig.tight_layout()
        return fig


#: DSA pairs per worker task; fixed (not derived from the worker count) so that the random starts — seeded
#: per chunk — and therefore the distances do not depend on how many processes run them.
DSA_CHUNK = 16
#: chunks per process-pool call (memory: each worker receives the trajectories of a whole wave)
DSA_WAVE = 16


def _dsa_chunk(job: tuple[int, dict, list[tuple[np.ndarray, np.ndarray]], dict[str, Any]]
               ) -> list[tuple[float, bool, float]]:
    """Fit DMD to both systems of every pair and solve their similarity transforms (one worker task);
    ``opts``: ``solver`` of :func:`~repscope.dynamics.fit_dmd`, ``max_random`` starts of the alignment."""
    from repscope.dynamics import fit_dmd, similarity_transform_distances

    seed, hp, pairs, opts = job
    hp = dict(hp)
    if hp.pop("transpose", False):
        pairs = [(transposed_layout(X), transposed_layout(Y)) for X, Y in pairs]
    solver = opts.get("solver", "svd")
    ops = [(fit_dmd(X, **hp, solver=solver).A_, fit_dmd(Y, **hp, solver=solver).A_) for X, Y in pairs]
    with warnings.catch_warnings():  # reported in the table's findings instead
        warnings.simplefilter("ignore")
        infos = similarity_transform_distances(ops, metric="angular", seed=seed,  # certified multi-start
                                               max_random=int(opts.get("max_random", 128)))
    return [(float(i.distance), bool(i.converged), float(i.grad_norm)) for i in infos]


class _DSABatch:
    """Collects DSA pairs per hyperparameter set, then fits and solves them all at once: chunks of
    :data:`DSA_CHUNK` pairs (the r×r optimisations of a chunk batched in
    :func:`similarity_transform_distances`) spread over worker processes."""

    def __init__(self, seed: int, n_workers: int = 1, opts: dict[str, Any] | None = None):
        self.seed, self.n_workers, self.opts = seed, n_workers, dict(opts or {})
        self.jobs: dict[tuple, list] = {}
        self.out: dict[tuple, np.ndarray] = {}

    def add(self, pairs: list[tuple[np.ndarray, np.ndarray]], hp: DMDHyper, transpose: bool = False) -> tuple:
        """Queue ``pairs`` for DSA at ``hp``; ``transpose``: in the authors' (time, batch, PC) layout
        (:func:`transposed_layout`, applied in the worker). Returns the handle :meth:`get` takes."""
        key = (*sorted(hp.items()), ("transpose", bool(transpose)))
        lst = self.jobs.setdefault(key, [])
        start = len(lst)
        lst.extend(pairs)
        return key, start, len(lst)

    def run(self, progress: bool = False) -> None:
        from repscope.parallel import map_items

        chunks = [(key, k0) for key, lst in self.jobs.items() for k0 in range(0, len(lst), DSA_CHUNK)]
        items = [(self.seed + 7919 * c, dict(key), self.jobs[key][k0 : k0 + DSA_CHUNK], self.opts)
                 for c, (key, k0) in enumerate(chunks)]
        # in waves: the process pool ships every item of a call to each worker, and the full design's pairs
        # (≈ 4 GB of float64 trajectories per architecture) must not be copied to every worker at once
        res: list[Any] = []
        for w0 in range(0, len(items), DSA_WAVE):
            res += map_items(_dsa_chunk, items[w0 : w0 + DSA_WAVE], n_workers=self.n_workers, progress=progress,
                             desc=f"DSA fits ({w0 // DSA_WAVE + 1}/{-(-len(items) // DSA_WAVE)})")
        flat: dict[tuple, list] = {key: [] for key in self.jobs}
        for (key, _), r in zip(chunks, res):
            flat[key].extend(r)
        self.n_fits = sum(len(v) for v in flat.values())
        self.n_unconverged = sum(not c for v in flat.values() for _, c, _ in v)
        self.max_grad = max([0.0, *(g for v in flat.values() for _, _, g in v)])
        self.out = {key: np.array([d for d, _, _ in v]) for key, v in flat.items()}

    def get(self, handle: tuple) -> np.ndarray:
        key, a, b = handle
        return self.out[key][a:b]


def _train_ssm(seed: int, *, cfg: dict[str, Any]) -> Any:
    """One seed's Mamba-style SSM trained on the composite task (one worker task; the module is dropped)."""
    from repscope.experiments.dynamics import models as M
    from repscope.parallel import torch_threads

    with torch_threads(1):
        r = M.train_run("ssm", TASK, "direct", hidden=cfg["hidden"], steps=cfg["steps"], batch_size=cfg["batch_size"],
                        lr=cfg["lr"], n_checkpoints=2, eval_trials=cfg["eval_trials"], epochs=cfg["epochs"], seed=seed)
    r.model = None
    r.hidden = [h.astype(np.float32) for h in r.hidden]  # exact: the SSM computed them in float32
    return r


_GROUPS = ("master_spread", "unfrozen", "frozen", "untrained")


def _plan_arch(arch: str, runs: list[Any], cfg: dict[str, Any], seed: int, n_pcs: int, hp_paper: DMDHyper,
               batch: _DSABatch, extra: dict[str, Any]) -> dict[str, Any]:
    """Phase 1 for one architecture's trained runs: the comparison pairs, queued on ``batch`` (order kept)."""
    ep = cfg["epochs"]
    groups = _GROUPS

    def joint_pca_k(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return joint_pca(X, Y, n_pcs)

    extra["accuracy"][arch] = {
        g: [float(r[g].final_accuracy if g in ("master", "untrained") else r[g]["accuracy"]) for r in runs]
        for g in ("master", "unfrozen", "frozen", "untrained")}

    def fin(r, g):
        return _stim(r[g].final_hidden if g in ("master", "untrained") else r[g]["hidden"], ep)

    masters = [joint_pca_k(fin(r, "master"), fin(r, "master"))[0] for r in runs]
    hp_sel, grid = select_by_prediction(masters[:2], ep["stim"], seed=seed)
    extra[f"dsa_selected_{arch}"] = hp_sel
    extra[f"prediction_grid_{arch}"] = grid
    n = len(runs)
    pairs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {g: [] for g in groups}
    for a, b in disjoint_pairs(n):  # independent pairs (2i, 2i+1), never cyclic
        pairs["master_spread"].append(joint_pca_k(fin(runs[b], "master"), fin(runs[a], "master")))
    for r in runs:
        ref = fin(r, "master")
        for g in ("unfrozen", "frozen", "untrained"):
            pairs[g].append(joint_pca_k(fin(r, g), ref))
    hp_use = hp_sel if cfg["dsa_hp"] == "held-out" else hp_paper
    hp_other = hp_paper if cfg["dsa_hp"] == "held-out" else hp_sel
    P: dict[str, Any] = {"runs": runs, "pairs": pairs, "hp_sel": hp_sel, "hp_use": hp_use, "hp_other": hp_other}
    P["dsa_paper"] = {g: batch.add(pairs[g], hp_use) for g in groups}
    P["dsa_sel"] = {g: batch.add(pairs[g], hp_other) for g in groups}
    # the authors' layout: the same pairs, transposed in the worker (no second copy held here)
    P["hp_t"], _ = fit_delays(pairs["untrained"][0][0].shape[0], **dict(PAPER_DSA, rank=hp_paper["rank"]),
                              n_features=n_pcs)
    P["dsa_t"] = {g: batch.add(pairs[g], P["hp_t"], transpose=True) for g in ("master_spread", "untrained")}
    P["curve_pairs"] = {g: [[joint_pca_k(fin(r, g), _stim(Hk, ep)) for Hk in r["master"].hidden] for r in runs]
                        for g in ("unfrozen", "frozen", "untrained")}
    P["curve_dsa"] = {g: [batch.add(pp, hp_use) for pp in P["curve_pairs"][g]] for g in P["curve_pairs"]}
    # the authors' layout beside ours on every DSA row: the learning-curve rows need the curves transposed too
    P["curve_dsa_t"] = {g: [batch.add(pp, P["hp_t"], transpose=True) for pp in P["curve_pairs"][g]]
                        for g in ("unfrozen", "untrained")}
    if arch == "rnn":
        change = [joint_pca_k(_stim(r["master"].hidden[0], ep), _stim(r["master"].final_hidden, ep)) for r in runs]
        P["change"] = batch.add(change, hp_use)
        P["change_t"] = batch.add(change, P["hp_t"], transpose=True)
    return P


def _rho(d: np.ndarray, acc: np.ndarray) -> float:
    """Spearman ρ of the distances to the master checkpoints with the master's accuracy there (NaN when
    either is flat: ρ undefined)."""
    from scipy.stats import spearmanr

    return float(spearmanr(d, acc).statistic) if np.ptp(acc) > 0 and np.ptp(d) > 0 else float("nan")


def _learning_curves(P: dict[str, Any], batch: _DSABatch) -> tuple[dict, dict]:
    """Mean distance to each master checkpoint per measure and group, and Spearman ρ with accuracy per seed
    (for DSA also on the authors' layout)."""
    runs = P["runs"]
    curves: dict[str, dict[str, list[float]]] = {}
    rho: dict[str, dict[str, list[float]]] = {}
    for mname in ("DSA", "Procrustes", "1 − CKA"):
        curves[mname] = {}
        rho[mname] = {}
        for g in ("unfrozen", "frozen", "untrained"):
            per_seed = []
            for k, r in enumerate(runs):
                if mname == "DSA":
                    d = batch.get(P["curve_dsa"][g][k])
                else:
                    d = _geometry(P["curve_pairs"][g][k], "procrustes" if mname == "Procrustes" else "cka")
                per_seed.append(d)
                rho[mname].setdefault(g, []).append(_rho(d, np.asarray(r["master"].accuracy)))
            curves[mname][g] = list(np.mean(per_seed, axis=0))
    rho["DSA (authors' layout)"] = {
        g: [_rho(batch.get(h), np.asarray(r["master"].accuracy)) for h, r in zip(handles, runs)]
        for g, handles in P["curve_dsa_t"].items()}
    return curves, rho


def _arch_claims(arch: str, P: dict[str, Any], batch: _DSABatch, cfg: dict[str, Any], why: str, seed: int,
                 extra: dict[str, Any], figures: list[Any], findings: list[str]) -> list[ClaimRow]:
    """Phase 3 for one architecture: its distances into ``extra``, its learning curves, claim rows, finding."""
    groups = _GROUPS
    runs, pairs = P["runs"], P["pairs"]
    D = {
        "DSA (paper hp)": {g: batch.get(P["dsa_paper"][g]) for g in groups},
        "DSA (held-out hp)": {g: batch.get(P["dsa_sel"][g]) for g in groups},
        "Procrustes": {g: _geometry(pairs[g], "procrustes") for g in groups},
        "1 − CKA": {g: _geometry(pairs[g], "cka") for g in groups},
    }
    extra["distances"][arch] = D
    dt = {g: batch.get(h) for g, h in P["dsa_t"].items()}
    extra.setdefault("transposed_layout", {})[arch] = {
        "hp": P["hp_t"], "untrained_minus_spread": _per_pair(dt["untrained"]) - dt["master_spread"]}
    macc = np.mean([r["master"].accuracy for r in runs], axis=0)
    curves, rho = _learning_curves(P, batch)
    figures.append(LearningCurves([float(a) for a in macc], curves, arch))
    extra.setdefault("learning_rho", {})[arch] = rho
    dsa = D["DSA (paper hp)"]
    sel = D["DSA (held-out hp)"]
    tag = f"[{arch}]"
    hp_txt = f"DSA hyper-parameters fixed in advance for every row: {P['hp_use']} ({cfg['dsa_hp']})"
    rho_t = rho["DSA (authors' layout)"]
    lay = extra["transposed_layout"][arch].setdefault("rows", {})
    lr_d = np.log(_per_pair(dsa["untrained"]) / dsa["master_spread"])
    lr_dt = np.log(_per_pair(dt["untrained"]) / dt["master_spread"])
    lr_p = np.log(_per_pair(D["Procrustes"]["untrained"]) / D["Procrustes"]["master_spread"])
    rows: list[ClaimRow] = []
    rows.append(_beside_layout(claim(
        f"{tag} DSA: untrained control farther from master than masters from each other",
        "untrained networks far from the master; masters cluster",
        "DSA(untrained, master), mean over a disjoint seed pair, vs DSA(master_2i, master_2i+1)",
        _per_pair(dsa["untrained"]), control=dsa["master_spread"], control_label="master spread", seed=seed,
        note="; ".join(x for x in (why, hp_txt) if x)),
        _per_pair(dt["untrained"]), lay, control=dt["master_spread"]))
    rows.append(_beside_layout(claim(
        f"{tag} DSA tracks learning: pretrained-unfrozen net's distance to master checkpoints falls",
        "DSA distance decreases as the master learns",
        "Spearman ρ(DSA to master checkpoint k, master accuracy at k): pretrained-unfrozen vs untrained network",
        rho["DSA"]["unfrozen"], control=rho["DSA"]["untrained"], control_label="untrained network",
        direction=-1, seed=seed, note="ρ undefined (dropped) for seeds whose master accuracy is flat"),
        rho_t["unfrozen"], lay, control=rho_t["untrained"]))
    for base in ("Procrustes", "1 − CKA"):
        rows.append(_beside_layout(claim(
            f"{tag} DSA tracks learning better than {base}",
            "DSA identifies behaviourally relevant representations; Procrustes/CKA less reliably",
            f"ρ_DSA − ρ_{base}, pretrained-unfrozen network (paired by seed)", rho["DSA"]["unfrozen"],
            baseline=rho[base]["unfrozen"], control_label=base, direction=-1, seed=seed,
            note="geometry also converges toward the learner's as the master learns"),
            rho_t["unfrozen"], lay, baseline=rho[base]["unfrozen"]))
    rows.append(_beside_layout(claim(
        f"{tag} DSA separates untrained from trained networks more than Procrustes",
        "Procrustes/CKA respond to spurious signals; DSA to the computation",
        "log(untrained/spread)_DSA − log(untrained/spread)_Procrustes, disjoint seed pairs", lr_d,
        baseline=lr_p, control_label="Procrustes", seed=seed), lr_dt, lay, baseline=lr_p))
    e2, lo2, hi2 = t_interval(_per_pair(sel["untrained"]) - sel["master_spread"])
    findings.append(f"{tag} With the other DSA hyper-parameters ({P['hp_other']}), the first row's contrast is "
                    f"{e2:.3g} [{lo2:.3g}, {hi2:.3g}] (95% t interval over disjoint pairs; not a claim row: the "
                    "hyper-parameters of the claims are fixed before the run).")
    return rows


def _beside_layout(row: ClaimRow, values: Any, store: dict[str, Any], **ref: Any) -> ClaimRow:
    """``row`` with the same test computed on the authors' (time, batch, PC) layout added to its note (and
    to ``store``, keyed by the claim)."""
    alt = claim(row.claim, row.paper, row.quantity, values, direction=row.direction, threshold=row.threshold,
                control_label=row.control_label, **ref)
    txt = (f"authors' (time, batch, PC) layout beside ours: {alt.estimate:.3g} [{alt.ci_low:.3g}, "
           f"{alt.ci_high:.3g}], n = {alt.n}, one-sided p = {alt.p_value:.2g} (unadjusted) → {alt.verdict}")
    row.note = f"{row.note}; {txt}" if row.note else txt
    store[row.claim] = {"estimate": alt.estimate, "ci": [alt.ci_low, alt.ci_high], "n": alt.n,
                        "p_value": alt.p_value, "verdict": alt.verdict, "values": alt.values}
    return row


def _ssm_claim(rnn_change: np.ndarray, ssm_change: np.ndarray, ssm_acc: list[float], seed: int) -> ClaimRow:
    """The Mamba-style SSM row: its recurrent change over learning against the leaky RNN's."""
    return claim(
        "Mamba-style SSM: recurrent dynamics change less with learning than a leaky RNN's",
        "DSA between Mamba checkpoints stays small while accuracy rises",
        "DSA(first, last checkpoint)_SSM − same for the RNN (paired by seed)", ssm_change,
        baseline=rnn_change, control_label="leaky RNN", direction=-1, seed=seed,
        note=f"SSM final accuracy {np.mean(ssm_acc):.2f}; observed SSM state = h_t flattened"
             + ("; the SSM did not learn the task at this scale (accuracy < 0.6), so this row does not test "
                "the claim" if np.mean(ssm_acc) < 0.6 else ""))


def _closing_findings(extra: dict[str, Any], batch: _DSABatch) -> list[str]:
    """Findings after the claims: the authors' array layout, DSA certification, final accuracies."""
    findings = []
    for arch, tl in extra.get("transposed_layout", {}).items():
        if "untrained_minus_spread" not in tl:  # the SSM row: its authors'-layout value is in the row's note
            continue
        e, lo, hi = t_interval(tl["untrained_minus_spread"])
        findings.append(
            f"[{arch}] Array layout: the authors' code (qglht/RepAL 988df86, src/toolkit.py "
            f"dissimilarity_over_learning) hands DSA (time, batch, PC) arrays, which it reads as (trials, time, "
            f"features), so it delay-embeds across the *trials* of the batch. Given that layout (hp {tl['hp']}), "
            f"the first row's contrast becomes {e:.3g} [{lo:.3g}, {hi:.3g}] — it then compares the dynamics of "
            f"the trial ordering, not of time, so numbers computed that way are not comparable with ours. Every DSA "
            f"row's note gives the same test computed on the authors' layout beside ours.")
    extra["dsa_optimisation"] = {"fits": batch.n_fits, "unconverged": batch.n_unconverged,
                                 "max_grad_norm": batch.max_grad}
    if batch.n_unconverged:
        findings.append(
            f"DSA optimisation: {batch.n_unconverged} of {batch.n_fits} orthogonal-alignment fits are not certified "
            f"(best value not reached by enough independent random starts within the budget, or the gradient above "
            f"tolerance; largest Riemannian gradient norm {batch.max_grad:.2g} on the unit-norm problem): those "
            f"angular distances are upper bounds, close to but not certified minima.")
    accs = extra["accuracy"]
    findings.append("Final composite-task accuracy (mean over seeds): " + "; ".join(
        (f"{a}: " + ", ".join(f"{g} {np.mean(v):.2f}" for g, v in d.items())) if isinstance(d, dict)
        else f"{a} {np.mean(d):.2f}" for a, d in accs.items()) + " (paper: trained to ~99%).")
    return findings


def guilhot_reproduction(*, quick: bool = True, seeds: int | None = None, seed: int = 0,
                         config: dict[str, Any] | None = None, progress: bool = False,
                         n_workers: int | None = None) -> list[Any]:
    """Run the master-comparison design and return ``[ReproductionTable, LearningCurves …]``.

    ``n_workers``: processes training the seeds (default: the cores, at most 2 — the budget is 2 cores)."""
    from repscope.parallel import map_items, n_cores, torch_threads

    cfg = dict(guilhot_config(quick, seeds), **(config or {}))
    n_workers = min(2, n_cores()) if n_workers is None else int(n_workers)
    if int(cfg["seeds"]) < 2:
        raise InputError(f"seeds={cfg['seeds']} is too few; confidence intervals need ≥ 2 (the issue asks ≥ 5)")
    t0 = time.perf_counter()
    ep = cfg["epochs"]
    n_pcs = int(cfg.get("n_pcs", N_PCS))
    hp_paper, why = fit_delays(ep["stim"], **dict(PAPER_DSA, rank=int(cfg.get("rank", PAPER_DSA["rank"]))),
                               n_features=n_pcs)
    if "rank" in cfg:
        why = (why + "; " if why else "") + f"rank capped at {cfg['rank']} (reduced configuration)"
    seed_list = [seed + 1000 * k for k in range(int(cfg["seeds"]))]
    rows: list[ClaimRow] = []
    extra: dict[str, Any] = {"accuracy": {}, "distances": {}, "dsa_paper": hp_paper}
    figures: list[Any] = []
    findings: list[str] = []
    batch = _DSABatch(seed, n_workers=int(cfg.get("n_workers", n_workers)),
                      opts={"solver": cfg.get("dmd_solver", "svd"), "max_random": cfg.get("dsa_max_random", 128)})
    plan: dict[str, dict[str, Any]] = {}
    ssm_runs: list[Any] = []
    # ---- phase 1: train every network, collect the comparisons ----------------------------------
    with torch_threads(1):
        for arch in cfg["archs"]:
            # seeds train in parallel worker processes (one torch thread each); deterministic per seed
            runs = map_items(functools.partial(_train_job, arch=arch, cfg=cfg), seed_list,
                             n_workers=int(cfg.get("n_workers", n_workers)), progress=progress,
                             desc=f"Guilhot {arch}: training")
            plan[arch] = _plan_arch(arch, runs, cfg, seed, n_pcs, hp_paper, batch, extra)
            for r in runs:  # the queued pairs hold what the rest needs; drop the trajectories (memory)
                r["master"].hidden, r["untrained"].hidden = [], []
                r["unfrozen"]["hidden"] = r["frozen"]["hidden"] = None
        if cfg.get("ssm") and "rnn" in plan:
            ssm_runs = map_items(functools.partial(_train_ssm, cfg=cfg), seed_list,
                                 n_workers=int(cfg.get("n_workers", n_workers)), progress=progress,
                                 desc="Guilhot ssm: training")
            ssm_pairs = [joint_pca(_stim(r.hidden[0], ep), _stim(r.final_hidden, ep), n_pcs) for r in ssm_runs]
            ssm_handle = batch.add(ssm_pairs, plan["rnn"]["hp_use"])
            ssm_handle_t = batch.add(ssm_pairs, plan["rnn"]["hp_t"], transpose=True)
            for r in ssm_runs:  # the pairs hold what the DSA needs; the trajectories are dropped (memory)
                r.hidden = []
    # ---- phase 2: all DSA optimisations, batched ------------------------------------------------
    batch.run(progress=progress)
    # ---- phase 3: claims ------------------------------------------------------------------------
    for arch, P in plan.items():
        rows += _arch_claims(arch, P, batch, cfg, why, seed, extra, figures, findings)
    if ssm_runs:
        rnn_change = batch.get(plan["rnn"]["change"])
        ssm_change = batch.get(ssm_handle)
        extra["accuracy"]["ssm"] = [r.final_accuracy for r in ssm_runs]
        extra["recurrent_change"] = {"rnn": rnn_change, "ssm": ssm_change}
        lay = extra["transposed_layout"].setdefault("ssm", {"hp": plan["rnn"]["hp_t"]}).setdefault("rows", {})
        rows.append(_beside_layout(_ssm_claim(rnn_change, ssm_change, extra["accuracy"]["ssm"], seed),
                                   batch.get(ssm_handle_t), lay, baseline=batch.get(plan["rnn"]["change_t"])))
    findings += _closing_findings(extra, batch)
    table = ReproductionTable(
        "Guilhot et al. 2024 (DSA, compositional RNNs)", "dynamics", rows,
        setup={"task": TASK, "archs": list(cfg["archs"]), "hidden units": cfg["hidden"], "σ_rec": 0.05,
               "epochs": ep, "composite steps": cfg["steps"], "pre-training steps": cfg["pre_steps"],
               "seeds": len(seed_list), "states": "stimulus epoch, z-scored, joint PCA to 20 PCs",
               "DSA (paper)": hp_paper, "DSA used by every row": cfg["dsa_hp"],
               "master spread": "DSA between the masters of disjoint seed pairs (2i, 2i+1)", "config": dict(cfg),
               "mode": "quick" if quick else "full"},
        extra=extra, seconds=time.perf_counter() - t0, findings=findings, figures=figures,
        command=f"repscope dynamics reproduce{' --quick' if quick else ''} --seeds {len(seed_list)}")
    return [table, *figures]


@dataclass
class NoiseSweep:
    """1-NN accuracy and between/within ratio per measure over perturbation levels (mean and 95 % CI)."""

    noise: list[float]
    stats: dict[str, dict[str, list[tuple[float, float, float]]]]  # stat → measure → (mean, lo, hi) per level
    title = "Lorenz regimes — noise sweep"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({"noise": self.noise, "stats": self.stats})

    def summary(self) -> str:
        return "1-NN accuracy of the regime labels and between/within distance ratio against the perturbation level."

    def table(self) -> tuple[list[str], list[list[Any]]]:
        rows = []
        for st, per in self.stats.items():
            for m, v in per.items():
                rows.append([st, m] + [f"{x[0]:.2f} [{x[1]:.2f}, {x[2]:.2f}]" for x in v])
        return ["statistic", "measure"] + [f"p={s:g}" for s in self.noise], rows

    def plot(self, ax: Any = None) -> Any:
        fig, axs = subplots(1, len(self.stats), figsize=(9, 3.2))
        for a, (st, per) in zip(np.atleast_1d(axs), self.stats.items()):
            for m, v in per.items():
                v = np.asarray(v)
                a.plot(self.noise, v[:, 0], "o-", label=m, ms=3)
                a.fill_between(self.noise, v[:, 1], v[:, 2], alpha=0.2)
            a.set_xscale("symlog", linthresh=1e-3)
            a.set_xlabel("perturbation p (x ← √(1 − p²)x + p·ε)")
            a.set_title(st, fontsize=9)
        np.atleast_1d(axs)[0].legend(fontsize=7)
        fig.tight_layout()
        return fig


def attractor_reproduction(*, quick: bool = True, seeds: int | None = None, seed: int = 0,
                           progress: bool = False, config: dict[str, Any] | None = None) -> list[Any]:
    """Lorenz regimes of the authors' configuration: ratio and 1-NN per measure over a perturbation sweep.

    The systems are simulated as in the authors' code (:func:`~repscope.experiments.dynamics.testcases.
    authors_lorenz`): ρ ∈ {0.25, 0.5, 0.75}, {5, 10, 15}, {30, 40, 50}, trajectories scaled into the unit
    interval, perturbation ``x ← √(1 − p²)·x + p·ε``. The sweep holds the authors' levels (0.001, 0.002,
    0.004) and larger ones, to find where each measure breaks down. A seed draws new initial points and
    noise. ``config`` may override ``noise`` (levels p), ``n_per`` (ρ values per regime, ≤ 3),
    ``n_trials`` (trajectories per system), ``n_steps`` and ``dsa`` (DMD hyper-parameters)."""
    from repscope.dynamics import fit_dmd, similarity_transform_distances
    from repscope.dynamics.evaluate import geometry_distance, group_ratio, nn_accuracy, pairwise_matrix
    from repscope.experiments.dynamics.testcases import AUTHORS_LORENZ_RHOS, AUTHORS_PERTURBATIONS, authors_lorenz
    from repscope.experiments.verdict import MIN_SEEDS

    n_seeds = int(seeds if seeds is not None else MIN_SEEDS)
    if n_seeds < 2:
        raise InputError(f"seeds={n_seeds} is too few for a confidence interval; use ≥ 2 (≥ {MIN_SEEDS} for a verdict)")
    authors = sorted(AUTHORS_PERTURBATIONS)  # 0.001, 0.002, 0.004
    cfg: dict[str, Any] = {
        "noise": [0.0, authors[1], 0.02, 0.1, 0.3] if quick else [0.0, *authors, 0.01, 0.03, 0.1, 0.3],
        "n_per": 3, "n_trials": 50 if quick else 200, "n_steps": 200}
    cfg.update(config or {})
    noise, n_per = [float(v) for v in cfg["noise"]], int(cfg["n_per"])
    if not noise or noise[0] != 0.0:
        raise InputError(f"noise={noise}: the sweep must start at 0 (its first level is the noise-free case the "
                         f"regime-separation claims are read at)")
    if not 1 <= n_per <= 3:
        raise InputError(f"n_per={n_per}: the authors' configuration has 3 ρ values per regime; use 1–3")
    # the authors' delay interval (6, config.yaml); 10 delays and rank 10 instead of their 33 and 50, which
    # leave 8 delay windows per 200-step trajectory and cost 125× more per alignment. A second DSA with
    # delay interval 1 shows how much the choice matters under perturbation.
    hp = dict(cfg.get("dsa") or {"n_delays": 10, "delay_interval": 6, "rank": 10})
    dsa_hps = {"DSA": hp, "DSA (delay interval 1)": dict(hp, delay_interval=1)}
    t0 = time.perf_counter()
    measures = (*dsa_hps, "Procrustes", "1 − CKA")
    ratio = {m: np.zeros((n_seeds, len(noise))) for m in measures}
    nn = {m: np.zeros((n_seeds, len(noise))) for m in measures}
    rhos = [(g, r) for g, regime in enumerate(AUTHORS_LORENZ_RHOS) for r in regime[:n_per]]
    groups = [str(g) for g, _ in rhos]
    jobs: list[tuple] = []
    with progress_steps(n_seeds * len(noise), "Lorenz noise sweep", progress) as advance:
        for k in range(n_seeds):
            for j, sig in enumerate(noise):
                # one seed: the same initial points and the same ε at every level (only p changes: paired)
                systems = [authors_lorenz(r, n_samples=int(cfg["n_trials"]), n_steps=int(cfg["n_steps"]),
                                          perturbation=sig, seed=seed * 7 + 100 * k + i)
                           for i, (_, r) in enumerate(rhos)]
                n = len(systems)
                iu = [(a, b) for a in range(n) for b in range(a + 1, n)]
                for m, h in dsa_hps.items():
                    fits = [fit_dmd(S, **h).A_ for S in systems]
                    jobs.append((m, k, j, iu, [(fits[a], fits[b]) for a, b in iu]))
                for m, Dm in (("Procrustes", pairwise_matrix(geometry_distance("procrustes"), systems)),
                              ("1 − CKA", pairwise_matrix(geometry_distance("cka"), systems))):
                    ratio[m][k, j] = group_ratio(Dm, groups)
                    nn[m][k, j] = nn_accuracy(Dm, groups)
                advance()
    # all DSA optimisations of the sweep in one batch
    with warnings.catch_warnings():  # reported in the table's findings instead
        warnings.simplefilter("ignore")
        infos = similarity_transform_distances([p for job in jobs for p in job[4]], seed=seed)
    n_unc = sum(not i.converged for i in infos)
    pos = 0
    for m, k, j, iu, ops in jobs:
        n = len(groups)
        Dd = np.zeros((n, n))
        for (a, b), inf in zip(iu, infos[pos : pos + len(ops)]):
            Dd[a, b] = Dd[b, a] = inf.distance
        pos += len(ops)
        ratio[m][k, j] = group_ratio(Dd, groups)
        nn[m][k, j] = nn_accuracy(Dd, groups)
    stats = {st: {m: [bootstrap_ci(arr[m][:, j], seed=seed) for j in range(len(noise))] for m in measures}
             for st, arr in (("between/within ratio", ratio), ("1-NN accuracy", nn))}
    sweep = NoiseSweep(noise, stats)
    j0 = 0
    rows = [
        claim("Lorenz regimes: DSA separates regimes more than Procrustes (noise-free)",
              "Guilhot Test 1: ratio DSA 2.2, Procrustes 1.2, CKA 1.1", "log ratio_DSA − log ratio_Procrustes",
              np.log(ratio["DSA"][:, j0]), baseline=np.log(ratio["Procrustes"][:, j0]), control_label="Procrustes",
              seed=seed,
              note=f"ours: DSA {ratio['DSA'][:, j0].mean():.2f}, Procrustes {ratio['Procrustes'][:, j0].mean():.2f}, "
                   f"CKA {ratio['1 − CKA'][:, j0].mean():.2f}"),
        claim("Lorenz regimes: DSA separates regimes more than CKA (noise-free)", "ratio DSA 2.2 vs CKA 1.1",
              "log ratio_DSA − log ratio_CKA", np.log(ratio["DSA"][:, j0]),
              baseline=np.log(ratio["1 − CKA"][:, j0]), control_label="1 − CKA", seed=seed),
        claim("DSA is more noise-robust than Procrustes", "DSA keeps separating regimes as noise grows",
              "mean 1-NN accuracy over the noise sweep, DSA − Procrustes", nn["DSA"].mean(1),
              baseline=nn["Procrustes"].mean(1), control_label="Procrustes", seed=seed,
              note=f"perturbation levels p = {noise} (x ← √(1 − p²)·x + p·ε on unit-interval trajectories); "
                   f"the authors' levels are {authors}"),
        claim("DSA is more noise-robust than CKA", "as above", "mean 1-NN accuracy over the sweep, DSA − CKA",
              nn["DSA"].mean(1), baseline=nn["1 − CKA"].mean(1), control_label="1 − CKA", seed=seed),
    ]
    table = ReproductionTable(
        "Ostrow et al. 2023 / Guilhot et al. 2024 (Lorenz attractor regimes)", "attractors", rows,
        setup={"ρ regimes": [list(r[:n_per]) for r in AUTHORS_LORENZ_RHOS], "seeds": n_seeds,
               "perturbation levels p": noise, "DSA": hp, "config": dict(cfg), "mode": "quick" if quick else "full",
               "trajectories": f"{cfg['n_trials']} × {cfg['n_steps']} forward-Euler steps of dt 0.01 from U[0, 1)³, "
                               f"scaled into [0, 1] (authors' simulation, qglht/RepAL)"},
        extra={"ratio": ratio, "nn": nn, "dsa_optimisation": {"fits": len(infos), "unconverged": n_unc}},
        seconds=time.perf_counter() - t0, figures=[sweep],
        command=f"repscope dynamics reproduce{' --quick' if quick else ''} --seeds {n_seeds}",
        findings=[_interval_finding(noise, nn, hp)] + ([
            f"DSA optimisation: {n_unc} of {len(infos)} orthogonal-alignment fits are not certified (best value not "
            f"reached by enough independent random starts within the budget): those distances are upper bounds."]
            if n_unc else []))
    return [table, sweep]


def _interval_finding(noise: list[float], nn: dict[str, np.ndarray], hp: dict[str, int]) -> str:
    """One line: DSA's 1-NN accuracy at each perturbation level, at the chosen and at a 1-step delay interval."""
    def fmt(m: str) -> str:
        return ", ".join(f"{v:.2f}" for v in nn[m].mean(0))

    return (f"DSA depends on the delay interval under perturbation: mean 1-NN accuracy at p = {noise} is "
            f"[{fmt('DSA')}] with interval {hp['delay_interval']} and [{fmt('DSA (delay interval 1)')}] with "
            f"interval 1 (Procrustes [{fmt('Procrustes')}], CKA [{fmt('1 − CKA')}]). At dt = 0.01 one step moves a "
            f"trajectory little, so a 1-step delay embedding fits the perturbation rather than the flow.")


#: The parts of the dynamics reproduction, in their order.
PARTS = ("guilhot", "attractors")


def reproduce(*, quick: bool = True, seeds: int | None = None, seed: int = 0, progress: bool = False,
              config: dict[str, Any] | None = None, attractor_config: dict[str, Any] | None = None,
              parts: Sequence[str] = PARTS) -> list[Any]:
    """Both dynamics reproductions: ``[Guilhot table, attractor table, figures …]``; ``parts`` runs only some
    (``("attractors",)``: the Lorenz regimes alone — minutes, where the full Guilhot design takes hours)."""
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise InputError(f"parts={list(parts)}: choose among {', '.join(PARTS)}")
    g = guilhot_reproduction(quick=quick, seeds=seeds, seed=seed, config=config, progress=progress) \
        if "guilhot" in parts else []
    a = attractor_reproduction(quick=quick, seeds=seeds, seed=seed, progress=progress, config=attractor_config) \
        if "attractors" in parts else []
    return [*g[:1], *a[:1], *g[1:], *a[1:]]
