"""repscope.results — the one protocol every analysis result follows, and the shared matrix result.

A result is a small dataclass with:

- ``to_dict()`` → JSON-serialisable dict (goes into ``results.json``);
- ``plot()`` → a matplotlib ``Figure`` (saved as PNG);
- optionally ``plotly()`` → a plotly ``Figure`` (interactive view in the HTML report);
- optionally ``summary()`` → a short plain-text reading for the report (escaped there);
- optionally ``table()`` → ``(header, rows)`` for an HTML table (escaped there);
- optionally ``html()`` → an extra trusted HTML fragment *built by repscope itself*, whose user-supplied
  strings are escaped at construction (used e.g. for the mapper graph view);
- ``title`` (class attribute or property) → section title.

Analyses never import the report; the report only duck-types on these names (:class:`Result` spells
the protocol out for type checkers and for the conformance test).

Every lens that returns a matrix (layer × layer similarity, PH distances between layers, DSA distances
between systems) returns a :class:`MatrixResult`, drawn by the one :func:`heatmap`.

Figures are plain :class:`matplotlib.figure.Figure` objects made by :func:`subplots`, never through
``pyplot`` — repscope never switches an interactive user's backend, and its figures never pile up in
pyplot's figure manager. In a notebook they display as usual; ``fig.savefig(path)`` writes them.
"""

from __future__ import annotations

import base64
import contextvars
import csv
import dataclasses
import functools
import html
import inspect
import json
import math
import pathlib
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Result",
    "ResultBase",
    "MatrixResult",
    "heatmap",
    "fill_range",
    "subplots",
    "subplots_in",
    "colormap",
    "to_jsonable",
    "dumps",
    "register",
    "load_result",
    "same",
    "FORMAT_VERSION",
    "xarray_module",
    "matrix_xarray",
]


@runtime_checkable
class Result(Protocol):
    """What every repscope result provides (``title`` is an attribute or property).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import layer_matrix
    >>> from repscope.results import Result
    >>> m = layer_matrix({"a": np.eye(4), "b": np.eye(4)[::-1]})
    >>> isinstance(m, Result), m.to_dict()["rows"], m.summary() != ""
    (True, ['a', 'b'], True)
    """

    title: str

    def to_dict(self) -> dict[str, Any]: ...

    def plot(self, ax: Any = None) -> Any: ...

    def plotly(self) -> Any: ...  # a plotly Figure, or None when the result has no interactive view

    def summary(self) -> str: ...

    def table(self) -> tuple[list[str], list[list[Any]]]: ...


