"""The GPU paths (``device="cuda"``) against the CPU paths: same values, and the speed of each, in one run.

    PYTHONPATH=src python benchmarks/gpu_check.py                 # needs torch with CUDA
    PYTHONPATH=src python benchmarks/gpu_check.py --json out.json

CI has no GPU, so the tests run the torch code paths on the CPU (``device="cpu"`` through torch); this script
is what checks them on a real device. Part 1 (agreement) prints, for each public function that takes
``device=``, the largest difference between the CUDA result and the numpy/BLAS result on the same data, next
to the tolerance it must meet (float64 paths: 1e-10 relative; float32 captures: TF32 allowed or not, said).
Part 2 (speed) times each function on the CPU (all cores) and on the GPU, same data, medians of repeats,
and prints the ratio. A failed check makes the exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

#: the device checked against numpy/BLAS ("cpu" runs the torch paths on the CPU: a dry run of this script)
DEV = "cuda"


def med(fn: Any, repeats: int = 3, sync: bool = False) -> float:
    import torch

    fn()  # warm-up (CUDA context, kernels, BLAS threads)
    ts = []
    for _ in range(repeats):
        if sync:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if sync:
            torch.cuda.synchronize()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def rel(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.nanmax(np.abs(a - b)) / max(1e-300, float(np.nanmax(np.abs(b)))))


def wide_layers(n: int, d: int, L: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``L`` correlated layers (a residual stream with low-rank updates), float32."""
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((n, d)).astype(np.float32)
    out = {}
    for k in range(L):
        h = h + np.tanh(h @ rng.standard_normal((d, 8)).astype(np.float32) / np.sqrt(d)) @ rng.standard_normal(
            (8, d)).astype(np.float32) + 0.3 * rng.standard_normal((n, d)).astype(np.float32)
        out[f"layer{k}"] = h.copy()
    return out


