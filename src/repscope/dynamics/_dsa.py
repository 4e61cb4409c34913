"""Dynamical Similarity Analysis: DMD per system, then an orthogonal-similarity (or spectral) distance.

DSA (Ostrow et al. 2023, NeurIPS) compares the *dynamics* of two systems: each system's trajectories are
delay-embedded and reduced to a linear operator by HAVOK DMD (:func:`fit_dmd`); two operators are compared
up to an orthogonal change of basis (:func:`similarity_transform_distance`, scores ``angular`` or
``euclidean``) or by their eigenvalue spectra (``wasserstein``, :func:`eig_wasserstein`).

Data conventions: trajectories ``(T, N)``, ``(K, T, N)`` or lists of trials; no mean-centring unless
``center=True``; float64 throughout.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.dynamics.config import DSAConfig
from repscope.dynamics.dmd import DMDResult, fit_dmd
from repscope.dynamics.results import DISTANCE_RANGES, DistanceMatrixResult, DSAResult
from repscope.dynamics.simdist import eig_wasserstein, similarity_transform_distances
from repscope.errors import InputError, not_converged
from repscope.parallel import all_pairs, map_items, map_pairs, resolve_scheduler
from repscope.validation import renamed_parameter

__all__ = ["DSA", "dsa", "dsa_matrix", "fit_systems"]

def _fit(system: Any, **kw: Any) -> DMDResult:
    if isinstance(system, DMDResult):
        return system
    return fit_dmd(system, **kw)


def fit_systems(
    systems: list[Any],
    *,
    n_workers: int = 1,
    progress: bool = False,
    names: list[str] | None = None,
    scheduler: Any = None,
    **dmd_kw: Any,
) -> list[DMDResult]:
    """Fit :func:`fit_dmd` to every system (DMDResult items are passed through), optionally in workers."""
    if names is None:
        names = [f"system {i}" for i in range(len(systems))]
    out = []
    if n_workers == 1 and resolve_scheduler(scheduler, 1) == "serial":
        for sys_, nm in zip(systems, names):
            out.append(_fit(sys_, name=nm, **dmd_kw) if not isinstance(sys_, DMDResult) else sys_)
        return out
    return map_items(
        functools.partial(_fit, **dmd_kw), systems, n_workers=n_workers, progress=progress, desc="DMD fits",
        scheduler=scheduler,
    )


@renamed_parameter("score", "metric")
def dsa(
    X: ArrayLike,
    Y: ArrayLike,
    config: DSAConfig | None = None,
    *,
    device: Any = "cpu",
    return_info: bool = False,
    **overrides: Any,
) -> float | DSAResult:
    """Dynamical similarity between two systems (Ostrow et al. 2023).

    ``X``, ``Y``: trajectories ``(T, N)``, ``(K, T, N)`` or lists of trials (or fitted :class:`DMDResult`).
    ``config``: a :class:`~repscope.dynamics.DSAConfig` (default: its defaults); keyword ``overrides``
    (``n_delays=``, ``rank=``, ``metric=``, ``n_random=`` … — any of its fields; the deprecated ``score=``
    means ``metric=``) replace its fields. The numbers of observed dimensions may differ; for
    ``angular``/``euclidean`` both DMD operators must end up with the same rank (pass ``rank=``). DMD options
    as in :func:`fit_dmd`; optimisation options as in :func:`similarity_transform_distance` (``n_random``
    random starts in the first round, at most ``max_random`` in all; an optimum not certified within that
    budget carries ``converged=False`` in the certificate and raises a
    :class:`~repscope.errors.ConvergenceWarning`). Returns the distance, or a :class:`DSAResult` with both DMD
    fits and the optimisation certificate when ``return_info=True``.

    >>> import numpy as np
    >>> from repscope.dynamics import DSAConfig, dsa
    >>> t = np.arange(200) * 0.1
    >>> a = np.c_[np.cos(t), np.sin(t)]                       # a rotation …
    >>> Q = np.array([[0.6, -0.8], [0.8, 0.6]])
    >>> bool(dsa(a, a @ Q.T, rank=2) < 1e-6)                  # … and the same one in another basis
    True
    >>> cfg = DSAConfig(rank=2, metric="euclidean")
    >>> dsa(a, a @ Q.T, cfg) == dsa(a, a @ Q.T, rank=2, metric="euclidean")
    True
    """
    cfg = DSAConfig.resolve(config, **overrides).check_dsa()
    score = cfg.metric
    kw = cfg.dmd_kwargs()
    dx = _fit(X, name="X", **kw)
    dy = _fit(Y, name="Y", **kw)
    if score == "wasserstein":
        d = eig_wasserstein(dx.eigenvalues_, dy.eigenvalues_)
        return DSAResult(d, score, dx, dy) if return_info else d
    if dx.rank_ != dy.rank_:
        raise InputError(
            f"the DMD operators have ranks {dx.rank_} (X) and {dy.rank_} (Y); the {score} score needs equal "
            f"ranks — pass the same fixed rank=… for both, or use metric='wasserstein'"
        )
    info = similarity_transform_distances([(dx.A_, dy.A_)], device=device, **cfg.alignment_kwargs())[0]
    return DSAResult(info.distance, score, dx, dy, info) if return_info else info.distance


def _pair_distance(a: DMDResult, b: DMDResult, *, align: dict[str, Any]) -> tuple:
    if align["metric"] == "wasserstein":
        return eig_wasserstein(a.eigenvalues_, b.eigenvalues_), float("nan"), -1, True
    # the caller reports uncertified pairs once, in the main process (a worker's warning would be lost)
    info = similarity_transform_distances([(a.A_, b.A_)], on_fail="ignore", **align)[0]
    return info.distance, info.grad_norm, info.n_agree, info.converged


@renamed_parameter("score", "metric")
def dsa_matrix(
    systems: list[Any],
    others: list[Any] | None = None,
    config: DSAConfig | None = None,
    *,
    names: list[str] | None = None,
    names_other: list[str] | None = None,
    groups: list[str] | None = None,
    device: Any = "cpu",
    n_workers: int = 1,
    progress: bool = False,
    scheduler: Any = None,
    **overrides: Any,
) -> DistanceMatrixResult:
    """DSA distances between many systems; each system's DMD is fitted once.

    - ``dsa_matrix(systems)``: all pairs (symmetric n×n, zero diagonal);
    - ``dsa_matrix(systems, others)``: bipartite (n×m);
    - ``dsa_matrix([X], others)``: one-to-many (1×m).

    A system is anything :func:`fit_dmd` accepts, or an already fitted :class:`DMDResult`. Hyper-parameters as
    in :func:`dsa`: a :class:`~repscope.dynamics.DSAConfig` and/or keyword overrides of its fields. For ``angular`` and
    ``euclidean`` all pairs are optimised together in batched float64 torch (single-threaded on CPU, where
    r×r work is fastest), unless ``n_workers > 1`` or a ``scheduler`` other than serial is given (local
    processes or a Dask cluster, see :func:`repscope.parallel.resolve_scheduler`), in which case pairs go
    through :func:`repscope.parallel.map_pairs`; ``wasserstein`` always uses the pair runner (it is cheap).
    Each pair's optimum is certified as in :func:`similarity_transform_distance` (the random starts of a pair
    do not depend on the other pairs, so an entry equals :func:`dsa` on that pair); the result's
    ``converged`` matrix flags pairs that are not, and a :class:`~repscope.errors.ConvergenceWarning` names
    how many.
    """
    cfg = DSAConfig.resolve(config, **overrides).check_dsa()
    score = cfg.metric
    if not isinstance(systems, list | tuple) or len(systems) == 0:
        raise InputError("systems must be a non-empty list of systems (use dsa_matrix([X], others) for one)")
    t0 = time.perf_counter()
    kw = cfg.dmd_kwargs()
    names = list(names) if names is not None else [f"s{i}" for i in range(len(systems))]
    if len(names) != len(systems):
        raise InputError(f"names has {len(names)} entries for {len(systems)} systems")
    sched = resolve_scheduler(scheduler, n_workers)
    dm_x = fit_systems(list(systems), n_workers=n_workers, progress=progress, names=names, scheduler=sched, **kw)
    if others is None:
        dm_y, names_y = dm_x, names
        pairs = all_pairs(len(dm_x))
    else:
        if not isinstance(others, list | tuple) or len(others) == 0:
            raise InputError("others must be a non-empty list of systems")
        names_y = list(names_other) if names_other is not None else [f"t{j}" for j in range(len(others))]
        if len(names_y) != len(others):
            raise InputError(f"names_other has {len(names_y)} entries for {len(others)} systems")
        dm_y = fit_systems(
            list(others), n_workers=n_workers, progress=progress, names=names_y, scheduler=sched, **kw
        )
        pairs = [(i, j) for i in range(len(dm_x)) for j in range(len(dm_y))]
    n, m = len(dm_x), len(dm_y)
    if score != "wasserstein":
        ranks = {d.rank_ for d in (*dm_x, *dm_y)}
        if len(ranks) > 1:
            raise InputError(
                f"the DMD operators have different ranks {sorted(ranks)}; the {score} score needs equal "
                f"ranks — "
                f"pass a fixed rank=… or use metric='wasserstein'"
            )
    D = np.zeros((n, m))
    G = np.full((n, m), np.nan)
    NA = np.full((n, m), -1, dtype=int)
    CV = np.ones((n, m), dtype=bool)
    if score != "wasserstein" and sched == "serial":
        infos = similarity_transform_distances(
            [(dm_x[i].A_, dm_y[j].A_) for i, j in pairs], device=device, **cfg.alignment_kwargs()
        )  # warns itself about uncertified pairs
        vals = [(inf.distance, inf.grad_norm, inf.n_agree, inf.converged) for inf in infos]
    else:
        items = dm_x if others is None else [*dm_x, *dm_y]
        pp = pairs if others is None else [(i, n + j) for i, j in pairs]
        func = functools.partial(_pair_distance, align=cfg.alignment_kwargs())
        vals = map_pairs(
            func, items, pp, n_workers=n_workers, progress=progress, desc=f"DSA {score}", scheduler=sched
        )
        n_bad = sum(not v[3] for v in vals)
        if n_bad:
            not_converged(
                f"{n_bad} of {len(vals)} DSA similarity-transform optimisations are not certified (best value "
                f"not reached by enough independent random starts within max_random={cfg.max_random}, or gradient "
                f"above tolerance); raise max_random. Those distances are upper bounds (converged matrix False)"
            )
    for (i, j), (d, g, na, cv) in zip(pairs, vals):
        D[i, j], G[i, j], NA[i, j], CV[i, j] = d, g, na, cv
        if others is None:
            D[j, i], G[j, i], NA[j, i], CV[j, i] = d, g, na, cv
    return DistanceMatrixResult(
        distances=D,
        names=names,
        names_other=names_y,
        metric=f"DSA ({score})",
        value_range=DISTANCE_RANGES[score],
        groups=groups,
        grad_norm=None if score == "wasserstein" else G,
        n_agree=None if score == "wasserstein" else NA,
        converged=None if score == "wasserstein" else CV,
        params={**cfg.to_dict(), "score": score},
        seconds=time.perf_counter() - t0,
    )


class DSA:
    """Estimator form of :func:`dsa` (scikit-learn / netrep style): ``DSA(config).fit(X).score(Y)``.

    ``fit(X)`` fits and caches the reference system's DMD once (``dmd_``); each ``score(Y)`` then fits only
    ``Y`` (or takes a fitted :class:`DMDResult`) and returns the DSA distance — equal to ``dsa(X, Y, config)``.

    >>> import numpy as np
    >>> t = np.arange(200) * 0.1
    >>> a = np.c_[np.cos(t), np.sin(t)]
    >>> est = DSA(rank=2).fit(a)
    >>> est.score(a[:, ::-1]) == dsa(a, a[:, ::-1], rank=2)
    True
    """

    def __init__(self, config: DSAConfig | None = None, *, device: Any = "cpu", **overrides: Any) -> None:
        self.config = DSAConfig.resolve(config, **overrides).check_dsa()
        self.device = device
        self.dmd_: DMDResult | None = None

    def fit(self, X: ArrayLike | DMDResult) -> DSA:
        """Fit (or take) the reference system's DMD; returns ``self``."""
        self.dmd_ = _fit(X, name="X", **self.config.dmd_kwargs())
        return self

    def score(self, Y: ArrayLike | DMDResult, *, return_info: bool = False) -> float | DSAResult:
        """The DSA distance from the fitted system to ``Y`` (a :class:`DSAResult` with ``return_info=True``)."""
        if self.dmd_ is None:
            raise InputError("this DSA estimator is not fitted; call .fit(X) with the reference system first")
        return dsa(self.dmd_, Y, self.config, device=self.device, return_info=return_info)
