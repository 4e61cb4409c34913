"""Exact streaming of linear similarity between all layer pairs of two large stores, block pairs sharded.

The stacked cross-covariance of L layers of width d is (L·d)² — 32 × 4096 is 137 GB of float64, too much
for one process. Every linear measure between layer i of store A and layer j of store B needs only three
d×d blocks — S_ij = X̃ᵢᵀỸⱼ and the self blocks S_ii, S_jj (X̃ = centred rows) — plus, for debiased CKA,
a handful of scalars (below). :func:`sharded_layer_pairs` therefore **shards the (i, j) block pairs**:

* the L_A × L_B cross blocks are cut into a p × q grid of tiles (p·q = number of shards; a tile = a set
  R of A layers × a set C of B layers), one shard per tile (within one store: row bands of the upper
  triangle, balanced by pair count);
* each shard streams the n rows once, in ``block_rows`` row blocks read from zarr (float16/float32 on
  disk), reads **only the layers of its tile**, and accumulates in float64 its |R|·|C| cross blocks and
  the |R| + |C| self blocks of its layers (self blocks are recomputed by every shard that reads the layer,
  so that no d×d matrix ever travels between workers — a self block is a syrk, half a cross block);
* it then finishes every requested measure for its pairs **locally** with the registry's ``from_blocks``
  finishers (:func:`repscope.metrics.engine.finish_pair`) and returns only scalars (values, row counts,
  measured memory).

On Dask (``scheduler="local:N"``, ``"tcp://host:port"``, ``"dask"`` or a ``Client``) shard k runs on
worker k mod W (one long task per shard; the workers open the stores by path); ``scheduler=None`` runs the
shards one after another in this process.

Accumulation (exact, one pass, no large-mean cancellation): each layer ℓ is shifted by c_ℓ, the mean of
its first row block, z = x − c_ℓ (shift-invariant quantities are unchanged and the remaining mean m_ℓ of z
is small); per pair the shard sums R_ij = Σ zᵢᵀzⱼ (float64 GEMM per block — BLAS ``dgemm``/``dsyrk`` into
the accumulator, in place — or, with ``precision="float32"``, a float32 GEMM per ≤ 1024 rows added to the
float64 accumulator), Σzᵢ, the row norms u = ‖z_r‖² through Σuᵢuⱼ, Σuᵢzⱼ, Σuⱼzᵢ. The finish is
S_ij = R_ij − n mᵢmⱼᵀ, and for debiased CKA (Song et al. 2012, feature-space form of Nguyen et al. 2021)
with q_r = ‖x_r − μ‖² = u_r − 2 z_rᵀm + ‖m‖²:

    Σ q_i = tr S_ii,
    Σ q_i q_j = Σuᵢuⱼ − 2 mⱼᵀΣuᵢzⱼ − 2 mᵢᵀΣuⱼzᵢ + 4 mᵢᵀR_ij mⱼ + ‖mⱼ‖²Σuᵢ + ‖mᵢ‖²Σuⱼ − 3n‖mᵢ‖²‖mⱼ‖²,
    n(n−3)·HSIC₁(i, j) = ‖S_ij‖²_F − n/(n−2)·Σq_iq_j + (Σq_i)(Σq_j)/((n−1)(n−2)),

debiased CKA = HSIC₁(i, j)/√(HSIC₁(i, i)·HSIC₁(j, j)) — no n-vector is ever stored.

**Memory model** (per shard, float64 accumulators, d_ℓ = width of layer ℓ, b = ``block_rows``)::

    blocks  = 8·(Σ_{(i,j) ∈ tile} dᵢdⱼ + Σ_{ℓ ∈ R ∪ C} d_ℓ²)          (cross + self blocks)
    buffers = b·Σ_{ℓ ∈ R ∪ C} d_ℓ·(2·s_disk + s_gemm)  [+ 4·max dᵢdⱼ for the float32 product]
              (the block being accumulated, as read and as GEMM input, and the next block, read ahead)
    finish  ≈ 8·d_max²·(4·|R ∪ C| + 6)   (Procrustes / CCA family: cached eigen-decompositions; 0 for CKA)

(s_disk = 2 for float16 on disk, s_gemm = 8 or 4). Example: 32 × 32 layers of 4096 on 16 shards (4 × 4
tiles of 8 × 8 layers): blocks = 8·4096²·(64 + 16) = 10.7 GB per shard, 172 GB in all (vs 137 GB for the
single stacked matrix, which no one process could hold); each shard reads 16 of the 64 layers. A worker
holds one shard per task thread at a time (start workers with ``--nthreads 1`` for one shard each; more
shards than workers run one after another). :func:`shard_memory` computes it;
:class:`ShardReport` records it next to the measured peak RSS of the process that ran the shard.

Cost: flops ≈ 2n·Σ_{tiles}(|R|·|C|·d² + ½(|R| + |C|)·d²) ≈ 2n·L_A·L_B·d² for the cross products (the
all-pairs GEMMs); disk read = n·Σ_tiles Σ_{ℓ ∈ R ∪ C} d_ℓ·s_disk (each layer is read by the shards whose
tile contains it: q times for A layers, p times for B layers).
"""

