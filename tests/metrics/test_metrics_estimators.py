"""Large-n estimates with intervals (metrics.estimate): exact where it fits, known answers (all queries =
the exact k-NN measures), convergence of random Fourier features, and empirical coverage of every
sampled estimator over 200 seeds against the exact value on one fixed synthetic data set."""

from __future__ import annotations

import json

import numpy as np
import pytest

import repscope as rs
from repscope.errors import InputError
from repscope.metrics import cknna, debiased_cka, jaccard_knn, linear_cka, mutual_knn, rbf_cka, rsa
from repscope.metrics.estimators import Estimate, estimate


def _data(n=1500, noise=0.3, seed=0):
    """Two related non-linear representations of a 4-d latent: RBF CKA ≈ 0.45, RSA ≈ 0.8,
    mutual k-NN ≈ 0.2 — values in the middle of their ranges, where intervals have two sides."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, 4))
    X = np.c_[Z, noise * rng.standard_normal((n, 8))] @ rng.standard_normal((12, 24))
    Y = np.tanh(np.c_[Z, noise * rng.standard_normal((n, 4))] @ rng.standard_normal((8, 12)))
    return X, Y


@pytest.fixture(scope="module")
def data():
    return _data()


def test_exact_within_budget_is_the_measure_itself(data):
    X, Y = data[0][:400], data[1][:400]
    cases = {
        "rbf_cka": rbf_cka(X, Y),
        "debiased_cka": debiased_cka(X, Y),
        "linear_cka": linear_cka(X, Y),
        "rsa": rsa(X, Y),
        "mutual_knn": mutual_knn(X, Y),
        "jaccard_knn": jaccard_knn(X, Y),
        "cknna": cknna(X, Y),
    }
    for metric, ref in cases.items():
        r = estimate(X, Y, metric)  # 400² ≪ the default budget
        assert r.method == "exact" and r.estimate == ref and r.low == r.high == ref, metric
        assert r.n == r.n_used == 400
    r = estimate(X, Y, "rbf_cka", sigma=0.5, debiased=True)
    assert r.estimate == rbf_cka(X, Y, 0.5, debiased=True) and r.params == {"sigma": 0.5, "debiased": True}
    # above the budget the sampled method is chosen automatically; linear CKA stays exact at any size
    assert estimate(X, Y, "rbf_cka", budget=400**2 - 1).method == "rff"
    assert estimate(X, Y, "rbf_cka", budget=400**2 - 1, debiased=True, batch_size=40).method == "minibatch"
    assert estimate(X, Y, "rsa", budget=1000).method == "pairs"
    assert estimate(X, Y, "mutual_knn", budget=1000).method == "queries"
    assert estimate(X, Y, "debiased_cka", budget=400 * 36 - 1, batch_size=40).method == "minibatch"
    assert estimate(X, Y, "debiased_cka", budget=400 * 36).method == "exact"  # n·(p+q) fits
    assert estimate(X, Y, "linear_cka", budget=1).method == "exact"


def test_all_queries_give_the_exact_neighbour_measures(data):
    """With q = n every sample is a query: the query mean / the row sums are the full sums."""
    X, Y = data[0][:600], data[1][:600]
    for metric, fn in (("mutual_knn", mutual_knn), ("jaccard_knn", jaccard_knn), ("cknna", cknna)):
        for k in (3, 10):
            r = estimate(X, Y, metric, method="queries", n_queries=600, k=k)
            assert r.estimate == pytest.approx(fn(X, Y, k=k), rel=1e-10, abs=1e-13), (metric, k)
            assert r.width == pytest.approx(0.0, abs=1e-12)  # finite-population correction: nothing unseen


def test_minibatch_of_one_batch_is_debiased_cka_of_that_batch(data):
    """n_batches × batch_size = n rows in one batch: the estimate is the full-data debiased CKA (linear)."""
    X, Y = data[0][:300], data[1][:300]
    r = estimate(X, Y, "debiased_cka", method="minibatch", batch_size=150, n_batches=2, seed=3)
    order = np.random.default_rng(3).permutation(300)
    from repscope.metrics import MinibatchCKA

    acc = MinibatchCKA().update(X[order[:150]], Y[order[:150]]).update(X[order[150:]], Y[order[150:]])
    assert r.estimate == pytest.approx(acc.value, rel=1e-12)  # same as the existing MinibatchCKA
    assert r.units.size == 2 and r.low < r.estimate < r.high


def test_random_feature_self_terms_are_unbiased(data):
    """The feature-pair U-statistic (diagonal pairs j = l removed) is unbiased for the exact kernel's
    ⟨HKH, HKH⟩ and n(n−3)·HSIC₁(K, K): its mean over 400 feature draws lies within 4 SE of them, while
    the plug-in ‖HK̂H‖² (diagonal pairs kept) is biased upwards by many SE."""
    from repscope.metrics._common import centre
    from repscope.metrics.cka import center_gram
    from repscope.metrics.estimators import _FeatureMoments

    A = centre(data[0][:150])
    n = A.shape[0]
    D = np.sum((A[:, None, :] - A[None, :, :]) ** 2, axis=2)
    med = float(np.median(D))
    K = np.exp(-D / (2.0 * med))
    rng = np.random.default_rng(0)
    for debiased in (False, True):
        Kc = center_gram(K, unbiased=debiased)
        exact = float(np.vdot(Kc, Kc))
        vals, plug = [], []
        for _ in range(400):
            fm = _FeatureMoments(A, med, 16, rng)
            fm.add(fm.features(A))
            vals.append(fm.self_term(n, debiased))
            if not debiased:
                Gc = fm.G - np.outer(fm.s, fm.s) / n
                plug.append(float(np.vdot(Gc, Gc)) / 16**2)
        se = np.std(vals) / np.sqrt(len(vals))
        assert abs(np.mean(vals) - exact) < 4 * se, (debiased, np.mean(vals), exact, se)
        if plug:
            assert np.mean(plug) - exact > 10 * np.std(plug) / np.sqrt(len(plug))


def test_sampled_bandwidth_median_matches_the_exact_rule(data):
    """The exact rule's median runs over all n² squared distances, diagonal zeros included."""
    from repscope.metrics._common import centre
    from repscope.metrics.estimators import sampled_median_sq_dist

    A = centre(data[0][:300])
    D = np.sum((A[:, None, :] - A[None, :, :]) ** 2, axis=2)
    got = sampled_median_sq_dist(A, 200_000, np.random.default_rng(0))
    assert got == pytest.approx(float(np.median(D)), rel=0.01)


