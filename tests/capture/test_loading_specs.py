"""The parsers of capture's and layers' option values (repscope.capture.loading): layer specs, per-layer modes,
the output index, shards and the seeded random example input."""

from __future__ import annotations

import pytest
import torch

from repscope.capture.loading import parse_layers, parse_output_index, parse_per_layer, parse_shard, random_input
from repscope.errors import InputError


def test_layer_specs_split_commas_but_keep_a_regex_whole():
    assert parse_layers(None) is None and parse_layers([" , "]) is None
    assert parse_layers(["a, b", "re:conv{1,2}", "c"]) == ["a", "b", "re:conv{1,2}", "c"]


def test_per_layer_modes():
    assert parse_per_layer(None, "none") == "none"
    assert parse_per_layer(["max"], "none") == "max"
    assert parse_per_layer(["fc1=mean", "conv.1=pos:3"], "none") == {"fc1": "mean", "conv.1": "pos:3"}
    assert parse_per_layer(["fc1=2", "-1"], "none", integers=True) == {"fc1": 2, "*": -1}
    assert parse_per_layer(["fc1=2"], "none") == {"fc1": "2"}  # not a pooling option: kept as text
    with pytest.raises(InputError, match="LAYER=MODE"):
        parse_per_layer(["=mean"], "none")


def test_output_index_and_shard():
    assert parse_output_index("0") == 0 and parse_output_index("-2") == -2
    assert parse_output_index("last_hidden_state") == "last_hidden_state"
    assert parse_shard(None) is None and parse_shard("3/8") == (3, 8)
    for bad in ("3", "a/b", "1/2/3"):
        with pytest.raises(InputError, match="write I/K"):
            parse_shard(bad)


def test_random_input_is_seeded():
    a, b = random_input("3,4", seed=5), random_input("3, 4", seed=5)
    assert a.shape == (2, 3, 4) and torch.equal(a, b)
    assert not torch.equal(a, random_input("3,4", seed=6))
    with pytest.raises(InputError, match="integers like"):
        random_input("1,x", seed=0)
