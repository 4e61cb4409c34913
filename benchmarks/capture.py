"""Capture overhead: repscope.capture throughput vs a plain forward pass over the same batches.

    python benchmarks/capture.py [--repeats 3] [--threads N] [--quick]

For each model and pool, one process runs interleaved rounds (forward, capture, capture float16,
capture through zarr's own write path: F C H Z F C H Z …) and reports the min of each. Overhead =
capture time / forward time; targets: full feature maps (pool="none") ≤ 1.3, pooled (pool="mean") ≤ 1.10.
The CPU columns divide the process CPU time (all threads: the writer's encoding and I/O included) of the
capture by that of the forward pass: on a machine whose cores are busy with other work there is no idle
core for the writer thread, so this is the ratio wall time tends to, and it is far less noisy.
Capture time includes hooks, pooling, the copy to host memory, encoding (checksums, compression) and
writing the zarr store to disk (page cache; commits fsync progress.json).

The "zarr path" column is the write path of repscope before issue 17 (every layer written with
``zarr.Array.__setitem__`` and lz4), kept reachable here only to measure the change in the same run.
On a loaded machine (load average above the core count) the absolute times are inflated and the
ratios noisy; the script says so.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import repscope as rs
import repscope.store.core as store_core
from repscope.experiments.models.digits import load_model


@contextlib.contextmanager
def zarr_write_path():
    """The previous write path: lz4 on every layer, chunks written by zarr.Array.__setitem__."""
    auto, of = store_core._auto_compression, store_core._DirectChunks.of
    store_core._auto_compression = lambda first, dtype: "lz4"
    store_core._DirectChunks.of = classmethod(lambda cls, root, arr: None)
    try:
        yield
    finally:
        store_core._auto_compression, store_core._DirectChunks.of = auto, of


class LargerCNN(nn.Module):
    """A VGG-style CNN on 3×32×32 inputs (≈ 1.1 M parameters)."""

    def __init__(self) -> None:
        super().__init__()

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                                 nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                                 nn.MaxPool2d(2))

        self.features = nn.Sequential(block(3, 32), block(32, 64), block(64, 128))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(128 * 16, 256), nn.ReLU(), nn.Linear(256, 10))

    def forward(self, x):
        return self.head(self.features(x))


def plain_forward(model, X, batch_size):
    with torch.inference_mode():
        for s in range(0, len(X), batch_size):
            model(X[s : s + batch_size])


def bench(name, model, X, layers, pool, batch_size, repeats):
    model.eval()
    Xt = torch.from_numpy(X)
    tmp = Path(tempfile.mkdtemp())

    def cap(dtype="float32", path=None, X=Xt):
        def run():
            shutil.rmtree(tmp / "s.zarr", ignore_errors=True)  # untimed: a fresh path, as a first capture has
            ctx = zarr_write_path() if path == "zarr" else contextlib.nullcontext()
            t, c = time.perf_counter(), time.process_time()
            with ctx:
                st = rs.capture(model, X, layers, tmp / "s.zarr", pool=pool, batch_size=batch_size,
                                dtype=dtype, progress=False)
            return st, time.perf_counter() - t, time.process_time() - c
        return run

    def fwd(X=Xt):
        t, c = time.perf_counter(), time.process_time()
        plain_forward(model, X, batch_size)
        return None, time.perf_counter() - t, time.process_time() - c

    one = Xt[:batch_size]
    # the per-store fixed cost (create the arrays and metadata, lock, commit, close) = capturing ONE batch
    # minus its forward pass; it does not grow with the data, so it weighs on small/fast jobs only
    variants = {"forward": fwd, "capture": cap(), "float16": cap("float16"), "zarr path": cap(path="zarr"),
                "fwd 1 batch": lambda: fwd(one), "capture 1 batch": cap(X=one)}
    for f in variants.values():  # untimed warm-up: first-call imports and allocations
        f()
    times: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    try:
        for _ in range(repeats):
            for k, f in variants.items():
                out, dt, dc = f()
                times[k].append(dt)
                cpu[k].append(dc)
                if k == "capture":
                    store = out
        n_feat = sum(store.n_features(lyr) for lyr in store.layers)
        mib = n_feat * len(X) * 4 / 2**20
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    best = {k: min(v) for k, v in times.items()}
    bc = {k: min(v) for k, v in cpu.items()}
    f, fc = best["forward"], bc["forward"]
    fixed = max(0.0, best["capture 1 batch"] - best["fwd 1 batch"])
    return [name, len(X), len(layers), pool, f"{mib:.0f}", f"{f:.2f}", f"{best['capture']:.2f}", f"{fixed:.3f}",
            f"{(best['capture'] - fixed) / f:.2f}",
            f"{best['capture'] / f:.2f}", f"{best['float16'] / f:.2f}", f"{best['zarr path'] / f:.2f}",
            f"{bc['capture'] / fc:.2f}", f"{bc['float16'] / fc:.2f}", f"{bc['zarr path'] / fc:.2f}",
            "1.30" if pool == "none" else "1.10"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--quick", action="store_true", help="half the samples")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores"
          + (" — timings taken on a LOADED machine (absolute times inflated, ratios noisy)" if load[0] > 2.5 else ""))
    rows = []
    model, X, _ = load_model("cnn")
    Xd = np.concatenate([X] * (2 if args.quick else 4))  # 3594 / 7188 digits
    digits_layers = ["conv1", "conv2", "conv3", "fc1", "relu4", "fc2"]
    for pool in ("none", "mean"):
        rows.append(bench("digits CNN (demo)", model, Xd, digits_layers, pool, 256, args.repeats))
    torch.manual_seed(0)
    big = LargerCNN()
    Xb = np.random.default_rng(0).standard_normal((1024 if args.quick else 2048, 3, 32, 32)).astype(np.float32)
    layers = ["features.0.2", "features.1.2", "features.2.2", "head.2", "head.3"]
    for pool in ("none", "mean"):
        rows.append(bench("VGG-style CNN 32×32", big, Xb, layers, pool, 128, args.repeats))
    header = ["model", "samples", "layers", "pool", "stored MiB (f32)", "forward s", "capture s", "fixed s",
              "(capture − fixed)/fwd", "capture/fwd",
              "float16/fwd", "zarr path/fwd", "CPU capture/fwd", "CPU float16/fwd", "CPU zarr path/fwd", "target"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"torch threads: {torch.get_num_threads()}; min of {args.repeats} interleaved rounds")
    for r in [header, ["-" * w for w in widths], *rows]:
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print("fixed s = capture of one batch − its forward pass (store creation, metadata, lock, commit, close): "
          "a cost per store, not per sample; (capture − fixed)/fwd is the per-sample overhead ratio.")


if __name__ == "__main__":
    main()
