"""Data forms capture accepts, and where each row's sample id comes from.

A batch is a tensor/array, a tuple ``(x, y[, attributes])`` or a mapping of model keyword inputs (with
optional ``"labels"``/``"label"``/``"y"``, ``"attributes"`` and ``"ids"``/``"sample_ids"``).

Sample ids, first that applies:

1. ``ids=`` given to :func:`repscope.capture` — one per sample, in the data's order (for a DataLoader over a
   map-style Dataset: one per Dataset item, looked up by the item's index);
2. an ``"ids"`` (or ``"sample_ids"``) field in each batch;
3. the Dataset index of every row, for a ``torch.utils.data.DataLoader`` over a map-style Dataset: capture
   iterates a copy of the loader whose batch sampler records the indices it hands out, so a shuffled loader
   still gets the right ids (and ``labels=``/``attributes=`` arrays are looked up by Dataset index too);
4. the row's position, for tensors, arrays, sequential loaders and plain iterables.

A loader whose order capture cannot record — a ``RandomSampler`` on something other than a plain DataLoader,
or a DataLoader with ``in_order=False`` and workers — and whose batches carry no ids is refused: its rows could
never be matched with another capture's. A DataLoader with ``batch_size=None`` (unbatched samples) is refused.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from repscope.errors import InputError

LABEL_KEYS = ("labels", "label", "y")
ID_KEYS = ("ids", "sample_ids")


@dataclass
class Batch:
    offset: int  # position of the batch's first row in visit order
    x: Any  # the model input
    labels: Any
    attributes: Mapping[str, Any]
    ids: np.ndarray | None  # ids carried by the batch itself
    index: np.ndarray  # Dataset index (or position) of each row, for looking up full-length arrays


def split_batch(batch: Any) -> tuple[Any, Any, dict[str, Any], Any]:
    """Return (model input, labels or None, attributes dict, ids or None) from one batch."""
    if isinstance(batch, Mapping):
        lab = next((batch[k] for k in LABEL_KEYS if k in batch), None)
        attrs = dict(batch.get("attributes", {}) or {})
        ids = next((batch[k] for k in ID_KEYS if k in batch), None)
        x = {k: v for k, v in batch.items() if k not in (*LABEL_KEYS, *ID_KEYS, "attributes")}
        return x, lab, attrs, ids
    if isinstance(batch, tuple | list):
        if len(batch) == 0:
            raise InputError("an empty batch was produced by the data")
        x = batch[0]
        lab = batch[1] if len(batch) > 1 else None
        attrs = dict(batch[2]) if len(batch) > 2 and isinstance(batch[2], Mapping) else {}
        ids = next((attrs.pop(k) for k in ID_KEYS if k in attrs), None)
        return x, lab, attrs, ids
    return batch, None, {}, None


def batch_len(x: Any) -> int:
    if isinstance(x, Mapping):
        x = next(iter(x.values()))
    if hasattr(x, "shape") and len(x.shape) > 0:
        return int(x.shape[0])
    try:
        return len(x)
    except TypeError as exc:
        raise InputError(f"cannot tell the batch size of a {type(x).__name__}; pass tensors or arrays") from exc


def as_numpy_1d(v: Any, name: str) -> np.ndarray:
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    a = np.asarray(v)
    if a.ndim != 1:
        raise InputError(f"{name} must be 1-D (one value per sample); got shape {a.shape}")
    return a


def as_ids(v: Any, name: str) -> np.ndarray:
    """Integer sample ids (int64)."""
    a = as_numpy_1d(v, name)
    if a.dtype.kind not in "iub":
        if a.dtype.kind == "f" and a.size and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
            return a.astype(np.int64)
        raise InputError(
            f"{name} must be integers (one per sample), got {a.dtype}; store string keys as an attribute "
            f"(attributes={{'key': ...}}) and pass integer ids"
        )
    return a.astype(np.int64)


_RANDOM_SAMPLERS = ("RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler", "DistributedSampler")


def _is_random(sampler: Any) -> bool:
    if sampler is None:
        return False
    if type(sampler).__name__ in _RANDOM_SAMPLERS:
        return getattr(sampler, "shuffle", True) is not False
    inner = getattr(sampler, "sampler", None)  # a BatchSampler
    return inner is not None and inner is not sampler and _is_random(inner)


def _as_index(keys: list[Any]) -> np.ndarray:
    """A batch's Dataset indices as int64 (InputError with the fix for non-integer keys)."""
    try:
        return np.asarray(keys, dtype=np.int64)
    except (TypeError, ValueError):
        raise InputError(
            f"the DataLoader's sampler hands out non-integer keys ({keys[0]!r}, …), but sample ids are the "
            f"integer Dataset indices; index the Dataset by integers, or pass capture an iterable of "
            f"batches that carry an 'ids' field (e.g. a generator over the loader)"
        ) from None


