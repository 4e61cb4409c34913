"""Speed and agreement of repscope.topology against the reference libraries.

    python3 -m venv /tmp/bench-topology
    /tmp/bench-topology/bin/pip install -r benchmarks/requirements-topology.txt
    OMP_NUM_THREADS=1 PYTHONPATH=src /tmp/bench-topology/bin/python benchmarks/topology.py [--quick]

Rows (min wall time of ``--repeats`` runs, default 3, single thread, one process):
- Rips persistence H0+H1 at n = 500, 1000, 2000, 256-d Gaussian clouds:
  repscope.topology.persistence vs ripser and vs gudhi's RipsPersistence (the engine repscope calls, so
  its row is the wrapper's overhead). The diagrams are asserted equal (script exits 1 otherwise):
  repscope vs gudhi to 1e-9 (sorted finite points, same count of infinite bars); ripser works on float32
  distances, so its diagrams are compared with repscope's rounded to float32 (to 1e-9 as well).
- sliced Wasserstein (M = 50): repscope (vectorised) vs persim, on the same H1 diagrams (agreement =
  relative difference of the two values).
- mapper (lens L2 norm, 10 intervals, 50% overlap, DBSCAN min_samples = 5, same ε): repscope vs
  KeplerMapper and gudhi's MapperComplex, on 1000 digits (64-d pixels); node/edge counts listed
  (the libraries place their intervals slightly differently, so counts need not be equal).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def timed(f: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """(min wall time over ``repeats`` calls, last result)."""
    ts, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t0)
    return min(ts), out


def timed_ab(fs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple[float, Any]]:
    """Interleaved rounds (A B C A B C …): min wall time and last result of each callable."""
    ts: dict[str, list[float]] = {k: [] for k in fs}
    out: dict[str, Any] = {}
    for _ in range(repeats):
        for k, f in fs.items():
            t0 = time.perf_counter()
            out[k] = f()
            ts[k].append(time.perf_counter() - t0)
    return {k: (min(ts[k]), out[k]) for k in fs}


def _max_diag_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |difference| between two diagrams as sorted point lists (inf if the point counts or the
    numbers of infinite bars differ)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 2), np.asarray(b, np.float64).reshape(-1, 2)
    a, b = a[a[:, 1] > a[:, 0]], b[b[:, 1] > b[:, 0]]  # drop zero-length bars (ripser/gudhi keep a few)
    fa, fb = np.isfinite(a).all(1), np.isfinite(b).all(1)
    if fa.sum() != fb.sum() or (~fa).sum() != (~fb).sum():
        return float("inf")
    a, b = a[fa], b[fb]
    if not len(a):
        return 0.0
    a, b = a[np.lexsort((a[:, 1], a[:, 0]))], b[np.lexsort((b[:, 1], b[:, 0]))]
    return float(np.abs(a - b).max())


def _gudhi_rips(X: np.ndarray) -> list[np.ndarray]:
    from gudhi.sklearn.rips_persistence import RipsPersistence

    return RipsPersistence(homology_dimensions=[0, 1], homology_coeff_field=2).fit_transform([X])[0]


def bench_persistence(sizes: list[int], repeats: int, rows: list[dict], failures: list[str]) -> dict[int, Any]:
    import ripser

    from repscope.topology import persistence

    dgms = {}
    for n in sizes:
        X = np.random.default_rng(n).standard_normal((n, 256))
        res = timed_ab({"ours": lambda X=X: persistence(X, maxdim=1),
                        "ripser": lambda X=X: ripser.ripser(X, maxdim=1)["dgms"],
                        "gudhi": lambda X=X: _gudhi_rips(X)}, repeats)
        (t_ours, d), (t_rip, r), (t_gd, g) = res["ours"], res["ripser"], res["gudhi"]
        ours = [np.asarray(d.dgms[k]) for k in (0, 1)]
        diff_gd = max(_max_diag_diff(ours[k], g[k]) for k in (0, 1))
        ours32 = [o.astype(np.float32).astype(np.float64) for o in ours]
        diff_rip = max(_max_diag_diff(ours32[k], r[k]) for k in (0, 1))
        counts = f"H0 {len(ours[0])}, H1 {len(ours[1])} points"
        for ref, t_ref, diff in (("ripser", t_rip, diff_rip), ("gudhi RipsPersistence", t_gd, diff_gd)):
            ok = diff <= 1e-9
            if not ok:
                failures.append(f"Rips n={n}: diagrams differ from {ref} (max |Δ| {diff:.1e})")
            rows.append({"task": f"Rips H0+H1, n={n}, d=256", "ours": t_ours, "reference": ref, "ref": t_ref,
                         "agreement": f"{'equal' if ok else 'DIFFER'}: max |Δ| {diff:.1e}"
                                      f"{' (float32)' if ref == 'ripser' else ''}; {counts}"})
        dgms[n] = (d, r)
    return dgms


def bench_sliced_wasserstein(dgms: dict[int, Any], repeats: int, rows: list[dict]) -> None:
    from persim import sliced_wasserstein as persim_sw

    from repscope.topology import sliced_wasserstein

    keys = sorted(dgms)
    for n in keys:
        a = dgms[n][0].finite(1)
        b = dgms[keys[0]][0].finite(1) if n != keys[0] else dgms[n][0].finite(0)
        res = timed_ab({"ours": lambda a=a, b=b: sliced_wasserstein(a, b, M=50),
                        "persim": lambda a=a, b=b: persim_sw(a, b, M=50)}, repeats)
        (t_ours, v1), (t_ref, v2) = res["ours"], res["persim"]
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
    ap.add_argument("--quick", action="store_true", help="skip the mapper rows")
    ap.add_argument("--json", type=str, default=None, help="also write the rows to this JSON file")
    args = ap.parse_args()
    load = os.getloadavg()
    loaded = load[0] > 2.5
    print(f"load average at start: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores"
          + (" — timings taken on a LOADED machine (absolute times inflated, ratios noisy)" if loaded else ""))
    rows: list[dict] = []
    failures: list[str] = []
    dgms = bench_persistence([500, 1000, 2000], args.repeats, rows, failures)
    bench_sliced_wasserstein(dgms, args.repeats, rows)
    if not args.quick:
        bench_mapper(args.repeats, rows)
    w = max(len(r["task"]) for r in rows)
    print(f"{'task':<{w}}  {'ours [s]':>9}  {'reference':<20} {'ref [s]':>9}  {'ref/ours':>8}  agreement")
    for r in rows:
        print(
            f"{r['task']:<{w}}  {r['ours']:9.4f}  {r['reference']:<20} {r['ref']:9.4f}  "
            f"{r['ref'] / r['ours']:8.1f}  {r['agreement']}"
        )
    print(f"(min of {args.repeats} interleaved runs each; load average at the end: {os.getloadavg()[0]:.1f})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    if failures:
        print("FAILED: " + "; ".join(failures))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
