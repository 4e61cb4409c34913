"""Agreement of repscope.metrics with installable reference implementations (float64).

Run (separate venv with benchmarks/requirements-similarity.txt):
    PYTHONPATH=src /tmp/bench-metrics/bin/python benchmarks/similarity_agreement.py [--demo-store PATH]

Prints |ours − theirs| per measure on random data and, with --demo-store, on real activations (two demo
layers). Expected mismatches caused by documented peer bugs are labelled as such, not hidden.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from repscope import metrics as M
from repscope.metrics import cka
from repscope.metrics._rsa import rdm as rsa_rdm

TOL = 1e-6


def netrep_linear_metric(X, Y, alpha):
    """netrep LinearMetric(alpha, center_columns=True, zero_pad=True, score_method="angular"), written
    out from its published algorithm (netrep is not on PyPI): zero-pad, centre, whiten (eigval_tol=1e-7,
    preserve_variance), SVD alignment, angular distance of the transformed data."""
    p, q = X.shape[1], Y.shape[1]
    m = max(p, q)
    X = np.pad(X, ((0, 0), (0, m - p)))
    Y = np.pad(Y, ((0, 0), (0, m - q)))

    def whiten(A):
        A = A - A.mean(0)
        if alpha > 1 - 1e-7:
            return A, np.eye(A.shape[1])
        lam, V = np.linalg.eigh(A.T @ A)
        lam = np.maximum(lam, 1e-7)
        d = alpha + (1 - alpha) * lam ** (-1 / 2)
        new_var = np.sum(alpha**2 * lam + 2 * alpha * (1 - alpha) * lam**0.5 + (1 - alpha) ** 2)
        d *= np.sqrt(np.sum(lam) / new_var)
        Z = (V * d[None, :]) @ V.T
        return A @ Z, Z

    (Xw, Zx), (Yw, Zy) = whiten(X), whiten(Y)
    U, _, Vt = np.linalg.svd(Xw.T @ Yw)
    XW, YW = (X - X.mean(0)) @ Zx @ U, (Y - Y.mean(0)) @ Zy @ Vt.T
    c = np.dot(XW.ravel(), YW.ravel()) / (np.linalg.norm(XW) * np.linalg.norm(YW))
    return float(np.arccos(np.clip(c, -1, 1)))


def kornblith_feature_cka(X, Y, debiased=False):
    """Kornblith et al.'s reference ``feature_space_linear_cka`` (published notebook), written out."""
    X = X - X.mean(0)
    Y = Y - Y.mean(0)
    xty = np.linalg.norm(X.T @ Y) ** 2
    nx, ny = np.linalg.norm(X.T @ X), np.linalg.norm(Y.T @ Y)
    if debiased:
        n = X.shape[0]
        sx, sy = np.einsum("ij,ij->i", X, X), np.einsum("ij,ij->i", Y, Y)

        def h(v, a, b):
            return v - n / (n - 2.0) * a.dot(b) + a.sum() * b.sum() / ((n - 1) * (n - 2))

        xty, nx, ny = h(xty, sx, sy), np.sqrt(h(nx**2, sx, sx)), np.sqrt(h(ny**2, sy, sy))
    return xty / (nx * ny)