from __future__ import annotations

import contextlib
import math
import os
import pathlib
import resource
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from repscope.errors import InputError

__all__ = ["ShardReport", "ShardedPairs", "plan_shards", "shard_memory", "sharded_layer_pairs"]

#: Measures computed when ``metrics`` is not given.
DEFAULT_METRICS = ("linear_cka", "debiased_cka", "procrustes", "cca", "svcca")
#: Float64 bytes per row block across the layers a shard reads (default ``block_rows``).
BLOCK_BYTES = 64 << 20
#: Most rows of one float32 product (``precision="float32"``); the products are summed in float64.
FLOAT32_ROWS = 1024
#: Threads reading one row block's layers (zarr decode, checksums and copies release the GIL).
READ_THREADS = 4


# --------------------------------------------------------------------------------------------------
# Plan
# --------------------------------------------------------------------------------------------------


@dataclass
class _Shard:
    """One tile: A layers ``rows`` × B layers ``cols`` (within one store: pairs i < j of ``rows`` × ``cols``)."""

    rows: list[int]
    cols: list[int]
    pairs: list[tuple[int, int]]


def plan_shards(n_a: int, n_b: int | None, n_shards: int) -> list[_Shard]:
    """Cut the block pairs into ``n_shards`` tiles (fewer when there are fewer pairs).

    Two stores: a p × q grid over the n_a × n_b cross blocks, p·q = n_shards, p chosen to minimise the layers
    each shard reads (n_a/p + n_b/q). One store (``n_b=None``): row bands of the strict upper triangle with
    balanced pair counts; band k reads its rows and every layer after its first row.
    """
    n_shards = int(n_shards)
    if n_shards < 1:
        raise InputError(f"n_shards={n_shards}; give at least 1 shard")
    if n_b is None:
        total = n_a * (n_a - 1) // 2
        if total == 0:
            raise InputError("one layer only: a within-store matrix needs at least 2 layers")
        k = min(n_shards, n_a - 1)
        counts = np.array([n_a - 1 - i for i in range(n_a - 1)])
        bounds = np.searchsorted(np.cumsum(counts), [total * s / k for s in range(1, k)], side="left") + 1
        bands = [b for b in np.split(np.arange(n_a - 1), bounds) if b.size]
        return [_Shard(rows=[int(i) for i in b], cols=list(range(int(b[0]) + 1, n_a)),
                       pairs=[(int(i), j) for i in b for j in range(int(i) + 1, n_a)]) for b in bands]
    k = min(n_shards, n_a * n_b)
    best = None
    for p in range(1, k + 1):
        if k % p or p > n_a or k // p > n_b:
            continue
        q = k // p
        cost = (math.ceil(n_a / p) + math.ceil(n_b / q), abs(p - q))
        if best is None or cost < best[0]:
            best = (cost, p, q)
    if best is None:  # k prime and larger than both sides: a 1 × n_b or n_a × 1 strip
        p, q = (n_a, 1) if n_a >= n_b else (1, n_b)
    else:
        p, q = best[1], best[2]
    out = []
    for R in np.array_split(np.arange(n_a), p):
        for C in np.array_split(np.arange(n_b), q):
            out.append(_Shard(rows=[int(i) for i in R], cols=[int(j) for j in C],
                              pairs=[(int(i), int(j)) for i in R for j in C]))
    return out


def shard_memory(dims_a: Sequence[int], dims_b: Sequence[int] | None, shard: _Shard, block_rows: int, *,
                 disk_itemsize: int = 2, precision: str = "float64",
                 metrics: Sequence[str] = ("linear_cka",)) -> dict[str, int]:
    """Bytes a shard holds (see the module's memory model): ``blocks`` (float64 cross + self blocks),
    ``buffers`` (one row block of its layers as read and as GEMM input, plus the next block, read ahead),
    ``finish`` (eigen-decompositions
    cached per layer and per-pair temporaries of the Procrustes/CCA-family finishers, ≈ 8·d²·(4·layers + 6),
    an estimate checked against tracemalloc; 0 for the CKAs), ``total``."""
    db = dims_a if dims_b is None else dims_b
    read = [dims_a[i] for i in shard.rows] + [db[j] for j in shard.cols if dims_b is not None or j not in shard.rows]
    blocks = 8 * (sum(dims_a[i] * db[j] for i, j in shard.pairs) + sum(d * d for d in read))
    s_gemm = 4 if precision == "float32" else 8
    buffers = int(block_rows) * sum(read) * (2 * disk_itemsize + s_gemm)  # this block + the one read ahead
    if precision == "float32":
        buffers += 4 * max((dims_a[i] * db[j] for i, j in shard.pairs), default=0)
    finish = 0
    if any(m not in ("linear_cka", "debiased_cka") for m in metrics):
        finish = 8 * max(read) ** 2 * (4 * len(read) + 6)
    return {"blocks": int(blocks), "buffers": int(buffers), "finish": int(finish),
            "total": int(blocks + buffers + finish)}