class ResultBase:
    """Defaults of the protocol for result classes that lack a part of it (mix in first, before fields).

    ``plotly()`` → ``None`` (no interactive view: the report shows the ``plot()`` PNG instead); ``table()``
    → the scalar entries of ``to_dict()``; ``summary()`` → the title; ``title`` → the class name in words.
    A class overrides whichever it can do better.

    Reading back (see "Results read back" below): every subclass is registered by its class name, and its
    ``to_dict()`` is tagged with ``result_type``, ``format_version`` and ``result_fields`` (the dataclass
    fields, losslessly) so that :meth:`from_dict` / :func:`load_result` rebuild it. Also ``to_json()``,
    ``save(path)``, a short ``__repr__`` and ``_repr_html_`` (a card for Jupyter).

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> from repscope.results import ResultBase, load_result
    >>> @dataclass
    ... class DocExampleAnswer(ResultBase):      # registered by name on definition
    ...     value: float
    ...     def to_dict(self):
    ...         return {"value": self.value}
    >>> a = DocExampleAnswer(42.0)
    >>> a.to_dict()["result_type"], a.table()[1]
    ('DocExampleAnswer', [['value', 42.0]])
    >>> DocExampleAnswer.from_dict(a.to_dict()) == a
    True
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        register(cls)
        if "__repr__" not in cls.__dict__:  # keeps @dataclass from writing its long field-by-field repr
            cls.__repr__ = cls.__repr__  # type: ignore[method-assign]  # (the inherited one: short or own)
        own = cls.__dict__.get("to_dict")
        if own is not None and not getattr(own, "_tagged", False):
            cls.to_dict = _tagged(own)  # type: ignore[attr-defined]

    @property
    def title(self) -> str:
        import re

        return re.sub(r"(?<!^)(?=[A-Z])", " ", type(self).__name__)

    def plotly(self) -> Any:
        return None

    def summary(self) -> str:
        return str(self.title)

    def table(self) -> tuple[list[str], list[list[Any]]]:
        d = self.to_dict()  # type: ignore[attr-defined]
        rows = [[str(k), v] for k, v in d.items()
                if (isinstance(v, str | int | float | bool) or v is None) and k not in _TAGS]
        return ["", "value"], rows

    # ---- reading back ----------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        """The result a ``to_dict()`` came from (field by field: arrays with their dtype and shape, tuples,
        non-finite floats, nested results). ``ResultBase.from_dict`` accepts any registered result type; a
        subclass accepts its own type and its subclasses. Raises :class:`~repscope.errors.InputError` for a
        dict that is not a repscope result, of another type, or of a newer format."""
        from repscope.errors import InputError

        target = _type_of(d)
        if not (cls is ResultBase or issubclass(target, cls)):
            raise InputError(f"this dict holds a {target.__name__}, not a {cls.__name__}; read it with "
                             f"{target.__name__}.from_dict or repscope.load_result")
        enc = d.get("result_fields")
        if not isinstance(enc, dict):
            why = d.get("result_unreadable") or "it has no 'result_fields'"
            raise InputError(f"this {target.__name__} cannot be read back: {why}; write it again with this "
                             "repscope's to_dict()/save()")
        values = {}
        for name, e in enc.items():
            values[name] = _dec_ref(e, d.get(name)) if isinstance(e, dict) and e.get(_TAG) == "ref" else _dec(e)
        return _construct(target, values)

    def to_json(self, indent: int | None = 2) -> str:
        """``to_dict()`` as strict JSON text (what :meth:`save` writes and :func:`load_result` reads)."""
        return json.dumps(to_jsonable(self.to_dict()), indent=indent, allow_nan=False)  # type: ignore[attr-defined]

    def save(self, path: str | pathlib.Path) -> pathlib.Path:
        """Write :meth:`to_json` to ``path`` (read it back with ``repscope.load_result(path)``)."""
        path = pathlib.Path(path)
        path.write_text(self.to_json())
        return path

    # ---- display ---------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return _short_repr(self)

    def _repr_html_(self) -> str:
        return result_html(self)


def subplots(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Any, Any]:
    """Like ``pyplot.subplots`` but without pyplot: a standalone ``Figure`` and its axes.

    Examples
    --------
    >>> from repscope.results import subplots
    >>> fig, axes = subplots(1, 2, figsize=(4, 2))
    >>> type(fig).__name__, len(axes)
    ('Figure', 2)
    """
    from matplotlib.figure import Figure

    fig_kw = {k: kwargs.pop(k) for k in ("figsize", "dpi", "layout") if k in kwargs}
    fig = Figure(**fig_kw)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def subplots_in(ax: Any, nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Any, Any]:
    """``subplots`` for a ``plot(ax=None)`` method: a new figure when ``ax`` is None; else the panels are
    laid out inside ``ax``'s area of its own figure (``ax`` itself for a single panel).

    Examples
    --------
    >>> from repscope.results import subplots, subplots_in
    >>> fig, axes = subplots_in(None, 1, 2)                  # no ax: a new figure with two panels
    >>> len(axes)
    2
    """
    if ax is None:
        return subplots(nrows, ncols, **kwargs)
    fig = ax.figure
    squeeze = kwargs.get("squeeze", True)
    if nrows == 1 and ncols == 1:
        return fig, (ax if squeeze else np.array([[ax]]))
    grid = ax.get_subplotspec().subgridspec(nrows, ncols)
    ax.remove()
    axes = np.array([[fig.add_subplot(grid[i, j]) for j in range(ncols)] for i in range(nrows)], dtype=object)
    return fig, (axes.squeeze() if squeeze else axes)


def colormap(name: str) -> Any:
    """A registered matplotlib colormap by name (``pyplot.get_cmap`` without pyplot).

    Examples
    --------
    >>> from repscope.results import colormap
    >>> colormap("viridis").name
    'viridis'
    """
    import matplotlib

    return matplotlib.colormaps[name]


def axes_figure(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any]:
    """``(figure, ax)``: a new figure when ``ax`` is None, else ``ax``'s own figure (the ``plot(ax=)`` rule)."""
    if ax is None:
        return subplots(figsize=figsize)
    return ax.figure, ax


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays (and nested containers) into plain JSON types.

    Non-finite floats become ``None`` so the output is strict JSON.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.results import to_jsonable
    >>> to_jsonable({"x": np.float32(0.5), "v": np.arange(3), "t": (np.int64(1), 2)})
    {'x': 0.5, 'v': [0, 1, 2], 't': [1, 2]}
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    return obj


def dumps(obj: Any) -> str:
    """Indented JSON text of ``obj`` after :func:`to_jsonable` (NaN/Inf refused: not valid JSON).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.results import dumps
    >>> print(dumps({"cka": np.float64(0.25), "layers": ["a", "b"]}))
    {
      "cka": 0.25,
      "layers": [
        "a",
        "b"
      ]
    }
    """
    return json.dumps(to_jsonable(obj), indent=2, allow_nan=False)


# ---- results read back ----------------------------------------------------------------------------------
# ``to_dict()`` of a ResultBase subclass carries ``result_type`` (the class name, looked up in the registry
# below: never a module path, never a pickle), ``format_version`` and ``result_fields``: each dataclass field
# either as a reference to the same-named key of the readable dict (when that key gives the value back
# exactly, e.g. a float array without NaN) or in a tagged lossless form ({"__rs__": kind, …}: arrays as
# base64 bytes with dtype and shape, tuples, non-finite floats, numpy scalars, dicts with non-string keys,
# nested results and records).

#: Version of the ``result_fields`` encoding; a reader refuses newer ones.
FORMAT_VERSION = 1
_TAG = "__rs__"
_TAGS = ("result_type", "format_version")
_TYPES: dict[str, type | None] = {}
_BUSY: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar("repscope_to_dict", default=frozenset())


