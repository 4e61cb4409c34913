"""The CLI and the report agree on one store (issue 21): ``repscope topology STORE --json`` and
``repscope ranges analyse STORE …`` against :func:`repscope.report.job.analyse_store` — same defaults, same
points, same most-different pair, same confounder rows; attributes derived from the label are never
confounders (a note says so) while a real one is still flagged; a label-less store skips the ranges section
naming ``repscope report --unit``, which then makes it apply.

The store: a file-defined MLP the demo never uses, captured through ``repscope capture --model net.py:build``,
on 1100 inputs (more than topology's default 1000 points, so both sides draw a subsample).
"""

from __future__ import annotations

import json
import subprocess
import textwrap

import numpy as np
import pytest

import repscope as rs
from repscope.errors import InputError
from repscope.metrics.entry import DEFAULTS as SIM
from repscope.report.job import analyse_store
from repscope.results import MatrixResult
from repscope.topology import PHLayerMatrix
from repscope.topology.entry import DEFAULTS as TOPO
from test_cli_hardening import cli  # tests/ is on the path (its conftest.py)

N = 1100

NET_PY = textwrap.dedent("""
    import torch
    from torch import nn

    class Net(nn.Module):
        # probe: the first 5 inputs as they are; hidden/act/out: input 1 + c is class c's evidence
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.probe = nn.Linear(6, 5)
            self.hidden = nn.Linear(6, 8)
            self.act = nn.ReLU()
            self.out = nn.Linear(8, 4)
            with torch.no_grad():
                self.probe.weight.copy_(torch.eye(5, 6))
                self.probe.bias.zero_()
                self.hidden.weight.mul_(0.1)
                self.hidden.weight[:4].zero_()
                self.hidden.weight[range(4), range(1, 5)] = 1.0
                self.out.weight.mul_(0.1)
                self.out.weight[:, :4] += torch.eye(4)

        def forward(self, x):
            self.probe(x)
            return self.out(self.act(self.hidden(x)))

    def build():
        return Net()
""")


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(folder, store with labels, label-less store) captured by the CLI from net.py."""
    d = tmp_path_factory.mktemp("agree")
    (d / "net.py").write_text(NET_PY)
    rng = np.random.default_rng(0)
    y = np.arange(N) % 4
    marker = rng.random(N) < 0.25  # the real confounder: its samples sit in the middle of probe:0 only
    X = rng.standard_normal((N, 6)).astype(np.float32)
    X[:, 0] = np.where(marker, rng.uniform(0.45, 0.55, N), rng.uniform(0.0, 1.0, N))
    X[np.arange(N), 1 + y] += 3.0
    np.save(d / "x.npy", X)
    np.save(d / "y.npy", y)
    np.savez(d / "attrs.npz", marker=marker.astype(np.int64), parity=y % 2, same=y.copy(),
             fine=2 * y + rng.integers(0, 2, N))
    base = ["capture", "--model", "net.py:build", "--data", "x.npy", "--layers", "probe,hidden,act,out",
            "--attributes", "attrs.npz", "--quiet"]
    ok(cli(*base, "--labels", "y.npy", "--out", "s.zarr", cwd=d))
    ok(cli(*base, "--out", "nolabels.zarr", cwd=d))
    return d, d / "s.zarr", d / "nolabels.zarr"


def _most_different(values: np.ndarray, layers: list[str]) -> tuple[str, str]:
    V = np.asarray(values, dtype=float)
    iu = np.triu_indices(len(layers), 1)
    k = int(np.argmax(V[iu]))
    return layers[iu[0][k]], layers[iu[1][k]]


def test_topology_cli_and_report_use_the_same_points_and_find_the_same_pair(made):
    d, store_path, _ = made
    layers = ["probe", "act", "out"]
    res = json.loads(ok(cli("topology", store_path, "--layers", ",".join(layers), "--json", "--quiet")).stdout)
    secs, _ = analyse_store(rs.open_store(store_path), sections=["topology"],
                            options={"topology": {"layers": layers}})
    (sec,) = secs
    assert sec.status == "ok", sec.reason
    ph = next(r for r in sec.results if isinstance(r, PHLayerMatrix))
    card = sec.results[0].analysis
    # the one default: TOPO.n_samples of the 1100 inputs, drawn alike
    assert TOPO.n_samples < N
    assert res["params"]["n_samples"] == card.params["n_samples"] == ph.n_samples == TOPO.n_samples
    assert res["ph_layer_matrix"]["n_samples"] == TOPO.n_samples
    assert res["params"] == card.params
    cli_ph = res["ph_layer_matrix"]
    assert cli_ph["rows"] == ph.rows == layers and cli_ph["metric"] == ph.metric == TOPO.metric
    np.testing.assert_allclose(np.asarray(cli_ph["values"], dtype=float), ph.values, rtol=1e-12, atol=1e-14)
    assert _most_different(cli_ph["values"], layers) == _most_different(ph.values, layers)
    assert res["reading"] == card.reading and "most different persistence diagrams" in card.reading
    # the same mapper graphs (same clouds, same cover, same clusters)
    graphs = {r.name: r for r in sec.results if type(r).__name__ == "MapperGraph"}
    for name, g in res["mapper"].items():
        assert g["nodes"] == json.loads(json.dumps(graphs[name].to_dict()))["nodes"]


def _rows(conf: dict) -> dict[str, tuple]:
    return {r["attribute"]: (r["verdict"], round(r["v_top"], 12), round(r["v_mid"], 12)) for r in conf["rows"]}


def test_ranges_cli_and_report_give_the_same_confounder_rows(made):
    _, store_path, _ = made
    secs, _ = analyse_store(rs.open_store(store_path), sections=["ranges"])
    (sec,) = secs
    assert sec.status == "ok", sec.reason
    analysis = sec.results[0].analysis
    units = [a.bands.unit for a in analysis.analyses]
    assert units[0].startswith("out:") and units[1].startswith("act: mean(")
    c = units[0].split(":")[1]
    specs = [("--unit", units[0]), ("--direction", f"act:class-mean:{c}")]
    for (flag, spec), a in zip(specs, analysis.analyses):
        res = json.loads(ok(cli("ranges", "analyse", store_path, flag, spec, "--json")).stdout)
        assert res["bands"]["counts"] == a.bands.to_dict()["counts"]
        assert _rows(res["confounders"]) == _rows(json.loads(json.dumps(a.confounders.to_dict())))
        assert res["notes"] == a.notes
        # a readout of the labels: label, predicted (logits) and what the label determines are not confounders
        verdicts = {r["attribute"]: r["verdict"] for r in res["confounders"]["rows"]}
        for name in ("label", "parity", "same", "fine"):
            assert verdicts[name] == "derived from target", (spec, name)


def test_attributes_derived_from_the_label_are_excluded_and_a_real_confounder_is_flagged(made):
    _, store_path, _ = made
    proc = ok(cli("ranges", "analyse", store_path, "--unit", "probe:0", "--json"))
    res = json.loads(proc.stdout)
    verdicts = {r["attribute"]: r["verdict"] for r in res["confounders"]["rows"]}
    # probe:0 is no readout of the label: label is tested (and is no confounder of it), marker is flagged,
    # parity / same / fine carry only the label's association: left out, with notes saying why
    assert verdicts == {"label": "neither", "marker": "mid-range only"}
    notes = res["notes"]
    assert ("attribute 'parity' is a function of the label (each label has one parity value), so it is not "
            "tested as a confounder: its association is the label's") in notes
    assert ("attribute 'same' is the label under another name (one value per label and one label per value), so "
            "it is not tested as a confounder") in notes
    assert any(n.startswith("the label is a function of attribute 'fine'") for n in notes)
    # the table output shows the notes too
    text = ok(cli("ranges", "analyse", store_path, "--unit", "probe:0", "--permutations", "99")).stdout
    assert "note: attribute 'parity' is a function of the label" in text
    # and the report on the same unit: the same rows and notes
    secs, _ = analyse_store(rs.open_store(store_path), sections=["ranges"], options={"ranges": {"unit": "probe:0"}})
    a = secs[0].results[0].analysis
    assert _rows(json.loads(json.dumps(a.analyses[0].confounders.to_dict()))) == _rows(res["confounders"])
    assert a.notes == notes and "parity" in a.summary()


def test_label_less_store_skips_ranges_naming_the_report_option_that_makes_it_apply(made, tmp_path):
    _, _, nolabels = made
    res = json.loads(ok(cli("report", nolabels, "--sections", "ranges", "--out", tmp_path / "r1", "--json",
                            "--quiet")).stdout)
    status = res["meta"]["section_status"]["ranges"]
    assert status["status"] == "skipped"
    assert "repscope report --unit LAYER:INDEX" in status["reason"] and "unit='" not in status["reason"].split(
        "API")[0]
    res = json.loads(ok(cli("report", nolabels, "--sections", "ranges", "--unit", "probe:0", "--out",
                            tmp_path / "r2", "--json", "--quiet")).stdout)
    assert res["meta"]["section_status"]["ranges"]["status"] == "ok"
    # with --unit the label-less bands are still described by the attributes: marker is flagged there too
    text = json.dumps(res["sections"]["ranges"])
    assert "mid-range only" in text and "marker" in text


def test_cli_help_states_the_lenses_own_defaults():
    """The CLI's options default to None and are filled from the lens's DEFAULTS at run time (so `--help` stays
    free of numpy); the numbers the help pages quote are those defaults."""
    from repscope.ranges.analysis import DEFAULTS as RANGES

    topo = " ".join(ok(cli("topology", "--help")).stdout.split())
    for phrase in (f"default {TOPO.n_samples}", f"{TOPO.cloud} (paper, default)", f"{TOPO.metric} (paper, default)",
                   f"default {TOPO.dim}", f"(default {TOPO.n_intervals})", f"(default {TOPO.overlap})",
                   f"(default {TOPO.min_samples})", f"{TOPO.mapper_lens} (paper, default)",
                   f"{TOPO.mapper_clusterer} (paper, default)"):
        assert phrase in topo, phrase
    ranges = " ".join(ok(cli("ranges", "analyse", "--help")).stdout.split())
    assert f"default {RANGES.n_permutations}" in ranges and f"default {RANGES.correction}" in ranges
    compare = " ".join(ok(cli("compare", "--help")).stdout.split())
    assert f"default {', '.join(SIM.metrics)}, as the report" in compare
    assert f"default {SIM.max_quadratic_samples}, as the report" in compare
    from repscope.dynamics.entry import DEFAULTS as DYN

    dyn = " ".join(ok(cli("dynamics", "analyse", "--help")).stdout.split())
    for phrase in (f"(default {DYN.n_delays}, as the report)", f"(default {DYN.n_components}, as the report)",
                   f"(default {DYN.max_trials}, as the report)"):
        assert phrase in dyn, phrase


# ---------------------------------------------------------------------------------------------------------------
# similarity: `repscope compare STORE` is the report's similarity section (same measures, same numbers)
# ---------------------------------------------------------------------------------------------------------------

def _report_matrices(store_path, seed: int = 0, **options) -> tuple[dict, list[str]]:
    secs, _ = analyse_store(rs.open_store(store_path), sections=["similarity"], seed=seed,
                            options={"similarity": options} if options else None)
    (sec,) = secs
    assert sec.status == "ok", sec.reason
    return {r.metric: r for r in sec.results if isinstance(r, MatrixResult)}, sec.results[0].analysis.notes


def _assert_same_matrices(res: dict, mats: dict, metrics: list[str]) -> None:
    assert [r["metric"] for r in res["results"]] == list(mats) == metrics
    for r in res["results"]:
        m = mats[r["metric"]]
        assert r["rows"] == m.rows and r["cols"] == m.cols and r["n_samples"] == m.n_samples, r["metric"]
        # equal up to summation order: the CLI's process may run BLAS with other threads (ULP-level differences)
        np.testing.assert_allclose(np.asarray(r["values"], dtype=float), m.values, rtol=1e-12, atol=1e-14,
                                   err_msg=r["metric"])


def test_compare_gives_the_report_similarity_matrices_value_by_value(made):
    """The one default set of measures (six, SIM.metrics) on the 1100-sample MLP store: every matrix the
    same up to summation order (1e-12); with fewer quadratic samples than samples, rsa and mutual_knn use the
    same seeded subsample on both sides while the linear measures keep every sample."""
    _, store_path, _ = made
    layers = ["probe", "hidden", "act", "out"]
    res = json.loads(ok(cli("compare", store_path, "--json", "--quiet")).stdout)
    mats, notes = _report_matrices(store_path)
    assert len(SIM.metrics) == 6 and N <= SIM.max_quadratic_samples
    _assert_same_matrices(res, mats, list(SIM.metrics))
    assert all(m.rows == layers and m.n_samples == N for m in mats.values())
    # a subsample of 300 for the O(n²) measures, another seed: still the same numbers
    res = json.loads(ok(cli("compare", store_path, "--metric", "linear_cka,rsa,mutual_knn", "--seed", "3",
                            "--max-quadratic-samples", "300", "--json", "--quiet")).stdout)
    mats, notes = _report_matrices(store_path, seed=3, metrics=["linear_cka", "rsa", "mutual_knn"],
                                   max_quadratic_samples=300)
    _assert_same_matrices(res, mats, ["linear_cka", "rsa", "mutual_knn"])
    assert [mats[m].n_samples for m in mats] == [N, 300, 300]
    note = f"rsa, mutual_knn on a seeded subsample of 300 of {N} samples"
    assert note in res["notes"] and note in notes
    # another seed draws other rows (the seed is used, not ignored)
    other = json.loads(ok(cli("compare", store_path, "--metric", "rsa", "--max-quadratic-samples", "300",
                              "--json", "--quiet")).stdout)
    assert not np.array_equal(np.asarray(other["results"][0]["values"]), mats["rsa"].values)


def test_compare_of_two_stores_keeps_bootstrap_and_permutations(made):
    """STORE × STORE2 on the same inputs (the MLP store and its label-less twin hold the same activations):
    the matrices equal the one-store ones — rsa on the same subsample, rows matched by sample id — and
    --n-boot / --n-perm add intervals and p-values."""
    _, store_path, nolabels = made
    args = ["--metric", "linear_cka,rsa", "--max-quadratic-samples", "200", "--json", "--quiet"]
    one = json.loads(ok(cli("compare", store_path, *args)).stdout)
    two = json.loads(ok(cli("compare", store_path, nolabels, *args, "--n-boot", "20", "--n-perm", "19")).stdout)
    for a, b in zip(one["results"], two["results"]):
        assert a["metric"] == b["metric"] and b["n_samples"] == (N if a["metric"] == "linear_cka" else 200)
        np.testing.assert_allclose(np.asarray(b["values"], dtype=float), np.asarray(a["values"], dtype=float),
                                   rtol=1e-9, atol=1e-12)
        lo, hi = np.asarray(b["ci_low"], dtype=float), np.asarray(b["ci_high"], dtype=float)
        assert lo.shape == hi.shape == (4, 4) and (lo <= hi + 1e-12).all()
        p = np.asarray(b["extra"]["p_values"], dtype=float)
        assert p.shape == (4, 4) and ((p > 0) & (p <= 1)).all()


SEQ_PY = textwrap.dedent("""
    import torch
    from torch import nn

    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(6, 8, batch_first=True)

        def forward(self, x):
            return self.gru(x)[0]

    class Net(nn.Module):
        # (N, T, 3) zero-padded sequences -> inp (T, 6) -> rnn (T, 8) -> head (T, 4)
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.inp = nn.Linear(3, 6)
            self.rnn = Recurrent()
            self.head = nn.Linear(8, 4)

        def forward(self, x):
            return self.head(self.rnn(torch.tanh(self.inp(x))))

    def build():
        return Net()
