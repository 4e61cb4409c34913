"""Speed of repscope.metrics vs peers on the same data, in one process (median of repeats).

    PYTHONPATH=src /tmp/bench-metrics/bin/python benchmarks/similarity.py            # default sizes
    PYTHONPATH=src /tmp/bench-metrics/bin/python benchmarks/similarity.py --n 5000 20000 --layers 12

Cases (float64, d features per layer):
  pair    one pair of layers: linear CKA and Procrustes, at each --n;
  matrix  an L×L layer matrix (L = --layers) of linear CKA and Procrustes at --matrix-n;
  stream  --stream-n rows × --stream-layers layers generated block by block (never all in memory),
          streamed through layer_matrices; peak RSS of a fresh subprocess is reported.
Peers: netrep's per-pair algorithms (netrep is not on PyPI: LinearCKA's n×n centred-Gram form and
LinearMetric's fit/score are re-implemented from its source), repsim (PyPI, C++; O(n³) per pair, only
run at n ≤ --max-cubic-n), torch-cka's HSIC (float32 n×n Gram, trace(K@L); same limit), and a
hand-stacked numpy SYRK baseline (all layers centred and stacked, one Zᵀ Z). Slow peers are timed on
2 pairs and extrapolated to the full matrix (marked "extrap.").
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
    store = GeneratedStore(n, d, L)
    t = time.perf_counter()
    res = M.layer_matrices(store, metrics=["linear_cka", "procrustes"], block_rows=4096)
    dt = time.perf_counter() - t
    # VmHWM (peak RSS of this address space); ru_maxrss would carry the parent's peak across fork+exec
    rss = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM")) / 1024
    print(f"{dt:.2f} {rss:.0f} {res[0].values[0, 1]:.6f}")


# ---------------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[5000, 20000])
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--matrix-n", type=int, default=5000)
    ap.add_argument("--stream-n", type=int, default=100_000)
    ap.add_argument("--stream-layers", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-cubic-n", type=int, default=2000)
    ap.add_argument("--max-gram-n", type=int, default=5000, help="largest n for netrep's n×n Gram CKA")
    ap.add_argument("--cases", default="pair,matrix,stream")
    ap.add_argument("--_stream-child", nargs=3, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._stream_child:
        stream_child(*args._stream_child)
        return
    cases = set(args.cases.split(","))
    import torch

    print(
        f"# {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, d={args.d}, "
        f"repeats={args.repeats}"
    )
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
        t = per_pair_matrix(netrep_procrustes, lay, n_pairs=4)
        rows.append((tag, n, "netrep LinearMetric per pair (extrap.)", t, t / ours_p))
        both = med_time(lambda: M.layer_matrices(lay, metrics=["linear_cka", "procrustes"]), 1)
        rows.append((f"{L}×{L} CKA + Procrustes", n, "repscope layer_matrices (1 pass)", both, 1.0))
    print("\n| case | n | implementation | median s | × repscope |\n|---|---|---|---|---|")
    for case, n, impl, t, r in rows:
        print(f"| {case} | {n} | {impl} | {t:.3f} | {r:.2f} |")
    if "stream" in cases:
        cmd = [
            sys.executable,
            __file__,
            "--_stream-child",
            str(args.stream_n),
            str(args.d),
            str(args.stream_layers),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
        dt, rss = float(out[0]), float(out[1])
        full = args.stream_n * args.d * args.stream_layers * 8 / 2**20
        print(
            f"\nstreamed: n={args.stream_n}, {args.stream_layers} layers × d={args.d} "
            f"(float32 blocks of 4096 rows, generated on the fly): linear CKA + Procrustes "
            f"{args.stream_layers}×{args.stream_layers} in "
            f"{dt:.1f} s, peak RSS {rss:.0f} MiB (the same data as float64 in memory: {full:.0f} MiB)"
        )


if __name__ == "__main__":
    main()
