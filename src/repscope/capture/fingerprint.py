"""What a capture's resume fingerprint records of its inputs: digests of the model's weights, of a sample of
the data, and of the per-sample columns (labels, ids, attributes). A resumed capture whose digests differ is
refused by the store writer, naming what changed."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np


def model_fingerprint(model: Any) -> dict[str, Any]:
    """Class, parameter count, shapes digest (provenance) and a digest of every parameter's and buffer's
    *values* (so a resume with other weights is refused)."""
    import torch

    h = hashlib.sha1()
    values = hashlib.blake2b(digest_size=16)
    n = 0
    for name, p in model.named_parameters():
        h.update(f"{name}:{tuple(p.shape)}".encode())
        n += p.numel()
    for name, t in model.state_dict().items():
        if not isinstance(t, torch.Tensor):
            continue
        values.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        values.update(_tensor_bytes(t))
    return {"class": type(model).__name__, "n_params": int(n), "param_shapes_sha1": h.hexdigest()[:16],
            "values_blake2b": values.hexdigest()}


def _tensor_bytes(t: Any) -> bytes:
    import torch

    t = t.detach()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.contiguous().cpu().numpy().tobytes()


def _digest_value(h: Any, v: Any) -> None:
    """Feed one sample (tensor, array, number, string, tuple/list/dict of those) into hash ``h``."""
    if hasattr(v, "detach"):
        h.update(f"T{tuple(v.shape)}{v.dtype}".encode())
        h.update(_tensor_bytes(v))
    elif isinstance(v, np.ndarray):
        h.update(f"A{v.shape}{v.dtype}".encode())
        h.update(v.tobytes() if v.dtype != object else repr(v.tolist()).encode())
    elif isinstance(v, Mapping):
        for k in sorted(v, key=str):
            h.update(f"K{k}".encode())
            _digest_value(h, v[k])
    elif isinstance(v, tuple | list):
        h.update(f"L{len(v)}".encode())
        for x in v:
            _digest_value(h, x)
    else:
        h.update(repr(v).encode())


_DATA_SAMPLE_ROWS = 32


def data_fingerprint(data: Any, n_total: int | None) -> dict[str, Any]:
    """Size plus a digest of up to 32 evenly spaced samples (tensors/arrays and map-style datasets);
    iterables without random access contribute their type and size only."""
    import torch

    h = hashlib.blake2b(digest_size=16)
    src = data
    if not isinstance(data, torch.Tensor | np.ndarray):
        src = getattr(data, "dataset", None)
    fp: dict[str, Any] = {"type": type(data).__name__, "n": n_total}
    if src is None or n_total is None or not hasattr(src, "__getitem__"):
        fp["sampled"] = "not available (no random access)"
        return fp
    idx = np.unique(np.linspace(0, n_total - 1, min(n_total, _DATA_SAMPLE_ROWS)).round().astype(int))
    try:
        for i in idx:
            _digest_value(h, src[int(i)])
    except Exception:  # noqa: BLE001 - exotic datasets: fall back to size only
        fp["sampled"] = "not available (indexing failed)"
        return fp
    if isinstance(data, torch.Tensor | np.ndarray):
        fp["shape"] = list(data.shape)
        fp["dtype"] = str(data.dtype)
    fp["sampled"] = f"{len(idx)} rows"
    fp["digest"] = h.hexdigest()
    return fp


def column_digest(v: np.ndarray | None) -> str | None:
    if v is None:
        return None
    h = hashlib.blake2b(digest_size=16)
    _digest_value(h, np.asarray(v) if v.dtype.kind != "U" else np.asarray(v.astype(object)))
    return h.hexdigest()