# --------------------------------------------------------------------------------------------------
# Accumulation (runs inside a shard)
# --------------------------------------------------------------------------------------------------


class _Accumulator:
    """Shifted float64 sums of one shard's layers: Σz, Σu, and per pair R = Σzᵢᵀzⱼ, Σuᵢuⱼ, Σuᵢzⱼ, Σuⱼzᵢ
    (pairs include the self pairs (ℓ, ℓ)). numpy + BLAS on the CPU, torch on a GPU (``device``)."""

    def __init__(self, dims: Sequence[int], pairs: Sequence[tuple[int, int]], precision: str, device: Any) -> None:
        from repscope.metrics._common import use_torch

        if precision not in ("float64", "float32"):
            raise InputError(f"precision={precision!r}; use 'float64' (exact) or 'float32' (float32 GEMMs, "
                             f"float64 sums)")
        self.low = precision == "float32"
        self.dev = use_torch(device)
        self.dims = list(dims)
        self.pairs = list(pairs)
        self.n = 0
        self.shift: list[Any] | None = None
        self.sz = [self._zeros(d) for d in dims]
        self.su = [0.0 for _ in dims]
        self.R = {p: self._zeros(dims[p[0]], dims[p[1]]) for p in self.pairs}
        self.suu = {p: 0.0 for p in self.pairs}
        self.suz = {p: self._zeros(dims[p[1]]) for p in self.pairs}  # Σ u_i z_j
        self.szu = {p: self._zeros(dims[p[0]]) for p in self.pairs}  # Σ u_j z_i

    def _zeros(self, *shape: int) -> Any:
        if self.dev is None:
            return np.zeros(shape, dtype=np.float64, order="F")
        import torch

        return torch.zeros(shape, dtype=torch.float64, device=self.dev)

    def _prep(self, blocks: Sequence[np.ndarray]) -> tuple[list[Any], list[Any]]:
        """(z in the GEMM dtype, u = ‖z_r‖² in float64) per layer; the first call fixes the shifts."""
        if self.dev is None:
            if self.shift is None:
                self.shift = [np.asarray(b, dtype=np.float64).mean(0) for b in blocks]
                if self.low:  # the float32 path subtracts the float32-rounded shift (exactly, below)
                    self.shift = [s.astype(np.float32).astype(np.float64) for s in self.shift]
            dt = np.float32 if self.low else np.float64
            zs = [np.subtract(b, s.astype(dt), dtype=dt) for b, s in zip(blocks, self.shift)]
            us = [np.einsum("ij,ij->i", z, z, dtype=np.float64) for z in zs]
            return zs, us
        import torch

        xs = [torch.as_tensor(np.asarray(b), device=self.dev) for b in blocks]
        if self.shift is None:
            self.shift = [x.double().mean(0) for x in xs]
            if self.low:
                self.shift = [s.float().double() for s in self.shift]
        dt = torch.float32 if self.low else torch.float64
        zs = [x.to(dt) - s.to(dt) for x, s in zip(xs, self.shift)]
        us = [(z.double() * z.double()).sum(1) if self.low else (z * z).sum(1) for z in zs]
        return zs, us

    def update(self, blocks: Sequence[np.ndarray]) -> None:
        nb = int(blocks[0].shape[0])
        if nb == 0:
            return
        zs, us = self._prep(blocks)
        for k, (z, u) in enumerate(zip(zs, us)):
            self.sz[k] += z.sum(0, dtype=np.float64) if self.dev is None else z.double().sum(0)
            self.su[k] += float(u.sum())
        for p in self.pairs:
            i, j = p
            self._gemm(p, zs[i], zs[j])
            self.suu[p] += float(us[i] @ us[j])
            self.suz[p] += self._uz(us[i], zs[j])
            if i != j:
                self.szu[p] += self._uz(us[j], zs[i])
        self.n += nb

    def _uz(self, u: Any, z: Any) -> Any:
        """Σ_r u_r z_r (float64 result; in the float32 path the product is float32, without a float64 copy of z)."""
        if not self.low:
            return u @ z
        if self.dev is None:
            return (u.astype(np.float32) @ z).astype(np.float64)
        return (u.float() @ z).double()

    def _gemm(self, p: tuple[int, int], zi: Any, zj: Any) -> None:
        R = self.R[p]
        if self.dev is not None:
            if not self.low:
                R.addmm_(zi.T, zj)
                return
            for s in range(0, zi.shape[0], FLOAT32_ROWS):
                R += (zi[s : s + FLOAT32_ROWS].T @ zj[s : s + FLOAT32_ROWS]).double()
            return
        from scipy.linalg import blas

        if self.low:
            for s in range(0, zi.shape[0], FLOAT32_ROWS):
                a, b = zi[s : s + FLOAT32_ROWS], zj[s : s + FLOAT32_ROWS]
                R += blas.ssyrk(1.0, a.T, trans=0, lower=0) if p[0] == p[1] else blas.sgemm(1.0, a.T, b.T, trans_b=1)
            return
        # zᵀ of a C-ordered block is Fortran-ordered: BLAS reads it in place and adds into R (Fortran) in place.
        if p[0] == p[1]:
            self.R[p] = blas.dsyrk(1.0, zi.T, beta=1.0, c=R, trans=0, lower=0, overwrite_c=1)
        else:
            self.R[p] = blas.dgemm(1.0, zi.T, zj.T, beta=1.0, c=R, trans_b=1, overwrite_c=1)

    def finish(self) -> tuple[dict, dict]:
        """Centred blocks S (float64 numpy, self blocks symmetrised, in place) and per pair Σq_iq_j (the
        module's formula); Σq_i = tr S_ii."""
        from repscope.metrics._common import to_numpy

        n = self.n
        m = [to_numpy(s) / n for s in self.sz]
        S, qq = {}, {}
        for p in self.pairs:
            i, j = p
            R = np.asfortranarray(to_numpy(self.R[p]))
            self.R[p] = None  # the device copy goes as soon as the host copy exists
            if i == j:
                R = np.triu(R) + np.triu(R, 1).T if not self._full(p) else R
            ai, aj = float(m[i] @ m[i]), float(m[j] @ m[j])
            qq[p] = (self.suu[p] - 2 * float(m[j] @ to_numpy(self.suz[p]))
                     - 2 * float(m[i] @ to_numpy(self.szu[p] if i != j else self.suz[p]))
                     + 4 * float(m[i] @ R @ m[j]) + aj * self.su[i] + ai * self.su[j] - 3 * n * ai * aj)
            from scipy.linalg.blas import dger

            S[p] = dger(-float(n), m[i], m[j], a=R, overwrite_a=1)  # R − n·m_i m_jᵀ in place
        return S, qq

    def _full(self, p: tuple[int, int]) -> bool:
        """Whether the self block was accumulated as a full matrix (torch) rather than an upper triangle."""
        return self.dev is not None


