"""One stored layer's descrambling as ``repscope descramble STORE --layer L`` runs it
(repscope.descramble.descramble_layer): the fit of the Descrambler itself, an operator or weights from .npy
files, the permutation search on request, and one-line errors for missing files."""

from __future__ import annotations

import numpy as np
import pytest

from repscope.descramble import Descrambler, PermutationResult, descramble_layer
from repscope.errors import InputError
from repscope.experiments.datasets.toy import toy_store


@pytest.fixture
def store():
    st, tmp = toy_store()
    yield st
    tmp.cleanup()


def test_same_as_the_descrambler_fitted_directly(store):
    (res,) = descramble_layer(store, "fc1", "circular_difference")
    ref = Descrambler("circular_difference").fit_store(store, "fc1").result(layer="fc1")
    assert np.allclose(res.P, ref.P) and res.cost == pytest.approx(ref.cost)
    assert res.cost >= res.bound - 1e-9  # never below the Brockett bound


def test_operator_and_weights_from_files_and_the_permutation(store, tmp_path):
    n = store.read("fc1").shape[1]
    D = np.eye(n) - np.eye(n, k=1)
    np.save(tmp_path / "D.npy", D)
    W = np.random.default_rng(0).normal(size=(n, 5))
    np.save(tmp_path / "W.npy", W)
    res, perm = descramble_layer(store, "fc1", str(tmp_path / "D.npy"), tmp_path / "W.npy", permutation=True,
                                 n_init=2, seed=0)
    by_matrix = descramble_layer(store, "fc1", D, W)[0]
    assert np.allclose(res.P, by_matrix.P) and np.allclose(res.weights_descrambled, res.P @ W)
    assert isinstance(perm, PermutationResult) and sorted(perm.perm) == list(range(n))


def test_missing_files_are_named(store, tmp_path):
    with pytest.raises(InputError, match="operator file .* does not exist"):
        descramble_layer(store, "fc1", str(tmp_path / "D.npy"))
    with pytest.raises(InputError, match="weights file .* does not exist"):
        descramble_layer(store, "fc1", weights=tmp_path / "W.npy")
