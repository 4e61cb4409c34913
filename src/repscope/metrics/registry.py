"""Registry of similarity / distance measures.

Every measure is registered once under a name with its direction (``kind``): ``"similarity"`` (higher
means more alike) or ``"distance"`` (0 means identical), and its value range (``value_range``: ``(0, 1)``,
``(0, π/2)``, ``(0, None)`` when unbounded above, or a function of the options): the results built from a
measure take both from here (no other table of measure names exists). A measure may also provide a two-stage form in
the style of netrep's ``partial_fit``/``finalize``:

* ``prepare(X) -> state`` does the per-representation work once (centring, Gram matrix, RDM, ...);
* ``compare(state_a, state_b) -> float`` finishes one pair from two states.

:func:`repscope.metrics.layer_matrix` uses that form to reuse per-layer work across all pairs.

A measure that depends on the data only through centred second moments registers how it finishes from
the covariance blocks — ``from_blocks(S_xx, S_yy, S_xy, **options) -> float`` (it may declare the
keyword-only context arguments ``n``, ``qx``, ``qy``: the row count and the squared norms of the centred
rows) and optionally ``from_blocks_batch(block, pairs, *, n, **options) -> values`` that finishes many
pairs in one call. Such measures are streamed by the one engine, :mod:`repscope.metrics.engine`, in
process and on Dask. The same measures may also register ``from_grams(fx, fy, **options) -> float``, the
finisher from the sample side (two :class:`repscope.metrics.gram.GramFactor`: centred n×n Gram and thin
factor X = U diag(s) Vᵀ), which layer matrices use when the samples are few and the layers wide
(``formulation="auto"`` picks the cheaper; see :mod:`repscope.metrics.gram`). ``identity`` is the
exact value between a representation and itself (a number, or a function of the options returning a
number or ``None``), ``symmetric`` whether m(X, Y) = m(Y, X) (bool, or a function of the options); layer
matrices use both to skip work.

Other lenses register their measures from a *provider* module (their ``measures`` in the lens registry,
:mod:`repscope.lenses`, collected in :data:`_PROVIDERS`); those modules
are imported lazily the first time :func:`available` or :func:`get` is called, so ``repscope.metrics``
never imports them at import time. A provider that does not exist (yet) is skipped; any other error
while importing it propagates.
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.lenses import LENSES

__all__ = ["Measure", "register", "get", "available", "describe"]

Kind = Literal["similarity", "distance"]
#: A measure's value range (lo, hi); ``hi=None``: unbounded above (a heatmap then spans lo … the data's max).
Range = tuple[float, float | None]

#: Modules of other lenses that register measures when imported: their ``measures`` in the lens registry.
_PROVIDERS: list[str] = [lens.measures for lens in LENSES if lens.measures]
#: Our own measures (imported lazily too, so importing the registry stays cheap and cycle-free).
_BUILTIN = "repscope.metrics._builtin"


@dataclass(frozen=True)
class Measure:
    """One registered measure. ``func(X, Y, **kw) -> float``; optional ``prepare``/``compare``."""

    name: str
    func: Callable[..., float]
    kind: Kind
    description: str
    prepare: Callable[..., Any] | None = None
    compare: Callable[..., float] | None = None
    from_blocks: Callable[..., float] | None = None
    from_blocks_batch: Callable[..., Any] | None = None
    identity: float | Callable[[dict], float | None] | None = None
    symmetric: bool | Callable[[dict], bool] = False
    from_grams: Callable[..., float] | None = None
    value_range: Range | Callable[[dict], Range] = (0.0, None)

    def range_for(self, options: dict) -> Range:
        """The measure's value range under ``options`` (e.g. CCA's Pillai summary is not bounded by 1)."""
        return self.value_range(options) if callable(self.value_range) else self.value_range

    def identity_for(self, options: dict) -> float | None:
        """Value between a representation and itself under ``options`` (None: not known exactly)."""
        return self.identity(options) if callable(self.identity) else self.identity

    def symmetric_for(self, options: dict) -> bool:
        """Whether the measure is symmetric under ``options``."""
        return bool(self.symmetric(options) if callable(self.symmetric) else self.symmetric)

    @property
    def higher_is_closer(self) -> bool:
        return self.kind == "similarity"

    def __call__(self, X: ArrayLike, Y: ArrayLike, **kw: Any) -> float:
        return self.func(X, Y, **kw)


_REGISTRY: dict[str, Measure] = {}
_loaded: set[str] = set()
_loading = False


def register(
    name: str,
    func: Callable[..., float],
    *,
    kind: Kind,
    value_range: Range | Callable[[dict], Range],
    description: str,
    prepare: Callable[..., Any] | None = None,
    compare: Callable[..., float] | None = None,
    from_blocks: Callable[..., float] | None = None,
    from_blocks_batch: Callable[..., Any] | None = None,
    identity: float | Callable[[dict], float | None] | None = None,
    symmetric: bool | Callable[[dict], bool] = False,
    from_grams: Callable[..., float] | None = None,
) -> Measure:
    """Register ``func`` under ``name``; returns the :class:`Measure`.

    ``kind`` (``"similarity"``: higher = closer; ``"distance"``: lower = closer) and ``value_range``
    (``(lo, hi)``, ``hi=None`` when unbounded above, or a function of the options giving it) are required:
    results and their heatmaps take both from here.

    ``from_blocks``/``from_blocks_batch``/``from_grams``/``identity``/``symmetric``: see the module
    docstring (all optional). Re-registering a name replaces the entry only when it is the same function (re-imports); a
    different function under an existing name raises :class:`InputError` (no silent substitution).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import register, registry, similarity
    >>> def mean_gap(X, Y):
    ...     return float(abs(np.mean(X) - np.mean(Y)))
    >>> m = register("mean_gap_example", mean_gap, kind="distance", value_range=(0.0, None),
    ...              description="absolute difference of the grand means")
    >>> similarity(np.zeros((4, 2)), np.ones((4, 3)), metric="mean_gap_example")
    1.0
    >>> _ = registry._REGISTRY.pop("mean_gap_example")  # keep the example from leaking into the registry
    """
    if kind not in ("similarity", "distance"):
        raise InputError(f"kind={kind!r} for measure {name!r}; use 'similarity' or 'distance'")
    if not isinstance(name, str) or not name:
        raise InputError("a measure needs a non-empty string name")
    if not callable(value_range):
        check_range(value_range, name)
    if (prepare is None) != (compare is None):
        raise InputError(f"measure {name!r}: give both prepare= and compare= or neither")
    if from_blocks_batch is not None and from_blocks is None:
        raise InputError(f"measure {name!r}: from_blocks_batch= needs from_blocks= (the per-pair finisher)")
    if from_grams is not None and from_blocks is None:
        raise InputError(f"measure {name!r}: from_grams= needs from_blocks= (the covariance finisher)")
    old = _REGISTRY.get(name)
    if old is not None and _same_function_key(old.func) != _same_function_key(func):
        raise InputError(f"a different measure is already registered as {name!r}; choose another name")
    m = Measure(name=name, func=func, kind=kind, description=description, prepare=prepare, compare=compare,
                from_blocks=from_blocks, from_blocks_batch=from_blocks_batch, identity=identity,
                symmetric=symmetric, value_range=value_range, from_grams=from_grams)
    _REGISTRY[name] = m
    return m


def check_range(value_range: Any, name: str) -> Range:
    """``value_range`` as ``(lo, hi)`` floats (``hi`` may be None), or :class:`InputError` saying how to give it."""
    pair = isinstance(value_range, tuple | list) and len(value_range) == 2
    lo, hi = value_range if pair else (None, None)
    if not (isinstance(lo, int | float) and math.isfinite(lo) and (
            hi is None or (isinstance(hi, int | float) and hi > lo))):
        raise InputError(f"measure {name!r}: value_range={value_range!r}; give (lo, hi) with finite lo < hi, or "
                         f"(lo, None) for a measure unbounded above, e.g. (0.0, 1.0)")
    return (float(lo), None if hi is None else float(hi))


def _same_function_key(f: Any) -> Any:
    """What identifies a function across re-imports: module + qualified name; for ``functools.partial``
    objects (which have no ``__qualname__``) the wrapped function's key plus the bound arguments."""

    if isinstance(f, functools.partial):
        return (_same_function_key(f.func), repr(f.args), repr(sorted(f.keywords.items())))
    return (getattr(f, "__module__", None), getattr(f, "__qualname__", repr(f)))


