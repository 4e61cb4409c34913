"""Forward-hook capture into a resumable, chunked zarr store."""

from __future__ import annotations

import hashlib
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from repscope.capture.data import (
    as_ids,
    as_numpy_1d,
    batch_len,
    plan,
    run_forward,
)
from repscope.capture.pooling import layouts, normalise_mode, per_layer, reduce, stored_axes
from repscope.capture.select import LayerSpec, resolve_layers
from repscope.errors import CaptureError, InputError, RepscopeError

POINTS = ("post", "pre")


def _point(value: Any, where: str) -> str:
    if value not in POINTS:
        raise InputError(f"point={value!r}{where} is not one of {', '.join(POINTS)}")
    return value


def _select_output(out: Any, output_index: int | str | Callable[[Any], Any], layer: str) -> Any:
    import torch

    if callable(output_index):
        out = output_index(out)
    elif isinstance(out, Mapping):
        keys = list(out)
        if isinstance(output_index, str) and output_index not in out:
            raise InputError(f"layer {layer!r} returns a mapping without key {output_index!r}; keys: {keys}")
        if not isinstance(output_index, str) and not -len(keys) <= output_index < len(keys):
            raise InputError(f"layer {layer!r} returns a mapping of {len(keys)}; output_index={output_index} is "
                             f"out of range (keys: {keys})")
        out = out[output_index] if isinstance(output_index, str) else out[keys[output_index]]
    elif isinstance(out, tuple | list):
        if isinstance(output_index, str):
            raise InputError(f"layer {layer!r} returns a tuple; output_index must be an integer")
        if not -len(out) <= output_index < len(out):
            raise InputError(f"layer {layer!r} returns a {type(out).__name__} of {len(out)}; output_index="
                             f"{output_index} is out of range")
        out = out[output_index]
    if not isinstance(out, torch.Tensor):
        raise InputError(
            f"layer {layer!r} produced {type(out).__name__}, not a tensor; pass output_index= (an index, key "
            f"or callable) to pick the tensor to store"
        )
    return out


def _private_copy(t: Any, out: Any, dtype: Any) -> Any:
    """``t`` (the reduced output) in the store dtype, contiguous, on the CPU, in memory the model will not
    touch again: a later in-place module (``ReLU(inplace=True)``, ``x += …``) would otherwise overwrite
    the stored rows of a layer kept without pooling (or of a ``cls``/``pos:K`` view) before they are
    written. One copy at most: a conversion or a reduction already made new memory."""
    import torch

    if t.device.type != "cpu":
        # converted on the device (fewer bytes to move), then copied to host; the copy is queued on the
        # stream before any later in-place kernel, so it sees the values as they were here
        return t.to(dtype).to("cpu", non_blocking=True)
    shares = t.untyped_storage().data_ptr() == out.untyped_storage().data_ptr()
    if t.dtype == dtype and not shares:
        return t.contiguous()
    return t.to(dtype=dtype, memory_format=torch.contiguous_format, copy=shares and t.dtype == dtype)


