"""The descrambling lens on a store alone: PCA descramblers (Sule, Spencer & Czaja 2023) of preactivations.

``analyse(store)`` → :class:`DescrambleAnalysis`. The closed-form descrambler ``P* = T Uᵀ`` needs only the
second moment of the preactivations, streamed from the store; the layer's weights are optional. A layer
holds preactivations when it is the output of an affine module (Linear, Conv) or the input
(``point="pre"``) of an element-wise nonlinearity. Units: the features of a vector layer, the channels of a
map ``(C, …)`` (positions become samples), the last axis of a sequence ``(T, D)`` (real steps become
samples).

``weights=`` (an array for one layer, a mapping ``{layer: array}``, or a state_dict file — ``weight_name``
names the key, default ``"<layer>.weight"``) are checked against the layer's units before any work.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from repscope.descramble.core import Descrambler, DescrambleWarning
from repscope.errors import InputError
from repscope.lenses import protocol as lens

__all__ = ["DescrambleAnalysis", "analyse", "applies", "descramble_layer", "preactivation_layers", "load_weights"]


class DescrambleAnalysis(lens.LensAnalysis):
    """What the descrambling lens found on one store (:func:`analyse`): result objects, a reading, notes, layers.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import DescrambleAnalysis, descramble
    >>> r = descramble(np.random.default_rng(0).normal(size=(4, 30)), layer="fc1")
    >>> res = DescrambleAnalysis(results=[r], reading="cost at the bound", layers=["fc1"])
    >>> res.lens, res.to_dict()["layers"]
    ('descrambling', ['fc1'])
    """

    lens = "descrambling"


def preactivation_layers(store: Any) -> list[str]:
    """Stored layers that hold preactivations (see the module docstring).

    Examples
    --------
    >>> from repscope.experiments.datasets.toy import toy_store
    >>> store, tmp = toy_store()              # 60 samples, 3 classes: fc1 (Linear), relu, fc2 (Linear)
    >>> from repscope.descramble import preactivation_layers
    >>> preactivation_layers(store)              # Linear outputs; the ReLU output is post-activation
    ['fc1', 'fc2']
    >>> tmp.cleanup()
    """
    return [la for la in store.layers if lens.is_preactivation(store, la)]


def applies(store: Any) -> str | None:
    """None when the store holds at least one preactivation layer with ≥ 2 units, else why not.

    Examples
    --------
    >>> from repscope.experiments.datasets.toy import toy_store
    >>> store, tmp = toy_store()              # 60 samples, 3 classes: fc1 (Linear), relu, fc2 (Linear)
    >>> from repscope.descramble import applies
    >>> applies(store) is None
    True
    >>> tmp.cleanup()
    """
    pre = [la for la in preactivation_layers(store) if _units(store, la) >= 2]
    if not pre:
        infos = {la: store.layer_info(la) if hasattr(store, "layer_info") else {} for la in list(store.layers)[:6]}
        desc = ", ".join(f"{la} ({i.get('module', '?')}, {i.get('point', 'post')})" for la, i in infos.items())
        return (f"no layer holds preactivations (stored: {desc}); descrambling needs the outputs of Linear/Conv "
                f"layers, or the inputs of nonlinearities — capture a Linear/Conv layer, or a nonlinearity with "
                f"--point pre (API: point='pre')")
    return None


def _units(store: Any, layer: str) -> int:
    shape = tuple(int(s) for s in store.layer_shape(layer))
    kind = lens.layer_kind(store, layer)
    return shape[0] if kind == "map" else shape[-1]


def _moment(store: Any, layer: str, progress: bool) -> tuple[np.ndarray, int]:
    """Uncentred second moment of the layer's units (maps: positions as samples; sequences: real steps as
    samples) and the number of samples behind it — :func:`repscope.descramble.core.second_moment_from_store`."""
    from repscope.descramble.core import second_moment_from_store

    A, n, _ = second_moment_from_store(store, layer, progress=progress)
    return A, n


def load_weights(weights: ArrayLike | None, weight_name: Any, store: Any, layers: list[str]) -> dict[str, np.ndarray]:
    """Weights per layer from an array, a mapping or a state_dict file, each checked against the layer's
    units (axis 0 = output units, torch layout). Raises :class:`InputError` naming the fix.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.experiments.datasets.toy import toy_store
    >>> store, tmp = toy_store()              # 60 samples, 3 classes: fc1 (Linear), relu, fc2 (Linear)
    >>> from repscope.descramble import load_weights
    >>> W = {"fc1": np.zeros((8, 5))}            # torch layout: (output units, inputs)
    >>> {k: v.shape for k, v in load_weights(W, None, store, ["fc1"]).items()}
    {'fc1': (8, 5)}
    >>> tmp.cleanup()
    """
    if weights is None:
        return {}
    out: dict[str, Any] = {}
    if isinstance(weights, str | Path):
        from repscope.capture.loading import load_weights as read_state_dict  # weights_only=True

        path = Path(weights)
        sd: Any = read_state_dict(path)
        if isinstance(sd.get("state_dict"), Mapping):
            sd = sd["state_dict"]
        keys = {la: (weight_name.get(la) if isinstance(weight_name, Mapping) else weight_name) or f"{la}.weight"
                for la in layers}
        if isinstance(weight_name, str) and len(layers) != 1:
            raise InputError(f"weight_name={weight_name!r} names one weight but {len(layers)} layers are analysed; "
                             f"pass one layer (repscope report --layers LAYER; API: layers=[LAYER]) or, in the API, "
                             f"a mapping weight_name={{layer: key}}")
        for la, key in keys.items():
            if key in sd:
                out[la] = sd[key]
            elif weight_name is not None:
                from difflib import get_close_matches

                close = get_close_matches(key, [str(k) for k in sd], n=3)
                raise InputError(f"'{path}' has no weight {key!r}" + (f"; did you mean {close}?" if close else
                                 f"; keys: {', '.join(list(map(str, sd))[:10])}"))
        if not out:
            raise InputError(f"'{path}' holds none of {sorted(keys.values())}; give the key of the analysed layer's "
                             f"weight (repscope report --weight-name KEY; API: weight_name=KEY)")
    elif isinstance(weights, Mapping):
        extra = [k for k in weights if k not in layers]
        if extra:
            raise InputError(f"weights given for {extra}, which are not among the analysed layers {layers}")
        out = dict(weights)
    else:
        if len(layers) != 1:
            raise InputError(f"one weight array for {len(layers)} layers; pass layers=[LAYER] or a mapping "
                             f"{{layer: array}}")
        out = {layers[0]: weights}
    checked: dict[str, np.ndarray] = {}
    for la, W in out.items():
        W = np.asarray(W.detach().cpu().numpy() if hasattr(W, "detach") else W, dtype=np.float64)
        m = _units(store, la)
        if W.ndim < 1 or W.shape[0] != m:
            raise InputError(
                f"weights for layer {la!r} have shape {W.shape} but the layer has {m} units; pass that layer's "
                f"own weight (output units on axis 0, torch layout)")
        if not np.isfinite(W).all():
            raise InputError(f"weights for layer {la!r} contain NaN or Inf")
        checked[la] = W
    return checked


def analyse(
    store: Any,
    *,
    layers: Any = None,
    seed: int = 0,
    scheduler: Any = None,
    n_workers: int | None = None,
    device: Any = None,
    progress: bool = True,
    weights: ArrayLike | None = None,
    weight_name: Any = None,
    operator: ArrayLike = "first_difference",
    permutation: bool = False,
    max_units: int = 4096,
) -> DescrambleAnalysis:
    """Orthogonal (PCA) descrambler of each preactivation layer (default all), with the weights' descrambled
    image when ``weights`` are given; ``permutation=True`` adds the permutation (QAP) descrambler (seeded).
    ``scheduler``/``n_workers``/``device`` are accepted for the common lens signature (the work is one
    streamed pass and one eigendecomposition per layer).

    Examples
    --------
    >>> from repscope.experiments.datasets.toy import toy_store
    >>> store, tmp = toy_store()              # 60 samples, 3 classes: fc1 (Linear), relu, fc2 (Linear)
    >>> from repscope.descramble import analyse
    >>> res = analyse(store, progress=False)
    >>> res.layers                               # the Linear outputs hold preactivations
    ['fc1', 'fc2']
    >>> all(abs(r.cost - r.bound) <= 1e-9 * max(1.0, r.bound) for r in res.results if hasattr(r, "bound"))
    True
    >>> tmp.cleanup()
    """
    t0 = time.perf_counter()
    reason = applies(store)
    if reason:
        raise InputError(reason)
    pre = preactivation_layers(store)
    chosen = lens.select(store, layers, pre, what="descrambling")
    notes: list[str] = []
    if layers is None:
        other = [la for la in store.layers if la not in pre]
        if other:
            notes.append(f"skipped layers that do not hold preactivations: {', '.join(other)}")
    keep = []
    for la in chosen:
        m = _units(store, la)
        if m < 2:
            notes.append(f"skipped layer {la}: {m} unit")
        elif m > max_units:
            notes.append(f"skipped layer {la}: {m} units > max_units = {max_units}")
        else:
            keep.append(la)
    if not keep:
        raise InputError("no layer to descramble; " + "; ".join(notes))
    seq_keep = [la for la in keep if lens.layer_kind(store, la) == "sequence"]
    if note := lens.sequence_note(store, seq_keep, as_="steps"):  # None when no layer is a sequence
        notes.append(note)
    W = load_weights(weights, weight_name, store, keep)  # checked before any work
    results: list[Any] = []
    for la in keep:
        A, n = _moment(store, la, progress)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DescrambleWarning)
            d = Descrambler(operator).fit_moment(A, n)
        if any(issubclass(w.category, DescrambleWarning) for w in caught) or n < d.n_units_:
            notes.append(f"{la}: {n} samples for {d.n_units_} units, so the descrambler is determined only on "
                         f"the {d.rank_}-dimensional span of the data")
        results.append(d.result(W.get(la), layer=la))
        if permutation:
            from repscope.descramble.permutation import PermutationDescrambler

            results.append(PermutationDescrambler(operator, n_init=4, seed=seed).fit_moment(A, n).result(la))
    out = DescrambleAnalysis(results=results, notes=notes, layers=keep,
                             params={"operator": str(getattr(operator, "name", operator)), "seed": seed,
                                     "with_weights": sorted(W)})
    out.reading = _reading([r for r in results if type(r).__name__ == "DescrambleResult"])
    out.seconds = time.perf_counter() - t0
    return out


def descramble_layer(store: Any, layer: str, operator: ArrayLike | str = "first_difference",
                     weights: ArrayLike | str | Path | None = None, *, permutation: bool = False, n_init: int = 8,
                     center: bool = False, block_rows: int = 2048, seed: int = 0, progress: bool = False) -> list[Any]:
    """What ``repscope descramble STORE --layer L`` runs: the orthogonal descrambler of ``layer`` (second moment
    streamed in ``block_rows`` row blocks; ``center`` subtracts the mean first) for the smoothness ``operator``
    (a name, a matrix D, or the path of a ``D.npy``), and with ``permutation`` also the unit-reordering QAP
    (``n_init`` seeded FAQ restarts). ``weights`` (the layer's weight, output units on axis 0, or a .npy
    file) gives P*·W. Returns ``[DescrambleResult]`` (+ the ``PermutationResult``); the first holds P.

    Examples
    --------
    >>> from repscope.experiments.datasets.toy import toy_store
    >>> from repscope.descramble import descramble_layer
    >>> store, tmp = toy_store()
    >>> [r.P.shape for r in descramble_layer(store, "fc1")]
    [(8, 8)]
    >>> tmp.cleanup()
    """
    from repscope.capture.loading import load_array
    from repscope.descramble.permutation import PermutationDescrambler

    if isinstance(operator, str) and operator.endswith(".npy"):
        if not Path(operator).exists():
            raise InputError(f"operator file {operator} does not exist; pass a name or an existing D.npy")
        operator = load_array(Path(operator), "operator")
    if isinstance(weights, (str, Path)):
        if not Path(weights).exists():
            raise InputError(f"weights file {weights} does not exist; save the weight with np.save")
        weights = load_array(Path(weights), "weights")
    d = Descrambler(operator, center=center).fit_store(store, layer, block_rows=block_rows, progress=progress)
    results: list[Any] = [d.result(weights, layer=layer)]
    if permutation:
        p = PermutationDescrambler(cast(Any, d.operator_), n_init=n_init, seed=seed)  # an operator object
        p.fit_moment(d.moment_, d.n_samples_)
        results.append(p.result(layer))
    return results


def _reading(results: list[Any]) -> str:
    parts = []
    for r in results:
        d = r.to_dict()
        red = d.get("cost_reduction")
        text = f"{r.layer} ({r.n_units} units, rank {r.rank}): "
        text += f"the optimal descrambler removes {100 * red:.0f}% of the roughness" if red is not None else "no cost"
        hr, hd = d.get("hf_fraction_raw"), d.get("hf_fraction_descrambled")
        if hr is not None and hd is not None:
            what = "weights'" if d.get("has_weights") else "preactivations'"
            text += f"; the {what} high-frequency energy goes {hr:.2f} → {hd:.2f}"
        lam = np.asarray(r.pc_variances, dtype=float)
        if lam.size and lam.sum() > 0:
            k = int(np.searchsorted(np.cumsum(lam) / lam.sum(), 0.9) + 1)
            text += f"; {k} of {r.n_units} principal directions hold 90% of the second moment"
        parts.append(text + ".")
    return " ".join(parts)
