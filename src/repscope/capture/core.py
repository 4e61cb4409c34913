"""Forward-hook capture into a resumable, chunked zarr store, in four named steps.

:func:`capture` is their composition; each step can be called (and tested) on its own:

1. :func:`plan_capture` checks every argument, resolves the layers, pools and hook points, and computes the
   resume fingerprint: a :class:`CapturePlan`. Nothing is written.
2. :func:`open_capture` opens the :class:`~repscope.store.StoreWriter`: a new store, or the resume of one
   made with the same plan (one made with another model, data or options is refused, naming what changed).
3. :func:`run_capture` runs the batch loop: hooks on, one forward pass per batch, rows appended (committed
   chunk by chunk, so a killed capture resumes); Ctrl-C/SIGTERM stop it cleanly (:class:`CaptureInterrupted`).
4. :func:`commit_capture` records completion atomically and returns the
   :class:`~repscope.store.ActivationStore`.

The hooks live in :mod:`repscope.capture.hooks`, the fingerprint digests in :mod:`repscope.capture.fingerprint`,
the data forms in :mod:`repscope.capture.data`.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from repscope.capture.data import Batch, DataPlan, as_ids, as_numpy_1d, batch_len, plan, run_forward
from repscope.capture.fingerprint import column_digest, data_fingerprint, model_fingerprint
from repscope.capture.hooks import OutputIndex, _Recorder
from repscope.capture.pooling import normalise_mode, per_layer
from repscope.capture.select import LayerSpec, resolve_layers
from repscope.errors import CaptureError, InputError, RepscopeError

if TYPE_CHECKING:
    import torch

    from repscope.store import ActivationStore, StoreWriter

POINTS = ("post", "pre")


def _point(value: Any, where: str) -> str:
    if value not in POINTS:
        raise InputError(f"point={value!r}{where} is not one of {', '.join(POINTS)}")
    return str(value)


# ------------------------------------------------------------------------------------------ capture


def capture(
    model: Any,
    data: Any,
    layers: LayerSpec | Iterable[LayerSpec] | None = None,
    out: str | os.PathLike = "acts.zarr",
    *,
    pool: str | int | Mapping[str, str | int] = "none",
    point: str | Mapping[str, str] = "post",
    batch_size: int = 256,
    labels: Any = None,
    attributes: Mapping[str, Any] | None = None,
    ids: Any = None,
    device: Any = None,
    dtype: str = "float32",
    output_index: int | str | Callable[[Any], Any] = 0,
    forward: Callable[[Any, Any], Any] | None = None,
    resume: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    dataset: str | None = None,
    chunk_rows: int | None = None,
    shard: tuple[int, int] | None = None,
) -> ActivationStore:
    """Run ``model`` over ``data`` and store the chosen layers' activations on disk.

    Parameters
    ----------
    model : torch.nn.Module
        Any module; it is put in ``eval()`` mode for the capture (its mode is restored afterwards).
    data : Tensor | ndarray | DataLoader | iterable of batches
        A batch is a tensor, a tuple ``(x, y[, attributes_dict])``, or a mapping of model keyword inputs
        (with optional ``"labels"``, ``"attributes"`` and ``"ids"``). Tensors/arrays are split into
        ``batch_size`` batches. Where sample ids come from (``ids=``, an ``ids`` field, the Dataset index of a
        DataLoader — shuffled or not —, else the position) and which shuffled loaders are refused:
        :mod:`repscope.capture.data`.
    layers : exact module names, globs (``*`` within one dotted segment: ``"encoder.layer.*"`` is the direct
        children; ``**`` across segments: ``"encoder.**"``), ``"re:REGEX"`` (full match), or predicates
        ``(name, module) -> bool``; ``None`` = every leaf module. An unknown exact name raises with close
        matches; an exact name that does not run raises; pattern/predicate/default matches that do not run
        (or run twice, or have no batch axis) are skipped with one warning naming them
        (:mod:`repscope.capture.select`).
    out : path of the zarr store directory.
    pool : per-layer reduction that knows its axes (:mod:`repscope.capture.pooling`): ``"none"`` (keep all,
        flattened; shape in metadata), ``"mean"``/``"max"`` (spatial axes of (N, C, …) maps, tokens of
        (N, T, D) sequences — masked by ``attention_mask``; (N, D) kept), ``"spatial_mean"``/``"spatial_max"``,
        ``"token_mean"``, ``"cls"``, ``"last"``, ``"pos:K"``/int ``K``; one value or a mapping
        ``{name | glob | "re:…": pool, "*": default}``. The feature axis is never reduced; a mode that does
        not fit the output's rank raises naming the shape and the mode that fits.
    point : ``"post"`` (module output) or ``"pre"`` (module input, e.g. preactivations entering a
        nonlinearity); one value or a mapping as for ``pool``.
    labels, attributes, ids : per-sample 1-D arrays (full length, in the data's order — for a DataLoader
        over a map-style Dataset one per Dataset item), stored with the activations. Labels found in the
        batches (``(x, y)`` tuples) are used when ``labels`` is not given; ``ids`` must be unique integers.
    device : run the model there (``"cuda"``, ``"cpu"``, ``"auto"``; ``None`` keeps the model where it is).
    dtype : ``"float32"`` (default) or ``"float16"`` storage; bf16/fp16 activations are converted.
    output_index : which element of a tuple/dict output to keep (index, key, or callable).
    forward : ``forward(model, x)`` for models not called as ``model(x)``.
    resume : continue an existing store made with the same arguments (kill -9 safe); a complete store
        is returned as is. ``overwrite=True`` replaces an existing store instead.
    shard : ``(i, k)``: distributed capture — this process writes only shard ``i`` (0 ≤ i < k) of the rows
        (whole chunks: :func:`repscope.store.core.shard_rows`) into the store that ``k`` processes (one per GPU
        or node, any order, concurrently) fill with the same arguments; ``--shard i/k`` on the CLI. Each shard
        has its own lock and commit record; a killed shard resumes alone with the same call. Every batch is
        formed as in a single-process capture (the boundary batches are computed whole and trimmed), so the
        finished store holds the same values. Needs data of known length in a fixed order (no shuffling).
        Returns the store as it stands: ``complete`` once every shard has committed (``open_store`` names
        the missing shards until then). ``overwrite=True`` is refused (it would delete the other shards).

    Returns
    -------
    ActivationStore

    Notes
    -----
    Four steps, each callable alone: :func:`plan_capture` (checks; nothing written) → :func:`open_capture`
    (new store or resume) → :func:`run_capture` (the batch loop) → :func:`commit_capture` (atomic completion).
    """
    plan = plan_capture(
        model, data, layers, out, pool=pool, point=point, batch_size=batch_size, labels=labels,
        attributes=attributes, ids=ids, device=device, dtype=dtype, output_index=output_index, forward=forward,
        dataset=dataset, chunk_rows=chunk_rows, shard=shard,
    )
    writer = open_capture(plan, resume=resume, overwrite=overwrite)
    if not writer.complete:
        run_capture(plan, writer, progress=progress)
    return commit_capture(plan, writer)


# ------------------------------------------------------------------------------------- 1. plan


@dataclass(frozen=True)
class CapturePlan:
    """A checked capture: what :func:`plan_capture` returns and the other steps read.

    ``fingerprint`` is what a resumed capture must match (the store writer compares it), ``provenance`` what
    the store records about how it was made. ``labels``, ``ids`` and ``attributes`` are the full-length
    per-sample arrays given to :func:`capture` (None / empty when the batches carry them)."""

    model: torch.nn.Module
    data: DataPlan
    out: str | os.PathLike
    layers: tuple[str, ...]  # modules to hook, in module order
    optional: frozenset[str]  # chosen by a pattern, predicate or the default: dropped when they store nothing
    pools: dict[str, str]
    points: dict[str, str]
    batch_size: int
    dtype: str  # storage: "float32" or "float16"
    output_index: OutputIndex
    forward: Callable[[Any, Any], Any] | None
    device: torch.device | None  # where to run the model (None: where it is)
    labels: np.ndarray | None
    ids: np.ndarray | None
    attributes: dict[str, np.ndarray]
    chunk_rows: int | None
    shard: tuple[int, int] | None
    fingerprint: dict[str, Any]
    provenance: dict[str, Any]

    @property
    def n_total(self) -> int | None:
        """Rows the data will deliver (None: unknown until the end)."""
        return self.data.n_rows

    @property
    def torch_dtype(self) -> torch.dtype:
        """The storage dtype as a torch dtype (what the hooks convert to)."""
        import torch

        return torch.float32 if self.dtype == "float32" else torch.float16


def plan_capture(
    model: Any,
    data: Any,
    layers: LayerSpec | Iterable[LayerSpec] | None = None,
    out: str | os.PathLike = "acts.zarr",
    *,
    pool: str | int | Mapping[str, str | int] = "none",
    point: str | Mapping[str, str] = "post",
    batch_size: int = 256,
    labels: Any = None,
    attributes: Mapping[str, Any] | None = None,
    ids: Any = None,
    device: Any = None,
    dtype: str = "float32",
    output_index: OutputIndex = 0,
    forward: Callable[[Any, Any], Any] | None = None,
    dataset: str | None = None,
    chunk_rows: int | None = None,
    shard: tuple[int, int] | None = None,
) -> CapturePlan:
    """Step 1 of :func:`capture` (same arguments): check them and plan the capture, writing nothing.

    Resolves the layers, their pools and hook points, how the data is walked (:func:`repscope.capture.data.plan`),
    checks the per-sample arrays against the data's length, picks the device, and computes the resume
    fingerprint (digests of the weights, a sample of the data, the columns) and the provenance. Raises
    :class:`~repscope.errors.InputError` naming the bad argument and the fix. The shard numbers and the
    output location are checked when the store is opened (:func:`open_capture`)."""
    import torch

    if not isinstance(model, torch.nn.Module):
        raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if dtype not in ("float32", "float16"):
        raise InputError(f"dtype={dtype!r}: choose 'float32' or 'float16'")
    if int(batch_size) < 1:
        raise InputError(f"batch_size must be ≥ 1, got {batch_size}")
    selection = resolve_layers(model, layers)
    names = selection.names
    pools = per_layer(pool, names, "pool", normalise_mode)
    points = per_layer(point, names, "point", _point)
    data_plan = plan(data)
    if data_plan.n_rows == 0:
        raise InputError("data has no samples")
    if shard is not None and data_plan.shuffles:
        raise InputError(f"shard={shard!r} needs the same sample order in every process, but {data_plan.kind} "
                         f"shuffles; turn shuffling off (ids keep each sample's identity)")
    full_labels, full_ids, full_attrs = _columns(data_plan, labels, ids, attributes)
    from repscope.parallel import resolve_device  # the one place devices are chosen ("auto", REPSCOPE_DEVICE...)

    dev = None if device is None else resolve_device(device)
    model_fp = model_fingerprint(model)
    fingerprint = {
        "layers": names, "pool": pools, "point": points, "dtype": dtype, "n_total": data_plan.n_rows,
        "output_index": output_index if isinstance(output_index, int | str) else "callable",
        "model": model_fp,
        "data": data_fingerprint(data, data_plan.n_index if data_plan.indexed else data_plan.n_rows),
        "order": data_plan.order_digest(),
        "labels": column_digest(full_labels),
        "ids": column_digest(full_ids),
        "attributes": {k: column_digest(v) for k, v in sorted(full_attrs.items())},
        "chunk_rows": chunk_rows,
        **({} if shard is None else {"shards": int(shard[1])}),
    }
    provenance = {
        "model": {**model_fp, "repr_head": repr(model)[:400]},
        "dataset": dataset or type(data).__name__,
        "torch_version": torch.__version__,
        "capture": {"pool": pools, "point": points, "batch_size": int(batch_size), "device": str(dev or "model's")},
    }
    return CapturePlan(
        model=model, data=data_plan, out=out, layers=tuple(names), optional=frozenset(selection.optional),
        pools=pools, points=points, batch_size=int(batch_size), dtype=dtype, output_index=output_index,
        forward=forward, device=dev, labels=full_labels, ids=full_ids, attributes=full_attrs,
        chunk_rows=chunk_rows, shard=shard, fingerprint=fingerprint, provenance=provenance,
    )


def _columns(data_plan: DataPlan, labels: Any, ids: Any, attributes: Mapping[str, Any] | None
             ) -> tuple[np.ndarray | None, np.ndarray | None, dict[str, np.ndarray]]:
    """The full-length ``labels``, ``ids`` and ``attributes`` as 1-D arrays, checked against the data: one
    entry per sample (per Dataset item for an indexed loader), unique ids, and an order capture can record."""
    full_labels = None if labels is None else as_numpy_1d(labels, "labels")
    full_attrs = {str(k): as_numpy_1d(v, f"attribute {k!r}") for k, v in (attributes or {}).items()}
    full_ids = None if ids is None else as_ids(ids, "ids")
    checks = [("labels", full_labels), ("ids", full_ids), *[(f"attribute {k!r}", v) for k, v in full_attrs.items()]]
    per_what = "Dataset item (they are looked up by Dataset index)" if data_plan.indexed else "sample"
    n_index = data_plan.n_index
    for what, arr in checks:
        if arr is not None and data_plan.random_unrecorded:
            raise InputError(
                f"{what} cannot be matched to the rows of {data_plan.kind}: it delivers samples in an order "
                f"capture cannot record; put them in the batches or turn shuffling off"
            )
        if arr is not None and n_index is not None and len(arr) != n_index:
            raise InputError(
                f"{what} has {len(arr)} entries but the data has {n_index} samples; pass one per {per_what}"
            )
    if full_ids is not None and len(np.unique(full_ids)) != len(full_ids):
        raise InputError("ids must be unique (one id per sample)")
    return full_labels, full_ids, full_attrs


# --------------------------------------------------------------------------------- 2. open


def open_capture(plan: CapturePlan, *, resume: bool = True, overwrite: bool = False) -> StoreWriter:
    """Step 2 of :func:`capture`: open the store writer for ``plan`` at ``plan.out``.

    A new store is created; an existing one made with the same fingerprint is resumed (its committed rows
    are kept, ``writer.committed`` says how many; kill -9 safe). One made with another model, data, labels
    or options raises :class:`~repscope.errors.StoreError` naming what differs and the fix
    (``overwrite=True``, which replaces it, or another ``out``); ``resume=False`` refuses any existing store.
    A writer whose store is already complete has ``complete`` set: :func:`commit_capture` returns that
    store as is. The writer holds the store's lock until it is finished, aborted or closed."""
    from repscope.store import StoreWriter

    return StoreWriter(
        plan.out, fingerprint=plan.fingerprint, provenance=plan.provenance, n_total=plan.n_total, resume=resume,
        overwrite=overwrite, dtype=plan.dtype, chunk_rows=plan.chunk_rows, shard=plan.shard,
    )


