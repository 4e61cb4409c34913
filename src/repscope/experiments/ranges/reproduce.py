"""Reproduction of O'Mahony, Nikolov & O'Sullivan (2024): mid-range logits reveal a confounder that the top
band hides, and curating mid-range samples mitigates it.

Design (per seed): dSprites-lite with position bias ``fraction_pos_bias`` (task = shape; confounder =
horizontal position bin; test split unbiased), the benchmark CNN trained with ERM
(:func:`repscope.experiments.ranges.benchmark.prepare`).

1. **The paper's own analysis**, on the *unbiased* test split, for every logit c: normalise
   ``t_c = (z_c − median(z_c | pred ≠ c)) / (median(z_c | pred = c) − median(z_c | pred ≠ c))``, bands
   top (t_c ≥ its 95th percentile), mid (0.3 ≤ t_c < 0.7) and low (the rest), and in each band the share
   of every class shape and of every position bin (:func:`band_shares`).
2. The **minority-share diagnostic** of the benchmark (share of shape/position-disagreeing samples in the
   mid band vs the top 5 % of their own class's logit, on the *biased* retraining half) — a different
   question (does the mid band over-represent the minority group?), labelled as such.
3. **Mitigation**: ERM, random subset, JTT-style, mid-range curation, DFR (oracle group-balanced) and
   last-layer **Group DRO** (Sagawa et al. 2020; :func:`group_dro_head`), worst-group test accuracy,
   paired by seed.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from repscope.errors import InputError
from repscope.experiments.verdict import ReproductionTable, claim
from repscope.results import subplots, to_jsonable

__all__ = ["band_shares", "group_dro_head", "reproduction_config", "BandShares", "reproduce"]

BANDS = ("top", "mid", "low")


def band_shares(Z: np.ndarray, shape: np.ndarray, pos: np.ndarray, *, n_classes: int = 3,
                top_pct: float = 95.0, mid: tuple[float, float] = (0.3, 0.7)) -> dict[str, np.ndarray]:
    """Per logit c and band: share of each class shape and of each position bin.

    Returns ``shape_share[c, band, k]``, ``pos_share[c, band, p]``, ``off_pos[c, band]`` (share of samples
    with shape ≠ c lying at position c, among the band's samples with shape ≠ c) and ``n[c, band]``.
    Bands are ``top`` (t_c ≥ its ``top_pct`` percentile), ``mid`` (``mid[0] ≤ t_c < mid[1]``), ``low`` (rest).
    """
    Z = np.asarray(Z, dtype=float)
    if Z.ndim != 2 or Z.shape[1] != n_classes:
        raise InputError(f"logits must be (n, {n_classes}); got {Z.shape}")
    pred = Z.argmax(1)
    S = np.zeros((n_classes, 3, n_classes))
    P = np.zeros((n_classes, 3, n_classes))
    off = np.full((n_classes, 3), np.nan)
    N = np.zeros((n_classes, 3), dtype=int)
    for c in range(n_classes):
        z = Z[:, c]
        if not (pred == c).any() or (pred == c).all():
            raise InputError(f"logit {c} is predicted for all or no sample; the normalisation is undefined")
        lo, hi = np.median(z[pred != c]), np.median(z[pred == c])
        t = (z - lo) / (hi - lo)
        top = t >= np.percentile(t, top_pct)
        midm = (t >= mid[0]) & (t < mid[1]) & ~top
        low = ~top & ~midm
        for b, m in enumerate((top, midm, low)):
            N[c, b] = int(m.sum())
            if m.any():
                S[c, b] = np.bincount(shape[m], minlength=n_classes)[:n_classes] / m.sum()
                P[c, b] = np.bincount(pos[m], minlength=n_classes)[:n_classes] / m.sum()
                o = m & (shape != c)
                if o.any():
                    off[c, b] = float((pos[o] == c).mean())
    return {"shape_share": S, "pos_share": P, "off_pos": off, "n": N}


def group_dro_head(F: np.ndarray, y: np.ndarray, groups: np.ndarray, *, weight_decay: float = 1e-3,
                   eta: float = 0.05, steps: int = 300, lr: float = 0.05, scaler=None, seed: int = 0):
    """Last-layer Group DRO (Sagawa et al. 2020, Algorithm 1, full batch): minimise Σ_g q_g·loss_g with
    exponentiated-gradient weights ``q_g ← q_g·exp(η·loss_g)`` (renormalised), L2 ``weight_decay``.
    Uses the group labels (like DFR). Returns a :class:`repscope.ranges.retrain.LinearHead`."""
    import torch

    from repscope.ranges.retrain import LinearHead

    F = np.asarray(F, dtype=np.float64)
    mean, scale = scaler if scaler is not None else (F.mean(0), F.std(0))
    scale = np.where(scale > 1e-12, scale, 1.0)
    classes = np.unique(y)
    yi = np.searchsorted(classes, y)
    gi = np.unique(groups, return_inverse=True)[1].ravel()
    G = int(gi.max()) + 1
    torch.manual_seed(seed)
    X = torch.tensor((F - mean) / scale, dtype=torch.float32)
    yt, gt = torch.tensor(yi), torch.tensor(gi)
    lin = torch.nn.Linear(X.shape[1], len(classes))
    opt = torch.optim.Adam(lin.parameters(), lr=lr, weight_decay=weight_decay)
    q = torch.full((G,), 1.0 / G)
    for _ in range(int(steps)):
        losses = torch.nn.functional.cross_entropy(lin(X), yt, reduction="none")
        gl = torch.zeros(G).index_add_(0, gt, losses) / torch.bincount(gt, minlength=G).clamp(min=1)
        with torch.no_grad():
            q = q * torch.exp(eta * gl)
            q = q / q.sum()
        loss = (q * gl).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    W = lin.weight.detach().double().numpy()
    b = lin.bias.detach().double().numpy()
    return LinearHead(mean, scale, W, b, classes, C=1.0 / max(weight_decay, 1e-12))


def reproduction_config(quick: bool):
    """Benchmark configuration of the quick (≤ 3 min) or full (≤ 30 min) reproduction."""
    from repscope.experiments.ranges.benchmark import BenchmarkConfig, fast_config

    if quick:
        return replace(fast_config(), datasets=("dsprites_lite",), biases={"dsprites_lite": (0.9,)},
                       epochs={"dsprites_lite": 8}, dsprites_sizes=(1200, 800, 1000), seeds=tuple(range(10)))
    # full: 2× the benchmark's data and 20 epochs (14 CPU-min; 19 min wall on 2 cores shared with 3 other jobs)
    return replace(BenchmarkConfig(), datasets=("dsprites_lite",), biases={"dsprites_lite": (0.9,)},
                   dsprites_sizes=(4000, 3000, 3000), epochs={"dsprites_lite": 20},
                   seeds=tuple(range(10)), n_retrains=10)


@dataclass
class BandShares:
    """Mean (over seeds) share of each shape and position per logit and band on unbiased data."""

    shape_share: np.ndarray  # (seeds, c, band, k)
    pos_share: np.ndarray
    names: list[str]
    title = "O'Mahony et al. — who is in each band of each logit (unbiased test data)"

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({"shape_share_mean": self.shape_share.mean(0), "pos_share_mean": self.pos_share.mean(0),
                            "shapes": self.names, "positions": ["left", "centre", "right"], "bands": BANDS})

    def summary(self) -> str:
        return ("For logit c: share of each shape and each position bin in the top (≥ 95th percentile of t_c), "
                "mid (0.3 ≤ t_c < 0.7) and low bands, mean over seeds. Under the bias, class c's shape was "
                "trained at position bin c.")

    def table(self) -> tuple[list[str], list[list[Any]]]:
        S, P = self.shape_share.mean(0), self.pos_share.mean(0)
        rows = []
        for c, nm in enumerate(self.names):
            for b, band in enumerate(BANDS):
                rows.append([nm, band] + [f"{v:.2f}" for v in S[c, b]] + [f"{v:.2f}" for v in P[c, b]])
        pos = ["left", "centre", "right"]
        return ["logit", "band", *[f"shape {n}" for n in self.names], *[f"pos {p}" for p in pos]], rows

    def plot(self, ax: Any = None) -> Any:
        fig, axs = subplots(1, len(self.names), figsize=(9, 3))
        S, P = self.shape_share.mean(0), self.pos_share.mean(0)
        x = np.arange(len(BANDS))
        for c, a in enumerate(np.atleast_1d(axs)):
            a.bar(x - 0.2, S[c, :, c], 0.4, label="own shape")
            a.bar(x + 0.2, P[c, :, c], 0.4, label="confounding position")
            a.set_xticks(x, BANDS)
            a.set_ylim(0, 1)
            a.set_title(f"logit {self.names[c]}", fontsize=9)
        np.atleast_1d(axs)[0].legend(fontsize=7)
        fig.tight_layout()
        return fig


def _seed_job(s: int, *, cfg: Any, bias: float) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """One seed: ERM network, the benchmark's methods, last-layer Group DRO, and the band shares."""
    from repscope.experiments.ranges.benchmark import prepare, run_one
    from repscope.parallel import torch_threads
    from repscope.ranges.retrain import group_accuracies

    with torch_threads(1):
        pr = prepare("dsprites_lite", bias, s, cfg)
        rec = run_one("dsprites_lite", bias, s, cfg, prepared=pr)
        # Group DRO on the retraining half, weight decay tuned on the tuning half (worst group)
        scaler = (pr.FA.mean(0), pr.FA.std(0))
        best = None
        for wd in (1e-4, 1e-3, 1e-2):
            h = group_dro_head(pr.FA, pr.A.y, pr.A.groups, weight_decay=wd, scaler=scaler, seed=s)
            wg, mean, _ = group_accuracies(h.predict(pr.FB), pr.B.y, pr.B.groups)
            if best is None or (wg, mean) > best[0]:
                best = ((wg, mean), h, wd)
        wg, mean, _ = group_accuracies(best[1].predict(pr.FT), pr.T.y, pr.T.groups)
    rec["methods"]["Group DRO"] = {"worst": wg, "mean": mean, "params": {"weight_decay": best[2]}}
    return rec, band_shares(pr.ZT, pr.T.attributes["shape"], pr.T.attributes["pos_bin"])


def reproduce(*, quick: bool = True, seeds: int | None = None, seed: int = 0, progress: bool = False,
              config: Any = None, n_workers: int | None = None) -> list[Any]:
    """Run the reproduction; returns ``[ReproductionTable, BandShares]``. Seeds run in ``n_workers``
    processes (default: the cores, at most 2)."""
    from repscope.experiments.datasets.dsprites import SHAPES
    from repscope.parallel import map_items, n_cores

    cfg = config or reproduction_config(quick)
    n = int(seeds) if seeds is not None else len(cfg.seeds)
    if n < 2:
        raise InputError(f"seeds={n} is too few for a confidence interval; use ≥ 2 (the issue asks ≥ 10)")
    cfg = replace(cfg, seeds=tuple(seed + k for k in range(n)))
    bias = cfg.biases["dsprites_lite"][0]
    t0 = time.perf_counter()
    methods = ("ERM", "random subset", "JTT-style", "mid-range", "DFR oracle", "Group DRO")
    out = map_items(functools.partial(_seed_job, cfg=cfg, bias=bias), list(cfg.seeds),
                    n_workers=min(2, n_cores()) if n_workers is None else int(n_workers), progress=progress,
                    desc="O'Mahony reproduction")
    recs = [o[0] for o in out]
    SS, PP, OFF = ([o[1][key] for o in out] for key in ("shape_share", "pos_share", "off_pos"))
    SS, PP, OFF = np.array(SS), np.array(PP), np.array(OFF)
    k = np.arange(3)
    top_shape = SS[:, k, 0, k].mean(1)  # own-shape share in the top band, mean over logits
    top_pos = PP[:, k, 0, k].mean(1)  # confounding-position share in the top band
    mid_off = np.nanmean(OFF[:, :, 1], axis=1)
    top_off = np.nanmean(OFF[:, :, 0], axis=1)
    worst = {m: np.array([r["methods"][m]["worst"] for r in recs]) for m in methods}
    meanacc = {m: np.array([r["methods"][m]["mean"] for r in recs]) for m in methods}
    diag = {d: np.array([r["diagnostics"][d] for r in recs]) for d in ("minority_mid", "minority_top")}
    rows = [
        claim("Top band shows the class concept, not the confounder",
              "maximal activations label the logit by its class (shape); the confounder is not evident there",
              "top band: share of own shape − share of confounding position (mean over logits)",
              top_shape - top_pos, seed=seed,
              note=f"top band: own shape {top_shape.mean():.2f}, confounding position {top_pos.mean():.2f}; "
                   "a biased model's largest logits go to images at the trained position whatever their shape"),
        claim("Mid band reveals the confounder",
              "mid-range logits are associated with the confounding position",
              "mid band, other shapes: share at the logit's position − 1/3 (unbiased base rate)",
              mid_off - 1 / 3, seed=seed),
        claim("The confounder is more visible in the mid band than in the top band",
              "mid-range reveals what maximal activations hide",
              "other-shape share at the logit's position: mid − top", mid_off, baseline=top_off, seed=seed,
              note=f"top {np.nanmean(top_off):.2f} vs mid {np.nanmean(mid_off):.2f}"),
        claim("[diagnostic, not the paper's analysis] minority group over-represented in the mid band",
              "— (benchmark diagnostic on the biased retraining half)",
              "minority share: mid band − top 5% of the own-class logit", diag["minority_mid"],
              baseline=diag["minority_top"], seed=seed),
    ]
    degenerate = bool(np.all(worst["ERM"] == 0) and np.all(worst["mid-range"] == 0))
    why_deg = ("worst group 0 for ERM and mid-range at every seed: the ERM network relies on position "
               f"completely (mean accuracy {meanacc['ERM'].mean():.2f}), so this comparison is degenerate at "
               "this scale" if degenerate else "")
    for base in ("ERM", "random subset"):
        rows.append(claim(f"Mid-range curation beats {base} (worst-group accuracy)",
                          "curating mid-range samples for retraining mitigates the spurious correlation",
                          f"worst-group acc: mid-range − {base} (paired)", worst["mid-range"],
                          baseline=worst[base], seed=seed, note=why_deg))
    for base in ("JTT-style", "DFR oracle", "Group DRO"):
        rows.append(claim(f"Mid-range curation is competitive with {base} (within 2 points)",
                          "DFR-paper numbers: Waterbirds worst group JTT 86.7, Group DRO 91.4, DFR 92.9; "
                          "the paper reports its method competitive without group labels",
                          f"worst-group acc: mid-range − {base} (paired)", worst["mid-range"],
                          baseline=worst[base], threshold=-0.02, seed=seed,
                          note="DFR and Group DRO use group labels; mid-range and JTT do not"))
    wins = [m for m in methods if m != "mid-range" and np.mean(worst["mid-range"] - worst[m]) > 0]
    loses = [m for m in methods if m != "mid-range" and np.mean(worst["mid-range"] - worst[m]) < 0]
    findings = [
        "Worst-group / mean test accuracy (mean over seeds): " + "; ".join(
            f"{m} {worst[m].mean():.3f}/{meanacc[m].mean():.3f}" for m in methods),
        f"Mid-range wins against: {', '.join(wins) or 'none'}; loses against: {', '.join(loses) or 'none'} "
        "(point estimates; the table's CIs say which differences are resolved).",
    ]
    figs = [BandShares(SS, PP, list(SHAPES))]
    table = ReproductionTable(
        "O'Mahony et al. 2024 (activation ranges)", "ranges", rows,
        setup={"data": f"dSprites-lite, fraction_pos_bias={bias}, sizes {cfg.dsprites_sizes}, canvas "
                       f"{cfg.dsprites_canvas}", "epochs": cfg.epochs, "seeds": n,
               "bands": "top ≥ 95th pct of t_c, mid 0.3 ≤ t_c < 0.7", "mode": "quick" if quick else "full"},
        extra={"worst": worst, "mean": meanacc, "records": recs}, seconds=time.perf_counter() - t0,
        findings=findings, figures=figs,
        command=f"repscope ranges reproduce{' --quick' if quick else ''} --seeds {n}")
    return [table, *figs]
