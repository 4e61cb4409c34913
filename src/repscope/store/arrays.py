"""A store from activations you already have (computed by another framework, loaded from a file, or made up
for an example): :func:`write_arrays`, the one-call form of :class:`~repscope.store.core.StoreWriter`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.store.core import ActivationStore, StoreWriter, open_store

__all__ = ["write_arrays"]


def write_arrays(
    path: str | os.PathLike,
    arrays: Mapping[str, ArrayLike],
    *,
    labels: ArrayLike | None = None,
    ids: ArrayLike | None = None,
    attributes: Mapping[str, ArrayLike] | None = None,
    layer_meta: Mapping[str, Mapping[str, Any]] | None = None,
    fingerprint: Mapping[str, Any] | None = None,
    dtype: str = "float32",
    overwrite: bool = False,
) -> ActivationStore:
    """Write ``{layer: (n, ...) array}`` (one row per sample, every layer the same ``n``) as a complete,
    checksummed store at ``path`` and open it.

    ``labels`` / ``ids`` (default ``0 … n−1``) / ``attributes`` are stored with the rows; ``layer_meta``
    gives per-layer facts the lenses read (e.g. ``{"fc1": {"module": "Linear"}}`` marks preactivations for the
    descrambling lens). ``fingerprint`` identifies what produced the arrays (a re-run with another one is
    refused unless ``overwrite=True``); by default the layer names, shapes and ``n``.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from repscope.store import write_arrays
    >>> tmp = tempfile.TemporaryDirectory()
    >>> X = np.arange(12.0).reshape(6, 2)
    >>> store = write_arrays(f"{tmp.name}/acts.zarr", {"fc1": X, "fc2": 2 * X}, labels=[0, 1, 0, 1, 0, 1])
    >>> store.layers, store.n_samples, store.read("fc2")[1].tolist(), store.labels.tolist()[:3]
    (['fc1', 'fc2'], 6, [4.0, 6.0], [0, 1, 0])
    >>> tmp.cleanup()
    """
    if not arrays:
        raise InputError("no arrays given; pass {layer name: (n_samples, ...) array}")
    acts = {str(k): np.asarray(v) for k, v in arrays.items()}
    ns = {k: (a.shape[0] if a.ndim else -1) for k, a in acts.items()}
    n = next(iter(ns.values()))
    if n < 1 or any(m != n for m in ns.values()):
        raise InputError(f"every layer needs the same number of rows (samples) ≥ 1; got {ns} — give one row per "
                         "sample in every array")
    row_ids = np.arange(n) if ids is None else np.asarray(ids)
    fp = dict(fingerprint) if fingerprint is not None else {
        "source": "arrays", "n": n, "layers": {k: list(a.shape[1:]) for k, a in acts.items()}}
    with StoreWriter(path, fingerprint=fp, n_total=n, overwrite=overwrite, dtype=dtype) as w:
        w.append(acts, ids=row_ids, labels=None if labels is None else np.asarray(labels),
                 attributes=None if attributes is None else {k: np.asarray(v) for k, v in attributes.items()},
                 layer_meta=layer_meta)
        w.finish()
    return open_store(path)
