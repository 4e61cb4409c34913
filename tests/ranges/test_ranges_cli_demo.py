"""CLI sub-commands and the demo section, on a small duck-typed store (no training of a digits model)."""

import json
import pathlib

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

import repscope.store
from repscope.commands.ranges import register
from repscope.errors import InputError
from repscope.ranges.analysis import analyse_store


class FakeStore:
    """Duck-typed ActivationStore: logits 'fc2' whose class-3 mid band is enriched in attribute 'ink'=1."""

    def __init__(self, n=600, seed=0):
        rng = np.random.default_rng(seed)
        y = np.arange(n) % 4
        ink = (rng.random(n) < 0.2).astype(int)
        Z = rng.normal(0, 1, (n, 4))
        Z[np.arange(n), y] += 5.0
        Z[(y == 3) & (ink == 1), 3] -= 2.5  # thin-ink 3s sit mid-range on logit 3
        self._layers = {"relu4": np.abs(rng.normal(size=(n, 6))) + y[:, None] * 0.3, "fc2": Z}
        self.layers = ["relu4", "fc2"]
        self.labels = y
        self.attributes = {"ink": ink, "noise": rng.integers(0, 3, n)}
        self.sample_ids = np.arange(n) + 100
        self.n_samples = n

    def read(self, layer, rows=None):
        a = self._layers[layer]
        return a if rows is None else a[rows]


def test_analyse_store_finds_mid_range_confounder():
    res = analyse_store(FakeStore(), unit="fc2:3", within_class=True, n_permutations=199)
    assert res.bands.kind == "normalised" and res.associations.n_reference == 150
    verdicts = {r["attribute"]: r["verdict"] for r in res.confounders.rows}
    assert verdicts["ink"] == "mid-range only" and verdicts["noise"] == "neither"
    assert all(int(i) >= 100 for ids in res.associations.examples.values() for i in ids)
    d = analyse_store(FakeStore(), direction="relu4:class-mean:3", n_permutations=0)
    assert d.bands.kind == "percentile" and d.associations.get("top", "label", "cramers_v") > 0.5
    p = analyse_store(FakeStore(), unit="relu4:0", edges=[0, 50, 100], n_permutations=0)
    assert list(p.bands.counts().values()) == [300, 300]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"unit": "fc9:1"}, "not in the store"),
        ({}, "exactly one"),
        ({"unit": "fc2:9"}, "out of range"),
        ({"direction": "relu4:pca:1"}, "not one of"),
        ({"unit": "fc2:1", "attributes": ["colour"]}, "not in the store"),
        ({"direction": "relu4:class-mean:x"}, "integers"),
    ],
)
def test_analyse_store_bad_inputs(kwargs, match):
    with pytest.raises(InputError, match=match):
        analyse_store(FakeStore(), n_permutations=0, **kwargs)


@pytest.fixture()
def app(monkeypatch):
    monkeypatch.setattr(repscope.store, "open_store", lambda path: FakeStore(), raising=False)
    a = typer.Typer()

    @a.callback()
    def _main() -> None:
        pass

    register(a)
    return a


def test_cli_analyse_json_and_out(app, tmp_path):
    r = CliRunner().invoke(
        app,
        [
            "ranges",
            "analyse",
            "store.zarr",
            "--unit",
            "fc2:3",
            "--within-class",
            "--permutations",
            "99",
            "--json",
            "--out",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output)
    assert payload["bands"]["unit"] == "fc2:3"
    assert (tmp_path / "results.json").exists() and len(list(tmp_path.glob("*.png"))) >= 4
    r2 = CliRunner().invoke(app, ["ranges", "analyse", "s", "--unit", "fc2:3", "--edges", "a,b"])
    assert isinstance(r2.exception, InputError)


def test_demo_results_follow_protocol(monkeypatch, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import repscope.experiments.ranges.benchmark as bm
    from repscope.experiments.ranges.demo import demo_results
    from repscope.results import dumps

    original = bm.fast_config

    def tiny():
        cfg = original()
        cfg.seeds, cfg.epochs, cfg.C_grid = (0,), {"spurious_digits": 8}, (1.0, 0.1)
        cfg.n_retrains, cfg.upweights, cfg.jtt_upweights = 2, ("balanced",), (20.0,)
        return cfg

    monkeypatch.setattr(bm, "fast_config", tiny)
    from repscope.report import flatten

    res = flatten(demo_results(FakeStore(), out_dir=pathlib.Path(tmp_path), seed=0))
    names = [type(r).__name__ for r in res]
    for needed in (
        "Bands",
        "BandHistogram",
        "BandAssociations",
        "ConfounderFindings",
        "BandImageGrid",
        "MitigationTable",
    ):
        assert needed in names
    for r in res:
        assert isinstance(r.title, str) and r.title
        json.loads(dumps(r.to_dict()))
        plt.close(r.plot())
        if hasattr(r, "table"):
            header, rows = r.table()
            assert all(len(row) == len(header) for row in rows)
        if hasattr(r, "plotly"):
            r.plotly()
