"""Bootstrap intervals, paired comparisons and permutation tests for layer matrices."""

from __future__ import annotations

import json

import numpy as np
import pytest

import repscope.metrics as M
from repscope.errors import InputError
from repscope.metrics.uncertainty import GroupedMoments, LayerMatrixCI, compare_entries


def _gaussian_model(p=3, q=3, seed=123):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((p + q, p + q))
    sig = A @ A.T + 0.5 * np.eye(p + q)
    sxx, syy, sxy = sig[:p, :p], sig[p:, p:], sig[:p, p:]
    population = np.sum(sxy**2) / (np.linalg.norm(sxx) * np.linalg.norm(syy))  # CKA of the population moments
    return np.linalg.cholesky(sig), p, population


def test_bootstrap_intervals_cover_the_population_cka():
    """95% intervals cover the population linear CKA ‖Σxy‖²/(‖Σxx‖‖Σyy‖) of a Gaussian model in ≈ 95% of
    repetitions (100 data sets of n = 400, 100 resamples each)."""
    chol, p, population = _gaussian_model()
    rng = np.random.default_rng(7)
    hits = 0
    reps = 100
    for r in range(reps):
        Z = rng.standard_normal((400, chol.shape[0])) @ chol.T
        res = M.layer_matrix({"x": Z[:, :p], "y": Z[:, p:]}, metric="linear_cka", n_boot=100, seed=r)
        hits += res.ci_low_[0, 1] <= population <= res.ci_high_[0, 1]
    assert 0.88 <= hits / reps <= 0.99


def test_grouped_moments_replicate_is_the_weighted_resample():
    """A replicate's blocks are the centred moments of the rows repeated by their multinomial counts, both
    for the ordinary bootstrap (K = n) and for random groups (K < n)."""
    rng = np.random.default_rng(0)
    n = 60
    X, Y = rng.standard_normal((n, 3)) + 5.0, rng.standard_normal((n, 2)) - 3.0
    for K in (n, 12):
        g = GroupedMoments([3, 2], n, K, seed=1)
        for s in range(0, n, 25):
            g.update([X[s : s + 25], Y[s : s + 25]])
        full = np.hstack([X, Y]) - np.hstack([X, Y]).mean(0)
        np.testing.assert_allclose(g.block(0, 1), full[:, :3].T @ full[:, 3:], atol=1e-10)
        rep = next(g.replicates(1, seed=4))
        w = np.random.default_rng(4).multinomial(K, np.full(K, 1.0 / K))
        rows = np.repeat(np.arange(n), w[g.group])
        Z = np.hstack([X, Y])[rows]
        Z = Z - Z.mean(0)
        assert rep.n == rows.size
        np.testing.assert_allclose(rep.block(0, 1), Z[:, :3].T @ Z[:, 3:], atol=1e-9)
        np.testing.assert_allclose(rep.block(1, 1), Z[:, 3:].T @ Z[:, 3:], atol=1e-9)
        # debiased CKA's row-norm statistics of the replicate: Σ q_x q_y and Σ q_x over the repeated rows
        qx, qy = (Z[:, :3] ** 2).sum(1), (Z[:, 3:] ** 2).sum(1)
        assert rep.q[0] @ rep.q[1] == pytest.approx(qx @ qy, rel=1e-10)
        assert rep.q[1].sum() == pytest.approx(qy.sum(), rel=1e-10)
        from repscope.metrics import engine

        got = engine.finish_pair("debiased_cka", rep.block(0, 0), rep.block(1, 1), rep.block(0, 1), n=rep.n,
                                 qx=rep.q[0], qy=rep.q[1])
        assert got == pytest.approx(M.debiased_cka(np.hstack([X, Y])[rows][:, :3], np.hstack([X, Y])[rows][:, 3:]),
                                    abs=1e-10)


def _layers(n=150, seed=0):
    rng = np.random.default_rng(seed)
    b = rng.standard_normal((n, 3))
    return {"a": b @ rng.standard_normal((3, 4)) + rng.standard_normal((n, 4)),
            "b": b @ rng.standard_normal((3, 5)) + rng.standard_normal((n, 5)),
            "noise": rng.standard_normal((n, 3))}