class _Skip(Exception):
    """A layer chosen by a pattern cannot be stored (did not run, ran twice, no batch axis, not a tensor)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # a few words for the one warning


class _Recorder:
    """Registers hooks, collects one reduced tensor per layer per forward pass, always removes hooks.

    Layers in ``optional`` (chosen by a pattern, predicate or the default) that cannot be stored are dropped
    after the first batch with one warning; the same problem on an exactly named layer raises.
    """

    def __init__(self, model, layers, pools, points, output_index, dtype, optional=()):
        self.model, self.layers, self.pools, self.points = model, list(layers), pools, points
        self.output_index, self.dtype = output_index, dtype
        self.optional = set(optional)
        self.layouts = layouts(model, self.layers)
        self.handles: dict[str, Any] = {}
        self.batch: dict[str, Any] = {}
        self.skipped: dict[str, str] = {}  # optional layer → why it is dropped (first batch only)
        self.axes: dict[str, str] = {}  # layer → names of the stored per-sample axes
        self.first = True
        self.n = 0  # size of the current batch
        self.error: BaseException | None = None
        self.mask: Any = None  # attention mask of the current batch, if any
        self.order: list[str] = []  # layers in the order their hooks first stored something (first batch)

    def __enter__(self) -> _Recorder:
        modules = dict(self.model.named_modules())
        try:
            for name in self.layers:
                mod = modules[name]
                if self.points[name] == "pre":
                    h = mod.register_forward_pre_hook(self._make_hook(name, pre=True), with_kwargs=True)
                else:
                    h = mod.register_forward_hook(self._make_hook(name, pre=False))
                self.handles[name] = h
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def remove(self) -> None:
        for h in self.handles.values():
            h.remove()
        self.handles.clear()

    def _make_hook(self, name: str, *, pre: bool):
        store_dtype = self.dtype

        def hook(module, inputs, output=None):
            # pre-hooks (with_kwargs=True) get (module, args, kwargs): the input is the first positional
            # argument, else the first keyword argument (Hugging Face blocks take hidden_states=...)
            try:
                if name in self.skipped:
                    return None
                if name in self.batch:
                    del self.batch[name]
                    raise _Skip(
                        f"module {name!r} ran more than once in one forward pass (shared or recurrent module); "
                        f"capture a module that runs once per input, e.g. the enclosing RNN",
                        "ran more than once per forward pass",
                    )
                val = (inputs or tuple(output.values())) if pre else output
                try:
                    t = _select_output(val, 0 if pre else self.output_index, name)
                except InputError as exc:
                    raise _Skip(str(exc), f"output is a {type(val).__name__}, not a tensor") from None
                if t.ndim == 0 or t.shape[0] != self.n:
                    raise _Skip(
                        f"layer {name!r} produced shape {tuple(t.shape)}, whose first axis is not the batch of "
                        f"{self.n} samples (an RNN without batch_first=True puts time first; position tables "
                        f"have no batch axis); use batch_first=True, output_index=, or another layer",
                        f"no batch axis: shape {tuple(t.shape)}",
                    )
                if name not in self.axes:
                    self.axes[name] = stored_axes(t.ndim, self.pools[name], self.layouts[name])
                out = t.detach()
                t = reduce(out, self.pools[name], name, self.layouts[name], self.mask)
                self.batch[name] = _private_copy(t, out, store_dtype)
                if self.first:
                    self.order.append(name)
            except _Skip as exc:
                if self.first and name in self.optional:
                    self.skipped[name] = exc.reason
                    return None
                self._fail(InputError(str(exc)))
            except BaseException as exc:  # re-raised after forward, with context
                self._fail(exc)
            return None

        return hook

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        raise exc

    def collect(self) -> dict[str, np.ndarray]:
        missing = [n for n in self.layers if n not in self.batch and n not in self.skipped]
        if self.first:
            for n in [m for m in missing if m in self.optional]:
                self.skipped[n] = "did not run"
            missing = [m for m in missing if m not in self.optional]
        if missing:
            raise InputError(
                f"layers {missing} did not run during the forward pass; choose modules on the forward path "
                f"(repscope.capture.list_layers(model, example_input) shows which run)"
            )
        if self.first:
            self.first = False
            if self.skipped:
                self._drop()
            self.order = [n for n in self.order if n in self.layers]
        out = {n: self.batch[n].numpy() for n in self.layers}
        self.batch = {}
        return out

    def execution_index(self) -> dict[str, int]:
        """Each stored layer's position in execution order: the order in which the hooks first fired in the
        first forward pass (a container's output comes after its children's; a ``point="pre"`` hook fires
        before its module runs). Module registration order (``named_modules``) can differ from it."""
        return {n: i for i, n in enumerate(self.order)}

    def _drop(self) -> None:
        import warnings

        for n in self.skipped:
            self.handles.pop(n).remove()
        self.layers = [n for n in self.layers if n not in self.skipped]
        why = "; ".join(f"{n} ({r})" for n, r in self.skipped.items())
        if not self.layers:
            raise InputError(
                f"none of the selected layers can be stored: {why}. Pick modules on the forward path "
                f"(repscope.capture.list_layers(model, example_input) shows which run and their shapes)"
            )
        warnings.warn(
            f"skipped {len(self.skipped)} layer(s) matched by a pattern that produce nothing to store: {why}. "
            f"Name a layer exactly to get an error instead",
            UserWarning,
            stacklevel=4,
        )


# --------------------------------------------------------------------------------------------- data


def _model_fingerprint(model: Any) -> dict[str, Any]:
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


def _data_fingerprint(data: Any, n_total: int | None) -> dict[str, Any]:
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


def _column_digest(v: np.ndarray | None) -> str | None:
    if v is None:
        return None
    h = hashlib.blake2b(digest_size=16)
    _digest_value(h, np.asarray(v) if v.dtype.kind != "U" else np.asarray(v.astype(object)))
    return h.hexdigest()


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

        self._old = None
        if threading.current_thread() is threading.main_thread():
            def _raise(signum, frame):
                raise _Terminated()

            self._old = signal.signal(signal.SIGTERM, _raise)
        return self

    def __exit__(self, *exc: Any) -> None:
        import signal

        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)


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
):
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
    """
    import torch

    from repscope.store import StoreWriter, open_store

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
    n_total, n_index = data_plan.n_rows, data_plan.n_index
    if n_total == 0:
        raise InputError("data has no samples")
    if shard is not None and (data_plan.random_unrecorded or _shuffled(data)):
        raise InputError(f"shard={shard!r} needs the same sample order in every process, but {data_plan.kind} "
                         f"shuffles; turn shuffling off (ids keep each sample's identity)")

    full_labels = None if labels is None else as_numpy_1d(labels, "labels")
    full_attrs = {str(k): as_numpy_1d(v, f"attribute {k!r}") for k, v in (attributes or {}).items()}
    full_ids = None if ids is None else as_ids(ids, "ids")
    checks = [("labels", full_labels), ("ids", full_ids), *[(f"attribute {k!r}", v) for k, v in full_attrs.items()]]
    per_what = "Dataset item (they are looked up by Dataset index)" if data_plan.indexed else "sample"
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

    tdtype = torch.float32 if dtype == "float32" else torch.float16
    from repscope.parallel import resolve_device  # the one place devices are chosen ("auto", REPSCOPE_DEVICE...)

    dev = None if device is None else resolve_device(device)

    model_fp = _model_fingerprint(model)
    fingerprint = {
        "layers": names, "pool": pools, "point": points, "dtype": dtype, "n_total": n_total,
        "output_index": output_index if isinstance(output_index, int | str) else "callable",
        "model": model_fp,
        "data": _data_fingerprint(data, n_index if data_plan.indexed else n_total),
        "order": data_plan.order_digest(),
        "labels": _column_digest(full_labels),
        "ids": _column_digest(full_ids),
        "attributes": {k: _column_digest(v) for k, v in sorted(full_attrs.items())},
        "chunk_rows": chunk_rows,
        **({} if shard is None else {"shards": int(shard[1])}),
    }
    provenance = {
        "model": {**model_fp, "repr_head": repr(model)[:400]},
        "dataset": dataset or type(data).__name__,
        "torch_version": torch.__version__,
        "capture": {"pool": pools, "point": points, "batch_size": int(batch_size), "device": str(dev or "model's")},
    }
    writer = StoreWriter(
        out, fingerprint=fingerprint, provenance=provenance, n_total=n_total, resume=resume,
        overwrite=overwrite, dtype=dtype, chunk_rows=chunk_rows, shard=shard,
    )
    if writer.complete:
        writer.close()
        st = open_store(out, allow_incomplete=shard is not None)
        st.already_complete = True
        if shard is None:
            msg = (f"store '{out}' is already complete ({st.n_samples} rows captured with the same model, data and "
                   f"options); returning it as is — pass overwrite=True (--overwrite) to capture again")
        else:
            msg = (f"shard {shard[0]}/{shard[1]} of store '{out}' is already complete (same model, data and "
                   f"options); nothing to do")
        warnings.warn(msg, stacklevel=2)
        return st
    modules = dict(model.named_modules())
    layer_meta = {n: {"pool": pools[n], "point": points[n], "module": type(modules[n]).__name__} for n in names}

    was_training = model.training
    model.eval()
    if dev is not None:
        model.to(dev)
    run_dev = dev if dev is not None else next((p.device for p in model.parameters()), torch.device("cpu"))
    if writer.shard is not None and writer.chunk_rows is None:  # the creator of a sharded store
        try:
            names = _probe_chunk_rows(writer, data_plan, model, names, pools, points, output_index, tdtype,
                                      selection.optional, int(batch_size), run_dev, forward)
        except BaseException as exc:
            writer.abort(f"{type(exc).__name__}: {exc}")
            model.train(was_training)
            raise
    skip = writer.committed
    stop = writer.shard_range[1] if writer.shard is not None else None
    lo_row = writer.shard_range[0] if writer.shard is not None else 0
    prog_ctx = _Progress(total=n_total if stop is None else stop - lo_row, done=skip - lo_row, enabled=progress)
    n_batch = 0
    try:
        with _signals(), _Recorder(model, names, pools, points, output_index, tdtype, selection.optional) as rec, \
                prog_ctx as prog, torch.inference_mode():
            seen_ids: list[np.ndarray] = []
            for bat in data_plan.batches(int(batch_size), skip):
                offset, x, y_batch, a_batch = bat.offset, bat.x, bat.labels, bat.attributes
                if stop is not None and offset >= stop:
                    break  # past this shard's rows
                b = batch_len(x)
                rec.n = b
                rec.mask = x.get("attention_mask") if isinstance(x, Mapping) else None
                try:
                    run_forward(model, x, run_dev, forward)
                except RepscopeError:
                    raise
                except Exception as exc:
                    if rec.error is not None and isinstance(rec.error, RepscopeError):
                        raise rec.error from None
                    raise CaptureError(
                        f"the model raised during its forward pass on batch {n_batch} (samples {offset}–"
                        f"{offset + b - 1}): {type(exc).__name__}: {exc}. Hooks were removed; the store keeps "
                        f"{writer.committed} complete rows — fix the model or data and re-run to resume"
                    ) from exc
                if run_dev.type == "cuda":
                    torch.cuda.synchronize(run_dev)
                acts = rec.collect()
                lo = max(0, skip - offset)  # rows of this batch already committed by an earlier run
                hi = b if stop is None else min(b, stop - offset)  # rows past this shard's end belong to the next
                sl = slice(lo, hi)
                rows = bat.index[lo:hi]  # Dataset index (or position) of each new row
                if full_ids is not None:
                    bid = _rows_of(full_ids, rows, "ids")
                elif bat.ids is not None:
                    if len(bat.ids) != b:
                        raise InputError(f"a batch of {b} samples carries {len(bat.ids)} ids; give one per sample")
                    bid = bat.ids[sl]
                else:
                    bid = rows
                seen_ids.append(bid)
                lab = _labels_for(full_labels, y_batch, rows, sl)
                attrs = {k: _rows_of(v, rows, f"attribute {k!r}") for k, v in full_attrs.items()}
                for k, v in (a_batch or {}).items():
                    attrs.setdefault(str(k), as_numpy_1d(v, f"attribute {k!r}")[sl])
                _add_n_tokens(attrs, rec, acts, b, sl, n_batch, writer.attribute_names)
                order = rec.execution_index()
                writer.append({k: v[sl] for k, v in acts.items()}, ids=bid, labels=lab, attributes=attrs,
                              layer_meta={n: {**layer_meta[n], "axes": rec.axes.get(n), "exec_index": order[n]}
                                          for n in acts})
                prog.advance(hi - lo)
                n_batch += 1
            if writer.chunk_rows is None:
                raise InputError("the data produced no batches")
            n_seen = skip + prog._n
            all_ids = np.concatenate(seen_ids) if seen_ids else np.zeros(0, np.int64)
            if len(np.unique(all_ids)) != len(all_ids):
                raise InputError(
                    "some sample ids occur more than once (a sampler drawing with replacement, or repeated ids "
                    "in the batches); each sample must be captured once, with a unique id"
                )
            if full_labels is not None and n_total is None and n_seen != len(full_labels):
                raise InputError(
                    f"labels has {len(full_labels)} entries but the data had {n_seen} samples; "
                    f"pass one label per sample"
                )
            writer.finish()
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
    finally:
        model.train(was_training)
    return open_store(out, allow_incomplete=shard is not None)


