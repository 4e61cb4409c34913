"""``verify_store(path)``: the deep check of a store on disk (``repscope store verify``)."""

from __future__ import annotations

import os

from repscope.store.core import ActivationStore
from repscope.store.integrity import VerifyResult, scan_store

__all__ = ["verify_store"]


def verify_store(path: str | os.PathLike) -> VerifyResult:
    """Scan and decode every committed chunk of every array of a store (activations, ids, labels,
    attributes); report each missing, truncated or corrupted chunk with its rows. Never raises for
    damage inside chunks (it is listed); raises :class:`StoreError` when the store cannot be opened.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from repscope.store import StoreWriter, verify_store
    >>> tmp = tempfile.TemporaryDirectory()
    >>> with StoreWriter(f"{tmp.name}/acts.zarr", fingerprint={"model": "toy"}, n_total=4) as w:
    ...     w.append({"fc": np.ones((4, 2), dtype="float32")}, ids=np.arange(4))
    ...     w.finish()
    >>> r = verify_store(f"{tmp.name}/acts.zarr")
    >>> r.ok, r.complete, r.n_samples, r.problems
    (True, True, 4, [])
    >>> tmp.cleanup()
    """
    return scan_store(ActivationStore(path, allow_incomplete=True, check=False))
