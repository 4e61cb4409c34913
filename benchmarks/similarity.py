"""Speed of repscope.metrics against the best hand-written baseline and the peers, in one process.

    PYTHONPATH=src python benchmarks/similarity.py                       # every case, default sizes
    PYTHONPATH=src python benchmarks/similarity.py --cases ratios,scaling --matrix-n 4000 --d 256

Cases:
  ratios   each workload (a layer matrix of --layers layers, n = --matrix-n, d = --d, float64) timed beside
           the best hand-written numpy baseline for it, in alternating rounds A B A B …, min of --repeats
           (≥ 3) rounds; ratio = repscope / best baseline (the issue-17 target is ≤ 1.2).
           Baselines: linear CKA — centre, hstack, one dsyrk, ‖S_ij‖² per block; linear CKA float32 —
           the same in torch float32 (what torch users write); Procrustes — one dsyrk, then
           eigvalsh(MᵀM) per block (nuclear norm = Σ√λ); CCA — one dsyrk, per-layer whitening, singular
           values of every whitened block; RBF CKA — dense centred Gram per layer, one vdot per pair.
  scaling  layer_matrices(linear_cka, procrustes) streamed from a store-like source whose float32 rows
           are generated block by block (never all in memory; the disk-read path is bench_scale.py's
           out-of-core table), after one untimed warm-up call (imports): time and peak RSS (VmHWM of a
           fresh process) vs n (1k → --stream-n) and vs the number of layers (4 → --max-layers), fitted
           exponents t ∝ n^a, t ∝ L^b (least squares on the log-log points with n ≥ 10k / L ≥ 8), and the
           fixed per-call overhead (min of 50 calls on 2 layers of 100×8).
  pair, matrix   peers: netrep's algorithms (LinearCKA n×n Gram, LinearMetric; re-implemented from its
           source), repsim (PyPI, O(n³), n ≤ --max-cubic-n), torch-cka's HSIC (float32 n×n), per-pair loops.
The machine running this may be shared: rounds alternate so that load hits both sides alike, and the min
of the rounds is reported; still, treat differences below ~10% as noise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from repscope import metrics as M


def med_time(fn, repeats):
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def make_layers(n, d, L, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, 64))
    return {
        f"layer{i}": base @ rng.standard_normal((64, d)) + (0.5 + 0.2 * i) * rng.standard_normal((n, d)) + 2.0
        for i in range(L)
    }


# ---------------------------------------------------------------------------------------- baselines
def netrep_linear_cka(X, Y):
    """netrep LinearCKA: centred n×n Gram matrices (centered_kernel), then cosine -> arccos."""

    def ck(A):
        K = A @ A.T
        sc = K.sum(0, keepdims=True)
        sr = K.sum(1, keepdims=True)
        return K - sc / sr.size - sr / sc.size + sc.sum() / K.size

    K, L = ck(X), ck(Y)
    return np.arccos(np.clip(np.vdot(K, L) / (np.linalg.norm(K) * np.linalg.norm(L)), -1, 1))


def netrep_procrustes(X, Y):
    """netrep LinearMetric(alpha=1).fit(X, Y).score(X, Y): centre, full SVD of XᵀY, transform, angle."""
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    U, _, Vt = np.linalg.svd(Xc.T @ Yc)
    XW, YW = Xc @ U, Yc @ Vt.T
    return np.arccos(np.clip(np.vdot(XW, YW) / (np.linalg.norm(XW) * np.linalg.norm(YW)), -1, 1))


def anatome_procrustes(X, Y):
    """anatome ``orthogonal_procrustes_distance`` per pair (torch, float64): centre, scale to unit Frobenius
    norm, 1 − ‖XᵀY‖_* (nuclear norm by an SVD of the d×d cross-product), as in anatome/distance.py."""
    import torch

    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    x = x - x.mean(0)
    y = y - y.mean(0)
    x = x / torch.linalg.norm(x)
    y = y / torch.linalg.norm(y)
    return float(1 - torch.linalg.norm(x.t() @ y, ord="nuc"))


def torch_cka_hsic_pair(X, Y):
    import torch

    def hsic(K, L):
        N = K.shape[0]
        ones = torch.ones(N, 1)
        r = torch.trace(K @ L)
        r += ((ones.t() @ K @ ones @ ones.t() @ L @ ones) / ((N - 1) * (N - 2))).item()
        r -= ((ones.t() @ K @ L @ ones) * 2 / (N - 2)).item()
        return (1 / (N * (N - 3)) * r).item()

    A, B = torch.from_numpy(X.astype(np.float32)), torch.from_numpy(Y.astype(np.float32))
    K, L = A @ A.T, B @ B.T
    K.fill_diagonal_(0)
    L.fill_diagonal_(0)
    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def syrk_cka_matrix(layers):
    """Hand-stacked baseline: centre, hstack, one Zᵀ Z (numpy dispatches to BLAS syrk), CKA per block."""
    arrs = [a - a.mean(0) for a in layers.values()]
    Z = np.hstack(arrs)
    C = Z.T @ Z
    off = np.cumsum([0] + [a.shape[1] for a in arrs])
    L = len(arrs)
    blk = [[C[off[i] : off[i + 1], off[j] : off[j + 1]] for j in range(L)] for i in range(L)]
    nrm = [np.linalg.norm(blk[i][i]) for i in range(L)]
    return np.array(
        [[np.linalg.norm(blk[i][j]) ** 2 / (nrm[i] * nrm[j]) for j in range(L)] for i in range(L)]
    )


def per_pair_matrix(fn, layers, n_pairs=None):
    names = list(layers)
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    todo = pairs if n_pairs is None else pairs[:n_pairs]
    t = time.perf_counter()
    for i, j in todo:
        fn(layers[names[i]], layers[names[j]])
    dt = time.perf_counter() - t
    return dt * len(pairs) / len(todo)


# ---------------------------------------------------------------------------------------- streaming
class GeneratedStore:
    """Store-like source whose rows are generated block by block (deterministic per block)."""

    def __init__(self, n, d, L, chunk=4096):
        self.n_samples, self.d, self.chunk = n, d, chunk
        self.layers = [f"layer{i}" for i in range(L)]
        self.sample_ids = np.arange(n)
        self._mix = np.random.default_rng(0).standard_normal((L, 64, d), dtype=np.float32)

    def layer_shape(self, layer):
        return (self.d,)

    def _block(self, li, s, e):
        base = np.random.default_rng(s).standard_normal((e - s, 64), dtype=np.float32)
        out = np.random.default_rng((s, li)).standard_normal((e - s, self.d), dtype=np.float32)
        out *= 0.5 + 0.2 * li
        out += base @ self._mix[li]
        out += 2.0
        return out

    def iter_rows(self, layer, block_rows=None):
        li = self.layers.index(layer)
        for s in range(0, self.n_samples, self.chunk):
            yield s, self._block(li, s, min(self.n_samples, s + self.chunk))

    def read(self, layer, rows=None):
        raise RuntimeError("the streamed benchmark must not read whole layers")


def stream_child(n, d, L):
    M.layer_matrices(GeneratedStore(300, 8, 2), metrics=["linear_cka", "procrustes"])  # imports, registry
    store = GeneratedStore(n, d, L)
    t = time.perf_counter()
    res = M.layer_matrices(store, metrics=["linear_cka", "procrustes"], block_rows=4096)
    dt = time.perf_counter() - t
    # VmHWM (peak RSS of this address space); ru_maxrss would carry the parent's peak across fork+exec
    rss = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM")) / 1024
    print(f"{dt:.3f} {rss:.0f} {res[0].values[0, 1]:.6f}")


# ---------------------------------------------------------------------------------------- hand baselines
def _stacked_cov(layers):
    from scipy.linalg.blas import dsyrk

    arrs = [a - a.mean(0) for a in layers.values()]
    Z = np.asfortranarray(np.hstack(arrs))
    C = dsyrk(1.0, Z.T, trans=0, lower=0)  # upper triangle of ZᵀZ
    off = np.cumsum([0] + [a.shape[1] for a in arrs])
    return C, off


def _blk(C, off, i, j):
    B = C[off[i] : off[i + 1], off[j] : off[j + 1]]
    return np.triu(B) + np.triu(B, 1).T if i == j else B


def hand_cka(layers):
    C, off = _stacked_cov(layers)
    L = len(off) - 1
    nrm = [np.linalg.norm(_blk(C, off, i, i)) for i in range(L)]
    return np.array([[np.linalg.norm(_blk(C, off, min(i, j), max(i, j))) ** 2 / (nrm[i] * nrm[j])
                      for j in range(L)] for i in range(L)])


def hand_cka_torch32(layers):
    import torch

    Z = torch.from_numpy(np.hstack([a - a.mean(0) for a in layers.values()]).astype(np.float32))
    C = (Z.T @ Z).double().numpy()
    off = np.cumsum([0] + [a.shape[1] for a in layers.values()])
    L = len(off) - 1
    nrm = [np.linalg.norm(_blk(C, off, i, i)) for i in range(L)]
    return np.array([[np.linalg.norm(C[off[i] : off[i + 1], off[j] : off[j + 1]]) ** 2 / (nrm[i] * nrm[j])
                      for j in range(L)] for i in range(L)])


def hand_procrustes(layers):
    C, off = _stacked_cov(layers)
    L = len(off) - 1
    out = np.zeros((L, L))
    tr = [np.trace(_blk(C, off, i, i)) for i in range(L)]
    for i in range(L):
        for j in range(i + 1, L):
            Mb = _blk(C, off, i, j)
            nuc = np.sqrt(np.clip(np.linalg.eigvalsh(Mb.T @ Mb), 0, None)).sum()
            out[i, j] = out[j, i] = np.arccos(min(1.0, nuc / np.sqrt(tr[i] * tr[j])))
    return out


def hand_cca(layers):
    C, off = _stacked_cov(layers)
    L = len(off) - 1
    W = []
    for i in range(L):
        lam, V = np.linalg.eigh(_blk(C, off, i, i))
        keep = lam > 1e-10 * lam[-1]
        W.append(V[:, keep] / np.sqrt(lam[keep]))
    out = np.ones((L, L))
    for i in range(L):
        for j in range(i + 1, L):
            T = W[i].T @ _blk(C, off, i, j) @ W[j]
            out[i, j] = out[j, i] = np.clip(np.linalg.svd(T, compute_uv=False), 0, 1).mean()
    return out


def hand_rbf_cka(layers, sigma=1.0):
    Ks = []
    for a in layers.values():
        X = a - a.mean(0)
        G = X @ X.T
        sq = np.diag(G)
        D = np.maximum(sq[:, None] + sq[None, :] - 2 * G, 0)
        K = np.exp(-D / (2 * sigma**2 * np.median(D)))
        K = K - K.mean(0) - K.mean(1)[:, None] + K.mean()
        Ks.append(K / np.linalg.norm(K))
    return np.array([[float(np.vdot(a, b)) for b in Ks] for a in Ks])


def alternate(fns, rounds):
    """Min wall time of each function over ``rounds`` rounds of A B A B … (load hits all sides alike)."""
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for k, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t)
    return best


def ratio_rows(args):
    n, L, d = args.matrix_n, args.layers, args.d
    lay = make_layers(n, d, L)
    small = make_layers(min(n, args.rbf_n), 64, min(L, 6), seed=1)
    work = [
        (f"{L}×{L} linear CKA", lambda: M.layer_matrix(lay, metric="linear_cka"),
         [("hand-stacked dsyrk", lambda: hand_cka(lay))], (lay, "linear_cka", hand_cka)),
        (f"{L}×{L} linear CKA float32", lambda: M.layer_matrix(lay, metric="linear_cka", precision="float32"),
         [("torch float32 stacked", lambda: hand_cka_torch32(lay))], None),
        (f"{L}×{L} Procrustes", lambda: M.layer_matrix(lay, metric="procrustes"),
         [("dsyrk + eigvalsh(MᵀM) per block", lambda: hand_procrustes(lay))], (lay, "procrustes", hand_procrustes)),
        (f"{L}×{L} CCA (mean ρ)", lambda: M.layer_matrix(lay, metric="cca"),
         [("dsyrk + whitening + svd per block", lambda: hand_cca(lay))], (lay, "cca", hand_cca)),
        (f"{len(small)}×{len(small)} RBF CKA (n={min(n, args.rbf_n)}, d=64)",
         lambda: M.layer_matrix(small, metric="rbf_cka"),
         [("dense centred Grams, vdot per pair", lambda: hand_rbf_cka(small))], (small, "rbf_cka", hand_rbf_cka)),
    ]
    rows = []
    for name, ours, bases, check in work:
        times = alternate([ours] + [f for _, f in bases], args.repeats)
        k = int(np.argmin(times[1:]))
        err = ""
        if check is not None:
            data, metric, ref = check
            got = M.layer_matrix(data, metric=metric).values
            err = f"{np.max(np.abs(got - ref(data))):.1e}"
        rows.append((name, n if "RBF" not in name else min(n, args.rbf_n), times[0], bases[k][0], times[k + 1],
                     times[0] / times[k + 1], err))
    print(f"\n### Workloads vs the best hand-written baseline (min of {args.repeats} alternating rounds, "
          f"d={d}, float64)\n")
    print("| workload | n | repscope s | best baseline | baseline s | ratio | max abs Δ |")
    print("|---|---|---|---|---|---|---|")
    for name, nn, t, b, tb, r, err in rows:
        print(f"| {name} | {nn} | {t:.3f} | {b} | {tb:.3f} | {r:.2f}× | {err} |")


def _child(n, d, L):
    cmd = [sys.executable, __file__, "--_stream-child", str(n), str(d), str(L)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def _exponent(xs, ts, lo):
    """Log-log slope over the rows with x ≥ ``lo`` (at least the two largest rows, so a reduced run still
    prints a number); returns (slope, smallest x used)."""
    pts = sorted(zip(xs, ts))
    use = [p for p in pts if p[0] >= lo]
    if len(use) < 2:
        use = pts[-2:]
    if len(use) < 2:
        return float("nan"), float("nan")
    x, t = np.log([p[0] for p in use]), np.log([p[1] for p in use])
    return float(np.polyfit(x, t, 1)[0]), use[0][0]


def scaling(args):
    ns = [n for n in (1000, 3000, 10_000, 30_000, 100_000, 300_000) if n <= args.stream_n]
    rows_n = [(n, *_child(n, args.scale_d, 4)) for n in ns]
    Ls = [L for L in (4, 8, 16, 32, 48) if L <= args.max_layers]
    rows_L = [(L, *_child(args.scale_layers_n, args.scale_d, L)) for L in Ls]
    print(f"\n### Scaling: linear CKA + Procrustes, streamed (float32 rows generated per 4096-row block), "
          f"d={args.scale_d} per layer, one fresh process per row\n")
    print("| n | layers | time s | peak RSS MiB | s per 1k rows |\n|---|---|---|---|---|")
    for n, t, rss in rows_n:
        print(f"| {n} | 4 | {t:.2f} | {rss:.0f} | {1000 * t / n:.4f} |")
    a, a_lo = _exponent(ns, [r[1] for r in rows_n], 10_000)
    print(f"\nfitted t ∝ n^{a:.2f} (n ≥ {a_lo:,.0f}; 1 is linear)\n")
    print("| layers | n | time s | peak RSS MiB |\n|---|---|---|---|")
    for L, t, rss in rows_L:
        print(f"| {L} | {args.scale_layers_n} | {t:.2f} | {rss:.0f} |")
    b, b_lo = _exponent(Ls, [r[1] for r in rows_L], 8)
    print(f"\nfitted t ∝ L^{b:.2f} (L ≥ {b_lo:.0f}; the stacked product is O(n·(L·d)²), so 2 is the expectation once "
          f"the D×D work dominates)")
    rng = np.random.default_rng(0)
    tiny = {"a": rng.standard_normal((100, 8)), "b": rng.standard_normal((100, 8))}
    M.layer_matrix(tiny)
    over = alternate([lambda: M.layer_matrix(tiny, metric="linear_cka")], 50)[0]
    over_np = alternate([lambda: hand_cka(tiny)], 50)[0]
    print(f"\nfixed per-call overhead: layer_matrix on 2 layers of 100×8 takes {1e3 * over:.2f} ms "
          f"(the bare numpy baseline {1e3 * over_np:.2f} ms)")


# ---------------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[5000, 20000])
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--matrix-n", type=int, default=5000)
    ap.add_argument("--rbf-n", type=int, default=1500)
    ap.add_argument("--stream-n", type=int, default=100_000, help="largest n of the scaling table")
    ap.add_argument("--scale-d", type=int, default=128)
    ap.add_argument("--scale-layers-n", type=int, default=5000)
    ap.add_argument("--max-layers", type=int, default=48)
    ap.add_argument("--stream-layers", type=int, default=4, help=argparse.SUPPRESS)  # kept for old command lines
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-cubic-n", type=int, default=2000)
    ap.add_argument("--max-gram-n", type=int, default=5000, help="largest n for netrep's n×n Gram CKA")
    ap.add_argument("--cases", default="ratios,scaling,pair,matrix")
    ap.add_argument("--_stream-child", nargs=3, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._stream_child:
        stream_child(*args._stream_child)
        return
    args.repeats = max(3, args.repeats)
    cases = set(args.cases.split(","))
    import torch

    print(
        f"# {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, d={args.d}, "
        f"repeats={args.repeats}; machine load at start: {os.getloadavg()[0]:.1f}"
    )
    if "ratios" in cases:
        ratio_rows(args)
    if "scaling" in cases:
        scaling(args)
    peers(args, cases)


def peers(args, cases) -> None:
    rows = []
    if "pair" in cases:
        for n in args.n:
            lay = make_layers(n, args.d, 2)
            X, Y = lay["layer0"], lay["layer1"]
            ours = med_time(lambda X=X, Y=Y: M.linear_cka(X, Y), args.repeats)
            rows.append(("pair linear CKA", n, "repscope linear_cka", ours, 1.0))
            if n <= args.max_gram_n:
                t = med_time(lambda X=X, Y=Y: netrep_linear_cka(X, Y), 1)
                rows.append(("pair linear CKA", n, "netrep LinearCKA (n×n Gram)", t, t / ours))
            if n <= args.max_cubic_n:
                import repsim

                t = med_time(lambda X=X, Y=Y: repsim.cka([X, Y], "linear", "gretton"), 1)
                rows.append(("pair linear CKA", n, "repsim cka (C++)", t, t / ours))
                t = med_time(lambda X=X, Y=Y: torch_cka_hsic_pair(X, Y), 1)
                rows.append(("pair linear CKA", n, "torch-cka HSIC (f32)", t, t / ours))
            ours_p = med_time(lambda X=X, Y=Y: M.procrustes(X, Y), args.repeats)
            rows.append(("pair Procrustes", n, "repscope procrustes", ours_p, 1.0))
            t = med_time(lambda X=X, Y=Y: netrep_procrustes(X, Y), args.repeats)
            rows.append(("pair Procrustes", n, "netrep LinearMetric α=1", t, t / ours_p))
    if "matrix" in cases:
        n, L = args.matrix_n, args.layers
        lay = make_layers(n, args.d, L)
        ours = med_time(lambda: M.layer_matrix(lay, metric="linear_cka"), args.repeats)
        tag = f"{L}×{L} linear CKA"
        rows.append((tag, n, "repscope layer_matrix", ours, 1.0))
        t = med_time(lambda: syrk_cka_matrix(lay), args.repeats)
        rows.append((tag, n, "hand-stacked numpy SYRK", t, t / ours))
        t = per_pair_matrix(M.linear_cka, lay)
        rows.append((tag, n, "per-pair feature CKA (anatome/ReSi style)", t, t / ours))
        if n <= args.max_gram_n:
            t = per_pair_matrix(netrep_linear_cka, lay, n_pairs=2)
            rows.append((tag, n, "netrep LinearCKA per pair (extrap.)", t, t / ours))
        ours_p = med_time(lambda: M.layer_matrix(lay, metric="procrustes"), args.repeats)
        tag = f"{L}×{L} Procrustes"
        rows.append((tag, n, "repscope layer_matrix", ours_p, 1.0))
        t = per_pair_matrix(anatome_procrustes, lay)
        rows.append((tag, n, "anatome orthogonal_procrustes_distance per pair", t, t / ours_p))
        t = per_pair_matrix(netrep_procrustes, lay, n_pairs=4)
        rows.append((tag, n, "netrep LinearMetric per pair (extrap.)", t, t / ours_p))
        both = med_time(lambda: M.layer_matrices(lay, metrics=["linear_cka", "procrustes"]), 1)
        rows.append((f"{L}×{L} CKA + Procrustes", n, "repscope layer_matrices (1 pass)", both, 1.0))
    if not rows:
        return
    print("\n### Peers (median of repeats)\n")
    print("| case | n | implementation | median s | × repscope |\n|---|---|---|---|---|")
    for case, n, impl, t, r in rows:
        print(f"| {case} | {n} | {impl} | {t:.3f} | {r:.2f} |")


if __name__ == "__main__":
    main()
