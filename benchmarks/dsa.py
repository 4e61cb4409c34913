"""Ours vs the reference DSA implementation (PyPI ``dsa-metric``, Ostrow et al. 2023): distances and times.

The reference runs in its own virtual environment (see ``benchmarks/requirements-dsa.txt``)::

    python3 -m venv /tmp/bench-dsa
    /tmp/bench-dsa/bin/pip install torch==2.13.0   # first, exact pin
    /tmp/bench-dsa/bin/pip install -r benchmarks/requirements-dsa.txt
    PYTHONPATH=src /work/venv/bin/python benchmarks/dsa.py --ref-python /tmp/bench-dsa/bin/python

Two comparisons on the same systems (attractor test cases, ``repscope.experiments.dynamics.testcases``):

1. *optimiser only*: both solvers get the identical operator pairs (our float64 DMD ``A_``), so differences
   are due to the orthogonal-similarity optimisation alone. Pairs: each system vs itself observed through a
   random orthogonal map (exact answer ≈ 0), and pairs of different systems.
2. *full pipeline*: each package fits its own DMD from the trajectories (same n_delays/rank) and scores.

Both sides run torch single-threaded (the reference is faster that way on r×r matrices). Timings are
wall-clock on whatever machine runs this; the reference's 10×10 all-pairs time is extrapolated from its
per-pair time unless ``--full`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

WORKER = r"""
import json, sys, time
import numpy as np
import torch
torch.set_num_threads(1)
from DSA import DSA
from DSA.simdist import SimilarityTransformDist

data = np.load(sys.argv[1], allow_pickle=False)
cfg = json.loads(str(data["cfg"]))
out = {"opt": [], "pipe": [], "matrix": None}
As, Bs = data["A"], data["B"]
for A, B in zip(As, Bs):
    sd = SimilarityTransformDist(iters=1500, score_method="angular", lr=5e-3)
    t = time.perf_counter()
    d = float(sd.fit_score(A.astype(np.float32).copy(), B.astype(np.float32).copy()))
    out["opt"].append([d, time.perf_counter() - t])
X, Y = data["X"], data["Y"]
for x, y in zip(X, Y):
    t = time.perf_counter()
    d = DSA(x, y, n_delays=cfg["n_delays"], rank=cfg["rank"], score_method="angular", iters=1500, lr=5e-3)
    d = float(np.asarray(d.fit_score()).ravel()[0])
    out["pipe"].append([d, time.perf_counter() - t])
if cfg["full_matrix"]:
    S = list(data["S"])
    t = time.perf_counter()
    D = DSA(S, n_delays=cfg["n_delays"], rank=cfg["rank"], score_method="angular", iters=1500, lr=5e-3)
    M = np.asarray(D.fit_score())
    out["matrix"] = {"seconds": time.perf_counter() - t, "D": M.tolist()}
