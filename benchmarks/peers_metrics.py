"""Speed, peak memory and agreement of repscope's peer-derived measures against the peers, in one run.

    PYTHONPATH=src benchmarks/.venv/bin/python benchmarks/peers_metrics.py [--quick] [--n 5000]

Section 1 (issue 17): RSA (correlation RDM + Spearman) for one pair at n = 5000, d = 512 against
rsatoolbox 0.3.2 (``calc_rdm`` + ``compare(method="spearman")``), and mutual k-NN (k = 10) against
platonic-rep's ``AlignmentMetrics.mutual_knn`` — time (min of alternating rounds A B A B), peak traced
memory (tracemalloc: numpy and torch CPU allocations) and |ours − theirs|. The n up to which each
repscope call fits in 4 GiB is extrapolated from the measured peak (RSA ∝ n², kNN ∝ n) and checked by
one run at a larger n.

Section 2 (issue 15): one row per new measure against its reference implementation: netrep
(PermutationMetric, GaussianStochasticMetric, EnergyStochasticMetric, frechet_mean), platonic-rep
(cknna, cycle_knn) and rsatoolbox (rho-a, tau-b, bootstrap resample, boot_noise_ceiling,
calc_rdm_crossnobis): time of each side and the largest discrepancy.

netrep is not on PyPI: ``pip install "git+https://github.com/ahwillia/netrep@0186b8a"`` into the
venv. platonic-rep's metrics.py is loaded from a checkout (``--platonic``, a clone or a bare git
directory) with a stub for its unused torchaudio import. Rows whose peer is missing say so.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import math
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from repscope import metrics as M
from repscope.metrics._rdm import resampled_compare
from repscope.metrics._rsa import rsa

GiB = 2**30


def timed(fn: Callable[[], Any], rounds: int = 1) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(rounds):
        gc.collect()
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak resident memory added by one call: run in a forked child, ru_maxrss − RSS at its start
    (counts numpy and torch allocations alike; the inputs already exist in the parent)."""
    import multiprocessing as mp

    def child(q: Any) -> None:
        import resource

        import psutil

        gc.collect()
        base = psutil.Process().memory_info().rss
        fn()
        q.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base)

    ctx = mp.get_context("fork")
    q = ctx.Queue()
    proc = ctx.Process(target=child, args=(q,))
    proc.start()
    out = q.get()
    proc.join()
    return int(out)


def alternate(ours: Callable[[], Any], theirs: Callable[[], Any], rounds: int) -> tuple[float, float, Any, Any]:
    """A B A B …: min time of each side over ``rounds`` alternating rounds."""
    to = tt = math.inf
    a = b = None
    for _ in range(rounds):
        t, a = timed(ours)
        to = min(to, t)
        t, b = timed(theirs)
        tt = min(tt, t)
    return to, tt, a, b


def have(mod: str) -> bool:
    return importlib.util.find_spec(mod) is not None


def load_platonic(path: str) -> Any:
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from make_peer_metric_fixtures import load_platonic as _load

    try:
        return _load(path)[0]
    except Exception as exc:  # noqa: BLE001 - a missing checkout only skips rows
        print(f"  (platonic-rep not available at {path}: {type(exc).__name__}; its rows are skipped)")
        return None


