"""Where a store lives: a local directory (``pathlib.Path``) or any fsspec URL (:class:`FsPath`).

``as_location("acts.zarr")`` and ``as_location("file:///data/acts.zarr")`` give a :class:`pathlib.Path`: local
stores keep the fast path (direct chunk-file writes, atomic ``os.replace`` commits, ``flock`` locks).
Any other URL (``memory://``, ``s3://``, ``gs://``, ``az://``, … — whatever fsspec has a filesystem for) gives
an :class:`FsPath`, the small part of the ``Path`` interface the store code uses, on that filesystem; zarr
reads and writes the arrays through its ``FsspecStore`` with the same codecs, CRC-32C included, so every
read still verifies checksums. What changes on object stores (see :mod:`repscope.store`):

* commit: ``progress.json`` (or a shard's record) is written as one object, after the chunks it covers; a
  single-object PUT is atomic on S3/GCS/Azure, so a reader sees the old or the new record, never a torn one;
* the writer lock is an object created exclusively (``open(..., "xb")``) where the filesystem supports it,
  else after an existence check (best effort: two writers started at the same instant could both pass);
  a lock left by a killed writer on another host cannot be told from a live one — the error says which
  object to delete;
* creation of a sharded store's arrays is serialised by an exclusively created object
  (``.repscope-create.lock``) that the other writers wait on (same best-effort caveat).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from repscope.errors import StoreError

_LOCAL = ("file", "local")


def is_url(path: Any) -> bool:
    return isinstance(path, str) and "://" in path


def as_location(path: str | os.PathLike | FsPath) -> Path | FsPath:
    """A local ``Path`` for paths and ``file://`` URLs, an :class:`FsPath` for every other fsspec URL."""
    if isinstance(path, FsPath | Path):
        return path
    if not is_url(path):
        return Path(path)
    proto = str(path).split("://", 1)[0].lower()
    if proto in _LOCAL:
        from urllib.parse import unquote, urlparse

        u = urlparse(str(path))
        if u.netloc not in ("", "localhost"):
            raise StoreError(f"'{path}': a file:// URL names a local path (file:///dir/acts.zarr); "
                             f"got host {u.netloc!r}")
        return Path(unquote(u.path))
    try:
        from fsspec.core import url_to_fs
    except ImportError:  # pragma: no cover - fsspec ships with dask and zarr[remote]
        raise StoreError(f"'{path}' is a URL; stores on {proto}:// need fsspec: pip install 'repscope[remote]'") \
            from None
    try:
        fs, root = url_to_fs(str(path))
    except (ImportError, ValueError) as exc:
        raise StoreError(f"no filesystem for '{path}' ({exc}); install the fsspec backend for {proto}:// "
                         f"(e.g. s3fs, gcsfs, adlfs) or use a local path") from None
    return FsPath(fs, root.rstrip("/"), proto)


class _Stat:
    def __init__(self, size: int) -> None:
        self.st_size = size


class FsPath:
    """A path on an fsspec filesystem with the ``Path`` methods the store uses; ``str()`` is its URL."""

    def __init__(self, fs: Any, path: str, proto: str) -> None:
        self.fs, self.path, self.proto = fs, path, proto

    def __truediv__(self, name: str) -> FsPath:
        return FsPath(self.fs, f"{self.path}/{name}", self.proto)

    def __str__(self) -> str:
        return f"{self.proto}://{self.path.lstrip('/')}" if self.proto == "memory" else \
            f"{self.proto}://{self.path}"

    def __repr__(self) -> str:
        return f"FsPath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FsPath) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent(self) -> FsPath:
        return FsPath(self.fs, self.path.rsplit("/", 1)[0], self.proto)

    def exists(self) -> bool:
        return bool(self.fs.exists(self.path))

    def is_dir(self) -> bool:
        return bool(self.fs.isdir(self.path))

    def is_symlink(self) -> bool:
        return False

    def stat(self) -> _Stat:
        try:
            return _Stat(int(self.fs.size(self.path)))
        except (FileNotFoundError, KeyError):
            raise FileNotFoundError(str(self)) from None

    def open(self, mode: str = "rb") -> Any:
        return self.fs.open(self.path, mode)

    def read_text(self) -> str:
        try:
            return self.fs.cat_file(self.path).decode()
        except KeyError:
            raise FileNotFoundError(str(self)) from None

    def write_text(self, text: str) -> None:
        """One object written whole (a single PUT on object stores: readers see the old or the new one)."""
        self.fs.pipe_file(self.path, text.encode())

    def iterdir(self) -> list[FsPath]:
        if not self.fs.isdir(self.path):
            return []
        return [FsPath(self.fs, p.rstrip("/"), self.proto) for p in self.fs.ls(self.path, detail=False)]

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        self.fs.makedirs(self.path, exist_ok=True)

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.fs.rm_file(self.path)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def rmtree(self) -> None:
        self.fs.rm(self.path, recursive=True)

    def create_exclusive(self, data: bytes) -> bool:
        """Create the object only if it does not exist (``"xb"`` where the filesystem supports it, else after
        an existence check); False when it exists."""
        try:
            with self.fs.open(self.path, "xb") as fh:
                fh.write(data)
            return True
        except FileExistsError:
            return False
        except (ValueError, NotImplementedError, TypeError):  # no exclusive mode here: best effort
            if self.fs.exists(self.path):
                return False
            self.fs.pipe_file(self.path, data)
            return True
