"""Speed and agreement of repscope.topology against the reference libraries.

    python3 -m venv /tmp/bench-topology
    /tmp/bench-topology/bin/pip install -r benchmarks/requirements-topology.txt
    OMP_NUM_THREADS=1 PYTHONPATH=src /tmp/bench-topology/bin/python benchmarks/topology.py [--quick]

Rows (median wall time of ``--repeats`` runs, default 3, single thread):
- Rips persistence H0+H1: repscope (gudhi RipsPersistence, Z/2) vs ripser, 256-d Gaussian clouds;
  agreement = largest |difference| between sorted finite diagram values.
- sliced Wasserstein (M = 50): repscope (vectorised) vs persim, on the H1 diagrams from above.
- mapper (lens L2 norm, 10 intervals, 50% overlap, DBSCAN min_samples = 5, same ε): repscope vs
  KeplerMapper and gudhi's MapperComplex, on 1000 digits (64-d pixels); node/edge counts listed
  (the libraries place their intervals slightly differently, so counts need not be equal).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def timed(f: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    ts, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), out


def _max_diag_diff(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a[np.isfinite(a).all(1)], b[np.isfinite(b).all(1)]
    if a.shape != b.shape:
        return float("inf")
    return float(np.abs(np.sort(a, axis=0) - np.sort(b, axis=0)).max()) if len(a) else 0.0


def bench_persistence(sizes: list[int], repeats: int, rows: list[dict]) -> dict[int, Any]:
    import ripser

    from repscope.topology import persistence

    dgms = {}
    for n in sizes:
        X = np.random.default_rng(n).standard_normal((n, 256))
        t_ours, d = timed(lambda X=X: persistence(X, maxdim=1), repeats)
        t_ref, r = timed(lambda X=X: ripser.ripser(X, maxdim=1)["dgms"], repeats)
        diff = max(_max_diag_diff(d[0], r[0]), _max_diag_diff(d[1], r[1]))
        rows.append(
            {
                "task": f"Rips H0+H1, n={n}, d=256",
                "ours": t_ours,
                "reference": "ripser",
                "ref": t_ref,
                "agreement": f"max |Δ| {diff:.1e}",
            }
        )
        dgms[n] = (d, r)
    return dgms


def bench_sliced_wasserstein(dgms: dict[int, Any], repeats: int, rows: list[dict]) -> None:
    from persim import sliced_wasserstein as persim_sw

    from repscope.topology import sliced_wasserstein

    keys = sorted(dgms)
    for n in keys:
        a = dgms[n][0].finite(1)
        b = dgms[keys[0]][0].finite(1) if n != keys[0] else dgms[n][0].finite(0)
        t_ours, v1 = timed(lambda a=a, b=b: sliced_wasserstein(a, b, M=50), repeats)
        t_ref, v2 = timed(lambda a=a, b=b: persim_sw(a, b, M=50), repeats)
        rows.append(
            {
                "task": f"sliced Wasserstein M=50, {len(a)} vs {len(b)} points",
                "ours": t_ours,
                "reference": "persim",
                "ref": t_ref,
                "agreement": f"rel |Δ| {abs(v1 - v2) / abs(v2):.1e}",
            }
        )


def bench_mapper(repeats: int, rows: list[dict]) -> None:
    import kmapper
    from gudhi.cover_complex import MapperComplex
    from sklearn.cluster import DBSCAN
    from sklearn.datasets import load_digits

    from repscope.topology import knn_elbow_eps, mapper

    X, y = load_digits(return_X_y=True)
    X, y = X[:1000].astype(float), y[:1000]
    eps = knn_elbow_eps(X, k=5)
    lens = np.linalg.norm(X, axis=1)

    t_ours, g = timed(lambda: mapper(X, y, lens="l2norm", n_intervals=10, overlap=0.5, eps=eps), repeats)

    def km():
        m = kmapper.KeplerMapper(verbose=0)
        return m.map(
            lens[:, None],
            X,
            cover=kmapper.Cover(n_cubes=10, perc_overlap=0.5),
            clusterer=DBSCAN(eps=eps, min_samples=5),
        )

    t_km, gk = timed(km, repeats)
    n_edges_km = sum(len(v) for v in gk["links"].values())

    def gd():
        mc = MapperComplex(
            input_type="point cloud",
            resolutions=[10],
            gains=[0.5],
            clustering=DBSCAN(eps=eps, min_samples=5),
            filter_bnds=np.array([[lens.min(), lens.max()]]),
        )
        mc.fit(X, filters=lens[:, None], colors=y[:, None].astype(float))
        return mc

    desc = f"ours {len(g.nodes)} nodes/{len(g.edges)} edges"
    base = {"task": "mapper, 1000 digits (64-d)", "ours": t_ours}
    rows.append(
        {
            **base,
            "reference": "KeplerMapper",
            "ref": t_km,
            "agreement": f"{desc}; kmapper {len(gk['nodes'])}/{n_edges_km}",
        }
    )
    try:
        t_gd, mc = timed(gd, repeats)
    except Exception as exc:  # gudhi 3.13's MapperComplex.fit fails under numpy 2.x (scalar conversion)
        msg = f"reference failed: {type(exc).__name__}: {exc}"[:90]
        rows.append({**base, "reference": "gudhi MapperComplex", "ref": float("nan"), "agreement": msg})
        return
    st = mc.simplex_tree_
    n_nodes_gd = sum(1 for s, _ in st.get_skeleton(0) if len(s) == 1)
    n_edges_gd = sum(1 for s, _ in st.get_skeleton(1) if len(s) == 2)
    rows.append(
        {
            **base,
            "reference": "gudhi MapperComplex",
            "ref": t_gd,
            "agreement": f"{desc}; gudhi {n_nodes_gd}/{n_edges_gd}",
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="n = 300, 600 only")
    ap.add_argument("--json", type=str, default=None, help="also write the rows to this JSON file")
    args = ap.parse_args()
    rows: list[dict] = []
    sizes = [300, 600] if args.quick else [500, 1000]
    dgms = bench_persistence(sizes, args.repeats, rows)
    bench_sliced_wasserstein(dgms, args.repeats, rows)
    bench_mapper(args.repeats, rows)
    w = max(len(r["task"]) for r in rows)
    print(f"{'task':<{w}}  {'ours [s]':>9}  {'reference':<20} {'ref [s]':>9}  {'ref/ours':>8}  agreement")
    for r in rows:
        print(
            f"{r['task']:<{w}}  {r['ours']:9.4f}  {r['reference']:<20} {r['ref']:9.4f}  "
            f"{r['ref'] / r['ours']:8.1f}  {r['agreement']}"
        )
    print(f"(median of {args.repeats} runs each)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