def section_large_n(n: int, rounds: int, platonic: Any, quick: bool) -> None:
    import rsatoolbox
    import torch

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 512))
    Y = X[:, :256] @ rng.standard_normal((256, 256)) + rng.standard_normal((n, 256))

    def theirs_rsa() -> float:
        rx = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(X), method="correlation")
        ry = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(Y), method="correlation")
        return float(rsatoolbox.rdm.compare(rx, ry, method="spearman")[0, 0])

    def ours_rsa() -> float:
        return rsa(X, Y)

    to, tt, a, b = alternate(ours_rsa, theirs_rsa, rounds)
    po = peak_bytes(ours_rsa)
    pt = peak_bytes(theirs_rsa)
    print(f"\n## Large n (issue 17): one pair, n = {n}, d = 512 / 256; min of {rounds} alternating rounds\n")
    print("| workload | repscope s | peer s | speed-up | repscope peak MiB | peer peak MiB | |ours − peer| |")
    print("|---|---|---|---|---|---|---|")
    print(f"| RSA corr+Spearman vs rsatoolbox | {to:.2f} | {tt:.2f} | {tt / to:.1f}× | {po / 2**20:.0f} | "
          f"{pt / 2**20:.0f} | {abs(a - b):.1e} |")
    c_rsa = po / n**2
    if platonic is not None:
        tX = torch.nn.functional.normalize(torch.tensor(X), dim=-1)
        tY = torch.nn.functional.normalize(torch.tensor(Y), dim=-1)
        to, tt, a, b = alternate(lambda: M.mutual_knn(X, Y, k=10), lambda: platonic.mutual_knn(tX, tY, 10), rounds)
        po_k = peak_bytes(lambda: M.mutual_knn(X, Y, k=10))
        pt_k = peak_bytes(lambda: platonic.mutual_knn(tX, tY, 10))
        print(f"| mutual k-NN (k=10) vs platonic-rep | {to:.2f} | {tt:.2f} | {tt / to:.1f}× | "
              f"{po_k / 2**20:.0f} | {pt_k / 2**20:.0f} | {abs(a - b):.1e} |")
    print("\nPeak = resident memory added during the call (forked child: ru_maxrss − RSS before; inputs excluded).")
    n2 = 2 * n if not quick else n + n // 2
    X2 = rng.standard_normal((n2, 64))
    Y2 = X2 + rng.standard_normal((n2, 64))
    t2, _ = timed(lambda: rsa(X2, Y2))
    p2 = peak_bytes(lambda: rsa(X2, Y2))
    c2 = p2 / n2**2
    print(f"\nRSA at n = {n} used {c_rsa:.1f}·n² bytes, at n = {n2} ({t2:.1f} s) {p2 / 2**20:.0f} MiB = {c2:.1f}·n² "
          f"bytes (the 64 MiB row block matters less as n grows) → one Spearman RSA pair fits 4 GiB up to "
          f"n ≈ {int(math.sqrt(4 * GiB / c2)):,} (plus the inputs, n·d·8 bytes each)"
          + (" — --quick: n is too small for the n² term to dominate; the full run gives the bound." if quick else "."))
    # mutual k-NN: O(n·k) tables + one 64 MiB block of similarities → n_max limited by the inputs only
    nk = 4 * n
    Xk = rng.standard_normal((nk, 64))
    Yk = Xk + rng.standard_normal((nk, 64))
    tk, _ = timed(lambda: M.mutual_knn(Xk, Yk, k=10))
    pk = peak_bytes(lambda: M.mutual_knn(Xk, Yk, k=10))
    from repscope.metrics.neighbors import BLOCK_BYTES

    block = (BLOCK_BYTES // (8 * nk)) * 8 * nk  # the similarity rows of one block (fixed size)
    per_n = max(pk - block, 0) / nk
    fit = int((4 * GiB - block) / max(per_n, 1.0))
    print(f"mutual k-NN at n = {nk}: {tk:.1f} s, peak {pk / 2**20:.0f} MiB = one {block / 2**20:.0f} MiB block of "
          f"similarities + {per_n:.0f} bytes per sample → fits 4 GiB up to n ≈ {fit:,} (time grows as n²).")


def section_rows(platonic: Any) -> None:
    print("\n## New measures vs their reference implementation (speed and agreement, same run)\n")
    print("| measure | reference | repscope s | reference s | max |ours − ref| | note |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(1)

    def row(name: str, ref: str, ours: Callable[[], Any], theirs: Callable[[], Any] | None, note: str = "") -> None:
        to, a = timed(ours, 3)
        if theirs is None:
            print(f"| {name} | {ref} | {to:.4f} | – | – | peer not installed |")
            return
        tt, b = timed(theirs, 3)
        diff = float(np.max(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))))
        print(f"| {name} | {ref} | {to:.4f} | {tt:.4f} | {diff:.1e} | {note} |")

    # --- netrep
    X = rng.standard_normal((2000, 64))
    Y = X[:, rng.permutation(64)] + 0.5 * rng.standard_normal((2000, 64))
    nr = have("netrep")
    if nr:
        from netrep.metrics import EnergyStochasticMetric, GaussianStochasticMetric, PermutationMetric
        from netrep.multiset import frechet_mean as nr_frechet
    row("permutation", "netrep PermutationMetric", lambda: M.permutation_distance(X, Y),
        (lambda: PermutationMetric().fit_score(X, Y)) if nr else None)
    mu = rng.standard_normal((40, 1, 10))
    A = mu + 0.3 * rng.standard_normal((40, 20, 10))
    B = mu @ np.linalg.qr(rng.standard_normal((10, 10)))[0] + 0.4 * rng.standard_normal((40, 20, 10))
    from repscope.metrics.stochastic import gaussian_moments

    mA, cA = gaussian_moments(A)
    mB, cB = gaussian_moments(B)
    row("gaussian_shape α=1", "netrep GaussianStochasticMetric", lambda: M.gaussian_shape_distance((mA, cA), (mB, cB)),
        (lambda: GaussianStochasticMetric().fit((mA, cA), (mB, cB)).score((mA, cA), (mB, cB))) if nr else None)
    row("energy_shape", "netrep EnergyStochasticMetric", lambda: M.energy_shape_distance(A, B, tol=1e-6),
        (lambda: EnergyStochasticMetric().fit(A, B).score(A, B)) if nr else None,
        "same IRLS iterations (netrep's tol=1e-6)")
    Xs = [X[:, :32] @ np.linalg.qr(rng.standard_normal((32, 32)))[0] + 0.2 * rng.standard_normal((2000, 32))
          for _ in range(6)]
    Xs = [x - x.mean(0) for x in Xs]
    row("frechet_mean (orth)", "netrep frechet_mean full_batch",
        lambda: M.frechet_mean(Xs, tol=1e-10, max_iter=500).mean,
        (lambda: nr_frechet([x.copy() for x in Xs], method="full_batch", warmstart=Xs[0].copy(), tol=1e-10,
                            max_iter=500)) if nr else None, "same start (netrep's default start overwrites a network)")
    # --- platonic-rep
    P = rng.standard_normal((2000, 64))
    Q = P @ rng.standard_normal((64, 48)) + rng.standard_normal((2000, 48))
    if platonic is not None:
        import torch

        tP = torch.nn.functional.normalize(torch.tensor(P), dim=-1)
        tQ = torch.nn.functional.normalize(torch.tensor(Q), dim=-1)
    row("cknna (k=10)", "platonic-rep cknna", lambda: M.cknna(P, Q, k=10),
        (lambda: platonic.cknna(tP, tQ, topk=10)) if platonic is not None else None,
        "difference = the reference's +1e-6 in the denominator")
    row("cycle_knn (k=10)", "platonic-rep cycle_knn", lambda: M.cycle_knn(P, Q, k=10),
        (lambda: platonic.cycle_knn(tP, tQ, 10)) if platonic is not None else None)
    # --- rsatoolbox
    import rsatoolbox
    from rsatoolbox.inference.noise_ceiling import boot_noise_ceiling
    from rsatoolbox.rdm import compare

    n = 300
    Xr = rng.standard_normal((n, 40))
    rx = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(Xr), method="correlation")
    cats = rng.integers(0, 6, n)
    model = M.model_rdm(cats, kind="categorical")
    rm = rsatoolbox.rdm.RDMs(model.vector[None])
    ox = M.rdm_of(Xr)
    row("rho_a (data vs categorical model)", "rsatoolbox compare rho-a", lambda: ox.compare(model, "rho_a"),
        lambda: compare(rx, rm, method="rho-a")[0, 0])
    row("kendall_tau_b", "rsatoolbox compare tau-b", lambda: ox.compare(model, "kendall_tau_b"),
        lambda: compare(rx, rm, method="tau-b")[0, 0])
    idx = rng.integers(0, n, n)
    for r_ in (rx, rm):
        r_.pattern_descriptors["index"] = np.arange(n)
    counts = np.bincount(idx, minlength=n)
    row("bootstrap resample, spearman", "rsatoolbox subsample_pattern + compare",
        lambda: resampled_compare(ox.vector, model.vector, counts, "spearman"),
        lambda: compare(rx.subsample_pattern("index", idx), rm.subsample_pattern("index", idx),
                        method="spearman")[0, 0], "self-pairs excluded on both sides")
    reps = [Xr + 1.5 * rng.standard_normal(Xr.shape) for _ in range(6)]
    rd = rsatoolbox.rdm.concat(
        [rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(a), method="correlation") for a in reps]
    )
    ours_reps = [M.rdm_of(a) for a in reps]
    row("noise ceiling (spearman)", "rsatoolbox boot_noise_ceiling",
        lambda: (lambda nc: [nc.lower, nc.upper])(M.noise_ceiling(ours_reps)),
        lambda: list(boot_noise_ceiling(rd, method="spearman")))
    nc_, Rr, d = 100, 6, 50
    data = rng.standard_normal((nc_, 1, d)) + rng.standard_normal((nc_, Rr, d))
    ds = rsatoolbox.data.Dataset(data.reshape(nc_ * Rr, d), obs_descriptors={
        "conds": np.repeat(np.arange(nc_), Rr), "runs": np.tile(np.arange(Rr), nc_)})
    row("crossnobis RDM", "rsatoolbox calc_rdm_crossnobis", lambda: M.crossnobis_rdm(data).vector,
        lambda: rsatoolbox.rdm.calc_rdm(ds, method="crossnobis", descriptor="conds",
                                        cv_descriptor="runs").get_vectors()[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000, help="samples for the large-n RSA / k-NN rows")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds (min is reported)")
    ap.add_argument("--quick", action="store_true", help="n = 2000, one round")
    ap.add_argument("--platonic", default="/work/.mirror/minyoungg+platonic-rep/repo",
                    help="platonic-rep checkout (clone or bare git directory) with metrics.py")
    args = ap.parse_args()
    n, rounds = (2000, 1) if args.quick else (args.n, args.rounds)
    platonic = load_platonic(args.platonic)
    from importlib.metadata import version

    vers = ", ".join(f"{p} {version(p)}" for p in ("rsatoolbox", "numpy", "torch") if have(p))
    print(f"# repscope peer-derived measures vs peers ({vers}; netrep {'installed' if have('netrep') else 'missing'})")
    section_large_n(n, rounds, platonic, args.quick)
    section_rows(platonic)


if __name__ == "__main__":
    main()
