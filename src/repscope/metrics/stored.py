"""RSA on stored layers (what ``repscope rsa``, ``embed``, ``noise-ceiling`` and ``estimate`` read): layers
named ``STORE:LAYER``, the model RDMs a store provides (its labels, an attribute), and one layer's RSA with
its ceiling and bootstrap interval."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from repscope._paths import store_label
from repscope.errors import InputError
from repscope.metrics._rdm import RDM, RSABootstrap, model_rdm, rdm_of, rsa_bootstrap
from repscope.metrics._rsa import binary_rdm_ceiling

__all__ = ["LayerRSA", "layer_rsa", "read_layers"]


def read_layers(specs: list[str], layer: str | None = None) -> dict[str, np.ndarray]:
    """``STORE:LAYER`` specs (or ``STORE`` with ``layer``; a STORE may be an fsspec URL) → ``{"store:layer":
    activations}``, in order.

    Examples
    --------
    >>> from repscope.experiments.datasets.toy import toy_store
    >>> from repscope.metrics import read_layers
    >>> store, tmp = toy_store()
    >>> reps = read_layers([f"{store.path}:fc1", str(store.path)], layer="fc2")
    >>> [(k.split(":")[1], v.shape) for k, v in reps.items()]
    [('fc1', (60, 8)), ('fc2', (60, 3))]
    >>> tmp.cleanup()
    """
    from repscope.store import open_store

    reps: dict[str, np.ndarray] = {}
    for spec in specs:
        path, _, lay = spec.rpartition(":")
        if not path or "/" in lay:  # no ':LAYER' suffix (the last ':' is a URL's, e.g. file:///x/a.zarr)
            path, lay = spec, ""
        lay = lay or layer or ""
        if not lay:
            raise InputError(f"{spec!r}: give STORE:LAYER or --layer")
        reps[f"{store_label(path)}:{lay}"] = open_store(path).read(lay)
    return reps


def _model_attributes(store: Any, spec: str) -> tuple[Any, str]:
    """``labels`` → the store's labels (categorical); ``attr:NAME`` → a stored attribute; a .npy path."""
    if spec == "labels":
        if store.labels is None:
            raise InputError("--model labels: this store has no labels; capture with --labels or give a .npy")
        return store.labels, "categorical"
    if spec.startswith("attr:"):
        name = spec[5:]
        attrs = store.attributes
        if name not in attrs:
            raise InputError(f"--model {spec}: no attribute {name!r}; the store has {sorted(attrs) or 'none'}")
        return attrs[name], "auto"
    path = Path(spec)
    if path.suffix != ".npy" or not path.is_file():
        raise InputError(f"--model {spec!r}: use 'labels', 'attr:NAME' or an existing .npy file of attributes")
    return np.load(path, allow_pickle=False), "auto"


@dataclass
class LayerRSA:
    """One layer's RSA (:func:`layer_rsa`): its RDM (``rdm``), the RDM compared with (``other``), the
    comparison ``value``, the ceiling a two-valued model RDM puts on it (else None), the bootstrap (else None)
    and ``order``, the samples sorted by label (class blocks in figures; None without labels).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import LayerRSA, rdm_of
    >>> a = rdm_of(np.eye(4), name="a")
    >>> LayerRSA("a", a, a, "correlation", "spearman", 1.0).summary()
    'RSA (correlation RDM, spearman) a vs a: 1.0000 over 4 stimuli'
    """

    layer: str
    rdm: RDM
    other: RDM
    method: str
    compare: str
    value: float
    ceiling: float | None = None
    bootstrap: RSABootstrap | None = None
    order: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"layer": self.layer, "other": self.other.name, "rdm": self.method,
                               "compare": self.compare, "value": self.value, "n_conditions": self.rdm.n}
        if self.ceiling is not None:
            out["ceiling"] = self.ceiling
        if self.bootstrap is not None:
            out["bootstrap"] = {k: v for k, v in self.bootstrap.to_dict().items() if k != "samples"}
        return out

    def summary(self) -> str:
        cap = ("" if self.ceiling is None else f" (ceiling {self.ceiling:.4f} for this two-valued model without "
               f"tied dissimilarities: {self.value / self.ceiling:.0%} of it)")
        line = (f"RSA ({self.method} RDM, {self.compare}) {self.layer} vs {self.other.name}: {self.value:.4f} over "
                f"{self.rdm.n} stimuli{cap}")
        return line if self.bootstrap is None else f"{line}\n{self.bootstrap.summary()}"


def layer_rsa(store: Any, layer: str, *, model: str | None = None, layer2: str | None = None, store2: Any = None,
              rdm: str = "correlation", compare: str = "spearman", bootstrap: int = 0, ci: float = 0.95,
              seed: int = 0) -> LayerRSA:
    """RSA of ``layer`` of ``store``: its ``rdm`` RDM compared (``compare``) with exactly one of a model RDM
    (``model``: ``"labels"`` — same/different class —, ``"attr:NAME"`` — a stored attribute — or a .npy file
    of attributes) or the RDM of ``layer2`` (of ``store2`` if given), with a ``bootstrap`` CI over stimuli at
    coverage ``ci`` (self-pairs of resampled duplicates excluded; 0 = none).

    Examples
    --------
    >>> from repscope.experiments.datasets.toy import toy_store
    >>> from repscope.metrics import layer_rsa
    >>> store, tmp = toy_store()
    >>> res = layer_rsa(store, "fc1", layer2="relu")
    >>> res.other.name, res.rdm.n, -1 <= res.value <= 1
    ('relu', 60, True)
    >>> tmp.cleanup()
    """
    if (model is None) == (layer2 is None):
        raise InputError("give exactly one of --model (labels, attr:NAME, .npy) or --layer2 to compare with")
    labels = [str(v) for v in store.labels] if store.labels is not None and len(store.labels) <= 60 else None
    r1 = rdm_of(store.read(layer), rdm, labels=labels, name=layer)
    if model is not None:
        attrs, kind = _model_attributes(store, model)
        r2 = model_rdm(attrs, kind, name=f"model {model}")
    else:
        other = store if store2 is None else store2
        r2 = rdm_of(other.read(str(layer2)), rdm, name=str(layer2))
    res = LayerRSA(layer, r1, r2, rdm, compare, r1.compare(r2, compare))
    if model is not None and np.unique(r2.vector).size == 2:  # a categorical model caps the comparison
        res.ceiling = binary_rdm_ceiling(r2.vector, compare)
    if bootstrap:
        # RDM objects are documented inputs of rsa_bootstrap (its annotation says ArrayLike only)
        res.bootstrap = rsa_bootstrap(cast(Any, r1), cast(Any, r2), compare=compare, n_boot=bootstrap, ci=ci,
                                      seed=seed)
    if store.labels is not None:
        res.order = np.argsort(np.asarray(store.labels), kind="stable")
    return res