# ---------------------------------------------------------------------------------- 3. run


@dataclass(frozen=True)
class CaptureRun:
    """What :func:`run_capture` did."""

    resumed_from: int  # rows an earlier run had committed (not computed again)
    rows: int  # rows this run appended
    batches: int  # forward passes made (a resumed run recomputes the batch holding its first row)
    layers: tuple[str, ...]  # layers stored (optional ones that store nothing are dropped, with a warning)


def run_capture(plan: CapturePlan, writer: StoreWriter, *, progress: bool = True) -> CaptureRun:
    """Step 3 of :func:`capture`: run the model over the data's batches (from the writer's first uncommitted
    row, to the end of its shard) and append each layer's rows to ``writer``; nothing is marked complete.

    The model is in ``eval()`` mode under ``torch.inference_mode()`` with hooks on, and gets its mode back
    afterwards; hooks are always removed. The batches are formed as in an uninterrupted run, so a resumed
    capture stores the same values. Any error aborts the writer (the committed rows stay, a re-run resumes)
    and is re-raised — a model that raises as :class:`~repscope.errors.CaptureError`, Ctrl-C or SIGTERM as
    :class:`CaptureInterrupted`. ``progress``: a bar on stderr when it is a terminal."""
    import torch

    model = plan.model
    was_training = model.training
    model.eval()
    try:
        with _writing(writer, plan.n_total):
            if plan.device is not None:
                model.to(plan.device)
            run_dev = plan.device if plan.device is not None else next(
                (p.device for p in model.parameters()), torch.device("cpu"))
            layers = list(plan.layers)
            if writer.shard is not None and writer.chunk_rows is None:  # the creator of a sharded store
                layers = _probe_chunk_rows(plan, writer, run_dev)
            return _run_batches(plan, writer, layers, run_dev, progress)
    finally:
        model.train(was_training)


