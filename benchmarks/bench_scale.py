"""Scale-out benchmarks: Dask scaling of a many-pair job, and out-of-core memory of streamed statistics.

    PYTHONPATH=src python benchmarks/bench_scale.py [--repeats 3] [--quick]
    PYTHONPATH=src python benchmarks/bench_scale.py --n 100000 --d 512 --items 20 --item-n 2000

Every configuration runs in a fresh subprocess (so its peak RSS is its own); rows are medians of
``--repeats`` runs (≥ 3), ratios are against the first row of each table, measured in the same run.

1. *Many-pair job* (``repscope.parallel.map_pairs``): Procrustes distance between every pair of ``--items``
   layers of shape (``--item-n``, ``--item-d``), float64 — the generic path of a layer matrix / checkpoint
   comparison. Runners: serial in-process with 1 BLAS thread (the reference row) and with BLAS on all
   cores (shows what oversubscribing a busy machine costs on small matrices), local process pool (2 processes × 1 BLAS
   thread), Dask LocalCluster with 1 and 2 worker processes (1 task thread each; BLAS threads = cores //
   workers), and the scheduler strings 'processes' / 'local:2' with the runner's automatic serial/parallel
   choice (repscope.parallel.autosched; cluster start counted, as a user pays it). A second table is
   issue 17's small job (6 layers of 1200×64). Cluster start-up and one untimed warm-up call (10% of
   the pairs: imports on the workers) are excluded from the job time of the explicit rows; start-up is
   reported separately. Peak RSS for Dask = client + all workers. The process pool starts its processes
   inside every call (that is how the runner works).
2. *Out-of-core statistics*: two layers of (``--n``, ``--d``) float32 in a zarr activation store;
   centred cross products → linear CKA and Procrustes. In-memory numpy (read both layers, centre in
   float64, GEMMs) vs ``repscope.scale.streamed_cross_products`` (dask.array over the row chunks) on
   Dask's threaded scheduler (1 BLAS thread per thread), its synchronous scheduler (all BLAS threads),
   and a 2-worker LocalCluster; plus ``repscope.metrics.layer_matrices`` (the metrics lens's own
   in-process stream). |Δ| = largest difference of CKA/Procrustes from the in-memory values.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _worker_rss() -> float:  # runs on a Dask worker
    import resource as r

    return r.getrusage(r.RUSAGE_SELF).ru_maxrss / 1024.0


# ------------------------------------------------------------------------------------- children


def _items(cfg):
    rng = np.random.default_rng(0)
    base = rng.standard_normal((cfg["item_n"], 16))
    return [np.tanh(base @ rng.standard_normal((16, cfg["item_d"]))) + 0.3 * rng.standard_normal(
        (cfg["item_n"], cfg["item_d"])) for _ in range(cfg["items"])]


def child_pairs(cfg: dict) -> dict:
    from repscope.metrics import procrustes
    from repscope.parallel import all_pairs, map_pairs
    from repscope.scale import local_cluster

    items = _items(cfg)
    pairs = all_pairs(len(items))
    mode = cfg["mode"]
    client, startup = None, None
    if mode.startswith("dask"):
        t = time.perf_counter()
        client = local_cluster(int(mode.split(":")[1]))
        startup = time.perf_counter() - t
    if mode.startswith("auto-"):  # the scheduler string as a user passes it; the runner's automatic choice
        kw = {"scheduler": mode[5:], "n_workers": 2}
    elif client is not None:
        kw = {"scheduler": client}
    else:
        kw = {"scheduler": "processes", "n_workers": 2} if mode == "processes" else {"scheduler": "serial"}
    if mode == "processes":
        os.environ["REPSCOPE_AUTO_SERIAL"] = "0"  # the pool itself, whatever the job size
    from repscope.parallel import blas_threads, n_cores, torch_threads

    threads = 1 if mode == "serial-1" else n_cores()  # the parent's BLAS threads (workers pin their own)
    times, vals = [], None
    with blas_threads(threads), torch_threads(threads):
        map_pairs(procrustes, items, pairs[: max(1, len(pairs) // 10)], **kw)  # warm-up: imports on workers
        for _ in range(cfg["repeats"]):
            t = time.perf_counter()
            vals = map_pairs(procrustes, items, pairs, **kw)
            times.append(time.perf_counter() - t)
    rss = _rss_mib()
    if client is not None:
        rss += sum(client.run(_worker_rss).values())
        client.close()
    return {"times": times, "rss": rss, "startup": startup, "values": vals, "tasks": len(pairs)}


def child_ooc(cfg: dict) -> dict:
    import repscope as rs
    from repscope.scale import CrossProducts, local_cluster, streamed_cross_products

    store = rs.open_store(cfg["store"])
    base_rss = _rss_mib()
    mode = cfg["mode"]
    client = local_cluster(2) if mode == "dask-local:2" else None
    times, vals = [], None
    for _ in range(cfg["repeats"]):
        t = time.perf_counter()
        if mode == "in-memory":
            cp = CrossProducts.from_arrays({k: store.read(k) for k in ("x", "y")})
        elif mode == "metrics.layer_matrices":
            lms = rs.metrics.layer_matrices(store, metrics=["linear_cka", "procrustes"], layers=["x", "y"])
            vals = [float(lms[0].values[0, 1]), float(lms[1].values[0, 1])]
            cp = None
        else:
            sched = {"dask-threads": None, "dask-serial": "serial", "dask-local:2": client}[mode]
            cp = streamed_cross_products(store, ["x", "y"], scheduler=sched)
        if cp is not None:
            vals = [cp.linear_cka("x", "y"), cp.procrustes("x", "y")]
        del cp
        times.append(time.perf_counter() - t)
    rss = _rss_mib()
    if client is not None:
        rss += sum(client.run(_worker_rss).values())
        client.close()
    return {"times": times, "rss": rss, "base_rss": base_rss, "values": vals}


# ------------------------------------------------------------------------------------- parent


def _run_child(kind: str, cfg: dict) -> dict:
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[1] / "src"))
    out = subprocess.run([sys.executable, __file__, "--child", kind, json.dumps(cfg)], capture_output=True,
                         text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"child {kind} {cfg.get('mode')} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_store(path: Path, n: int, d: int, seed: int = 0) -> None:
    from repscope.store import StoreWriter

    rng = np.random.default_rng(seed)
    W1, W2 = rng.standard_normal((32, d)), rng.standard_normal((32, d))
    w = StoreWriter(path, fingerprint={"bench": "scale", "n": n, "d": d}, n_total=n, dtype="float32")
    for s in range(0, n, 4096):
        b = min(4096, n - s)
        z = rng.standard_normal((b, 32))
        x = np.maximum(z @ W1, 0) + 0.5 * rng.standard_normal((b, d)) + 2.0
        y = np.tanh(z @ W2) + 0.5 * rng.standard_normal((b, d))
        w.append({"x": x.astype(np.float32), "y": y.astype(np.float32)}, ids=np.arange(s, s + b))
    w.finish()


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="n=20000 d=256, 12 items of 1000×64")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--item-n", type=int, default=2000)
    ap.add_argument("--item-d", type=int, default=128)
    ap.add_argument("--skip", choices=["pairs", "ooc"], default=None)
    ap.add_argument("--json", default=None, help="also write every number to this JSON file")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    if "--quick" in (sys.argv[1:] if argv is None else argv):
        ap.set_defaults(n=20_000, d=256, items=12, item_n=1000, item_d=64)
    a = ap.parse_args(argv)
    if a.child:
        kind, cfg = a.child[0], json.loads(a.child[1])
        res = child_pairs(cfg) if kind == "pairs" else child_ooc(cfg)
        print(json.dumps(res))
        return 0
    a.repeats = max(3, a.repeats)
    from repscope.parallel import n_cores

    report: dict = {"cores": n_cores(), "repeats": a.repeats}
    print(f"bench_scale: {n_cores()} cores, median of {a.repeats} runs, each configuration in a fresh process\n")

    if a.skip != "pairs":
        cfg = {"items": a.items, "item_n": a.item_n, "item_d": a.item_d, "repeats": a.repeats}
        modes = [("serial-1", "serial, 1 BLAS thread"), ("serial", f"serial, {n_cores()} BLAS threads"),
                 ("processes", "process pool, 2 workers (forced)"),
                 ("dask:1", "Dask LocalCluster, 1 worker"), ("dask:2", "Dask LocalCluster, 2 workers"),
                 ("auto-processes", "scheduler='processes', automatic serial/parallel choice"),
                 ("auto-local:2", "scheduler='local:2', automatic choice (cluster start included)")]
        res = {m: _run_child("pairs", {**cfg, "mode": m}) for m, _ in modes}
        ref_t = statistics.median(res["serial-1"]["times"])
        ref_v = np.asarray(res["serial-1"]["values"])
        rows = []
        for m, label in modes:
            r = res[m]
            t = statistics.median(r["times"])
            rows.append([label, f"{t:.2f}", f"{ref_t / t:.2f}×", f"{r['rss']:.0f}",
                         "" if r["startup"] is None else f"{r['startup']:.1f}",
                         f"{np.max(np.abs(np.asarray(r['values']) - ref_v)):.1e}"])
        n_pairs = res["serial-1"]["tasks"]
        print(f"### Many-pair job: Procrustes over {n_pairs} pairs of {a.items} layers ({a.item_n}×{a.item_d}, "
              f"float64)\n")
        print(_table(["runner", "job time (s)", "speed-up vs serial 1 thread", "peak RSS (MiB, all processes)",
                      "cluster start (s)", "max |Δ| vs serial"], rows))
        print()
        report["pairs"] = {"config": cfg, "results": res}
        # issue 17's small job (6 layers, n = 1200, d = 64): workers cannot pay for themselves
        small = {"items": 6, "item_n": 1200, "item_d": 64, "repeats": a.repeats}
        sm = [("serial-1", "serial"), ("dask:2", "Dask LocalCluster 2 workers (Client: always used)"),
              ("auto-local:2", "scheduler='local:2', automatic choice")]
        rs_ = {m: _run_child("pairs", {**small, "mode": m}) for m, _ in sm}
        t0 = statistics.median(rs_["serial-1"]["times"])
        print(f"### Small job: Procrustes over {rs_['serial-1']['tasks']} pairs of 6 layers (1200×64)\n")
        print(_table(["runner", "job time (s)", "time / serial"],
                     [[label, f"{statistics.median(rs_[m]['times']):.3f}",
                       f"{statistics.median(rs_[m]['times']) / t0:.2f}"] for m, label in sm]))
        print()
        report["small"] = rs_

    if a.skip != "ooc":
        with tempfile.TemporaryDirectory(prefix="repscope-bench-") as tmp:
            path = Path(tmp) / "acts.zarr"
            t = time.perf_counter()
            make_store(path, a.n, a.d)
            t_store = time.perf_counter() - t
            cfg = {"store": str(path), "repeats": a.repeats}
            modes = [("in-memory", "in-memory numpy (read all, centre, GEMM)"),
                     ("dask-threads", "streamed, dask threads × 1 BLAS thread"),
                     ("dask-serial", "streamed, dask synchronous, all BLAS threads"),
                     ("dask-local:2", "streamed, Dask LocalCluster 2 workers"),
                     ("metrics.layer_matrices", "repscope.metrics.layer_matrices (in-process stream)")]
            res = {m: _run_child("ooc", {**cfg, "mode": m}) for m, _ in modes}
        ref_t = statistics.median(res["in-memory"]["times"])
        ref_v = np.asarray(res["in-memory"]["values"])
        rows = []
        for m, label in modes:
            r = res[m]
            tm = statistics.median(r["times"])
            rows.append([label, f"{tm:.2f}", f"{tm / ref_t:.2f}", f"{r['rss']:.0f}", f"{r['base_rss']:.0f}",
                         f"{np.max(np.abs(np.asarray(r['values']) - ref_v)):.1e}"])
        gib = a.n * a.d * 4 * 2 / 2**30
        print(f"### Out-of-core linear CKA + Procrustes: 2 layers × (n={a.n}, d={a.d}) float32 "
              f"({gib:.2f} GiB raw) in a zarr store (written in {t_store:.1f} s)\n")
        print(_table(["method", "time (s)", "time / in-memory", "peak RSS (MiB)", "RSS after imports (MiB)",
                      "max |Δ| vs in-memory"], rows))
        print(f"\nCKA = {ref_v[0]:.6f}, Procrustes = {ref_v[1]:.6f} rad. Peak RSS of the LocalCluster row = "
              f"client + 2 workers.")
        report["ooc"] = {"n": a.n, "d": a.d, "results": res}
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