json.dump(out, open(sys.argv[2], "w"))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref-python", default="/tmp/bench-dsa/bin/python", help="python of the dsa-metric venv")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--full", action="store_true", help="also time the reference's 10×10 all-pairs matrix")
    ap.add_argument("--json", default=None, help="write all numbers to this JSON file")
    args = ap.parse_args()

    import torch

    from repscope.dynamics import dsa, dsa_matrix, fit_dmd, similarity_transform_distance
    from repscope.experiments.dynamics import testcases as tc

    torch.set_num_threads(1)
    kw = dict(n_delays=10, rank=10)
    kinds = list(tc.ATTRACTOR_KINDS)
    sys_a = [tc.attractor(k, n_trials=15, n_steps=60, seed=args.seed + i) for i, k in enumerate(kinds)]
    sys_r = [tc.rotated_copy(x, seed=args.seed + 100 + i) for i, x in enumerate(sys_a)]
    sys_b = [tc.attractor(k, n_trials=15, n_steps=60, seed=args.seed + 50 + i) for i, k in enumerate(kinds)]
    # pairs: (system, rotated system) and (system, another kind)
    pairs_X = sys_a + sys_a[:3]
    pairs_Y = sys_r + [sys_b[1], sys_b[2], sys_b[3]]
    labels = [f"{k} vs rotated" for k in kinds] + [
        f"{kinds[0]} vs {kinds[1]}",
        f"{kinds[1]} vs {kinds[2]}",
        f"{kinds[2]} vs {kinds[3]}",
    ]
    A = np.stack([fit_dmd(x, **kw).A_ for x in pairs_X])
    B = np.stack([fit_dmd(y, **kw).A_ for y in pairs_Y])
    similarity_transform_distance(A[0], B[0])  # warm-up (imports)
    ours_opt, ours_pipe = [], []
    for a, b in zip(A, B):
        t = time.perf_counter()
        d = similarity_transform_distance(a, b)
        ours_opt.append((d, time.perf_counter() - t))
    for x, y in zip(pairs_X, pairs_Y):
        t = time.perf_counter()
        d = dsa(x, y, **kw)
        ours_pipe.append((d, time.perf_counter() - t))
    S = [tc.attractor(kinds[i % 4], n_trials=15, n_steps=60, seed=args.seed + 200 + i) for i in range(10)]
    t = time.perf_counter()
    M = dsa_matrix(S, **kw)
    ours_matrix_s = time.perf_counter() - t

    ref = None
    if os.path.exists(args.ref_python):
        with tempfile.TemporaryDirectory() as td:
            inp, outp, wk = os.path.join(td, "in.npz"), os.path.join(td, "out.json"), os.path.join(td, "w.py")
            open(wk, "w").write(WORKER)
            cfg = json.dumps({**kw, "full_matrix": bool(args.full)})
            np.savez(
                inp, A=A, B=B, X=np.stack(pairs_X), Y=np.stack(pairs_Y), S=np.stack(S), cfg=np.array(cfg)
            )
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            env.pop("PYTHONPATH", None)
            t = time.perf_counter()
            subprocess.run([args.ref_python, wk, inp, outp], check=True, env=env)
            ref = json.load(open(outp))
            ref["wall"] = time.perf_counter() - t
    else:
        print(f"(reference python {args.ref_python} not found — printing ours only)", file=sys.stderr)

    print(f"DSA angular, n_delays={kw['n_delays']}, rank={kw['rank']}; torch 1 thread; seed {args.seed}\n")
    print("1) optimiser only — identical operator pairs (our DMD), distance in rad and seconds per pair")
    print(f"{'pair':28s} {'ours':>10s} {'ref':>10s} {'ours s':>8s} {'ref s':>8s}")
    rows = []
    for i, lab in enumerate(labels):
        r = ref["opt"][i] if ref else [float("nan")] * 2
        rows.append(
            {"pair": lab, "ours": ours_opt[i][0], "ref": r[0], "ours_s": ours_opt[i][1], "ref_s": r[1]}
        )
        print(f"{lab:28s} {ours_opt[i][0]:10.2e} {r[0]:10.4f} {ours_opt[i][1]:8.3f} {r[1]:8.2f}")
    print("\n2) full pipeline — each package fits its own DMD")
    print(f"{'pair':28s} {'ours':>10s} {'ref':>10s} {'ours s':>8s} {'ref s':>8s}")
    rows2 = []
    for i, lab in enumerate(labels):
        r = ref["pipe"][i] if ref else [float("nan")] * 2
        rows2.append(
            {"pair": lab, "ours": ours_pipe[i][0], "ref": r[0], "ours_s": ours_pipe[i][1], "ref_s": r[1]}
        )
        print(f"{lab:28s} {ours_pipe[i][0]:10.2e} {r[0]:10.4f} {ours_pipe[i][1]:8.3f} {r[1]:8.2f}")
    print(f"\n3) 10×10 all-pairs matrix (45 pairs): ours {ours_matrix_s:.2f} s", end="")
    ref_matrix = None
    if ref and ref["matrix"]:
        ref_matrix = ref["matrix"]["seconds"]
        print(f"; reference {ref_matrix:.1f} s (measured)")
    elif ref:
        per = float(np.mean([p[1] for p in ref["pipe"]]))
        ref_matrix = 45 * per
        print(f"; reference ≈ {ref_matrix:.0f} s (45 × its mean per-pair time {per:.1f} s, extrapolated)")
    else:
        print()
    if ref:
        worse = [r for r in rows if r["ours"] > r["ref"] + 1e-6]
        print(f"\nours > reference on {len(worse)} of {len(rows)} identical operator pairs")
        print(
            f"max ours on rotated pairs: {max(r['ours'] for r in rows[:4]):.2e} rad; "
            f"reference: {min(r['ref'] for r in rows[:4]):.3f}–{max(r['ref'] for r in rows[:4]):.3f} rad"
        )
    if args.json:
        json.dump(
            {
                "optimiser": rows,
                "pipeline": rows2,
                "matrix_ours_s": ours_matrix_s,
                "matrix_ref_s": ref_matrix,
                "matrix_ours": M.distances.tolist(),
            },
            open(args.json, "w"),
            indent=2,
        )


if __name__ == "__main__":
    main()
