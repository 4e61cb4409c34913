"""Dynamics section of the demo report: a small attractor benchmark and DSA vs Procrustes/CKA matrices.

The dynamics lens needs trajectories, not the digits store, so the store is ignored. Budget ≈ 10–30 s.
"""

from __future__ import annotations

import pathlib
import time
from typing import Any, TypedDict

from repscope.dynamics._dsa import dsa_matrix, fit_systems
from repscope.dynamics.evaluate import geometry_distance, group_ratio, nn_accuracy, pairwise_matrix
from repscope.dynamics.results import DistanceMatrixResult, TableResult
from repscope.experiments.dynamics import testcases as tc

__all__ = ["demo_results"]


class _DMDSize(TypedDict):
    n_delays: int
    rank: int


def demo_results(store: Any, *, out_dir: pathlib.Path, seed: int = 0, progress: bool = False) -> list:
    """Attractor test case (ring / line / point / limit cycle, 3 instances each, plus a learning proxy):
    a table of between/within ratios, 1-NN accuracy and learning correlation per metric, and the four
    distance matrices. ``store`` and ``out_dir`` are unused."""
    from repscope.dynamics.evaluate import learning_correlation
    from repscope.parallel import torch_threads

    t0 = time.perf_counter()
    ss = tc.attractors(n_per_kind=3, seed=seed)
    kw: _DMDSize = {"n_delays": 10, "rank": 4}
    lp = tc.learning_proxy(n_checkpoints=8, seed=seed)
    lp_accuracy, lp_reference = lp.learning()
    kw_lp: _DMDSize = {"n_delays": 2, "rank": 8}
    rows, mats = [], []
    with torch_threads(1):
        dm = fit_systems(ss.systems, **kw)
        dm_lp = fit_systems(lp.systems, **kw_lp)
        dm_ref = fit_systems([lp_reference], **kw_lp)
        for metric in ("dsa_angular", "dsa_wasserstein", "procrustes", "cka"):
            t1 = time.perf_counter()
            if metric.startswith("dsa_"):
                R = dsa_matrix(dm, names=ss.names, groups=ss.groups, metric=metric[4:], seed=seed, **kw)
                D, G, NA, CV = R.distances, R.grad_norm, R.n_agree, R.converged
                d_lp = dsa_matrix(dm_lp, dm_ref, metric=metric[4:], seed=seed, **kw_lp).distances[:, 0]
            else:
                D, G, NA, CV = pairwise_matrix(geometry_distance(metric), ss.systems), None, None, None
                d_lp = pairwise_matrix(geometry_distance(metric), lp.systems, [lp_reference])[:, 0]
            secs = time.perf_counter() - t1
            rows.append(
                [
                    metric,
                    group_ratio(D, ss.groups),
                    nn_accuracy(D, ss.groups),
                    learning_correlation(d_lp, lp_accuracy),
                    secs,
                ]
            )
            mats.append(
                DistanceMatrixResult(
                    distances=D,
                    names=ss.names,
                    names_other=ss.names,
                    metric=metric,
                    groups=ss.groups,
                    grad_norm=G,
                    n_agree=NA,
                    converged=CV,
                    seconds=secs,
                    label=f"Attractors: {metric}",
                )
            )
    note = (
        "Ring, line and point attractors and limit cycles (3 jittered instances each, randomly embedded "
        "in 8-D "
        "with noise). ratio = mean between-type / within-type distance; 1-NN = leave-one-out type accuracy; "
        "learn ρ = Spearman correlation of a learner's distance to its target with a learning proxy, under a "
        "spurious random change of geometry per checkpoint (ideal −1). "
        "DSA: n_delays=10, rank=4 (attractors); "
        f"2, 8 (learning). Total {time.perf_counter() - t0:.1f} s."
    )
    table = TableResult(
        ["metric", "ratio", "1-NN", "learn ρ", "seconds"],
        rows,
        name="Dynamics: DSA vs geometry on attractors",
        note=note,
        extra={"groups": ss.groups, "names": ss.names},
    )
    return [table, *mats]
