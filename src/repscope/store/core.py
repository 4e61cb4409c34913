"""ActivationStore (reader) and StoreWriter (chunk-buffered, crash-safe, resumable writer)."""

from __future__ import annotations

import datetime as _dt
import json
import os
import queue
import threading
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from repscope.errors import InputError, StoreError
from repscope.store.integrity import (
    LOCK_PREFIX,
    ArrayCheck,
    CreateLock,
    GuardedArray,
    WriterLock,
    damage_fix,
    guarded_read,
    scan_store,
    shard_lock_name,
)
from repscope.store.location import FsPath, as_location

if TYPE_CHECKING:
    import zarr
    from zarr.core.array_spec import ArrayConfigParams

FORMAT_VERSION = 2  # 2: sharded stores (several writer processes); single-writer stores still write 1
_PROGRESS = "progress.json"
_TARGET_CHUNK_BYTES = 8 * 2**20  # ~8 MiB per chunk of the widest layer


def _repscope_version() -> str:
    from repscope._version import __version__

    return __version__


def _atomic_write_json(path: Path | FsPath, obj: Any) -> None:
    """Replace a small JSON record atomically: locally via a temporary file, ``fsync`` and ``os.replace``;
    on an fsspec filesystem as one object written whole (atomic on object stores: a single PUT)."""
    if isinstance(path, FsPath):
        path.write_text(json.dumps(obj))
        return
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _read_root_meta(path: Path | FsPath) -> dict[str, Any]:
    """Read and check the root metadata of a store directory; raise StoreError with the fix."""
    if not path.exists():
        raise StoreError(f"no activation store at '{path}'; run `repscope capture` (or rs.capture) to create one")
    if not path.is_dir():
        raise StoreError(f"'{path}' is a file, not an activation store directory; pass the store's .zarr directory")
    zjson = path / "zarr.json"
    if not zjson.exists():
        raise StoreError(
            f"'{path}' exists but is not a repscope store (no zarr.json); choose another output path or delete it"
        )
    try:
        meta = json.loads(zjson.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise StoreError(
            f"store '{path}' is corrupt: its zarr.json cannot be parsed ({exc}); re-run the capture"
        ) from exc
    rs = meta.get("attributes", {}).get("repscope") if isinstance(meta, dict) else None
    if not isinstance(rs, dict) or "format_version" not in rs:
        raise StoreError(
            f"'{path}' is a zarr store but not a repscope activation store; choose another path or delete it"
        )
    fv = rs["format_version"]
    if not isinstance(fv, int) or fv > FORMAT_VERSION:
        raise StoreError(
            f"store '{path}' was written with store format {fv} (repscope {rs.get('repscope_version', '?')}); "
            f"this repscope ({_repscope_version()}) reads format ≤ {FORMAT_VERSION} — upgrade repscope"
        )
    return rs


def _read_progress(path: Path | FsPath) -> dict[str, Any]:
    p = path / _PROGRESS
    if not p.exists():
        return {"committed": 0, "complete": False, "nonfinite": {}, "error": None}
    try:
        prog = json.loads(p.read_text())
        int(prog["committed"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise StoreError(
            f"store '{path}' has a corrupt {_PROGRESS} ({exc}); re-run the capture with overwrite=True"
        ) from exc
    return prog


def shard_rows(n_total: int, chunk_rows: int, shard: int, n_shards: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of shard ``shard`` of ``n_shards`` of a store of ``n_total`` rows in chunks of
    ``chunk_rows``: the chunks are dealt out in contiguous runs as even as possible (shard ``i`` gets chunks
    ``i·C//k … (i+1)·C//k``), so every boundary is a chunk boundary and no two shards ever write one chunk."""
    n_chunks = -(-int(n_total) // int(chunk_rows))
    lo = shard * n_chunks // n_shards * chunk_rows
    hi = min((shard + 1) * n_chunks // n_shards * chunk_rows, int(n_total))
    return lo, hi


def shard_progress_name(shard: int) -> str:
    return f"progress-shard-{shard:03d}.json"


def _read_json_record(path: Path | FsPath, what: str) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        rec = json.loads(path.read_text())
        int(rec["committed"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"store '{path.parent}' has a corrupt {what} ({exc}); re-run the capture") from exc
    return rec


def _sharded_progress(path: Path | FsPath, meta: Mapping[str, Any]) -> dict[str, Any]:
    """The commit state of a store written by ``n_shards`` processes, from their own progress records: the
    visible rows are the committed prefix (every row of shards 0…j-1 plus the committed rows of the first
    incomplete shard j); ``missing`` lists every shard not yet complete, with the command that ran it."""
    k, cr = int(meta["shards"]), meta.get("chunk_rows")
    missing: list[dict[str, Any]] = []
    nonfinite: dict[str, int] = {}
    prefix, in_prefix, error = 0, True, None
    for j in range(k):
        lo, hi = shard_rows(meta["n_total"], cr, j, k) if cr and meta.get("layers") else (0, 0)
        rec = _read_json_record(path / shard_progress_name(j), f"progress record of shard {j}/{k}") if cr else None
        rec = rec or {"committed": lo, "complete": False}
        if in_prefix:
            prefix = int(rec["committed"])
            for name, c in rec.get("nonfinite", {}).items():
                nonfinite[name] = nonfinite.get(name, 0) + int(c)
        if not rec.get("complete"):
            in_prefix = False
            error = error or rec.get("error")
            missing.append({"shard": j, "rows": [lo, hi], "written": max(0, int(rec["committed"]) - lo),
                            "error": rec.get("error"), "command": rec.get("command")})
    return {"committed": prefix, "complete": not missing, "nonfinite": nonfinite, "error": error,
            "missing": missing, "shards": k}


def _incomplete_message(path: Path | FsPath, prog: Mapping[str, Any], n_total: Any) -> str:
    if prog.get("shards"):
        k = prog["shards"]
        parts = [f"shard {m['shard']}/{k} (rows {m['rows'][0]}–{m['rows'][1] - 1}: {m['written']} written"
                 + (f", stopped with: {m['error']}" if m["error"] else "") + ")" for m in prog["missing"][:8]]
        cmd = next((m["command"] for m in prog["missing"] if m.get("command")), None)
        eg = f" (e.g. `{cmd}`)" if cmd else ""
        return (f"store '{path}' is incomplete: {len(prog['missing'])} of {k} shards not committed — "
                f"{'; '.join(parts)}; re-run the same capture with shard=(i, {k}) (--shard i/{k}) for each "
                f"missing shard i to resume it{eg}, or open_store(path, allow_incomplete=True) to read the "
                f"complete prefix ({prog['committed']} rows)")
    total = f" of {n_total}" if n_total else ""
    err = prog.get("error")
    why = f" (capture stopped with: {err})" if err else ""
    return (f"store '{path}' is incomplete: {prog['committed']}{total} rows written{why}; "
            f"re-run the same capture to resume, or open_store(path, allow_incomplete=True) to read "
            f"the complete prefix")


class ActivationStore:
    """Read access to a repscope activation store.

    Use :func:`open_store`. Only *committed* rows are visible: a store left incomplete by a crash or an
    interrupted capture shows the complete prefix when opened with ``allow_incomplete=True``.

    Every read checks the chunks it touches: a missing, truncated or checksum-failing chunk inside the
    committed rows raises :class:`StoreError` naming the array, the rows and the fix — never zeros or
    garbage.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from repscope.store import ActivationStore, StoreWriter, open_store
    >>> tmp = tempfile.TemporaryDirectory()
    >>> with StoreWriter(f"{tmp.name}/acts.zarr", fingerprint={"model": "toy"}, n_total=6) as w:
    ...     w.append({"conv": np.zeros((6, 2, 3, 3), dtype="float32")}, ids=np.arange(6),
    ...              attributes={"colour": np.array([0, 1, 0, 1, 0, 1])})
    ...     w.finish()
    >>> s = open_store(f"{tmp.name}/acts.zarr")
    >>> isinstance(s, ActivationStore), s.layer_shape("conv"), s.read("conv", rows=[0, 2]).shape
    (True, (2, 3, 3), (2, 18))
    >>> sorted(s.attributes), s.sample_ids.tolist()
    (['colour'], [0, 1, 2, 3, 4, 5])
    >>> tmp.cleanup()
    """

    def __init__(self, path: str | os.PathLike | FsPath, *, allow_incomplete: bool = False,
                 check: bool = True) -> None:
        import zarr

        self.path = as_location(path)
        self._meta = _read_root_meta(self.path)
        if self._meta.get("shards"):
            self._progress = _sharded_progress(self.path, self._meta)
        else:
            self._progress = _read_progress(self.path)
        self.complete: bool = bool(self._progress.get("complete"))
        if not self.complete and not allow_incomplete:
            raise StoreError(_incomplete_message(self.path, self._progress, self._meta.get("n_total")))
        try:
            self._group = zarr.open_group(str(self.path), mode="r")
        except Exception as exc:
            raise StoreError(f"store '{self.path}' cannot be opened by zarr ({exc}); re-run the capture") from exc
        self.n_samples: int = int(self._progress["committed"])
        self._layers = {d["name"]: d for d in self._meta.get("layers", [])}
        self._checked: dict[str, tuple[Any, ArrayCheck]] = {}
        self.already_complete = False  # set by capture() when it returned an existing complete store
        if check:
            self.check_structure()

    # ------------------------------------------------------------------ integrity
    def _open_checked(self, key: str, label: str) -> tuple[Any, ArrayCheck]:
        """(zarr array, its chunk checker) for a path inside the store; torn metadata → StoreError."""
        if key not in self._checked:
            import zarr

            try:
                arr = self._group[key]
                if not isinstance(arr, zarr.Array):
                    raise TypeError(f"{key} is a group, not an array")
                chk = ArrayCheck.of(self.path, arr, label,
                                    chunks_always_written=bool(self._meta.get("chunks_always_written")))
            except Exception as exc:  # noqa: BLE001 - missing or unparsable array metadata
                raise StoreError(
                    f"store '{self.path}': {label} cannot be opened ({type(exc).__name__}: {exc}); "
                    f"{damage_fix(self.path)}"
                ) from None
            if self.n_samples and arr.shape[0] < self.n_samples:
                raise StoreError(
                    f"store '{self.path}': {label} has {arr.shape[0]} rows but {self.n_samples} are committed; "
                    f"{damage_fix(self.path)}"
                )
            self._checked[key] = (arr, chk)
        return self._checked[key]

    def _all_checked_arrays(self) -> list[tuple[str, Any, ArrayCheck]]:
        keys = [(f"layers/{d['key']}", f"layer {d['name']!r}") for d in self._layers.values()]
        if self._layers:
            keys.append(("sample_ids", "sample_ids"))
            if self._meta.get("has_labels") or "labels" in self._group:
                keys.append(("labels", "labels"))
            keys += [(f"attributes/{d['key']}", f"attribute {d['name']!r}") for d in self._meta.get("attributes", [])]
        return [(label, *self._open_checked(key, label)) for key, label in keys]

    @property
    def incomplete_reason(self) -> str | None:
        """Why the store is not complete and how to finish it (for a sharded store: the missing shards and
        the command that resumes them); None when complete."""
        return None if self.complete else _incomplete_message(self.path, self._progress, self._meta.get("n_total"))

    @property
    def has_checksums(self) -> bool:
        """True when every array's chunks carry a CRC-32C checksum (stores from this repscope on)."""
        arrays = self._all_checked_arrays()
        return bool(arrays) and all(chk.checksum for _, _, chk in arrays)

    def check_structure(self) -> None:
        """Cheap structural check (no decoding): every array's metadata opens and every committed chunk file
        exists with a plausible size. Raises :class:`StoreError` naming the first damaged chunk."""
        for _label, _arr, chk in self._all_checked_arrays():
            chk.check_rows(0, self.n_samples, self.n_samples, store=self.path)

    def verify(self):
        """Decode every committed chunk (see :func:`repscope.store.verify_store`)."""
        return scan_store(ActivationStore(self.path, allow_incomplete=True, check=False))

    def _read(self, key: str, label: str, start: int, stop: int, fn: Any) -> np.ndarray:
        arr, chk = self._open_checked(key, label)
        return np.asarray(guarded_read(chk, arr, start, stop, self.n_samples, self.path, lambda: fn(arr)))

    def _column(self, key: str, label: str) -> np.ndarray:
        n = self.n_samples
        return self._read(key, label, 0, n, lambda a: a[:n])

    # ------------------------------------------------------------------ metadata
    @property
    def layers(self) -> list[str]:
        """Layer (module) names in execution order (:attr:`execution_order`, recorded at capture); for stores
        captured before repscope recorded it, in the stored order (module registration order, see
        :attr:`layer_order_note`)."""
        return self.execution_order or list(self._layers)

    @property
    def execution_order(self) -> list[str] | None:
        """Layers in the order their modules ran in the first forward pass, as recorded at capture (the
        order of the first forward-hook call: a container's output comes after its children's, whatever order
        ``__init__`` registered them in); stored per layer as ``layer_info(layer)["exec_index"]``. ``None``
        for stores captured before repscope recorded it."""
        if self._layers and all(isinstance(d.get("exec_index"), int) for d in self._layers.values()):
            return sorted(self._layers, key=lambda n: self._layers[n]["exec_index"])
        return None

    @property
    def layer_order_note(self) -> str | None:
        """None when :attr:`layers` is the execution order; else a one-sentence note saying it is not."""
        if self.execution_order is not None or len(self._layers) < 2:
            return None
        return (f"store '{self.path.name}' does not record the order in which its layers ran (captured before "
                f"repscope recorded it): layers are taken in their stored (module registration) order, which "
                f"can differ from execution order — readings of neighbouring layers and trends with depth "
                f"assume it; re-capture to record the execution order")

    @property
    def metadata(self) -> dict[str, Any]:
        """Provenance: format/repscope version, creation time, model, dataset, capture options."""
        return dict(self._meta)

    def layer_shape(self, layer: str) -> tuple[int, ...]:
        """Per-sample shape of a layer as captured (e.g. ``(C, H, W)`` for ``pool="none"``)."""
        return tuple(self._info(layer)["shape"])

    def layer_info(self, layer: str) -> dict[str, Any]:
        """Everything recorded about a layer: key, shape, pool, dtype, hook point."""
        return dict(self._info(layer))

    def n_features(self, layer: str) -> int:
        return int(np.prod(self.layer_shape(layer)))

    def nonfinite(self, layer: str) -> int:
        """Number of NaN/Inf values recorded in a layer's committed rows."""
        self._info(layer)
        return int(self._progress.get("nonfinite", {}).get(layer, 0))

    def _info(self, layer: str) -> dict[str, Any]:
        if layer not in self._layers:
            from difflib import get_close_matches

            close = get_close_matches(layer, list(self._layers), n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise InputError(
                f"layer {layer!r} is not in store '{self.path}'.{hint} Stored layers: {', '.join(self._layers)}"
            )
        return self._layers[layer]

    # ------------------------------------------------------------------ data
    def _layer_key(self, layer: str) -> tuple[str, str]:
        return f"layers/{self._info(layer)['key']}", f"layer {layer!r}"

    def _array(self, layer: str):
        return self._open_checked(*self._layer_key(layer))[0]

    def read(self, layer: str, rows: Any = None, *, nonfinite: str = "allow") -> np.ndarray:
        """Return a layer as a 2-D numpy array ``(n_rows, n_features)``.

        ``rows``: None (all committed rows), a slice, integer indices, or a boolean mask.
        ``nonfinite``: ``"allow"`` returns values as stored, ``"raise"`` raises if any row has NaN/Inf.
        """
        key, label = self._layer_key(layer)
        arr = self._array(layer)
        n = self.n_samples
        if rows is None:
            out = self._read(key, label, 0, n, lambda a: a[:n])
        elif isinstance(rows, slice):
            start, stop, step = rows.indices(n)
            if step > 0:
                out = self._read(key, label, start, stop, lambda a: a[start:stop:step])
            else:
                out = self._read(key, label, 0, n, lambda a: a[:n])[rows]
        else:
            idx = np.asarray(rows)
            if idx.dtype == bool:
                if idx.shape != (n,):
                    raise InputError(f"boolean row mask has shape {idx.shape}; expected ({n},)")
                idx = np.flatnonzero(idx)
            idx = idx.astype(np.int64)
            if idx.size and (idx.min() < -n or idx.max() >= n):
                raise InputError(f"row index out of range for {n} samples")
            idx = np.where(idx < 0, idx + n, idx)
            order = np.argsort(idx, kind="stable")
            uniq, inv = np.unique(idx[order], return_inverse=True)
            if uniq.size:
                got = self._read(key, label, int(uniq[0]), int(uniq[-1]) + 1, lambda a: a.oindex[uniq])
            else:
                got = np.empty((0, arr.shape[1]), arr.dtype)
            out = np.empty((idx.size, arr.shape[1]), dtype=arr.dtype)
            out[order] = got[inv]
        out = np.asarray(out)
        if nonfinite == "raise" and not np.isfinite(out).all():
            raise InputError(
                f"layer {layer!r} contains NaN/Inf activations; analyses cannot use them — drop the rows "
                f"(store.finite_rows(layer)) or fix the model"
            )
        return out

    def dask_array(self, layer: str, *, block_rows: int | None = None):
        """The layer's committed rows as a lazy 2-D ``dask.array`` (chunked like the store, or in blocks of
        ``block_rows`` rounded to whole chunks) whose blocks are read with the same damage checks as
        :meth:`read`; it pickles to dask workers (they reopen the store by path)."""
        import dask.array as da

        key, label = self._layer_key(layer)
        arr = self._array(layer)
        chunk = int(arr.chunks[0])
        step = chunk if block_rows is None else max(chunk, (int(block_rows) // chunk) * chunk)
        view = GuardedArray(str(self.path), key, label, self.n_samples, tuple(arr.shape), arr.dtype,
                            bool(self._meta.get("chunks_always_written")))
        return da.from_array(view, chunks=(step, arr.shape[1]), asarray=True, fancy=False)

    def finite_rows(self, layer: str) -> np.ndarray:
        """Boolean mask of rows whose activations are all finite."""
        mask = np.empty(self.n_samples, dtype=bool)
        for start, block in self.iter_rows(layer):
            mask[start : start + len(block)] = np.isfinite(block).all(axis=1)
        return mask

    def iter_rows(self, layer: str, block_rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start_row, block)`` over committed rows, aligned to chunk boundaries.

        Memory stays flat: one block at a time (default block = one chunk).
        """
        key, label = self._layer_key(layer)
        arr = self._array(layer)
        chunk = int(arr.chunks[0])
        step = chunk if block_rows is None else max(chunk, (int(block_rows) // chunk) * chunk)
        for start in range(0, self.n_samples, step):
            stop = min(start + step, self.n_samples)
            yield start, self._read(key, label, start, stop, lambda a, s=start, e=stop: a[s:e])

    @property
    def labels(self) -> np.ndarray | None:
        if "labels" not in self._group:
            return None
        return self._column("labels", "labels")

    @property
    def sample_ids(self) -> np.ndarray:
        return self._column("sample_ids", "sample_ids")

    @property
    def attributes(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for d in self._meta.get("attributes", []):
            out[d["name"]] = self._column(f"attributes/{d['key']}", f"attribute {d['name']!r}")
        return out

    def to_xarray(self, layer: str, rows: Any = None) -> Any:
        """``layer`` as a Brain-Score-like presentation × neuroid ``xarray.DataArray`` (store/xarray.py)."""
        from repscope.store.xarray import layer_xarray

        return layer_xarray(self, layer, rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "complete": self.complete,
            "n_samples": self.n_samples,
            "checksums": self.has_checksums,
            "layers": {k: {"shape": v["shape"], "pool": v.get("pool"), "dtype": v.get("dtype"),
                           "nonfinite": self.nonfinite(k)} for k, v in ((n, self._layers[n]) for n in self.layers)},
            "execution_order": self.execution_order is not None,
            "attributes": [d["name"] for d in self._meta.get("attributes", [])],
            "has_labels": "labels" in self._group,
            "metadata": {k: v for k, v in self._meta.items() if k not in ("layers", "attributes")},
        }

    def __repr__(self) -> str:
        state = "complete" if self.complete else "INCOMPLETE"
        return f"ActivationStore('{self.path}', n_samples={self.n_samples}, layers={self.layers}, {state})"


def open_store(path: str | os.PathLike, *, allow_incomplete: bool = False) -> ActivationStore:
    """Open an activation store for reading.

    Raises :class:`~repscope.errors.StoreError` when the path is missing, not a repscope store, written
    by a newer format, corrupt (a committed chunk file missing or implausibly small, unreadable array
    metadata), or incomplete (unless ``allow_incomplete=True``, which exposes the committed prefix).
    Chunk contents are checksum-verified when read; :func:`verify_store` decodes every chunk.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from repscope.store import StoreWriter, open_store
    >>> tmp = tempfile.TemporaryDirectory()
    >>> with StoreWriter(f"{tmp.name}/acts.zarr", fingerprint={"model": "toy"}, n_total=5) as w:
    ...     w.append({"h": np.eye(5, dtype="float32")}, ids=np.arange(5), labels=np.array([0, 1, 0, 1, 0]))
    ...     w.finish()
    >>> store = open_store(f"{tmp.name}/acts.zarr")
    >>> store.layer_shape("h"), store.labels.tolist()
    ((5,), [0, 1, 0, 1, 0])
    >>> tmp.cleanup()
    """
    return ActivationStore(path, allow_incomplete=allow_incomplete)


# ====================================================================================== writer


def _key(prefix: str, i: int) -> str:
    return f"{prefix}{i:03d}"


def _column_dtype(values: np.ndarray) -> Any:
    if values.dtype.kind in "USO":
        return str
    return values.dtype


class StoreWriter:
    """Chunk-buffered, crash-safe, resumable writer (used by :func:`repscope.capture`).

    Rows are buffered until a whole chunk is available for every array, written by a background
    thread (encoding and I/O overlap with the next forward passes), then committed by atomically
    replacing ``progress.json``. Layer chunks are encoded and written straight to their chunk files, a
    few at a time (:class:`_DirectChunks`: the bytes zarr would write, without its asynchronous
    machinery); ``compression="auto"`` keeps lz4 only for layers it shrinks by ≥ 10 %.

    One writer per store: the constructor takes the store's writer lock (pid + host recorded; a lock
    left by a dead writer is taken over) and :meth:`finish`/:meth:`abort`/:meth:`close` release it.
    A store with no committed rows (e.g. killed while being created) is restarted from scratch.
    :meth:`append` may be called from several threads.

    Distributed capture (``shard=(i, k)``): ``k`` writer processes fill one store, writer ``i`` only the rows
    :func:`shard_rows` gives it (whole chunks, so no two writers ever touch one chunk file). Each has its
    own lock (``.repscope-writer-shard-i.lock``) and its own commit record (``progress-shard-i.json``, the
    same atomic replace); the arrays are created once, by whichever writer first takes the store's
    :class:`~repscope.store.integrity.CreateLock` (the others wait for it, then check the fingerprint), with
    all ``n_total`` rows, and never resized. The store is complete when every shard's record says so; a
    killed shard resumes alone from its own committed rows. The row range needs the chunk size, which the
    creator learns from its first batch: call :meth:`set_chunk_rows` before appending (see
    ``shard_range``).

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from repscope.store import StoreWriter, open_store
    >>> tmp = tempfile.TemporaryDirectory()
    >>> with StoreWriter(f"{tmp.name}/acts.zarr", fingerprint={"model": "toy"}, n_total=8) as w:
    ...     for start in (0, 4):                                     # two batches of 4 samples
    ...         rows = np.arange(start, start + 4)
    ...         w.append({"fc1": np.ones((4, 3), dtype="float32") * rows[:, None]}, ids=rows, labels=rows % 2)
    ...     w.finish()
    >>> s = open_store(f"{tmp.name}/acts.zarr")
    >>> s.layers, s.n_samples, s.read("fc1")[:, 0].tolist()
    (['fc1'], 8, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    >>> tmp.cleanup()
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        fingerprint: Mapping[str, Any],
        provenance: Mapping[str, Any] | None = None,
        n_total: int | None = None,
        resume: bool = True,
        overwrite: bool = False,
        dtype: str = "float32",
        chunk_rows: int | None = None,
        compression: str = "auto",
        shard: tuple[int, int] | None = None,
    ) -> None:
        self.path = as_location(path)
        self.shard = _check_shard(shard, n_total)
        self.shard_range: tuple[int, int] | None = None  # rows [lo, hi) of this shard, once chunk_rows is known
        self.chunk_rows: int | None = None  # rows per chunk, once the arrays exist (first batch, or a resumed store)
        self.dtype = np.dtype(dtype)
        self._fingerprint = json.loads(json.dumps(dict(fingerprint), default=str))
        self._chunk_rows_req = chunk_rows
        if compression != "auto":
            _compressors(compression)  # validates the name
        self._compression = compression
        self.n_total = n_total
        self._buf: dict[str, list[np.ndarray]] = {}
        self._buf_labels: list[np.ndarray] = []
        self._buf_ids: list[np.ndarray] = []
        self._buf_attrs: dict[str, list[np.ndarray]] = {}
        self._buffered = 0
        self._submitted = 0  # rows handed to the writer thread (main side, under _append_lock)
        self._nonfinite: dict[str, int] = {}
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._worker: threading.Thread | None = None
        self._worker_error: BaseException | None = None
        self._state_lock = threading.Lock()  # committed / _nonfinite / _worker_error (shared with the worker)
        self._append_lock = threading.RLock()  # buffers and _submitted (callers may append concurrently)
        self._committed = 0
        self.resumed_rows = 0

        _refuse_foreign(self.path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create store directory '{self.path}' ({exc.strerror or exc}); choose a "
                             f"writable output path") from exc
        if self.shard is None:
            self._lock = WriterLock(self.path).acquire()
        else:
            i, k = self.shard
            self._lock = WriterLock(self.path, shard_lock_name(i), f" (shard {i}/{k})").acquire()
        self._create_lock: CreateLock | None = None
        try:
            self._create_lock = CreateLock(self.path, unlink=self.shard is None).acquire()
            if self.shard is None:
                self._open_locked(resume=resume, overwrite=overwrite, provenance=provenance)
            else:
                self._open_shard(self.shard, resume=resume, overwrite=overwrite, provenance=provenance)
        except BaseException:
            self._release_create()
            self._lock.release()
            raise
        if self._meta.get("layers"):
            self._release_create()  # the arrays exist: nothing left to create

    def _release_create(self) -> None:
        if self._create_lock is not None:
            self._create_lock.release()
            self._create_lock = None

    @property
    def _progress_path(self) -> Path | FsPath:
        return self.path / (_PROGRESS if self.shard is None else shard_progress_name(self.shard[0]))

    def _new_meta(self, provenance: Mapping[str, Any] | None) -> dict[str, Any]:
        return {
            "format_version": 1 if self.shard is None else FORMAT_VERSION,
            "repscope_version": _repscope_version(),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "n_total": self.n_total,
            "dtype": self.dtype.name,
            "fingerprint": self._fingerprint,
            "layers": [],
            "attributes": [],
            "chunk_rows": None,
            "checksum": "crc32c",
            "chunks_always_written": True,
            **({} if self.shard is None else {"shards": self.shard[1]}),
            **json.loads(json.dumps(dict(provenance or {}), default=str)),
        }

    def _open_shard(self, shard: tuple[int, int], *, resume: bool, overwrite: bool,
                    provenance: Mapping[str, Any] | None) -> None:
        """Open (or, as the first writer, create) a store written by several processes; see the class doc."""
        import zarr

        i, k = shard
        if overwrite:
            raise StoreError(
                f"overwrite=True (--overwrite) is refused with shard=: one shard would delete the rows the others "
                f"are writing; delete the store '{self.path}' once no capture writes to it, then start every shard"
            )
        try:
            meta = _read_root_meta(self.path)
        except StoreError:
            meta = None
        if meta is not None and not meta.get("shards") and _has_rows(self.path):
            raise StoreError(
                f"store '{self.path}' was written by a single capture process, not in shards; write the shards "
                f"to another path, or delete this store first"
            )
        if meta is None or not meta.get("layers"):
            # We hold the create lock and no arrays exist: we are the creator (an unfinished creation by a
            # killed writer is redone from scratch; no other writer writes before the arrays exist).
            if _has_content(self.path):
                _clear_dir(self.path)
            self._group = zarr.open_group(str(self.path), mode="a")
            self._meta = self._new_meta(provenance)
            self._save_meta()
            self.complete = False
            _atomic_write_json(self.path / _PROGRESS, {"committed": 0, "complete": False, "nonfinite": {},
                                                       "error": None, "shards": k})
            self.chunk_rows = None
            return
        if not resume:
            raise StoreError(f"store '{self.path}' already exists; pass resume=True to write shard {i}/{k} "
                             f"into it, or choose another path")
        _refuse_other_capture(self.path, meta.get("fingerprint", {}), self._fingerprint, "is being captured",
                              "every shard must run the same capture — fix this shard's arguments, or write to "
                              "another path")
        self._meta = meta
        try:
            self._group = zarr.open_group(str(self.path), mode="a")
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"store '{self.path}' cannot be reopened ({exc}); {damage_fix(self.path)}") from None
        self.set_chunk_rows(int(meta["chunk_rows"]))

    def set_chunk_rows(self, chunk_rows: int) -> None:
        """Fix the chunk size of a sharded store and so this shard's rows (``shard_range``); resume from
        this shard's own commit record, after checking the chunks it committed."""
        if self.shard is None:
            raise InputError("set_chunk_rows is for a sharded writer (StoreWriter(..., shard=(i, k))); a single "
                             "writer fixes its chunk size from its first batch — just append")
        i, k = self.shard
        n_total = self.n_total
        assert n_total is not None  # _check_shard refuses shard= without n_total
        cr = self.chunk_rows = self._chunk_rows_req = int(chunk_rows)
        n_chunks = -(-int(n_total) // cr)
        if k > n_chunks:
            raise InputError(
                f"shard={i, k}: the store has only {n_chunks} chunks of {cr} rows, fewer than {k} "
                f"shards; use at most {n_chunks} shards, or a smaller chunk_rows (--chunk-rows)"
            )
        lo, hi = self.shard_range = shard_rows(n_total, cr, i, k)
        rec = _read_json_record(self._progress_path, f"progress record of shard {i}/{k}")
        if rec is not None and (rec.get("rows") != [lo, hi] or not lo <= int(rec["committed"]) <= hi):
            raise StoreError(f"store '{self.path}': the progress record of shard {i}/{k} does not match its rows "
                             f"{lo}–{hi - 1}; {damage_fix(self.path)}")
        self._committed = self._submitted = int(rec["committed"]) if rec else lo
        self.resumed_rows = self._committed - lo
        self.complete = bool(rec and rec.get("complete"))
        self._nonfinite = dict((rec or {}).get("nonfinite", {}))
        if self._meta.get("layers") and self._committed > lo:  # refuse to extend damage
            st = ActivationStore(self.path, allow_incomplete=True, check=False)
            for _label, _arr, chk in st._all_checked_arrays():
                chk.check_rows(lo, self._committed, n_total, store=self.path)
        if rec is None:
            self._commit(lo, complete=False)

    def _open_locked(self, *, resume: bool, overwrite: bool, provenance: Mapping[str, Any] | None) -> None:
        import zarr

        prog = _read_progress(self.path) if (self.path / _PROGRESS).exists() else None
        try:
            meta = _read_root_meta(self.path)
        except StoreError:
            meta = None
        if meta is not None and meta.get("shards"):
            raise StoreError(
                f"store '{self.path}' is written in {meta['shards']} shards by separate processes; resume it with "
                f"shard=(i, {meta['shards']}) (--shard i/{meta['shards']}) for each shard, or write to another "
                f"path (delete this store first to replace it)"
            )
        restartable = meta is None or prog is None or (int(prog["committed"]) == 0 and not prog.get("complete"))
        if overwrite or (restartable and _has_content(self.path)):
            # Nothing committed (creation was interrupted) or a replacement was asked for: start afresh.
            _clear_dir(self.path)
            meta = None
        if meta is not None and prog is not None:  # (no progress record: restartable, so cleared just above)
            if not resume:
                raise StoreError(
                    f"store '{self.path}' already exists; pass resume=True to continue it, overwrite=True "
                    f"(--overwrite) to replace it, or choose another path"
                )
            _refuse_other_capture(self.path, meta.get("fingerprint", {}), self._fingerprint, "was captured",
                                  "its rows would mix two captures — use overwrite=True (--overwrite) to replace "
                                  "it or choose another path")
            self._meta = meta
            self._committed = int(prog["committed"])
            self.resumed_rows = self._committed
            self._submitted = self._committed
            self.complete = bool(prog.get("complete"))
            self._nonfinite = dict(prog.get("nonfinite", {}))
            try:
                ActivationStore(self.path, allow_incomplete=True)  # structural check: refuse to extend damage
                self._group = zarr.open_group(str(self.path), mode="a")
            except StoreError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise StoreError(f"store '{self.path}' cannot be reopened ({exc}); {damage_fix(self.path)}") from None
            self.chunk_rows = int(meta["chunk_rows"]) if meta.get("chunk_rows") else None
        else:
            self._group = zarr.open_group(str(self.path), mode="a")  # keeps the lock file
            self._meta = self._new_meta(provenance)
            self._save_meta()
            self.complete = False
            self._commit(0, complete=False)
            self.chunk_rows = None

    @property
    def attribute_names(self) -> list[str] | None:
        """Names of the store's attribute columns once its arrays exist (after the first batch, or on a
        resumed store), else None: a batch must then carry exactly these."""
        if not self._meta.get("layers"):
            return None
        return [d["name"] for d in self._meta.get("attributes", [])]

    @property
    def committed(self) -> int:
        """Rows durably written and recorded in ``progress.json``."""
        with self._state_lock:
            return self._committed

    def close(self) -> None:
        """Release the writer lock (after :meth:`finish` or :meth:`abort`; idempotent)."""
        self._release_create()
        self._lock.release()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ metadata
    def _save_meta(self) -> None:
        self._group.attrs["repscope"] = self._meta

    def _commit(self, rows: int, *, complete: bool, error: str | None = None) -> None:
        with self._state_lock:
            nonfinite = dict(self._nonfinite)
        rec = {"committed": int(rows), "complete": bool(complete), "nonfinite": nonfinite, "error": error}
        if self.shard is not None:
            rec.update(shard=self.shard[0], of=self.shard[1], rows=list(self._own_rows()), command=_command_line())
        _atomic_write_json(self._progress_path, rec)

    def _own_rows(self) -> tuple[int, int]:
        """This shard's rows ``[lo, hi)``; known once :meth:`set_chunk_rows` has fixed the chunk size."""
        if self.shard_range is None:
            raise InputError("a sharded StoreWriter knows its rows only once its chunk size is fixed: call "
                             "writer.set_chunk_rows(writer.plan_chunk_rows(acts)) before the first append")
        return self.shard_range

    def plan_chunk_rows(self, acts: Mapping[str, np.ndarray]) -> int:
        """Rows per chunk: the requested ``chunk_rows``, else the largest power of two (16…4096) whose chunk of
        the widest layer stays within ~8 MiB."""
        if self._chunk_rows_req:
            return int(self._chunk_rows_req)
        widest = max(int(np.prod(a.shape[1:])) for a in acts.values()) * self.dtype.itemsize
        cr = 1
        while cr * 2 * widest <= _TARGET_CHUNK_BYTES and cr < 4096:
            cr *= 2
        return max(cr, 16)

    def _create_arrays(self, acts: Mapping[str, np.ndarray], labels, ids, attrs, layer_meta) -> None:
        """Create every array on the first batch (feature sizes are known only then)."""
        cr = self.chunk_rows = self.plan_chunk_rows(acts)
        shape0 = self.n_total if self.n_total is not None else 0
        lg = self._group.require_group("layers")
        layers = []
        for i, (name, a) in enumerate(acts.items()):
            key = _key("L", i)
            d = int(np.prod(a.shape[1:]))
            comp = self._compression if self._compression != "auto" else _auto_compression(a, self.dtype)
            lg.create_array(key, shape=(shape0, d), chunks=(cr, d), dtype=self.dtype, fill_value=0,
                            compressors=_compressors(comp), config=_ALWAYS_WRITE, attributes={"name": name})
            layers.append({"name": name, "key": key, "shape": list(a.shape[1:]), "dtype": self.dtype.name,
                           "compression": comp, **(layer_meta or {}).get(name, {})})
        self._group.create_array("sample_ids", shape=(shape0,), chunks=(cr,), dtype="int64", fill_value=-1,
                                 compressors=_column_compressors(), config=_ALWAYS_WRITE)
        if labels is not None:
            self._group.create_array("labels", shape=(shape0,), chunks=(cr,), dtype=_column_dtype(labels),
                                     compressors=_column_compressors(), config=_ALWAYS_WRITE)
        ag = self._group.require_group("attributes")
        attributes = []
        for i, (name, v) in enumerate((attrs or {}).items()):
            key = _key("A", i)
            ag.create_array(key, shape=(shape0,), chunks=(cr,), dtype=_column_dtype(v),
                            compressors=_column_compressors(), config=_ALWAYS_WRITE, attributes={"name": name})
            attributes.append({"name": name, "key": key})
        self._meta.update(layers=layers, attributes=attributes, chunk_rows=cr, has_labels=labels is not None)
        self._save_meta()
        self._release_create()  # every array exists: other writers (shards) may open the store now

    # ------------------------------------------------------------------ writing
    def append(
        self,
        acts: Mapping[str, np.ndarray],
        *,
        ids: np.ndarray,
        labels: np.ndarray | None = None,
        attributes: Mapping[str, np.ndarray] | None = None,
        layer_meta: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Buffer one batch; whole chunks are handed to the writer thread as soon as they are full.

        Thread-safe: concurrent callers' batches are stored whole and in the order the calls acquire the
        writer (each batch's rows stay together)."""
        with self._append_lock:
            self._append(acts, ids=ids, labels=labels, attributes=attributes, layer_meta=layer_meta)

    def _append(self, acts, *, ids, labels, attributes, layer_meta) -> None:
        self._raise_worker_error()
        if self.shard is not None:
            self._own_rows()  # a shard must know its rows before its first batch
        if not self._meta["layers"]:
            self._create_arrays(acts, labels, ids, attributes, layer_meta)
        cr = self.chunk_rows
        if cr is None:
            raise StoreError(f"store '{self.path}' has arrays but no chunk_rows in its metadata; "
                             f"{damage_fix(self.path)}")
        names = [d["name"] for d in self._meta["layers"]]
        if list(acts) != names:
            raise StoreError(f"batch layers {list(acts)} do not match the store's layers {names}")
        b = len(ids)
        for d in self._meta["layers"]:
            a = acts[d["name"]]
            if list(a.shape[1:]) != list(d["shape"]):
                raise StoreError(
                    f"layer {d['name']!r} produced per-sample shape {tuple(a.shape[1:])} but the store has "
                    f"{tuple(d['shape'])}; the same layer must have the same shape for every batch "
                    f"(pad/crop inputs, or capture with pool='mean')"
                )
        for d in self._meta["layers"]:
            flat = acts[d["name"]].reshape(b, -1)
            if flat.dtype != self.dtype:
                flat = flat.astype(self.dtype)
            self._buf.setdefault(d["name"], []).append(flat)
        self._buf_ids.append(np.asarray(ids, dtype=np.int64))
        if labels is not None:
            self._buf_labels.append(np.asarray(labels))
        for name, v in (attributes or {}).items():
            self._buf_attrs.setdefault(name, []).append(np.asarray(v))
        self._buffered += b
        if self._buffered >= cr:
            self._flush(cr)

    def _take(self, lst: list[np.ndarray], n: int) -> np.ndarray:
        cat = np.concatenate(lst) if len(lst) > 1 else lst[0]
        lst.clear()
        if len(cat) > n:
            lst.append(cat[n:])
        return cat[:n]

    def _flush(self, chunk_rows: int | None) -> None:
        """Hand the buffered rows to the writer thread: whole chunks of ``chunk_rows`` rows, or all (None)."""
        n = (self._buffered // chunk_rows) * chunk_rows if chunk_rows is not None else self._buffered
        if n == 0:
            return
        # ``_submitted`` is only touched by appending threads (under _append_lock), never by the writer
        # thread, so the start row of a job cannot race with a commit.
        start = self._submitted
        job = {
            "start": start,
            "n": n,
            "layers": {name: self._take(lst, n) for name, lst in self._buf.items()},
            "ids": self._take(self._buf_ids, n),
            "labels": self._take(self._buf_labels, n) if self._buf_labels else None,
            "attrs": {name: self._take(lst, n) for name, lst in self._buf_attrs.items()},
        }
        self._buffered -= n
        self._submitted += n
        self._submit(job)

    def _submit(self, job: dict[str, Any]) -> None:
        if self._worker is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="repscope-store-io")
            self._worker = threading.Thread(target=self._run_worker, name="repscope-store-writer", daemon=True)
            self._worker.start()
        while True:
            self._raise_worker_error()
            try:
                self._queue.put(job, timeout=0.5)
                return
            except queue.Full:
                continue

    def _run_worker(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                self._queue.task_done()
                return
            try:
                if self._worker_error is None:
                    self._write_job(job)
            except BaseException as exc:  # surfaced in the main thread
                with self._state_lock:
                    self._worker_error = exc
            finally:
                self._queue.task_done()

    def _handles(self) -> dict[tuple[str, str], zarr.Array]:
        """Array handles opened once (opening re-reads metadata from disk)."""
        if getattr(self, "_arrays", None) is None:
            g = self._group
            h = {("L", d["name"]): _array_in(g, f"layers/{d['key']}") for d in self._meta["layers"]}
            h[("ids", "")] = _array_in(g, "sample_ids")
            if "labels" in g:
                h[("labels", "")] = _array_in(g, "labels")
            h.update({("A", d["name"]): _array_in(g, f"attributes/{d['key']}") for d in self._meta["attributes"]})
            # write_empty_chunks is a property of the handle, not of the stored array: set it on every one
            self._arrays = {k: a.with_config(_ALWAYS_WRITE) for k, a in h.items()}
        return self._arrays

    def _direct(self) -> dict[str, _DirectChunks | None]:
        """Per layer: the direct chunk writer, or None where zarr's own write path is used."""
        if getattr(self, "_direct_writers", None) is None:
            arrays = self._handles()
            self._direct_writers = {d["name"]: _DirectChunks.of(self.path, arrays[("L", d["name"])])
                                    for d in self._meta["layers"]}
        return self._direct_writers

    def _write_job(self, job: dict[str, Any]) -> None:
        s, n = job["start"], job["n"]
        stop = s + n
        arrays = self._handles()
        for arr in arrays.values():
            if arr.shape[0] < stop:
                arr.resize((stop, *arr.shape[1:]))
        direct = self._direct()
        # Each task writes one chunk of a layer (direct) or one array's rows (zarr); tasks run concurrently
        # (encoding, checksums and file I/O release the GIL) and each counts its own non-finite values.
        tasks: list[tuple[str | None, Any]] = []
        for name, block in job["layers"].items():
            dw = direct[name]
            if dw is not None and s % dw.chunk_rows == 0:
                tasks += [(name, lambda dw=dw, r=r, blk=block[r - s : r - s + dw.chunk_rows]: dw.write(r, blk))
                          for r in range(s, stop, dw.chunk_rows)]
            else:
                tasks.append((name, lambda arr=arrays[("L", name)], blk=block: _zarr_put(arr, s, stop, blk)))
        columns = [(arrays[("ids", "")], job["ids"])]
        if job["labels"] is not None:
            columns.append((arrays[("labels", "")], _to_column(job["labels"], arrays[("labels", "")])))
        columns += [(arrays[("A", name)], _to_column(v, arrays[("A", name)])) for name, v in job["attrs"].items()]
        tasks += [(None, lambda arr=arr, v=v: _zarr_put(arr, s, stop, v)) for arr, v in columns]

        bad: dict[str, int] = {}
        for (name, _), k in zip(tasks, self._pool.map(lambda t: t[1](), tasks), strict=True):
            if name is not None and k:
                bad[name] = bad.get(name, 0) + k
        with self._state_lock:
            if s != self._committed:  # jobs are queued in order; anything else is a bug, never a silent gap
                raise StoreError(f"internal: job for rows {s}–{stop - 1} after {self._committed} committed rows")
            for name, k in bad.items():
                self._nonfinite[name] = self._nonfinite.get(name, 0) + k
        self._commit(stop, complete=False)
        with self._state_lock:
            self._committed = stop

    def _raise_worker_error(self) -> None:
        with self._state_lock:
            exc = self._worker_error
        if exc is not None:
            hint = "check disk space and permissions" if isinstance(exc, OSError) else "see the cause above"
            raise StoreError(f"writing to store '{self.path}' failed: {exc}; {hint}") from exc

    def _drain(self) -> None:
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join()
            self._worker = None
            self._pool.shutdown(wait=True)
        self._raise_worker_error()

    def finish(self) -> None:
        """Write the last (partial) chunk, wait for the writer, mark the store complete, release the lock."""
        with self._append_lock:
            if self.chunk_rows is not None:
                self._flush(None)
            self._drain()
            committed = self.committed
            if self.shard is not None:
                lo, hi = self._own_rows()
                if committed != hi:
                    raise StoreError(
                        f"shard {self.shard[0]}/{self.shard[1]} of store '{self.path}' got rows {lo}–{committed - 1}"
                        f" but owns rows {lo}–{hi - 1}: the data delivered fewer rows than it announced; every "
                        f"shard must see the same data"
                    )
                self.complete = True
                self._commit(committed, complete=True)
                self.close()
                return
            if self.n_total is not None and committed != self.n_total:
                warnings.warn(
                    f"capture wrote {committed} rows but the data announced {self.n_total}; the store's "
                    f"arrays are trimmed to the rows written",
                    stacklevel=2,
                )
            for arr in self._all_arrays():
                if arr.shape[0] != committed:
                    arr.resize((committed, *arr.shape[1:]))
            if self.n_total != committed:
                self._meta["n_total"] = committed
                self._save_meta()
            self.complete = True
            self._commit(committed, complete=True)
        self.close()

    def abort(self, error: str) -> None:
        """Keep the committed prefix (whole chunks already written), record why the capture stopped,
        release the lock."""
        try:
            self._drain()
        except StoreError:
            pass
        try:
            if self.shard is None or self.shard_range is not None:  # a shard without rows yet has no record
                self._commit(self.committed, complete=False, error=error[:500])
        except OSError:
            pass  # e.g. disk full: the previous progress.json (atomically replaced) still holds
        finally:
            self.close()

    def _all_arrays(self):
        if not self._meta["layers"]:
            return []
        return list(self._handles().values())


# a missing chunk file is then always damage, never zeros
_ALWAYS_WRITE: ArrayConfigParams = {"write_empty_chunks": True}


def _array_in(group: zarr.Group, key: str) -> zarr.Array:
    """The array at ``key`` (a path such as ``"layers/L000"``) inside a store's group."""
    import zarr

    arr = group[key]
    if not isinstance(arr, zarr.Array):
        raise StoreError(f"'{key}' is a group, not an array: the store is damaged")
    return arr


def _n_nonfinite(block: np.ndarray) -> int:
    """Number of NaN/Inf values; one summation when there are none (a sum is finite only if every term
    is: NaN and ±Inf propagate, and a finite sum that overflows only sends us to the exact count)."""
    if block.dtype.kind != "f" or np.isfinite(np.add.reduce(block, axis=None, dtype=np.float64)):
        return 0
    return int(block.size - np.count_nonzero(np.isfinite(block)))


def _zarr_put(arr: Any, start: int, stop: int, block: np.ndarray) -> int:
    arr[start:stop] = block
    return _n_nonfinite(block)


class _DirectChunks:
    """Writes whole chunks of one 2-D activation array straight to their chunk files, encoded exactly as
    zarr encodes them (bytes little-endian → optional Blosc → CRC-32C appended), bypassing zarr's
    asynchronous write machinery. The file is written under a temporary name and renamed into place, as
    zarr does, so a chunk file is always either the old or the new chunk. Chunks are padded with the fill
    value to full size (zarr stores edge chunks full size too). Used only for codec chains it reproduces
    (:meth:`of` returns None otherwise); tests/store check the bytes against zarr's own write."""

    def __init__(self, root: Path, arr: Any, blosc: Any) -> None:
        self.dir = root / arr.path
        self.encode_key = arr.metadata.encode_chunk_key
        self.chunk_rows = int(arr.chunks[0])
        self.width = int(arr.shape[1])
        self.dtype = np.dtype(arr.dtype).newbyteorder("<")
        self.fill = arr.metadata.fill_value
        self.blosc = blosc

    @classmethod
    def of(cls, root: Path | FsPath, arr: Any) -> _DirectChunks | None:
        from zarr.codecs import BloscCodec, BytesCodec, Crc32cCodec

        codecs = list(arr.metadata.codecs)
        if (not isinstance(root, Path) or arr.ndim != 2 or tuple(arr.chunks)[1] != arr.shape[1]
                or len(codecs) not in (2, 3)
                or not isinstance(codecs[0], BytesCodec) or not isinstance(codecs[-1], Crc32cCodec)
                or getattr(codecs[0].endian, "value", "little") != "little"):
            return None
        blosc = None
        if len(codecs) == 3:
            c = codecs[1]
            if not isinstance(c, BloscCodec):
                return None
            import numcodecs

            shuffle = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[c.shuffle.value]
            blosc = numcodecs.Blosc(cname=c.cname.value, clevel=c.clevel, shuffle=shuffle, blocksize=c.blocksize,
                                    typesize=c.typesize)
        return cls(root, arr, blosc)

    def write(self, row: int, block: np.ndarray) -> int:
        """Write the chunk that starts at ``row`` (a multiple of the chunk size) from ``block`` (≤ one chunk
        of rows); return its number of NaN/Inf values."""
        import uuid

        import google_crc32c

        k = len(block)
        if k < self.chunk_rows:  # the last chunk: padded with the fill value, as zarr stores it
            full = np.full((self.chunk_rows, self.width), self.fill, dtype=self.dtype)
            full[:k] = block
            block = full
        raw = np.ascontiguousarray(block, dtype=self.dtype)
        data = np.frombuffer(self.blosc.encode(raw), np.uint8) if self.blosc is not None else raw.view(np.uint8)
        crc = int(google_crc32c.value(data)).to_bytes(4, "little")
        payload = data.data.cast("B")  # ndarray.data: the array's buffer as a memoryview
        path = self.dir / self.encode_key((row // self.chunk_rows, 0))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.partial")
        try:
            _write_chunk_file(tmp, payload, crc)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return _n_nonfinite(block[:k])


def _write_chunk_file(path: Path, payload: memoryview, crc: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        want, done = len(payload) + 4, 0
        while done < want:  # writev may write less than asked (signals, large buffers)
            done += os.writev(fd, [payload[done:], crc] if done < len(payload) else [crc[done - len(payload):]])
    finally:
        os.close(fd)


def _column_compressors() -> list[Any]:
    from zarr.codecs import Crc32cCodec, ZstdCodec

    return [ZstdCodec(level=0), Crc32cCodec()]


def _has_content(path: Path | FsPath) -> bool:
    return path.is_dir() and any(not p.name.startswith(LOCK_PREFIX) for p in path.iterdir())


def _has_rows(path: Path | FsPath) -> bool:
    """A single-writer store with committed rows (one a restart would lose)."""
    try:
        prog = _read_progress(path)
    except StoreError:
        return True
    return int(prog["committed"]) > 0 or bool(prog.get("complete"))


def _check_shard(shard: Any, n_total: int | None) -> tuple[int, int] | None:
    if shard is None:
        return None
    try:
        i, k = (int(v) for v in shard)
    except (TypeError, ValueError):
        raise InputError(f"shard={shard!r}: pass (i, k), this process's shard i of k (0 ≤ i < k)") from None
    if not (k >= 1 and 0 <= i < k):
        raise InputError(f"shard={shard!r}: need 0 ≤ i < k (shards are numbered 0…k-1)")
    if n_total is None:
        raise InputError("shard= needs data whose number of samples is known in advance (a tensor, array or "
                         "DataLoader over a sized Dataset): each shard's rows are computed from it")
    return i, k


def _command_line() -> str | None:
    """The command that runs this process when it is the repscope CLI (shown to resume a missing shard)."""
    import shlex
    import sys

    argv = list(sys.argv)
    prog = Path(argv[0]) if argv else Path()
    if prog.name == "repscope" or (prog.parent.name == "repscope" and prog.name in ("__main__.py", "cli.py")):
        return shlex.join(["repscope", *argv[1:]])
    return None


def _refuse_foreign(path: Path | FsPath) -> None:
    """Refuse to write into (or delete) anything that is not a repscope store or one being created."""
    if path.exists() and not path.is_dir():
        raise StoreError(f"'{path}' is a file, not a store directory; choose another output path")
    if not _has_content(path) or any(p.name.startswith(LOCK_PREFIX) for p in path.iterdir()):
        return  # empty, or a store whose creation/writing was interrupted (its lock file is still there)
    _read_root_meta(path)  # raises "not a repscope store" with the fix for anything foreign


def _clear_dir(path: Path | FsPath) -> None:
    import shutil

    for p in path.iterdir():
        if p.name.startswith(LOCK_PREFIX):
            continue
        if isinstance(p, FsPath):
            if p.is_dir():
                p.rmtree()
            else:
                p.unlink()
        elif p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def _refuse_other_capture(path: Any, old: Mapping[str, Any], new: Mapping[str, Any], what: str, fix: str) -> None:
    """A :class:`StoreError` naming the differing fingerprint keys when a store ``what`` (was captured / is
    being captured) with other arguments than this writer's; ``fix`` says what to do."""
    if old != new:
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        raise StoreError(f"store '{path}' {what} with different arguments ({', '.join(diff)} differ: "
                         f"{_describe_diff(diff)}); {fix}")


def _describe_diff(keys: list[str]) -> str:
    what = {"model": "the weights", "data": "the input data", "labels": "the labels", "ids": "the sample ids",
            "attributes": "the attributes"}
    parts = [what.get(k, f"the {k} option") for k in keys]
    return ", ".join(parts) + (" changed" if len(parts) > 1 else " changed")


_AUTO_SAMPLE_BYTES = 2**20
_AUTO_MIN_SAVING = 0.10


def _auto_compression(first: np.ndarray, dtype: np.dtype) -> str:
    """``compression="auto"`` (the default), decided per layer from its first batch: ``"lz4"`` when it
    makes (up to 1 MiB of) those rows at least 10 % smaller, else ``"none"``. Dense float activations
    (e.g. conv maps before or after a ReLU of a random-init or trained CNN) often shrink by less than
    that, and compressing them costs more CPU than writing the extra bytes; sparse or quantised ones
    (dead units, many exact zeros) keep lz4. Deterministic for given data, so a resume (whose arrays
    already exist) never meets a different choice."""
    import numcodecs

    flat = np.ascontiguousarray(first.reshape(len(first), -1), dtype=dtype)
    rows = max(1, min(len(flat), _AUTO_SAMPLE_BYTES // max(1, flat.shape[1] * dtype.itemsize)))
    raw = flat[:rows]
    if raw.nbytes == 0:
        return "lz4"
    enc = numcodecs.Blosc(cname="lz4", clevel=1, shuffle=1, typesize=dtype.itemsize).encode(raw)
    return "lz4" if len(enc) <= (1 - _AUTO_MIN_SAVING) * raw.nbytes else "none"


def _compressors(name: str) -> Any:
    """Codecs for activation arrays: ``"lz4"`` (fast), ``"zstd"`` (smaller files, slower writes) or
    ``"none"`` — each followed by a CRC-32C checksum, which (being the last bytes codec) is verified
    before the decompressor ever sees the bytes. ``"auto"`` (the writer's default) picks lz4 or none per
    layer (:func:`_auto_compression`)."""
    from zarr.codecs import BloscCodec, Crc32cCodec

    if name == "none":
        return [Crc32cCodec()]
    if name == "lz4":
        return [BloscCodec(cname="lz4", clevel=1, shuffle="shuffle"), Crc32cCodec()]
    if name == "zstd":
        return [BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"), Crc32cCodec()]
    raise InputError(f"compression={name!r}: choose 'auto', 'lz4', 'zstd' or 'none'")


def _to_column(values: np.ndarray, arr) -> np.ndarray:
    if values.dtype.kind in "US":
        return values.astype(object)
    return values
