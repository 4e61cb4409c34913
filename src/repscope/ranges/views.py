"""Views of bands for the report: a histogram of the unit coloured by an attribute, and an image grid
of example samples per band."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.ranges._associations import encode_attribute
from repscope.ranges._bands import Bands
from repscope.results import ResultBase, to_jsonable

__all__ = ["BandHistogram", "band_histogram", "BandImageGrid", "band_image_grid"]


@dataclass
class BandHistogram(ResultBase):
    """Histogram of a unit's values, stacked by the levels of one attribute, with the band edges marked.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import band_histogram, bands
    >>> h = band_histogram(bands(np.arange(10.0)), "label", ["a"] * 5 + ["b"] * 5)
    >>> h.attribute, h.values.shape
    ('label', (10,))
    """

    unit: str
    attribute: str
    levels: list
    values: np.ndarray
    codes: np.ndarray
    band_names: list[str]
    band_edges: list[float]
    kind: str
    n_bins: int = 50

    @property
    def title(self) -> str:
        return f"{self.unit} — histogram by {self.attribute}"

    def _bins(self) -> np.ndarray:
        return np.histogram_bin_edges(self.values, bins=self.n_bins)

    def counts(self) -> np.ndarray:
        """(n_levels, n_bins) counts."""
        bins = self._bins()
        return np.stack(
            [np.histogram(self.values[self.codes == k], bins=bins)[0] for k in range(len(self.levels))]
        )

    def _xlabel(self) -> str:
        return "t (normalised logit)" if self.kind == "normalised" else "activation"

    def plot(self, ax: Any = None):
        from repscope.results import subplots_in

        fig, ax = subplots_in(ax, figsize=(6.5, 3.2))
        bins = self._bins()
        data = [self.values[self.codes == k] for k in range(len(self.levels))]
        ax.hist(data, bins=bins, stacked=True, label=[str(x) for x in self.levels])
        for e in self.band_edges:
            if np.isfinite(e) and bins[0] <= e <= bins[-1]:
                ax.axvline(e, color="k", ls="--", lw=0.8)
        ax.set_xlabel(self._xlabel())
        ax.set_ylabel("samples")
        ax.set_title(self.title, fontsize=10)
        if len(self.levels) <= 12:
            ax.legend(fontsize=7, title=self.attribute, title_fontsize=7)
        fig.tight_layout()
        return fig

    def plotly(self):
        import plotly.graph_objects as go

        bins = self._bins()
        fig = go.Figure()
        for k, lv in enumerate(self.levels):
            fig.add_trace(
                go.Histogram(
                    x=self.values[self.codes == k],
                    name=f"{self.attribute}={lv}",
                    xbins=dict(start=float(bins[0]), end=float(bins[-1]), size=float(bins[1] - bins[0])),
                )
            )
        for e in self.band_edges:
            if np.isfinite(e) and bins[0] <= e <= bins[-1]:
                fig.add_vline(x=float(e), line_dash="dash", line_width=1)
        fig.update_layout(
            barmode="stack",
            title=self.title,
            xaxis_title=self._xlabel(),
            yaxis_title="samples",
            height=350,
            margin=dict(l=40, r=10, t=40, b=40),
        )
        return fig

    def summary(self) -> str:
        return (
            f"Distribution of {self.unit} over {self.values.size} samples, coloured by {self.attribute}; "
            f"dashed lines are the band edges ({', '.join(self.band_names)}). Look at which colours fill "
            f"each band beyond their overall share."
        )

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(
            {
                "unit": self.unit,
                "attribute": self.attribute,
                "levels": self.levels,
                "bin_edges": self._bins(),
                "counts": self.counts(),
                "band_names": self.band_names,
                "band_edges": self.band_edges,
                "kind": self.kind,
            }
        )


def band_histogram(b: Bands, attribute: str, values: ArrayLike, *, n_bins: int = 50) -> BandHistogram:
    """Histogram of the band's values coloured by ``attribute`` (pooled band edges are drawn).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import band_histogram, bands
    >>> b = bands(np.arange(20.0))
    >>> h = band_histogram(b, "parity", np.arange(20) % 2, n_bins=10)
    >>> h.levels, h.band_names
    ([0, 1], ['low', 'mid', 'high', 'top'])
    """
    codes, levels = encode_attribute(values, attribute, b.n_samples)
    edges = [float(x) for x in b.edges] if b.edges.ndim == 1 else []
    return BandHistogram(
        b.unit, attribute, levels, b.values.copy(), codes, list(b.names), edges, b.kind, n_bins
    )


@dataclass
class BandImageGrid(ResultBase):
    """Example images per band (rows = bands), with sample ids and optional captions.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import band_image_grid, bands
    >>> g = band_image_grid(bands(np.arange(10.0)), np.zeros((10, 3, 3)), n_per_band=1)
    >>> len(g.images), g.images[0].shape
    (4, (1, 3, 3))
    """

    unit: str
    band_names: list[str]
    images: list[np.ndarray]  # per band: (k, H, W) or (k, H, W, 3)
    sample_ids: list[list[int]]
    captions: list[list[str]]

    @property
    def title(self) -> str:
        return f"{self.unit} — examples per band"

    def plot(self, ax: Any = None):
        from repscope.results import subplots_in

        ncol = max([len(x) for x in self.images] + [1])
        nrow = len(self.band_names)
        fig, axes = subplots_in(ax, nrow, ncol, figsize=(1.1 * ncol + 0.8, 1.25 * nrow + 0.3), squeeze=False)
        for r, bn in enumerate(self.band_names):
            for c in range(ncol):
                ax = axes[r, c]
                ax.set_xticks([])
                ax.set_yticks([])
                for s in ax.spines.values():
                    s.set_visible(False)
                if c < len(self.images[r]):
                    img = self.images[r][c]
                    ax.imshow(img, cmap=None if img.ndim == 3 else "gray_r", interpolation="nearest")
                    cap = self.captions[r][c] if self.captions and self.captions[r] else ""
                    ax.set_title(f"#{self.sample_ids[r][c]}" + (f"\n{cap}" if cap else ""), fontsize=6)
                if c == 0:
                    ax.set_ylabel(bn, fontsize=9)
        fig.suptitle(self.title, fontsize=10)
        fig.tight_layout()
        return fig

    def summary(self) -> str:
        shown = "; ".join(f"{bn}: {len(ids)}" for bn, ids in zip(self.band_names, self.sample_ids))
        return (f"Random examples per band ({shown}). Look at what the mid-band rows share that the top "
                f"row does not.")

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(
            {
                "unit": self.unit,
                "bands": self.band_names,
                "sample_ids": self.sample_ids,
                "captions": self.captions,
            }
        )


def _to_hw(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img, dtype=np.float64)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 3 and a.shape[-1] == 2:  # two-channel: show as red/green
        a = np.concatenate([a, np.zeros(a.shape[:-1] + (1,))], axis=-1)
    if a.ndim not in (2, 3):
        raise InputError(f"images must be (H, W), (C, H, W) or (H, W, C) per sample; got {a.shape}")
    if a.ndim == 3:
        lo, hi = a.min(), a.max()
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return a


def band_image_grid(
    b: Bands,
    images: ArrayLike,
    *,
    n_per_band: int = 8,
    order: str = "random",
    captions: Any = None,
    within: Any = None,
    seed: int = 0,
) -> BandImageGrid:
    """Pick up to ``n_per_band`` samples from each band and keep their images.

    ``images`` has one image per sample, in the same order as the bands' samples (row ``i`` ↔
    ``b.sample_ids[i]``). ``captions`` (optional, one string-able value per sample) label each image.
    ``within`` (optional boolean mask) restricts the examples to a reference population.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import band_image_grid, bands
    >>> b = bands(np.arange(20.0))
    >>> g = band_image_grid(b, np.zeros((20, 4, 4)), n_per_band=2, seed=0)
    >>> g.band_names, [len(ids) for ids in g.sample_ids]
    (['low', 'mid', 'high', 'top'], [2, 2, 2, 1])
    """
    imgs = np.asarray(images)
    if imgs.shape[0] != b.n_samples:
        raise InputError(
            f"images has {imgs.shape[0]} entries but the bands cover {b.n_samples} samples; "
            f"pass one image per sample in the same order"
        )
    if imgs.ndim == 2:
        side = int(round(np.sqrt(imgs.shape[1])))
        if side * side != imgs.shape[1]:
            raise InputError(f"flat images of length {imgs.shape[1]} are not square; pass (n, H, W) images")
        imgs = imgs.reshape(-1, side, side)
    keep = np.ones(b.n_samples, bool) if within is None else np.asarray(within, dtype=bool)
    if keep.shape != (b.n_samples,):
        raise InputError(f"within has shape {keep.shape}; pass a boolean mask with one entry per sample")
    rng = np.random.default_rng(seed)
    out_imgs, out_ids, out_caps = [], [], []
    for bn in b.names:
        cand = np.flatnonzero(b.mask(bn) & keep)
        if order == "random":
            rows = list(rng.permutation(cand)[:n_per_band])
        elif order in ("highest", "lowest"):
            o = np.argsort(b.values[cand], kind="stable")
            rows = list(cand[o[::-1] if order == "highest" else o][:n_per_band])
        else:
            raise InputError(f"order={order!r} is not one of random, highest, lowest")
        ids = [int(b.sample_ids[r]) for r in rows]
        out_ids.append(ids)
        out_imgs.append(np.stack([_to_hw(imgs[r]) for r in rows]) if rows else np.zeros((0, 1, 1)))
        out_caps.append([str(captions[r]) for r in rows] if captions is not None else [])
    return BandImageGrid(b.unit, list(b.names), out_imgs, out_ids, out_caps)
