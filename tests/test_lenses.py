"""The lens registry (repscope.lenses) is what the report runs and the CLI lists: the report's sections are
the registry's lenses, in its order, with its titles — a lens added there is a section, with nothing else to
edit."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import repscope.lenses as lenses
from repscope.commands.core import SECTIONS
from repscope.errors import InputError
from repscope.lenses import Lens
from repscope.lenses.protocol import LensAnalysis
from repscope.report import job


def test_the_report_and_the_cli_list_the_registry_lenses():
    assert job.SECTION_KEYS == ["capture", *lenses.keys()] == list(SECTIONS)
    assert lenses.keys() == ["similarity", "ranges", "topology", "dynamics", "descrambling"]
    assert lenses.get("topology").measures == "repscope.topology.measures"
    with pytest.raises(InputError, match="choose from similarity, ranges"):
        lenses.get("colour")


class _Analysis(LensAnalysis):
    lens = "fake"


def _fake_entry(name: str, why_not: str | None) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.calls = []

    def applies(store):
        return why_not

    def analyse(store, *, layers=None, seed=0, scheduler=None, n_workers=None, device=None, progress=True, **kw):
        mod.calls.append(seed)
        return _Analysis(reading=f"{name} read {store.n_samples} samples", layers=list(store.layers))

    mod.applies, mod.analyse = applies, analyse
    return mod


def test_the_report_sections_are_the_registry_lenses(monkeypatch):
    """With a registry of two made-up lenses, the report's sections are exactly those, in the registry's
    order (not the order given), titled and introduced by the registry; one that does not apply is skipped
    with its reason."""
    a, b = _fake_entry("fake_a_entry", None), _fake_entry("fake_b_entry", "no time axis in (32,)")
    monkeypatch.setitem(sys.modules, a.__name__, a)
    monkeypatch.setitem(sys.modules, b.__name__, b)
    registry = (Lens("beta", "fake", "Second lens", "what b shows", order=1, entry=b.__name__),
                Lens("alpha", "fake", "First lens", "what a shows", order=2, entry=a.__name__))
    monkeypatch.setattr(lenses, "LENSES", registry)
    monkeypatch.setattr(job, "SECTION_KEYS", ["capture", *lenses.keys()])
    store = types.SimpleNamespace(path="s.zarr", n_samples=7, layers=["fc1", "fc2"], labels=np.zeros(7))
    sections, timings = job.analyse_store(store, sections=["alpha", "beta"], seed=3)
    assert [s.key for s in sections] == ["beta", "alpha"] == list(timings)
    assert [(s.title, s.intro) for s in sections] == [("Second lens", "what b shows"), ("First lens", "what a shows")]
    assert sections[0].status == "skipped" and sections[0].reason == "no time axis in (32,)" and not b.calls
    assert sections[1].status == "ok" and a.calls == [3]
    assert "fake_a_entry read 7 samples" in sections[1].results[0].summary()
    with pytest.raises(InputError, match="capture, beta, alpha"):
        job.analyse_store(store, sections=["similarity"])


def test_vector_view_reads_sequence_layers_as_real_step_means(tmp_path):
    """VectorView (what the similarity lens and layer_matrix read): a sequence layer's row = the mean of its first
    n_tokens steps, whether read whole, by rows (in the given order) or streamed by iter_rows; vector layers and
    sample ids pass through; as_vectors leaves mappings alone and refuses an unknown tokens= mode."""
    import torch

    import repscope as rs
    from repscope.lenses.protocol import VectorView, as_vectors

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.GRU(3, 4, batch_first=True))
    X = torch.randn(9, 5, 3)
    lengths = np.array([5, 1, 3, 2, 5, 4, 1, 2, 3])
    s = rs.capture(model, X, ["0"], tmp_path / "s.zarr", progress=False, attributes={"n_tokens": lengths},
                   output_index=0, chunk_rows=4)
    raw = s.read("0").reshape(9, 5, 4).astype(np.float64)
    want = np.stack([raw[i, :k].mean(0) for i, k in enumerate(lengths)])
    v = VectorView(s)
    assert v.layer_shape("0") == (4,) and v.sequences == ["0"] and "first n_tokens" in v.note
    np.testing.assert_allclose(v.read("0"), want, rtol=1e-6)
    np.testing.assert_allclose(np.concatenate([b for _, b in v.iter_rows("0", 4)]), want, rtol=1e-6)
    rows = np.array([7, 2, 5])
    sub = VectorView(s, rows)
    assert sub.n_samples == 3 and not hasattr(sub, "iter_rows")
    np.testing.assert_array_equal(sub.sample_ids, np.asarray(s.sample_ids)[rows])
    np.testing.assert_allclose(sub.read("0"), want[rows], rtol=1e-6)
    np.testing.assert_allclose(sub.read("0", np.array([2, 0])), want[[5, 7]], rtol=1e-6)
    arrays = {"a": want}
    assert as_vectors(arrays) == (arrays, None) and as_vectors(v)[0] is v
    with pytest.raises(InputError, match="tokens='bag'.*'mean'.*'flatten'"):
        as_vectors(s, "bag")
