"""What characterises each activation band: attribute distributions, association statistics with
permutation p-values and multiple-testing correction, and the confounder finding (an attribute that
is associated with the unit in its mid band but not in its top band, or the reverse).

Association of an attribute with a band
---------------------------------------
Within a reference population (all samples, or e.g. the samples of the unit's class), the band's
members are compared with the rest on a 2 × k contingency table (in band / not in band × attribute
value). The statistics are Cramér's V (Cramér 1946; for a 2 × k table V = √(χ²/N)) and the mutual
information in bits. With ``weighting="balanced"`` (default) the two rows are reweighted to equal
mass before computing them, so the statistic measures how different the band's attribute
distribution is from the rest's independently of the band's size (an unweighted V of a 5 % band
cannot exceed ≈ √(0.05/0.95) for a value over-represented 2×). ``weighting="counts"`` gives the
textbook statistics. Both are 0 for identical distributions and 1 when the attribute is a copy of
band membership. The p-value is exact-permutation: the attribute is permuted over the reference
population, which makes the band's value counts multivariate-hypergeometric, sampled directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.ranges._bands import Bands, _as_1d
from repscope.results import ResultBase, to_jsonable

__all__ = [
    "contingency",
    "cramers_v",
    "mutual_information",
    "adjust_pvalues",
    "encode_attribute",
    "BandAssociations",
    "band_associations",
    "ConfounderFindings",
    "find_confounders",
    "derived_from_labels",
]


# --------------------------------------------------------------------------------------------------
# Plain statistics on two categorical arrays
# --------------------------------------------------------------------------------------------------


def contingency(
    x: ArrayLike, y: ArrayLike, weights: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contingency table of two categorical arrays: ``(table, x_values, y_values)``.

    Examples
    --------
    >>> from repscope.ranges import contingency
    >>> table, xs, ys = contingency(["a", "a", "b"], [0, 1, 1])
    >>> table.tolist(), xs.tolist(), ys.tolist()
    ([[1.0, 1.0], [0.0, 1.0]], ['a', 'b'], [0, 1])
    """
    xa = _as_1d(x, "x")
    ya = _as_1d(y, "y", xa.shape[0])
    if xa.shape[0] == 0:
        raise InputError("x and y are empty; pass at least one sample")
    xv, xi = np.unique(xa, return_inverse=True)
    yv, yi = np.unique(ya, return_inverse=True)
    w = None if weights is None else _as_1d(weights, "weights", xa.shape[0]).astype(np.float64)
    if w is not None and (w < 0).any():
        raise InputError("weights must be non-negative")
    T = np.bincount(xi * yv.size + yi, weights=w, minlength=xv.size * yv.size).reshape(xv.size, yv.size)
    return T.astype(np.float64), xv, yv


def _v_from_table(T: np.ndarray) -> np.ndarray:
    """Cramér's V of one or many tables (..., r, c), ignoring empty rows/columns."""
    N = T.sum(axis=(-2, -1), keepdims=True)
    P = T / np.where(N > 0, N, 1)
    r = P.sum(axis=-1, keepdims=True)
    c = P.sum(axis=-2, keepdims=True)
    E = r * c
    with np.errstate(divide="ignore", invalid="ignore"):
        phi2 = np.where(E > 0, (P - E) ** 2 / np.where(E > 0, E, 1), 0.0).sum(axis=(-2, -1))
    kr = (r[..., 0] > 0).sum(axis=-1)
    kc = (c[..., 0, :] > 0).sum(axis=-1)
    m = np.minimum(kr, kc) - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.sqrt(np.where(m > 0, phi2 / np.where(m > 0, m, 1), 0.0))
    return np.clip(v, 0.0, 1.0)