def test_generic_bootstrap_resamples_rows_through_the_runner():
    L = _layers(n=60)
    res = M.layer_matrix(L, metric="rsa", n_boot=20, seed=3)
    assert isinstance(res, LayerMatrixCI) and res.boot_.shape == (20, 3, 3)
    rng = np.random.default_rng(np.random.SeedSequence(3).spawn(3)[1])
    rows = rng.integers(60, size=60)
    assert res.boot_[0, 0, 1] == pytest.approx(M.rsa(L["a"][rows], L["b"][rows]), abs=1e-12)
    assert np.all(res.ci_low_ <= res.ci_high_)


def test_permutation_p_values_and_entry_comparison():
    L = _layers()
    res = M.layer_matrix(L, metric="linear_cka", n_boot=100, n_perm=39, seed=0)
    # identical layers are closer than every permutation: p = 1/(1 + P)
    np.testing.assert_allclose(np.diag(res.p_values_), 1 / 40)
    assert res.p_values_[0, 1] == pytest.approx(1 / 40)  # shared latent structure
    assert res.p_values_[0, 2] > 0.05  # unrelated noise layer
    assert np.all(res.ci_low_ <= res.ci_high_) and res.ci_low_[0, 1] < res.values[0, 1] < res.ci_high_[0, 1]
    cmp = compare_entries(res, ("a", "b"), ("a", "noise"))
    assert cmp.difference == pytest.approx(res.values[0, 1] - res.values[0, 2])
    assert cmp.ci_low > 0 and cmp.p_value < 0.05
    same = compare_entries(res, (0, 1), (1, 0))  # symmetric entries: Δ ≡ 0
    assert same.difference == 0 and same.ci_low == same.ci_high == 0 and same.p_value == 1.0
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert len(d["ci_low"]) == 3 and d["n_boot"] == 100 and d["ci_level"] == 0.95
    assert d["extra"]["p_values"][0][0] == pytest.approx(1 / 40)
    assert "bootstrap intervals" in res.summary() and "[" in res.table()[1][0][2]
    assert res.plot().axes and len(res.plotly().data) == 1 and cmp.plot().axes and cmp.plotly().data
    assert cmp.title and res.title
    assert "difference" in json.dumps(cmp.to_dict()) and "differ" in cmp.summary()
    with pytest.raises(InputError, match="no bootstrap"):
        compare_entries(M.layer_matrix(L), (0, 1), (0, 2))
    with pytest.raises(InputError, match="n_boot"):
        M.layer_matrix(L, n_boot=5)
    with pytest.raises(InputError, match="ci="):
        M.layer_matrix(L, n_boot=50, ci=95)


def test_permutation_linear_stream_matches_in_memory_and_cross_sources():
    L = _layers(n=80)
    res = M.layer_matrix(L, metric="procrustes", n_perm=5, seed=2)
    pi_rng = np.random.default_rng(np.random.SeedSequence(2).spawn(3)[2])
    names = list(L)
    nulls = []
    for _ in range(5):
        pi = pi_rng.permutation(80)
        nulls.append([[M.procrustes(L[a], L[b][pi]) for b in names] for a in names])
    np.testing.assert_allclose(res.null_mean_, np.mean(nulls, axis=0), atol=1e-9)
    cross = M.layer_matrix(L, {k: v * 2 for k, v in L.items()}, metric="debiased_cka", n_boot=20, n_perm=3)
    assert cross.ci_low_.shape == (3, 3) and cross.p_values_.shape == (3, 3)


def test_compare_command_n_boot(tmp_path, monkeypatch):
    import typer
    from typer.testing import CliRunner

    from repscope.commands.compare import register

    class Store:
        def __init__(self, arrays):
            self._a, self.layers = arrays, list(arrays)
            self.n_samples, self.sample_ids = 150, np.arange(150)

        def read(self, layer, rows=None):
            return self._a[layer] if rows is None else self._a[layer][rows]

    monkeypatch.setattr("repscope.store.open_store", lambda p: Store(_layers()))
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    res = CliRunner().invoke(app, ["compare", "s", "--metric", "linear_cka", "--n-boot", "50", "--json", "-q"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)["results"][0]
    assert out["n_boot"] == 50 and np.all(np.array(out["ci_low"]) <= np.array(out["ci_high"]))
