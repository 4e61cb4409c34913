"""One-call range analysis of a unit: bands → histogram by attribute → associations → confounders
(→ image grid), on arrays or on an activation store (duck-typed: ``.read(layer)``, ``.labels``,
``.attributes``, ``.sample_ids``, ``.layers``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError, RepscopeError
from repscope.lenses import protocol as lens
from repscope.ranges._associations import (
    BandAssociations,
    ConfounderFindings,
    band_associations,
    derived_from_labels,
    find_confounders,
)
from repscope.ranges._bands import (
    Bands,
    bands,
    class_mean_direction,
    logit_bands,
    parse_unit,
    probe_direction,
    unit_scores,
)
from repscope.ranges.views import BandHistogram, BandImageGrid, band_histogram, band_image_grid
from repscope.results import register

__all__ = ["DEFAULTS", "RangesDefaults", "RangeAnalysis", "analyse_bands", "analyse_store", "direction_from_spec"]


@dataclass(frozen=True)
class RangesDefaults:
    """The ranges lens's defaults, used by ``repscope ranges analyse``, ``ranges.analyse`` and the report.

    ``n_permutations`` per p-value, multiple-testing ``correction``; which attributes are not confounders is
    decided from the data for every unit (see :func:`analyse_store`), not listed here."""

    n_permutations: int = 999
    correction: str = "bh"


DEFAULTS = RangesDefaults()


@register
@dataclass
class RangeAnalysis:
    """Everything computed for one unit; ``results()`` lists the report-ready result objects.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import analyse_bands, bands
    >>> ra = analyse_bands(bands(np.arange(60.0)), {"parity": np.arange(60) % 2}, n_permutations=19)
    >>> [type(r).__name__ for r in ra.results()][:2]
    ['BandHistogram', 'BandAssociations']
    """

    bands: Bands
    histograms: list[BandHistogram]
    associations: BandAssociations
    confounders: ConfounderFindings | None
    grid: BandImageGrid | None = None
    notes: list[str] = field(default_factory=list)

    def results(self) -> list[Any]:
        out: list[Any] = [*self.histograms, self.associations]
        if self.confounders is not None:
            out.append(self.confounders)
        if self.grid is not None:
            out.append(self.grid)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "bands": self.bands.to_dict(),
            "associations": self.associations.to_dict(),
            "confounders": None if self.confounders is None else self.confounders.to_dict(),
            "grid": None if self.grid is None else self.grid.to_dict(),
            "notes": self.notes,
        }


def analyse_bands(
    b: Bands,
    attributes: dict[str, Any],
    *,
    reference: ArrayLike | None = None,
    reference_name: str | None = None,
    images: ArrayLike | None = None,
    colour_by: list[str] | None = None,
    n_permutations: int = 999,
    correction: str = "bh",
    top: str = "top",
    mid: str = "mid",
    exclude_from_confounders: Any = (),
    derived_from_target: Any = (),
    n_per_band: int = 8,
    captions: Any = None,
    seed: int = 0,
) -> RangeAnalysis:
    """Histogram(s), associations, confounder findings (when ``top`` and ``mid`` bands exist) and an image
    grid (when ``images`` are given) for one set of bands. ``derived_from_target``: attributes computed from
    the unit's own target (a logit's ``label``/``predicted``), marked in the tables and never flagged as
    confounders.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import analyse_bands, bands
    >>> rng = np.random.default_rng(0)
    >>> b = bands(rng.normal(size=200))
    >>> ra = analyse_bands(b, {"colour": rng.integers(0, 2, 200)}, n_permutations=49)
    >>> ra.bands is b, len(ra.histograms), ra.confounders is not None
    (True, 1, True)
    """
    colour_by = list(attributes)[:2] if colour_by is None else colour_by
    hists = [band_histogram(b, a, attributes[a]) for a in colour_by if a in attributes]
    assoc = band_associations(
        b,
        attributes,
        reference=reference,
        reference_name=reference_name,
        n_permutations=n_permutations,
        correction=correction,
        seed=seed,
    )
    assoc.extra["derived_from_target"] = [a for a in derived_from_target if a in attributes]
    conf = None
    if top in b.names and mid in b.names:
        conf = find_confounders(assoc, top=top, mid=mid, exclude=exclude_from_confounders)
    grid = None
    if images is not None:
        grid = band_image_grid(
            b, images, n_per_band=n_per_band, seed=seed, within=reference, captions=captions
        )
    return RangeAnalysis(b, hists, assoc, conf, grid)


def direction_from_spec(spec: str, X: np.ndarray, labels: ArrayLike | None, *, seed: int = 0) -> tuple[np.ndarray, str]:
    """Build a direction from ``KIND:ARGS`` (the part after ``LAYER:``):

    - ``class-mean:A`` — mean of class A minus mean of the rest; ``class-mean:A-B`` — A minus B;
    - ``probe:A`` — logistic-regression probe weight for class A vs rest;
    - ``file:PATH.npy`` — a saved vector.
    """
    kind, _, arg = spec.partition(":")
    if kind == "file":
        try:
            w = np.load(arg)
        except Exception as exc:
            raise InputError(f"could not read direction file {arg!r} ({exc}); save it with np.save") from exc
        return np.asarray(w, dtype=np.float64).ravel(), f"direction from {arg}"
    if kind in ("class-mean", "probe"):
        if labels is None:
            raise InputError(f"direction {kind!r} needs labels in the store; use file:PATH.npy instead")
        y = np.asarray(labels)
        try:
            parts = [int(x) for x in arg.split("-")] if arg else []
        except ValueError:
            raise InputError(f"direction {spec!r}: class ids must be integers, e.g. class-mean:3-5") from None
        if len(parts) not in (1, 2) or (kind == "probe" and len(parts) != 1):
            raise InputError(f"direction {spec!r}: write class-mean:A, class-mean:A-B or probe:A")
        if kind == "probe":
            return probe_direction(X, y, parts[0], seed=seed), f"probe({parts[0]} vs rest)"
        neg = None if len(parts) == 1 else parts[1]
        name = f"mean({parts[0]}) − mean({'rest' if neg is None else neg})"
        return class_mean_direction(X, y, parts[0], neg), name
    raise InputError(
        f"direction kind {kind!r} is not one of class-mean, probe, file (e.g. relu4:class-mean:3)"
    )


def read_layer(store: Any, layer: str) -> np.ndarray:
    """A stored layer as ``(n, D)``: sequence layers as their mean over real steps, others flattened."""
    if lens.layer_kind(store, layer) == "sequence":
        return lens.sequence_mean(store, layer)
    A = np.asarray(store.read(layer), dtype=np.float64)
    return A.reshape(A.shape[0], -1)


def _logit_or_percentile(Z: np.ndarray, c: int, layer: str, ids: Any, edges: Any, notes: list[str]) -> Bands:
    """Normalised-logit bands of output unit ``c``; percentile bands (and a note) where they are undefined."""
    k = int((Z.argmax(axis=1) == c).sum())
    if 0 < k < Z.shape[0]:
        try:
            return logit_bands(Z, c, sample_ids=ids, unit_name=f"{layer}:{c}", **({} if edges is None
                                                                                   else {"edges": edges}))
        except RepscopeError as exc:
            notes.append(f"{layer}:{c}: normalised-logit bands undefined ({exc}); percentile bands instead")
    else:
        notes.append(f"{layer}:{c}: normalised-logit bands undefined ({k} of {Z.shape[0]} samples are predicted "
                     f"as {c}); percentile bands instead")
    return bands(Z[:, c], kind="percentile", sample_ids=ids, unit=f"{layer}:{c}")


def analyse_store(
    store: Any,
    *,
    unit: str | None = None,
    direction: str | None = None,
    kind: str | None = None,
    edges: Any = None,
    attributes: list[str] | None = None,
    within_class: bool = False,
    images: ArrayLike | None = None,
    n_permutations: int = DEFAULTS.n_permutations,
    correction: str = DEFAULTS.correction,
    seed: int = 0,
) -> RangeAnalysis:
    """Range analysis of one unit of a stored layer — what ``repscope ranges analyse`` and the report's
    ranges section both run.

    ``unit="fc2:3"`` analyses column 3 of layer ``fc2``: a unit of the store's output layer
    (:func:`repscope.lenses.protocol.output_layer`: the last layer as wide as the number of classes) is a logit
    and gets normalised-logit bands when ``kind`` is None (percentile bands, with a note, where those are
    undefined: no sample or every sample predicted as that class), any other unit percentile bands.
    ``direction="relu4:class-mean:3"`` projects ``relu4`` on a direction (see :func:`direction_from_spec`).
    Sequence layers enter as their mean over real steps. The store's labels (as ``label``) and attributes are
    tested; ``within_class`` restricts the reference population to samples labelled with the unit's class.

    Not confounders (shown, never flagged): for a readout of the labels (a logit, a class-mean or probe
    direction) its ``label`` and ``predicted``; for every unit, attributes that are a function of the labels
    or of which the labels are a function (:func:`derived_from_labels`) — each with a note.

    Examples
    --------
    >>> from repscope.experiments.datasets.toy import toy_store
    >>> store, tmp = toy_store()              # 60 samples, 3 classes: fc1 (Linear), relu, fc2 (Linear)
    >>> from repscope.ranges import analyse_store
    >>> ra = analyse_store(store, unit="fc2:1", n_permutations=49)
    >>> ra.bands.unit, ra.bands.kind            # fc2 is as wide as the classes: a logit, normalised bands
    ('fc2:1', 'normalised')
    >>> tmp.cleanup()
    """
    if (unit is None) == (direction is None):
        raise InputError("give exactly one of --unit LAYER:INDEX or --direction LAYER:KIND:ARGS")
    spec = unit if unit is not None else direction
    assert spec is not None
    layer, _, rest = spec.partition(":")
    layers = list(getattr(store, "layers", []))
    if layer not in layers:
        raise InputError(f"layer {layer!r} is not in the store; available layers: {', '.join(layers)}")
    X = read_layer(store, layer)
    labels = getattr(store, "labels", None)
    attrs: dict[str, Any] = {}
    if labels is not None:
        attrs["label"] = np.asarray(labels)
    for k, v in (getattr(store, "attributes", None) or {}).items():
        attrs[k] = np.asarray(v)
    if attributes:
        missing = [a for a in attributes if a not in attrs]
        if missing:
            raise InputError(
                f"attribute(s) {missing} not in the store; available: {', '.join(attrs) or 'none'}"
            )
        attrs = {a: attrs[a] for a in attributes}
    ids = getattr(store, "sample_ids", None)
    notes: list[str] = []
    idx = None
    targetish = False  # is the unit a readout of the labels (a logit, a class direction)?
    if unit is not None:
        _, idx = parse_unit(unit)
        if not 0 <= idx < X.shape[1]:
            raise InputError(f"unit {unit!r} is out of range: layer {layer!r} has {X.shape[1]} units "
                             f"(0…{X.shape[1] - 1})")
        is_logit = kind == "normalised" or (kind is None and layer == lens.output_layer(store))
        if is_logit:
            targetish = True
            attrs.setdefault("predicted", X.argmax(axis=1))
            if kind == "normalised":
                kw = {} if edges is None else {"edges": edges}
                b = logit_bands(X, idx, sample_ids=ids, unit_name=f"{layer}:{idx}", **kw)
            else:
                b = _logit_or_percentile(X, idx, layer, ids, edges, notes)
        else:
            s = unit_scores(X, unit=idx)
            b = bands(s, kind=kind or "percentile", edges=edges, sample_ids=ids, unit=f"{layer}:{idx}")
    else:
        w, name = direction_from_spec(rest, X, labels, seed=seed)
        if w.size != X.shape[1]:
            raise InputError(f"the direction has {w.size} entries but layer {layer!r} has {X.shape[1]} units; "
                             f"give a vector of the layer's width")
        targetish = rest.split(":", 1)[0] in ("class-mean", "probe")
        s = unit_scores(X, direction=w)
        b = bands(s, kind=kind or "percentile", edges=edges, sample_ids=ids, unit=f"{layer}: {name}")
    if not attrs:
        raise InputError(
            "the store has no labels or attributes to associate with the bands; capture with --labels FILE or "
            "--attributes FILE"
        )
    reference, ref_name = None, None
    if within_class:
        if labels is None or idx is None:
            raise InputError("--within-class needs labels in the store and a --unit LAYER:INDEX")
        reference = np.asarray(labels) == idx
        ref_name = f"samples labelled {idx}"
        if reference.sum() < 2:
            raise InputError(f"only {int(reference.sum())} samples are labelled {idx}; drop --within-class")
    derived = {} if labels is None else derived_from_labels(labels, attrs)
    notes += list(derived.values())
    target = ("label", "predicted") if targetish else ()
    res = analyse_bands(
        b,
        attrs,
        reference=reference,
        reference_name=ref_name,
        images=images,
        n_permutations=n_permutations,
        correction=correction,
        seed=seed,
        derived_from_target=(*target, *derived) if targetish else target,
        exclude_from_confounders=() if targetish else tuple(derived),
    )
    res.notes = notes
    return res