def _shuffled(data: Any) -> bool:
    from repscope.capture.data import _is_random, _sampler_of

    return _is_random(_sampler_of(data))


def _probe_chunk_rows(writer: Any, data_plan: Any, model: Any, names: list[str], pools: Any, points: Any,
                      output_index: Any, tdtype: Any, optional: Any, batch_size: int, run_dev: Any,
                      forward: Any) -> list[str]:
    """The first shard writer to open a sharded store must know the chunk size before it knows its rows: run
    the data's first batch once (hooks on, nothing stored) to learn the layers' widths, fix the chunk size,
    and return the layers that can be stored (optional ones that cannot are dropped here, with the warning)."""
    import torch

    first = next(iter(data_plan.batches(batch_size, 0)))
    with _Recorder(model, names, pools, points, output_index, tdtype, optional) as rec, torch.inference_mode():
        rec.n = batch_len(first.x)
        rec.mask = first.x.get("attention_mask") if isinstance(first.x, Mapping) else None
        try:
            run_forward(model, first.x, run_dev, forward)
        except Exception:
            if rec.error is not None:
                raise rec.error from None
            raise
        acts = rec.collect()
    writer.set_chunk_rows(writer.plan_chunk_rows(acts))
    return rec.layers


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

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._p.__exit__(*exc)
