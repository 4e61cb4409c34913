"""Sphinx extension: resolve references to where a repscope object *lives* to where it is *documented*.

The API reference documents each public package (``repscope.metrics``, …) with the names in its
``__all__``, so ``repscope.metrics.layer_matrix`` is documented while the docstrings may name its home,
``repscope.metrics.uncertainty.compare_entries`` or :mod:`repscope.metrics.uncertainty`. A reference
to such a name is resolved to the documented object that *is* the same Python object (or, for a
module, to the documented package containing it). A name that exists but is not public API is shown
unlinked; a name that does not exist warns (``nitpicky``), and the build runs with ``-W``.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment


def _import(name: str) -> Any:
    """The object at dotted ``name`` (a module or an attribute path inside one), or ``None``."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except Exception:  # noqa: BLE001 - any import failure means "not this prefix"
            continue
        for attr in parts[i:]:
            if hasattr(obj, attr):
                obj = getattr(obj, attr)
            elif isinstance(obj, type) and attr in getattr(obj, "__annotations__", {}):
                obj = (obj, attr)  # a dataclass field without a class-level default
            else:
                return None
        return obj
    return None


def _documented(env: BuildEnvironment) -> dict[int, str]:
    """id(python object) → the name under which the API reference documents it (first one wins)."""
    cache = getattr(env, "_repscope_documented", None)
    if cache is None:
        cache = {}
        keep = []  # hold every looked-up object so that no id is reused while the cache lives
        for name, _dispname, objtype, _doc, _anchor, _prio in env.get_domain("py").get_objects():
            if objtype == "module":
                continue
            obj = _import(name)
            if obj is not None:
                keep.append(obj)
                cache.setdefault(id(obj), name)
        env._repscope_documented_objects = keep  # type: ignore[attr-defined]
        env._repscope_documented = cache  # type: ignore[attr-defined]
    return cache


def _lookup(env: BuildEnvironment, reftype: str, candidates: tuple[str, ...]) -> tuple[str, str] | None:
    """``(role, documented name)`` to link to, ``("", "")`` for an existing non-public name, else ``None``.

    Memoised per build: type fields repeat the same targets thousands of times."""
    memo = env.__dict__.setdefault("_repscope_lookup", {})
    key = (reftype, candidates)
    if key not in memo:
        memo[key] = _lookup_uncached(env, reftype, candidates)
    return memo[key]


def _lookup_uncached(env: BuildEnvironment, reftype: str, candidates: tuple[str, ...]) -> tuple[str, str] | None:
    domain = env.get_domain("py")
    for cand in candidates:
        if not cand.startswith("repscope."):
            continue
        if reftype == "mod":
            mods = {name for name, _d, typ, *_ in domain.get_objects() if typ == "module"}
            parts = cand.split(".")
            for i in range(len(parts) - 1, 1, -1):
                if ".".join(parts[:i]) in mods:
                    return "mod", ".".join(parts[:i])
            continue
        obj = _import(cand)
        if obj is None:
            continue
        name = _documented(env).get(id(obj))
        # It exists but is not public API (a helper or a constant outside ``__all__``): shown as code,
        # unlinked. A name that does not exist at all still warns.
        return ("obj", name) if name else ("", "")
    return None


def resolve(app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.Element) -> Any:
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    modname = node.get("py:module") or ""
    clsname = node.get("py:class") or ""
    if node.get("reftype") == "class" and "." in target and not target.startswith("repscope."):
        return None  # numpy.ndarray, collections.abc.Mapping, …: not ours, not linkable offline
    candidates = [target] if "." in target else []
    if modname and clsname:
        candidates.append(f"{modname}.{clsname}.{target}")
    if modname:
        candidates.append(f"{modname}.{target}")
        # docstrings name their neighbours relative to their home module (repscope.metrics.cka), while
        # the page documents them under the package (repscope.metrics)
        candidates += [f"{mod}.{target}" for mod in sorted(sys.modules) if mod.startswith(modname + ".")]
    found = _lookup(env, node.get("reftype", ""), tuple(candidates))
    if found is None:
        return None
    role, name = found
    if not role:
        return contnode
    return env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, role, name, node, contnode)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("missing-reference", resolve)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
