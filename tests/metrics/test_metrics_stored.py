"""RSA on stored layers (repscope.metrics.stored): STORE:LAYER specs (local paths and URLs), and one layer's
RSA equal to the comparison of the RDMs computed directly, with the two-valued model's ceiling."""

from __future__ import annotations

import numpy as np
import pytest

from repscope.errors import InputError
from repscope.experiments.datasets.toy import toy_store
from repscope.metrics import layer_rsa, model_rdm, rdm_of, read_layers
from repscope.metrics._rsa import binary_rdm_ceiling


@pytest.fixture
def store():
    st, tmp = toy_store()
    yield st
    tmp.cleanup()


def test_read_layers_specs(store):
    path = str(store.path)
    reps = read_layers([f"{path}:fc1", f"file://{path}", path], layer="relu")
    name = path.rstrip("/").rsplit("/", 1)[-1]
    assert list(reps) == [f"{name}:fc1", f"{name}:relu"]  # the URL and the path name the same layer
    assert np.array_equal(reps[f"{name}:fc1"], store.read("fc1"))
    with pytest.raises(InputError, match="give STORE:LAYER or --layer"):
        read_layers([path])


def test_layer_rsa_against_the_direct_computation(store):
    res = layer_rsa(store, "fc1", layer2="fc2", rdm="euclidean", compare="pearson")
    direct = rdm_of(store.read("fc1"), "euclidean").compare(rdm_of(store.read("fc2"), "euclidean"), "pearson")
    assert res.value == pytest.approx(direct, abs=1e-12) and res.ceiling is None and res.bootstrap is None
    assert res.to_dict()["n_conditions"] == store.n_samples == res.rdm.n
    assert list(res.order) == list(np.argsort(store.labels, kind="stable"))


def test_a_label_model_has_its_ceiling_and_a_bootstrap(store):
    res = layer_rsa(store, "fc2", model="labels", bootstrap=20, seed=1)
    model = model_rdm(store.labels, "categorical")
    assert res.value == pytest.approx(rdm_of(store.read("fc2")).compare(model, "spearman"), abs=1e-12)
    assert res.ceiling == pytest.approx(binary_rdm_ceiling(model.vector, "spearman"))
    assert "ceiling" in res.to_dict() and "samples" not in res.to_dict()["bootstrap"]
    assert "of it" in res.summary() and len(res.summary().splitlines()) == 2


def test_layer_rsa_refuses_unclear_comparisons(store):
    with pytest.raises(InputError, match="exactly one of --model"):
        layer_rsa(store, "fc1")
    with pytest.raises(InputError, match="no attribute 'size'"):
        layer_rsa(store, "fc1", model="attr:size")
    with pytest.raises(InputError, match="use 'labels', 'attr:NAME'"):
        layer_rsa(store, "fc1", model="model.txt")