def register(cls: type) -> type:
    """Register a dataclass by its class name so that results holding it can be read back (every
    :class:`ResultBase` subclass is registered on definition; use this as a decorator for the records a
    result holds, e.g. an optimisation certificate). Two classes of one name make the name unreadable.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> from repscope.results import register
    >>> @register
    ... @dataclass
    ... class DocExamplePair:                       # a plain dataclass held inside a result
    ...     a: int
    ...     b: int
    >>> DocExamplePair(1, 2)
    DocExamplePair(a=1, b=2)
    """
    old = _TYPES.get(cls.__name__, cls)
    same_place = old is not None and (old.__module__, old.__qualname__) == (cls.__module__, cls.__qualname__)
    _TYPES[cls.__name__] = cls if same_place else None
    return cls


class _Unwritable(TypeError):
    pass


def _tagged(to_dict: Any) -> Any:
    @functools.wraps(to_dict)
    def wrapper(self: Any) -> dict[str, Any]:
        busy = _BUSY.get()
        if id(self) in busy:  # a subclass's to_dict calling super().to_dict(): tag once, outermost
            return to_dict(self)
        token = _BUSY.set(busy | {id(self)})
        try:
            d = to_dict(self)
        finally:
            _BUSY.reset(token)
        if not isinstance(d, dict) or not dataclasses.is_dataclass(self):
            return d
        d = dict(d)
        d["result_type"] = type(self).__name__
        d["format_version"] = FORMAT_VERSION
        try:
            d["result_fields"] = _fields_of(self, d)
        except _Unwritable as e:
            d["result_fields"] = None
            d["result_unreadable"] = str(e)
        return d

    wrapper._tagged = True  # type: ignore[attr-defined]
    return wrapper


