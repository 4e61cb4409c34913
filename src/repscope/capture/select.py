"""Choosing layers by PyTorch module name, glob pattern, regular expression or predicate.

Pattern syntax (module names are dotted paths such as ``encoder.layer.0.attention.self.query``):

- ``*`` matches within **one** dotted segment (never a dot): ``encoder.layer.*`` is ``encoder.layer.0``,
  ``encoder.layer.1``, … — the direct children, not their submodules. ``?`` is one character (not a dot)
  and ``[abc]`` a character class, as in shell globs.
- ``**`` matches across segments (any characters, dots included): ``encoder.**`` is every module under
  ``encoder``; ``**.query`` every module named ``query`` at any depth.
- ``re:REGEX`` is a Python regular expression matched against the whole name (:func:`re.fullmatch`):
  ``re:encoder\\.layer\\.\\d+``.
- any other string is an exact module name; a callable ``(name, module) -> bool`` is a predicate.

An exact name must exist (else :class:`~repscope.errors.InputError` with close matches) and must run in
the forward pass (else capture raises). Modules chosen by a pattern, a predicate or the default (every leaf)
that never run are skipped by :func:`repscope.capture` with one warning naming them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any

from repscope.errors import InputError

LayerSpec = str | Callable[[str, Any], bool]


def is_pattern(spec: str) -> bool:
    """True when ``spec`` is a glob (``*``, ``?``, ``[``) or a ``re:`` expression rather than an exact name."""
    return spec.startswith("re:") or any(c in spec for c in "*?[")


def compile_pattern(spec: str) -> re.Pattern[str]:
    """The regular expression for a layer pattern (see the module docstring for the syntax)."""
    if spec.startswith("re:"):
        try:
            return re.compile(spec[3:])
        except re.error as exc:
            raise InputError(f"layer pattern {spec!r} is not a valid regular expression ({exc})") from None
    out, i = [], 0
    while i < len(spec):
        c = spec[i]
        if spec.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append(r"[^.]*")
        elif c == "?":
            out.append(r"[^.]")
        elif c == "[":
            j = spec.find("]", i + 2 if spec[i + 1 : i + 2] in ("!", "]") else i + 1)
            if j < 0:
                out.append(re.escape(c))
            else:
                body = spec[i + 1 : j]
                body = "^" + body[1:] if body.startswith("!") else body
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))


def matches(spec: str, name: str) -> bool:
    """Does module ``name`` match the layer spec (exact name, glob or ``re:``)?"""
    if not is_pattern(spec):
        return spec == name
    return compile_pattern(spec).fullmatch(name) is not None


def _all_names(model: Any, leaves_only: bool = False) -> list[str]:
    names = []
    for name, mod in model.named_modules():
        if not name:
            continue
        if leaves_only and any(True for _ in mod.children()):
            continue
        names.append(name)
    return names


@dataclass
class Selection:
    """Resolved layers: ``names`` in module order; ``exact`` are those the user named exactly (they must run)."""

    names: list[str]
    exact: set[str] = field(default_factory=set)

    @property
    def optional(self) -> list[str]:
        """Layers chosen by a pattern, predicate or the default: skipped (with a warning) if they never run."""
        return [n for n in self.names if n not in self.exact]


def resolve_layers(model: Any, layers: LayerSpec | Iterable[LayerSpec] | None) -> Selection:
    """Resolve layer specifications to a :class:`Selection` (see the module docstring for the syntax)."""
    all_names = _all_names(model)
    modules = dict(model.named_modules())
    exact: set[str] = set()
    if layers is None:
        chosen = set(_all_names(model, leaves_only=True))
    else:
        if isinstance(layers, str) or callable(layers):
            layers = [layers]
        chosen = set()
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
                    exact.add(spec)
                elif is_pattern(spec):
                    rx = compile_pattern(spec)
                    hit = {n for n in all_names if rx.fullmatch(n)}
                    if not hit:
                        raise InputError(
                            f"layer pattern {spec!r} matches no module ('*' stays within one dotted segment, "
                            f"'**' crosses dots); available: {_preview(all_names)}"
                        )
                else:
                    close = get_close_matches(spec, all_names, n=3, cutoff=0.5)
                    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
                    raise InputError(
                        f"unknown layer {spec!r}.{hint} Available modules: {_preview(all_names)}"
                    )
            else:
                raise InputError(f"layer spec {spec!r} must be a module name, a glob, 're:REGEX', or a callable")
            chosen |= hit
    if not chosen:
        raise InputError("no layers selected; pass layer names, globs, 're:' expressions, or a predicate")
    return Selection([n for n in all_names if n in chosen], exact)


def select_layers(model: Any, layers: LayerSpec | Iterable[LayerSpec] | None) -> list[str]:
    """Resolve layer specifications to module names, in the model's module order.

    Each spec is an exact module name (``"fc1"``), a glob (``"features.*"`` — ``*`` within one dotted
    segment, ``**`` across segments), a regular expression ``"re:..."`` (full match), or a callable
    ``(name, module) -> bool``. ``None`` selects every leaf module. An unknown exact name, or a pattern that
    matches nothing, raises :class:`InputError` (close matches listed).
    """
    return resolve_layers(model, layers).names


def _preview(names: list[str], k: int = 25) -> str:
    return ", ".join(names[:k]) + (f", … ({len(names)} in all)" if len(names) > k else "")