def _run_batches(plan: CapturePlan, writer: StoreWriter, layers: list[str], run_dev: torch.device,
                 progress: bool) -> CaptureRun:
    """The batch loop of :func:`run_capture`: forward, pick this run's rows and their columns, append."""
    import torch

    skip = writer.committed
    lo_row, stop = writer.shard_range if writer.shard_range is not None else (0, None)
    total = plan.n_total if stop is None else stop - lo_row
    modules = dict(plan.model.named_modules())
    layer_meta = {n: {"pool": plan.pools[n], "point": plan.points[n], "module": type(modules[n]).__name__}
                  for n in layers}
    rows = n_batch = 0
    seen_ids: list[np.ndarray] = []
    with _Recorder(plan.model, layers, plan.pools, plan.points, plan.output_index, plan.torch_dtype,
                   plan.optional) as rec, _Progress(total, skip - lo_row, progress) as prog, torch.inference_mode():
        for bat in plan.data.batches(plan.batch_size, skip):
            if stop is not None and bat.offset >= stop:
                break  # past this shard's rows
            acts = _forward(plan, rec, bat, run_dev, n_batch, writer)
            b = rec.n
            lo = max(0, skip - bat.offset)  # rows of this batch already committed by an earlier run
            hi = b if stop is None else min(b, stop - bat.offset)  # rows past this shard's end belong to the next
            sl = slice(lo, hi)
            bid, lab, attrs = _batch_columns(plan, bat, b, sl)
            _add_n_tokens(attrs, rec, acts, b, sl, n_batch, writer.attribute_names)
            seen_ids.append(bid)
            order = rec.execution_index()
            writer.append({k: v[sl] for k, v in acts.items()}, ids=bid, labels=lab, attributes=attrs,
                          layer_meta={n: {**layer_meta[n], "axes": rec.axes.get(n), "exec_index": order[n]}
                                      for n in acts})
            prog.advance(hi - lo)
            rows += hi - lo
            n_batch += 1
        if writer.chunk_rows is None:
            raise InputError("the data produced no batches")
        _check_seen(plan, seen_ids, skip + rows)
        return CaptureRun(resumed_from=skip, rows=rows, batches=n_batch, layers=tuple(rec.layers))