def _fields_of(obj: Any, plain: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        ref = _ref_for(v, plain[f.name]) if plain is not None and f.name in plain else None
        try:
            out[f.name] = ref if ref is not None else _enc(v)
        except _Unwritable as e:
            raise _Unwritable(f"field {f.name!r} of {type(obj).__name__} holds {e}") from None
    return out


def _ref_for(v: Any, plain: Any) -> dict[str, Any] | None:
    """A reference to the readable copy ``plain`` of ``v`` when decoding it gives ``v`` back exactly."""
    ref: dict[str, Any] = {_TAG: "ref"}
    if isinstance(v, np.ndarray):
        if v.dtype.kind not in "biuf":
            return None
        ref.update(dtype=v.dtype.str, shape=list(v.shape))
    elif isinstance(v, tuple):
        ref["as"] = "tuple"
    try:  # the readable dict goes through JSON: compare with what comes back from there
        return ref if same(_dec_ref(ref, to_jsonable(plain)), v) else None
    except Exception:  # noqa: BLE001 - any failure just means "write the field in full"
        return None


def _dec_ref(ref: dict[str, Any], plain: Any) -> Any:
    if "dtype" in ref:
        dt = np.dtype(ref["dtype"])
        return np.asarray(plain, dtype=dt).reshape(ref["shape"])
    v = _dec(plain)
    return tuple(v) if ref.get("as") == "tuple" else v


def _enc(v: Any) -> Any:
    if v is None or type(v) in (bool, str):
        return v
    if type(v) is int:
        return v
    if type(v) is float:
        return v if math.isfinite(v) else {_TAG: "float", "value": repr(v)}
    if type(v) is complex:
        return {_TAG: "complex", "re": _enc(v.real), "im": _enc(v.imag)}
    if isinstance(v, np.generic):
        return {_TAG: "scalar", "array": _enc(np.asarray(v))}
    if isinstance(v, np.ndarray):
        head = {_TAG: "ndarray", "dtype": v.dtype.str, "shape": list(v.shape)}
        if v.dtype.kind in "biufc":
            return {**head, "data": base64.b64encode(np.ascontiguousarray(v).tobytes()).decode("ascii")}
        if v.dtype.kind in "US":
            return {**head, "items": [str(x) for x in v.ravel()]}
        if v.dtype.kind == "O":
            return {**head, "items": [_enc(x) for x in v.ravel()]}
        raise _Unwritable(f"an array of dtype {v.dtype}")
    if isinstance(v, list):
        return [_enc(x) for x in v]
    if isinstance(v, tuple):
        return {_TAG: "tuple", "items": [_enc(x) for x in v]}
    if isinstance(v, dict):
        if all(type(k) is str for k in v) and _TAG not in v and not {"result_type", "result_fields"} <= v.keys():
            return {k: _enc(x) for k, x in v.items()}
        return {_TAG: "dict", "items": [[_enc(k), _enc(x)] for k, x in v.items()]}
    if dataclasses.is_dataclass(v) and not isinstance(v, type) and _TYPES.get(type(v).__name__) is type(v):
        return {_TAG: "object", "type": type(v).__name__, "fields": _fields_of(v)}
    raise _Unwritable(f"a {type(v).__module__}.{type(v).__qualname__}, which repscope cannot write")


def _dec(x: Any) -> Any:
    if isinstance(x, list):
        return [_dec(v) for v in x]
    if not isinstance(x, dict):
        return x
    kind = x.get(_TAG)
    if kind is None:
        if "result_type" in x and "result_fields" in x:
            return ResultBase.from_dict(x)
        return {k: _dec(v) for k, v in x.items()}
    if kind == "float":
        return float(x["value"])
    if kind == "complex":
        return complex(_dec(x["re"]), _dec(x["im"]))
    if kind == "scalar":
        return _dec(x["array"])[()]
    if kind == "ndarray":
        dt = np.dtype(x["dtype"])
        if "data" in x:
            return np.frombuffer(base64.b64decode(x["data"]), dtype=dt).reshape(x["shape"]).copy()
        items = x["items"] if dt.kind in "US" else [_dec(v) for v in x["items"]]
        out = np.empty(len(items), dtype=dt)
        out[:] = items if dt.kind != "O" else _object_items(items)
        return out.reshape(x["shape"])
    if kind == "tuple":
        return tuple(_dec(v) for v in x["items"])
    if kind == "dict":
        return {_dec(k): _dec(v) for k, v in x["items"]}
    if kind == "object":
        return _construct(_lookup(x["type"]), {k: _dec(v) for k, v in x["fields"].items()})
    from repscope.errors import InputError

    raise InputError(f"unknown value kind {kind!r} in a result file; it was written by a newer repscope — "
                     "upgrade repscope to read it")


def _object_items(items: list[Any]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    for i, v in enumerate(items):
        out[i] = v
    return out


def _lookup(name: Any) -> type:
    from repscope.errors import InputError

    cls = _TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        why = "two classes share this name" if name in _TYPES else "no result class of this name is loaded"
        raise InputError(f"unknown result type {name!r} ({why}); read files with repscope.load_result(path), "
                         "which loads every repscope result class first")
    return cls


def _type_of(d: Any) -> type:
    from repscope.errors import InputError

    if not isinstance(d, dict) or "result_type" not in d:
        raise InputError("not a repscope result: a dict from a result's to_dict() (with 'result_type') is needed")
    version = d.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise InputError(f"result format_version {version!r} is not one this repscope reads (≤ {FORMAT_VERSION}); "
                         "upgrade repscope to read it")
    return _lookup(d["result_type"])


def _construct(cls: type[Any], values: dict[str, Any]) -> Any:
    """``cls`` from its field values (init fields through ``__init__``, the others set after)."""
    from repscope.errors import InputError

    hook = getattr(cls, "_from_fields", None)
    if hook is not None:
        return hook(values)
    flds = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(flds))
    if unknown:
        raise InputError(f"{cls.__name__} has no fields {unknown}; the file was written by another repscope "
                         "version — read it with that version")
    params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
    if {p.name for p in params} == {f.name for f in flds.values() if f.init}:
        obj = cls(**{k: v for k, v in values.items() if flds[k].init})
    else:  # a subclass with its own __init__ (e.g. the dynamics lens's names for a MatrixResult's fields)
        obj = object.__new__(cls)
        for f in flds.values():
            if f.name not in values and f.default is not dataclasses.MISSING:
                object.__setattr__(obj, f.name, f.default)
            elif f.name not in values and f.default_factory is not dataclasses.MISSING:
                object.__setattr__(obj, f.name, f.default_factory())
    for k, v in values.items():
        if not flds[k].init or not hasattr(obj, k) or getattr(obj, k) is not v:
            object.__setattr__(obj, k, v)
    return obj


def same(a: Any, b: Any) -> bool:
    """Exact equality of two result values: same types, arrays equal in dtype, shape and values (NaN equal
    to NaN), dataclasses field by field.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.results import same
    >>> same({"v": np.array([1.0, np.nan])}, {"v": np.array([1.0, np.nan])})     # NaN equal to NaN
    True
    >>> same(np.array([1, 2]), np.array([1.0, 2.0]))                             # dtypes differ
    False
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.kind in "fc":
            return bool(np.array_equal(a, b, equal_nan=True))
        if a.dtype.kind == "O":
            return all(same(x, y) for x, y in zip(a.ravel(), b.ravel()))
        return bool(np.array_equal(a, b))
    if isinstance(a, float | np.floating):
        return bool(a == b or (a != a and b != b))
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    return bool(a == b)


def load_result(path: str | pathlib.Path, section: str | None = None, entry: int | str = 0) -> Any:
    """Read a result back from a JSON file: one written by a result's ``save(path)`` / ``to_json()``, or one
    entry of a report's ``results.json`` (``section``: the section key, e.g. ``"similarity"``; ``entry``:
    its index or title). The class is found by name among repscope's registered result classes (use
    ``repscope.load_result``, which loads them all); nothing is imported by a name in the file and nothing
    is unpickled.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> import numpy as np
    >>> from repscope.metrics import layer_matrix
    >>> from repscope.results import load_result, same
    >>> m = layer_matrix({"a": np.eye(4), "b": np.eye(4)[::-1]})
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = m.save(os.path.join(tmp.name, "cka.json"))
    >>> same(load_result(path), m)                  # read back exactly
    True
    >>> tmp.cleanup()
    """
    from repscope.errors import InputError

    path = pathlib.Path(path)
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"no file {str(path)!r}; give the path of a file written by result.save()") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{str(path)!r} is not JSON ({e}); give a file written by result.save()") from None
    if isinstance(d, dict) and isinstance(d.get("sections"), dict):
        d = _report_entry(d["sections"], section, entry, path)
    return ResultBase.from_dict(d)


def _report_entry(sections: dict[str, Any], section: str | None, entry: int | str, path: pathlib.Path) -> Any:
    from repscope.errors import InputError

    if section not in sections:
        raise InputError(f"{str(path)!r} is a report's results.json; pass section= one of {sorted(sections)}")
    entries = [e for e in sections[section] if isinstance(e, dict) and e.get("type") != "Section"]
    if isinstance(entry, int) and not isinstance(entry, bool):
        if not -len(entries) <= entry < len(entries):
            raise InputError(f"section {section!r} has {len(entries)} results; give entry= 0…{len(entries) - 1}")
        return entries[entry].get("result")
    found = [e for e in entries if e.get("title") == entry]
    if not found:
        titles = [e.get("title") for e in entries]
        raise InputError(f"section {section!r} has no result titled {entry!r}; titles: {titles}")
    return found[0].get("result")


# ---- display -------------------------------------------------------------------------------------------
def _short_repr(res: Any) -> str:
    """``Name(title='…', fields…)``: scalars in full, arrays and containers by shape or length."""
    bits = []
    for f in dataclasses.fields(res) if dataclasses.is_dataclass(res) else []:
        if not f.repr or f.name.startswith("_"):
            continue
        v = getattr(res, f.name)
        if isinstance(v, np.ndarray):
            bits.append(f"{f.name}=<{v.dtype} array {'×'.join(map(str, v.shape)) or 'scalar'}>")
        elif isinstance(v, list | tuple | dict) and len(repr(v)) > 60:
            bits.append(f"{f.name}=<{type(v).__name__} of {len(v)}>")
        elif isinstance(v, str) and len(v) > 60:
            bits.append(f"{f.name}={v[:57]!r}…")
        elif dataclasses.is_dataclass(v):
            bits.append(f"{f.name}=<{type(v).__name__}>")
        else:
            bits.append(f"{f.name}={v!r}")
        if len(bits) == 8:
            bits.append("…")
            break
    return f"{type(res).__name__}({', '.join(bits)})"


#: Limits of the Jupyter card: table rows/columns shown, and the inline PNG's size.
HTML_ROWS, HTML_COLS, HTML_PNG_DPI, HTML_PNG_MAX_BYTES = 12, 12, 72, 400_000


def result_html(res: Any, *, figure: bool = True) -> str:
    """A compact HTML card of a result for Jupyter (``_repr_html_``): title, ``summary()``, the first
    ``HTML_ROWS`` × ``HTML_COLS`` of ``table()`` and, with ``figure``, ``plot()`` as an inline PNG (72 dpi,
    left out above ``HTML_PNG_MAX_BYTES``). Every string from the result is escaped."""
    esc = html.escape
    parts = [f"<div class='repscope-result' style='max-width:760px'><h4>{esc(str(_try(lambda: res.title, '')))}"
             f"</h4><small>{esc(type(res).__name__)}</small>"]
    summary = _try(res.summary, "")
    if summary:
        parts += [f"<p>{esc(str(p))}</p>" for p in str(summary).split("\n\n") if p.strip()]
    tab = _try(res.table, None)
    if tab:
        header, rows = tab
        cols = min(len(header), HTML_COLS) if header else HTML_COLS
        head = "".join(f"<th>{esc(str(h))}</th>" for h in list(header)[:cols])
        body = "".join("<tr>" + "".join(f"<td>{esc(_cell_text(c))}</td>" for c in list(r)[:cols]) + "</tr>"
                       for r in list(rows)[:HTML_ROWS])
        more = f"<small>{len(rows)} rows, {len(header)} columns; first shown</small>" if (
            len(rows) > HTML_ROWS or len(header) > cols) else ""
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}")
    if figure:
        png = _try(lambda: _png_b64(res.plot()), None)
        if png:
            parts.append(f"<img alt='{esc(str(_try(lambda: res.title, '')), quote=True)}' "
                         f"style='max-width:100%' src='data:image/png;base64,{png}'/>")
    parts.append("</div>")
    return "".join(parts)


def _cell_text(c: Any) -> str:
    if isinstance(c, float | np.floating):
        return f"{c:.4g}"
    return "" if c is None else str(c)


def _png_b64(fig: Any) -> str | None:
    import io

    if fig is None or not hasattr(fig, "savefig"):
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=HTML_PNG_DPI, bbox_inches="tight")
    data = buf.getvalue()
    return base64.b64encode(data).decode("ascii") if len(data) <= HTML_PNG_MAX_BYTES else None


def _try(fn: Any, default: Any) -> Any:
    try:
        return fn()
    except Exception:  # noqa: BLE001 - a display must not raise; the card leaves the part out
        return default


# ---- xarray outputs ------------------------------------------------------------------------------------
def xarray_module() -> Any:
    """``xarray``, imported on first use (an optional dependency: ``pip install 'repscope[xarray]'``).

    Examples
    --------
    >>> from repscope.results import xarray_module
    >>> xarray_module().__name__
    'xarray'
    """
    try:
        import xarray
    except ImportError as exc:
        from repscope.errors import DependencyError

        raise DependencyError(f"this output needs xarray, which cannot be imported ({exc}); install it with "
                              "pip install 'repscope[xarray]'") from exc
    return xarray


def matrix_xarray(values: Any, rows: list[Any], cols: list[Any], *, name: str, attrs: dict[str, Any],
                  dims: tuple[str, str] = ("row", "col"), layers: dict[str, Any] | None = None) -> Any:
    """A 2-D ``xarray.DataArray`` with dims ``dims`` whose coordinates are the row and column names;
    ``layers`` adds same-shaped arrays as coordinates over both dims (e.g. ``sd``, ``ci_low``). Attributes
    that are None are left out.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.results import matrix_xarray
    >>> da = matrix_xarray(np.eye(2), ["l1", "l2"], ["l1", "l2"], name="cka", attrs={"metric": "linear_cka"})
    >>> da.dims, da.sel(row="l1", col="l2").item()
    (('row', 'col'), 0.0)
    """
    xr = xarray_module()
    coords: dict[str, Any] = {dims[0]: [str(r) for r in rows], dims[1]: [str(c) for c in cols]}
    for key, arr in (layers or {}).items():
        if arr is not None:
            coords[key] = (dims, np.asarray(arr))
    return xr.DataArray(np.asarray(values), dims=dims, coords=coords, name=name,
                        attrs={k: v for k, v in attrs.items() if v is not None})


_HALF_PI = float(np.pi / 2)

def fill_range(value_range: tuple[float, float | None], values: Any = None) -> tuple[float, float]:
    """A measure's value range ``(lo, hi)`` as a colour range: an open upper bound (``hi=None``) is filled
    with the data's maximum.

    Examples
    --------
    >>> from repscope.results import fill_range
    >>> fill_range((0.0, 1.0)), fill_range((0.0, None), [0.5, 3.0])    # open upper bound: the data's max
    ((0.0, 1.0), (0.0, 3.0))
    """
    lo, hi = value_range
    if hi is None:
        v = np.asarray(values, dtype=float) if values is not None else np.zeros(0)
        finite = v[np.isfinite(v)]
        hi = float(finite.max()) if finite.size and finite.max() > lo else lo + 1.0
    return (float(lo), float(hi))


def heatmap(
    values: np.ndarray,
    rows: list[str],
    cols: list[str],
    *,
    ax: Any = None,
    title: str = "",
    colorbar_label: str = "",
    higher_is_closer: bool = True,
    value_range: tuple[float, float] | None = None,
    annotate: bool | None = None,
    cell_text: list[list[str]] | None = None,
    xlabel: str = "",
    ylabel: str = "",
) -> Any:
    """The one matplotlib heatmap of repscope (returns the Figure).

    Colours: viridis, reversed for distances so that "close" is always bright; ``value_range`` fixes the
    colour scale (e.g. ``(0, 1)`` for CKA) instead of stretching it over the data. Cell values are written
    on matrices of at most 256 cells (``annotate`` forces it on or off; ``cell_text`` replaces them).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.results import heatmap
    >>> fig = heatmap(np.array([[1.0, 0.5], [0.5, 1.0]]), ["l1", "l2"], ["l1", "l2"], title="CKA")
    >>> type(fig).__name__, len(fig.axes) >= 1
    ('Figure', True)
    """
    values = np.asarray(values, dtype=float)
    n, m = values.shape
    size = (min(2.4 + 0.6 * m, 14.0), min(1.8 + 0.5 * n, 12.0))
    fig, ax = axes_figure(ax, size)
    lo, hi = value_range if value_range is not None else (None, None)
    im = ax.imshow(values, cmap="viridis" if higher_is_closer else "viridis_r", aspect="auto", vmin=lo, vmax=hi)
    fs = 8 if max(n, m) <= 10 else 6
    if m <= 60:
        ax.set_xticks(range(m), [str(c) for c in cols], rotation=45, ha="right", fontsize=fs)
    if n <= 60:
        ax.set_yticks(range(n), [str(r) for r in rows], fontsize=fs)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=colorbar_label)
    if annotate is None:
        annotate = values.size <= 256
    if annotate:
        finite = values[np.isfinite(values)]
        vmin = lo if lo is not None else (finite.min() if finite.size else 0.0)
        vmax = hi if hi is not None else (finite.max() if finite.size else 1.0)
        mid = (vmin + vmax) / 2
        for i in range(n):
            for j in range(m):
                v = values[i, j]
                bright = (v > mid) == higher_is_closer
                txt = cell_text[i][j] if cell_text is not None else (f"{v:.2f}" if np.isfinite(v) else "–")
                ax.text(j, i, txt, ha="center", va="center", fontsize=fs, color="black" if bright else "white")
    fig.tight_layout()
    return fig


@dataclass
class MatrixResult(ResultBase):
    """Values of one measure for every (row, column) pair — layers, models or systems.

    ``values[i, j]`` = measure(rows[i], cols[j]); ``kind`` says whether higher means closer
    (``"similarity"``) or farther (``"distance"``). Optional uncertainty: ``sd`` (spread over
    resamples), ``ci_low``/``ci_high`` at level ``ci_level`` (bootstrap). ``params`` holds the settings
    that produced the matrix, ``extra`` lens-specific arrays (e.g. DSA's optimisation certificates).
    ``value_range`` is the measure's range ``(lo, hi)``, given by the producer (for a registered measure, the
    registry's: 0–1 for CKA, 0–π/2 for angles; ``hi=None`` when unbounded above, then the data's maximum), so
    0.72 CKA never looks like 0; ``None`` (default) or ``"data"`` = stretch the colours over the data.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import LayerMatrix
    >>> m = LayerMatrix(values=np.array([[1.0, 0.5], [0.5, 1.0]]), rows=["l1", "l2"], cols=["l1", "l2"],
    ...                 metric="linear_cka")
    >>> m.to_dict()["metric"], m.values.shape
    ('linear_cka', (2, 2))
    """

    values: np.ndarray
    rows: list[str]
    cols: list[str]
    metric: str
    kind: str = "similarity"
    n_samples: int | None = None
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    sd: np.ndarray | None = None
    ci_low: np.ndarray | None = None
    ci_high: np.ndarray | None = None
    ci_level: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    value_range: tuple[float, float | None] | str | None = None
    row_axis: str = "layer"
    col_axis: str = "layer"

    @property
    def meta(self) -> dict[str, Any]:
        """How the values were computed (the ``extra`` entries, e.g. ``meta["formulation"]`` = ``"gram"`` or
        ``"covariance"`` for the linear similarity measures). A subclass may assign its own ``meta``."""
        return self.__dict__.get("_meta", self.extra)

    @meta.setter
    def meta(self, value: dict[str, Any]) -> None:
        self.__dict__["_meta"] = value

    def colour_range(self) -> tuple[float, float] | None:
        """The heatmap's colour range (see ``value_range``)."""
        if isinstance(self.value_range, str):
            return None
        if self.value_range is None:
            return None
        return fill_range(self.value_range, self.values)

    @property
    def table_collapsed(self) -> bool:
        """The report folds the table away when the heatmap already writes every value in its cells."""
        return self.values.size <= 256

    # ---- protocol -------------------------------------------------------------------------------
    @property
    def title(self) -> str:
        if self.label:
            return self.label
        what = "similarity" if self.kind == "similarity" else "distance"
        return f"Layer {what} — {self.metric}"

    @property
    def symmetric(self) -> bool:
        return list(self.rows) == list(self.cols) and np.allclose(self.values, self.values.T, equal_nan=True)

    def _legacy(self) -> dict[str, Any]:
        """Keys kept in ``to_dict()`` for readers of the results each lens returned before (subclasses)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "type": "matrix",
            "metric": self.metric,
            "kind": self.kind,
            "rows": list(self.rows),
            "cols": list(self.cols),
            "values": self.values,
            "n_samples": self.n_samples,
            "description": self.description,
            "params": self.params,
            "seconds": self.seconds,
        }
        for k in ("sd", "ci_low", "ci_high", "ci_level"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        if self.extra:
            d["extra"] = {k: v for k, v in self.extra.items() if _jsonable_value(v)}
        d.update(self._legacy())
        return to_jsonable(d)

    def to_xarray(self) -> Any:
        """The matrix as an ``xarray.DataArray``: dims ``("row", "col")`` with the row/column names
        (layers, systems) as coordinates, ``sd``/``ci_low``/``ci_high`` as coordinates over both dims when
        present, and attrs ``metric``, ``kind``, ``value_range`` (``(lo, hi)``, ``hi`` = inf when open),
        ``n_samples``, ``row_axis``, ``col_axis``, ``title``, ``ci_level``. Needs ``repscope[xarray]``."""
        vr = self.value_range if isinstance(self.value_range, tuple | list) else None
        return matrix_xarray(
            self.values, self.rows, self.cols, name=self.metric,
            layers={"sd": self.sd, "ci_low": self.ci_low, "ci_high": self.ci_high},
            attrs={"metric": self.metric, "kind": self.kind, "n_samples": self.n_samples, "title": self.title,
                   "value_range": None if vr is None else (float(vr[0]), float("inf") if vr[1] is None
                                                           else float(vr[1])),
                   "row_axis": self.row_axis, "col_axis": self.col_axis, "ci_level": self.ci_level})

    def to_csv(self, path: str | pathlib.Path) -> pathlib.Path:
        """Write the matrix as CSV (first row: metric and column names; full float precision)."""
        path = pathlib.Path(path)
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow([self.metric, *self.cols])
            for name, row in zip(self.rows, self.values):
                w.writerow([name, *[repr(float(v)) for v in row]])
        return path

    def _cell(self, i: int, j: int, digits: int = 3) -> str:
        v = self.values[i, j]
        if self.ci_low is not None and self.ci_high is not None:
            return f"{v:.{digits}f} [{self.ci_low[i, j]:.{digits}f}, {self.ci_high[i, j]:.{digits}f}]"
        if self.sd is not None and i != j:
            return f"{v:.{digits}g} ± {self.sd[i, j]:.2g}"
        return f"{v:.{digits}f}"

    def table(self) -> tuple[list[str], list[list[str]]]:
        header = ["", *map(str, self.cols)]
        rows = [[str(r), *[self._cell(i, j) for j in range(len(self.cols))]] for i, r in enumerate(self.rows)]
        return header, rows

    def _pairs(self) -> list[tuple[float, str, str]]:
        out = []
        same = list(self.rows) == list(self.cols)
        for i, r in enumerate(self.rows):
            for j, c in enumerate(self.cols):
                if (same and j <= i) or r == c:
                    continue
                v = float(self.values[i, j])
                if np.isfinite(v):
                    out.append((v, str(r), str(c)))
        return out

    def summary(self) -> str:
        same = list(self.rows) == list(self.cols)
        where = f"between {len(self.rows)} {self.row_axis}s" if same else (
            f"{len(self.rows)} {self.row_axis}s (rows) × {len(self.cols)} {self.col_axis}s (columns)")
        text = f"{self.metric} ({self.kind}) {where}"
        text += f", n = {self.n_samples} samples." if self.n_samples else "."
        if self.description:
            text += f" {self.description}"
        pairs = self._pairs()
        if pairs:
            pairs.sort()
            closest = pairs[-1] if self.kind == "similarity" else pairs[0]
            farthest = pairs[0] if self.kind == "similarity" else pairs[-1]
            text += (
                f" Closest pair: {closest[1]} / {closest[2]} ({closest[0]:.3g}); "
                f"farthest: {farthest[1]} / {farthest[2]} ({farthest[0]:.3g})."
            )
        rng = self.colour_range()
        scale = f" (colours span {rng[0]:.3g}–{rng[1]:.3g})" if rng is not None else ""
        text += (f" Look for bright blocks{scale}: groups of {self.row_axis}s that represent the data alike; "
                 f"dark cells are where the representation changes.")
        return text

    def plot(self, ax: Any = None, annotate: bool | None = None) -> Any:
        """Matplotlib heatmap (returns the Figure)."""
        text = None
        if (self.sd is not None or self.ci_low is not None) and self.values.size <= 64:
            text = [[self._cell(i, j, 2) for j in range(len(self.cols))] for i in range(len(self.rows))]
        return heatmap(self.values, list(self.rows), list(self.cols), ax=ax, title=self.title,
                       colorbar_label=self._colour_label(), higher_is_closer=self.kind == "similarity",
                       value_range=self.colour_range(), annotate=annotate, cell_text=text,
                       xlabel=self._axis_title(self.col_axis, "columns"),
                       ylabel=self._axis_title(self.row_axis, "rows"))

    def _colour_label(self) -> str:
        closer = "higher" if self.kind == "similarity" else "lower"
        angle = isinstance(self.value_range, tuple | list) and self.value_range[0] == 0 and self.value_range[1] in (
            _HALF_PI, np.pi)
        unit = " (radians)" if angle else ""
        return f"{self.metric}{unit}, {closer} = closer"

    def _axis_title(self, axis: str, which: str) -> str:
        src = self.params.get(f"{which}_source") if isinstance(self.params, dict) else None
        return f"{axis} of {src}" if src else axis

    def plotly(self) -> Any:
        """Interactive plotly heatmap (names escaped; cell values on small matrices)."""
        import plotly.graph_objects as go

        x = [html.escape(str(c)) for c in self.cols]
        y = [html.escape(str(r)) for r in self.rows]
        text = [[self._cell(i, j, 3) for j in range(len(x))] for i in range(len(y))]
        rng = self.colour_range()
        lo, hi = rng if rng is not None else (None, None)
        small = self.values.size <= 256
        fig = go.Figure(
            go.Heatmap(
                # None marks a gap for plotly; numpy's stubs do not accept None as a fill value
                z=np.where(np.isfinite(self.values), self.values, None).tolist(),  # type: ignore[call-overload]
                x=x, y=y, text=text,
                texttemplate="%{text}" if small else None,
                colorscale="Viridis",
                reversescale=self.kind == "distance",
                zmin=lo, zmax=hi,
                hovertemplate="%{y} vs %{x}: %{text}<extra></extra>",
                colorbar={"title": {"text": html.escape(self._colour_label()), "side": "right"}},
            )
        )
        fig.update_layout(title=html.escape(self.title),
                          yaxis={"autorange": "reversed",
                                 "title": html.escape(self._axis_title(self.row_axis, "rows"))},
                          xaxis={"title": html.escape(self._axis_title(self.col_axis, "columns"))},
                          height=min(380 + 14 * len(self.rows), 900), margin={"t": 60})
        return fig


def _jsonable_value(v: Any) -> bool:
    """True for values ``to_jsonable`` can write (recursively); lens objects such as diagrams are left out."""
    if isinstance(v, dict):
        return all(_jsonable_value(x) for x in v.values())
    if isinstance(v, list | tuple):
        return all(_jsonable_value(x) for x in v)
    return v is None or isinstance(v, int | float | str | bool | np.ndarray | np.generic)
