"""write_arrays: a complete, checksummed store from arrays computed elsewhere."""

import numpy as np
import pytest

from repscope.errors import InputError, RepscopeError
from repscope.experiments.datasets.toy import toy_activations
from repscope.store import open_store, verify_store, write_arrays


def test_arrays_round_trip_with_labels_ids_attributes_and_shapes(tmp_path):
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(10, 2, 3, 3)).astype("float32")
    vec = rng.normal(size=(10, 5)).astype("float32")
    ids = np.arange(100, 110)
    st = write_arrays(tmp_path / "a.zarr", {"conv": maps, "fc": vec}, labels=np.arange(10) % 2, ids=ids,
                      attributes={"colour": np.array(list("rgbrgbrgbr"))})
    assert st.layers == ["conv", "fc"] and st.n_samples == 10
    np.testing.assert_array_equal(st.read("fc"), vec)
    np.testing.assert_array_equal(st.read("conv").reshape(maps.shape), maps)
    assert tuple(st.layer_shape("conv")) == (2, 3, 3)
    np.testing.assert_array_equal(st.sample_ids, ids)
    assert st.labels.tolist() == [0, 1] * 5 and st.attributes["colour"][:3].tolist() == ["r", "g", "b"]
    assert verify_store(tmp_path / "a.zarr").ok
    assert open_store(tmp_path / "a.zarr").layers == ["conv", "fc"]


def test_toy_activations_give_the_lenses_a_classifier_like_store(tmp_path):
    from repscope.descramble import preactivation_layers

    st = write_arrays(tmp_path / "t.zarr", **toy_activations())
    assert st.n_samples == 60 and preactivation_layers(st) == ["fc1", "fc2"]


def test_bad_arrays_are_refused_naming_the_fix(tmp_path):
    with pytest.raises(InputError, match="same number of rows"):
        write_arrays(tmp_path / "b.zarr", {"a": np.zeros((4, 2)), "b": np.zeros((5, 2))})
    with pytest.raises(InputError, match="no arrays"):
        write_arrays(tmp_path / "c.zarr", {})
    write_arrays(tmp_path / "d.zarr", {"a": np.zeros((4, 2))})
    with pytest.raises(RepscopeError):  # other arrays at the same path: refused unless overwrite=True
        write_arrays(tmp_path / "d.zarr", {"a": np.ones((4, 3))})
    st = write_arrays(tmp_path / "d.zarr", {"a": np.ones((4, 3))}, overwrite=True)
    assert st.read("a").shape == (4, 3)
