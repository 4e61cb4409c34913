"""The CLI's inputs (repscope.experiments.inputs): one source at a time, files that override what the inputs
bring, and the example batch of ``repscope layers --shapes``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repscope.errors import InputError
from repscope.experiments.inputs import DIGITS_MODELS, builtin_models, data_source, example_input, first_batch


def test_the_builtin_models_are_named():
    assert set(DIGITS_MODELS) < set(builtin_models()) and "minilm" in builtin_models()


def test_one_source_at_a_time(tmp_path):
    with pytest.raises(InputError, match="give one of --data, --text, --images"):
        data_source("m.py:f", data="x.npy", images=tmp_path)
    with pytest.raises(InputError, match="give the inputs"):
        data_source("m.py:f")
    with pytest.raises(InputError, match="--text needs --tokenizer"):
        data_source("m.py:f", text=tmp_path / "t.txt")
    with pytest.raises(InputError, match="H or H,W"):
        data_source("m.py:f", images=tmp_path, image_size="0")


def test_an_array_with_label_attribute_and_id_files(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", np.array([0, 1, 0, 1]))
    (tmp_path / "a.csv").write_text("colour\nred\nblue\nred\nblue\n")
    (tmp_path / "ids.txt").write_text("10\n11\n12\n13\n")
    src = data_source("m.py:f", str(tmp_path / "x.npy"), labels=tmp_path / "y.npy", attributes=tmp_path / "a.csv",
                      ids=tmp_path / "ids.txt")
    assert np.array_equal(src.data, X) and src.description == str(tmp_path / "x.npy")
    assert src.labels.tolist() == [0, 1, 0, 1] and src.ids.tolist() == [10, 11, 12, 13]
    assert src.attributes["colour"].tolist() == ["red", "blue", "red", "blue"]


def test_example_input(tmp_path):
    assert example_input("m.py:f") is None  # nothing asks for one
    assert torch.equal(example_input("m.py:f", "1,5", seed=3), example_input("m.py:f", "1,5", seed=3))
    with pytest.raises(InputError, match="--shapes needs an example input"):
        example_input("m.py:f", needed=True)
    np.save(tmp_path / "x.npy", np.zeros((20, 3), dtype=np.float32))
    assert example_input("m.py:f", data=str(tmp_path / "x.npy")).shape == (8, 3)


def test_first_batch_of_batches():
    assert first_batch(iter([np.ones(2), np.zeros(2)])).tolist() == [1.0, 1.0]
    with pytest.raises(InputError, match="no batches"):
        first_batch([])
