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
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError, RepscopeError
from repscope.metrics import lens
from repscope.ranges.analysis import RangeAnalysis, analyse_bands, direction_from_spec
from repscope.ranges.bands import bands, class_mean_direction, logit_bands, unit_scores

__all__ = ["RangesAnalysis", "analyse", "applies"]


@dataclass
class RangesAnalysis(lens.LensAnalysis):
    """Bands, histograms, associations and confounder findings per analysed unit (``analyses``)."""

    lens = "ranges"
    analyses: list[RangeAnalysis] = field(default_factory=list, repr=False)


def applies(store: Any) -> str | None:
    """None when bands can be described by the store's labels or attributes, else why not."""
    if getattr(store, "labels", None) is None and not (getattr(store, "attributes", None) or {}):
        return ("the store has no labels or attributes, so nothing can describe what each activation band "
                "holds — capture with labels= or attributes=")
    if not lens.layers_of_kind(store, "vector", "map", "sequence"):
        return "the store holds no layers"
    if int(store.n_samples) < 10:
        return f"the store holds {store.n_samples} samples; activation bands need at least 10"
    return None


def _attrs(store: Any) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if getattr(store, "labels", None) is not None:
        out["label"] = np.asarray(store.labels)
    for k, v in (getattr(store, "attributes", None) or {}).items():
        out[k] = np.asarray(v)  # continuous ones are cut into quantile bins by band_associations
    return out


def _read(store: Any, layer: str) -> np.ndarray:
    if lens.layer_kind(store, layer) == "sequence":
        return lens.sequence_mean(store, layer)
    return np.asarray(store.read(layer), dtype=np.float64)


def _mid_count(Z: np.ndarray, c: int) -> int:
    try:
        return int(logit_bands(Z, c).mask("mid").sum())
    except RepscopeError:
        return -1


def _unit_bands(Z: np.ndarray, c: int, layer: str, ids: ArrayLike, notes: list[str]):
    pred = Z.argmax(axis=1)
    k = int((pred == c).sum())
    if 0 < k < Z.shape[0]:
        try:
            return logit_bands(Z, c, sample_ids=ids, unit_name=f"{layer}:{c}")
        except RepscopeError as exc:
            notes.append(f"{layer}:{c}: normalised-logit bands undefined ({exc}); percentile bands instead")
    else:
        notes.append(f"{layer}:{c}: normalised-logit bands undefined ({k} of {Z.shape[0]} samples are predicted "
                     f"as {c}); percentile bands instead")
    return bands(Z[:, c], kind="percentile", sample_ids=ids, unit=f"{layer}:{c}")


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
    direction: ArrayLike = None,
    target: int | None = None,
    n_permutations: int = 999,
) -> RangesAnalysis:
    """Range analyses of the default units (module docstring) or of ``unit``/``direction``.

    ``target`` picks the class for the default units (default: the class with the most samples in its
    output unit's mid band; without an output layer, the most frequent label). ``scheduler``,
    ``n_workers`` and ``device`` are accepted for the common lens signature (the work is small and serial).
    """
    t0 = time.perf_counter()
    reason = applies(store)
    if reason:
        raise InputError(reason)
    if unit is not None and direction is not None:
        raise InputError("give at most one of unit= and direction=")
    attrs = _attrs(store)
    y = np.asarray(store.labels) if getattr(store, "labels", None) is not None else None
    ids = getattr(store, "sample_ids", None)
    notes: list[str] = []
    jobs: list[tuple[Any, Any]] = []  # (Bands, reference mask or None)
    chosen = lens.select(store, layers, what="ranges")

    if unit is not None:
        from repscope.ranges.bands import parse_unit

        layer, idx = parse_unit(unit)
        lens.select(store, [layer])
        Z = _read(store, layer)
        if not 0 <= idx < Z.shape[1]:
            raise InputError(f"unit {unit!r}: layer {layer!r} has {Z.shape[1]} units (0…{Z.shape[1] - 1})")
        b = (_unit_bands(Z, idx, layer, ids, notes) if layer == lens.output_layer(store)
             else bands(Z[:, idx], kind="percentile", sample_ids=ids, unit=unit))
        jobs.append((b, None))
    elif direction is not None:
        if isinstance(direction, str):
            layer, _, rest = direction.partition(":")
            lens.select(store, [layer])
            X = _read(store, layer)
            w, name = direction_from_spec(rest, X, y, seed=seed)
        else:
            layer = chosen[-1]
            X = _read(store, layer)
            w, name = np.asarray(direction, dtype=np.float64).ravel(), "given direction"
        if w.size != X.shape[1]:
            raise InputError(f"the direction has {w.size} entries but layer {layer!r} has {X.shape[1]} units; "
                             f"give a vector of the layer's width")
        jobs.append((bands(unit_scores(X, direction=w), kind="percentile", sample_ids=ids,
                           unit=f"{layer}: {name}"), None))
    else:
        out_layer = lens.output_layer(store) if layers is None else next(
            (la for la in reversed(chosen) if la == lens.output_layer(store)), None)
        if out_layer is not None:
            Z = _read(store, out_layer)
            if target is not None:
                c = int(target)
            else:
                mids = [_mid_count(Z, k) for k in range(Z.shape[1])]
                # a class whose normalised logit is defined; else the class the model predicts most
                most = int(np.bincount(Z.argmax(1), minlength=Z.shape[1]).argmax())
                c = int(np.argmax(mids)) if max(mids) >= 0 else most
            jobs.append((_unit_bands(Z, c, out_layer, ids, notes), None))
            before = [la for la in chosen if la != out_layer and lens.layer_kind(store, la) != "map"]
            prev = before[-1] if before else None
        else:
            if y is None:
                raise InputError("no output layer and no labels: give unit='LAYER:INDEX' or direction=")
            vals, counts = np.unique(y, return_counts=True)
            c = int(target) if target is not None else int(vals[np.argmax(counts)])
            cand = [la for la in chosen if lens.layer_kind(store, la) != "map"] or chosen
            prev = cand[-1]
            notes.append("no output layer (no layer is as wide as the number of classes): a class-mean direction "
                         "instead of an output unit")
        if prev is not None and y is not None:
            X = _read(store, prev)
            if np.unique(y).size >= 2 and (y == c).sum() >= 1:
                w = class_mean_direction(X, y, c)
                b = bands(unit_scores(X, direction=w), kind="percentile", sample_ids=ids,
                          unit=f"{prev}: mean({c}) − mean(rest)")
                jobs.append((b, None))
    analyses: list[RangeAnalysis] = []
    results: list[Any] = []
    for b, ref in jobs:
        a = analyse_bands(b, attrs, reference=ref, n_permutations=n_permutations, seed=seed,
                          exclude_from_confounders=("predicted",))
        analyses.append(a)
        results += [b, *a.results()]
    read = {b.unit.split(":")[0] for b, _ in jobs}
    seq_read = [la for la in store.layers if la in read and lens.layer_kind(store, la) == "sequence"]
    if seq_read:
        notes.append(lens.sequence_note(store, seq_read))
    out = RangesAnalysis(results=results, notes=notes, layers=sorted(read),
                         params={"n_permutations": n_permutations, "seed": seed}, analyses=analyses)
    out.reading = _reading(analyses, attrs)
    out.seconds = time.perf_counter() - t0
    return out


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
