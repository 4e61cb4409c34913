"""Choose the delay embedding (``n_delays``) and DMD ``rank`` by held-out next-step prediction error.

For every ``(n_delays, rank)`` on a grid, :func:`repscope.dynamics.fit_dmd` is fitted on training data and
scored on held-out data (the protocol of the ``dsa-metric`` 2.x sweepers, ``DSA.sweeps``):

- **split**: with ≥ 2 trials, a seeded random ``test_frac`` of the *trials* is held out (at least one);
  with one trial, the last ``test_frac`` of its time steps (the test segment is embedded on its own, so
  no test transition is seen in training);
- **prediction**: each held-out embedded state ``h_t`` is projected on the model's coordinates
  (``v = h U_r S_r⁻¹``), advanced one step (``v̂_{t+1} = A v_t``), mapped back (``ĥ = v̂ S_r U_rᵀ``) and its
  current-state block compared with the observed ``x_{t+1}``;
- **statistics** over all held-out one-step predictions (``n`` values = steps × dimensions):
  ``MSE = Σ (x̂ − x)² / n``; ``MASE = MAE(x̂, x) / MAE(x_t, x_{t+1})`` — the mean absolute error scaled by
  the naive persistence forecast's (Hyndman & Koehler 2006, "Another look at measures of forecast
  accuracy", Int. J. Forecasting 22:679); ``AIC = [n log(SSE/n) + 2(r² + 1)] / n`` (Akaike 1974, with
  the r² operator entries + 1 noise variance as parameters, normalised per value as in the reference).

With ``inputs`` the same is done for DMD with control (``fit_dmdc``; prediction
``ĥ_{t+1} = U_r(Ã U_rᵀ h_t + B̃ u_t)``, AIC counting the r² + r·m entries of ``[Ã B̃]``), so that InputDSA's
``n_delays``/``rank`` can be chosen the same way.

**Selection** (criterion = MSE relative to the persistence forecast's MSE, averaged over systems when
several are swept together so that all get one common ``(n_delays, rank)`` as DSA's angular score
requires): the one-standard-error rule (Hastie, Tibshirani & Friedman 2009, *The Elements of Statistical
Learning*, §7.10) — the *simplest* model (smallest rank, then fewest delays) whose criterion is within
``n_se`` standard errors of the best; the standard error is that of the mean squared error over the
held-out values (divided like the criterion). ``n_se=0`` picks the minimum.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.dynamics.config import DSAConfig
from repscope.dynamics.dmd import fit_dmd_ranks
from repscope.dynamics.embedding import _check_int, as_trials
from repscope.errors import InputError
from repscope.results import ResultBase, to_jsonable

__all__ = ["DMDSweepResult", "prediction_stats", "split_trials", "sweep_dmd"]

_DEFAULT_DELAYS = (1, 2, 4, 8, 16)


def _splitter(trials: list[np.ndarray], test_frac: float, seed: int):
    """A function applying the train/test split of ``trials`` to any list aligned with them, and its description."""
    if not 0 < test_frac < 1:
        raise InputError(f"test_frac={test_frac} must be in (0, 1), e.g. 0.2")
    K = len(trials)
    if K >= 2:
        n_test = min(max(1, int(round(test_frac * K))), K - 1)
        test = set(np.random.default_rng(seed).permutation(K)[:n_test].tolist())

        def by_trial(items: list) -> tuple[list, list]:
            return [items[k] for k in range(K) if k not in test], [items[k] for k in sorted(test)]

        return by_trial, f"{n_test} of {K} trials held out (seed {seed})"
    T = trials[0].shape[0]
    cut = int(round((1 - test_frac) * T))

    def by_time(items: list) -> tuple[list, list]:
        return [items[0][:cut]], [items[0][cut:]]

    return by_time, f"last {T - cut} of {T} time steps held out"


def split_trials(
    trials: list[np.ndarray], test_frac: float = 0.2, seed: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """Train/test split: held-out trials (≥ 2 trials) or the last ``test_frac`` of time (one trial)."""
    split, how = _splitter(trials, test_frac, seed)
    return (*split(trials), how)


def _stats(pred: np.ndarray, true: np.ndarray, prev: np.ndarray, n_params: int) -> dict[str, float]:
    """MSE, MASE, AIC (n_params + 1 parameters) and MSE relative to persistence of one-step predictions."""
    err = pred - true
    n = err.size
    sse = float(np.sum(err**2))
    mse = sse / n
    mse_naive = float(np.mean((prev - true) ** 2))
    mae_naive = float(np.mean(np.abs(prev - true)))
    aic = (n * np.log(max(sse / n, 1e-300)) + 2 * (n_params + 1)) / n
    se = float(np.std(err**2, ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
    return {
        "mse": mse,
        "se_relative_mse": se / mse_naive if mse_naive > 0 else float("inf"),
        "mase": float(np.mean(np.abs(err)) / mae_naive) if mae_naive > 0 else float("inf"),
        "aic": float(aic),
        "relative_mse": mse / mse_naive if mse_naive > 0 else float("inf"),
        "n_values": int(n),
    }


def prediction_stats(dmd: Any, test: Any, test_inputs: Any = None) -> dict[str, float]:
    """Held-out one-step prediction statistics (MSE, MASE, AIC, relative MSE) of a fitted DMD model, or of a
    DMDc model (:class:`~repscope.dynamics.DMDcResult`, with ``test_inputs``; AIC counts r² + r·m entries)."""
    from repscope.dynamics.inputdsa import DMDcResult, dmdc_predict

    if isinstance(dmd, DMDcResult):
        pred, true, prev = dmdc_predict(dmd, test, test_inputs)
        return _stats(pred, true, prev, dmd.A_.size + dmd.B_.size)
    if dmd.reduced_rank:
        raise InputError("prediction statistics are implemented for principal-component DMD (reduced_rank=False)")
    X, _ = dmd._coordinates(test, name="test data")  # raises if no trial is long enough
    trials = as_trials(test, "test data")
    if dmd.mean_ is not None:
        trials = [t - dmd.mean_ for t in trials]
    N = trials[0].shape[1]
    k = dmd.modes_.shape[1]
    S = dmd.singular_values_[:k]
    span = (dmd.n_delays - 1) * dmd.delay_interval
    pred = ((X @ dmd.A_.T) * S) @ dmd.modes_.T
    true = np.concatenate([t[span + 1 :] for t in trials if t.shape[0] - span >= 2])
    prev = np.concatenate([t[span:-1] for t in trials if t.shape[0] - span >= 2])
    return _stats(pred[:, :N], true, prev, dmd.rank_**2)


def _default_ranks(max_rank: int) -> list[int]:
    grid = sorted({1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64, 96, 128})
    out = [r for r in grid if r <= max_rank]
    if max_rank not in out and max_rank <= 128:
        out.append(max_rank)
    return out


@dataclass
class DMDSweepResult(ResultBase):
    """Held-out prediction statistics on a ``(n_delays, rank)`` grid and the chosen pair.

    ``mse``, ``mase``, ``aic``, ``relative_mse`` are ``(n_systems, len(n_delays), len(ranks))``; NaN where
    the pair is invalid for the data (rank above the embedding's numerical rank, trials too short).
    """

    n_delays: list[int]
    ranks: list[int]
    mse: np.ndarray
    mase: np.ndarray
    aic: np.ndarray
    relative_mse: np.ndarray
    se_relative_mse: np.ndarray
    best_n_delays: int
    best_rank: int
    names: list[str]
    split: str
    n_se: float
    params: dict[str, Any] = field(default_factory=dict)

    title = "DMD hyperparameters by held-out prediction error"

    @property
    def criterion(self) -> np.ndarray:
        """Mean over systems of the MSE relative to persistence, ``(len(n_delays), len(ranks))``."""
        with np.errstate(invalid="ignore"):
            return np.mean(self.relative_mse, axis=0)

    @property
    def best_config(self) -> DSAConfig:
        """The sweep's DMD settings with the chosen ``n_delays`` and ``rank`` — pass it to
        :func:`~repscope.dynamics.dsa` / :func:`~repscope.dynamics.input_dsa` as ``config``."""
        base = DSAConfig.from_dict(self.params["config"]) if "config" in self.params else DSAConfig(
            **{k: self.params[k] for k in ("delay_interval", "ridge", "center") if k in self.params})
        return base.replace(n_delays=self.best_n_delays, rank=self.best_rank, rank_thresh=None,
                            rank_explained_variance=None)

    def to_dict(self) -> dict:
        return to_jsonable(
            {
                "n_delays": self.n_delays,
                "ranks": self.ranks,
                "names": self.names,
                "mse": self.mse,
                "mase": self.mase,
                "aic": self.aic,
                "relative_mse": self.relative_mse,
                "criterion": self.criterion,
                "best_n_delays": self.best_n_delays,
                "best_rank": self.best_rank,
                "se_relative_mse": self.se_relative_mse,
                "split": self.split,
                "n_se": self.n_se,
                "params": self.params,
            }
        )

    def _at_best(self, arr: np.ndarray) -> float:
        i, j = self.n_delays.index(self.best_n_delays), self.ranks.index(self.best_rank)
        return float(np.mean(arr[:, i, j]))

    def summary(self) -> str:
        return (
            f"Chosen n_delays={self.best_n_delays}, rank={self.best_rank} (simplest within {self.n_se:g} standard "
            f"error(s) of the lowest held-out error; {self.split}). There: MSE {self._at_best(self.mse):.4g}, MASE "
            f"{self._at_best(self.mase):.3g}, AIC {self._at_best(self.aic):.4g}, MSE relative to persistence "
            f"{self._at_best(self.relative_mse):.3g}" + (f", averaged over {len(self.names)} systems." if
                                                        len(self.names) > 1 else ".")
        )

    def table(self) -> tuple[list[str], list[list[Any]]]:
        rows = []
        crit = self.criterion
        for i, d in enumerate(self.n_delays):
            for j, r in enumerate(self.ranks):
                if not np.isfinite(crit[i, j]):
                    continue
                mark = "←" if (d, r) == (self.best_n_delays, self.best_rank) else ""
                rows.append([d, r, f"{np.mean(self.mse[:, i, j]):.4g}", f"{np.mean(self.mase[:, i, j]):.3g}",
                             f"{np.mean(self.aic[:, i, j]):.4g}", f"{crit[i, j]:.3g}", mark])
        return ["n_delays", "rank", "MSE", "MASE", "AIC", "MSE / persistence", "chosen"], rows

    def plot(self, ax: Any = None):
        from repscope.results import subplots

        if ax is None:
            fig, ax = subplots(figsize=(5.5, 3.6))
        else:
            fig = ax.figure
        crit = self.criterion
        for i, d in enumerate(self.n_delays):
            ok = np.isfinite(crit[i])
            if ok.any():
                ax.plot(np.asarray(self.ranks)[ok], crit[i, ok], marker="o", ms=3, label=f"n_delays={d}")
        i, j = self.n_delays.index(self.best_n_delays), self.ranks.index(self.best_rank)
        ax.scatter([self.best_rank], [crit[i, j]], s=140, marker="*", color="red", zorder=5, label="chosen")
        ax.set_xscale("log", base=2)
        from matplotlib.ticker import ScalarFormatter

        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_yscale("log")
        ax.set_xlabel("rank")
        ax.set_ylabel("held-out MSE / persistence MSE")
        ax.set_title("DMD hyperparameter sweep", fontsize=10)
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig

    def plotly(self):
        import plotly.graph_objects as go

        crit = self.criterion
        fig = go.Figure()
        for i, d in enumerate(self.n_delays):
            ok = np.isfinite(crit[i])
            if not ok.any():
                continue
            txt = [
                f"n_delays {d}, rank {r}<br>MSE {np.mean(self.mse[:, i, j]):.4g}<br>MASE "
                f"{np.mean(self.mase[:, i, j]):.3g}<br>AIC {np.mean(self.aic[:, i, j]):.4g}"
                for j, r in enumerate(self.ranks) if ok[j]
            ]
            fig.add_scatter(x=np.asarray(self.ranks)[ok], y=crit[i, ok], mode="lines+markers", name=f"n_delays={d}",
                            text=txt, hoverinfo="text")
        i, j = self.n_delays.index(self.best_n_delays), self.ranks.index(self.best_rank)
        fig.add_scatter(x=[self.best_rank], y=[crit[i, j]], mode="markers", name="chosen",
                        marker={"symbol": "star", "size": 16, "color": "red"})
        fig.update_layout(title=html.escape(self.title), xaxis={"title": "rank", "type": "log"},
                          yaxis={"title": "held-out MSE / persistence MSE", "type": "log"})
        return fig


def sweep_dmd(
    systems: ArrayLike | list,
    n_delays: list[int] | tuple[int, ...] | None = None,
    ranks: list[int] | tuple[int, ...] | None = None,
    config: DSAConfig | None = None,
    *,
    test_frac: float = 0.2,
    n_se: float = 1.0,
    names: list[str] | None = None,
    inputs: ArrayLike | None = None,
    seed: int = 0,
    **overrides: Any,
) -> DMDSweepResult:
    """Sweep ``(n_delays, rank)`` by held-out next-step prediction (module docstring).

    ``systems``: one system (``(T, N)``, ``(K, T, N)`` or a list of trials) or, with ``names``, a list of
    systems that must share one choice. ``n_delays`` default (1, 2, 4, 8, 16) limited by trial length;
    ``ranks`` default the grid 1, 2, 3, 4, 5, 6, 8, …, 96, 128 up to the largest embedding's size
    (pairs above an embedding's numerical rank are skipped). ``n_se``: standard errors of slack for preferring
    simpler models (one-standard-error rule). ``inputs``: input trajectories (one per system, shaped like it) —
    then DMD with control (:func:`~repscope.dynamics.fit_dmdc`) is swept instead, for InputDSA. ``seed``: the
    trial split. The other DMD settings (``delay_interval``, ``ridge``, ``center``, ``n_input_delays``) come
    from ``config`` (a :class:`~repscope.dynamics.DSAConfig`) and/or keyword overrides of its fields. Returns a
    :class:`DMDSweepResult`; its :attr:`~DMDSweepResult.best_config` is that config with the chosen
    ``n_delays`` and ``rank``, ready for :func:`~repscope.dynamics.dsa` / :func:`~repscope.dynamics.input_dsa`.

    >>> import numpy as np
    >>> from repscope.dynamics import dsa, sweep_dmd
    >>> t = np.arange(300) * 0.1
    >>> x = np.c_[np.cos(t), np.sin(t), np.cos(2 * t)]
    >>> sw = sweep_dmd(x, n_delays=[1, 2], ranks=[2, 3])
    >>> (sw.best_config.n_delays, sw.best_config.rank)
    (1, 3)
    >>> bool(dsa(x, x[:, ::-1], sw.best_config) < 1e-6)
    True
    """
    cfg = DSAConfig.resolve(config, **overrides)
    delay_interval, ridge, center = cfg.delay_interval, cfg.ridge, cfg.center
    if names is None:
        sys_list = [systems]
    elif isinstance(systems, Iterable):
        sys_list = list(systems)
    else:
        raise InputError(f"names has {len(names)} entries but systems is no list of systems; give one per name")
    names = list(names) if names is not None else ["system"]
    if len(sys_list) != len(names) or not sys_list:
        raise InputError(f"names has {len(names)} entries for {len(sys_list)} systems")
    if not np.isfinite(n_se) or n_se < 0:
        raise InputError(f"n_se={n_se} must be a finite number ≥ 0 (1 = the one-standard-error rule)")
    if inputs is not None:
        if len(sys_list) == 1:
            in_list = [inputs]
        elif isinstance(inputs, Iterable):
            in_list = list(inputs)
        else:
            raise InputError(f"{len(sys_list)} systems but one input array that is no list; give one per system")
        if len(in_list) != len(sys_list):
            raise InputError(f"{len(sys_list)} systems but {len(in_list)} input trajectories; give one per system")
    splits, in_splits = [], []
    for k, (nm, sy) in enumerate(zip(names, sys_list)):
        tr = as_trials(sy, nm)
        split, how = _splitter(tr, test_frac, seed)
        splits.append((*split(tr), how))
        if inputs is not None:
            in_splits.append(split(as_trials(in_list[k], f"{nm} inputs")))
    min_len = min(min(t.shape[0] for t in part) for tr, te, _ in splits for part in (tr, te))
    if n_delays is None:
        n_delays = [d for d in _DEFAULT_DELAYS if min_len - (d - 1) * delay_interval >= 3] or [1]
    n_delays = sorted({_check_int(d, "n_delays", 1) for d in n_delays})
    N_max = max(tr[0].shape[1] for tr, _, _ in splits)
    if ranks is None:
        ranks = _default_ranks(N_max * max(n_delays))
    ranks = sorted({_check_int(r, "rank", 1) for r in ranks})
    shape = (len(sys_list), len(n_delays), len(ranks))
    stats = {k: np.full(shape, np.nan) for k in ("mse", "mase", "aic", "relative_mse", "se_relative_mse")}
    for s, (train, test, _) in enumerate(splits):
        for i, d in enumerate(n_delays):
            for j, st in enumerate(_scores(train, test, in_splits[s] if in_splits else None, d, ranks, cfg,
                                           names[s])):
                if st is not None:
                    for k in stats:
                        stats[k][s, i, j] = st[k]
    with np.errstate(invalid="ignore"):
        crit = np.mean(stats["relative_mse"], axis=0)
    if not np.isfinite(crit).any():
        raise InputError(
            "no (n_delays, rank) pair could be fitted and scored on every system; pass longer trials, fewer delays "
            "or smaller ranks"
        )
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.sum(stats["se_relative_mse"] ** 2, axis=0)) / len(sys_list)
    ib = np.unravel_index(np.nanargmin(crit), crit.shape)
    ok = np.argwhere(crit <= crit[ib] + n_se * se[ib])
    bi, bj = min(ok.tolist(), key=lambda ij: (ranks[ij[1]], n_delays[ij[0]]))
    return DMDSweepResult(
        n_delays=list(n_delays), ranks=list(ranks), best_n_delays=int(n_delays[bi]), best_rank=int(ranks[bj]),
        names=names, split=splits[0][2], n_se=float(n_se),
        params={"delay_interval": delay_interval, "test_frac": test_frac, "ridge": ridge, "center": center,
                "seed": seed, "model": "DMD" if inputs is None else "DMDc", "config": cfg.to_dict()},
        **stats,
    )


def _scores(train: list, test: list, in_split: tuple | None, d: int, ranks: list[int], cfg: DSAConfig,
            name: str) -> list[dict[str, float] | None]:
    """Held-out statistics for every rank at one n_delays (None where the pair cannot be fitted or scored)."""
    if in_split is None:
        try:  # one embedding + SVD per (system, n_delays); every rank reuses it
            fits: list = fit_dmd_ranks(train, d, cfg.delay_interval, ranks, ridge=cfg.ridge, center=cfg.center,
                                       name=name)
        except InputError:
            return [None] * len(ranks)  # trials too short for these delays
    else:
        from repscope.dynamics.inputdsa import fit_dmdc

        fits = []
        for r in ranks:
            try:
                fits.append(fit_dmdc(train, in_split[0], d, cfg.delay_interval, rank=r, ridge=cfg.ridge,
                                     center=cfg.center, n_input_delays=cfg.n_input_delays, name=name))
            except InputError as exc:
                fits.append(exc)
    out: list[dict[str, float] | None] = []
    for f in fits:
        try:
            if isinstance(f, InputError):
                raise f
            out.append(prediction_stats(f, test, None if in_split is None else in_split[1]))
        except InputError:
            out.append(None)  # invalid pair for this data: left NaN
    return out
