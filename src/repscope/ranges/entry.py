"""The ranges lens on any store: sensible default units, any direction.

``analyse(store)`` → :class:`RangesAnalysis`. Defaults:

- a classifier store (labels + an output layer, i.e. the last layer whose width equals the number of
  classes): the output unit of the class with the most samples in its mid band (normalised-logit bands),
  plus the class-mean direction of that class in the layer before the output layer;
- a store with labels but no output layer: the class-mean direction of the most frequent class in the last
  layer (percentile bands);
- ``unit="LAYER:INDEX"`` or ``direction=`` — ``"LAYER:class-mean:A"``, ``"LAYER:probe:A"``,
  ``"LAYER:file:PATH.npy"`` or an array (then ``layers=[LAYER]`` names the layer, default the last).

When a class's normalised logit is undefined (no sample, or every sample, predicted as that class — e.g.
an untrained model), that unit falls back to percentile bands and the notes say so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError, RepscopeError
from repscope.lenses import protocol as lens
from repscope.ranges._associations import derived_from_labels
from repscope.ranges._bands import bands, logit_bands, unit_scores
from repscope.ranges.analysis import DEFAULTS, RangeAnalysis, analyse_bands, analyse_store, read_layer

__all__ = ["RangesAnalysis", "analyse", "applies", "default_units"]


@dataclass
class RangesAnalysis(lens.LensAnalysis):
    """Bands, histograms, associations and confounder findings per analysed unit (``analyses``).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import RangesAnalysis, analyse_bands, bands
    >>> ra = analyse_bands(bands(np.arange(60.0)), {"parity": np.arange(60) % 2}, n_permutations=19)
    >>> res = RangesAnalysis(results=ra.results(), analyses=[ra], layers=["fc"])
    >>> res.lens, len(res.analyses)
    ('ranges', 1)
    """

    lens = "ranges"
    analyses: list[RangeAnalysis] = field(default_factory=list, repr=False)


#: How to name a unit or a direction, in the CLI (``repscope report`` and ``repscope ranges analyse``) and the API.
UNIT_HINT = ("give one: repscope report --unit LAYER:INDEX (or --direction LAYER:file:PATH.npy; API: "
             "options={'ranges': {'unit': 'LAYER:INDEX'}}, or ranges.analyse(store, unit='LAYER:INDEX'))")


class _TestSettings(TypedDict):
    """The permutation-test settings every analysis of one :func:`analyse` call shares."""

    n_permutations: int
    correction: str
    seed: int


def applies(store: Any, *, unit: str | None = None, direction: Any = None, **_: Any) -> str | None:
    """None when bands can be described by the store's labels or attributes and there is a unit to band (the
    default units need labels; ``unit=``/``direction=`` name one), else why not.

    Examples
    --------
    >>> from repscope.experiments.datasets.toy import toy_store
    >>> store, tmp = toy_store()              # 60 samples, 3 classes: fc1 (Linear), relu, fc2 (Linear)
    >>> from repscope.ranges import applies
    >>> applies(store) is None                   # labels describe the bands; 60 ≥ 10 samples
    True
    >>> tmp.cleanup()
    """
    no_labels = getattr(store, "labels", None) is None
    if no_labels and not (getattr(store, "attributes", None) or {}):
        return ("the store has no labels or attributes, so nothing can describe what each activation band "
                "holds — capture with --labels FILE or --attributes FILE (API: capture(..., labels=, attributes=))")
    if not lens.layers_of_kind(store, "vector", "map", "sequence"):
        return "the store holds no layers"
    if int(store.n_samples) < 10:
        return (f"the store holds {store.n_samples} samples; activation bands need at least 10 — capture more "
                f"inputs (a longer --data)")
    if no_labels and unit is None and direction is None:
        return ("the store has no labels, so there is no default unit to band (an output unit and a class-mean "
                "direction both need labels) — " + UNIT_HINT + "; or capture with --labels FILE")
    return None


def _attrs(store: Any) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if getattr(store, "labels", None) is not None:
        out["label"] = np.asarray(store.labels)
    for k, v in (getattr(store, "attributes", None) or {}).items():
        out[k] = np.asarray(v)  # continuous ones are cut into quantile bins by band_associations
    return out


def _mid_count(Z: np.ndarray, c: int) -> int:
    try:
        return int(logit_bands(Z, c).mask("mid").sum())
    except RepscopeError:
        return -1


def default_units(store: Any, layers: Any = None, target: int | None = None) -> tuple[list[str], list[str]]:
    """The units the report bands when none is given: ``(specs, notes)`` with specs in the forms
    ``repscope ranges analyse`` takes (``"LAYER:INDEX"`` for ``--unit``, ``"LAYER:class-mean:C"`` for
    ``--direction``); see the module docstring."""
    y = np.asarray(store.labels) if getattr(store, "labels", None) is not None else None
    if y is None:
        raise InputError("no labels, so no default unit: " + UNIT_HINT)
    chosen = lens.select(store, layers, what="ranges")
    notes: list[str] = []
    specs: list[str] = []
    out = lens.output_layer(store)
    out_layer = out if (layers is None or out in chosen) else None
    if out_layer is not None:
        Z = read_layer(store, out_layer)
        if target is not None:
            c = int(target)
        else:
            mids = [_mid_count(Z, k) for k in range(Z.shape[1])]
            # a class whose normalised logit is defined; else the class the model predicts most
            most = int(np.bincount(Z.argmax(1), minlength=Z.shape[1]).argmax())
            c = int(np.argmax(mids)) if max(mids) >= 0 else most
        specs.append(f"{out_layer}:{c}")
        before = [la for la in chosen if la != out_layer and lens.layer_kind(store, la) != "map"]
        prev = before[-1] if before else None
    else:
        vals, counts = np.unique(y, return_counts=True)
        c = int(target) if target is not None else int(vals[np.argmax(counts)])
        cand = [la for la in chosen if lens.layer_kind(store, la) != "map"] or chosen
        prev = cand[-1]
        notes.append("no output layer (no layer is as wide as the number of classes): a class-mean direction "
                     "instead of an output unit")
    if prev is not None and np.unique(y).size >= 2 and (y == c).sum() >= 1:
        specs.append(f"{prev}:class-mean:{c}")
    return specs, notes


def analyse(
    store: Any,
    *,
    layers: Any = None,
    seed: int = 0,
    scheduler: Any = None,
    n_workers: int | None = None,
    device: Any = None,
    progress: bool = True,
    unit: str | None = None,
    direction: ArrayLike | None = None,
    target: int | None = None,
    n_permutations: int = DEFAULTS.n_permutations,
    correction: str = DEFAULTS.correction,
) -> RangesAnalysis:
    """Range analyses of the default units (module docstring, :func:`default_units`) or of
    ``unit``/``direction`` — each one exactly what ``repscope ranges analyse STORE --unit …`` /
    ``--direction …`` computes (:func:`repscope.ranges.analysis.analyse_store`, same defaults).

    ``target`` picks the class for the default units (default: the class with the most samples in its
    output unit's mid band; without an output layer, the most frequent label). ``scheduler``,
    ``n_workers`` and ``device`` are accepted for the common lens signature (the work is small and serial).

    Examples
    --------
    >>> from repscope.experiments.datasets.toy import toy_store
    >>> store, tmp = toy_store()              # 60 samples, 3 classes: fc1 (Linear), relu, fc2 (Linear)
    >>> from repscope.ranges import analyse
    >>> res = analyse(store, unit="fc2:0", n_permutations=49)
    >>> [a.bands.unit for a in res.analyses]
    ['fc2:0']
    >>> tmp.cleanup()
    """
    t0 = time.perf_counter()
    reason = applies(store, unit=unit, direction=direction)
    if reason:
        raise InputError(reason)
    if unit is not None and direction is not None:
        raise InputError("give at most one of unit= and direction=")
    attrs = _attrs(store)
    kw: _TestSettings = {"n_permutations": n_permutations, "correction": correction, "seed": seed}
    notes: list[str] = []
    analyses: list[RangeAnalysis] = []
    if unit is not None:
        analyses.append(analyse_store(store, unit=unit, **kw))
    elif isinstance(direction, str):
        analyses.append(analyse_store(store, direction=direction, **kw))
    elif direction is not None:  # an array (API only): a direction in the last chosen layer
        layer = lens.select(store, layers, what="ranges")[-1]
        X = read_layer(store, layer)
        w = np.asarray(direction, dtype=np.float64).ravel()
        if w.size != X.shape[1]:
            raise InputError(f"the direction has {w.size} entries but layer {layer!r} has {X.shape[1]} units; "
                             f"give a vector of the layer's width")
        analyses.append(_array_direction(store, layer, X, w, attrs, kw))
    else:
        specs, notes = default_units(store, layers, target)
        for spec in specs:
            if ":class-mean:" in spec:
                analyses.append(analyse_store(store, direction=spec, **kw))
            else:
                analyses.append(analyse_store(store, unit=spec, **kw))
    results: list[Any] = []
    for a in analyses:
        results += [a.bands, *a.results()]
        notes += [n for n in a.notes if n not in notes]
    read = {a.bands.unit.split(":")[0] for a in analyses}
    seq_read = [la for la in store.layers if la in read and lens.layer_kind(store, la) == "sequence"]
    if note := lens.sequence_note(store, seq_read):  # None when no layer read is a sequence
        notes.append(note)
    out = RangesAnalysis(results=results, notes=notes, layers=sorted(read),
                         params={"n_permutations": n_permutations, "correction": correction, "seed": seed},
                         analyses=analyses)
    out.reading = _reading(analyses, attrs)
    out.seconds = time.perf_counter() - t0
    return out


def _array_direction(store: Any, layer: str, X: np.ndarray, w: np.ndarray, attrs: dict[str, np.ndarray],
                     kw: _TestSettings) -> RangeAnalysis:
    """A given direction vector: percentile bands, every attribute tested (it is no readout of the labels)
    except those the labels determine or that determine them (with notes)."""
    b = bands(unit_scores(X, direction=w), kind="percentile", sample_ids=getattr(store, "sample_ids", None),
              unit=f"{layer}: given direction")
    y = getattr(store, "labels", None)
    derived = {} if y is None else derived_from_labels(y, attrs)
    a = analyse_bands(b, attrs, exclude_from_confounders=tuple(derived), **kw)
    a.notes = list(derived.values())
    return a


def _composition(mask: np.ndarray, v: np.ndarray, k: int = 3) -> str:
    vals, counts = np.unique(v[mask], return_counts=True)
    order = np.argsort(-counts)[:k]
    tot = max(int(mask.sum()), 1)
    return ", ".join(f"{vals[i]} {100 * counts[i] / tot:.0f}%" for i in order)


def _named_labels(attrs: dict[str, np.ndarray]) -> tuple[str, np.ndarray]:
    """The labels, or a text attribute naming them one to one (e.g. ``topic`` beside topic ids)."""
    if "label" not in attrs:
        key = next(iter(attrs))
        return key, attrs[key]
    y = attrs["label"]
    for k, v in attrs.items():
        if k != "label" and v.dtype.kind in "USOT" and len(set(zip(y.tolist(), v.tolist()))) == np.unique(y).size \
                == np.unique(v).size:
            return k, v
    return "label", y


def _reading(analyses: list[RangeAnalysis], attrs: dict[str, np.ndarray]) -> str:
    key, v = _named_labels(attrs)
    parts = []
    for a in analyses:
        b = a.bands
        names = list(b.names)
        tops = [nm for nm in ("top", "high") if nm in names]
        text = f"{b.unit}: "
        if "mid" in names:
            m = b.mask("mid")
            text += f"the mid band ({int(m.sum())} samples) holds {key} {_composition(m, v)}"
        if tops:
            t = b.mask(tops[0])
            text += f"; the {tops[0]} band ({int(t.sum())}) holds {_composition(t, v)}"
        if a.confounders is not None and a.confounders.flagged:
            flagged = ", ".join(str(f.get("attribute", f)) for f in a.confounders.flagged)
            text += f"; flagged as mid-band associations: {flagged}"
        parts.append(text + ".")
    return " ".join(parts)
