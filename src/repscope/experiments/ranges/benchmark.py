"""Mitigation benchmark: ERM vs last-layer retraining variants on generated spurious-correlation data.

For every (dataset, bias strength, seed): generate the data, train the benchmark CNN with ERM on the
biased training split, freeze it, and split the (equally biased) validation split into a *retraining*
half and a small group-labelled *tuning* half. Every method refits only the last layer on the
retraining half's penultimate features and picks its hyper-parameters by worst-group accuracy on the
tuning half; all are scored on the test split, where the spurious attribute is independent of the class.

Methods
-------
``ERM``            the trained network's own head.
``LL retrain``     last layer refit on all retraining samples (C tuned) — isolates the effect of refitting.
``random subset``  the mid-range procedure with the flagged set replaced by a random set of the same size.
``JTT-style``      ERM errors on the retraining half up-weighted by λ (Liu et al. 2021, last-layer version).
``mid-range``      samples in mid bands of the predicted / a non-predicted class up-weighted
                   (:func:`repscope.ranges.curate`), no group labels used for selection.
``DFR oracle``     DFR with group-balanced subsets drawn with the true group labels (Kirichenko et al. 2022).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import numpy as np

from repscope.errors import InputError
from repscope.ranges.retrain import (
    C_GRID,
    curate,
    fit_last_layer,
    group_accuracies,
    group_balanced_sampler,
    jtt_weights,
)
from repscope.results import to_jsonable

__all__ = ["BenchmarkConfig", "MitigationTable", "run_benchmark", "run_one", "METHODS", "benchmark_config",
           "fast_config"]

METHODS = ("ERM", "LL retrain", "random subset", "JTT-style", "mid-range", "DFR oracle")
DATASETS = ("spurious_digits", "dsprites_lite")


@dataclass
class BenchmarkConfig:
    """Everything the benchmark varies. ``biases[name]`` lists bias strengths per dataset (ρ for
    spurious_digits, ``fraction_pos_bias`` for dsprites_lite)."""

    datasets: tuple[str, ...] = DATASETS
    biases: dict[str, tuple[float, ...]] = field(
        default_factory=lambda: {"spurious_digits": (0.9, 0.95, 0.99), "dsprites_lite": (0.7, 0.8, 0.9)}
    )
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    epochs: dict[str, int] = field(default_factory=lambda: {"spurious_digits": 30, "dsprites_lite": 15})
    dsprites_sizes: tuple[int, int, int] = (2000, 1500, 1500)
    dsprites_canvas: int = 20
    dsprites_scales: tuple[float, ...] = (0.8, 0.9, 1.0)
    lr: float = 3e-3
    batch_size: int = 32
    digits_fractions: tuple[float, float, float] = (0.4, 0.35, 0.25)
    tune_fraction: float = 0.5
    C_grid: tuple[float, ...] = C_GRID
    n_retrains: int = 20
    max_iter: int = 200
    mid_edges: tuple[tuple[float, float], ...] = ((0.3, 0.7), (0.1, 0.9), (-1.0, 0.7))
    mid_which: tuple[str, ...] = ("any", "pred", "label")
    upweights: tuple[Any, ...] = ("balanced", 5.0, 20.0, 50.0)
    jtt_upweights: tuple[float, ...] = (2.0, 5.0, 20.0, 50.0)


def fast_config() -> BenchmarkConfig:
    """A small configuration (≈ 10–20 s on 2 cores) for tests and the demo report."""
    return BenchmarkConfig(
        datasets=("spurious_digits",),
        biases={"spurious_digits": (0.95,)},
        seeds=(0, 1),
        epochs={"spurious_digits": 20},
        C_grid=(1.0, 0.3, 0.1, 0.03),
        n_retrains=5,
        mid_edges=((0.3, 0.7), (0.1, 0.9)),
        mid_which=("any", "pred"),
        upweights=("balanced", 20.0),
        jtt_upweights=(5.0, 20.0),
    )


def benchmark_config(fast: bool = False, n_seeds: int = 5, first_seed: int = 0,
                     datasets: tuple[str, ...] = ()) -> BenchmarkConfig:
    """``repscope ranges benchmark``'s configuration: :func:`fast_config` (its seeds shifted by ``first_seed``)
    or the full one over ``n_seeds`` seeds from ``first_seed``, on ``datasets`` (default: the configuration's).
    A data set the fast configuration lacks gets the full configuration's middle bias strength."""
    if n_seeds < 1:
        raise InputError("--seeds must be at least 1")
    cfg = fast_config() if fast else BenchmarkConfig()
    cfg.seeds = tuple(first_seed + s for s in cfg.seeds) if fast else tuple(range(first_seed, first_seed + n_seeds))
    if datasets:
        cfg.datasets = tuple(datasets)
        full = BenchmarkConfig().biases
        for d in datasets:  # --fast with dsprites_lite: one middle bias strength
            if d in full and d not in cfg.biases:
                cfg.biases[d] = full[d][1:2]
    return cfg


def _make_data(name: str, bias: float, seed: int, cfg: BenchmarkConfig):
    if name == "spurious_digits":
        from repscope.experiments.datasets.spurious import spurious_digits

        return spurious_digits(bias, seed=seed, fractions=cfg.digits_fractions)
    if name == "dsprites_lite":
        from repscope.experiments.datasets.dsprites import dsprites_lite

        ntr, nva, nte = cfg.dsprites_sizes
        return dsprites_lite(
            bias,
            n_train=ntr,
            n_val=nva,
            n_test=nte,
            seed=seed,
            canvas=cfg.dsprites_canvas,
            scales=cfg.dsprites_scales,
        )
    raise InputError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")


def _select(candidates: list[tuple[tuple[float, float], Any]]) -> Any:
    """Pick the candidate with the best (worst-group, mean) tuning accuracy (first wins ties)."""
    best = max(range(len(candidates)), key=lambda i: (candidates[i][0][0], candidates[i][0][1], -i))
    return candidates[best][1]


@dataclass
class _Prepared:
    name: str
    bias: float
    seed: int
    A: Any
    B: Any
    T: Any
    FA: np.ndarray
    FB: np.ndarray
    FT: np.ndarray
    ZA: np.ndarray
    ZT: np.ndarray
    train_accuracy: float
    seconds: float


def prepare(name: str, bias: float, seed: int, cfg: BenchmarkConfig | None = None) -> _Prepared:
    """Generate the data, train the ERM network and extract frozen features / logits."""
    from repscope.experiments.ranges.models import train_classifier

    cfg = cfg or BenchmarkConfig()
    t0 = time.perf_counter()
    ds = _make_data(name, bias, seed, cfg)
    clf = train_classifier(
        ds.train.X,
        ds.train.y,
        ds.n_classes,
        epochs=cfg.epochs.get(name, 20),
        seed=seed,
        batchnorm=True,
        lr=cfg.lr,
        batch_size=cfg.batch_size,
    )
    rng = np.random.default_rng(seed + 1000)
    perm = rng.permutation(ds.val.n)
    n_tune = int(round(cfg.tune_fraction * ds.val.n))
    A, B, T = ds.val.subset(perm[n_tune:]), ds.val.subset(perm[:n_tune]), ds.test
    return _Prepared(
        name,
        float(bias),
        int(seed),
        A,
        B,
        T,
        clf.features(A.X),
        clf.features(B.X),
        clf.features(T.X),
        clf.logits(A.X),
        clf.logits(T.X),
        clf.train_accuracy,
        time.perf_counter() - t0,
    )


def _score(head: Any, F: np.ndarray, S: Any) -> tuple[float, float]:
    """(worst-group, mean) accuracy of ``head`` on features ``F`` of split ``S``."""
    wg, mean, _ = group_accuracies(head.predict(F), S.y, S.groups)
    return wg, mean


def _tune(grid: list[tuple[dict, dict]], pr: _Prepared, cfg: BenchmarkConfig, seed: int, scaler: Any):
    """grid: (description, fit kwargs) → best head (fit on A over ``cfg.C_grid``, chosen on B), description."""
    from sklearn.exceptions import ConvergenceWarning

    cands = []
    for desc, kw in grid:
        for C in cfg.C_grid:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                h = fit_last_layer(pr.FA, pr.A.y, C=C, scaler=scaler, seed=seed, max_iter=cfg.max_iter, **kw)
            cands.append((_score(h, pr.FB, pr.B), (h, {**desc, "C": C})))
    return _select(cands)


def _mid_range_grid(ZA: np.ndarray, y: np.ndarray, cfg: BenchmarkConfig) -> list[tuple[dict, dict]]:
    """The mid-range curations (band edges × which × up-weight) that select at least one sample."""
    mid_grid = []
    for e in cfg.mid_edges:
        for which in cfg.mid_which:
            for up in cfg.upweights:
                try:
                    cur = curate(ZA, y, edges=e, which=which, upweight=up)
                except InputError:  # normalised logits undefined (e.g. a near-chance network): no such band
                    continue
                if cur.n_selected == 0:
                    continue
                d = {"edges": list(e), "which": which, "upweight": up, "n_selected": cur.n_selected}
                mid_grid.append((d, {"sample_weight": cur.weights}))
    return mid_grid


def _random_subset_grid(A: Any, m_sel: int, cfg: BenchmarkConfig,
                        rng: np.random.Generator) -> list[tuple[dict, dict]]:
    """A random subset of ``m_sel`` samples weighted like the mid-range curations (same up-weights)."""
    rmask = np.zeros(A.n, bool)
    rmask[rng.choice(A.n, m_sel, replace=False)] = True
    rgrid = []
    for up in cfg.upweights:
        if up == "balanced":
            pg = np.unique(np.c_[A.y, rmask], axis=0, return_inverse=True)[1].ravel()
            cnt = np.bincount(pg)
            w = A.n / (cnt.size * cnt[pg])
        else:
            w = np.where(rmask, float(up), 1.0)
        rgrid.append(({"upweight": up, "n_selected": m_sel}, {"sample_weight": w}))
    return rgrid


def _band_diagnostics(pr: _Prepared) -> dict[str, Any]:
    """Minority shares overall, in the mid band and in the top 5 % of the own-class logit (retraining half)."""
    A, ZA = pr.A, pr.ZA
    minority = A.attributes["agrees"] == 0
    try:
        cur = curate(ZA, A.y, edges=(0.3, 0.7), which="label", upweight=1.0)
    except InputError:  # normalised logits undefined: no band diagnostics for this network
        cur = None
    top = np.zeros(A.n, bool)
    if cur is not None:
        t_own = cur.t[np.arange(A.n), A.y.astype(int)]
        for c in np.unique(A.y):
            m = A.y == c
            top[m] = t_own[m] >= np.percentile(t_own[m], 95)
    nan = float("nan")
    return {
        "minority_overall": float(minority.mean()),
        "minority_mid": float(minority[cur.mask].mean()) if cur is not None and cur.mask.any() else nan,
        "minority_top": float(minority[top].mean()) if top.any() else nan,
        "n_mid": int(cur.mask.sum()) if cur is not None else 0,
        "n_retrain": int(A.n),
        "erm_train_accuracy": pr.train_accuracy,
    }


def run_one(
    name: str, bias: float, seed: int, cfg: BenchmarkConfig | None = None, prepared: _Prepared | None = None
) -> dict[str, Any]:
    """One (dataset, bias, seed) cell: returns per-method test accuracies and band diagnostics."""
    cfg = cfg or BenchmarkConfig()
    t0 = time.perf_counter()
    pr = prepared or prepare(name, bias, seed, cfg)
    A, T, FA, ZA = pr.A, pr.T, pr.FA, pr.ZA
    rng = np.random.default_rng(seed + 2000)
    tune = partial(_tune, pr=pr, cfg=cfg, seed=seed, scaler=(FA.mean(axis=0), FA.std(axis=0)))

    res: dict[str, Any] = {}
    erm_pred_T = pr.ZT.argmax(1)
    wg, mean, per = group_accuracies(erm_pred_T, T.y, T.groups)
    res["ERM"] = {"worst": wg, "mean": mean, "params": {}}

    def record(method, head, params):
        w, m = _score(head, pr.FT, T)
        res[method] = {"worst": w, "mean": m, "params": params}

    record("LL retrain", *tune([({}, {})]))

    # mid-range (no group labels for selection)
    mid_grid = _mid_range_grid(ZA, A.y, cfg)
    if mid_grid:
        h, p = tune(mid_grid)
        record("mid-range", h, p)
        m_sel = p["n_selected"]
    else:  # no sample in any mid band: nothing to curate
        res["mid-range"] = dict(res["LL retrain"], params={"note": "empty mid band"})
        m_sel = 0

    # random subset of the same size, same weighting procedure
    if m_sel > 0:
        record("random subset", *tune(_random_subset_grid(A, m_sel, cfg, rng)))
    else:
        res["random subset"] = dict(res["LL retrain"], params={"note": "empty mid band"})

    # JTT-style error up-weighting
    erm_pred_A = ZA.argmax(1)
    jgrid = [
        (
            {"upweight": u, "n_errors": int((erm_pred_A != A.y).sum())},
            {"sample_weight": jtt_weights(erm_pred_A, A.y, u)},
        )
        for u in cfg.jtt_upweights
    ]
    record("JTT-style", *tune(jgrid))

    # DFR with oracle group-balanced subsets
    sampler = group_balanced_sampler(A.groups)
    record("DFR oracle", *tune([({}, {"sampler": sampler, "n_retrains": cfg.n_retrains})]))

    # band diagnostics on the retraining half (group labels used for reporting only): for each class c,
    # among samples labelled c, the minority share in the mid band (t_c ∈ [0.3, 0.7)) and in the top 5 %
    # of logit c, pooled over classes
    return {
        "dataset": name,
        "bias": float(bias),
        "seed": int(seed),
        "methods": res,
        "diagnostics": _band_diagnostics(pr),
        "seconds": time.perf_counter() - t0 + (pr.seconds if prepared is None else 0.0),
    }


def _job(spec: tuple[str, float, int], cfg: BenchmarkConfig) -> dict[str, Any]:
    return run_one(*spec, cfg=cfg)


@dataclass
class MitigationTable:
    """Worst-group and mean test accuracy per (dataset, bias, method), mean ± std over seeds."""

    records: list[dict[str, Any]]
    config: dict[str, Any]
    seconds: float

    title = "Mitigation: last-layer retraining with mid-range curation"

    def _cells(self) -> list[tuple[str, float, list[dict]]]:
        keys = []
        for r in self.records:
            k = (r["dataset"], r["bias"])
            if k not in keys:
                keys.append(k)
        return [(d, b, [r for r in self.records if (r["dataset"], r["bias"]) == (d, b)]) for d, b in keys]

    def stats(self) -> list[dict[str, Any]]:
        out = []
        for d, b, recs in self._cells():
            for m in METHODS:
                wg = np.array([r["methods"][m]["worst"] for r in recs])
                mu = np.array([r["methods"][m]["mean"] for r in recs])
                out.append(
                    {
                        "dataset": d,
                        "bias": b,
                        "method": m,
                        "n_seeds": len(recs),
                        "worst_mean": float(wg.mean()),
                        "worst_std": float(wg.std(ddof=1)) if wg.size > 1 else 0.0,
                        "mean_mean": float(mu.mean()),
                        "mean_std": float(mu.std(ddof=1)) if mu.size > 1 else 0.0,
                    }
                )
        return out

    def diagnostics(self) -> list[dict[str, Any]]:
        out = []
        for d, b, recs in self._cells():
            dg = [r["diagnostics"] for r in recs]
            out.append(
                {
                    "dataset": d,
                    "bias": b,
                    **{
                        k: float(np.nanmean([x[k] for x in dg]))
                        for k in ("minority_overall", "minority_mid", "minority_top", "n_mid", "n_retrain")
                    },
                }
            )
        return out

    def table(self) -> tuple[list[str], list[list[Any]]]:
        header = ["dataset", "bias", "method", "worst-group acc", "mean acc", "seeds"]
        rows = [
            [
                s["dataset"],
                f"{s['bias']:g}",
                s["method"],
                f"{100 * s['worst_mean']:.1f} ± {100 * s['worst_std']:.1f}",
                f"{100 * s['mean_mean']:.1f} ± {100 * s['mean_std']:.1f}",
                s["n_seeds"],
            ]
            for s in self.stats()
        ]
        return header, rows

    def summary(self) -> str:
        lines = [f"Test accuracy (%) — mean ± std over seeds; {self.seconds:.0f} s in total."]
        st = self.stats()
        for d, b, _ in self._cells():
            cell = {s["method"]: s for s in st if s["dataset"] == d and s["bias"] == b}
            order = sorted(METHODS, key=lambda m: -cell[m]["worst_mean"])
            lines.append(
                f"  {d} (bias {b:g}): worst-group "
                + ", ".join(f"{m} {100 * cell[m]['worst_mean']:.1f}" for m in order)
            )
        for dg in self.diagnostics():
            lines.append(
                f"  {dg['dataset']} (bias {dg['bias']:g}): minority share "
                f"{100 * dg['minority_overall']:.1f}% overall, "
                f"{100 * dg['minority_mid']:.1f}% in the mid band of the own-class logit, "
                f"{100 * dg['minority_top']:.1f}% in its top 5%"
            )
        return "\n".join(lines)

    def format(self) -> str:
        """Plain-text table (what ``repscope ranges benchmark`` prints)."""
        header, rows = self.table()
        widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines = [fmt.format(*header), fmt.format(*["-" * w for w in widths])]
        lines += [fmt.format(*[str(x) for x in r]) for r in rows]
        return "\n".join(lines) + "\n\n" + self.summary()

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(
            {
                "stats": self.stats(),
                "diagnostics": self.diagnostics(),
                "records": self.records,
                "config": self.config,
                "seconds": self.seconds,
            }
        )

    def plot(self):
        import matplotlib.pyplot as plt

        cells = self._cells()
        fig, axes = plt.subplots(1, len(cells), figsize=(3.2 * len(cells) + 0.5, 3.4), squeeze=False)
        st = self.stats()
        for ax, (d, b, _) in zip(axes[0], cells):
            cell = [s for s in st if s["dataset"] == d and s["bias"] == b]
            ax.bar(
                range(len(cell)),
                [100 * s["worst_mean"] for s in cell],
                yerr=[100 * s["worst_std"] for s in cell],
                color="tab:blue",
                alpha=0.8,
                label="worst group",
            )
            ax.plot(range(len(cell)), [100 * s["mean_mean"] for s in cell], "k_", ms=14, mew=2, label="mean")
            ax.set_xticks(range(len(cell)), [s["method"] for s in cell], rotation=45, ha="right", fontsize=7)
            ax.set_ylim(0, 100)
            ax.set_title(f"{d}, bias {b:g}", fontsize=9)
        axes[0, 0].set_ylabel("test accuracy (%)")
        axes[0, 0].legend(fontsize=7, loc="lower left")
        fig.tight_layout()
        return fig


def run_benchmark(
    config: BenchmarkConfig | None = None,
    *,
    n_workers: int | None = 1,
    progress: bool = False,
) -> MitigationTable:
    """Run every (dataset, bias, seed) cell (in parallel processes with ``n_workers`` > 1)."""
    from repscope.parallel import map_items

    cfg = config or BenchmarkConfig()
    for d in cfg.datasets:
        if d not in DATASETS:
            raise InputError(f"unknown dataset {d!r}; choose from {', '.join(DATASETS)}")
        if not cfg.biases.get(d):
            raise InputError(f"no bias strengths given for {d}; set config.biases[{d!r}]")
    if len(cfg.seeds) < 1:
        raise InputError("at least one seed is needed")
    specs = [(d, float(b), int(s)) for d in cfg.datasets for b in cfg.biases[d] for s in cfg.seeds]
    t0 = time.perf_counter()
    recs = map_items(partial(_job, cfg=cfg), specs, n_workers=n_workers, progress=progress, desc="benchmark")
    return MitigationTable(recs, to_jsonable(asdict(cfg)), time.perf_counter() - t0)