class _RecordingBatchSampler:
    """Wraps a batch sampler; remembers (FIFO) the offset and index list of each batch it hands to the loader.

    Batches that end before row ``skip`` (already committed by an earlier run) are not handed out at all, so
    a resumed capture never loads them."""

    def __init__(self, inner: Any, skip: int = 0) -> None:
        self.inner, self.skip = inner, skip
        self.queue: deque[tuple[int, np.ndarray]] = deque()

    def __iter__(self) -> Iterator[list[int]]:
        offset = 0
        for b in self.inner:
            b = list(b)
            start, offset = offset, offset + len(b)
            if offset <= self.skip:
                continue
            self.queue.append((start, _as_index(b)))
            yield b

    def __len__(self) -> int:
        return len(self.inner)


@dataclass
class DataPlan:
    """How capture walks ``data``: row count, the length full arrays must have, and the batches."""

    data: Any
    n_rows: int | None  # samples the capture will see (None: unknown until the end)
    n_index: int | None  # length ``labels=``/``attributes=``/``ids=`` arrays must have
    indexed: bool  # rows carry a Dataset index (not their visit position)
    random_unrecorded: bool  # shuffled (or delivered out of order) in a way capture cannot record
    kind: str

    @property
    def shuffles(self) -> bool:
        """Whether the data visits its samples in a random order (recorded or not): then the order differs
        between processes and runs."""
        return self.random_unrecorded or _is_random(_sampler_of(self.data))

    def order_digest(self) -> str | None:
        """Digest of the Dataset indices a non-shuffled indexed loader visits (part of the resume fingerprint:
        the same dataset through another sampler gives other rows); None otherwise."""
        bs = getattr(self.data, "batch_sampler", None)
        if bs is None or not self.indexed or _is_random(bs) or iter(bs) is bs:  # random, or a one-shot iterator
            return None
        import hashlib

        h = hashlib.blake2b(digest_size=16)
        for b in bs:
            h.update(_as_index(list(b)).tobytes())
        return h.hexdigest()

    def batches(self, batch_size: int, skip: int) -> Iterator[Batch]:
        """Yield batches, skipping whole batches before row ``skip`` (resume)."""
        import torch

        data = self.data
        if isinstance(data, np.ndarray):
            data = torch.from_numpy(np.ascontiguousarray(data))
        if isinstance(data, torch.Tensor):
            n = data.shape[0]
            # Resume at the start of the batch holding row ``skip``: the same batch boundaries as an
            # uninterrupted run, so every row is computed in the same batch (bit-identical results).
            for s in range((skip // batch_size) * batch_size, n, batch_size):
                if min(s + batch_size, n) > skip:
                    x = data[s : s + batch_size]
                    yield Batch(s, x, None, {}, None, np.arange(s, s + x.shape[0], dtype=np.int64))
            return
        if skip and (self.random_unrecorded or _is_random(_sampler_of(data))):
            raise InputError(
                "cannot resume a capture over a DataLoader with shuffle=True (the sample order changes); "
                "use shuffle=False or overwrite=True"
            )
        recorder = None
        if self.indexed:
            recorder = _RecordingBatchSampler(data.batch_sampler, skip)
            data = _rebuild_loader(data, recorder)
        offset = 0
        for raw in data:
            x, lab, attrs, ids = split_batch(raw)
            b = batch_len(x)
            if recorder is not None:
                offset, index = recorder.queue.popleft()
                if len(index) != b:
                    raise InputError(
                        f"the DataLoader's collate_fn turned {len(index)} samples into a batch of {b}; capture "
                        f"cannot tell which samples it holds — put an 'ids' field in each batch"
                    )
            else:
                index = np.arange(offset, offset + b, dtype=np.int64)
            if ids is None and self.random_unrecorded:
                raise InputError(
                    f"{self.kind} delivers its samples in an order capture cannot record, and its batches carry "
                    f"no 'ids' field: the rows could never be matched with another capture's. Use a "
                    f"torch.utils.data.DataLoader over a map-style Dataset (its indices become the ids), add "
                    f"an 'ids' field to each batch, or turn shuffling off"
                )
            if offset + b > skip:
                yield Batch(offset, x, lab, attrs, None if ids is None else as_ids(ids, "ids in the batch"), index)
            offset += b


def _sampler_of(data: Any) -> Any:
    bs = getattr(data, "batch_sampler", None)
    return bs if bs is not None else getattr(data, "sampler", None)


def _rebuild_loader(dl: Any, batch_sampler: Any) -> Any:
    """A copy of DataLoader ``dl`` that draws its batches from ``batch_sampler``."""
    from torch.utils.data import DataLoader

    kw: dict[str, Any] = {
        "batch_sampler": batch_sampler, "num_workers": dl.num_workers, "collate_fn": dl.collate_fn,
        "pin_memory": dl.pin_memory, "timeout": dl.timeout, "worker_init_fn": dl.worker_init_fn,
        "multiprocessing_context": dl.multiprocessing_context, "generator": dl.generator,
        "persistent_workers": dl.persistent_workers,
    }
    if dl.num_workers > 0:
        kw["prefetch_factor"] = dl.prefetch_factor
    if getattr(dl, "pin_memory_device", ""):
        kw["pin_memory_device"] = dl.pin_memory_device
    if hasattr(dl, "in_order"):
        kw["in_order"] = dl.in_order
    return DataLoader(dl.dataset, **kw)


def plan(data: Any) -> DataPlan:
    """Inspect ``data`` once: how many rows, how ids are found, whether it can be captured honestly."""
    import torch
    from torch.utils.data import DataLoader, IterableDataset

    if isinstance(data, torch.Tensor | np.ndarray):
        n = int(data.shape[0])
        return DataPlan(data, n, n, False, False, "the array")
    if not isinstance(data, Iterable):
        raise InputError(f"data of type {type(data).__name__} is not a tensor, array, DataLoader or iterable")
    sampler = _sampler_of(data)
    random = _is_random(sampler)
    if type(data) is DataLoader and not isinstance(data.dataset, IterableDataset):
        bs = data.batch_sampler
        ordered = getattr(data, "in_order", True) or data.num_workers == 0
        if bs is not None and ordered:
            n_index = _len_or_none(data.dataset)
            return DataPlan(data, _rows_of_batch_sampler(bs), n_index, True, False, "the DataLoader")
        if bs is None:
            raise InputError(
                "the DataLoader has batch_size=None, so it yields single unbatched samples; give it a "
                "batch_size (capture needs batches whose first axis is the sample)"
            )
        # workers that deliver batches out of order: positions mean nothing, whatever the sampler
        return DataPlan(data, _len_or_none(data.dataset), _len_or_none(data.dataset), False, True,
                        "the DataLoader (in_order=False with workers)")
    n = None
    ds = getattr(data, "dataset", None)
    if ds is not None and not random:
        n = _len_or_none(ds)
    return DataPlan(data, n, n, False, random, f"the {type(data).__name__}")


def _len_or_none(obj: Any) -> int | None:
    try:
        return len(obj)
    except TypeError:
        return None


def _rows_of_batch_sampler(bs: Any) -> int | None:
    sampler, size = getattr(bs, "sampler", None), getattr(bs, "batch_size", None)
    n = _len_or_none(sampler) if sampler is not None else None
    if n is None or size is None:
        return None
    return (n // size) * size if getattr(bs, "drop_last", False) else n


def to_device(x: Any, device: Any) -> Any:
    import torch

    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x).to(device)
    if isinstance(x, Mapping):
        return {k: to_device(v, device) for k, v in x.items()}
    return x


def run_forward(model: Any, x: Any, device: Any, forward: Any = None) -> Any:
    """Move ``x`` to ``device`` and call the model (``forward(model, x)``, ``model(**x)`` or ``model(x)``)."""
    xin = to_device(x, device)
    if forward is not None:
        return forward(model, xin)
    if isinstance(xin, Mapping):
        return model(**xin)
    return model(xin)
