"""What a model's modules are and what they output: :func:`list_layers` and its :class:`LayerTable`
(``repscope list-layers``). Above :mod:`.select` (the names), :mod:`.hooks` (picking a module's output
tensor) and :mod:`.pooling` (what ``pool="mean"`` gives), which import nothing from here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from repscope.capture.data import batch_len, run_forward, split_batch
from repscope.capture.hooks import _select_output
from repscope.capture.pooling import layouts, mean_gives
from repscope.capture.select import _all_names, _preview
from repscope.errors import CaptureError, InputError, RepscopeError
from repscope.results import ResultBase, register

__all__ = ["LayerInfo", "LayerTable", "list_layers"]


@register
@dataclass
class LayerInfo:
    """One module: dotted name, class name, parameter count; with an example input also its output."""

    name: str
    type: str
    n_params: int
    shape: tuple[int, ...] | None = None  # per-sample output shape (batch axis dropped)
    calls: int | None = None  # how often it ran in the dry forward pass (None: no pass was made)
    note: str = ""  # e.g. "tuple of 2, first kept", "not a tensor: NoneType"
    mean: str = ""  # what pool="mean" stores per sample, e.g. "(64,) over H, W" (capture.pooling's rule)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "n_params": self.n_params,
                "shape": None if self.shape is None else list(self.shape), "calls": self.calls, "note": self.note,
                "mean": self.mean}


@dataclass
class LayerTable(ResultBase):
    """A model's modules (what ``layers=`` accepts), with output shapes when an example input was given.

    Iterating gives the module names, so ``list(list_layers(model))`` is the plain list of names.
    """

    rows: list[LayerInfo]
    with_shapes: bool = False
    title: str = "Layers"

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.rows]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> str:
        return self.rows[i].name

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LayerTable):
            return self.rows == other.rows
        if isinstance(other, list | tuple):
            return self.names == list(other)
        return NotImplemented

    def info(self, name: str) -> LayerInfo:
        for r in self.rows:
            if r.name == name:
                return r
        raise InputError(f"no module {name!r}; available: {_preview(self.names)}")

    def to_dict(self) -> dict[str, Any]:
        return {"with_shapes": self.with_shapes, "layers": [r.to_dict() for r in self.rows]}

    def table(self) -> tuple[list[str], list[list[Any]]]:
        header = ["name", "type", "params"]
        if self.with_shapes:
            header += ["output shape (per sample)", "pool='mean' gives", "calls", "note"]
        rows = []
        for r in self.rows:
            row: list[Any] = [r.name, r.type, r.n_params]
            if self.with_shapes:
                row += [_fmt_shape(r), r.mean, r.calls, r.note]
            rows.append(row)
        return header, rows

    def summary(self) -> str:
        n_run = sum(1 for r in self.rows if r.calls)
        tail = f"; {n_run} ran in the example forward pass" if self.with_shapes else ""
        return f"{len(self.rows)} modules{tail}"

    def __repr__(self) -> str:
        """An aligned plain-text table (what ``print(table)`` and notebooks show)."""
        header, rows = self.table()
        cells = [[("" if v is None else str(v)) for v in row] for row in [header, *rows]]
        widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
        return f"{self.title}: {self.summary()}\n" + "\n".join(lines)

    def tsv(self) -> str:
        header, rows = self.table()
        return "\n".join("\t".join("" if v is None else str(v) for v in row) for row in [header, *rows])

    def plot(self, ax: Any = None) -> Any:
        """Feature count (product of the per-sample shape) of each module that ran, as bars."""
        from repscope.results import axes_figure

        fig, ax = axes_figure(ax, (6, max(2.0, 0.22 * len(self.rows))))
        sizes = {r.name: _prod(r.shape) for r in self.rows if r.shape is not None}
        ax.barh(range(len(sizes)), list(sizes.values()))
        ax.set_yticks(range(len(sizes)), list(sizes), fontsize=6)
        ax.invert_yaxis()
        ax.set_xlabel("features per sample")
        return fig

    def plotly(self) -> Any:
        import plotly.graph_objects as go

        sizes = {r.name: _prod(r.shape) for r in self.rows if r.shape is not None}
        return go.Figure(go.Bar(x=list(sizes.values()), y=list(sizes), orientation="h"))


def _shape_hook(r: LayerInfo, output_index: int | str | Callable[[Any], Any], n_batch: int
                ) -> Callable[[Any, Any, Any], None]:
    """A forward hook that counts the calls of row ``r``'s module and records its first output's per-sample
    shape (or a note saying why there is none)."""
    import torch

    def hook(module: Any, inputs: Any, output: Any) -> None:
        r.calls = (r.calls or 0) + 1
        if r.calls > 1:
            return
        try:
            t = _select_output(output, output_index, r.name)
        except InputError:
            r.note = f"not a tensor: {type(output).__name__}"
            return
        r.shape = tuple(int(s) for s in t.shape[1:])
        if t.ndim == 0 or t.shape[0] != n_batch:
            r.shape = tuple(int(s) for s in t.shape)
            r.note = f"no batch axis (batch of {n_batch}); full shape shown"
            return
        if isinstance(output, tuple | list):
            r.note = f"{type(output).__name__} of {len(output)}; element {output_index} shown"
        elif not isinstance(output, torch.Tensor):
            r.note = f"{type(output).__name__}; element {output_index} shown"

    return hook


def _dry_forward(model: Any, hooks: dict[str, Callable[[Any, Any, Any], None]], x: Any,
                 forward: Callable[[Any, Any], Any] | None) -> None:
    """One forward pass of ``x`` in ``eval()`` mode under ``torch.inference_mode()`` with ``hooks`` (module name
    → forward hook) registered; hooks removed and the model's mode restored afterwards. A model that raises
    gives a CaptureError naming the fix."""
    import torch

    modules = dict(model.named_modules())
    handles = []
    was_training = model.training
    try:
        for n, hook in hooks.items():
            handles.append(modules[n].register_forward_hook(hook))
        model.eval()
        dev = next((p.device for p in model.parameters()), torch.device("cpu"))
        with torch.inference_mode():
            try:
                run_forward(model, x, dev, forward)
            except RepscopeError:
                raise
            except Exception as exc:
                raise CaptureError(
                    f"the model raised on the example input: {type(exc).__name__}: {exc}; pass a batch the "
                    f"model accepts (shape (batch, ...), or a dict of keyword inputs)"
                ) from exc
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)


def _prod(shape: tuple[int, ...]) -> int:
    out = 1
    for s in shape:
        out *= int(s)
    return out


def _fmt_shape(r: LayerInfo) -> str:
    if r.shape is None:
        return "—" if r.calls == 0 or r.calls is None else "(not a tensor)"
    return "(" + ", ".join(map(str, r.shape)) + ")"


def list_layers(
    model: Any,
    example_input: Any = None,
    *,
    leaves_only: bool = False,
    output_index: int | str | Callable[[Any], Any] = 0,
    forward: Callable[[Any, Any], Any] | None = None,
) -> LayerTable:
    """A model's modules (``model.named_modules()``, the root excluded) as a :class:`LayerTable`.

    With ``example_input`` (a tensor/array batch, a dict of keyword inputs, or a batch ``(x, y, …)`` as
    :func:`repscope.capture` accepts) one dry forward pass (``eval()`` + ``torch.inference_mode()``, hooks
    removed afterwards, the model's mode restored) records each module's output shape per sample (batch axis
    dropped; for tuple/dict outputs the element ``output_index`` picks) and how often it ran. Iterating the
    table gives the names.
    """
    modules = dict(model.named_modules())
    names = _all_names(model, leaves_only=leaves_only)
    rows = [LayerInfo(n, type(modules[n]).__name__, sum(p.numel() for p in modules[n].parameters())) for n in names]
    if example_input is None:
        return LayerTable(rows)
    x = split_batch(example_input)[0]
    n_batch = batch_len(x)
    for r in rows:
        r.calls = 0
    hooks = {r.name: _shape_hook(r, output_index, n_batch) for r in rows}
    _dry_forward(model, hooks, x, forward)
    for r in rows:
        if r.calls and r.calls > 1:
            r.note = (r.note + "; " if r.note else "") + f"ran {r.calls}× (capture needs one call per input)"
    lays = layouts(model, names)
    for r in rows:
        if r.shape is not None and "no batch axis" not in r.note:
            r.mean = mean_gives(r.shape, lays[r.name])
    return LayerTable(rows, with_shapes=True)
