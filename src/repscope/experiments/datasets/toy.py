"""A tiny classifier-like set of activations for examples and doctests: 60 samples of 3 classes through
``fc1`` (Linear, class structure + noise) → ``relu`` → ``fc2`` (Linear, 3 logits). Generated, seeded."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["toy_activations", "toy_store"]


def toy_activations(n_per_class: int = 20, seed: int = 0) -> dict[str, Any]:
    """Keyword arguments for :func:`repscope.store.write_arrays`: ``arrays`` (fc1, relu, fc2), ``labels``
    and the ``layer_meta`` that marks the Linear outputs as preactivations.

    Examples
    --------
    >>> from repscope.experiments.datasets.toy import toy_activations
    >>> toy = toy_activations()
    >>> sorted(toy), {k: v.shape for k, v in toy["arrays"].items()}
    (['arrays', 'labels', 'layer_meta'], {'fc1': (60, 8), 'relu': (60, 8), 'fc2': (60, 3)})
    """
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1, 2], n_per_class)
    n = labels.size
    hidden = np.eye(3)[labels] @ rng.normal(size=(3, 8)) + 0.3 * rng.normal(size=(n, 8))
    arrays = {"fc1": hidden, "relu": np.maximum(hidden, 0), "fc2": hidden @ rng.normal(size=(8, 3))}
    meta = {"fc1": {"module": "Linear"}, "relu": {"module": "ReLU"}, "fc2": {"module": "Linear"}}
    return {"arrays": {k: v.astype("float32") for k, v in arrays.items()}, "labels": labels, "layer_meta": meta}


def toy_store(seed: int = 0) -> tuple[Any, Any]:
    """:func:`toy_activations` written to a store in a new temporary directory: ``(store, tmp)``; call
    ``tmp.cleanup()`` to remove it.

    Examples
    --------
    >>> from repscope.experiments.datasets.toy import toy_store
    >>> store, tmp = toy_store()
    >>> store.layers, store.n_samples
    (['fc1', 'relu', 'fc2'], 60)
    >>> tmp.cleanup()
    """
    import tempfile

    from repscope.store import write_arrays

    tmp = tempfile.TemporaryDirectory()
    return write_arrays(f"{tmp.name}/acts.zarr", **toy_activations(seed=seed)), tmp