def _forward(plan: CapturePlan, rec: _Recorder, bat: Batch, run_dev: torch.device, n_batch: int,
             writer: StoreWriter) -> dict[str, np.ndarray]:
    """One forward pass over batch ``bat`` with ``rec``'s hooks on: each layer's reduced rows. An exception
    of the model becomes a CaptureError naming the batch (one a hook raised comes out as itself)."""
    import torch

    b = batch_len(bat.x)
    rec.n = b
    rec.mask = bat.x.get("attention_mask") if isinstance(bat.x, Mapping) else None
    try:
        run_forward(plan.model, bat.x, run_dev, plan.forward)
    except RepscopeError:
        raise
    except Exception as exc:
        if isinstance(rec.error, RepscopeError):
            raise rec.error from None
        raise CaptureError(
            f"the model raised during its forward pass on batch {n_batch} (samples {bat.offset}–"
            f"{bat.offset + b - 1}): {type(exc).__name__}: {exc}. Hooks were removed; the store keeps "
            f"{writer.committed} complete rows — fix the model or data and re-run to resume"
        ) from exc
    if run_dev.type == "cuda":
        torch.cuda.synchronize(run_dev)
    return rec.collect()


def _batch_columns(plan: CapturePlan, bat: Batch, b: int, sl: slice
                   ) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray]]:
    """Sample ids, labels and attributes of rows ``sl`` of a batch of ``b``: looked up in the full-length
    arrays by each row's Dataset index (or position), else taken from the batch; ids default to that index."""
    rows = bat.index[sl]  # Dataset index (or position) of each row
    if plan.ids is not None:
        bid = _rows_of(plan.ids, rows, "ids")
    elif bat.ids is not None:
        if len(bat.ids) != b:
            raise InputError(f"a batch of {b} samples carries {len(bat.ids)} ids; give one per sample")
        bid = bat.ids[sl]
    else:
        bid = rows
    lab = _labels_for(plan.labels, bat.labels, rows, sl)
    attrs = {k: _rows_of(v, rows, f"attribute {k!r}") for k, v in plan.attributes.items()}
    for k, v in (bat.attributes or {}).items():
        attrs.setdefault(str(k), as_numpy_1d(v, f"attribute {k!r}")[sl])
    return bid, lab, attrs


