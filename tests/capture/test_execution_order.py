"""Layer order = execution order (issue 21): recorded at capture (the order of the first forward-hook call),
stored per layer, exposed as ``store.layers`` / ``store.execution_order``, and used by the readings that
follow the order (neighbouring-layer CKA, the layer-matrix rows, the mapper purity trend). Old stores without
the record keep their stored order and say so."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import repscope as rs


class Block(nn.Module):
    """A residual block whose ``__init__`` registers its modules in another order than ``forward`` runs them
    (bn2 and the shortcut before conv1): registration order ≠ execution order."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.bn2 = nn.BatchNorm2d(c)
        self.shortcut = nn.Conv2d(c, c, 1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(c)

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


class ResNetLike(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.head = nn.Linear(4, 3)  # registered first, runs last
        self.layer1 = Block(4)
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        return self.head(self.pool(self.layer1(self.stem(x))).flatten(1))


LAYERS = ["head", "layer1", "layer1.bn2", "layer1.shortcut", "layer1.conv2", "layer1.conv1", "layer1.bn1", "stem",
          "pool"]


def _hook_order(model: nn.Module, names: list[str], x: torch.Tensor) -> list[str]:
    """Reference: the order in which plain forward hooks fire on one forward pass."""
    mods = dict(model.named_modules())
    seen: list[str] = []
    hs = [mods[n].register_forward_hook(lambda m, i, o, n=n: seen.append(n) if n not in seen else None)
          for n in names]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return seen


def _data(n: int = 48):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    X = rng.standard_normal((n, 1, 6, 6)).astype(np.float32) * 0.3
    for i, c in enumerate(y):
        X[i, 0, 2 * c : 2 * c + 2, :] += 1.5
    return torch.from_numpy(X), y


@pytest.fixture
def resnet_store(tmp_path):
    net = ResNetLike().eval()
    X, y = _data()
    store = rs.capture(net, X, LAYERS, tmp_path / "r.zarr", pool={"layer1*": "mean", "stem": "mean", "*": "none"},
                       labels=y, progress=False)
    return net, X, store


def test_store_layers_follow_execution_order(resnet_store):
    net, X, store = resnet_store
    registration = [n for n, _ in net.named_modules() if n in LAYERS]
    want = _hook_order(net, LAYERS, X[:2])
    assert want == ["stem", "layer1.conv1", "layer1.bn1", "layer1.conv2", "layer1.bn2", "layer1.shortcut",
                    "layer1", "pool", "head"]
    assert registration != want  # the model is built so that the two orders differ
    assert store.execution_order == want and store.layers == want
    assert [store.layer_info(n)["exec_index"] for n in want] == list(range(len(want)))
    assert store.layer_order_note is None
    assert list(store.to_dict()["layers"]) == want


def test_readings_follow_execution_order(resnet_store):
    from repscope.lenses import protocol as lens
    from repscope.metrics.entry import analyse

    net, X, store = resnet_store
    want = store.execution_order
    # layers given in any order come back in execution order
    assert lens.select(store, ["head", "stem", "layer1"]) == ["stem", "layer1", "head"]
    a = analyse(store, metrics=["linear_cka"], labels_rsa=False, progress=False)
    cka = a.matrices[0]
    assert list(cka.rows) == want
    # the neighbouring-layer reading is over execution neighbours: recompute it from the matrix
    V = np.asarray(cka.values)
    adj = [V[i, i + 1] for i in range(len(want) - 1)]
    k = int(np.argmin(adj))
    assert f"between {want[k]} and {want[k + 1]} (CKA {adj[k]:.2f})" in a.reading
    assert not any("registration" in n for n in a.notes)


def test_topology_purity_trend_follows_execution_order(resnet_store):
    from repscope.topology.entry import analyse

    net, X, store = resnet_store
    a = analyse(store, layers=["head", "stem", "layer1.bn1", "layer1"], n_samples=48, progress=False)
    trend = next(r for r in a.results if type(r).__name__ == "MapperTrend")
    assert trend.layers == ["stem", "layer1.bn1", "layer1", "head"]


def _drop_order(path) -> None:
    """Make the store look like one captured before execution order was recorded."""
    zj = path / "zarr.json"
    meta = json.loads(zj.read_text())
    for d in meta["attributes"]["repscope"]["layers"]:
        d.pop("exec_index")
    zj.write_text(json.dumps(meta))


def test_old_store_falls_back_to_stored_order_with_a_note(resnet_store):
    from repscope.metrics.entry import analyse

    net, X, store = resnet_store
    _drop_order(store.path)
    old = rs.open_store(store.path)
    stored = [d["name"] for d in old.metadata["layers"]]
    assert old.execution_order is None and old.layers == stored and stored != store.execution_order
    assert "does not record the order in which its layers ran" in old.layer_order_note
    a = analyse(old, metrics=["linear_cka"], labels_rsa=False, progress=False)
    assert list(a.matrices[0].rows) == stored
    assert any("registration" in n and "re-capture" in n for n in a.notes)


def test_cli_report_notes_an_unrecorded_order(resnet_store, tmp_path, run_cli):
    net, X, store = resnet_store
    code, _, err = run_cli("report", store.path, "--sections", "capture,similarity", "--out", tmp_path / "a", "--quiet")
    assert code == 0 and "warning" not in err, err
    _drop_order(store.path)
    code, _, err = run_cli("report", store.path, "--sections", "capture,similarity", "--out", tmp_path / "b",
                           "--quiet")
    assert code == 0, err
    lines = [x for x in err.splitlines() if x.startswith("repscope: warning:")]
    assert len(lines) == 1 and "does not record the order in which its layers ran" in lines[0]
    data = json.loads((tmp_path / "b" / "results.json").read_text())
    assert "registration" in json.dumps(data["sections"]["similarity"])
