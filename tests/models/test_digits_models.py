"""Embedded digits models: accuracy, determinism, cache integrity (corrupt cache → re-train)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repscope.errors import InputError
from repscope.experiments.models import digits


def test_models_learn_and_are_deterministic(monkeypatch, tmp_path):
    monkeypatch.setenv("REPSCOPE_CACHE", str(tmp_path))
    m1, X, y = digits.load_model("mlp", seed=3)
    m2, _, _ = digits.load_model("mlp", seed=3, cache=False)
    assert digits.accuracy(m1, X, y) > 0.97
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert X.shape == (1797, 1, 8, 8) and X.dtype == np.float32


def test_corrupt_cache_is_retrained(monkeypatch, tmp_path):
    monkeypatch.setenv("REPSCOPE_CACHE", str(tmp_path))
    ref, X, y = digits.load_model("mlp", seed=1)
    files = list(tmp_path.glob("*.pt"))
    assert len(files) == 1
    files[0].write_bytes(b"garbage")
    again, _, _ = digits.load_model("mlp", seed=1)
    for a, b in zip(ref.state_dict().values(), again.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert files[0].read_bytes() != b"garbage"


def test_unknown_kind():
    with pytest.raises(InputError, match="choose 'cnn' or 'mlp'"):
        digits.make_model("resnet")
