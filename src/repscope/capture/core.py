"""Forward-hook capture into a resumable, chunked zarr store."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from repscope.capture.select import LayerSpec, select_layers
from repscope.errors import CaptureError, InputError, RepscopeError

POOLS = ("none", "mean", "max", "cls", "last", "token_mean")
POINTS = ("post", "pre")


def _per_layer(value: Any, layers: list[str], what: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """Expand a str or {name/glob: str} option to one value per layer."""
    if isinstance(value, str):
        if value not in allowed:
            raise InputError(f"{what}={value!r} is not one of {', '.join(allowed)}")
        return dict.fromkeys(layers, value)
    if isinstance(value, Mapping):
        out: dict[str, str] = {}
        default = value.get("*", "none" if what == "pool" else "post")
        for layer in layers:
            v = value.get(layer)
            if v is None:
                for pat, pv in value.items():
                    if pat != "*" and fnmatch.fnmatchcase(layer, pat):
                        v = pv
                        break
            v = default if v is None else v
            if v not in allowed:
                raise InputError(f"{what}={v!r} for layer {layer!r} is not one of {', '.join(allowed)}")
            out[layer] = v
        return out
    raise InputError(f"{what} must be a string or a mapping of layer name/glob → {what}")


def _reduce(t: Any, pool: str, layer: str, mask: Any = None) -> Any:
    """Apply the per-layer reduction to a batch tensor (runs inside the hook, on the model's device).

    ``mean``/``max``: pool every axis after the channel axis (N, C, ...) → (N, C); 2-D input unchanged.
    ``cls``/``last``/``token_mean``: sequence output (N, T, D) → (N, D) using token 0, token T−1, or the
    mean over tokens. ``none``: keep everything (stored flattened, original shape kept in metadata).
    With an ``attention_mask`` (N, T) in the batch, ``token_mean`` averages real tokens only and ``last``
    takes the last real token (padding is ignored).
    """
    if pool == "none" or (pool in ("mean", "max") and t.ndim <= 2):
        return t
    if pool in ("mean", "max"):
        flat = t.reshape(t.shape[0], t.shape[1], -1)
        return flat.mean(dim=2) if pool == "mean" else flat.amax(dim=2)
    if t.ndim != 3:
        raise InputError(
            f"pool={pool!r} needs a sequence output (batch, tokens, features) but layer {layer!r} produced "
            f"shape {tuple(t.shape)}; use pool='none', 'mean' or 'max' for this layer"
        )
    if pool == "cls":
        return t[:, 0]
    if mask is not None and tuple(mask.shape) == tuple(t.shape[:2]):
        m = mask.to(t.device, dtype=t.dtype)
        if pool == "last":
            last = (mask.to(t.device).long().cumsum(1).argmax(1))
            return t[torch_arange(t.shape[0], t.device), last]
        return (t * m[..., None]).sum(1) / m.sum(1).clamp_min(1)[:, None]
    if pool == "last":
        return t[:, -1]
    return t.mean(dim=1)


def torch_arange(n: int, device: Any) -> Any:
    import torch

    return torch.arange(n, device=device)


def _select_output(out: Any, output_index: int | str | Callable[[Any], Any], layer: str) -> Any:
    import torch

    if callable(output_index):
        out = output_index(out)
    elif isinstance(out, Mapping):
        if isinstance(output_index, str):
            out = out[output_index]
        else:
            out = list(out.values())[output_index]
    elif isinstance(out, tuple | list):
        if isinstance(output_index, str):
            raise InputError(f"layer {layer!r} returns a tuple; output_index must be an integer")
        out = out[output_index]
    if not isinstance(out, torch.Tensor):
        raise InputError(
            f"layer {layer!r} produced {type(out).__name__}, not a tensor; pass output_index= (an index, key "
            f"or callable) to pick the tensor to store"
        )
    return out


class _Recorder:
    """Registers hooks, collects one reduced tensor per layer per forward pass, always removes hooks."""

    def __init__(self, model, layers, pools, points, output_index, dtype):
        self.model, self.layers, self.pools, self.points = model, layers, pools, points
        self.output_index, self.dtype = output_index, dtype
        self.handles: list[Any] = []
        self.batch: dict[str, Any] = {}
        self.error: BaseException | None = None
        self.mask: Any = None  # attention mask of the current batch, if any

    def __enter__(self) -> _Recorder:
        modules = dict(self.model.named_modules())
        try:
            for name in self.layers:
                mod = modules[name]
                if self.points[name] == "pre":
                    h = mod.register_forward_pre_hook(self._make_hook(name, pre=True))
                else:
                    h = mod.register_forward_hook(self._make_hook(name, pre=False))
                self.handles.append(h)
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def _make_hook(self, name: str, *, pre: bool):
        import torch

        store_dtype = self.dtype

        def hook(module, inputs, output=None):
            try:
                val = inputs if pre else output
                t = _select_output(val, 0 if pre else self.output_index, name)
                if name in self.batch:
                    raise InputError(
                        f"module {name!r} ran more than once in one forward pass (shared or recurrent module); "
                        f"capture a module that runs once per input, e.g. the enclosing RNN"
                    )
                t = _reduce(t.detach(), self.pools[name], name, self.mask)
                if t.dtype != store_dtype:
                    t = t.to(store_dtype)
                if t.device.type != "cpu":
                    t = t.to("cpu", non_blocking=True)
                self.batch[name] = t
            except BaseException as exc:  # re-raised after forward, with context
                if self.error is None:
                    self.error = exc
                raise
            return None

        del torch
        return hook

    def collect(self) -> dict[str, np.ndarray]:
        missing = [n for n in self.layers if n not in self.batch]
        if missing:
            raise InputError(
                f"layers {missing} did not run during the forward pass; choose modules on the forward path"
            )
        out = {n: self.batch[n].numpy() for n in self.layers}
        self.batch = {}
        return out


# --------------------------------------------------------------------------------------------- data


def _n_samples_of(data: Any) -> int | None:
    import torch

    if isinstance(data, torch.Tensor | np.ndarray):
        return int(data.shape[0])
    ds = getattr(data, "dataset", None)
    if ds is not None:
        try:
            return len(ds)
        except TypeError:
            return None
    return None


def _split_batch(batch: Any) -> tuple[Any, Any, dict[str, Any]]:
    """Return (model input, labels or None, attributes dict) from one batch."""
    if isinstance(batch, Mapping):
        lab = next((batch[k] for k in ("labels", "label", "y") if k in batch), None)
        attrs = batch.get("attributes", {}) or {}
        x = {k: v for k, v in batch.items() if k not in ("labels", "label", "y", "attributes")}
        return x, lab, attrs
    if isinstance(batch, tuple | list):
        if len(batch) == 0:
            raise InputError("an empty batch was produced by the data")
        x = batch[0]
        lab = batch[1] if len(batch) > 1 else None
        attrs = batch[2] if len(batch) > 2 and isinstance(batch[2], Mapping) else {}
        return x, lab, attrs
    return batch, None, {}


def _batch_len(x: Any) -> int:
    if isinstance(x, Mapping):
        x = next(iter(x.values()))
    if hasattr(x, "shape") and len(x.shape) > 0:
        return int(x.shape[0])
    try:
        return len(x)
    except TypeError as exc:
        raise InputError(f"cannot tell the batch size of a {type(x).__name__}; pass tensors or arrays") from exc


def _iter_batches(data: Any, batch_size: int, skip: int) -> Iterator[tuple[int, Any]]:
    """Yield (offset of the batch's first sample, batch) — skipping whole batches before ``skip``."""
    import torch

    if isinstance(data, np.ndarray):
        data = torch.from_numpy(np.ascontiguousarray(data))
    if isinstance(data, torch.Tensor):
        n = data.shape[0]
        # Resume at the start of the batch holding row ``skip``: the same batch boundaries as an
        # uninterrupted run, so every row is computed in the same batch (bit-identical results).
        for s in range((skip // batch_size) * batch_size, n, batch_size):
            if min(s + batch_size, n) > skip:
                yield s, data[s : s + batch_size]
        return
    sampler = getattr(data, "sampler", None)
    if skip and sampler is not None and isinstance(sampler, torch.utils.data.RandomSampler):
        raise InputError(
            "cannot resume a capture over a DataLoader with shuffle=True (the sample order changes); "
            "use shuffle=False or overwrite=True"
        )
    if not isinstance(data, Iterable):
        raise InputError(f"data of type {type(data).__name__} is not a tensor, array, DataLoader or iterable")
    offset = 0
    for batch in data:
        x, _, _ = _split_batch(batch)
        b = _batch_len(x)
        if offset + b > skip:
            yield offset, batch
        offset += b


def _to_device(x: Any, device: Any) -> Any:
    import torch

    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x).to(device)
    if isinstance(x, Mapping):
        return {k: _to_device(v, device) for k, v in x.items()}
    return x


def _as_numpy_1d(v: Any, name: str) -> np.ndarray:
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    a = np.asarray(v)
    if a.ndim != 1:
        raise InputError(f"{name} must be 1-D (one value per sample); got shape {a.shape}")
    return a


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
    pool: str | Mapping[str, str] = "none",
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
):
    """Run ``model`` over ``data`` and store the chosen layers' activations on disk.

    Parameters
    ----------
    model : torch.nn.Module
        Any module; it is put in ``eval()`` mode for the capture (its mode is restored afterwards).
    data : Tensor | ndarray | DataLoader | iterable of batches
        A batch is a tensor, a tuple ``(x, y[, attributes_dict])``, or a mapping of model keyword inputs
        (with optional ``"labels"``). Tensors/arrays are split into ``batch_size`` batches.
    layers : module names, globs (``"features.*"``) or predicates ``(name, module) -> bool``;
        ``None`` = every leaf module. Unknown names raise with close matches.
    out : path of the zarr store directory.
    pool : ``"none"`` (flatten, keep the shape in metadata), ``"mean"``/``"max"`` (pool spatial axes of
        (N, C, ...) maps), ``"cls"``/``"last"``/``"token_mean"`` (sequence outputs (N, T, D)); one value
        or a mapping ``{name or glob: pool, "*": default}``.
    point : ``"post"`` (module output) or ``"pre"`` (module input, e.g. preactivations entering a
        nonlinearity); one value or a mapping as for ``pool``.
    labels, attributes, ids : per-sample 1-D arrays (full length), stored with the activations. Labels
        found in the batches (``(x, y)`` tuples) are used when ``labels`` is not given.
    device : run the model there (``"cuda"``, ``"cpu"``, ``"auto"``; ``None`` keeps the model where it is).
    dtype : ``"float32"`` (default) or ``"float16"`` storage; bf16/fp16 activations are converted.
    output_index : which element of a tuple/dict output to keep (index, key, or callable).
    forward : ``forward(model, x)`` for models not called as ``model(x)``.
    resume : continue an existing store made with the same arguments (kill -9 safe); a complete store
        is returned as is. ``overwrite=True`` replaces an existing store instead.

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
    names = select_layers(model, layers)
    pools = _per_layer(pool, names, "pool", POOLS)
    points = _per_layer(point, names, "point", POINTS)
    n_total = _n_samples_of(data)
    if n_total == 0:
        raise InputError("data has no samples")

    full_labels = None if labels is None else _as_numpy_1d(labels, "labels")
    full_attrs = {str(k): _as_numpy_1d(v, f"attribute {k!r}") for k, v in (attributes or {}).items()}
    full_ids = None if ids is None else _as_numpy_1d(ids, "ids").astype(np.int64)
    checks = [("labels", full_labels), ("ids", full_ids), *[(f"attribute {k!r}", v) for k, v in full_attrs.items()]]
    for what, arr in checks:
        if arr is not None and n_total is not None and len(arr) != n_total:
            raise InputError(
                f"{what} has {len(arr)} entries but the data has {n_total} samples; pass one per sample"
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
        "data": _data_fingerprint(data, n_total),
        "labels": _column_digest(full_labels),
        "ids": _column_digest(full_ids),
        "attributes": {k: _column_digest(v) for k, v in sorted(full_attrs.items())},
        "chunk_rows": chunk_rows,
    }
    provenance = {
        "model": {**model_fp, "repr_head": repr(model)[:400]},
        "dataset": dataset or type(data).__name__,
        "torch_version": torch.__version__,
        "capture": {"pool": pools, "point": points, "batch_size": int(batch_size), "device": str(dev or "model's")},
    }
    writer = StoreWriter(
        out, fingerprint=fingerprint, provenance=provenance, n_total=n_total, resume=resume,
        overwrite=overwrite, dtype=dtype, chunk_rows=chunk_rows,
    )
    if writer.complete:
        writer.close()
        st = open_store(out)
        st.already_complete = True
        warnings.warn(
            f"store '{out}' is already complete ({st.n_samples} rows captured with the same model, data and "
            f"options); returning it as is — pass overwrite=True (--overwrite) to capture again",
            stacklevel=2,
        )
        return st
    skip = writer.committed
    layer_meta = {
        n: {"pool": pools[n], "point": points[n], "module": type(dict(model.named_modules())[n]).__name__}
        for n in names
    }

    was_training = model.training
    model.eval()
    if dev is not None:
        model.to(dev)
    run_dev = dev if dev is not None else next((p.device for p in model.parameters()), torch.device("cpu"))
    prog_ctx = _Progress(total=n_total, done=skip, enabled=progress)
    n_batch = 0
    try:
        with _signals(), _Recorder(model, names, pools, points, output_index, tdtype) as rec, prog_ctx as prog, \
                torch.inference_mode():
            for offset, batch in _iter_batches(data, int(batch_size), skip):
                x, y_batch, a_batch = _split_batch(batch)
                b = _batch_len(x)
                xin = _to_device(x, run_dev)
                rec.mask = xin.get("attention_mask") if isinstance(xin, Mapping) else None
                try:
                    if forward is not None:
                        forward(model, xin)
                    elif isinstance(xin, Mapping):
                        model(**xin)
                    else:
                        model(xin)
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
                sl = slice(lo, b)
                rows = np.arange(offset + lo, offset + b)
                if full_ids is not None:
                    if rows[-1] >= len(full_ids):
                        raise InputError(f"ids has {len(full_ids)} entries but the data has more samples")
                    bid = full_ids[rows]
                else:
                    bid = rows.astype(np.int64)
                lab = _labels_for(full_labels, y_batch, rows, sl)
                attrs = {k: _rows_of(v, rows, f"attribute {k!r}") for k, v in full_attrs.items()}
                for k, v in (a_batch or {}).items():
                    attrs.setdefault(str(k), _as_numpy_1d(v, f"attribute {k!r}")[sl])
                writer.append({k: v[sl] for k, v in acts.items()}, ids=bid, labels=lab, attributes=attrs,
                              layer_meta=layer_meta)
                prog.advance(b - lo)
                n_batch += 1
            if writer.chunk_rows is None:
                raise InputError("the data produced no batches")
            n_seen = skip + prog._n
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
    return open_store(out)


def _rows_of(arr: np.ndarray, rows: np.ndarray, what: str) -> np.ndarray:
    if rows[-1] >= len(arr):
        raise InputError(f"{what} has {len(arr)} entries but the data has more samples; pass one per sample")
    return arr[rows]


def _labels_for(full: np.ndarray | None, y_batch: Any, rows: np.ndarray, sl: slice) -> np.ndarray | None:
    if full is not None:
        return _rows_of(full, rows, "labels")
    if y_batch is None:
        return None
    y = _as_numpy_1d(y_batch, "labels in the batch")
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