def _check_seen(plan: CapturePlan, seen_ids: list[np.ndarray], n_seen: int) -> None:
    """After the last batch: every id once, and as many labels as samples when the length was unknown."""
    all_ids = np.concatenate(seen_ids) if seen_ids else np.zeros(0, np.int64)
    if len(np.unique(all_ids)) != len(all_ids):
        raise InputError(
            "some sample ids occur more than once (a sampler drawing with replacement, or repeated ids "
            "in the batches); each sample must be captured once, with a unique id"
        )
    if plan.labels is not None and plan.n_total is None and n_seen != len(plan.labels):
        raise InputError(
            f"labels has {len(plan.labels)} entries but the data had {n_seen} samples; "
            f"pass one label per sample"
        )


def _probe_chunk_rows(plan: CapturePlan, writer: StoreWriter, run_dev: torch.device) -> list[str]:
    """The first shard writer to open a sharded store must know the chunk size before it knows its rows: run
    the data's first batch once (hooks on, nothing stored) to learn the layers' widths, fix the chunk size,
    and return the layers that can be stored (optional ones that cannot are dropped here, with the warning)."""
    import torch

    first = next(iter(plan.data.batches(plan.batch_size, 0)))
    with _Recorder(plan.model, plan.layers, plan.pools, plan.points, plan.output_index, plan.torch_dtype,
                   plan.optional) as rec, torch.inference_mode():
        acts = _forward(plan, rec, first, run_dev, 0, writer)
    writer.set_chunk_rows(writer.plan_chunk_rows(acts))
    return rec.layers


