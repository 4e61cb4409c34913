"""The lenses, in one explicit registry: what the report runs (one section each, in this order), what the
CLI lists, and what ``tests/test_architecture.py`` checks.

A lens is a package with an ``entry`` module defining ``applies(store) -> str | None`` (``None`` = it
applies, else why not) and ``analyse(store, *, layers=None, seed=0, scheduler=None, n_workers=None,
device=None, progress=True, **options)`` returning a :class:`~repscope.lenses.protocol.LensAnalysis`
(:mod:`repscope.lenses.protocol`: the analysis objects and what a store's layers are).

This module is data: it names each lens's modules and imports one only when it is used (:meth:`Lens.entry`),
so ``import repscope.lenses`` stays light (the CLI's ``--help`` reads it) and sits at the bottom layer while
naming the lenses above it. The architecture test reads :data:`LENSES` and checks every name it holds.
A lens's similarity measures (e.g. topology's ``ph_bottleneck``) are registered by its ``measures`` module,
which :mod:`repscope.metrics.registry` loads from here on first use.

To add a lens: its package at layer 4 (see ``docs/architecture.md``), one :class:`Lens` below, a command in
``repscope/commands``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from repscope.errors import InputError

__all__ = ["Lens", "LENSES", "get", "keys"]


@dataclass(frozen=True)
class Lens:
    """One lens: ``key`` (report section and ``--sections`` name), its package, title, one-line intro,
    ``order`` in the report, the ``entry`` module (``analyse``/``applies``) and, optionally, the ``measures``
    module that registers its measures in :mod:`repscope.metrics.registry`."""

    key: str
    package: str
    title: str
    intro: str
    order: int
    entry: str
    measures: str | None = None

    def module(self) -> ModuleType:
        """The entry module, imported on first use."""
        return importlib.import_module(self.entry)

    @property
    def analyse(self) -> Any:
        return self.module().analyse

    @property
    def applies(self) -> Any:
        return self.module().applies


LENSES: tuple[Lens, ...] = tuple(sorted([
    Lens("similarity", "metrics", "Representational similarity",
         "How alike are the layers' representations? One layer × layer matrix per measure, and how well each "
         "layer's geometry follows the labels.",
         order=1, entry="repscope.metrics.entry"),
    Lens("ranges", "ranges", "Activation ranges",
         "Beyond maximal activations: which samples fall in the low, mid and high bands of a unit or "
         "direction, and what each band holds.",
         order=2, entry="repscope.ranges.entry"),
    Lens("topology", "topology", "Topology",
         "Layers as point clouds: persistence diagrams per layer, distances between them, and mapper graphs "
         "coloured by label.",
         order=3, entry="repscope.topology.entry", measures="repscope.topology.measures"),
    Lens("dynamics", "dynamics", "Dynamics",
         "Sequence layers as trajectories: Dynamical Similarity Analysis beside Procrustes and CKA.",
         order=4, entry="repscope.dynamics.entry"),
    Lens("descrambling", "descramble", "Descrambling",
         "Principal components of the preactivations as the optimal descramblers of each layer.",
         order=5, entry="repscope.descramble.entry"),
], key=lambda lens: lens.order))


def keys() -> list[str]:
    """The lenses' keys, in report order."""
    return [lens.key for lens in LENSES]


def get(key: str) -> Lens:
    """The lens registered under ``key``; an unknown key raises :class:`InputError` listing the known ones."""
    for lens in LENSES:
        if lens.key == key:
            return lens
    raise InputError(f"unknown lens {key!r}; choose from {', '.join(keys())}")
