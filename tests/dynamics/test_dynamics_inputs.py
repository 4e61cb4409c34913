"""Bad inputs raise InputError with a fix; test cases, models, demo and CLI behave."""

from __future__ import annotations

import json

import numpy as np
import pytest

from repscope.dynamics import delay_embed, dsa, dsa_matrix, fit_dmd, similarity_transform_distance
from repscope.errors import InputError
from repscope.experiments.dynamics import testcases as tc


def _X(seed=0, K=4, T=30, N=3):
    return np.random.default_rng(seed).standard_normal((K, T, N))


def test_too_short_for_delays():
    with pytest.raises(InputError, match="too short"):
        delay_embed(np.zeros((5, 2)), n_delays=6)
    with pytest.raises(InputError, match="DMD needs ≥ 2"):
        fit_dmd(np.ones((5, 2)), n_delays=5)


def test_rank_too_large():
    with pytest.raises(InputError, match="rank=10 exceeds the dimension"):
        fit_dmd(_X(), n_delays=2, rank=10)


def test_nan_rejected():
    X = _X()
    X[1, 3, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        fit_dmd(X)
    with pytest.raises(InputError, match="NaN"):
        similarity_transform_distance(np.full((2, 2), np.nan), np.eye(2))


def test_mismatched_dims_for_angular():
    with pytest.raises(InputError, match="equal"):
        similarity_transform_distance(np.eye(3), np.eye(4))
    with pytest.raises(InputError, match="wasserstein"):
        dsa(_X(N=3), _X(N=5), n_delays=1)  # full ranks 3 vs 5
    # wasserstein accepts different ranks
    assert dsa(_X(N=3), _X(N=5), metric="wasserstein") >= 0


def test_other_bad_inputs():
    with pytest.raises(InputError, match="n_delays"):
        delay_embed(_X(), n_delays=0)
    with pytest.raises(InputError, match="metric"):
        dsa(_X(), _X(1), metric="cosine")
    with pytest.raises(InputError, match="different numbers of dimensions"):
        fit_dmd([np.zeros((10, 2)), np.zeros((10, 3))])
    with pytest.raises(InputError, match="only one of"):
        fit_dmd(_X(), rank=2, rank_thresh=0.1)
    with pytest.raises(InputError, match="zero"):
        fit_dmd(np.zeros((10, 2)))
    with pytest.raises(InputError, match="non-empty"):
        dsa_matrix([])
    with pytest.raises(InputError, match="square"):
        similarity_transform_distance(np.ones((2, 3)), np.ones((2, 3)))


def test_caller_arrays_not_mutated():
    X, Y = _X(0), _X(1)
    X0, Y0 = X.copy(), Y.copy()
    dsa(X, Y, n_delays=2, rank=4)
    A = np.random.default_rng(0).standard_normal((4, 4))
    A0 = A.copy()
    similarity_transform_distance(A, A.T)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)
    np.testing.assert_array_equal(A, A0)


def test_testcases_shapes_and_determinism():
    a = tc.attractors(n_per_kind=1, n_trials=3, n_steps=10, seed=4)
    b = tc.attractors(n_per_kind=1, n_trials=3, n_steps=10, seed=4)
    assert len(a) == 4 and a.systems[0].shape == (3, 10, 8)
    for x, y in zip(a.systems, b.systems):
        np.testing.assert_array_equal(x, y)
    lo = tc.lorenz_regimes(n_per_regime=1, n_trials=2, n_steps=20)
    assert lo.groups == ["rho=10", "rho=28", "rho=150"] and np.isfinite(lo.systems[2]).all()
    mo = tc.motif_sequences(n_per_set=1, n_trials=2)
    assert len(mo) == 3 and mo.systems[0].shape[-1] == 6
    lp = tc.learning_proxy(n_checkpoints=4, n_trials=3, n_steps=20)
    assert lp.accuracy.tolist() == [0, 1 / 3, 2 / 3, 1] and lp.reference.shape == (3, 20, 6)
    acc, ref = lp.learning()  # the learning case's accuracies and reference, as stored
    assert acc is lp.accuracy and ref is lp.reference
    with pytest.raises(InputError, match="no learning case"):
        a.learning()  # a grouping case has neither


