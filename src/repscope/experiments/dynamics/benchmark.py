"""The dynamics benchmark: DSA vs geometry baselines on the test cases (``repscope dynamics benchmark``).

For every case and metric — DSA angular, DSA eigenvalue-Wasserstein, angular Procrustes, 1 − linear CKA —
the table reports:

- ``ratio``: mean between-group / mean within-group distance (> 1 separates the groups; Guilhot et al. 2024
  report 2.2 for DSA, 1.2 Procrustes, 1.1 CKA on their Lorenz case);
- ``1-NN``: leave-one-out nearest-neighbour accuracy of the group labels;
- ``rot floor``: mean distance between a system and the same system observed through a random orthogonal
  map (exact answer 0 for every metric here);
- ``noise floor``: mean distance between a system and itself with fresh observation noise (5 %);
- ``learn ρ``: for learning cases, Spearman correlation between a checkpoint's distance to the reference
  (target / final network) and its accuracy (more negative = tracks learning better).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from repscope.dynamics._dsa import dsa_matrix, fit_systems
from repscope.dynamics.evaluate import (
    geometry_distance,
    group_ratio,
    learning_correlation,
    nn_accuracy,
    pairwise_matrix,
)
from repscope.dynamics.results import DistanceMatrixResult, TableResult
from repscope.experiments.dynamics import testcases as tc

__all__ = ["METRICS", "run_benchmark", "BenchmarkOutput", "case_matrices"]

METRICS = ("dsa_angular", "dsa_wasserstein", "procrustes", "cka")
HEADER = ["case", "metric", "ratio", "1-NN", "rot floor", "noise floor", "learn ρ", "seconds"]


@dataclass
class BenchmarkOutput:
    table: TableResult
    matrices: list[DistanceMatrixResult] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def results(self) -> list:
        return [self.table, *self.matrices]


def _metric_matrix(metric: str, systems, others=None, *, dsa_kw: dict, seed: int, dmds=None, dmds_o=None):
    """Distance matrix for one metric (DMD fits may be passed in to reuse them)."""
    if metric.startswith("dsa_"):
        score = metric[4:]
        R = dsa_matrix(
            dmds if dmds is not None else systems,
            None if others is None else (dmds_o if dmds_o is not None else others),
            metric=score,
            seed=seed,
            **dsa_kw,
        )
        return R.distances, R
    return pairwise_matrix(geometry_distance(metric), systems, others), None


def case_matrices(ss: tc.SystemSet, dsa_kw: dict, *, seed: int = 0, metrics=METRICS) -> dict[str, np.ndarray]:
    """All-pairs distance matrices of one grouping case, per metric."""
    dm = fit_systems(ss.systems, **dsa_kw)
    out = {}
    for m in metrics:
        out[m], _ = _metric_matrix(m, ss.systems, dsa_kw=dsa_kw, seed=seed, dmds=dm)
    return out


def _floors(ss: tc.SystemSet, dsa_kw: dict, metric: str, seed: int, n: int = 4) -> tuple[float, float]:
    idx = np.linspace(0, len(ss.systems) - 1, min(n, len(ss.systems))).round().astype(int)
    base = [ss.systems[i] for i in idx]
    rot = [tc.rotated_copy(x, seed=seed + 17 + k) for k, x in enumerate(base)]
    noisy = [tc.noisy_copy(x, 0.05, seed=seed + 31 + k) for k, x in enumerate(base)]
    vals = []
    for other in (rot, noisy):
        if metric.startswith("dsa_"):
            dx = fit_systems(base, **dsa_kw)
            do = fit_systems(other, **dsa_kw)
            D = np.array(
                [
                    dsa_matrix([a], [b], metric=metric[4:], seed=seed, **dsa_kw).distances[0, 0]
                    for a, b in zip(dx, do)
                ]
            )
        else:
            f = geometry_distance(metric)
            D = np.array([f(a, b) for a, b in zip(base, other)])
        vals.append(float(np.mean(D)))
    return vals[0], vals[1]


def _grouping_rows(
    label: str, ss: tc.SystemSet, dsa_kw: dict, seed: int, matrices: list, details: dict, floors: bool = True
) -> list[list[Any]]:
    rows = []
    dm = fit_systems(ss.systems, **dsa_kw)
    details[label] = {"groups": ss.groups, "names": ss.names, "dsa_kw": dsa_kw}
    for m in METRICS:
        t0 = time.perf_counter()
        D, R = _metric_matrix(m, ss.systems, dsa_kw=dsa_kw, seed=seed, dmds=dm)
        secs = time.perf_counter() - t0
        rf, nf = _floors(ss, dsa_kw, m, seed) if floors else (float("nan"), float("nan"))
        rows.append(
            [label, m, group_ratio(D, ss.groups), nn_accuracy(D, ss.groups), rf, nf, float("nan"), secs]
        )
        matrices.append(
            DistanceMatrixResult(
                distances=D,
                names=ss.names,
                names_other=ss.names,
                metric=m,
                groups=ss.groups,
                label=f"{label}: {m}",
                seconds=secs,
                grad_norm=None if R is None else R.grad_norm,
                n_agree=None if R is None else R.n_agree,
                converged=None if R is None else R.converged,
            )
        )
        details[label][m] = {"distances": D}
    return rows


def _learning_rows(
    label: str,
    runs: list[tuple[list[np.ndarray], np.ndarray, np.ndarray]],
    dsa_kw: dict,
    seed: int,
    details: dict,
) -> list[list[Any]]:
    """runs: (checkpoint systems, accuracies, reference system) per run; mean Spearman ρ over runs."""
    rows = []
    for m in METRICS:
        t0 = time.perf_counter()
        rhos = []
        for systems, acc, ref in runs:
            if m.startswith("dsa_"):
                D = dsa_matrix(list(systems), [ref], metric=m[4:], seed=seed, **dsa_kw).distances[:, 0]
            else:
                D = pairwise_matrix(geometry_distance(m), list(systems), [ref])[:, 0]
            rhos.append(learning_correlation(D, acc))
        rho = float(np.nanmean(rhos)) if np.isfinite(rhos).any() else float("nan")
        rows.append(
            [label, m, float("nan"), float("nan"), float("nan"), float("nan"), rho, time.perf_counter() - t0]
        )
        details.setdefault(label, {})[m] = {"rho_per_run": rhos}
    return rows


def run_benchmark(
    *,
    quick: bool = True,
    seed: int = 0,
    cases: tuple[str, ...] | list[str] | None = None,
    progress: bool = False,
    log=None,
) -> BenchmarkOutput:
    """Run the dynamics benchmark. ``quick`` (default) uses fewer instances and seeds (≈1–3 min on 2 CPUs);
    ``quick=False`` is the full setting (≤ 10 min). ``cases`` selects among ``attractors``, ``lorenz``,
    ``motifs``, ``noise_sweep``, ``learning_proxy``, ``rnn``, ``gru``, ``ssm``."""
    import torch

    from repscope.parallel import torch_threads

    all_cases = ("attractors", "lorenz", "motifs", "noise_sweep", "learning_proxy", "rnn", "gru", "ssm")
    cases = all_cases if cases is None else tuple(cases)
    unknown = [c for c in cases if c not in all_cases]
    if unknown:
        from repscope.errors import InputError

        raise InputError(f"unknown benchmark case(s) {unknown}; choose from {all_cases}")
    n_per = 3 if quick else 5
    n_seeds = 1 if quick else 2
    rows: list[list[Any]] = []
    matrices: list[DistanceMatrixResult] = []
    details: dict[str, Any] = {}
    say = log or (lambda msg: None)
    t_all = time.perf_counter()
    kw_attr = dict(n_delays=10, rank=4)
    with torch_threads(1):
        if "attractors" in cases:
            say("attractors")
            rows += _grouping_rows(
                "attractors", tc.attractors(n_per_kind=n_per, seed=seed), kw_attr, seed, matrices, details
            )
        if "lorenz" in cases:
            say("lorenz")
            rows += _grouping_rows(
                "lorenz",
                tc.lorenz_regimes(n_per_regime=n_per, seed=seed),
                dict(n_delays=10, rank=10),
                seed,
                matrices,
                details,
            )
        if "motifs" in cases:
            say("motifs")
            rows += _grouping_rows(
                "motifs",
                tc.motif_sequences(n_per_set=n_per, seed=seed),
                dict(n_delays=3, rank=6),
                seed,
                matrices,
                details,
            )
        if "noise_sweep" in cases:
            for noise in (0.1, 0.3) if quick else (0.1, 0.3, 0.6):
                say(f"noise sweep {noise}")
                ss = tc.attractors(n_per_kind=n_per, obs_noise=noise, seed=seed + 1)
                rows += _grouping_rows(
                    f"attractors σ={noise:g}", ss, kw_attr, seed, [], details, floors=False
                )
        if "learning_proxy" in cases:
            say("learning proxy")
            runs = []
            for s in range(n_seeds + 1):
                ss = tc.learning_proxy(seed=seed + s)
                runs.append((ss.systems, *ss.learning()))
            rows += _learning_rows("learning proxy", runs, dict(n_delays=2, rank=8), seed, details)
        for arch in ("rnn", "gru", "ssm"):
            if arch not in cases:
                continue
            say(f"training {arch}")
            trained = []
            for regime in ("direct", "pretrain_free", "pretrain_frozen"):
                for s in range(n_seeds + 1):
                    torch.manual_seed(seed + s)
                    from repscope.experiments.dynamics.models import train_run

                    trained.append(train_run(arch, regime=regime, seed=seed + s, steps=120 if quick else 200))
            kw_net = dict(n_delays=2, rank=10)
            ss = tc.SystemSet(
                f"{arch} regimes",
                [r.final_hidden for r in trained],
                [f"{r.regime}-{r.seed}" for r in trained],
                [r.regime for r in trained],
            )
            rows += _grouping_rows(f"{arch}: regime", ss, kw_net, seed, matrices, details, floors=False)
            runs = [(r.hidden, np.asarray(r.accuracy), r.final_hidden) for r in trained]
            rows += _learning_rows(f"{arch}: learning", runs, kw_net, seed, details)
            details[f"{arch}: accuracy"] = {f"{r.regime}-{r.seed}": r.accuracy for r in trained}
    note = (
        f"ratio = mean between-group / within-group distance (higher separates better); 1-NN = leave-one-out "
        f"group accuracy; floors = distance to the same system rotated / re-noised (ideal 0); "
        f"learn ρ = Spearman "
        f"correlation of distance-to-reference with accuracy over checkpoints (ideal −1). "
        f"{'quick' if quick else 'full'} setting, seed {seed}, {time.perf_counter() - t_all:.0f} s."
    )
    table = TableResult(HEADER, rows, name="Dynamics benchmark: DSA vs Procrustes vs CKA", note=note)
    return BenchmarkOutput(table, matrices, details)
