"""Capture overhead: repscope.capture throughput vs a plain forward pass over the same batches.

    python benchmarks/capture.py [--repeats 3] [--threads N]

Prints a table (median of repeats). Overhead = capture time / forward time; target ≤ 1.10.
The capture time includes hooks, pooling, conversion, and writing the zarr store to disk.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import repscope as rs
from repscope.experiments.models.digits import load_model


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
    plain_forward(model, Xt, batch_size)  # warm-up
    fwd, cap = [], []
    tmp = Path(tempfile.mkdtemp())
    try:
        for r in range(repeats):
            t = time.perf_counter()
            plain_forward(model, Xt, batch_size)
            fwd.append(time.perf_counter() - t)
            t = time.perf_counter()
            store = rs.capture(model, Xt, layers, tmp / f"r{r}.zarr", pool=pool, batch_size=batch_size,
                               progress=False, overwrite=True)
            cap.append(time.perf_counter() - t)
        n_feat = sum(store.n_features(lyr) for lyr in store.layers)
        mib = n_feat * len(X) * 4 / 2**20
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    f, c = statistics.median(fwd), statistics.median(cap)
    return [name, len(X), len(layers), pool, f"{mib:.0f}", f"{len(X) / f:,.0f}", f"{len(X) / c:,.0f}", f"{c / f:.2f}"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    model, X, _ = load_model("cnn")
    Xd = np.concatenate([X] * 4)  # 7188 digits
    rows.append(bench("digits CNN (demo)", model, Xd, ["conv1", "conv2", "conv3", "fc1", "relu4", "fc2"],
                      "none", 256, args.repeats))
    rows.append(bench("digits CNN (demo)", model, Xd, ["conv1", "conv2", "conv3", "fc1", "relu4", "fc2"],
                      "mean", 256, args.repeats))
    torch.manual_seed(0)
    big = LargerCNN()
    Xb = np.random.default_rng(0).standard_normal((2048, 3, 32, 32)).astype(np.float32)
    layers = ["features.0.2", "features.1.2", "features.2.2", "head.2", "head.3"]
    rows.append(bench("VGG-style CNN 32×32", big, Xb, layers, "mean", 128, args.repeats))
    rows.append(bench("VGG-style CNN 32×32", big, Xb, layers, "none", 128, args.repeats))
    header = ["model", "samples", "layers", "pool", "stored MiB", "forward samples/s", "capture samples/s",
              "capture/forward"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"torch threads: {torch.get_num_threads()}, median of {args.repeats} runs")
    for r in [header, ["-" * w for w in widths], *rows]:
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    main()