def _debiased(S: Mapping, qq: Mapping, n: int, pi: tuple, pj: tuple, pij: tuple) -> float:
    """Debiased CKA of one pair from its blocks and Σq products (module formula; Song et al. 2012)."""
    from repscope.metrics import cka

    if n < 4:
        raise InputError("debiased CKA needs at least 4 samples")

    def h(p: tuple) -> float:
        A = S[p]
        tr = (float(np.trace(S[(p[0], p[0])])), float(np.trace(S[(p[1], p[1])])))
        return float(np.vdot(A, A)) - n / (n - 2.0) * qq[p] + tr[0] * tr[1] / ((n - 1.0) * (n - 2.0))

    return cka._ratio(h(pij), h(pi), h(pj), True)


# --------------------------------------------------------------------------------------------------
# One shard (a Dask task, or a call in this process)
# --------------------------------------------------------------------------------------------------


def _reader(src: Any) -> Any:
    """A function (layer, rows) → numpy rows, for a store path or a mapping of arrays."""
    if isinstance(src, str):
        from repscope.store import open_store

        st = open_store(pathlib.Path(src))
        return lambda layer, sel: st.read(layer, sel)
    return lambda layer, sel: np.asarray(src[layer][sel])


def _rows(idx: np.ndarray | None, s: int, e: int) -> Any:
    """Row selection of rows s:e of the stream: a slice when contiguous (fast zarr reads), else indices."""
    if idx is None:
        return slice(s, e)
    part = idx[s:e]
    if part.size and part[-1] - part[0] == part.size - 1 and np.all(np.diff(part) == 1):
        return slice(int(part[0]), int(part[-1]) + 1)
    return part


