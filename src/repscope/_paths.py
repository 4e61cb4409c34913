"""Turning user-controlled names (layers, attributes, sections) into safe file names."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(name: str, *, max_len: int = 60) -> str:
    """A file-name component made from ``name``: only ``[A-Za-z0-9_.-]``, no leading dot, at most
    ``max_len`` characters. When anything had to change, an 8-hex digest of the original name is
    appended, so distinct names never collide (``"a/b"`` and ``"a_b"`` stay distinct) and the result can
    never be ``..``, contain a separator, or be empty.
    """
    s = str(name)
    clean = _UNSAFE.sub("_", s).lstrip(".")[:max_len]
    if clean == s and clean:
        return clean
    digest = hashlib.sha1(s.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{clean}-{digest}" if clean else digest


def inside(out: Path, file_name: str) -> Path:
    """``out / file_name``, refusing (ValueError) anything that would resolve outside ``out``."""
    base = Path(out).resolve()
    path = (base / file_name).resolve()
    if path.parent != base:
        raise ValueError(f"refusing to write {file_name!r} outside {base}")
    return path


def store_label(store: str) -> str:
    """The last part of a store's path or URL (``runs/a.zarr``, ``file:///x/a.zarr`` → ``a.zarr``)."""
    return store.rstrip("/").rsplit("/", 1)[-1]


def store_labels(stores: list[str]) -> list[str]:
    """:func:`store_label` of each store, prefixed ``A:``, ``B:``, … by position when two would be the same."""
    names = [store_label(s) for s in stores]
    if len(set(names)) < len(names):  # the same file name twice: label by position
        names = [f"{chr(65 + i)}:{n}" for i, n in enumerate(names)]
    return names