def test_learning_proxy_dsa_tracks_learning_despite_geometry():
    from repscope.dynamics.evaluate import learning_correlation

    lp = tc.learning_proxy(n_checkpoints=6, seed=1)
    d = dsa_matrix(lp.systems, [lp.reference], n_delays=2, rank=8).distances[:, 0]
    assert learning_correlation(d, lp.accuracy) < -0.8


def test_tasks_and_tiny_training():
    import torch

    from repscope.experiments.dynamics.models import make_task, subtasks, train_run

    b = make_task("dm_anti_delay", 8, seed=0)
    assert b["inputs"].shape[0] == 8 and b["resp_mask"].sum() > 0
    # anti flips the target for the same stimuli
    np.testing.assert_array_equal(
        make_task("dm_anti", 16, seed=3)["target"], 1 - make_task("dm", 16, seed=3)["target"]
    )
    assert subtasks("go_anti_delay") == ["go", "go_anti", "go_delay"]
    torch.manual_seed(0)
    for arch in ("rnn", "gru", "ssm"):
        r = train_run(
            arch,
            "go_anti",
            regime="pretrain_frozen",
            hidden=8,
            steps=4,
            pre_steps=2,
            n_checkpoints=3,
            eval_trials=4,
            batch_size=8,
        )
        assert r.steps[0] == 0 and r.steps[-1] == 4 and len(r.hidden) == len(r.accuracy)
        assert r.final_hidden.ndim == 3 and r.final_hidden.shape[0] == 4
    # frozen recurrence stays fixed during composite training; free recurrence moves
    kw = dict(hidden=6, steps=3, pre_steps=3, n_checkpoints=2, eval_trials=4, batch_size=8)
    # two checkpoints are the untrained network and the trained one (not step 1: geomspace(1, n, 1) == [1])
    assert train_run("rnn", "dm_delay", **kw).steps == [0, 3]
    assert train_run("rnn", "dm_delay", regime="pretrain_frozen", **kw).meta["recurrent_change"] == 0.0
    assert train_run("rnn", "dm_delay", regime="pretrain_free", **kw).meta["recurrent_change"] > 0.0


def test_demo_results_protocol(tmp_path):
    from repscope.experiments.dynamics.demo import demo_results

    res = demo_results(None, out_dir=tmp_path)
    assert len(res) == 5
    header, rows = res[0].table()
    assert header[0] == "metric" and [r[0] for r in rows][:2] == ["dsa_angular", "dsa_wasserstein"]
    for r in res:
        json.dumps(r.to_dict(), allow_nan=False)
        assert r.summary() and r.title
    ratio = {r[0]: float(r[1]) for r in rows}
    assert ratio["dsa_angular"] > ratio["procrustes"]


def test_cli_compare(tmp_path):
    import typer
    from typer.testing import CliRunner

    from repscope.commands.dynamics import register

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    register(app)
    files = []
    for i, kind in enumerate(["ring", "limit_cycle", "point"]):
        p = tmp_path / f"{kind}.npy"
        np.save(p, tc.attractor(kind, n_trials=5, n_steps=30, seed=i))
        files.append(str(p))
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        [
            "dynamics",
            "compare",
            *files,
            "--n-delays",
            "5",
            "--rank",
            "4",
            "--json",
            "--quiet",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert np.array(data["distances"]).shape == (3, 3)
    assert (out / "results.json").exists()
    res2 = CliRunner().invoke(app, ["dynamics", "compare", files[0], "--quiet"])
    assert isinstance(res2.exception, InputError)


def test_score_is_the_deprecated_name_of_metric():
    X, Y = _X(), _X(1)
    with pytest.warns(DeprecationWarning, match="use metric="):
        old = dsa(X, Y, score="wasserstein")
    assert old == dsa(X, Y, metric="wasserstein")
    with pytest.raises(InputError, match="both metric= and its deprecated name score="):
        dsa(X, Y, metric="wasserstein", score="angular")