# ------------------------------------------------------------------------------- 4. commit


def commit_capture(plan: CapturePlan, writer: StoreWriter) -> ActivationStore:
    """Step 4 of :func:`capture`: write the last partial chunk, record completion atomically (``progress.json``
    is replaced in one step, after every array has its rows) and release the lock; return the store.

    A sharded capture returns the store as it stands (complete once every shard has committed). A writer
    that found its store already complete (:func:`open_capture`) is closed and the store returned as is,
    with a warning saying so (``already_complete`` is set on it). An error aborts the writer (the committed
    rows stay; re-running resumes)."""
    from repscope.store import open_store

    if writer.complete:
        return _as_is(plan, writer)
    with _writing(writer, plan.n_total):
        writer.finish()
    return open_store(plan.out, allow_incomplete=plan.shard is not None)


def _as_is(plan: CapturePlan, writer: StoreWriter) -> ActivationStore:
    from repscope.store import open_store

    writer.close()
    st = open_store(plan.out, allow_incomplete=plan.shard is not None)
    st.already_complete = True
    if plan.shard is None:
        msg = (f"store '{plan.out}' is already complete ({st.n_samples} rows captured with the same model, data "
               f"and options); returning it as is — pass overwrite=True (--overwrite) to capture again")
    else:
        msg = (f"shard {plan.shard[0]}/{plan.shard[1]} of store '{plan.out}' is already complete (same model, "
               f"data and options); nothing to do")
    warnings.warn(msg, stacklevel=4)  # the caller of capture()
    return st


@contextmanager
def _writing(writer: StoreWriter, n_total: int | None) -> Iterator[None]:
    """Around a step that writes: SIGTERM raises (:class:`_signals`); any exception aborts the writer (its
    commit record says why) and is re-raised, Ctrl-C and SIGTERM as :class:`CaptureInterrupted`."""
    try:
        with _signals():
            yield
    except KeyboardInterrupt as exc:
        term = isinstance(exc, _Terminated)
        writer.abort("interrupted (SIGTERM)" if term else "interrupted (Ctrl-C)")
        total = f" of {n_total}" if n_total is not None else ""
        raise CaptureInterrupted(
            f"interrupted at {writer.committed}{total} rows; re-run the same command to resume",
            143 if term else 130,
        ) from None
    except BaseException as exc:
        writer.abort(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        raise


# ------------------------------------------------------------------------------------------ helpers


class CaptureInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a capture: the committed rows are safe, re-running resumes.

    A ``KeyboardInterrupt`` subclass (so it stops a script as Ctrl-C does); ``exit_code`` is 130 for
    SIGINT and 143 for SIGTERM, and ``str()`` says where it stopped."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Terminated(KeyboardInterrupt):
    """Raised by the SIGTERM handler installed for the duration of a capture."""


class _signals:
    """Turn SIGTERM into an exception in the main thread for the duration of a capture (so the writer
    aborts cleanly and the user is told how to resume); restore the previous handler afterwards."""

    def __enter__(self) -> _signals:
        import signal
        import threading

        self._old: Any = None
        if threading.current_thread() is threading.main_thread():
            def _raise(signum: int, frame: object) -> None:
                raise _Terminated()

            self._old = signal.signal(signal.SIGTERM, _raise)
        return self

    def __exit__(self, *exc: Any) -> None:
        import signal

        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)


