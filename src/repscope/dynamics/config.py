"""One validated parameter object for DSA and InputDSA (the pattern of netrep's ``LinearMetric``).

:class:`DSAConfig` holds every hyper-parameter of a DSA / InputDSA comparison — the DMD fit (delay
embedding, rank rule, ridge, centring), the distance (``metric``), the certified orthogonal-alignment
optimiser (random starts, agreement, iterations, seed) and the InputDSA model (``method``,
``n_input_delays``). It is frozen and validated once, in ``__post_init__``; :func:`~repscope.dynamics.dsa`,
:func:`~repscope.dynamics.dsa_matrix`, :func:`~repscope.dynamics.input_dsa`,
:func:`~repscope.dynamics.input_dsa_matrix`, the dynamics lens and :func:`~repscope.dynamics.sweep_dmd`
all take it as ``config=``, and their keyword arguments (``rank=2``, ``metric=…``) override its fields
through :meth:`DSAConfig.resolve` — the one place that maps keywords to parameters.

>>> from repscope.dynamics import DSAConfig
>>> cfg = DSAConfig(n_delays=2, rank=3)
>>> cfg.replace(metric="euclidean").metric
'euclidean'
>>> DSAConfig.from_dict(cfg.to_dict()) == cfg
True
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any

from repscope.errors import InputError

__all__ = ["DSAConfig"]

METRICS = ("angular", "euclidean", "wasserstein")
METHODS = ("dmdc", "subspace")


def _int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__") or int(value.__index__()) < minimum:
        raise InputError(f"{name}={value!r} is invalid; pass an integer ≥ {minimum}")
    return int(value.__index__())


def _number(value: Any, name: str, *, low: float, low_open: bool, high: float = math.inf, fix: str) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        raise InputError(f"{name}={value!r} is invalid; {fix}")
    return float(value)


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{name}={value!r} is invalid; pass True or False")
    return value


@dataclass(frozen=True)
class DSAConfig:
    """Hyper-parameters of DSA (Ostrow et al. 2023) and InputDSA (Huang, Ostrow et al. 2025).

    DMD (:func:`~repscope.dynamics.fit_dmd`, :func:`~repscope.dynamics.fit_dmdc`): ``n_delays`` copies
    ``delay_interval`` steps apart; the rank from ``rank`` (fixed), ``rank_thresh`` (singular values above it)
    or ``rank_explained_variance`` (fraction in (0, 1]) — at most one, none = full numerical rank; ``ridge``
    (λ ≥ 0 of the regression); ``reduced_rank`` (DSA only); ``center`` (subtract the mean state).
    Distance: ``metric`` "angular", "euclidean" (orthogonal similarity) or "wasserstein" (eigenvalue spectra,
    DSA only). Optimiser (:func:`~repscope.dynamics.similarity_transform_distance`): ``n_random`` random
    starts in the first round, at most ``max_random`` in all, ``min_agree`` agreeing starts to certify,
    ``max_iter`` iterations per start, ``seed`` for the starts. InputDSA: ``method`` "dmdc" or "subspace",
    ``n_input_delays`` (delay copies of the input; DMDc only).

    >>> DSAConfig(rank=2).to_dict()["rank"]
    2
    >>> DSAConfig(n_delays=0)
    Traceback (most recent call last):
    ...
    repscope.errors.InputError: n_delays=0 is invalid; pass an integer ≥ 1
    """

    n_delays: int = 1
    delay_interval: int = 1
    rank: int | None = None
    rank_thresh: float | None = None
    rank_explained_variance: float | None = None
    ridge: float = 1e-8
    reduced_rank: bool = False
    center: bool = False
    metric: str = "angular"
    n_random: int = 8
    max_random: int = 128
    min_agree: int = 3
    max_iter: int = 200
    seed: int = 0
    method: str = "dmdc"
    n_input_delays: int = 1

    def __post_init__(self) -> None:
        put = object.__setattr__  # frozen: normalise the validated values in place (numpy ints → int …)
        for name in ("n_delays", "delay_interval", "n_input_delays", "max_iter"):
            put(self, name, _int(getattr(self, name), name, 1))
        put(self, "n_random", _int(self.n_random, "n_random", 0))
        put(self, "max_random", _int(self.max_random, "max_random", 0))
        put(self, "min_agree", _int(self.min_agree, "min_agree", 1))
        put(self, "seed", _int(self.seed, "seed", 0))
        if self.max_random < self.n_random:
            raise InputError(
                f"max_random={self.max_random} is below n_random={self.n_random}; max_random is the total budget "
                f"of random starts — raise it to at least {self.n_random}"
            )
        if self.rank is not None:
            put(self, "rank", _int(self.rank, "rank", 1))
        if self.rank_thresh is not None:
            put(self, "rank_thresh", _number(self.rank_thresh, "rank_thresh", low=0.0, low_open=True,
                                             fix="pass a finite singular-value threshold > 0, or None"))
        if self.rank_explained_variance is not None:
            put(self, "rank_explained_variance", _number(
                self.rank_explained_variance, "rank_explained_variance", low=0.0, low_open=True, high=1.0,
                fix="pass a fraction of variance in (0, 1], or None"))
        given = [n for n in ("rank", "rank_thresh", "rank_explained_variance") if getattr(self, n) is not None]
        if len(given) > 1:
            values = " and ".join(f"{n}={getattr(self, n)!r}" for n in given)
            raise InputError(f"{values} are all set; pass only one of rank, rank_thresh, rank_explained_variance "
                             f"(the others None)")
        put(self, "ridge", _number(self.ridge, "ridge", low=0.0, low_open=False, fix="pass a finite number ≥ 0"))
        put(self, "reduced_rank", _flag(self.reduced_rank, "reduced_rank"))
        put(self, "center", _flag(self.center, "center"))
        if self.metric not in METRICS:
            raise InputError(f"metric={self.metric!r} is unknown; use one of {METRICS}")
        if self.method not in METHODS:
            raise InputError(f"method={self.method!r} is unknown; use one of {METHODS}")

    # -- building -------------------------------------------------------------------------------------------
    @classmethod
    def resolve(cls, config: DSAConfig | dict | None = None, /, **overrides: Any) -> DSAConfig:
        """``config`` (a :class:`DSAConfig`, a dict of its fields, or None for the defaults) with the keyword
        ``overrides`` applied; unknown names and bad values raise :class:`~repscope.errors.InputError`."""
        if config is None:
            config = cls()
        elif isinstance(config, dict):
            config = cls.from_dict(config)
        elif not isinstance(config, cls):
            raise InputError(
                f"config={config!r} is not a DSAConfig; pass repscope.dynamics.DSAConfig(...) or give the "
                f"hyper-parameters as keywords (n_delays=…, rank=…, metric=…)"
            )
        return config.replace(**overrides) if overrides else config

    def replace(self, **changes: Any) -> DSAConfig:
        """A copy with ``changes`` applied (validated again)."""
        _check_names(changes)
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, d: dict) -> DSAConfig:
        """The config whose :meth:`to_dict` is ``d``."""
        if not isinstance(d, dict):
            raise InputError(f"a DSAConfig is read from a dict of its fields, got {type(d).__name__}")
        _check_names(d)
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-friendly dict (``DSAConfig.from_dict`` reads it back)."""
        return dataclasses.asdict(self)

    # -- views for the functions that use a part of it ------------------------------------------------------
    def dmd_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~repscope.dynamics.fit_dmd`."""
        return {k: getattr(self, k) for k in ("n_delays", "delay_interval", "rank", "rank_thresh",
                                              "rank_explained_variance", "ridge", "reduced_rank", "center")}

    def dmdc_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~repscope.dynamics.fit_dmdc` (InputDSA's DMD with control)."""
        kw = self.dmd_kwargs()
        del kw["reduced_rank"]
        return {**kw, "n_input_delays": self.n_input_delays}

    def alignment_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~repscope.dynamics.similarity_transform_distances` (incl. ``metric``)."""
        return {k: getattr(self, k) for k in ("metric", "n_random", "max_random", "min_agree", "max_iter", "seed")}

    def check_dsa(self) -> DSAConfig:
        """Raise if an InputDSA-only setting is changed (DSA fits autonomous DMD)."""
        if self.method != "dmdc" or self.n_input_delays != 1:
            raise InputError(
                f"method={self.method!r}, n_input_delays={self.n_input_delays} are InputDSA settings; DSA fits "
                f"DMD without inputs — leave them at their defaults or use repscope.dynamics.input_dsa"
            )
        return self

    def check_input_dsa(self) -> DSAConfig:
        """Raise if a DSA-only setting is used with InputDSA."""
        if self.metric == "wasserstein":
            raise InputError(
                "metric='wasserstein' is a DSA score; InputDSA reports the eigenvalue W2 distance as its "
                "`spectral` component — pass metric='angular' or 'euclidean'"
            )
        if self.reduced_rank:
            raise InputError("reduced_rank=True applies to DSA's DMD only; InputDSA's DMDc has no reduced-rank "
                             "regression — pass reduced_rank=False")
        if self.method == "subspace":
            for key in ("delay_interval", "n_input_delays"):
                if getattr(self, key) != 1:
                    raise InputError(
                        f"{key}={getattr(self, key)} does not apply to method='subspace' (its past/future windows "
                        f"are n_delays consecutive steps); leave it at 1 or use method='dmdc'"
                    )
        return self


_FIELDS = tuple(f.name for f in dataclasses.fields(DSAConfig))


def _check_names(kw: dict) -> None:
    bad = sorted(set(kw) - set(_FIELDS))
    if bad:
        raise InputError(f"unknown DSA parameter(s) {bad}; the parameters are {', '.join(_FIELDS)}")
