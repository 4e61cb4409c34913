"""Few samples × wide layers: the n×n (gram) formulation of the linear measures against the d×d (covariance)
one, in one process.

    PYTHONPATH=src python benchmarks/wide.py                  # every case, default sizes
    PYTHONPATH=src python benchmarks/wide.py --cases pair --d 2048

Cases:
  pair     one pair of n = --pair-n (62) × d = --d (6144) layers (ReLU maps of a shared low-dimensional
           signal plus noise, float64): linear CKA, Procrustes, SVCCA, CCA through the per-pair functions with
           formulation="covariance" (before: what they did until now) and the default "auto" (after: the n×n
           route here). Before: --before-reps runs (it takes minutes), after: median of --repeats. The
           ratio columns are before / after and after / linear CKA after.
  matrix   layer_matrices over --layers (6) layers of n = --matrix-n (500) × --matrix-d (16384), "auto" (the
           gram route), each measure timed alone (median of --repeats): ratio to linear CKA's time (issue-23
           target ≤ 2 for Procrustes and SVCCA). The covariance route would need the D×D stacked products,
           D = Σd (here 98 304²·8 B = 77 GB): its cost-model estimate is printed instead.
  report   the similarity section of `repscope report` (metrics.analyse, default measures) on a store of
           --report-n (62) images captured from a residual CNN (3×32×32 input; the 6-channel stem and residual
           block (--report-channels, 6) at full resolution — 6144 features each, pool "none" — then global
           pool and head), with
           formulation="covariance" (before) and "auto" (after), one run each.
The machine running this may be shared; treat differences below ~10% as noise.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from _timing import median_time
from repscope import metrics as M
from repscope.metrics import gram


def med_time(fn, repeats):
    return median_time(fn, max(1, repeats))


def wide_layers(n, d, L, seed=0):
    """ReLU maps of a shared 16-dimensional signal, each with its own mixing and noise (full rank n − 1)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 16))
    return {f"layer{i}": np.maximum(z @ rng.standard_normal((16, d)) + 0.5 * rng.standard_normal((n, d)), 0.0)
            for i in range(L)}


def case_pair(args):
    X, Y = wide_layers(args.pair_n, args.d, 2).values()
    M.similarity(X[:, :64], Y[:, :64], "procrustes")  # warm-up: imports
    print(f"## one pair, n = {args.pair_n}, d = {args.d} (float64); before = formulation='covariance', "
          f"after = 'auto' (→ {gram.choose_pair(args.pair_n, args.d, args.d)})")
    print(f"{'measure':<12} {'before (s)':>11} {'after (s)':>10} {'before/after':>13} {'after/CKA':>10} "
          f"{'|Δ value|':>10}", flush=True)
    cka_after = None
    for name in ("linear_cka", "procrustes", "svcca", "cca"):  # each row printed as soon as it is measured
        v_after, ta = med_time(lambda name=name: M.similarity(X, Y, name), args.repeats)
        v_before, tb = med_time(lambda name=name: M.similarity(X, Y, name, formulation="covariance"),
                                args.before_reps)
        cka_after = ta if cka_after is None else cka_after
        print(f"{name:<12} {tb:>11.3f} {ta:>10.4f} {tb / ta:>13.0f} {ta / cka_after:>10.2f} "
              f"{abs(v_before - v_after):>10.1e}", flush=True)
    print()


def case_matrix(args):
    n, d, L = args.matrix_n, args.matrix_d, args.layers
    src = wide_layers(n, d, L, seed=1)
    M.layer_matrix({k: v[:, :64] for k, v in src.items()}, metric="procrustes")  # warm-up: imports
    n_pairs = L * (L - 1) // 2
    cov, g = gram.matrix_costs(n, [d] * L, n_pairs)
    print(f"## layer matrix, {L} layers × n = {n} × d = {d} (float64), formulation='auto' → "
          f"{gram.choose_matrix(n, [d] * L, n_pairs)}")
    print(f"cost model: covariance {cov:.2e} flops (D×D = {(L * d) ** 2 * 8 / 2**30:.0f} GiB), gram {g:.2e} "
          f"flops — {cov / g:.0f}× fewer")
    print(f"{'measure':<12} {'seconds':>9} {'ratio to CKA':>13} {'formulation':>12}")
    times = {}
    for name in ("linear_cka", "procrustes", "svcca", "cca", "pwcca"):
        res, t = med_time(lambda name=name: M.layer_matrix(src, metric=name), args.repeats)
        times[name] = (t, res.meta["formulation"])
    for name, (t, form) in times.items():
        print(f"{name:<12} {t:>9.3f} {t / times['linear_cka'][0]:>13.2f} {form:>12}")
    print()


def rescnn_store(path, n, seed=0, channels=6):
    import torch
    from torch import nn

    import repscope as rs

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1)

        def forward(self, x):
            return torch.relu(x + self.conv2(torch.relu(self.conv1(x))))

    class ResCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, channels, 3, padding=1)
            self.block = Block(channels)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Linear(channels, 10)

        def forward(self, x):
            h = self.block(torch.relu(self.stem(x)))
            return self.head(self.pool(h).flatten(1))

    torch.manual_seed(seed)
    X = np.random.default_rng(seed).standard_normal((n, 3, 32, 32)).astype(np.float32)
    y = np.arange(n) % 10
    rs.capture(ResCNN(), X, ["stem", "block", "pool", "head"], path,
               pool={"pool": "mean", "*": "none"}, labels=y, overwrite=True, progress=False)
    return rs.open_store(path)


def case_report(args):
    with tempfile.TemporaryDirectory() as tmp:
        store = rescnn_store(Path(tmp) / "rescnn.zarr", args.report_n, channels=args.report_channels)
        dims = {layer: int(np.prod(store.layer_shape(layer))) for layer in store.layers}
        print(f"## similarity section of the report (metrics.analyse, default measures), residual CNN, "
              f"n = {store.n_samples}, layer widths {dims}")
        print(f"{'formulation':<12} {'seconds':>9} {'max |Δ|':>9}")
        out = {}
        for form in ("covariance", "auto"):
            t = time.perf_counter()
            a = M.analyse(store, progress=False, formulation=form)
            out[form] = (time.perf_counter() - t, {r.metric: r.values for r in a.matrices})
        diff = max(float(np.max(np.abs(out["covariance"][1][m] - out["auto"][1][m]))) for m in out["auto"][1])
        for form, (t, _) in out.items():
            print(f"{form:<12} {t:>9.2f} {diff if form == 'auto' else 0.0:>9.1e}")
        print(f"before / after: {out['covariance'][0] / out['auto'][0]:.0f}×")
        print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="pair,matrix,report")
    ap.add_argument("--pair-n", type=int, default=62)
    ap.add_argument("--d", type=int, default=6144)
    ap.add_argument("--matrix-n", type=int, default=500)
    ap.add_argument("--matrix-d", type=int, default=16384)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--report-n", type=int, default=62)
    ap.add_argument("--report-channels", type=int, default=6, help="channels of the stem and block (× 1024)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--before-reps", type=int, default=1)
    args = ap.parse_args()
    cases = {"pair": case_pair, "matrix": case_matrix, "report": case_report}
    for c in args.cases.split(","):
        cases[c.strip()](args)


if __name__ == "__main__":
    main()
