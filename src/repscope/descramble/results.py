"""Result objects of the descrambling lens (follow the protocol in :mod:`repscope.results`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from repscope.results import ResultBase, to_jsonable

__all__ = ["DescrambleResult", "PermutationResult", "ReproductionResult"]


def _hf(spec: np.ndarray | None, cutoff: float) -> float | None:
    if spec is None:
        return None
    total = float(np.sum(spec))
    if total <= 0:
        return None
    return float(np.sum(spec[int(np.ceil(cutoff * spec.size)):]) / total)


def _rel_gap(cost: float, bound: float) -> float:
    return float((cost - bound) / max(abs(bound), np.finfo(float).tiny))


@dataclass
class DescrambleResult(ResultBase):
    """Orthogonal descrambling of one layer: cost vs the Brockett bound, spectra, descrambled weights.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import descramble
    >>> r = descramble(np.random.default_rng(0).normal(size=(4, 30)))
    >>> r.operator, bool(np.isclose(r.cost, r.bound)), r.spectrum_raw.shape
    ('first_difference', True, (4,))
    """

    layer: str | None
    operator: str
    n_units: int
    n_samples: int
    cost: float
    bound: float
    cost_identity: float
    rank: int
    pc_variances: np.ndarray
    mode_eigenvalues: np.ndarray
    spectrum_raw: np.ndarray
    spectrum_descrambled: np.ndarray
    weight_spectrum_raw: np.ndarray | None = None
    weight_spectrum_descrambled: np.ndarray | None = None
    weights: np.ndarray | None = field(default=None, repr=False)
    weights_descrambled: np.ndarray | None = field(default=None, repr=False)
    P: np.ndarray | None = field(default=None, repr=False)
    degenerate_pc_groups: list[list[int]] = field(default_factory=list)
    degenerate_mode_groups: list[list[int]] = field(default_factory=list)
    cutoff: float = 0.25

    @property
    def title(self) -> str:
        name = f" of {self.layer}" if self.layer else ""
        return f"Descrambling{name} ({self.operator})"

    @property
    def hf_fraction_raw(self) -> float | None:
        """High-frequency energy fraction (modes ≥ cutoff·n) of the weights, else preactivations, raw."""
        return _hf(self.weight_spectrum_raw if self.weight_spectrum_raw is not None else self.spectrum_raw,
                   self.cutoff)

    @property
    def hf_fraction_descrambled(self) -> float | None:
        spec = self.weight_spectrum_descrambled
        return _hf(spec if spec is not None else self.spectrum_descrambled, self.cutoff)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({
            "layer": self.layer, "operator": self.operator, "n_units": self.n_units,
            "n_samples": self.n_samples, "rank": self.rank, "cost": self.cost, "bound": self.bound,
            "relative_gap": _rel_gap(self.cost, self.bound), "cost_identity": self.cost_identity,
            "cost_reduction": 1.0 - self.cost / self.cost_identity if self.cost_identity else None,
            "hf_cutoff": self.cutoff,
            "hf_fraction_raw": self.hf_fraction_raw, "hf_fraction_descrambled": self.hf_fraction_descrambled,
            "has_weights": self.weights is not None,
            "pc_variances": self.pc_variances, "mode_eigenvalues": self.mode_eigenvalues,
            "spectrum_raw": self.spectrum_raw, "spectrum_descrambled": self.spectrum_descrambled,
            "weight_spectrum_raw": self.weight_spectrum_raw,
            "weight_spectrum_descrambled": self.weight_spectrum_descrambled,
            "degenerate_pc_groups": self.degenerate_pc_groups,
            "degenerate_mode_groups": self.degenerate_mode_groups,
        })

    def summary(self) -> str:
        red = 1.0 - self.cost / self.cost_identity if self.cost_identity else float("nan")
        what = "weights" if self.weights is not None else "preactivations"
        lines = [
            f"{self.layer or 'layer'}: {self.n_units} units, {self.n_samples} samples, "
            f"operator {self.operator}.",
            f"Smoothness cost per sample: original unit order {self.cost_identity:.4g}, optimal "
            f"descrambler {self.cost:.4g} (Brockett bound {self.bound:.4g}, relative gap "
            f"{_rel_gap(self.cost, self.bound):.1e}); descrambling removes "
            f"{100 * red:.1f}% of the roughness.",
        ]
        hr, hd = self.hf_fraction_raw, self.hf_fraction_descrambled
        if hr is not None and hd is not None:
            lines.append(
                f"High-frequency energy of the {what} (modes ≥ {self.cutoff:.0%} of the band): "
                f"{hr:.2f} raw → {hd:.2f} descrambled."
            )
        if self.rank < self.n_units:
            lines.append(
                f"The preactivations have rank {self.rank} < {self.n_units}: rows beyond the first "
                f"{self.rank} of the descrambler are not determined by the data."
            )
        big = [g for g in self.degenerate_pc_groups if len(g) > 1]
        if big:
            lines.append(f"{len(big)} group(s) of tied principal variances: only their subspaces are "
                         f"determined.")
        lines.append(
            "Look at the descrambled weights beside the raw ones: row i is the i-th smoothest operator mode "
            "times the i-th principal component (P* = T Uᵀ); smooth rows mean the layer's variance sits in "
            "few directions."
        )
        return "\n".join(lines)

    def table(self) -> tuple[list[str], list[list[Any]]]:
        rows = [
            ["cost, original order", f"{self.cost_identity:.6g}"],
            ["cost, optimal descrambler", f"{self.cost:.6g}"],
            ["Brockett bound Σλ↓μ↑", f"{self.bound:.6g}"],
            ["relative gap", f"{_rel_gap(self.cost, self.bound):.2e}"],
        ]
        if self.hf_fraction_raw is not None:
            rows.append(["high-frequency fraction raw → descrambled",
                         f"{self.hf_fraction_raw:.3f} → {self.hf_fraction_descrambled:.3f}"])
        return ["quantity", "value"], rows

    def plot(self, ax: Any = None):
        from repscope.results import subplots_in

        has_w = self.weights is not None
        fig, axes = subplots_in(ax, 1, 4 if has_w else 2, figsize=(15 if has_w else 9, 3.6))
        ax = list(np.atleast_1d(axes))
        if self.weights is not None and self.weights_descrambled is not None:  # set together, with their spectra
            W = self.weights.reshape(self.weights.shape[0], -1)
            Wd = self.weights_descrambled.reshape(W.shape[0], -1)
            v = float(np.percentile(np.abs(np.concatenate([W.ravel(), Wd.ravel()])), 99)) or 1.0
            for a, M, t in ((ax[0], W, "raw weights W"), (ax[1], Wd, "descrambled P*·W")):
                im = a.imshow(M, aspect="auto", cmap="RdBu_r", vmin=-v, vmax=v, interpolation="nearest")
                fig.colorbar(im, ax=a, fraction=0.046, pad=0.03, label="weight")
                a.set_title(t)
                a.set_xlabel("input feature")
                a.set_ylabel("unit (row)")
            ax = ax[2:]
        spec_r = self.weight_spectrum_raw if self.weight_spectrum_raw is not None else self.spectrum_raw
        spec_d = (self.weight_spectrum_descrambled if self.weight_spectrum_descrambled is not None
                  else self.spectrum_descrambled)
        k = np.arange(spec_r.size)
        ax[0].semilogy(k, np.maximum(spec_r / spec_r.sum(), 1e-16), label="raw order")
        ax[0].semilogy(k, np.maximum(spec_d / spec_d.sum(), 1e-16), label="descrambled")
        ax[0].axvline(np.ceil(self.cutoff * k.size), color="grey", ls=":", lw=1)
        ax[0].set_xlabel("operator mode (smooth → rough)")
        ax[0].set_ylabel("energy fraction")
        ax[0].set_title(f"spectrum of the {'weights' if has_w else 'preactivations'}")
        ax[0].legend(fontsize=8)
        names = ["original\norder", "descrambled", "bound"]
        vals = [self.cost_identity, self.cost, self.bound]
        ax[1].bar(names, vals, color=["#999999", "#3b75af", "#e0a030"])
        ax[1].set_yscale("log")
        ax[1].set_ylabel("cost per sample (log scale)")
        ax[1].set_title("smoothness cost tr(PᵀNPA)")
        fig.suptitle(self.title)
        fig.tight_layout()
        return fig


def _times(cost: float, bound: float) -> str:
    """``cost`` as a multiple of ``bound`` ("109× the bound" reads better than "10800 % above it")."""
    if not (np.isfinite(cost) and np.isfinite(bound)) or bound <= 0:
        return f"{cost:.4g} vs bound {bound:.4g}"
    r = cost / bound
    return f"{r:.3g}×" if r < 10 else f"{r:.0f}×"


@dataclass
class PermutationResult(ResultBase):
    """Permutation-constrained descrambling (a quadratic assignment problem) vs the orthogonal optimum.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import permutation_descramble
    >>> r = permutation_descramble(np.random.default_rng(0).normal(size=(5, 30)), layer="fc", n_init=2)
    >>> r.layer, r.n_units, r.perm.shape
    ('fc', 5, (5,))
    """

    layer: str | None
    operator: str
    n_units: int
    n_samples: int
    perm: np.ndarray
    cost_permutation: float
    cost_identity: float
    bound: float
    restart_costs: np.ndarray
    moment: np.ndarray | None = field(default=None, repr=False)

    @property
    def title(self) -> str:
        name = f" of {self.layer}" if self.layer else ""
        return f"Permutation descrambling{name} ({self.operator})"

    @property
    def gap_to_bound(self) -> float:
        """``(cost_perm − bound) / |bound|`` (≥ 0: permutations are a subset of O(n))."""
        return _rel_gap(self.cost_permutation, self.bound)

    @property
    def fraction_of_possible_gain(self) -> float:
        """Share of the orthogonal improvement ``cost_identity − bound`` that a reordering achieves."""
        d = self.cost_identity - self.bound
        return float((self.cost_identity - self.cost_permutation) / d) if d > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({
            "layer": self.layer, "operator": self.operator, "n_units": self.n_units,
            "n_samples": self.n_samples, "perm": self.perm, "cost_permutation": self.cost_permutation,
            "cost_identity": self.cost_identity, "bound": self.bound, "gap_to_bound": self.gap_to_bound,
            "fraction_of_possible_gain": self.fraction_of_possible_gain, "restart_costs": self.restart_costs,
        })

    def summary(self) -> str:
        return (
            f"{self.layer or 'layer'} ({self.n_units} units): reordering units only (QAP, "
            f"{len(self.restart_costs)} FAQ starts) lowers the smoothness cost from "
            f"{self.cost_identity:.4g} to {self.cost_permutation:.4g}; the orthogonal optimum is "
            f"{self.bound:.4g}. A permutation recovers "
            f"{100 * self.fraction_of_possible_gain:.0f}% of what an orthogonal descrambler gains; its cost is "
            f"{_times(self.cost_permutation, self.bound)} the bound (a permutation can never beat it). "
            f"Look at the right panel: the closer the blue bar to the orange, the more the layer's structure "
            f"is a reordering of its units."
        )

    def table(self) -> tuple[list[str], list[list[Any]]]:
        return ["quantity", "value"], [
            ["cost, original order", f"{self.cost_identity:.6g}"],
            ["cost, best permutation", f"{self.cost_permutation:.6g}"],
            ["orthogonal bound", f"{self.bound:.6g}"],
            ["cost / bound", _times(self.cost_permutation, self.bound)],
        ]

    def plot(self, ax: Any = None):
        from repscope.results import subplots_in

        M = self.moment
        has_m = M is not None
        fig, axes = subplots_in(ax, 1, 3 if has_m else 1, figsize=(12 if has_m else 4.5, 3.6))
        ax = list(np.atleast_1d(axes))
        if M is not None:
            d = np.sqrt(np.maximum(np.diag(M), np.finfo(float).tiny))
            C = M / np.outer(d, d)
            p = self.perm
            for a, M, t in ((ax[0], C, "unit correlations, original order"),
                            (ax[1], C[np.ix_(p, p)], "after best permutation")):
                im = a.imshow(M, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
                fig.colorbar(im, ax=a, fraction=0.046, pad=0.03, label="correlation")
                a.set_title(t, fontsize=10)
                a.set_xlabel("unit")
                a.set_ylabel("unit")
            ax = ax[2:]
        ax[0].bar(["original", "permutation", "orthogonal\nbound"],
                  [self.cost_identity, self.cost_permutation, self.bound],
                  color=["#999999", "#3b75af", "#e0a030"])
        ax[0].set_ylabel("cost per sample")
        ax[0].set_title("smoothness cost")
        fig.suptitle(self.title)
        fig.tight_layout()
        return fig


@dataclass
class ReproductionResult(ResultBase):
    """A small numeric reproduction (paper case) with named measurements and an optional figure.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import ReproductionResult
    >>> r = ReproductionResult(name="toy", measurements={"cost / bound": 1.0}, reading="optimum reached")
    >>> r.to_dict()["measurements"]
    {'cost / bound': 1.0}
    """

    name: str
    measurements: dict[str, Any]
    reading: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def title(self) -> str:
        return f"Descrambling reproduction: {self.name}"

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({"name": self.name, "measurements": self.measurements, "reading": self.reading})

    def summary(self) -> str:
        return self.reading

    def table(self) -> tuple[list[str], list[list[Any]]]:
        rows = []
        for k, v in self.measurements.items():
            if isinstance(v, float):
                v = f"{v:.4g}"
            elif isinstance(v, list | np.ndarray):
                v = ", ".join(f"{x:.3g}" if isinstance(x, float | np.floating) else str(x)
                              for x in list(v)[:12])
            rows.append([k, str(v)])
        return ["measurement", "value"], rows

    def plot(self, ax: Any = None):
        from repscope.results import subplots_in

        mats = {k: v for k, v in self.arrays.items() if np.ndim(v) == 2}
        vecs = {k: v for k, v in self.arrays.items() if np.ndim(v) == 1}
        n = len(mats) + (1 if vecs else 0)
        fig, axes = subplots_in(ax, 1, max(n, 1), figsize=(4 * max(n, 1), 3.6))
        ax = list(np.atleast_1d(axes))
        for a, (k, M) in zip(ax, mats.items()):
            v = float(np.abs(M).max()) or 1.0
            im = a.imshow(M, aspect="auto", cmap="RdBu_r", vmin=-v, vmax=v, interpolation="nearest")
            fig.colorbar(im, ax=a, fraction=0.046, pad=0.03, label="value")
            a.set_title(k, fontsize=9)
            a.set_xlabel("column")
            a.set_ylabel("row")
        if vecs:
            a = ax[len(mats)]
            for k, v in vecs.items():
                a.plot(np.arange(len(v)), v, marker=".", label=k)
            a.set_xlabel("index")
            a.set_ylabel("value")
            a.legend(fontsize=8)
        fig.suptitle(self.title)
        fig.tight_layout()
        return fig
