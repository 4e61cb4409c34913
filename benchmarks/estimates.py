"""Similarity at scale: cost and accuracy of ``repscope.metrics.estimate`` (issue 23), one process.

    PYTHONPATH=src python benchmarks/estimates.py                 # n = 10⁴, 10⁵, 10⁶
    PYTHONPATH=src python benchmarks/estimates.py --quick         # n = 10⁴, 10⁵
    PYTHONPATH=src python benchmarks/estimates.py --n 20000,300000 --exact-max 20000

Data: two related non-linear representations of a 4-d latent (X: n×32 linear mix plus noise; Y: n×16,
tanh of another mix plus noise), float64, seeded. For each n and measure the sampled estimate is timed
(the sampled method forced, its sizes from --budget, default 10⁷ pairwise entries; level 0.95, seed 0;
one run, wall clock) with its interval; the
exact value is computed where n ≤ --exact-max (RBF CKA, RSA, k-NN measures: O(n²)) and always for
debiased linear CKA (exact in feature space at any n). "exact s" above --exact-max is the measured
exact time at the largest feasible n scaled by (n/n₀)² and marked "~" (extrapolated, not run).
"ratio" = exact time / estimate time. Treat timings on a shared machine as ±10%.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from repscope.metrics.estimators import estimate

CASES = [  # (measure, options, label): each sampled method, sizes from the budget
    ("rbf_cka", {"method": "rff"}, "rbf_cka"),
    ("rbf_cka", {"debiased": True, "method": "minibatch"}, "rbf_cka debiased"),
    ("debiased_cka", {"method": "minibatch"}, "debiased_cka"),
    ("rsa", {"method": "pairs"}, "rsa (spearman)"),
    ("rsa", {"method": "stimuli"}, "rsa (spearman)"),
    ("mutual_knn", {"method": "queries"}, "mutual_knn k=10"),
    ("cknna", {"method": "queries"}, "cknna k=10"),
]


def make(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, 4))
    X = np.c_[Z, 0.5 * rng.standard_normal((n, 12))] @ rng.standard_normal((16, 32))
    Y = np.tanh(np.c_[Z, 0.5 * rng.standard_normal((n, 6))] @ rng.standard_normal((10, 16)))
    return X, Y


def timed(*args, **kw):
    """(estimate(*args, **kw), wall seconds)."""
    t = time.perf_counter()
    out = estimate(*args, **kw)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", default="10000,100000,1000000", help="comma-separated sample counts")
    ap.add_argument("--quick", action="store_true", help="n = 10⁴, 10⁵ only")
    ap.add_argument("--exact-max", type=int, default=10000, help="largest n at which O(n²) exact values run")
    ap.add_argument("--budget", type=float, default=1e7)
    ap.add_argument("--only", default="", help="comma-separated labels' measures to run (default: all)")
    args = ap.parse_args()
    ns = [10_000, 100_000] if args.quick else [int(float(v)) for v in args.n.split(",")]
    only = {s for s in args.only.split(",") if s}
    estimate(*make(200), "rbf_cka", budget=100)  # warm-up: imports

    print(f"budget {args.budget:.0e} pairwise entries, level 0.95, seed 0; X n×32, Y n×16 float64")
    print()
    head = ["n", "measure", "method", "units", "est s", "estimate", "95% interval", "width", "exact",
            "|err|", "exact s", "ratio"]
    rows: list[list[str]] = []
    exact_time: dict[tuple, tuple[int, float]] = {}
    for n in ns:
        X, Y = make(n)
        for metric, kw, label in CASES:
            if only and metric not in only:
                continue
            r, t = timed(X, Y, metric, budget=args.budget, seed=0, **kw)
            key = (metric, kw.get("debiased", False))
            ex, tex, mark = None, None, ""
            if metric == "debiased_cka" or n <= args.exact_max:
                e, tex = timed(X, Y, metric, method="exact", debiased=key[1])
                ex = e.estimate
                if metric != "debiased_cka":
                    exact_time[key] = (n, tex)
            elif key in exact_time:
                n0, t0 = exact_time[key]
                tex, mark = t0 * (n / n0) ** 2, "~"
            units = {"minibatch": "n_batches", "rff": "n_reps", "pairs": "n_pairs", "stimuli": "subset",
                     "queries": "n_queries"}.get(r.method)
            rows.append([
                f"{n:.0e}", label, r.method + (f" m={r.params['n_features']}" if r.method == "rff" else ""),
                f"{units}={r.params[units]}" if units else "—", f"{t:.2f}", f"{r.estimate:.4f}",
                f"[{r.low:.4f}, {r.high:.4f}]", f"{r.width:.4f}",
                "—" if ex is None else f"{ex:.4f}", "—" if ex is None else f"{abs(r.estimate - ex):.4f}",
                "—" if tex is None else f"{mark}{tex:.1f}", "—" if tex is None else f"{mark}{tex / t:.2g}×",
            ])
            print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    print()
    w = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print("| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(head)) + " |")
    print("|" + "|".join("-" * (x + 2) for x in w) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |")


if __name__ == "__main__":
    main()
