"""dSprites-lite: procedurally drawn squares, ellipses and hearts with a position confounder.

A small, dependency-free stand-in for the dSprites set used by O'Mahony et al. (2024) (the original
is 64 × 64 and must be downloaded). Latents per sample: ``shape`` ∈ {0 square, 1 ellipse, 2 heart},
``scale`` ∈ {0.5, 0.6, …, 1.0}, ``orientation`` ∈ [0, 2π), ``pos_x`` and ``pos_y`` ∈ [0, 1]. Shapes are
rasterised with 3 × 3 supersampling (anti-aliased grey levels) on a ``canvas × canvas`` image.

Task = shape; confounder = horizontal position, cut into the authors' three spaced bins
``[0, 0.3)``, ``[0.35, 0.65)``, ``[0.7, 1]`` (attribute ``pos_bin``). A biased sample has its x
position drawn inside the bin of its own shape (square → left, ellipse → centre, heart → right);
a control sample draws its bin uniformly. ``fraction_pos_bias`` is the share of biased samples, as in
the authors' code: 0 = control data (position independent of shape), 1 = fully biased (position alone
predicts the shape). Positions are always drawn inside the bins (never in the gaps), so every sample
has a bin and the groups ``shape × pos_bin`` are well defined.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from repscope.errors import InputError
from repscope.experiments.datasets.spurious import LabelledSplit, SpuriousDataset

__all__ = ["POS_BINS", "SHAPES", "render_shapes", "make_dsprites_lite", "dsprites_lite"]

SHAPES = ("square", "ellipse", "heart")
POS_BINS = ((0.0, 0.3), (0.35, 0.65), (0.7, 1.0))
SCALES = np.linspace(0.5, 1.0, 6)
_SS = 3  # supersampling per axis


def _inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Point-in-shape test in the shape's own frame (unit half-extent)."""
    if shape == 0:  # square
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8
    if shape == 1:  # ellipse, 2:1
        return u**2 + (v / 0.5) ** 2 <= 1.0
    x, y = 1.15 * u, 1.15 * v + 0.15  # heart: (x² + y² − 1)³ − x² y³ ≤ 0
    return ((x**2 + y**2 - 1.0) ** 3 - x**2 * y**3 <= 0.0) & (np.abs(u) <= 1.0)