""")
NS, TS = 80, 10


def _linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA by its definition (Kornblith et al. 2019): ‖YᶜᵀXᶜ‖²_F / (‖XᶜᵀXᶜ‖_F ‖YᶜᵀYᶜ‖_F)."""
    X, Y = X - X.mean(0), Y - Y.mean(0)
    return float(np.linalg.norm(Y.T @ X) ** 2 / (np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y)))


@pytest.fixture(scope="module")
def gru_store(tmp_path_factory):
    """A GRU's padded sequences captured by the CLI with their real lengths (attribute n_tokens)."""
    d = tmp_path_factory.mktemp("gru")
    (d / "seq.py").write_text(SEQ_PY)
    rng = np.random.default_rng(1)
    lengths = rng.integers(2, TS + 1, NS)
    X = rng.standard_normal((NS, TS, 3)).astype(np.float32)
    X[np.arange(TS)[None, :] >= lengths[:, None]] = 0.0  # padding
    np.save(d / "x.npy", X)
    np.savez(d / "attrs.npz", n_tokens=lengths)
    ok(cli("capture", "--model", "seq.py:build", "--data", "x.npy", "--layers", "inp,rnn,head", "--attributes",
           "attrs.npz", "--out", "g.zarr", "--quiet", cwd=d))
    return d / "g.zarr", lengths