def models() -> dict[str, Any]:
    """Two models that are not the demo's CNN: a residual CNN and a GRU classifier."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
            self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))

    class ResCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 16, 3, padding=1)
            self.block1, self.block2 = Block(16), Block(16)
            self.head = nn.Linear(16, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.block2(self.block1(torch.relu(self.stem(x))))
            return self.head(h.mean((2, 3)))

    class GRUNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(6, 32, batch_first=True)
            self.head = nn.Linear(32, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.gru(x)[0][:, -1])

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    return {"residual CNN": (ResCNN().eval(), torch.randn(256, 3, 16, 16, generator=g), "*.conv2", "spatial_mean"),
            "GRU": (GRUNet().eval(), torch.randn(256, 20, 6, generator=g), "gru", "last")}


def agreement(rows: list[dict[str, Any]], tmp: Path) -> None:
    import torch

    import repscope as rs
    from repscope.metrics import debiased_cka, linear_cka, rbf_cka
    from repscope.scale import sharded_layer_pairs

    rng = np.random.default_rng(0)

    def check(what: str, cuda: Any, cpu: Any, tol: float) -> None:
        r = rel(cuda, cpu)
        rows.append({"check": what, "rel_diff": r, "tol": tol, "ok": bool(r <= tol)})

    for n, d in ((4000, 1024), (200, 8192)):  # covariance (n > d) and Gram (n ≪ d) formulations
        X = rng.standard_normal((n, d))
        Y = X @ rng.standard_normal((d, d)) * 0.01 + rng.standard_normal((n, d))
        check(f"linear_cka n={n} d={d}", linear_cka(X, Y, device=DEV), linear_cka(X, Y), 1e-10)
        check(f"debiased_cka n={n} d={d}", debiased_cka(X, Y, device=DEV), debiased_cka(X, Y), 1e-10)
    X, Y = rng.standard_normal((1500, 64)), rng.standard_normal((1500, 32))
    check("rbf_cka n=1500", rbf_cka(X, Y, sigma=8.0, device=DEV), rbf_cka(X, Y, sigma=8.0), 1e-10)

    acts = wide_layers(3000, 256, 4)
    metrics = ["linear_cka", "debiased_cka", "procrustes", "cca", "svcca"]
    gpu = rs.metrics.layer_matrices(acts, metrics=metrics, device=DEV)
    cpu = rs.metrics.layer_matrices(acts, metrics=metrics)
    for m, g, c in zip(metrics, gpu, cpu):  # one LayerMatrix per metric, in order
        check(f"layer_matrices {m} (4 layers, n=3000, d=256)", g.values, c.values, 1e-10)
    for precision, tol in (("float64", 1e-10), ("float32", 1e-5)):
        g = sharded_layer_pairs(acts, metrics=metrics, device=DEV, n_shards=2, precision=precision)
        c = sharded_layer_pairs(acts, metrics=metrics, n_shards=2, precision=precision)
        for m in metrics:
            check(f"sharded_layer_pairs {m} {precision}", g[m].values, c[m].values, tol)

    tf32 = bool(torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32)
    for name, (model, X, layers, pool) in models().items():
        stores = {}
        for dev in ("cpu", DEV):
            tag = "ref" if dev == "cpu" else "dev"  # distinct stores also in the dry run (DEV == "cpu")
            stores[dev] = rs.capture(model, X, layers, tmp / f"{name.replace(' ', '_')}-{tag}.zarr", pool=pool,
                                     device=dev, batch_size=64, progress=False)
        for layer in stores["cpu"].layers:
            # float32 forward passes: cuDNN may pick other algorithms (and TF32 when allowed): 1e-3 relative
            check(f"capture {name} {layer} ({pool}; TF32 {'on' if tf32 else 'off'})",
                  stores[DEV].read(layer), stores["cpu"].read(layer), 1e-3 if tf32 else 1e-4)


def speed(rows: list[dict[str, Any]]) -> None:
    import repscope as rs
    from repscope.metrics import linear_cka

    rng = np.random.default_rng(1)
    X = rng.standard_normal((100_000, 2048))
    Y = X[:, :1024] @ rng.standard_normal((1024, 1024)) * 0.02 + rng.standard_normal((100_000, 1024))

    def row(what: str, f_cpu: Any, f_gpu: Any, repeats: int = 3) -> None:
        tc, tg = med(f_cpu, repeats), med(f_gpu, repeats, sync=DEV == "cuda")
        rows.append({"case": what, "cpu_s": tc, "gpu_s": tg, "speedup": tc / tg})

    row("linear CKA, n=100 000, 2048-d vs 1024-d (float64)", lambda: linear_cka(X, Y),
        lambda: linear_cka(X, Y, device=DEV))
    acts = wide_layers(50_000, 1024, 6, seed=2)
    row("6×6 layer matrix (linear CKA, Procrustes, CCA), n=50 000, d=1024",
        lambda: rs.metrics.layer_matrices(acts, metrics=["linear_cka", "procrustes", "cca"]),
        lambda: rs.metrics.layer_matrices(acts, metrics=["linear_cka", "procrustes", "cca"], device=DEV),
        repeats=2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=None, help="also write the tables as JSON here")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--device", default="cuda", help="'cpu' runs the torch paths on the CPU (a dry run)")
    a = ap.parse_args()
    import torch

    global DEV
    DEV = a.device
    if DEV == "cuda" and not torch.cuda.is_available():
        print("no CUDA device visible to torch: nothing to check", file=sys.stderr)
        return 2
    gpu = torch.cuda.get_device_name(0) if DEV == "cuda" else "CPU (dry run)"
    env = {"gpu": gpu, "torch": torch.__version__, "numpy": np.__version__,
           "cpu_threads": torch.get_num_threads(), "cores": os.cpu_count()}
    print(f"## GPU paths vs CPU paths — {env['gpu']}, torch {env['torch']}, {env['cores']} CPU cores\n")
    checks: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        agreement(checks, Path(tmp))
    print("| check | max rel. difference CUDA vs CPU | tolerance | ok |\n|---|---|---|---|")
    for c in checks:
        print(f"| {c['check']} | {c['rel_diff']:.1e} | {c['tol']:.0e} | {'yes' if c['ok'] else 'NO'} |")
    times: list[dict[str, Any]] = []
    if not a.no_speed:
        speed(times)
        print("\n| case | CPU (all cores) s | GPU s | GPU speed-up |\n|---|---|---|---|")
        for t in times:
            print(f"| {t['case']} | {t['cpu_s']:.3f} | {t['gpu_s']:.3f} | {t['speedup']:.1f}× |")
    if a.json:
        a.json.write_text(json.dumps({"environment": env, "agreement": checks, "speed": times}, indent=1))
    return 0 if all(c["ok"] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
