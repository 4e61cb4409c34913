"""LLM-scale exact streaming: all layer pairs of two stores, block pairs sharded across Dask workers.

    PYTHONPATH=src python benchmarks/llm_scale.py                      # 4 × 1024-d × 200 000 rows, local:2
    PYTHONPATH=src python benchmarks/llm_scale.py --quick              # 2 × 256-d × 20 000 rows
    PYTHONPATH=src python benchmarks/llm_scale.py --layers 8 --dim 2048 --rows 1000000 --workers 16

Generates two synthetic float16 stores (repscope's format, written with StoreWriter; layers correlated like
a residual stream: h_{l+1} = h_l + low-rank(h_l) + noise; store B = a signed permutation of A's units plus
noise), runs :func:`repscope.scale.sharded_layer_pairs` (linear CKA, debiased CKA, Procrustes, CCA, SVCCA)
on a ``local:N`` Dask cluster (``device="cuda"`` when torch sees a GPU), and prints rows/s (tokens/s),
wall time, peak RSS per worker (measured: ru_maxrss of each worker process) next to the memory model, the
bytes on disk, and the extrapolated cost of two 32-layer × 4096-d stores over 10⁹ tokens:

    flops ≈ 2·n·(L_A·L_B + ½(q·L_A + p·L_B))·d²      (cross GEMMs + self syrks, p × q tiles)
    time  = measured wall × flops_target / flops_measured   (same per-worker GEMM rate, same worker count)
    disk read = n·d·s·(q·L_A + p·L_B)                  (each A layer read by q shards, each B layer by p)

It also measures, in the same run, one row block's products in float64 and in float32 (the two
``precision`` settings) and prints their ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _du(path: Path) -> int:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def generate(root: Path, n_layers: int, d: int, n: int, chunk: int, seed: int = 0,
             device: str = "cpu") -> tuple[Path, Path]:
    """Two float16 stores of ``n_layers`` layers of width ``d``: A (residual stream) and B (A's units signed
    and permuted, plus noise) — correlated across layers and across stores. Generated with torch (seeded;
    on the GPU when ``device="cuda"``: numpy's single-threaded normals would dominate the benchmark)."""
    import torch

    from repscope.store import StoreWriter

    g = torch.Generator(device=device).manual_seed(seed)
    r = 16

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, device=device)

    U = [randn(d, r) / np.sqrt(d) for _ in range(n_layers)]
    V = [randn(r, d) for _ in range(n_layers)]
    perm = torch.randperm(d, generator=g, device=device)
    sign = torch.where(torch.rand(d, generator=g, device=device) < 0.5, -1.0, 1.0)
    paths = root / "a.zarr", root / "b.zarr"
    wa, wb = (StoreWriter(p, fingerprint={"bench": "llm_scale", "store": p.name, "seed": seed}, n_total=n,
                          dtype="float16", chunk_rows=chunk, compression="none") for p in paths)
    for s in range(0, n, chunk):
        b = min(chunk, n - s)
        h = randn(b, d) + 3.0  # a mean offset, as in real residual streams
        acts_a, acts_b = {}, {}
        for layer in range(n_layers):
            h = h + torch.tanh(h @ U[layer]) @ V[layer] * 0.3 + 0.5 * randn(b, d)
            acts_a[f"layer{layer}"] = h.half().cpu().numpy()
            acts_b[f"layer{layer}"] = (h[:, perm] * sign + randn(b, d)).half().cpu().numpy()
        ids = np.arange(s, s + b)
        wa.append(acts_a, ids=ids)
        wb.append(acts_b, ids=ids)
    wa.finish()
    wb.finish()
    return paths