def _mi_from_table(T: np.ndarray, base: float = 2.0) -> np.ndarray:
    N = T.sum(axis=(-2, -1), keepdims=True)
    P = T / np.where(N > 0, N, 1)
    r = P.sum(axis=-1, keepdims=True)
    c = P.sum(axis=-2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(P > 0, P * np.log(P / (r * c)), 0.0)
    return np.maximum(terms.sum(axis=(-2, -1)), 0.0) / np.log(base)


def cramers_v(x: ArrayLike, y: ArrayLike, *, weights: ArrayLike | None = None, bias_correction: bool = False) -> float:
    """Cramér's V between two categorical arrays: ``V = √(χ²/N / (min(r, c) − 1))`` (Cramér 1946).

    ``bias_correction`` applies Bergsma (2013)'s small-sample correction (unweighted tables only).
    Returns 0 when either variable is constant.

    Examples
    --------
    >>> from repscope.ranges import cramers_v
    >>> cramers_v([0, 0, 1, 1], ["x", "x", "y", "y"])     # one determines the other
    1.0
    >>> cramers_v([0, 1, 0, 1], ["x", "x", "y", "y"])     # independent
    0.0
    """
    T, _, _ = contingency(x, y, weights)
    if not bias_correction:
        return float(_v_from_table(T))
    if weights is not None:
        raise InputError("bias_correction is defined for unweighted counts; drop weights= or the correction")
    n = T.sum()
    r, c = T.shape
    if n < 2 or min(r, c) < 2:
        return 0.0
    phi2 = float(_v_from_table(T)) ** 2 * (min(r, c) - 1)
    phi2c = max(0.0, phi2 - (r - 1) * (c - 1) / (n - 1))
    rc = r - (r - 1) ** 2 / (n - 1)
    cc = c - (c - 1) ** 2 / (n - 1)
    den = min(rc - 1, cc - 1)
    return float(np.sqrt(phi2c / den)) if den > 0 else 0.0


def mutual_information(x: ArrayLike, y: ArrayLike, *, weights: ArrayLike | None = None, base: float = 2.0) -> float:
    """Mutual information ``Σ p(x,y) log p(x,y)/(p(x)p(y))`` between two categorical arrays (bits by default).

    Agrees with ``sklearn.metrics.mutual_info_score`` (which uses nats) up to the log base.

    Examples
    --------
    >>> from repscope.ranges import mutual_information
    >>> mutual_information([0, 0, 1, 1], [5, 5, 7, 7])   # one fair bit shared
    1.0
    """
    T, _, _ = contingency(x, y, weights)
    return float(_mi_from_table(T, base))


def adjust_pvalues(p: Any, method: str = "bh") -> np.ndarray:
    """Multiple-testing correction: ``"bh"`` (Benjamini–Hochberg 1995 FDR, via scipy), ``"holm"``
    (Holm 1979 step-down FWER) or ``"none"``. NaN entries are left out and stay NaN.

    Examples
    --------
    >>> from repscope.ranges import adjust_pvalues
    >>> adjust_pvalues([0.01, 0.02, 0.04], method="holm").round(6).tolist()   # 3·0.01, max(2·0.02, ·), 1·0.04
    [0.03, 0.04, 0.04]
    >>> adjust_pvalues([0.01, 0.02, 0.04], method="bh").round(6).tolist()     # min over k ≥ i of m·p₍ₖ₎/k
    [0.03, 0.03, 0.04]
    """
    from scipy.stats import false_discovery_control

    pa = np.asarray(p, dtype=np.float64).ravel()
    out = np.full_like(pa, np.nan)
    ok = np.isfinite(pa)
    q = pa[ok]
    if q.size and ((q < 0) | (q > 1)).any():
        raise InputError("p-values must lie in [0, 1]")
    if method == "none" or q.size == 0:
        out[ok] = q
    elif method == "bh":
        out[ok] = false_discovery_control(q, method="bh")
    elif method == "holm":
        m = q.size
        order = np.argsort(q, kind="stable")
        adj = np.maximum.accumulate((m - np.arange(m)) * q[order])
        res = np.empty(m)
        res[order] = np.minimum(adj, 1.0)
        out[ok] = res
    else:
        raise InputError(f"correction={method!r} is not one of 'bh', 'holm', 'none'")
    return out.reshape(np.shape(p))


def encode_attribute(
    values: ArrayLike, name: str, n: int, *, max_levels: int = 20, n_bins: int = 5
) -> tuple[np.ndarray, list]:
    """Integer codes and level names for one attribute. Numeric attributes with more than
    ``max_levels`` distinct values are cut into ``n_bins`` quantile bins (level names give the range)."""
    a = _as_1d(values, f"attribute {name!r}", n)
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise InputError(f"attribute {name!r} contains NaN or Inf; fill or drop those samples")
    uniq = np.unique(a)
    if a.dtype.kind in "fiu" and uniq.size > max_levels:
        qs = np.unique(np.quantile(a, np.linspace(0, 1, n_bins + 1)))
        codes = np.clip(np.searchsorted(qs, a, side="right") - 1, 0, qs.size - 2)
        levels = [
            f"[{qs[i]:.3g}, {qs[i + 1]:.3g}{']' if i == qs.size - 2 else ')'}" for i in range(qs.size - 1)
        ]
        return codes.astype(np.int64), levels
    levels, codes = np.unique(a, return_inverse=True)
    return codes.astype(np.int64), [x.item() if hasattr(x, "item") else x for x in levels]


# --------------------------------------------------------------------------------------------------
# Band × attribute associations
# --------------------------------------------------------------------------------------------------


def _band_tables(in_counts: np.ndarray, totals: np.ndarray, weighting: str) -> np.ndarray:
    """2 × k tables (…, 2, k) from in-band counts (…, k) and reference totals (k,)."""
    out_counts = totals - in_counts
    T = np.stack([in_counts, out_counts], axis=-2).astype(np.float64)
    if weighting == "balanced":
        s = T.sum(axis=-1, keepdims=True)
        T = T / np.where(s > 0, s, 1)
    return T


@dataclass
class BandAssociations(ResultBase):
    """Per band × attribute: counts, attribute distribution, Cramér's V, MI (bits), permutation p-values
    (raw and corrected) and the most over-represented value (with its share in band vs reference).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import band_associations, bands
    >>> b = bands(np.arange(40.0), kind="value", edges=[0, 20, 40], names=["lo", "hi"])
    >>> a = band_associations(b, {"half": np.repeat([0, 1], 20)}, n_permutations=49)
    >>> a.unit, a.band_names, a.levels
    ('unit', ['lo', 'hi'], {'half': [0, 1]})
    """

    unit: str
    band_names: list[str]
    band_counts: dict[str, int]
    attributes: list[str]
    levels: dict[str, list]
    distributions: dict[str, dict[str, list[int]]]  # attribute -> band -> counts per level
    reference_counts: dict[str, list[int]]
    cramers_v: np.ndarray  # (n_bands, n_attributes)
    mutual_info: np.ndarray
    p_value: np.ndarray
    p_adjusted: np.ndarray
    top_level: list[list[Any]]
    top_share: np.ndarray
    top_ref_share: np.ndarray
    examples: dict[str, list[int]]
    weighting: str = "balanced"
    correction: str = "bh"
    n_permutations: int = 999
    n_reference: int = 0
    reference: str = "all samples"
    alpha: float = 0.05
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return f"Band associations — {self.unit}"

    def get(self, band: str, attribute: str, stat: str = "cramers_v") -> float:
        b = self.band_names.index(band)
        a = self.attributes.index(attribute)
        return float(getattr(self, stat)[b, a])

    def share(self, band: str, attribute: str, level: Any) -> float:
        """Fraction of the band's (reference) members whose attribute equals ``level``."""
        counts = np.asarray(self.distributions[attribute][band], dtype=np.float64)
        i = self.levels[attribute].index(level)
        return float(counts[i] / counts.sum()) if counts.sum() else float("nan")

    def table(self) -> tuple[list[str], list[list[Any]]]:
        header = [
            "band",
            "n",
            "attribute",
            "Cramér's V",
            "MI (bits)",
            "p",
            f"p ({self.correction})",
            "most over-represented",
            "share in band",
            "share in reference",
        ]
        rows = []
        derived = set(self.derived_from_target)
        for b, bn in enumerate(self.band_names):
            for a, an in enumerate(self.attributes):
                rows.append(
                    [
                        bn,
                        self.band_counts[bn],
                        f"{an} (target)" if an in derived else an,
                        f"{self.cramers_v[b, a]:.3f}",
                        f"{self.mutual_info[b, a]:.3f}",
                        _pfmt(self.p_value[b, a]),
                        _pfmt(self.p_adjusted[b, a]),
                        str(self.top_level[b][a]),
                        f"{self.top_share[b, a]:.1%}",
                        f"{self.top_ref_share[b, a]:.1%}",
                    ]
                )
        return header, rows

    @property
    def derived_from_target(self) -> list[str]:
        """Attributes marked as derived from the unit's target (e.g. ``label``, ``predicted`` of a logit)."""
        return list(self.extra.get("derived_from_target", []))

    def summary(self) -> str:
        """One sentence of set-up and, per band, its strongest significant association (the table has all)."""
        derived = set(self.derived_from_target)
        text = (
            f"{self.unit}: {len(self.attributes)} attribute(s) tested against band membership within "
            f"{self.reference} (n={self.n_reference}; Cramér's V, {self.correction} correction)."
        )
        parts = []
        for b, bn in enumerate(self.band_names):
            ok = [a for a in range(len(self.attributes))
                  if np.isfinite(self.p_adjusted[b, a]) and self.p_adjusted[b, a] < self.alpha]
            if not ok:
                continue
            a = max(ok, key=lambda k: self.cramers_v[b, k])
            tag = " (target)" if self.attributes[a] in derived else ""
            parts.append(f"{bn}: {self.attributes[a]}{tag} V={self.cramers_v[b, a]:.2f} "
                         f"({self.top_level[b][a]} {self.top_share[b, a]:.0%} vs {self.top_ref_share[b, a]:.0%})")
        text += (" Strongest per band — " + "; ".join(parts) + ".") if parts else (
            " No band × attribute association is significant.")
        return text + " Look at the starred cells of the heatmap: attributes that set a band apart."

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(
            {
                "unit": self.unit,
                "bands": self.band_names,
                "band_counts": self.band_counts,
                "attributes": self.attributes,
                "levels": self.levels,
                "distributions": self.distributions,
                "reference_counts": self.reference_counts,
                "cramers_v": self.cramers_v,
                "mutual_info_bits": self.mutual_info,
                "p_value": self.p_value,
                "p_adjusted": self.p_adjusted,
                "top_level": self.top_level,
                "top_share": self.top_share,
                "top_ref_share": self.top_ref_share,
                "examples": self.examples,
                "weighting": self.weighting,
                "correction": self.correction,
                "n_permutations": self.n_permutations,
                "reference": self.reference,
                "n_reference": self.n_reference,
            }
        )

    def plot(self, ax: Any = None):
        from repscope.results import subplots_in

        fig, ax = subplots_in(ax, figsize=(2.5 + 0.9 * len(self.attributes), 1.2 + 0.5 * len(self.band_names)))
        im = ax.imshow(self.cramers_v, vmin=0, vmax=1, cmap="magma_r", aspect="auto")
        derived = set(self.derived_from_target)
        names = [f"{a} (target)" if a in derived else a for a in self.attributes]
        ax.set_xticks(range(len(self.attributes)), names, rotation=30, ha="right")
        ax.set_yticks(range(len(self.band_names)), self.band_names)
        ax.set_xlabel("attribute (* = significant)")
        ax.set_ylabel("band")
        for (b, a), v in np.ndenumerate(self.cramers_v):
            star = "*" if self.p_adjusted[b, a] < self.alpha else ""
            ax.text(
                a,
                b,
                f"{v:.2f}{star}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if v > 0.5 else "black",
            )
        fig.colorbar(im, ax=ax, label="Cramér's V")
        ax.set_title(f"Cramér's V, band vs rest ({self.reference})\n{self.unit}", fontsize=8)
        fig.tight_layout()
        return fig


def _pfmt(p: float) -> str:
    if not np.isfinite(p):
        return ""
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def band_associations(
    b: Bands,
    attributes: dict[str, Any],
    *,
    reference: ArrayLike | None = None,
    reference_name: str | None = None,
    weighting: str = "balanced",
    n_permutations: int = 999,
    correction: str = "bh",
    alpha: float = 0.05,
    n_examples: int = 8,
    max_levels: int = 20,
    seed: int = 0,
) -> BandAssociations:
    """Association of every attribute with membership of every band.

    Parameters
    ----------
    b : the bands (:func:`repscope.ranges.bands` / :func:`repscope.ranges.logit_bands`).
    attributes : name → (n,) array (labels, confounders, groups, …). Numeric attributes with more than
        ``max_levels`` distinct values are cut into quintiles.
    reference : optional boolean mask (n,) of the population the bands are compared within (e.g.
        ``labels == c`` for class ``c``'s logit, to hold the class fixed). Default: all samples.
    weighting : ``"balanced"`` (default; band and rest weighted equally) or ``"counts"``.
    n_permutations : permutations for the p-values (0: skip p-values).
    correction : ``"bh"``, ``"holm"`` or ``"none"``, applied over all band × attribute tests.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import band_associations, bands
    >>> marker = np.repeat([0, 1], 50)                     # the unit fires when the marker is present
    >>> b = bands(marker + np.linspace(0, 0.5, 100), kind="value", edges=[0, 1, 2], names=["off", "on"])
    >>> a = band_associations(b, {"marker": marker, "noise": np.tile([0, 1], 50)}, n_permutations=99)
    >>> a.attributes, a.cramers_v.round(2).tolist()        # rows: bands, columns: attributes
    (['marker', 'noise'], [[1.0, 0.0], [1.0, 0.0]])
    """
    if not isinstance(b, Bands):
        raise InputError("b must be a Bands result (from repscope.ranges.bands or logit_bands)")
    if not isinstance(attributes, dict) or not attributes:
        raise InputError("attributes must be a non-empty dict name → array of one value per sample")
    if weighting not in ("balanced", "counts"):
        raise InputError(f"weighting={weighting!r} is not one of 'balanced', 'counts'")
    if n_permutations < 0:
        raise InputError("n_permutations must be ≥ 0")
    n = b.n_samples
    ref = np.ones(n, bool) if reference is None else _as_1d(reference, "reference", n).astype(bool)
    if ref.sum() < 2:
        raise InputError(f"the reference population has {int(ref.sum())} samples; it needs at least 2")
    rng = np.random.default_rng(seed)
    names = list(attributes)
    nb, na = len(b.names), len(names)
    V = np.full((nb, na), np.nan)
    MI = np.full((nb, na), np.nan)
    P = np.full((nb, na), np.nan)
    top_level: list[list[Any]] = [[None] * na for _ in range(nb)]
    top_share = np.full((nb, na), np.nan)
    top_ref = np.full((nb, na), np.nan)
    levels: dict[str, list] = {}
    dists: dict[str, dict[str, list[int]]] = {}
    ref_counts: dict[str, list[int]] = {}
    assign = b.assignment[ref]
    for a, an in enumerate(names):
        codes, lv = encode_attribute(attributes[an], an, n, max_levels=max_levels)
        levels[an] = lv
        k = len(lv)
        cr = codes[ref]
        totals = np.bincount(cr, minlength=k)
        ref_counts[an] = totals.tolist()
        dists[an] = {}
        for bi, bn in enumerate(b.names):
            inb = assign == bi
            cnt = np.bincount(cr[inb], minlength=k)
            dists[an][bn] = cnt.tolist()
            m = int(inb.sum())
            if m == 0 or m == cr.size:
                continue
            T = _band_tables(cnt, totals, weighting)
            V[bi, a] = _v_from_table(T)
            MI[bi, a] = _mi_from_table(T)
            ref_share = totals / totals.sum()
            share = cnt / m
            with np.errstate(divide="ignore", invalid="ignore"):
                lift = np.where(ref_share > 0, share / ref_share, 0)
            j = int(np.argmax(lift))
            top_level[bi][a], top_share[bi, a], top_ref[bi, a] = lv[j], share[j], ref_share[j]
            if n_permutations > 0 and (totals > 0).sum() > 1:
                null = rng.multivariate_hypergeometric(totals, m, size=n_permutations)
                Vn = _v_from_table(_band_tables(null, totals, weighting))
                P[bi, a] = (1 + np.sum(Vn >= V[bi, a] - 1e-12)) / (n_permutations + 1)
            elif n_permutations > 0:
                P[bi, a] = 1.0
    Padj = adjust_pvalues(P, correction) if n_permutations > 0 else P.copy()
    ex_rng = np.random.default_rng(seed)
    examples = {
        bn: [int(b.sample_ids[i]) for i in ex_rng.permutation(np.flatnonzero(b.mask(bn) & ref))[:n_examples]]
        for bn in b.names
    }
    return BandAssociations(
        unit=b.unit,
        band_names=list(b.names),
        band_counts={bn: int((assign == i).sum()) for i, bn in enumerate(b.names)},
        attributes=names,
        levels=levels,
        distributions=dists,
        reference_counts=ref_counts,
        cramers_v=V,
        mutual_info=MI,
        p_value=P,
        p_adjusted=Padj,
        top_level=top_level,
        top_share=top_share,
        top_ref_share=top_ref,
        examples=examples,
        weighting=weighting,
        correction=correction,
        n_permutations=n_permutations,
        n_reference=int(ref.sum()),
        reference=reference_name or ("all samples" if reference is None else "the reference samples"),
        alpha=alpha,
    )


# --------------------------------------------------------------------------------------------------
# Confounder finding
# --------------------------------------------------------------------------------------------------


#: verdict → (colour named in the summary text, matplotlib colour drawn): one source for text and figure.
VERDICT_COLOURS: dict[str, tuple[str, str]] = {
    "mid-range only": ("red", "red"), "top only": ("blue", "blue"), "both": ("purple", "purple"),
    "both (different values)": ("purple", "purple"), "neither": ("grey", "grey"),
    "derived from target": ("light grey", "lightgrey"),
}


@dataclass
class ConfounderFindings(ResultBase):
    """Attributes whose association with the unit differs between the mid band and the top band.

    ``verdict`` per attribute: ``"mid-range only"`` (strong and significant in the mid band, weak or
    not significant in the top band: extremal analysis misses it), ``"top only"``, ``"both"``,
    ``"both (different values)"`` (each band over-represents another value), ``"neither"``, or
    ``"derived from target"`` for attributes computed from the unit's own target (e.g. a
    logit's ``label`` and ``predicted``), which are shown but never flagged as confounders.

    Examples
    --------
    >>> from repscope.ranges import ConfounderFindings
    >>> f = ConfounderFindings(unit="fc:3", top_band="top", mid_band="mid", rows=[], strong=0.2, weak=0.1,
    ...                        min_ratio=2.0, alpha=0.05)
    >>> f.rows, f.summary() != ""
    ([], True)
    """

    unit: str
    top_band: str
    mid_band: str
    rows: list[dict[str, Any]]
    strong: float
    weak: float
    min_ratio: float
    alpha: float

    @property
    def title(self) -> str:
        return f"Confounder findings — {self.unit}"

    @property
    def flagged(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["verdict"] in ("mid-range only", "top only")]

    def table(self) -> tuple[list[str], list[list[Any]]]:
        header = [
            "attribute",
            f"V ({self.top_band})",
            f"p_adj ({self.top_band})",
            f"V ({self.mid_band})",
            f"p_adj ({self.mid_band})",
            "mid band: over-represented value",
            "verdict",
        ]
        rows = [
            [
                r["attribute"],
                f"{r['v_top']:.3f}",
                _pfmt(r["p_top"]),
                f"{r['v_mid']:.3f}",
                _pfmt(r["p_mid"]),
                r["evidence"],
                r["verdict"],
            ]
            for r in self.rows
        ]
        return header, rows

    def summary(self) -> str:
        f = self.flagged
        derived = [r["attribute"] for r in self.rows if r["verdict"] == "derived from target"]
        note = (f" Not tested as confounders (derived from the unit's target): {', '.join(derived)}."
                if derived else "")
        if not f:
            return (
                f"{self.unit}: no attribute is associated with the {self.mid_band} band but not the "
                f"{self.top_band} band (or the reverse).{note} Look at the points off the diagonal of the "
                f"figure: none stands out."
            )
        parts = [f"{r['attribute']} ({r['verdict']}: V {self.top_band} {r['v_top']:.2f}, V {self.mid_band} "
                 f"{r['v_mid']:.2f})" for r in f]
        text = (f"{self.unit}: {len(f)} attribute(s) differ between the {self.mid_band} and {self.top_band} "
                f"bands — " + "; ".join(parts) + "." + note)
        if any(r["verdict"] == "mid-range only" for r in f):
            text += " Looking only at the top activations would miss the mid-range-only ones."
        shown = dict.fromkeys(r["verdict"] for r in f)  # the flagged verdicts, in order, once each
        named = [f"{VERDICT_COLOURS[v][0]} points ({v})" for v in shown]
        colours = " and ".join([", ".join(named[:-1]), named[-1]] if len(named) > 1 else named)
        return text + f" Look at the {colours} in the figure and their rows in the table."

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(
            {
                "unit": self.unit,
                "top_band": self.top_band,
                "mid_band": self.mid_band,
                "rows": self.rows,
                "strong": self.strong,
                "weak": self.weak,
                "min_ratio": self.min_ratio,
                "alpha": self.alpha,
            }
        )

    def plot(self, ax: Any = None):
        from repscope.results import subplots_in

        fig, ax = subplots_in(ax, figsize=(6.2, 4))
        seen: set[str] = set()
        stacked: dict[tuple[float, float], int] = {}  # attributes at the same point: labels stacked, not overprinted
        for r in self.rows:
            name, col = VERDICT_COLOURS.get(r["verdict"], ("grey", "grey"))
            ax.scatter(r["v_top"], r["v_mid"], color=col, zorder=3,
                       label=None if r["verdict"] in seen else r["verdict"],
                       marker="x" if r["verdict"] == "derived from target" else "o")
            seen.add(r["verdict"])
            xy = (round(float(r["v_top"]), 3), round(float(r["v_mid"]), 3))
            k = stacked.get(xy, 0)
            stacked[xy] = k + 1
            ax.annotate(
                r["attribute"],
                (r["v_top"], r["v_mid"]),
                fontsize=8,
                xytext=(-4 if r["v_top"] > 0.75 else 4, 3 + 9 * k),  # near the right edge: to the left
                ha="right" if r["v_top"] > 0.75 else "left",
                textcoords="offset points",
            )
        ax.plot([0, 1], [0, 1], color="lightgrey", lw=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlabel(f"Cramér's V in {self.top_band} band")
        ax.set_ylabel(f"Cramér's V in {self.mid_band} band")
        if seen:  # outside the axes: a legend never hides a point
            ax.legend(title="verdict", fontsize=7, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.03, 1.0),
                      borderaxespad=0.0)
        ax.set_title(self.title, fontsize=10)
        fig.tight_layout()
        return fig


def _codes(v: np.ndarray) -> np.ndarray:
    """Integer codes of the distinct values of a 1-D array (any dtype; NaNs are one value)."""
    v = np.asarray(v)
    if v.dtype.kind == "f":
        v = np.where(np.isnan(v), np.inf, v)
    elif v.dtype.kind not in "iub":  # strings of any kind (incl. numpy's StringDType), objects
        v = np.array([str(x) for x in v.tolist()], dtype=object)
    return np.unique(v, return_inverse=True)[1].ravel()


def derived_from_labels(labels: ArrayLike, attributes: dict[str, Any], *,
                        skip: Any = ("label", "predicted")) -> dict[str, str]:
    """Attributes that are a function of the labels, or of which the labels are a function, read from the
    data: ``{name: why}`` (the note a report shows).

    With ``k`` distinct (label, value) pairs, ``k_y`` labels and ``k_a`` values: the attribute is a function
    of the label when ``k == k_y`` (e.g. the parity of a digit) and the label a function of the attribute
    when ``k == k_a`` (e.g. a finer class). Such an attribute carries the label's association with a unit, so
    it is not a confounder of it. Constant attributes and attributes with more than ``n / 2`` distinct values
    (too few repeats for the second test to mean anything, e.g. a sample id) are never reported.
    """
    y = np.asarray(labels).ravel()
    n = y.size
    cy = _codes(y)
    ky = int(cy.max()) + 1 if n else 0
    out: dict[str, str] = {}
    for name, v in attributes.items():
        if name in set(skip):
            continue
        v = np.asarray(v)
        if v.ndim != 1 or v.size != n or n == 0:
            continue
        ca = _codes(v)
        ka = int(ca.max()) + 1
        if ka < 2 or ka > n / 2:
            continue
        k = np.unique(cy * ka + ca).size
        if k == ky and k == ka:
            out[name] = (f"attribute {name!r} is the label under another name (one value per label and one label "
                         f"per value), so it is not tested as a confounder")
        elif k == ky:
            out[name] = (f"attribute {name!r} is a function of the label (each label has one {name} value), so it "
                         f"is not tested as a confounder: its association is the label's")
        elif k == ka:
            out[name] = (f"the label is a function of attribute {name!r} (each {name} value has one label), so "
                         f"{name} is not tested as a confounder: it carries the label's association")
    return out


def find_confounders(
    assoc: BandAssociations,
    *,
    top: str = "top",
    mid: str = "mid",
    strong: float = 0.2,
    weak: float = 0.1,
    min_ratio: float = 2.0,
    alpha: float | None = None,
    exclude: Any = (),
    derived: Any = None,
) -> ConfounderFindings:
    """Flag attributes associated with the unit in one of the two bands but not the other.

    ``mid-range only`` when, in the mid band, V ≥ ``strong`` and p_adj < ``alpha``, while the top band
    either shows no comparable association (V < ``weak``, p_adj ≥ ``alpha`` or V_mid ≥ ``min_ratio``·V_top)
    or does not over-represent the level the mid band over-represents (its share in the top band is at
    most its share in the reference — a top band that is merely *purer* than the reference does not
    reveal the confounder — formally: its own most over-represented value is already the reference's
    majority; a top band that is 100 % of a 10 % value is just as associated, and the verdict is
    ``both (different values)``); ``top only`` symmetrically;
    ``both`` when both are strong and significant; else ``neither``.

    ``exclude``: attributes left out; ``derived``: attributes computed from the unit's own target (default:
    those the associations mark, ``assoc.derived_from_target``) — listed with the verdict
    ``"derived from target"``, never flagged.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import band_associations, bands, find_confounders
    >>> rng = np.random.default_rng(0)
    >>> marker = (rng.random(400) < 0.3).astype(int)
    >>> score = rng.normal(size=400) + 1.2 * marker * (rng.random(400) < 0.5)   # marker pushes some into mid/high
    >>> a = band_associations(bands(score), {"marker": marker}, n_permutations=99, seed=0)
    >>> f = find_confounders(a)
    >>> f.top_band, f.mid_band, [r["attribute"] for r in f.rows]
    ('top', 'mid', ['marker'])
    """
    if top not in assoc.band_names or mid not in assoc.band_names:
        raise InputError(f"bands {top!r}/{mid!r} not found; the associations have bands {assoc.band_names}")
    alpha = assoc.alpha if alpha is None else alpha
    bt, bm = assoc.band_names.index(top), assoc.band_names.index(mid)
    derived_set = set(assoc.derived_from_target if derived is None else derived)
    rows = []
    for a, an in enumerate(assoc.attributes):
        if an in set(exclude):
            continue
        vt, vm = assoc.cramers_v[bt, a], assoc.cramers_v[bm, a]
        pt, pm = assoc.p_adjusted[bt, a], assoc.p_adjusted[bm, a]
        sig_t = np.isfinite(pt) and pt < alpha
        sig_m = np.isfinite(pm) and pm < alpha
        strong_t = np.isfinite(vt) and vt >= strong and sig_t
        strong_m = np.isfinite(vm) and vm >= strong and sig_m
        weak_t = not np.isfinite(vt) or vt < weak or not sig_t or vm >= min_ratio * vt
        weak_m = not np.isfinite(vm) or vm < weak or not sig_m or vt >= min_ratio * vm
        # does the other band show the level this band over-represents? (lift ≤ 1: it does not)
        lvl_m, lvl_t = assoc.top_level[bm][a], assoc.top_level[bt][a]
        hidden_in_top = lvl_m is not None and _lift(assoc, top, an, lvl_m) <= 1.0
        hidden_in_mid = lvl_t is not None and _lift(assoc, mid, an, lvl_t) <= 1.0
        # a band whose own most over-represented value is already the reference's majority is merely purer
        # than the reference; one that is, say, 100 % of a 10 % value is just as associated (verdict "both")
        merely_purer_t = bool(np.isfinite(assoc.top_ref_share[bt, a]) and assoc.top_ref_share[bt, a] >= 0.5)
        merely_purer_m = bool(np.isfinite(assoc.top_ref_share[bm, a]) and assoc.top_ref_share[bm, a] >= 0.5)
        if an in derived_set:
            verdict = "derived from target"
        elif strong_m and (weak_t or (hidden_in_top and merely_purer_t)):
            verdict = "mid-range only"
        elif strong_t and (weak_m or (hidden_in_mid and merely_purer_m)):
            verdict = "top only"
        elif strong_t and strong_m:
            verdict = "both"
        else:
            verdict = "neither"
        lvl = assoc.top_level[bm][a]
        if verdict == "both" and lvl is not None and lvl != assoc.top_level[bt][a]:
            verdict = "both (different values)"
        evidence = (
            (
                f"{lvl} is {assoc.top_share[bm, a]:.0%} of the {mid} band vs "
                f"{assoc.top_ref_share[bm, a]:.0%} of the reference; "
                f"{_share_or_nan(assoc, top, an, lvl):.0%} of the {top} band"
            )
            if lvl is not None
            else ""
        )
        rows.append(
            {
                "attribute": an,
                "v_top": float(vt),
                "p_top": float(pt),
                "v_mid": float(vm),
                "p_mid": float(pm),
                "level": lvl,
                "evidence": evidence,
                "verdict": verdict,
            }
        )
    return ConfounderFindings(assoc.unit, top, mid, rows, strong, weak, min_ratio, alpha)


def _lift(assoc: BandAssociations, band: str, attribute: str, level: Any) -> float:
    """Share of ``level`` in ``band`` over its share in the reference (NaN-safe: NaN → 0)."""
    ref = np.asarray(assoc.reference_counts[attribute], dtype=np.float64)
    i = assoc.levels[attribute].index(level)
    sh = _share_or_nan(assoc, band, attribute, level)
    r = ref[i] / ref.sum() if ref.sum() else np.nan
    out = sh / r if r and np.isfinite(sh) else np.nan
    return float(out) if np.isfinite(out) else 0.0


def _share_or_nan(assoc: BandAssociations, band: str, attribute: str, level: Any) -> float:
    try:
        return assoc.share(band, attribute, level)
    except (ValueError, ZeroDivisionError):
        return float("nan")