def rows_for(X, Y, label):
    import repsim
    import rsatoolbox
    import scipy.stats

    out = []

    def add(measure, ours, theirs, ref, note=""):
        diff = abs(float(ours) - float(theirs))
        status = "ok" if diff < TOL else ("differs" if note else "MISMATCH")
        out.append((label, measure, ref, float(ours), float(theirs), diff, status, note))

    add("linear_cka", M.linear_cka(X, Y), repsim.cka([X, Y], "linear", "gretton")[0, 1], "repsim gretton")
    add("linear_cka", M.linear_cka(X, Y), kornblith_feature_cka(X, Y), "Kornblith reference")
    add("debiased_cka", M.debiased_cka(X, Y), kornblith_feature_cka(X, Y, True), "Kornblith reference")
    add(
        "debiased_cka",
        M.debiased_cka(X, Y),
        repsim.cka([X, Y], "linear", "song")[0, 1],
        "repsim song",
        note="known repsim bug: unbiased cross-HSIC over biased self-HSIC (METRICS.md)",
    )
    add(
        "rbf_cka σ=1",
        M.rbf_cka(X, Y),
        cka.cka_from_grams(cka.gram_rbf(X), cka.gram_rbf(Y)),
        "Kornblith gram_rbf",
    )
    # repsim's "yanai" is Σρ²/min(p,q) (our summary="mean_sq"), its "pillai" is mean ρ (our "mean");
    # our "yanai" is Yanai's GCD Σρ²/√(pq) and "pillai" Pillai's trace Σρ² (Ramsay et al. 1984).
    add("cca mean_sq", M.cca(X, Y, summary="mean_sq"), repsim.cca([X, Y], "yanai")[0, 1], "repsim 'yanai'")
    add("cca mean", M.cca(X, Y), repsim.cca([X, Y], "pillai")[0, 1], "repsim 'pillai'")
    add(
        "svcca mean",
        M.svcca(X, Y),
        repsim.svcca([X, Y], "pillai")[0, 1],
        "repsim 'pillai'",
        note="repsim keeps a different number of PCs at 99% (not investigated)",
    )
    add(
        "pwcca",
        M.pwcca(X, Y),
        repsim.pwcca([X, Y])[0, 1],
        "repsim",
        note="definition differs: Morcos's reference code adds neuron means back to the variates; "
        "repsim's variant not verified",
    )
    for alpha in (1.0, 0.5, 0.0):
        add(
            f"shape α={alpha}",
            M.shape_distance(X, Y, alpha=alpha),
            netrep_linear_metric(X, Y, alpha),
            "netrep algorithm",
        )
    # RSA vs rsatoolbox
    dx = rsatoolbox.data.Dataset(X)
    dy = rsatoolbox.data.Dataset(Y)
    rx = rsatoolbox.rdm.calc_rdm(dx, method="euclidean")
    ry = rsatoolbox.rdm.calc_rdm(dy, method="euclidean")
    add(
        "rdm sqeuclidean/p",
        np.abs(rsa_rdm(X, "sqeuclidean") / X.shape[1] - rx.get_vectors()[0]).max(),
        0.0,
        "rsatoolbox calc_rdm euclidean",
    )
    for ours_m, theirs_m in [
        ("spearman", "spearman"),
        ("kendall_tau_a", "tau-a"),
        ("cosine", "cosine"),
        ("cosine_cov", "cosine_cov"),
        ("corr_cov", "corr_cov"),
        ("pearson", "corr"),
    ]:
        theirs = rsatoolbox.rdm.compare(rx, ry, method=theirs_m)[0, 0]
        add(f"rsa {ours_m}", M.rsa(X, Y, rdm="sqeuclidean", compare=ours_m), theirs, "rsatoolbox")
    add("spearman (scipy)", M.rsa(X, Y), scipy.stats.spearmanr(rsa_rdm(X), rsa_rdm(Y))[0], "scipy")
    # torch-cka's unbiased HSIC on one batch (minibatch CKA with a single batch)
    import torch
    from torch_cka import CKA

    class _T:
        device = "cpu"

    def tc_hsic(A, B):
        K = (
            torch.from_numpy(A.astype(np.float32)) @ torch.from_numpy(A.astype(np.float32)).T
        )  # torch-cka: f32 only
        L = torch.from_numpy(B.astype(np.float32)) @ torch.from_numpy(B.astype(np.float32)).T
        K.fill_diagonal_(0.0)
        L.fill_diagonal_(0.0)
        return CKA._HSIC(_T(), K, L)

    Xs, Ys = X[:400], Y[:400]
    tc = tc_hsic(Xs, Ys) / np.sqrt(tc_hsic(Xs, Xs) * tc_hsic(Ys, Ys))
    add(
        "minibatch CKA (1 batch)",
        M.minibatch_cka(Xs, Ys, batch_size=400, seed=None),
        tc,
        "torch-cka _HSIC",
        note="torch-cka computes in float32 on uncentred Grams",
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument(
        "--demo-store", default=None, help="demo activation store, or an .npz with fc1/fc2 arrays"
    )
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n, 40)) + 3.0
    Y = np.tanh(X @ rng.standard_normal((40, 30))) + 0.3 * rng.standard_normal((args.n, 30))
    rows = rows_for(X, Y, f"random n={args.n}")
    if args.demo_store:
        if args.demo_store.endswith(".npz"):  # {"fc1": ..., "fc2": ...} exported from a store
            z = np.load(args.demo_store)
            A_all, B_all = z["fc1"], z["fc2"]
        else:
            import repscope

            s = repscope.open_store(args.demo_store)
            A_all, B_all = s.read("fc1"), s.read("fc2")
        idx = np.arange(0, A_all.shape[0], max(1, A_all.shape[0] // args.n))[: args.n]
        A, B = A_all[idx].astype(np.float64), B_all[idx].astype(np.float64)
        rows += rows_for(A, B, f"demo fc1/fc2 n={len(idx)}")
    print("| data | measure | reference | ours | theirs | abs diff | status |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.10f} | {r[4]:.10f} | {r[5]:.1e} | "
            f"{r[6]}{' — ' + r[7] if r[7] else ''} |"
        )
    ok = sum(r[6] == "ok" for r in rows)
    bad = sum(r[6] == "MISMATCH" for r in rows)
    print(
        f"\n{ok}/{len(rows)} within {TOL:g}; {len(rows) - ok - bad} differ for the stated reason; "
        f"{bad} unexplained"
    )


if __name__ == "__main__":
    main()