def test_random_features_converge_to_the_exact_value(data):
    X, Y = data[0][:600], data[1][:600]
    for debiased in (False, True):
        exact = rbf_cka(X, Y, debiased=debiased)
        errs, widths = [], []
        for m in (8, 64, 512):
            rs_ = [estimate(X, Y, "rbf_cka", method="rff", debiased=debiased, n_features=m, n_reps=4, seed=s)
                   for s in range(5)]
            errs.append(np.sqrt(np.mean([(r.estimate - exact) ** 2 for r in rs_])))
            widths.append(np.mean([r.width for r in rs_]))
        # RMSE ∝ 1/√m: ×8 features should divide it by ≈ 2.8 each time
        assert errs[0] > 2 * errs[1] > 4 * errs[2] and errs[2] < 0.02, errs
        assert widths[0] > widths[1] > widths[2], widths


# Empirical coverage: each estimator's nominal 95% interval contains the exact value (computed once on
# the fixed data) for at least 92% of 200 seeds. Tolerance: with a true coverage of 95%, the count of
# hits in 200 seeded runs has SD √(200·0.95·0.05) ≈ 3.1, so 92% (184) is ≈ 2 SD below 95%; a clearly
# anti-conservative interval (true 90%: 180 expected) fails. The seeds are fixed, so the outcome is
# deterministic; measured coverages (this data): rff 0.96–0.97, minibatch 0.98–0.99 (conservative:
# batches are disjoint draws without replacement), pairs 0.96, stimuli 0.96, queries 0.945–0.96.
COVERAGE_CASES = [
    ("rbf_cka", {"method": "rff", "n_features": 48, "n_reps": 6, "median_pairs": 3000}),
    ("rbf_cka", {"method": "rff", "debiased": True, "n_features": 48, "n_reps": 6, "median_pairs": 3000}),
    ("rbf_cka", {"method": "minibatch", "debiased": True, "batch_size": 100, "n_batches": 10,
                 "median_pairs": 3000}),
    ("debiased_cka", {"method": "minibatch", "batch_size": 100, "n_batches": 10}),
    ("rsa", {"method": "pairs", "n_pairs": 20_000, "n_reps": 10}),
    ("rsa", {"method": "stimuli", "subset": 150, "n_reps": 10}),
    ("mutual_knn", {"n_queries": 100}),
    ("jaccard_knn", {"n_queries": 100}),
    ("cknna", {"n_queries": 100}),
]
REPS = 200


@pytest.mark.parametrize(("metric", "kw"), COVERAGE_CASES, ids=[f"{m}-{kw.get('method', 'queries')}"
                                                                 f"{'-debiased' if kw.get('debiased') else ''}"
                                                                 for m, kw in COVERAGE_CASES])
def test_interval_coverage(data, metric, kw):
    X, Y = data
    exact = estimate(X, Y, metric, method="exact", debiased=kw.get("debiased", False)).estimate
    hits = 0
    for seed in range(REPS):
        r = estimate(X, Y, metric, budget=1e4, level=0.95, seed=seed, **kw)
        assert r.method != "exact" and r.n_used <= r.n
        hits += r.low <= exact <= r.high
    assert hits / REPS >= 0.92, (metric, kw, hits / REPS)