def gemm_rates(d: int, rows: int, device: str) -> tuple[float, float]:
    """GFLOP/s of one row block's dᵢ×dⱼ product in float64 (dgemm) and float32 (sgemm), this process."""
    rng = np.random.default_rng(1)
    out = []
    for dt in (np.float64, np.float32):
        a, b = rng.standard_normal((rows, d)).astype(dt), rng.standard_normal((rows, d)).astype(dt)
        if device == "cuda":
            import torch

            ta, tb = torch.as_tensor(a, device="cuda"), torch.as_tensor(b, device="cuda")
            ta.T @ tb
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(5):
                ta.T @ tb
            torch.cuda.synchronize()
            dt_s = (time.perf_counter() - t0) / 5
        else:
            a.T @ b
            t0 = time.perf_counter()
            for _ in range(3):
                a.T @ b
            dt_s = (time.perf_counter() - t0) / 3
        out.append(2 * rows * d * d / dt_s / 1e9)
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--chunk-rows", type=int, default=1024)
    ap.add_argument("--block-rows", type=int, default=None,
                    help="rows per GEMM step (default: the library's ≈ 64 MiB of float64 per shard; larger on a GPU)")
    ap.add_argument("--workers", type=int, default=2, help="Dask worker processes (local:N), one shard each")
    ap.add_argument("--precision", default="float64", choices=["float64", "float32"])
    ap.add_argument("--metrics", default="linear_cka,debiased_cka,procrustes,cca,svcca")
    ap.add_argument("--dir", default=None, help="where to write the stores (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the generated stores")
    ap.add_argument("--quick", action="store_true", help="2 layers × 256-d × 20 000 rows")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                    help="where the GEMMs run (auto: cuda when torch sees a GPU); the workers share one GPU")
    args = ap.parse_args()
    if args.quick:
        args.layers, args.dim, args.rows, args.chunk_rows = 2, 256, 20_000, 2048
    os.environ.setdefault("REPSCOPE_AUTO_SERIAL", "0")
    import repscope  # noqa: F401  (fail early when src/ is not on the path)
    from repscope.scale.sharded import plan_shards, sharded_layer_pairs

    device = args.device
    if device == "auto":
        try:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:
            device = "cpu"
    L, d, n, W = args.layers, args.dim, args.rows, args.workers
    root = Path(args.dir or tempfile.mkdtemp(prefix="repscope-llm-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        free = shutil.disk_usage(root).free
        need = 2 * L * d * n * 2
        if need > 0.9 * free:
            sys.exit(f"the two stores need {need / 1e9:.1f} GB; {root} has {free / 1e9:.1f} GB free: lower --rows")
        t0 = time.perf_counter()
        pa, pb = generate(root, L, d, n, args.chunk_rows, device=device)
        t_gen = time.perf_counter() - t0
        disk = _du(pa) + _du(pb)
        g64, g32 = gemm_rates(d, 4096, device)
        res = sharded_layer_pairs(pa, pb, metrics=args.metrics.split(","), scheduler=f"local:{W}",
                                  precision=args.precision, device=None if device == "cpu" else device,
                                  block_rows=args.block_rows)
        wall = res.seconds  # includes starting the local cluster
        stream = max(s.seconds for s in res.shards)  # the slowest shard: read + accumulate + finish
        plan = plan_shards(L, L, W)
        p = len({tuple(s.rows) for s in plan})
        q = len(plan) // p
        flops = 2 * n * (L * L + 0.5 * (q * L + p * L)) * d * d
        print(f"## LLM-scale sharded streaming ({device}, precision={args.precision})\n")
        print(f"two stores of {L} layers × {d}-d × {n:,} rows (float16, {args.chunk_rows}-row chunks), "
              f"{L * L} cross blocks + self blocks in {len(plan)} shards ({p} × {q} tiles) on local:{W}; "
              f"measures: {args.metrics}\n")
        print("| quantity | value |\n|---|---|")
        print(f"| rows (tokens) / s, streaming (slowest shard) | {n / stream:,.0f} |")
        print(f"| rows (tokens) / s, wall incl. cluster start | {n / wall:,.0f} |")
        print(f"| wall time (s) | {wall:.1f} (slowest shard {stream:.1f} s; generation {t_gen:.1f} s, not "
              f"included) |")
        print(f"| GEMM rate achieved (GFLOP/s, all workers) | {flops / stream / 1e9:.1f} |")
        print(f"| bytes on disk (both stores) | {disk / 1e9:.2f} GB |")
        print(f"| bytes read by the shards | {sum(s.bytes_read for s in res.shards) / 1e9:.2f} GB |")
        for s in res.shards:
            mb = {k: f"{v / 2**20:,.0f}" for k, v in s.bytes_model.items()}
            print(f"| shard on {s.worker}: peak RSS − RSS at start = own / model (blocks + buffers + finish) | "
                  f"{s.peak_rss / 2**20:,.0f} − {s.rss_at_start / 2**20:,.0f} = "
                  f"{(s.peak_rss - s.rss_at_start) / 2**20:,.0f} MiB / {mb['total']} MiB ({mb['blocks']} + "
                  f"{mb['buffers']} + {mb['finish']}; {len(s.cross_blocks)} cross + "
                  f"{len(s.self_blocks)} self blocks, {s.seconds:.1f} s) |")
        print(f"| one block's product, float64 vs float32 (this process) | {g64:.1f} vs {g32:.1f} GFLOP/s "
              f"(float32 {g32 / g64:.2f}×) |")
        cka = res["linear_cka"].values
        print(f"| linear CKA A×B diagonal (same layer) | {', '.join(f'{v:.3f}' for v in np.diag(cka))} |")
        # Extrapolation to 32 layers × 4096-d × 10⁹ tokens, same per-worker rate
        Lt, dt, nt, Wt = 32, 4096, 10**9, 16
        pt = qt = 4
        flops_t = 2 * nt * (Lt * Lt + 0.5 * (qt * Lt + pt * Lt)) * dt * dt
        rate = flops / stream / W  # per worker
        hours = flops_t / (rate * Wt) / 3600
        gpu_rate = flops / stream  # on cuda: the W workers share one GPU — this is the GPU's rate
        read_t = nt * dt * 2 * (qt * Lt + pt * Lt)
        mem_t = 8 * dt * dt * ((Lt // pt) * (Lt // qt) + Lt // pt + Lt // qt)
        fin_t = 8 * dt * dt * (4 * (Lt // pt + Lt // qt) + 6)
        if device == "cuda":
            print(f"\nExtrapolation to two stores of 32 layers × 4096-d × 10⁹ tokens, at the rate one GPU "
                  f"reached here ({gpu_rate / 1e12:.2f} TFLOP/s with {W} workers sharing it):\n")
            print(f"- flops = 2·n·(L² + ½(q + p)·L)·d² = {flops_t:.2e} → {flops_t / gpu_rate / 3600:,.0f} GPU-hours "
                  f"({flops_t / gpu_rate / 3600 / Wt:,.1f} h wall on {Wt} such GPUs, 4 × 4 tiles; scales as n·(L·d)²)")
        else:
            print(f"\nExtrapolation to two stores of 32 layers × 4096-d × 10⁹ tokens on {Wt} workers (4 × 4 tiles), "
                  f"at the per-worker rate measured here ({rate / 1e9:.1f} GFLOP/s):\n")
            print(f"- flops = 2·n·(L² + ½(q + p)·L)·d² = {flops_t:.2e} → {hours:,.0f} h wall on {Wt} workers "
                  f"({hours * Wt:,.0f} worker-hours; scales as n·(L·d)²)")
        raw = nt * dt * 2 * 2 * Lt
        print(f"- disk read = n·d·2 B·(q + p)·L = {read_t / 1e15:.2f} PB (raw data {raw / 1e12:.0f} TB, each layer "
              f"read by 4 shards)")
        print(f"- memory per worker (model) = 8·d²·(8·8 + 16) = {mem_t / 1e9:.1f} GB of float64 blocks + row "
              f"buffers (+ {fin_t / 1e9:.1f} GB while finishing Procrustes / CCA / SVCCA)")
        print(f"- at H200 float64 GEMM peak (~60 TFLOP/s) one GPU would need {flops_t / 60e12 / 3600:,.0f} h")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
