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