def run_shard(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Stream one shard (see :func:`sharded_layer_pairs`): read its layers, accumulate its blocks, finish its
    measures locally; returns values, the blocks it held and its measured memory. Public so that Dask
    workers import it by reference."""
    from repscope.metrics import registry
    from repscope.metrics._common import eig_cache
    from repscope.metrics.engine import check_finite_blocks, finish_pair

    t0 = time.perf_counter()
    rss0 = _reset_peak_rss()
    sh: _Shard = spec["shard"]
    within = spec["within"]
    # Local layer list: ("a", i) for the rows, then the cols not already read.
    keys = [("a", i) for i in sh.rows] + [("a" if within else "b", j) for j in sh.cols
                                           if not (within and j in sh.rows)]
    loc = {k: t for t, k in enumerate(keys)}
    side_b = "a" if within else "b"
    cross = [(loc["a", i], loc[side_b, j]) for i, j in sh.pairs]
    pairs = [(t, t) for t in range(len(keys))] + cross
    names = {"a": spec["layers_a"], "b": spec["layers_b"]}
    dims = [spec["dims_" + s][i] for s, i in keys]
    acc = _Accumulator(dims, pairs, spec["precision"], spec["device"])
    read = {"a": _reader(spec["src_a"]), "b": _reader(spec["src_b"]) if spec["src_b"] is not None else None}
    n, br, nbytes = spec["n"], spec["block_rows"], 0
    labels = [f"{'store_a' if s == 'a' else 'store_b'} layer {names[s][i]!r}" for s, i in keys]

    def read_one(key: tuple[str, int], s: int, e: int) -> np.ndarray:
        side, i = key
        b = read[side](names[side][i], _rows(spec["idx_" + side], s, e))
        return b.reshape(b.shape[0], -1)

    # Read-ahead: the next row block's layers are read (READ_THREADS at a time) while this one is accumulated,
    # so disk/decode and the GEMMs overlap (on a GPU the reads were 90 % of the time without it).
    with ThreadPoolExecutor(1) as ahead, ThreadPoolExecutor(min(len(keys), READ_THREADS)) as readers:
        def fetch(s: int) -> list[np.ndarray]:
            e = min(n, s + br)
            return list(readers.map(lambda k: read_one(k, s, e), keys))

        starts = list(range(0, n, br))
        nxt = ahead.submit(fetch, 0) if starts else None
        for t, s in enumerate(starts):
            assert nxt is not None
            blocks = nxt.result()
            nxt = ahead.submit(fetch, starts[t + 1]) if t + 1 < len(starts) else None
            nbytes += sum(b.nbytes for b in blocks)
            check_finite_blocks(blocks, labels,
                                f" in rows {s}:{min(n, s + br)}; drop those samples (store.finite_rows(layer))")
            acc.update(blocks)
            del blocks
    S, qq = acc.finish()
    vals: dict[str, dict] = {}
    with eig_cache(keep=True):
        for metric in spec["metrics"]:
            kw = spec["options"].get(metric, {})
            m = registry.get(metric)
            both = within and not m.symmetric_for(kw)
            out = vals.setdefault(metric, {})
            for (i, j), (ti, tj) in zip(sh.pairs, cross):
                for (a, b), (x, y) in ([((i, j), (ti, tj))] + ([((j, i), (tj, ti))] if both else [])):
                    if metric == "debiased_cka":
                        out[a, b] = _debiased(S, qq, n, (x, x), (y, y), (ti, tj))
                    else:
                        Sxy = S[ti, tj] if (x, y) == (ti, tj) else S[ti, tj].T
                        out[a, b] = finish_pair(metric, S[x, x], S[y, y], Sxy, n=n, **kw)
            for i in spec["diag"] if within else []:
                out[i, i] = _self_value(metric, m, kw, S, qq, n, loc["a", i])
    return {
        "worker": _worker_address(),
        "values": vals,
        "cross_blocks": [(names["a"][i], names[side_b][j]) for i, j in sh.pairs],
        "self_blocks": [(("a" if s == "a" else side_b), names[s][i]) for s, i in keys],
        "bytes_blocks": int(sum(8 * a.size for a in S.values())),
        "bytes_read": int(nbytes),
        "peak_rss": _peak_rss(),
        "rss_at_start": int(rss0),
        "seconds": time.perf_counter() - t0,
        "rows": int(acc.n),
        "blocks": ({f"{keys[i][0]}{keys[i][1]},{keys[j][0]}{keys[j][1]}": S[i, j] for i, j in pairs}
                   if spec["return_blocks"] else None),
    }


def _proc_status(field: str) -> int | None:
    """A ``/proc/self/status`` memory field in bytes (Linux), else None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> int:
    """Reset the process's peak RSS (Linux: ``echo 5 > /proc/self/clear_refs`` sets VmHWM to the current RSS)
    so that the peak measured after a shard is that shard's; returns the RSS now (bytes)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:  # not Linux, or not allowed: the lifetime peak (ru_maxrss) is reported instead
        pass
    return _proc_status("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _peak_rss() -> int:
    """Peak RSS (bytes) since :func:`_reset_peak_rss` (VmHWM), else the process's lifetime peak."""
    return _proc_status("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _self_value(metric: str, m: Any, kw: dict, S: Mapping, qq: Mapping, n: int, t: int) -> float:
    ident = m.identity_for(kw)
    if ident is not None:
        return float(ident)
    if metric == "debiased_cka":
        return _debiased(S, qq, n, (t, t), (t, t), (t, t))
    from repscope.metrics.engine import finish_pair

    return finish_pair(metric, S[t, t], S[t, t], S[t, t], n=n, **kw)


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"local (pid {os.getpid()})"


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


@dataclass
class ShardReport:
    """What one shard did: where it ran, the blocks it held, bytes (model and measured), time.

    ``peak_rss``: the peak resident memory of the process that ran it, during the shard (Linux: VmHWM reset
    at the shard's start; elsewhere the process's lifetime peak); ``rss_at_start``: its RSS when the shard
    began (the worker's own baseline: Python, numpy, dask), so ``peak_rss − rss_at_start`` is the shard's."""

    worker: str
    cross_blocks: list[tuple[str, str]]
    self_blocks: list[tuple[str, str]]
    bytes_blocks: int
    bytes_model: dict[str, int]
    bytes_read: int
    peak_rss: int
    rss_at_start: int
    seconds: float
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(map(list, v)) if k.endswith("_blocks") and isinstance(v, list) else v)
                for k, v in self.__dict__.items()}


