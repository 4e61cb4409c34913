"""On-disk activation store (zarr v3): one array per layer, labels, attributes, sample ids, provenance.

Layout of a store directory::

    acts.zarr/
      zarr.json                 root group; attrs["repscope"] = format/version/provenance/layers
      layers/L000 ...           (n_samples, n_features) per layer; attrs: name, shape, pool, nonfinite
      labels                    (n_samples,) optional
      sample_ids                (n_samples,) int64
      attributes/A000 ...       (n_samples,) one per attribute; attrs: name
      progress.json             commit record {"committed": rows, "complete": bool}; atomically replaced

Crash safety: rows are written in whole chunks, and only after every array has received them is
``progress.json`` atomically replaced (write to a temporary file, ``fsync``, ``os.replace``). Rows past
the committed count may be half-written and are never read; a resumed capture overwrites them.

A store may live at any fsspec URL (:mod:`repscope.store.location`), and may be written by several
processes at once, each its own shard of the rows with its own ``progress-shard-NNN.json`` and lock
(:class:`~repscope.store.core.StoreWriter`, ``docs/scale-out.md``).
"""

from repscope.store.arrays import write_arrays
from repscope.store.core import FORMAT_VERSION, ActivationStore, StoreWriter, open_store
from repscope.store.describe import describe_store
from repscope.store.integrity import VerifyResult
from repscope.store.verify import verify_store

__all__ = ["ActivationStore", "StoreWriter", "open_store", "describe_store", "write_arrays", "verify_store",
           "VerifyResult", "FORMAT_VERSION"]