def _load_providers() -> None:
    global _loading
    if _loading:
        return
    _loading = True
    try:
        for mod in [_BUILTIN, *_PROVIDERS]:
            if mod in _loaded:
                continue
            try:
                importlib.import_module(mod)
            except ModuleNotFoundError as exc:
                # Only "this provider module (or its package) does not exist yet" is tolerated.
                if (
                    mod == _BUILTIN
                    or exc.name is None
                    or not (mod == exc.name or mod.startswith(exc.name + "."))
                ):
                    raise
            _loaded.add(mod)
    finally:
        _loading = False


def get(name: str) -> Measure:
    """Return the registered :class:`Measure` called ``name`` (clear error listing the choices).

    Examples
    --------
    >>> from repscope.metrics import get
    >>> get("procrustes").kind
    'distance'
    """
    _load_providers()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown measure {name!r}; available: {', '.join(sorted(_REGISTRY))}") from None


def available(kind: Kind | None = None) -> list[str]:
    """Sorted names of registered measures (optionally only ``kind='similarity'`` or ``'distance'``).

    Examples
    --------
    >>> from repscope.metrics import available
    >>> "linear_cka" in available("similarity"), "procrustes" in available("distance")
    (True, True)
    """
    _load_providers()
    return sorted(n for n, m in _REGISTRY.items() if kind is None or m.kind == kind)


def describe() -> dict[str, dict[str, str]]:
    """``{name: {"kind": ..., "range": ..., "description": ...}}`` for every registered measure (the range
    under the default options, e.g. ``"[0, 1]"`` or ``"[0, ∞)"``).

    Examples
    --------
    >>> from repscope.metrics import describe
    >>> describe()["linear_cka"]["kind"]
    'similarity'
    """
    _load_providers()
    return {n: {"kind": m.kind, "range": _fmt_range(m.range_for({})), "description": m.description}
            for n, m in sorted(_REGISTRY.items())}


def _fmt_range(rng: Range) -> str:
    def num(v: float) -> str:
        for sym, x in (("π/2", math.pi / 2), ("π", math.pi)):
            if math.isclose(v, x):
                return sym
        return f"{v:g}"

    lo, hi = rng
    return f"[{num(lo)}, ∞)" if hi is None else f"[{num(lo)}, {num(hi)}]"
