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
from repscope.report.job import analyse_store
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
    np.testing.assert_array_equal(np.asarray(cli_ph["values"], dtype=float), ph.values)
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
    from repscope.dynamics.entry import DEFAULTS as DYN

    dyn = " ".join(ok(cli("dynamics", "analyse", "--help")).stdout.split())
    for phrase in (f"(default {DYN.n_delays}, as the report)", f"(default {DYN.n_components}, as the report)",
                   f"(default {DYN.max_trials}, as the report)"):
        assert phrase in dyn, phrase