@dataclass
class ShardedPairs:
    """Layer matrices of several linear measures from one sharded pass (:func:`sharded_layer_pairs`).

    ``matrices[metric]`` is a :class:`repscope.metrics.LayerMatrix`; ``shards`` the :class:`ShardReport` of
    each shard; ``n`` rows streamed; ``seconds`` wall time; ``blocks`` (with ``return_blocks=True``) the
    centred blocks of each shard (tests).
    """

    matrices: dict[str, Any]
    shards: list[ShardReport]
    n: int
    seconds: float
    scheduler: str
    blocks: list[dict] | None = field(default=None, repr=False)

    def __getitem__(self, metric: str) -> Any:
        if metric not in self.matrices:
            raise InputError(f"{metric!r} was not computed; computed: {list(self.matrices)}")
        return self.matrices[metric]

    def peak_rss_per_worker(self) -> dict[str, int]:
        """Largest measured peak RSS (bytes) of the process of each worker."""
        out: dict[str, int] = {}
        for s in self.shards:
            out[s.worker] = max(out.get(s.worker, 0), s.peak_rss)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "seconds": self.seconds, "scheduler": self.scheduler,
                "matrices": {k: v.to_dict() for k, v in self.matrices.items()},
                "shards": [s.to_dict() for s in self.shards]}

    @property
    def title(self) -> str:
        return f"Sharded layer pairs ({', '.join(self.matrices)})"

    def table(self) -> tuple[list[str], list[list[Any]]]:
        """One row per shard: where it ran, blocks held, measured peak RSS and the memory model (MiB)."""
        head = ["shard", "worker", "cross blocks", "self blocks", "peak RSS (MiB)", "model (MiB)", "seconds"]
        return head, [[k, s.worker, len(s.cross_blocks), len(s.self_blocks), round(s.peak_rss / 2**20, 1),
                       round(s.bytes_model["total"] / 2**20, 1), round(s.seconds, 2)]
                      for k, s in enumerate(self.shards)]

    def summary(self) -> str:
        lines = [f"{len(self.matrices)} measure(s) over {self.n} rows in {len(self.shards)} shard(s) "
                 f"({self.scheduler}), {self.seconds:.1f} s"]
        for w, b in self.peak_rss_per_worker().items():
            lines.append(f"  {w}: peak RSS {b / 2**20:.0f} MiB")
        lines += [v.summary() for v in self.matrices.values()]
        return "\n".join(lines)

    def plot(self, metric: str | None = None, ax: Any = None) -> Any:
        """The layer matrix of ``metric`` (default: the first computed)."""
        return self[metric or next(iter(self.matrices))].plot(ax=ax)

    def plotly(self, metric: str | None = None) -> Any:
        return self[metric or next(iter(self.matrices))].plotly()


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------


def _source(src: Any, layers: Sequence[str] | str | None, name: str) -> tuple[Any, list[str], list[int], Any, int,
                                                                              int, int]:
    """(what a shard receives: store path or mapping, layer names, dims, sample ids or None, n, itemsize, rows
    per zarr chunk)."""
    if isinstance(layers, str):
        layers = [s.strip() for s in layers.split(",") if s.strip()]
    if isinstance(src, str | os.PathLike):
        from repscope.store import open_store

        src = open_store(pathlib.Path(src))
    if isinstance(src, Mapping):
        names = list(src) if layers is None else list(layers)
        missing = [k for k in names if k not in src]
        if missing:
            raise InputError(f"{name} has no layer(s) {missing}; available: {list(src)}")
        arrs = {k: np.asarray(src[k]) for k in names}
        ns = {a.shape[0] for a in arrs.values()}
        if len(ns) != 1:
            raise InputError(f"{name}'s layers have different numbers of rows {sorted(ns)}; they must describe "
                             f"the same samples")
        dims = [int(np.prod(a.shape[1:])) for a in arrs.values()]
        return arrs, names, dims, None, ns.pop(), max(a.dtype.itemsize for a in arrs.values()), 1
    if not (hasattr(src, "layers") and hasattr(src, "path")):
        raise InputError(f"{name} is a {type(src).__name__}; pass an ActivationStore, a store path, or a mapping "
                         f"{{layer: array}}")
    names = list(src.layers) if layers is None else list(layers)
    missing = [k for k in names if k not in src.layers]
    if missing:
        raise InputError(f"{name} has no layer(s) {missing}; available: {src.layers}")
    for k in names:
        if src.nonfinite(k):
            raise InputError(f"{name} layer {k!r} has {src.nonfinite(k)} NaN/Inf values; drop those samples "
                             f"(store.finite_rows(layer)) first")
    dims = [src.n_features(k) for k in names]
    itemsize = max(np.dtype(src.layer_info(k).get("dtype") or "float32").itemsize for k in names)
    native = max(int(src.dask_array(k).chunks[0][0]) for k in names)  # rows per zarr chunk
    return str(src.path), names, dims, np.asarray(src.sample_ids), int(src.n_samples), itemsize, native


