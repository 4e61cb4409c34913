"""Layer selection: '*' stays within a dotted segment, '**' crosses, 're:' regexes, unrun pattern matches skipped."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import repscope as rs
from repscope.capture import select_layers
from repscope.capture.select import compile_pattern, matches
from repscope.errors import InputError


@pytest.mark.parametrize(
    ("pattern", "name", "hit"),
    [
        ("encoder.layer.*", "encoder.layer.0", True),
        ("encoder.layer.*", "encoder.layer.0.attention", False),  # '*' never crosses a dot
        ("encoder.**", "encoder.layer.0.attention.self.query", True),
        ("**.query", "encoder.layer.1.attention.self.query", True),
        ("**.query", "query", False),  # '**.' needs at least the dot
        ("layer?", "layer1", True),
        ("layer?", "layer.", False),
        ("block[12]", "block2", True),
        ("block[!12]", "block3", True),
        ("block[!12]", "block1", False),
        ("fc.1", "fcx1", False),  # dots are literal
        (r"re:encoder\.layer\.\d+", "encoder.layer.11", True),
        (r"re:encoder\.layer\.\d+", "encoder.layer.11.output", False),  # full match
    ],
)
def test_pattern_semantics(pattern, name, hit):
    assert matches(pattern, name) is hit
    assert (compile_pattern(pattern).fullmatch(name) is not None) is hit


def test_bert_layer_star_matches_only_direct_children(tiny_bert):
    # before: fnmatch's '*' crossed dots and matched every submodule of both layers (~40 modules)
    assert select_layers(tiny_bert, "encoder.layer.*") == ["encoder.layer.0", "encoder.layer.1"]
    assert select_layers(tiny_bert, r"re:encoder\.layer\.\d+\.output") == ["encoder.layer.0.output",
                                                                            "encoder.layer.1.output"]
    assert select_layers(tiny_bert, "**.query") == ["encoder.layer.0.attention.self.query",
                                                    "encoder.layer.1.attention.self.query"]
    with pytest.raises(InputError, match="unknown layer 'encoder.layer.0.atention'.*'encoder.layer.0.attention'"):
        select_layers(tiny_bert, "encoder.layer.0.atention")
    with pytest.raises(InputError, match="not a valid regular expression"):
        select_layers(tiny_bert, "re:encoder(")


def test_bert_layer_star_captures_the_two_layers(tmp_path, tiny_bert, bert_batches):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to skip: no warning either
        s = rs.capture(tiny_bert, bert_batches, "encoder.layer.*", tmp_path / "b.zarr", pool="token_mean",
                       progress=False)
    assert s.layers == ["encoder.layer.0", "encoder.layer.1"]
    assert s.read("encoder.layer.0").shape == (8, 32)


def test_unrun_pattern_matches_are_skipped_with_one_warning(tmp_path, tiny_bert, bert_batches):
    with pytest.warns(UserWarning) as rec:
        s = rs.capture(tiny_bert, bert_batches, ["encoder.**", "embeddings.**"], tmp_path / "e.zarr",
                       pool="mean", progress=False)
    msgs = [str(w.message) for w in rec if "skipped" in str(w.message)]
    assert len(msgs) == 1
    # the ModuleList container and the attention-probability dropouts never run; the position table has no
    # batch axis: all named in the one warning, none stored
    assert "embeddings.position_embeddings (no batch axis: shape (1, 7, 32))" in msgs[0]
    assert "encoder.layer (did not run)" in msgs[0]
    for name in ("encoder.layer ", "encoder.layer.0.attention.self.dropout", "embeddings.position_embeddings"):
        assert name in msgs[0]
        assert name.strip() not in s.layers
    assert "encoder.layer.1.output.dense" in s.layers and "embeddings.word_embeddings" in s.layers
    assert s.read("encoder.layer.1.intermediate.dense").shape == (8, 37)
    # the same module named exactly is an error, naming it
    with pytest.raises(InputError, match=r"\['encoder.layer.0.attention.self.dropout'\] did not run"):
        rs.capture(tiny_bert, bert_batches, ["encoder.layer.0.attention.self.dropout"], tmp_path / "x.zarr",
                   progress=False)


def test_pattern_match_running_twice_is_skipped_exact_is_refused(tmp_path, res_cnn):
    X = torch.randn(6, 1, 8, 8)
    with pytest.warns(UserWarning, match=r"block1.relu \(ran more than once"):
        s = rs.capture(res_cnn, X, "block1.*", tmp_path / "a.zarr", pool="mean", progress=False)
    assert s.layers == ["block1.conv1", "block1.bn1", "block1.conv2"]
    with pytest.raises(InputError, match="ran more than once"):
        rs.capture(res_cnn, X, "block1.relu", tmp_path / "b.zarr", progress=False)


def test_predicate_and_default_selection_skip_too(tmp_path, res_cnn):
    X = torch.randn(5, 1, 8, 8)
    with pytest.warns(UserWarning, match="ran more than once"):
        s = rs.capture(res_cnn, X, None, tmp_path / "d.zarr", pool="mean", progress=False)
    assert "block1.relu" not in s.layers and "stem" in s.layers and "head" in s.layers
    with torch.no_grad():
        ref = res_cnn.stem(X).mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(s.read("stem"), ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="none of the selected layers can be stored"):
        rs.capture(res_cnn, X, lambda n, m: isinstance(m, nn.ReLU), tmp_path / "r.zarr", progress=False)


def test_pre_hook_sees_keyword_inputs_and_bad_output_index(tmp_path, tiny_bert, bert_batches):
    s = rs.capture(tiny_bert, bert_batches, ["encoder.layer.0", "embeddings"], tmp_path / "p.zarr",
                   point={"encoder.layer.0": "pre"}, pool="token_mean", progress=False)
    np.testing.assert_allclose(s.read("encoder.layer.0"), s.read("embeddings"), rtol=1e-6, atol=1e-7)
    with pytest.raises(InputError, match=r"returns a tuple of 2; output_index=5 is out of range"):
        rs.capture(tiny_bert, bert_batches, "encoder.layer.0.attention", tmp_path / "o.zarr", output_index=5,
                   progress=False)


def test_pre_hook_on_a_module_called_with_keywords(tmp_path):
    class KW(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.lin = nn.Linear(3, 2)

        def forward(self, x):
            return self.lin(input=x * 2)

    X = torch.randn(5, 3)
    s = rs.capture(KW(), X, "lin", tmp_path / "k.zarr", point="pre", progress=False)
    np.testing.assert_allclose(s.read("lin"), (X * 2).numpy(), rtol=1e-6)