def render_shapes(
    shape: np.ndarray,
    scale: np.ndarray,
    orientation: np.ndarray,
    pos_x: np.ndarray,
    pos_y: np.ndarray,
    *,
    canvas: int = 32,
    max_radius: float | None = None,
    block: int = 512,
) -> np.ndarray:
    """Rasterise shapes to (n, 1, canvas, canvas) float32 images in [0, 1].

    The object's half-extent is ``scale · max_radius`` pixels (default ``canvas / 4``); its centre moves
    over ``[max_radius, canvas − max_radius]`` as the position goes from 0 to 1, so objects stay inside.
    """
    n = shape.shape[0]
    R = canvas / 4.0 if max_radius is None else float(max_radius)
    # Every shape lies within 1.2 half-extents of its centre: rasterise only a P × P window around it.
    P = min(canvas, 2 * int(np.ceil(1.2 * R)) + 2)
    sub = (np.arange(P * _SS) + 0.5) / _SS
    out = np.zeros((n, 1, canvas, canvas), dtype=np.float32)
    cx = R + pos_x * (canvas - 2 * R)
    cy = R + pos_y * (canvas - 2 * R)
    x0 = np.clip(np.floor(cx).astype(int) - P // 2, 0, canvas - P)
    y0 = np.clip(np.floor(cy).astype(int) - P // 2, 0, canvas - P)
    ar = np.arange(P)
    for s in range(0, n, block):
        sl = slice(s, min(n, s + block))
        k = sl.stop - sl.start
        r = (scale[sl] * R).astype(np.float32)[:, None, None]
        c = np.cos(orientation[sl]).astype(np.float32)[:, None, None]
        si = np.sin(orientation[sl]).astype(np.float32)[:, None, None]
        dx = ((x0[sl, None] + sub[None, :]) - cx[sl, None]).astype(np.float32)[:, None, :] / r
        dy = ((y0[sl, None] + sub[None, :]) - cy[sl, None]).astype(np.float32)[:, :, None] / r
        u = c * dx + si * dy
        v = -si * dx + c * dy
        m = np.empty(u.shape, dtype=np.float32)
        shp = shape[sl]
        for kind in np.unique(shp):
            w = shp == kind
            m[w] = _inside(int(kind), u[w], v[w])
        win = m.reshape(k, P, _SS, P, _SS).mean(axis=(2, 4))
        rows = (y0[sl, None] + ar[None, :])[:, :, None]
        cols = (x0[sl, None] + ar[None, :])[:, None, :]
        out[np.arange(sl.start, sl.stop)[:, None, None], 0, rows, cols] = win
    return out


def _check_fraction(f: Any) -> float:
    try:
        x = float(f)
    except (TypeError, ValueError):
        raise InputError(f"fraction_pos_bias={f!r} is not a number; pass a value in [0, 1]") from None
    if not 0.0 <= x <= 1.0:
        raise InputError(f"fraction_pos_bias={f} must be in [0, 1] (0 = control, 1 = fully biased)")
    return x


def make_dsprites_lite(
    n: int,
    fraction_pos_bias: float = 0.0,
    *,
    seed: int = 0,
    canvas: int = 32,
    scales: Any = None,
    id_offset: int = 0,
) -> LabelledSplit:
    """One split of ``n`` dSprites-lite images with the given position bias.

    Attributes: ``shape``, ``scale``, ``orientation``, ``pos_x``, ``pos_y``, ``pos_bin`` (0/1/2),
    ``biased`` (drawn from the biased part), ``group`` = 3·shape + pos_bin, and ``agrees``
    (pos_bin == shape). ``scales`` overrides dSprites' six scales 0.5…1.0 (small squares and hearts are
    hard to tell apart on a small canvas; larger scales make the shape task easier).
    """
    f = _check_fraction(fraction_pos_bias)
    if int(n) < 1:
        raise InputError(f"n={n} must be a positive number of samples")
    if int(canvas) < 12:
        raise InputError(f"canvas={canvas} is too small to draw the shapes; use at least 12 pixels")
    n = int(n)
    sc_levels = SCALES if scales is None else np.asarray(scales, dtype=np.float64).ravel()
    if sc_levels.size < 1 or (sc_levels <= 0).any() or (sc_levels > 1).any():
        raise InputError(f"scales={scales} must be values in (0, 1]")
    rng = np.random.default_rng(seed)
    shape = rng.integers(0, 3, n)
    biased = rng.random(n) < f
    pos_bin = np.where(biased, shape, rng.integers(0, 3, n))
    lo = np.array([b[0] for b in POS_BINS])[pos_bin]
    hi = np.array([b[1] for b in POS_BINS])[pos_bin]
    pos_x = lo + rng.random(n) * (hi - lo)
    pos_y = rng.random(n)
    scale = sc_levels[rng.integers(0, sc_levels.size, n)]
    orientation = rng.random(n) * 2 * np.pi
    X = render_shapes(shape, scale, orientation, pos_x, pos_y, canvas=int(canvas))
    attrs = {
        "shape": shape,
        "scale": scale,
        "orientation": orientation,
        "pos_x": pos_x,
        "pos_y": pos_y,
        "pos_bin": pos_bin,
        "biased": biased.astype(np.int64),
        "group": 3 * shape + pos_bin,
        "agrees": (pos_bin == shape).astype(np.int64),
    }
    return LabelledSplit(X, shape.copy(), attrs, np.arange(id_offset, id_offset + n, dtype=np.int64))


def dsprites_lite(
    fraction_pos_bias: float = 0.9,
    *,
    n_train: int = 3000,
    n_val: int = 1500,
    n_test: int = 1500,
    seed: int = 0,
    canvas: int = 32,
    scales: Any = None,
) -> SpuriousDataset:
    """Train and validation splits with ``fraction_pos_bias``; the test split is control data
    (position independent of shape), so worst-group accuracy over ``shape × pos_bin`` measures how much
    the model relies on position."""
    f = _check_fraction(fraction_pos_bias)
    ss = np.random.SeedSequence(seed).spawn(3)
    seeds = [int(s.generate_state(1)[0]) for s in ss]
    kw = {"canvas": canvas, "scales": scales}
    train = make_dsprites_lite(n_train, f, seed=seeds[0], id_offset=0, **kw)
    val = make_dsprites_lite(n_val, f, seed=seeds[1], id_offset=n_train, **kw)
    test = make_dsprites_lite(n_test, 0.0, seed=seeds[2], id_offset=n_train + n_val, **kw)
    names = [f"{s} @ {p}" for s in SHAPES for p in ("left", "centre", "right")]
    return SpuriousDataset(
        name="dsprites_lite",
        train=train,
        val=val,
        test=test,
        n_classes=3,
        n_groups=9,
        params={
            "fraction_pos_bias": f,
            "seed": seed,
            "canvas": canvas,
            "n_train": n_train,
            "n_val": n_val,
            "n_test": n_test,
            "scales": None if scales is None else [float(x) for x in np.ravel(scales)],
        },
        group_names=names,
    )
