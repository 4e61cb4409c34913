"""Choosing layers by PyTorch module name, glob pattern, or predicate."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from difflib import get_close_matches
from typing import Any

from repscope.errors import InputError

LayerSpec = str | Callable[[str, Any], bool]


def list_layers(model: Any, *, leaves_only: bool = False) -> list[str]:
    """Names of a model's submodules (``model.named_modules()``, the root excluded)."""
    names = []
    for name, mod in model.named_modules():
        if not name:
            continue
        if leaves_only and any(True for _ in mod.children()):
            continue
        names.append(name)
    return names


def select_layers(model: Any, layers: LayerSpec | Iterable[LayerSpec] | None) -> list[str]:
    """Resolve layer specifications to module names, in the model's module order.

    Each spec is an exact module name (``"fc1"``), a glob (``"features.*"``, matched with
    :func:`fnmatch.fnmatchcase`), or a callable ``(name, module) -> bool``. ``None`` selects every leaf
    module. An exact name or glob that matches nothing raises :class:`InputError` listing close matches.
    """
    all_names = list_layers(model)
    modules = dict(model.named_modules())
    if layers is None:
        chosen = set(list_layers(model, leaves_only=True))
    else:
        if isinstance(layers, str) or callable(layers):
            layers = [layers]
        chosen: set[str] = set()
        for spec in layers:
            if callable(spec):
                hit = {n for n in all_names if spec(n, modules[n])}
                if not hit:
                    raise InputError(
                        "the layer predicate selected no module; check it against repscope.capture.list_layers(model)"
                    )
            elif isinstance(spec, str):
                if spec in modules and spec:
                    hit = {spec}
                elif any(c in spec for c in "*?["):
                    hit = {n for n in all_names if fnmatch.fnmatchcase(n, spec)}
                    if not hit:
                        raise InputError(
                            f"layer pattern {spec!r} matches no module; available: {_preview(all_names)}"
                        )
                else:
                    close = get_close_matches(spec, all_names, n=3, cutoff=0.5)
                    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
                    raise InputError(
                        f"unknown layer {spec!r}.{hint} Available modules: {_preview(all_names)}"
                    )
            else:
                raise InputError(f"layer spec {spec!r} must be a module name, a glob, or a callable")
            chosen |= hit
    if not chosen:
        raise InputError("no layers selected; pass layer names, globs, or a predicate")
    return [n for n in all_names if n in chosen]


def _preview(names: list[str], k: int = 25) -> str:
    return ", ".join(names[:k]) + (f", … ({len(names)} in all)" if len(names) > k else "")