def test_level_widens_and_seed_reproduces(data):
    X, Y = data
    a = estimate(X, Y, "rsa", budget=1e4, level=0.8, seed=1)
    b = estimate(X, Y, "rsa", budget=1e4, level=0.99, seed=1)
    assert a.estimate == b.estimate and b.low < a.low < a.estimate < a.high < b.high
    assert estimate(X, Y, "rsa", budget=1e4, seed=1).to_dict() == estimate(X, Y, "rsa", budget=1e4, seed=1).to_dict()


def test_bad_input_names_the_fix(data):
    X, Y = data[0][:200], data[1][:200]
    with pytest.raises(InputError, match="no large-n estimate"):
        estimate(X, Y, "procrustes")
    with pytest.raises(InputError, match="does not apply"):
        estimate(X, Y, "rsa", method="rff")
    with pytest.raises(InputError, match="debiased=True"):
        estimate(X, Y, "rbf_cka", method="minibatch")
    with pytest.raises(InputError, match="level"):
        estimate(X, Y, "rsa", level=1.5)
    with pytest.raises(InputError, match="budget"):
        estimate(X, Y, "rsa", budget=0)
    with pytest.raises(InputError, match="compare"):
        estimate(X, Y, "rsa", compare="kendall_tau_a", budget=10)
    with pytest.raises(InputError, match="n_queries"):
        estimate(X, Y, "mutual_knn", n_queries=10**6, budget=10)
    with pytest.raises(InputError, match="same samples|samples"):
        estimate(X, Y[:150], "rbf_cka")


def test_result_follows_the_protocol(data):
    from matplotlib.figure import Figure

    from repscope.results import Result, subplots

    X, Y = data
    for r in (estimate(X, Y, "rbf_cka", budget=1e4, n_features=32, n_reps=4),
              estimate(X[:300], Y[:300], "rsa"), estimate(X, Y, "mutual_knn", budget=1e4)):
        assert isinstance(r, (Estimate, Result))
        d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
        assert {"estimate", "low", "high", "level", "method", "n_used"} <= set(d)
        assert str(round(r.estimate, 4)) in r.summary() or r.method == "exact"
        header, rows = r.table()
        assert all(len(row) == len(header) for row in rows)
        fig, ax = subplots()
        assert r.plot(ax=ax) is fig and isinstance(r.plot(), Figure)
        assert type(r.plotly()).__name__ == "Figure"


@pytest.fixture(scope="module")
def mlp_store(tmp_path_factory):
    """Not the demo CNN: a randomly initialised residual MLP captured into a store through the API."""
    import torch
    from torch import nn

    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Linear(6, 32)
            self.block = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 32))
            self.act = nn.Tanh()
            self.out = nn.Linear(32, 4)

        def forward(self, x):
            h = self.inp(x)
            return self.out(self.act(h + self.block(h)))

    torch.manual_seed(0)
    inputs = np.random.default_rng(0).standard_normal((1200, 6)).astype(np.float32)
    return rs.capture(Residual().eval(), inputs, ["inp", "act"], tmp_path_factory.mktemp("e") / "s.zarr",
                      progress=False)


def test_on_a_captured_residual_mlp(mlp_store):
    """The estimates at a small budget bracket the exact values of the two layers' similarity."""
    X, Y = mlp_store.read("inp"), mlp_store.read("act")
    for metric in ("rbf_cka", "rsa", "mutual_knn", "cknna"):
        r = rs.metrics.estimate(X, Y, metric, budget=2e5, seed=0)
        exact = rs.metrics.estimate(X, Y, metric).estimate
        assert r.method != "exact" and r.low <= exact <= r.high, (metric, r.summary(), exact)


def test_cli_estimate(mlp_store, tmp_path, capsys):
    from repscope.cli import main

    X, Y = mlp_store.read("inp"), mlp_store.read("act")
    a, b = f"{mlp_store.path}:inp", f"{mlp_store.path}:act"

    def run(*args):
        try:
            main(list(args))
        except SystemExit as e:  # the entry point exits with the command's status
            assert e.code in (0, None), capsys.readouterr().err
        return capsys.readouterr()

    got = json.loads(run("estimate", a, b, "--metric", "rsa", "--budget", "1e5", "--seed", "3", "--json").out)
    ref = estimate(X, Y, "rsa", budget=1e5, seed=3)
    assert got["method"] == "pairs" and got["estimate"] == pytest.approx(ref.estimate, abs=1e-12)
    assert got["low"] == pytest.approx(ref.low, abs=1e-12) and got["a"].endswith(":inp")
    text = run("estimate", str(mlp_store.path), "--layer", "inp", b, "--metric", "mutual_knn", "--k", "5",
               "--out", str(tmp_path / "o")).out
    assert "mutual_knn" in text and "exact" in text  # 1200² fits the default budget
    assert {f.name for f in (tmp_path / "o").iterdir()} == {"estimate_mutual_knn.json", "estimate_mutual_knn.png"}
    with pytest.raises(SystemExit) as ei:
        main(["estimate", a, b, "--metric", "procrustes"])
    err = capsys.readouterr().err.strip().splitlines()
    assert ei.value.code == 2 and len(err) == 1 and "no large-n estimate" in err[0]
