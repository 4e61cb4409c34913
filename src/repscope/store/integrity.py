"""Store integrity: per-chunk existence/size checks, checksum-verified reads, the writer lock, ``verify``.

Every chunk of a store written by this version carries a CRC-32C checksum (zarr v3 ``crc32c`` codec,
the last bytes→bytes codec, so it is verified *before* blosc sees the bytes: a truncated or flipped chunk
raises instead of decoding to garbage or crashing the decompressor). Chunks are always written, even when
they equal the fill value, so a missing chunk file inside the committed rows is damage, never zeros.

Stores written before checksums were added still open; reads guard their blosc chunks by comparing the
compressed size recorded in the blosc header with the file size before decompression (blosc can crash the
process on a truncated buffer), and ``repscope info`` / ``repscope verify`` say that bit flips cannot be
detected in them.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repscope.errors import StoreError
from repscope.results import ResultBase
from repscope.store.location import FsPath

LOCK_NAME = ".repscope-writer.lock"
CREATE_LOCK_NAME = ".repscope-create.lock"
CREATE_WAIT_S = 600.0  # how long a writer on an fsspec filesystem waits for another one creating the arrays
LOCK_PREFIX = ".repscope-"  # every lock file's name starts with it (never part of the store's data)


def shard_lock_name(shard: int) -> str:
    return f".repscope-writer-shard-{shard:03d}.lock"
_BLOSC_HEADER = 16


def damage_fix(path: Path | FsPath | str) -> str:
    return (f"the store is damaged; re-run the capture with --overwrite (overwrite=True) to rebuild it "
            f"(`repscope verify {path}` lists every damaged chunk)")


@dataclass
class ArrayCheck:
    """What is needed to check one array's chunks on disk (computed once per array and cached)."""

    label: str  # human name: "layer 'fc'", "sample_ids", "labels", "attribute 'colour'"
    dir: Path | FsPath  # the array's directory inside the store
    chunk_rows: int
    encode: Any  # chunk coords -> relative key ("c/3/0")
    ndim: int
    checksum: bool
    blosc: bool
    strict_missing: bool  # a missing chunk is damage (chunks always written, or no zero fill possible)

    @classmethod
    def of(cls, store_path: Path | FsPath, arr: Any, label: str, *, chunks_always_written: bool) -> ArrayCheck:
        names = [c.to_dict().get("name") for c in arr.metadata.codecs]
        return cls(label=label, dir=store_path / arr.path, chunk_rows=int(arr.chunks[0]),
                   encode=arr.metadata.encode_chunk_key, ndim=arr.ndim, checksum="crc32c" in names,
                   blosc="blosc" in names, strict_missing=chunks_always_written or label == "sample_ids")

    def chunk_file(self, i: int) -> Path | FsPath:
        return self.dir / self.encode((i,) + (0,) * (self.ndim - 1))

    def rows_of(self, i: int, n: int) -> str:
        lo = i * self.chunk_rows
        return f"rows {lo}–{min(lo + self.chunk_rows, n) - 1}"

    def problem(self, i: int, *, deep: bool) -> str | None:
        """Why chunk ``i`` is unreadable from its file alone (None when it looks fine)."""
        f = self.chunk_file(i)
        try:
            size = f.stat().st_size
        except FileNotFoundError:
            return "missing" if self.strict_missing else None
        except OSError as exc:
            return f"unreadable ({exc.strerror or exc})"
        tail = 4 if self.checksum else 0
        if size <= tail:
            return f"truncated ({size} bytes)"
        if self.blosc and (deep or not self.checksum):
            try:
                with f.open("rb") as fh:
                    head = fh.read(_BLOSC_HEADER)
            except OSError as exc:
                return f"unreadable ({exc.strerror or exc})"
            if len(head) < _BLOSC_HEADER:
                return f"truncated ({size} bytes)"
            cbytes = struct.unpack("<I", head[12:16])[0]
            if cbytes != size - tail:
                return f"truncated or corrupt ({size} bytes on disk, header says {cbytes + tail})"
        return None

    def check_rows(self, start: int, stop: int, n: int, *, store: Path | FsPath | str) -> None:
        """Raise StoreError if any chunk overlapping rows [start, stop) is missing or truncated."""
        if stop <= start:
            return
        for i in range(start // self.chunk_rows, (stop - 1) // self.chunk_rows + 1):
            why = self.problem(i, deep=False)
            if why is not None:
                raise StoreError(f"store '{store}': {self.label}, {self.rows_of(i, n)} (chunk {i}): chunk file "
                                 f"{why}; {damage_fix(store)}")

    def locate_bad_chunk(self, arr: Any, start: int, stop: int, n: int) -> tuple[int, str] | None:
        """After a failed read, find the first chunk in [start, stop) that does not decode, and why."""
        for i in range(start // self.chunk_rows, (max(stop, start + 1) - 1) // self.chunk_rows + 1):
            lo, hi = i * self.chunk_rows, min((i + 1) * self.chunk_rows, n)
            try:
                arr[lo:hi]
            except Exception as exc:  # noqa: BLE001 - any decode failure is damage
                return i, self.problem(i, deep=True) or _short(exc)
        return None


def _short(exc: BaseException) -> str:
    msg = str(exc).splitlines()[0] if str(exc) else ""
    if "checksum" in msg.lower():
        return "checksum mismatch (bytes changed on disk)"
    return f"{type(exc).__name__}: {msg}"[:200]


def guarded_read(check: ArrayCheck, arr: Any, start: int, stop: int, n: int, store: Path | FsPath | str,
                 read: Any) -> Any:
    """Run ``read()`` (a zarr read of rows within [start, stop)) after the file checks; any decode
    failure becomes a StoreError naming the array, the chunk's rows and the fix."""
    check.check_rows(start, stop, n, store=store)
    try:
        return read()
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - checksum mismatch, codec error, torn metadata
        found = check.locate_bad_chunk(arr, start, stop, n)
        where = f"{check.rows_of(found[0], n)} (chunk {found[0]}): {found[1]}" if found else \
            f"rows {start}–{stop - 1}: {_short(exc)}"
        raise StoreError(f"store '{store}': {check.label}, {where}; {damage_fix(store)}") from None


# ============================================================================================ verify


@dataclass
class VerifyResult(ResultBase):
    """Outcome of :func:`repscope.store.verify_store`: every chunk of every array scanned and decoded.

    Examples
    --------
    >>> from repscope.store import VerifyResult
    >>> r = VerifyResult(path="acts.zarr", n_samples=10, complete=True, checksums=True, chunks_checked=3,
    ...                  problems=[{"array": "layers/L000", "rows": "0-9", "error": "missing chunk"}])
    >>> r.ok
    False
    """

    path: str
    n_samples: int
    complete: bool
    checksums: bool
    chunks_checked: int
    problems: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "ok": self.ok, "n_samples": self.n_samples, "complete": self.complete,
                "checksums": self.checksums, "chunks_checked": self.chunks_checked,
                "problems": self.problems, "warnings": self.warnings}

    @property
    def title(self) -> str:
        return "Store verification"

    def plot(self, ax: Any = None) -> Any:
        """Damaged chunks per array (an empty chart, titled "no damage", for a sound store)."""
        from repscope.results import axes_figure

        fig, ax = axes_figure(ax, (6, 3))
        counts: dict[str, int] = {}
        for p in self.problems:
            counts[str(p["array"])] = counts.get(str(p["array"]), 0) + 1
        names = sorted(counts)
        ax.barh(range(len(names)), [counts[k] for k in names], color="tab:red")
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("damaged chunks")
        ax.set_ylabel("array")
        ax.set_title(f"{self.path}: " + ("no damage" if self.ok else f"{len(self.problems)} damaged chunk(s)")
                     + f" of {self.chunks_checked}")
        fig.tight_layout()
        return fig

    def table(self) -> tuple[list[str], list[list[Any]]]:
        return ["array", "chunk", "rows", "problem"], [
            [p["array"], p["chunk"], p["rows"], p["problem"]] for p in self.problems]

    def summary(self) -> str:
        head = (f"{self.path}: {self.chunks_checked} chunks checked, "
                + ("no damage found" if self.ok else f"{len(self.problems)} damaged"))
        lines = [head, *(f"  {p['array']} {p['rows']} (chunk {p['chunk']}): {p['problem']}" for p in self.problems)]
        lines += [f"  note: {w}" for w in self.warnings]
        if not self.ok:
            lines.append(f"  fix: {damage_fix(self.path)}")
        return "\n".join(lines)


def scan_store(st: Any) -> VerifyResult:
    """Decode every committed chunk of every array of an opened store ``st`` (an
    :class:`~repscope.store.ActivationStore`, opened with ``allow_incomplete=True, check=False``); report each
    missing, truncated or corrupted chunk with its rows. Never raises for damage inside chunks (it is listed).
    :func:`repscope.store.verify_store` opens the store from its path."""
    n = st.n_samples
    res = VerifyResult(str(st.path), n, st.complete, st.has_checksums, 0)
    if not st.complete:
        res.warnings.append(f"store is incomplete ({n} committed rows); only those are checked")
    if not st.has_checksums:
        res.warnings.append("store was written without chunk checksums (older repscope): flipped bytes cannot "
                            "be detected and a missing activation chunk may be an all-zero chunk; re-capture "
                            "to add checksums")
    for label, arr, check in st._all_checked_arrays():
        n_chunks = -(-n // check.chunk_rows) if n else 0
        for i in range(n_chunks):
            res.chunks_checked += 1
            why = check.problem(i, deep=True)
            if why is None:
                lo, hi = i * check.chunk_rows, min((i + 1) * check.chunk_rows, n)
                if check.chunk_file(i).exists():
                    try:
                        arr[lo:hi]
                    except Exception as exc:  # noqa: BLE001
                        why = _short(exc)
                elif not check.strict_missing:
                    res.warnings.append(f"{label} {check.rows_of(i, n)}: chunk file missing (reads as zeros)")
            if why is not None:
                res.problems.append({"array": label, "chunk": i, "rows": check.rows_of(i, n), "problem": why})
    return res


# ============================================================================================ lock


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WriterLock:
    """One writer per store: an exclusive ``flock`` on ``<store>/.repscope-writer.lock``, whose content
    records the holder's pid, host and start time for the error message a second writer gets.

    The kernel releases a flock when its process dies (kill -9 included), so a lock left by a dead writer
    is taken over without a race; where flock is unavailable, a lock from a dead pid on this host is
    taken over and a live one refuses.
    """

    def __init__(self, store: Any, name: str = LOCK_NAME, what: str = "") -> None:
        self.store: Path | FsPath = store if not isinstance(store, str | os.PathLike) else Path(store)
        self.file = self.store / name
        self.what = what  # e.g. " (shard 2/4)": the part of the store this lock guards
        self._fd: int | None = None
        self.took_over: dict[str, Any] | None = None

    def _holder(self) -> dict[str, Any]:
        try:
            return json.loads(self.file.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def _refuse(self, holder: dict[str, Any]) -> StoreError:
        who = (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, started "
               f"{holder.get('started', '?')}") if holder else "another process"
        return StoreError(
            f"store '{self.store}'{self.what} is being written by another capture ({who}); wait for it to finish "
            f"or stop it, or write to another path — two writers would corrupt the store"
        )

    def acquire(self) -> WriterLock:
        import fcntl

        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
        if not isinstance(self.file, Path):
            return self._acquire_object(self.file, me)
        for _ in range(20):
            try:
                fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise StoreError(f"cannot write to store '{self.store}' ({exc.strerror or exc}); choose a writable "
                                 f"output path") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self._holder()
                os.close(fd)
                raise self._refuse(holder) from None
            except OSError:  # no flock on this filesystem: fall back to the pid recorded in the file
                holder = self._holder()
                if (holder.get("host") == me["host"] and isinstance(holder.get("pid"), int)
                        and holder["pid"] != me["pid"] and _pid_alive(holder["pid"])):
                    os.close(fd)
                    raise self._refuse(holder) from None
            # the file may have been unlinked by the previous holder between our open and our flock
            try:
                same = os.fstat(fd).st_ino == os.stat(self.file).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            old = self._holder()
            if old.get("pid") not in (None, me["pid"]):
                self.took_over = old
                warnings.warn(
                    f"store '{self.store}': took over the lock of a writer that is no longer running (pid "
                    f"{old.get('pid')} on {old.get('host')}); resuming from its committed rows", stacklevel=3,
                )
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
            os.fsync(fd)
            self._fd = fd
            return self
        raise StoreError(f"could not lock store '{self.store}' (its lock file keeps changing); retry")

    def _acquire_object(self, file: FsPath, me: dict[str, Any]) -> WriterLock:
        """The lock on an fsspec filesystem (no flock): an object created exclusively; a lock of a dead pid
        on this host is taken over; one from another host cannot be checked and refuses, naming the object
        to delete if that writer is gone."""
        for _ in range(3):
            if file.create_exclusive(json.dumps(me).encode()):
                self._fd = -1
                return self
            holder = self._holder()
            if (holder.get("host") == me["host"] and isinstance(holder.get("pid"), int)
                    and not _pid_alive(holder["pid"])):
                self.took_over = holder
                with contextlib.suppress(OSError):
                    file.unlink()
                continue
            err = self._refuse(holder)
            raise StoreError(f"{err}; if that capture is no longer running, delete the lock object "
                             f"'{file}'") from None
        raise StoreError(f"could not lock store '{self.store}' (its lock object keeps changing); retry")

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.file.unlink()
        if self._fd == -1:  # a lock object: nothing to close
            self._fd = None
            return
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = None


class CreateLock:
    """Serialises the creation of a store's arrays among its writers (the processes of a distributed
    capture, or a single writer): a blocking ``flock`` on ``<store>/.repscope-create.lock``, held from
    opening the store until its arrays exist. The first writer to take it creates the arrays; every other
    one waits, then finds them and checks the fingerprint. The kernel drops the lock of a killed creator,
    and the next writer finds the creation unfinished (no arrays listed in the root metadata) and redoes it.
    A sharded store's file is never deleted (deleting a flock file races with a waiter); a single writer
    (``unlink=True``), which holds the store's writer lock as well, removes it.

    On an fsspec filesystem (no flock) it is an object created exclusively (where the backend has no
    exclusive create, after an existence check: best effort); a waiter polls until it is gone (up to
    :data:`CREATE_WAIT_S` seconds), takes over one left by a dead pid on this host, and otherwise stops with
    an error naming the object to delete once its creator is known to be gone."""

    def __init__(self, store: Any, *, unlink: bool = False) -> None:
        self.file = store / CREATE_LOCK_NAME
        self.unlink = unlink
        self._fd: int | None = None

    def acquire(self) -> CreateLock:
        import fcntl

        if not isinstance(self.file, Path):
            return self._acquire_object()
        try:
            fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot write to store '{self.file.parent}' ({exc.strerror or exc}); choose a "
                             f"writable output path") from exc
        with contextlib.suppress(OSError):  # no flock on this filesystem: best effort
            fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd
        return self

    def _acquire_object(self) -> CreateLock:
        import time

        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
        deadline = time.monotonic() + CREATE_WAIT_S
        while not self.file.create_exclusive(json.dumps(me).encode()):
            try:
                holder = json.loads(self.file.read_text() or "{}")
            except (OSError, ValueError):
                holder = {}
            if (holder.get("host") == me["host"] and isinstance(holder.get("pid"), int)
                    and not _pid_alive(holder["pid"])):
                with contextlib.suppress(OSError):
                    self.file.unlink()
                continue
            if time.monotonic() > deadline:
                raise StoreError(
                    f"store '{self.file.parent}': waited {CREATE_WAIT_S:.0f} s for another writer (pid "
                    f"{holder.get('pid', '?')} on host {holder.get('host', '?')}) to create its arrays; if it is "
                    f"no longer running, delete the lock object '{self.file}' and re-run"
                )
            time.sleep(0.2)
        self._fd = -1
        self.unlink = True  # an object lock is always removed (exclusive create is the atomic step)
        return self

    def release(self) -> None:
        if self._fd is not None:
            if self.unlink:
                with contextlib.suppress(OSError):
                    self.file.unlink()
            if self._fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(self._fd)  # closing the last descriptor drops the flock
            self._fd = None


class GuardedArray:
    """A picklable, lazily opened, checked view of the committed rows of one store array (``shape``,
    ``dtype``, ``__getitem__`` over row slices): what :meth:`ActivationStore.dask_array` wraps, so dask
    workers get the same damage checks as every other reader."""

    def __init__(self, store: str, key: str, label: str, n: int, shape: tuple[int, ...], dtype: Any,
                 chunks_always_written: bool) -> None:
        self.store, self.key, self.label, self.n = store, key, label, n
        self.shape, self.dtype, self.ndim = (n, *shape[1:]), np.dtype(dtype), len(shape)
        self._always = chunks_always_written
        self._arr: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_arr": None}

    def _open(self) -> tuple[Any, ArrayCheck]:
        if self._arr is None:
            import zarr

            try:
                arr = zarr.open_group(self.store, mode="r")[self.key]
            except Exception as exc:  # noqa: BLE001
                raise StoreError(f"store '{self.store}': {self.label} cannot be opened ({exc}); "
                                 f"{damage_fix(self.store)}") from None
            from repscope.store.location import as_location

            self._arr = (arr, ArrayCheck.of(as_location(self.store), arr, self.label,
                                            chunks_always_written=self._always))
        return self._arr

    def __getitem__(self, idx: Any) -> np.ndarray:
        arr, chk = self._open()
        rows = idx[0] if isinstance(idx, tuple) else idx
        rest = idx[1:] if isinstance(idx, tuple) else ()
        start, stop, _ = rows.indices(self.n) if isinstance(rows, slice) else (0, self.n, 1)
        if isinstance(rows, slice):
            rows = slice(start, stop, rows.step)
        return np.asarray(guarded_read(chk, arr, start, stop, self.n, self.store,
                                       lambda: arr[(rows, *rest)]))
