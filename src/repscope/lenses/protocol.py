"""The shape every lens entry point shares, and what a store's layers are.

Every lens exposes ``analyse(store, *, layers=None, seed=0, scheduler=None, n_workers=None, device=None,
progress=True, **options) -> <Lens>Analysis`` and ``applies(store) -> str | None`` (``None`` = the lens
applies, else the reason it does not). The analyses are :class:`LensAnalysis` objects: the lens's result
objects, a computed one-paragraph reading, and notes such as ``"skipped layer X: why"``.

What a stored layer is follows from its per-sample shape and the module that produced it
(``store.layer_info(layer)["module"]``):

- ``"vector"`` — one vector per sample, shape ``(D,)``;
- ``"map"`` — channels first, ``(C, *positions)``: convolution, pooling and normalisation outputs;
- ``"sequence"`` — ``(T, D)`` with a time/token axis first and features last (recurrent and transformer
  layers, ``nn.Linear`` applied to a sequence). The axes capture records (``layer_info(layer)["axes"]``,
  e.g. ``"tokens, features"``) decide; without them (older stores, ambiguous layers) a 2-D shape from a
  module that is not channel-first is a sequence.
  When the store has a per-sample attribute ``n_tokens`` (or ``length``), only the first ``n_tokens`` steps
  of each sample are real; the rest is padding. Capture stores ``n_tokens`` itself whenever the batches
  carry an ``attention_mask`` (``repscope capture --text``, tokenised batches). Every lens turns a sequence
  layer into vectors (:func:`sequence_mean`) or trajectories (:func:`valid_steps`) through these helpers, and
  says how in its notes (:func:`sequence_note`): over the real steps, or — for a store without lengths —
  over all ``T`` positions, with a warning that padding, if any, counts as real.

Layer order is the store's: execution order where capture recorded it (``store.layers``); :func:`select`
keeps it and :func:`order_note` says when a store predates the record.

Lives in :mod:`repscope.lenses` (layer 0, beside :mod:`repscope.results`) so that every lens — ``metrics``
at layer 3 included — and the report can use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from repscope.errors import InputError
from repscope.results import ResultBase, to_jsonable

__all__ = [
    "LensAnalysis",
    "Reading",
    "layer_kind",
    "layers_of_kind",
    "valid_lengths",
    "valid_steps",
    "select",
    "order_note",
    "label_classes",
    "output_layer",
    "is_preactivation",
    "sequence_mean",
    "sequence_note",
    "TOKENS",
    "VectorView",
    "as_vectors",
    "may_be_padded",
    "caveats",
]

#: Modules whose outputs keep channels first (``(C, L)`` for 1-D inputs is not a sequence).
_CHANNEL_FIRST = ("Conv", "ConvTranspose", "BatchNorm", "InstanceNorm", "GroupNorm", "MaxPool", "AvgPool",
                  "AdaptiveAvgPool", "AdaptiveMaxPool", "LPPool", "Upsample", "PixelShuffle")
#: Element-wise nonlinearities: their *input* (point="pre") is a preactivation.
_ACTIVATIONS = ("ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Tanh",
                "Sigmoid", "Softplus", "Hardtanh", "Hardswish", "Hardsigmoid", "GELUActivation",
                "NewGELUActivation", "FastGELUActivation", "QuickGELUActivation", "Softsign", "Tanhshrink")
#: Modules whose *output* is a preactivation (an affine map of the layer's input).
_AFFINE = ("Linear", "LazyLinear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "LazyConv1d", "LazyConv2d",
           "LazyConv3d", "Conv1D")
_LENGTH_ATTRS = ("n_tokens", "length", "lengths", "seq_len")


def _info(store: Any, layer: str) -> dict[str, Any]:
    return dict(store.layer_info(layer)) if hasattr(store, "layer_info") else {}


def _shape(store: Any, layer: str) -> tuple[int, ...]:
    if hasattr(store, "layer_shape"):
        return tuple(int(s) for s in store.layer_shape(layer))
    return (int(np.asarray(store.read(layer, rows=np.arange(1))).shape[1]),)


def layer_kind(store: Any, layer: str) -> str:
    """``"vector"``, ``"map"`` or ``"sequence"`` (see the module docstring)."""
    shape = _shape(store, layer)
    if len(shape) <= 1:
        return "vector"
    info = _info(store, layer)
    axes = str(info.get("axes") or "")  # capture records e.g. "tokens, features" or "channels, length"
    if "ambiguous" not in axes:
        if axes.startswith("tokens"):
            return "sequence"
        if axes.startswith("channels"):
            return "map"
    module = str(info.get("module", ""))
    if len(shape) == 2 and not module.startswith(_CHANNEL_FIRST):
        return "sequence"
    return "map"


def layers_of_kind(store: Any, *kinds: str) -> list[str]:
    return [lay for lay in store.layers if layer_kind(store, lay) in kinds]


def select(store: Any, layers: Any, candidates: list[str] | None = None, *, what: str = "this lens") -> list[str]:
    """Validate ``layers`` (None → ``candidates``, else all layers); unknown names raise with the list.

    The layers come back in the store's order — execution order (``store.layers``) — whatever order they
    were given in, so neighbouring-layer readings and trends with depth read them as the model ran them."""
    stored = list(store.layers)
    if layers is None:
        return list(stored if candidates is None else candidates)
    if isinstance(layers, str):
        layers = [s.strip() for s in layers.split(",") if s.strip()]
    layers = [str(x) for x in layers]
    missing = [x for x in layers if x not in stored]
    if missing:
        raise InputError(f"layer(s) {missing} are not in the store; stored layers: {', '.join(stored)}")
    if not layers:
        raise InputError(f"layers= is empty; give at least one layer name for {what}")
    wanted = set(layers)
    return [x for x in stored if x in wanted]


def order_note(store: Any) -> str | None:
    """The store's note when its layer order is not the execution order (stores from before it was recorded),
    else None: for lenses whose readings follow the layer order."""
    note = getattr(store, "layer_order_note", None)
    return note if isinstance(note, str) and note else None


def valid_lengths(store: Any) -> np.ndarray | None:
    """Per-sample number of real (non-padding) steps, from an ``n_tokens``/``length`` attribute, or None."""
    attrs = getattr(store, "attributes", None) or {}
    for name in _LENGTH_ATTRS:
        if name in attrs:
            v = np.asarray(attrs[name])
            if v.dtype.kind in "iuf" and v.ndim == 1:
                return v.astype(np.int64)
    return None


def valid_steps(A: np.ndarray, shape: tuple[int, ...], lengths: np.ndarray | None) -> list[np.ndarray]:
    """Rows ``(n, T·D)`` of a sequence layer → a list of ``(T_i, D)`` arrays without padding steps."""
    T, D = shape
    X = np.asarray(A, dtype=np.float64).reshape(-1, T, D)
    if lengths is None:
        return list(X)
    return [x[: max(1, min(T, int(L)))] for x, L in zip(X, lengths)]


def sequence_mean(store: Any, layer: str, rows: np.ndarray | None = None) -> np.ndarray:
    """Mean over the real steps of each sample of a sequence layer: ``(n, D)``."""
    shape = _shape(store, layer)
    lengths = valid_lengths(store)
    A = store.read(layer) if rows is None else store.read(layer, rows=rows)
    if lengths is not None and rows is not None:
        lengths = lengths[rows]
    return _step_means(A, shape, lengths)


def _step_means(A: np.ndarray, shape: tuple[int, ...], lengths: np.ndarray | None) -> np.ndarray:
    return np.stack([x.mean(axis=0) for x in valid_steps(A, shape, lengths)])


#: How :func:`as_vectors` can turn a sequence layer ``(T, D)`` into one row per sample.
TOKENS = ("mean", "flatten")


class VectorView:
    """A store seen as one vector per sample and layer: each sequence layer ``(T, D)`` becomes its mean over the
    real steps (:func:`sequence_mean`: the first ``n_tokens`` of each sample; all ``T`` without lengths), other
    layers are read as stored. ``rows`` restricts it to those samples (in that order; ``sample_ids`` follow).

    Duck-types what :func:`repscope.metrics.layer_matrices` reads from a store (``layers``, ``n_samples``,
    ``sample_ids``, ``layer_shape``, ``read``, and ``iter_rows`` when not restricted). ``note`` says how the
    sequence layers enter (:func:`sequence_note`; None without sequence layers)."""

    def __init__(self, store: Any, rows: Any = None) -> None:
        self.store = store
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        self.layers = list(store.layers)
        self.sequences = [lay for lay in self.layers if layer_kind(store, lay) == "sequence"]
        self._lengths = valid_lengths(store)
        self.n_samples = int(store.n_samples) if self.rows is None else int(self.rows.size)
        ids, labels = getattr(store, "sample_ids", None), getattr(store, "labels", None)
        self.sample_ids = ids if ids is None or self.rows is None else np.asarray(ids)[self.rows]
        self.labels = labels if labels is None or self.rows is None else np.asarray(labels)[self.rows]
        self.path = getattr(store, "path", None)
        self.note = sequence_note(store, self.sequences)
        if self.rows is None and hasattr(store, "iter_rows"):
            self.iter_rows = self._iter_rows  # streamed reading only over the whole store

    def layer_info(self, layer: str) -> dict[str, Any]:
        return _info(self.store, layer)

    def layer_shape(self, layer: str) -> tuple[int, ...]:
        shape = _shape(self.store, layer)
        return shape[1:] if layer in self.sequences else shape

    def read(self, layer: str, rows: Any = None) -> np.ndarray:
        if isinstance(rows, slice):
            rows = np.arange(self.n_samples)[rows]
        r = self.rows if rows is None else np.asarray(rows) if self.rows is None else self.rows[np.asarray(rows)]
        if layer in self.sequences:
            return sequence_mean(self.store, layer, r)
        return np.asarray(self.store.read(layer) if r is None else self.store.read(layer, rows=r))

    def _iter_rows(self, layer: str, block_rows: int | None = None) -> Any:
        if layer not in self.sequences:
            yield from self.store.iter_rows(layer, block_rows)
            return
        shape = _shape(self.store, layer)
        for start, block in self.store.iter_rows(layer, block_rows):
            lengths = None if self._lengths is None else self._lengths[start: start + len(block)]
            yield start, _step_means(block, shape, lengths)


def as_vectors(source: Any, tokens: str = "mean") -> tuple[Any, str | None]:
    """``(source, note)`` for a layer × layer computation: a store's sequence layers ``(T, D)`` as their mean over
    real steps (``tokens="mean"``, :class:`VectorView`) or as the flattened ``T·D`` values (``"flatten"``:
    padding positions included). ``note`` says which (None without sequence layers, and for mappings and
    views, which are used as given). A store whose padding cannot be told from real tokens (no ``n_tokens``
    on token inputs) or a flattened padded layer also raises a :class:`UserWarning` with the fix."""
    import warnings
    from collections.abc import Mapping

    if tokens not in TOKENS:
        raise InputError(f"tokens={tokens!r}: choose 'mean' (sequence layers as their mean over real tokens) or "
                         "'flatten' (all T·D values per sample, padding included)")
    if isinstance(source, VectorView):
        return source, source.note
    if not (hasattr(source, "layers") and hasattr(source, "read")) or isinstance(source, Mapping):
        return source, None
    seqs = [lay for lay in source.layers if layer_kind(source, lay) == "sequence"]
    if not seqs:
        return source, None
    if tokens == "mean":
        view = VectorView(source)
        if view.note and view.note.startswith("warning: "):
            warnings.warn(view.note.removeprefix("warning: "), UserWarning, stacklevel=3)
        return view, view.note
    lengths = valid_lengths(source)
    T = min(int(_shape(source, lay)[0]) for lay in seqs)
    padded = (bool(lengths.min() < T) if lengths is not None and lengths.size else False) or (
        lengths is None and may_be_padded(source))
    note = (f"sequence layers {', '.join(seqs)} enter flattened (tokens='flatten'): all T·D values of each sample, "
            "one feature per position and unit")
    if padded:
        note = (f"warning: {note}, padding positions included ("
                + ("the store's n_tokens says some samples are shorter" if lengths is not None else
                   "the store records no n_tokens and its inputs were tokens")
                + "); tokens='mean' reads the real tokens only")
        warnings.warn(note.removeprefix("warning: "), UserWarning, stacklevel=3)
    return source, note


def sequence_note(store: Any, layers: list[str], *, as_: str = "mean") -> str | None:
    """How the sequence ``layers`` enter a lens, for its notes: ``as_="mean"`` (vectors: the mean over
    steps), ``"trajectory"`` (the steps in order), ``"steps"`` (each step a sample) or ``"read"`` (any of
    these); None when ``layers`` is empty. Without per-sample lengths the note is a warning: every position
    is used, padding included if the inputs were padded, and it says how to record the lengths."""
    if not layers:
        return None
    names = ", ".join(layers)
    if as_ not in ("mean", "trajectory", "steps", "read"):
        raise InputError(f"as_={as_!r}: choose 'mean', 'trajectory', 'steps' or 'read'")
    if valid_lengths(store) is not None:
        return f"sequence layers {names} " + {
            "mean": "enter as their mean over real time steps / tokens (the first n_tokens of each sample)",
            "trajectory": "are trajectories cut at each sample's real length (n_tokens)",
            "steps": "contribute their real time steps / tokens as samples (the first n_tokens of each sample)",
            "read": "are read over their real time steps / tokens (the first n_tokens of each sample)",
        }[as_]
    T = sorted({int(_shape(store, lay)[0]) for lay in layers})
    steps = f"all {T[0]}" if len(T) == 1 else "all"
    how = {"mean": f"enter as their mean over {steps} positions", "trajectory": f"are trajectories over {steps} steps",
           "steps": f"contribute {steps} positions as samples", "read": f"are read over {steps} positions"}[as_]
    fix = ("re-capture with the attention_mask in the batches (capture then stores n_tokens) or pass "
           "attributes={'n_tokens': …}")
    if may_be_padded(store):
        return (f"warning: sequence layers {names} {how}: the store records no per-sample length (no n_tokens "
                f"attribute — captured without an attention_mask, or by a repscope that did not store it), so "
                f"padding positions, if the inputs were padded, count as real ones; {fix}")
    return (f"sequence layers {names} {how}: the store records no per-sample length, so every step counts as "
            f"real; if the inputs were padded, {fix}")


def may_be_padded(store: Any) -> bool:
    """True when the store's inputs were token sequences (its model embeds tokens — an ``Embedding`` in the
    recorded model or among the stored modules — or it keeps a ``text`` attribute): inputs that are padded
    to a common length unless every sample has the same one."""
    meta = getattr(store, "metadata", None)
    meta = meta if isinstance(meta, dict) else {}
    model = meta.get("model")
    model = model if isinstance(model, dict) else {}
    if "Embedding(" in str(model.get("repr_head", "")):
        return True
    if any(str(_info(store, lay).get("module", "")).endswith(("Embedding", "Embeddings")) for lay in store.layers):
        return True
    return any(isinstance(d, dict) and d.get("name") == "text" for d in meta.get("attributes", []) or [])


def caveats(store: Any) -> list[str]:
    """What a user should know before reading any lens on ``store``: sequence layers of token inputs
    without per-sample lengths (:func:`sequence_note`, :func:`may_be_padded`) and a layer order that is not
    the execution order (:func:`order_note`). The commands print them as warnings; the lenses put them in
    their notes."""
    out = []
    if valid_lengths(store) is None and may_be_padded(store):
        note = sequence_note(store, layers_of_kind(store, "sequence"), as_="read")
        if note:
            out.append(note.removeprefix("warning: "))
    note = order_note(store)
    if note:
        out.append(note)
    return out


def label_classes(store: Any) -> np.ndarray | None:
    """Sorted distinct labels of the store (None without labels)."""
    y = getattr(store, "labels", None)
    return None if y is None else np.unique(np.asarray(y))


def output_layer(store: Any) -> str | None:
    """The classifier's output layer: the last vector layer whose width equals the number of label classes
    (or the largest integer label + 1). None without labels or without such a layer."""
    classes = label_classes(store)
    if classes is None or classes.size < 2:
        return None
    widths = {int(classes.size)}
    if classes.dtype.kind in "iu" and classes.min() >= 0:
        widths.add(int(classes.max()) + 1)
    for lay in reversed(list(store.layers)):
        if layer_kind(store, lay) == "vector" and _shape(store, lay)[0] in widths:
            return lay
    return None


def is_preactivation(store: Any, layer: str) -> bool:
    """True when the stored layer holds preactivations: the output of an affine module (Linear, Conv) or the
    input (``point="pre"``) of an element-wise nonlinearity."""
    info = _info(store, layer)
    module, point = str(info.get("module", "")), str(info.get("point", "post"))
    if point == "pre":
        return module in _ACTIVATIONS
    return module in _AFFINE


def _first_sentence(text: str) -> str:
    text = " ".join(str(text).split())
    cut = text.find(". ")
    return text if cut < 0 else text[: cut + 1]


@dataclass
class LensAnalysis(ResultBase):
    """What one lens found on one store: result objects, a computed reading, notes, the layers used.

    Follows :mod:`repscope.results`: ``to_dict``, ``plot``/``plotly`` (the main result's figure),
    ``summary`` (reading + notes), ``table`` (one row per result).
    """

    lens: ClassVar[str] = "lens"
    results: list[Any] = field(default_factory=list)
    reading: str = ""
    notes: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None

    @property
    def title(self) -> str:
        return f"{self.lens.capitalize()} — what this lens found"

    @property
    def skipped(self) -> list[str]:
        return [n for n in self.notes if n.startswith("skipped")]

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({
            "lens": self.lens, "layers": list(self.layers), "reading": self.reading, "notes": list(self.notes),
            "params": {k: v for k, v in self.params.items() if isinstance(v, int | float | str | bool | list
                                                                            | type(None))},
            "seconds": self.seconds,
            "results": [{"type": type(r).__name__, "title": _title(r), "result": r.to_dict()} for r in self.results],
        })

    def summary(self) -> str:
        parts = [self.reading] if self.reading else []
        parts += self.notes
        return "\n\n".join(parts)

    def table(self) -> tuple[list[str], list[list[Any]]]:
        rows = [[_title(r), _first_sentence(r.summary() if hasattr(r, "summary") else "")] for r in self.results]
        return ["result", "reading"], rows

    def plot(self, ax: Any = None) -> Any:
        main = next((r for r in self.results if callable(getattr(r, "plot", None))), None)
        if main is None:
            return None
        try:
            return main.plot(ax=ax)
        except TypeError:  # results whose plot() takes no axes
            return main.plot()

    def plotly(self) -> Any:
        main = next((r for r in self.results if callable(getattr(r, "plotly", None))), None)
        return None if main is None else main.plotly()

    def reading_card(self) -> Reading:
        return Reading(self)


@dataclass
class Reading:
    """The report card of a :class:`LensAnalysis`: its reading and notes, no figure (the results have them)."""

    analysis: LensAnalysis

    @property
    def title(self) -> str:
        return "What this section found"

    def to_dict(self) -> dict[str, Any]:
        d = self.analysis.to_dict()
        d.pop("results", None)
        return d

    def summary(self) -> str:
        return self.analysis.summary()

    def table(self) -> tuple[list[str], list[list[Any]]]:
        return self.analysis.table()

    def plot(self, ax: Any = None) -> Any:
        return None

    def plotly(self) -> Any:
        return None


def _title(r: Any) -> str:
    t = getattr(r, "title", None)
    if callable(t):
        t = t()
    return str(t) if t else type(r).__name__