def _match(ids_a: Any, ids_b: Any, n_a: int, n_b: int) -> tuple[np.ndarray | None, np.ndarray | None, int]:
    """Row indices of the common samples, in store A's order (None = all rows in order)."""
    if ids_a is None or ids_b is None:
        if n_a != n_b:
            raise InputError(f"the sources have {n_a} and {n_b} rows and no sample ids to match them; give "
                             f"arrays of the same samples in the same order")
        return None, None, n_a
    if np.array_equal(ids_a, ids_b):
        return None, None, n_a
    for ids, nm in ((ids_a, "store_a"), (ids_b, "store_b")):
        if np.unique(ids).size != ids.size:
            raise InputError(f"{nm} has repeated sample ids; they cannot be matched — recapture with unique ids")
    common, ia, ib = np.intersect1d(ids_a, ids_b, assume_unique=True, return_indices=True)
    if common.size < 2:
        raise InputError(f"store_a and store_b share {common.size} sample id(s); capture both on the same inputs")
    order = np.argsort(ia)
    return ia[order], ib[order], int(common.size)


def sharded_layer_pairs(
    store_a: Any,
    store_b: Any = None,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    layers_a: Sequence[str] | str | None = None,
    layers_b: Sequence[str] | str | None = None,
    scheduler: Any = None,
    n_shards: int | None = None,
    block_rows: int | None = None,
    precision: str = "float64",
    device: Any = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    return_blocks: bool = False,
) -> ShardedPairs:
    """Linear measures between every layer of ``store_a`` and every layer of ``store_b`` (or every pair
    within ``store_a``), streamed exactly with the (i, j) block pairs sharded across workers.

    Parameters
    ----------
    store_a, store_b:
        ActivationStores, store paths, or mappings ``{layer: (n, ...) array}``. Two stores are matched by
        ``sample_ids`` (rows of common samples, in store A's order; contiguous runs are read as slices —
        a store whose samples are shuffled relative to A is read by index, touching many chunks per row
        block: for LLM sizes write both stores in the same order).
    metrics:
        Any of :func:`repscope.metrics.engine.linear_measures` (default linear CKA, debiased CKA, Procrustes,
        CCA, SVCCA); ``options={"svcca": {"threshold": 0.95}}`` passes finisher options.
    scheduler:
        ``None``/``"serial"``: shards run one after another in this process; ``"local:N"``,
        ``"tcp://host:port"``, ``"dask"`` or a ``Client``: shard k runs on worker k mod W (workers need the
        store paths).
    n_shards:
        Default: the number of Dask worker processes (1 in this process). More shards = less memory each.
    block_rows:
        Rows read per step (default ≈ 64 MiB of float64 across the shard's layers, rounded to whole zarr
        chunks, at least one).
    precision:
        ``"float64"`` (float64 GEMMs: equals the in-memory float64 result to rounding) or ``"float32"``
        (float32 GEMMs over ≤ 1024 rows, summed in float64: ≈ 2× faster on CPUs, relative error ~1e-6).
    device:
        ``None``/``"cpu"`` numpy + BLAS, ``"cuda"`` torch GEMMs on the GPU (the accumulators live there).

    Memory per shard: see the module docstring and :func:`shard_memory` (reported in ``shards[k].bytes_model``
    next to the measured ``peak_rss``).
    """
    from repscope.metrics import LayerMatrix, registry
    from repscope.metrics.engine import check_block_options, linear_measures

    t0 = time.perf_counter()
    metrics = list(metrics)
    opts = {k: dict(v) for k, v in (options or {}).items()}
    lin = linear_measures()
    bad = [m for m in metrics if m not in lin]
    if bad or not metrics:
        raise InputError(f"metric(s) {bad or metrics} cannot be streamed from cross products; choose from {lin}")
    for m in metrics:
        if m != "debiased_cka":
            check_block_options(registry.get(m), opts.get(m, {}))
    if precision not in ("float64", "float32"):
        raise InputError(f"precision={precision!r}; use 'float64' (exact) or 'float32' (float32 GEMMs, float64 sums)")
    src_a, la, dims_a, ids_a, n_a, isz, native = _source(store_a, layers_a, "store_a")
    within = store_b is None
    if within:
        src_b, lb, dims_b, idx_a, idx_b, n = None, None, None, None, None, n_a
        cols, dims_cols = la, dims_a  # the layers (and their widths) of the matrix's columns
    else:
        src_b, lb, dims_b, ids_b, n_b, isz_b, native_b = _source(
            store_b, layers_a if layers_b is None else layers_b, "store_b")
        cols, dims_cols = lb, dims_b
        isz, native = max(isz, isz_b), max(native, native_b)
        idx_a, idx_b, n = _match(ids_a, ids_b, n_a, n_b)
    if not la or not cols:
        raise InputError("no layers selected; give at least one layer name per store")
    if n < (4 if "debiased_cka" in metrics else 2):
        raise InputError(f"only {n} common sample(s); {metrics} need at least {4 if 'debiased_cka' in metrics else 2}")
    sched = scheduler.strip() if isinstance(scheduler, str) else scheduler
    local = sched in (None, "serial", "sync", "synchronous")
    if not local:
        from repscope.parallel import check_scheduler
        from repscope.parallel.dask import client_for

        check_scheduler(sched)
    with contextlib.nullcontext() if local else client_for(sched) as client:
        workers = [None] if client is None else sorted(client.scheduler_info()["workers"])
        k = len(workers) if n_shards is None else int(n_shards)
        plan = plan_shards(len(la), None if within else len(cols), k)
        specs = []
        for s, sh in enumerate(plan):
            width = sum(dims_a[i] for i in sh.rows) + sum(dims_cols[j] for j in sh.cols)
            br = int(block_rows) if block_rows else max(256, min(n, BLOCK_BYTES // (8 * max(1, width))))
            if not block_rows:  # whole zarr chunks per read (a partial read decodes the whole chunk anyway)
                br = max(native, (br // native) * native)
            if br < 1:
                raise InputError(f"block_rows={block_rows}; give a positive number of rows")
            specs.append({"shard": sh, "within": within, "layers_a": la, "layers_b": lb, "dims_a": dims_a,
                          "dims_b": dims_b, "src_a": src_a, "src_b": src_b, "idx_a": idx_a, "idx_b": idx_b,
                          "n": n, "block_rows": br, "precision": precision, "device": device,
                          "metrics": metrics, "options": opts, "return_blocks": return_blocks,
                          "diag": _diag_owner(plan, s, len(la)) if within else [],
                          "worker": None if client is None else workers[s % len(workers)]})
        outs = _execute(specs, client)
    reports, blocks = [], []
    for spec, o in zip(specs, outs):
        reports.append(ShardReport(
            worker=o["worker"], cross_blocks=o["cross_blocks"], self_blocks=o["self_blocks"],
            bytes_blocks=o["bytes_blocks"], bytes_read=o["bytes_read"], peak_rss=o["peak_rss"],
            rss_at_start=o["rss_at_start"], seconds=o["seconds"], rows=o["rows"],
            bytes_model=shard_memory(dims_a, dims_b, spec["shard"], spec["block_rows"], disk_itemsize=isz,
                                     precision=precision, metrics=metrics)))
        blocks.append(o["blocks"])
    matrices = {}
    for metric in metrics:
        vals = np.full((len(la), len(cols)), np.nan)
        for o in outs:
            for (i, j), v in o["values"][metric].items():
                vals[i, j] = v
        m = registry.get(metric)
        kw = opts.get(metric, {})
        if within and m.symmetric_for(kw):
            lower = np.tril_indices(len(la), -1)
            vals[lower] = vals.T[lower]
        matrices[metric] = LayerMatrix(
            values=vals, rows=list(la), cols=list(cols), metric=metric, kind=m.kind, value_range=m.range_for(kw),
            n_samples=n, description=m.description,
            params={**kw, "streamed": "sharded", "shards": len(plan), "precision": precision},
            seconds=time.perf_counter() - t0)
    return ShardedPairs(matrices=matrices, shards=reports, n=n, seconds=time.perf_counter() - t0,
                        scheduler="serial" if local else str(sched if isinstance(sched, str) else "client"),
                        blocks=blocks if return_blocks else None)


def _diag_owner(plan: list[_Shard], s: int, n_layers: int) -> list[int]:
    """Within one store: layers whose diagonal value shard s finishes (the first shard that reads them)."""
    owner: dict[int, int] = {}
    for k, sh in enumerate(plan):
        for layer in list(sh.rows) + list(sh.cols):
            owner.setdefault(layer, k)
    return [layer for layer in range(n_layers) if owner.get(layer) == s]


def _execute(specs: list[dict], client: Any) -> list[dict]:
    if client is None:
        return [run_shard(s) for s in specs]
    futs = [client.submit(run_shard, s, workers=[s["worker"]], allow_other_workers=True, pure=False,
                          key=f"repscope-shard-{k}-{time.time_ns()}") for k, s in enumerate(specs)]
    try:
        return client.gather(futs)
    except BaseException:
        client.cancel(futs, force=True)
        raise
