"""Generate the committed reference values for tests/metrics/test_metrics_peer_fixtures.py (run once, in
benchmarks/.venv with the reference implementations installed):

    python3 -m venv benchmarks/.venv
    benchmarks/.venv/bin/pip install torch==2.13.0 rsatoolbox==0.3.2
    benchmarks/.venv/bin/pip install "git+https://github.com/ahwillia/netrep@0186b8a"   # not on PyPI
    git clone https://github.com/minyoungg/platonic-rep /tmp/platonic-rep                # metrics.py only
    benchmarks/.venv/bin/python benchmarks/make_peer_metric_fixtures.py --platonic /tmp/platonic-rep

Writes ``tests/metrics/data/peer_metric_fixtures.json``: small fixed inputs and what netrep
(PermutationMetric, GaussianStochasticMetric, EnergyStochasticMetric, frechet_mean), platonic-rep
(``AlignmentMetrics.cknna``/``cycle_knn``/``mutual_knn``) and rsatoolbox (rho-a, tau-b, bootstrap
resamples, boot_noise_ceiling, calc_rdm_crossnobis) return for them. repscope is NOT imported here.

platonic-rep's ``metrics.py`` imports torchaudio at module level for one unrelated metric (edit
distance); a stub module stands in for it. Its CKNNA adds 1e-6 to the denominator; the fixture stores
the value as returned and, separately, with that constant set to 0 (the same source with "+ 1e-6" →
"+ 0.0"), which is what repscope computes.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import types
from importlib.metadata import version

import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[1] / "tests" / "metrics" / "data" / "peer_metric_fixtures.json"


def load_platonic(path: str | None):
    if path and pathlib.Path(path, "metrics.py").exists():
        src = pathlib.Path(path, "metrics.py").read_text()
    else:  # a bare mirror of the repository (git directory)
        src = subprocess.run(["git", f"--git-dir={path}", "show", "HEAD:metrics.py"], capture_output=True,
                             text=True, check=True).stdout
    sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))
    sys.modules.setdefault("torchaudio.functional", types.ModuleType("torchaudio.functional"))
    ns: dict = {}
    exec(compile(src, "platonic_rep_metrics.py", "exec"), ns)
    src0 = src.replace("(torch.sqrt(sim_kk * sim_ll) + 1e-6)", "(torch.sqrt(sim_kk * sim_ll) + 0.0)")
    assert src0 != src, "platonic-rep cknna source changed; update the no-epsilon patch"
    ns0: dict = {}
    exec(compile(src0, "platonic_rep_metrics_noeps.py", "exec"), ns0)
    return ns["AlignmentMetrics"], ns0["AlignmentMetrics"]


def netrep_cases(rng: np.random.Generator) -> dict:
    from netrep.metrics import EnergyStochasticMetric, GaussianStochasticMetric, PermutationMetric
    from netrep.multiset import frechet_mean

    out: dict = {}
    X = rng.standard_normal((30, 5))
    Y = X[:, [3, 0, 4, 1, 2]] @ np.diag([1, 1, 1, 0.5, 2]) + 0.4 * rng.standard_normal((30, 5))
    Z = rng.standard_normal((30, 3))
    out["permutation"] = {
        "X": X.tolist(), "Y": Y.tolist(), "Z": Z.tolist(),
        "angular_XY": float(PermutationMetric(score_method="angular").fit_score(X, Y)),
        "euclidean_XY": float(PermutationMetric(score_method="euclidean").fit_score(X, Y)),
        "angular_XZ_padded": float(PermutationMetric(score_method="angular").fit_score(X, Z)),
    }
    n, r, d = 6, 10, 3
    mu = rng.standard_normal((n, 1, d))
    Q = np.linalg.qr(rng.standard_normal((d, d)))[0]
    A = mu + 0.3 * rng.standard_normal((n, r, d))
    B = (mu @ Q) * 1.1 + 0.5 * rng.standard_normal((n, r, d))
    mA, mB = A.mean(1), B.mean(1)
    cA = np.stack([np.cov(a.T) for a in A])
    cB = np.stack([np.cov(b.T) for b in B])
    gauss = {}
    for alpha in (0.0, 0.5, 1.0, 2.0):
        m = GaussianStochasticMetric(alpha=alpha, group="orth")
        gauss[str(alpha)] = float(m.fit((mA, cA), (mB, cB)).score((mA, cA), (mB, cB)))
    em = EnergyStochasticMetric(group="orth").fit(A, B)
    Xs = np.stack([X @ np.linalg.qr(rng.standard_normal((5, 5)))[0] + 0.2 * rng.standard_normal((30, 5))
                   for _ in range(4)])
    Xs -= Xs.mean(axis=1, keepdims=True)
    warm = Xs[0].copy()
    Xbar = frechet_mean([x.copy() for x in Xs], group="orth", method="full_batch", warmstart=warm.copy(),
                        tol=1e-10, max_iter=500)
    out["stochastic"] = {
        "A": A.tolist(), "B": B.tolist(), "gaussian": gauss,
        "energy": float(em.score(A, B)), "energy_loss": [float(v) for v in em.loss_hist],
    }
    out["frechet"] = {"Xs": Xs.tolist(), "mean": np.asarray(Xbar).tolist()}
    return out


def platonic_cases(rng: np.random.Generator, platonic: str | None) -> dict:
    import torch
    import torch.nn.functional as F

    AM, AM0 = load_platonic(platonic)
    X = rng.standard_normal((120, 12))
    Y = X @ rng.standard_normal((12, 8)) + 0.8 * rng.standard_normal((120, 8))
    tX = F.normalize(torch.tensor(X), dim=-1)
    tY = F.normalize(torch.tensor(Y), dim=-1)
    out = {"X": X.tolist(), "Y": Y.tolist(), "cases": []}
    for k in (2, 5, 10):
        out["cases"].append({
            "k": k,
            "cknna": float(AM.cknna(tX, tY, topk=k)),
            "cknna_no_eps": float(AM0.cknna(tX, tY, topk=k)),
            "cycle_knn": float(AM.cycle_knn(tX, tY, k)),
            "mutual_knn": float(AM.mutual_knn(tX, tY, k)),
        })
    return out


def rsatoolbox_cases(rng: np.random.Generator) -> dict:
    import rsatoolbox
    from rsatoolbox.inference.noise_ceiling import boot_noise_ceiling
    from rsatoolbox.rdm import RDMs, compare

    out: dict = {}
    n = 12
    X = rng.standard_normal((n, 6))
    Y = X @ rng.standard_normal((6, 6)) + rng.standard_normal((n, 6))
    rx = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(X), method="correlation")
    ry = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(Y), method="correlation")
    cats = np.array([0, 0, 1, 1, 2, 2, 0, 1, 2, 0, 1, 2])
    model = RDMs((cats[:, None] != cats[None, :])[np.triu_indices(n, 1)][None].astype(float))
    methods = ("spearman", "rho-a", "tau-b", "tau-a", "corr", "cosine")
    out["compare"] = {
        "X": X.tolist(), "Y": Y.tolist(), "categories": cats.tolist(),
        "data_vs_data": {m: float(compare(rx, ry, method=m)[0, 0]) for m in methods},
        "data_vs_model": {m: float(compare(rx, model, method=m)[0, 0]) for m in methods},
    }
    # bootstrap resamples: the resampled index sets and rsatoolbox's comparison on each, drawn the way
    # rsatoolbox.inference.bootstrap_sample_pattern draws them (subsample_pattern by a pattern index)
    boots = []
    for rdm_obj in (rx, model):
        rdm_obj.pattern_descriptors["index"] = np.arange(n)
    for _ in range(8):
        idx = rng.integers(0, n, n)
        sx = rx.subsample_pattern("index", idx)
        sm = model.subsample_pattern("index", idx)
        boots.append({"idx": idx.tolist(),
                      **{m: float(compare(sx, sm, method=m)[0, 0]) for m in ("spearman", "rho-a", "corr", "cosine")}})
    out["bootstrap"] = boots
    # noise ceiling from 5 repeated RDMs
    base = rng.standard_normal((n, 6))
    reps = [base + 0.8 * rng.standard_normal((n, 6)) for _ in range(5)]
    rd = rsatoolbox.rdm.concat([rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(a), method="correlation")
                                for a in reps])
    out["noise_ceiling"] = {"repeats": [a.tolist() for a in reps],
                            **{m: [float(v) for v in boot_noise_ceiling(rd, method=m)]
                               for m in ("spearman", "rho-a", "corr", "cosine")}}
    # crossnobis: 6 conditions × 4 partitions × 5 channels; identity and a given precision
    nc, R, d = 6, 4, 5
    cond_means = rng.standard_normal((nc, d))
    data = cond_means[:, None] + 0.7 * rng.standard_normal((nc, R, d))
    meas = data.reshape(nc * R, d)
    ds = rsatoolbox.data.Dataset(meas, obs_descriptors={"conds": np.repeat(np.arange(nc), R),
                                                        "runs": np.tile(np.arange(R), nc)})
    L = rng.standard_normal((d, d))
    prec = L @ L.T / d + np.eye(d)
    out["crossnobis"] = {
        "data": data.tolist(), "precision": prec.tolist(),
        "identity": rsatoolbox.rdm.calc_rdm(ds, method="crossnobis", descriptor="conds",
                                            cv_descriptor="runs").get_vectors()[0].tolist(),
        "precision_rdm": rsatoolbox.rdm.calc_rdm(ds, method="crossnobis", descriptor="conds", cv_descriptor="runs",
                                                 noise=prec).get_vectors()[0].tolist(),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--platonic", default="/work/.mirror/minyoungg+platonic-rep/repo",
                    help="platonic-rep checkout (or bare git directory) holding metrics.py")
    args = ap.parse_args()
    rng = np.random.default_rng(20261129)
    fixtures = {
        "versions": {"rsatoolbox": version("rsatoolbox"), "netrep": version("netrep") + " (git 0186b8a)",
                     "platonic-rep": "metrics.py at HEAD of github.com/minyoungg/platonic-rep",
                     "torch": version("torch"), "numpy": np.__version__},
        "netrep": netrep_cases(rng),
        "platonic": platonic_cases(rng, args.platonic),
        "rsatoolbox": rsatoolbox_cases(rng),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixtures))
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