def test_compare_reads_a_gru_store_as_the_report_does_the_mean_over_real_steps(gru_store):
    store_path, lengths = gru_store
    res = json.loads(ok(cli("compare", store_path, "--json", "--quiet")).stdout)
    mats, notes = _report_matrices(store_path)
    _assert_same_matrices(res, mats, list(SIM.metrics))
    assert res["notes"][0] in notes and "mean over real time steps / tokens" in res["notes"][0]
    # the reference: the mean over each sample's first n_tokens steps, by hand from the stored (T, D) values
    store = rs.open_store(store_path)
    raw = {lay: store.read(lay).reshape(NS, TS, -1).astype(np.float64) for lay in ("inp", "rnn", "head")}
    real = np.arange(TS)[None, :] < lengths[:, None]
    masked = {k: (v * real[..., None]).sum(1) / lengths[:, None] for k, v in raw.items()}
    cka = np.asarray(res["results"][0]["values"], dtype=float)
    assert res["results"][0]["metric"] == "linear_cka"
    want = _linear_cka(masked["inp"], masked["head"])
    np.testing.assert_allclose(cka[0, 2], want, rtol=1e-9)
    np.testing.assert_allclose(cka[1, 2], _linear_cka(masked["rnn"], masked["head"]), rtol=1e-9)
    flat = _linear_cka(raw["inp"].reshape(NS, -1), raw["head"].reshape(NS, -1))
    padded_mean = _linear_cka(raw["inp"].mean(1), raw["head"].mean(1))
    assert abs(flat - want) > 0.02 and abs(padded_mean - want) > 0.02  # the test can tell the readings apart
    # the API's low-level call: the same masked mean by default, saying so; flattened only when asked, warned
    api = rs.metrics.layer_matrix(store, metric="linear_cka")
    np.testing.assert_allclose(api.values[0, 2], want, rtol=1e-9)
    assert "mean over real time steps / tokens" in api.to_dict()["extra"]["tokens"]
    with pytest.warns(UserWarning, match="padding positions included"):
        fl = rs.metrics.layer_matrix(store, metric="linear_cka", tokens="flatten")
    np.testing.assert_allclose(fl.values[0, 2], flat, rtol=1e-9)
    assert "flattened" in fl.extra["tokens"] and "padding positions included" in fl.extra["tokens"]
    with pytest.raises(InputError, match="tokens='bag'"):
        rs.metrics.layer_matrix(store, tokens="bag")
