"""The forward hooks of a capture: :class:`_Recorder` registers one hook per layer, keeps each layer's reduced
output of the current forward pass (a private CPU copy in the store dtype) and always removes its hooks.
:func:`_select_output` picks the tensor to store from a module's output (also used by
:mod:`repscope.capture.listing`)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from repscope.capture.pooling import layouts, reduce, stored_axes
from repscope.errors import InputError

if TYPE_CHECKING:
    import torch

#: which element of a tuple/dict output to store: an index, a key, or a callable picking it
OutputIndex = int | str | Callable[[Any], Any]

def _select_output(out: Any, output_index: OutputIndex, layer: str) -> Any:
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
    after the first batch with one warning; the same problem on an exactly named layer raises. Before each
    forward pass set ``n`` (the batch size) and ``mask`` (the batch's attention mask or None); after it,
    ``error`` holds the first exception a hook raised (the model may have wrapped it)."""

    def __init__(self, model: torch.nn.Module, layers: Iterable[str], pools: Mapping[str, str],
                 points: Mapping[str, str], output_index: OutputIndex, dtype: torch.dtype,
                 optional: Collection[str] = ()) -> None:
        self.model, self.layers, self.pools, self.points = model, list(layers), pools, points
        self.output_index, self.dtype = output_index, dtype
        self.optional = set(optional)
        self.layouts = layouts(model, self.layers)
        self.handles: dict[str, Any] = {}
        self.batch: dict[str, torch.Tensor] = {}
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

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        for h in self.handles.values():
            h.remove()
        self.handles.clear()

    def _make_hook(self, name: str, *, pre: bool) -> Callable[..., None]:
        store_dtype = self.dtype

        def hook(module: torch.nn.Module, inputs: Any, output: Any = None) -> None:
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
            stacklevel=7,  # capture()'s caller: _drop ← collect ← _forward ← _run_batches ← run_capture ← capture
        )

