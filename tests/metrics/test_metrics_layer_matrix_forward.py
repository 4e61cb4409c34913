"""``layer_matrix`` is a thin call of ``layer_matrices``: the same result for every option, one declaration of
the shared keywords (its visible signature is derived from ``layer_matrices``')."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest

import repscope.metrics as M
from repscope.errors import InputError
from repscope.metrics._layer_matrix import _SHARED_KEYWORDS


def _layers(n=40, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, 4))
    return {f"l{i}": base @ rng.standard_normal((4, d)) + 0.5 * i * rng.standard_normal((n, d))
            for i, d in enumerate([3, 6, 5])}


def _fields(r):
    """Every field of a result but its timing, arrays as arrays."""
    out = {f.name: getattr(r, f.name) for f in dataclasses.fields(r) if f.name != "seconds"}
    return out


def _assert_same(a, b):
    assert type(a) is type(b)
    fa, fb = _fields(a), _fields(b)
    assert fa.keys() == fb.keys()
    for k in fa:
        if isinstance(fa[k], dict):
            assert fa[k].keys() == fb[k].keys(), k
            for kk in fa[k]:
                np.testing.assert_array_equal(fa[k][kk], fb[k][kk], err_msg=f"{k}[{kk}]")
        else:
            np.testing.assert_array_equal(np.asarray(fa[k], dtype=object) if fa[k] is None else fa[k], fb[k],
                                          err_msg=k)


CASES = [
    ("linear_cka", {}, {}),
    ("linear_cka", {"formulation": "covariance", "block_rows": 7}, {}),
    ("procrustes", {"formulation": "gram"}, {}),
    ("linear_cka", {"precision": "float32"}, {}),
    ("shape_metric", {}, {"alpha": 0.5}),
    ("rbf_cka", {"scheduler": "serial", "n_workers": 1}, {"sigma": 0.8}),
    ("linear_cka", {"n_boot": 20, "ci": 0.9, "seed": 3, "boot_memory": 1 << 16}, {}),
    ("rbf_cka", {"n_boot": 20, "n_perm": 3, "seed": 1}, {}),
    ("procrustes", {"n_boot": 20, "formulation": "gram", "seed": 4}, {}),
    ("procrustes", {"n_perm": 4, "seed": 2, "layers": ["l0", "l2"], "two_sources": True}, {}),
    ("rsa", {"layers": "l1,l2", "progress": False}, {"compare": "kendall_tau_a"}),
]


@pytest.mark.parametrize("metric,opts,measure_kw", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_layer_matrix_is_layer_matrices_entry(metric, opts, measure_kw):
    L = _layers()
    opts = dict(opts)
    other = _layers(seed=1) if opts.pop("two_sources", False) else None
    layers = opts.pop("layers", None)
    one = M.layer_matrix(L, other, metric=metric, layers=layers, **opts, **measure_kw)
    (many,) = M.layer_matrices(L, other, metrics=[metric], layers=layers, options={metric: measure_kw}, **opts)
    _assert_same(one, many)
    assert one.params == measure_kw
    # the same measure among others: the same point values (one shared streamed pass)
    if not (opts.get("n_boot") or opts.get("n_perm")) and opts.get("precision") != "float32":
        extra = "cca" if metric != "cca" else "linear_cka"
        both = M.layer_matrices(L, other, metrics=[metric, extra], layers=layers, options={metric: measure_kw},
                                **opts)
        np.testing.assert_allclose(both[0].values, one.values, rtol=0, atol=1e-12)


def test_layer_matrix_declares_no_shared_keyword_and_shows_them_all():
    code = M.layer_matrix.__code__
    assert code.co_varnames[: code.co_argcount] == ("source_a", "source_b", "metric", "layers")
    assert code.co_kwonlyargcount == 0  # nothing re-declared: the keywords are layer_matrices'
    shown = inspect.signature(M.layer_matrix).parameters
    full = inspect.signature(M.layer_matrices).parameters
    assert list(shown) == ["source_a", "source_b", "metric", "layers", *_SHARED_KEYWORDS, "kw"]
    assert set(_SHARED_KEYWORDS) == set(full) - {"source_a", "source_b", "metrics", "layers", "options"}
    for name in _SHARED_KEYWORDS:
        assert shown[name] == full[name]
    assert shown["metric"].default == "linear_cka" and shown["kw"].kind is inspect.Parameter.VAR_KEYWORD
    for name in _SHARED_KEYWORDS:  # the docstring documents every keyword it takes
        assert name in M.layer_matrix.__doc__


def test_layer_matrix_passes_other_keywords_to_the_measure():
    L = _layers()
    with pytest.raises(InputError, match="not_a_keyword"):  # a misspelt keyword reaches the measure, which names it
        M.layer_matrix(L, metric="linear_cka", not_a_keyword=1)
    a = M.layer_matrix(L, metric="rbf_cka", sigma=0.5).values
    b = M.layer_matrix(L, metric="rbf_cka", sigma=2.0).values
    assert not np.allclose(a, b)