N_TOKENS = "n_tokens"


def _add_n_tokens(attrs: dict[str, np.ndarray], rec: _Recorder, acts: Mapping[str, np.ndarray], b: int, sl: slice,
                  n_batch: int, stored: list[str] | None) -> None:
    """Store each sample's number of real tokens (the attention mask's sum) as the attribute ``n_tokens``
    when the batch carries a ``(batch, tokens)`` ``attention_mask``: the lenses read a sequence layer stored
    with ``pool="none"`` over its first ``n_tokens`` positions only. A mask that does not mark a prefix (left
    padding, gaps) is refused when a layer is stored token by token, since a count could not say which
    positions are real; an ``n_tokens`` attribute the user gave must agree with the mask. ``stored``: the
    store's attribute names when its arrays exist (a resumed store without the column stays without it)."""
    mask = rec.mask
    if mask is None or not hasattr(mask, "shape") or len(mask.shape) != 2 or int(mask.shape[0]) != b:
        return
    if stored is not None and N_TOKENS not in stored:
        return
    m = np.asarray(mask.detach().cpu().numpy() if hasattr(mask, "detach") else mask) != 0
    n = m.sum(axis=1).astype(np.int64)
    T = m.shape[1]
    seqs = [k for k, a in acts.items() if rec.axes.get(k) == "tokens, features" and a.ndim == 3 and a.shape[1] == T]
    if seqs and not np.array_equal(m, np.arange(T)[None, :] < n[:, None]):
        i = int(np.flatnonzero((m != (np.arange(T)[None, :] < n[:, None])).any(axis=1))[0])
        raise InputError(
            f"the attention_mask of batch {n_batch} does not mark each sample's real tokens as a prefix (sample "
            f"{i}: {''.join('1' if v else '0' for v in m[i][:32])}{'…' if T > 32 else ''}: left padding or gaps), "
            f"but layer(s) {', '.join(seqs[:4])} are stored token by token (pool='none') and the store keeps "
            f"the real-token count n_tokens, which marks the first n_tokens positions as real; tokenise with "
            f"padding_side='right', or pool these layers (pool='token_mean', 'cls' or 'last' use the mask)"
        )
    n = n[sl]
    if N_TOKENS in attrs:
        given = np.asarray(attrs[N_TOKENS])
        if given.shape != n.shape or not np.array_equal(given.astype(np.float64), n.astype(np.float64)):
            raise InputError(
                f"attribute 'n_tokens' disagrees with the attention_mask of batch {n_batch} ({given.tolist()[:4]} "
                f"vs {n.tolist()[:4]} real tokens); leave it out — capture stores n_tokens from the mask"
            )
        return
    attrs[N_TOKENS] = n


def _rows_of(arr: np.ndarray, rows: np.ndarray, what: str) -> np.ndarray:
    if len(rows) and rows.max() >= len(arr):
        raise InputError(f"{what} has {len(arr)} entries but the data has more samples; pass one per sample")
    return arr[rows]


def _labels_for(full: np.ndarray | None, y_batch: Any, rows: np.ndarray, sl: slice) -> np.ndarray | None:
    if full is not None:
        return _rows_of(full, rows, "labels")
    if y_batch is None:
        return None
    y = as_numpy_1d(y_batch, "labels in the batch")
    return y[sl]


class _Progress:
    """A rich progress bar with samples/s (silent when disabled)."""

    def __init__(self, total: int | None, done: int, enabled: bool) -> None:
        self.total, self.done, self.enabled = total, done, enabled
        self._t0 = time.perf_counter()
        self._n = 0

    def __enter__(self) -> _Progress:
        # The bar goes to stderr (stdout stays clean for --json) and only when stderr is a terminal.
        self.enabled = self.enabled and sys.stderr.isatty()
        if self.enabled:
            from repscope.parallel import progress_bar

            self._p = progress_bar(True, rate="samples", transient=False)
            self._p.__enter__()
            self._task = self._p.add_task("capture", total=self.total, completed=self.done, rate="")
        return self

    def advance(self, k: int) -> None:
        self._n += k
        if self.enabled:
            rate = self._n / max(time.perf_counter() - self._t0, 1e-9)
            self._p.update(self._task, advance=k, rate=f"{rate:,.0f} samples/s")

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self._p.__exit__(*exc)
