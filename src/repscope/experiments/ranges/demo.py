"""The "ranges" section of the demo report.

Given the demo store (digits CNN; ``fc2`` logits, ``relu4`` penultimate; labels = digit) this returns:

1. for the most-confused class's logit: a band histogram coloured by label, the association table and
   confounder findings (plus an image grid when the store covers the 1797 scikit-learn digits);
2. the same for a direction in ``relu4`` (class-mean difference), with percentile bands;
3. the paper's controlled case — spurious digits with a marker at ρ = 0.95 — where the marker is
   associated with the mid band but not the top band of the class logit;
4. the mitigation table from the fast benchmark configuration.
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from repscope.ranges._bands import logit_bands
from repscope.ranges.analysis import analyse_bands, analyse_store


def _digit_images(store: Any) -> np.ndarray | None:
    """The input images, when the store's samples are scikit-learn's digits (ids 0…1796)."""
    try:
        from sklearn.datasets import load_digits

        ids = np.asarray(getattr(store, "sample_ids", np.arange(store.n_samples)))
        imgs = load_digits().images
        if ids.size and ids.min() >= 0 and ids.max() < imgs.shape[0] and store.n_samples == ids.size:
            return imgs[ids]
    except Exception:  # pragma: no cover - images are decoration only
        return None
    return None


def _most_confused_class(Z: np.ndarray, y: np.ndarray | None) -> int:
    pred = Z.argmax(axis=1)
    if y is None:
        return int(np.bincount(pred, minlength=Z.shape[1]).argmax())
    # class with the most samples in the mid band of its own logit (ties → lowest id)
    counts = []
    for c in range(Z.shape[1]):
        try:
            b = logit_bands(Z, c)
            counts.append(int(b.mask("mid").sum()))
        except Exception:
            counts.append(-1)
    return int(np.argmax(counts))


def demo_results(
    store: Any, *, out_dir: pathlib.Path, seed: int = 0, progress: bool = False, quick: bool = False
) -> list:
    """Result objects for the demo report's "ranges" section (≈ 15–30 s on 2 cores; ``quick``: one seed
    in the mitigation table and 199 permutations)."""
    n_perm = 199 if quick else 999
    out: list[Any] = []
    layers = list(store.layers)
    logit_layer = "fc2" if "fc2" in layers else layers[-1]
    Z = np.asarray(store.read(logit_layer))
    y = None if store.labels is None else np.asarray(store.labels)
    c = _most_confused_class(Z, y)
    images = _digit_images(store)

    # 1. a logit unit of the demo CNN
    a1 = analyse_store(store, unit=f"{logit_layer}:{c}", kind="normalised", seed=seed, n_permutations=n_perm)
    if images is not None:
        from repscope.ranges.views import band_image_grid

        a1.grid = band_image_grid(a1.bands, images, n_per_band=8, seed=seed, captions=y)
    out += [a1.bands, *a1.results()]

    # 2. a direction in the penultimate layer
    pen = "relu4" if "relu4" in layers else None
    if pen is not None and y is not None:
        a2 = analyse_store(store, direction=f"{pen}:class-mean:{c}", seed=seed, n_permutations=n_perm)
        out += [a2.histograms[0], a2.associations]

    return out + spurious_results(seed=seed, quick=quick, progress=progress)


def spurious_results(*, seed: int = 0, quick: bool = False, progress: bool = False) -> list:
    """The paper's controlled case — spurious digits, marker at ρ = 0.95, associated with the mid band of
    the class logit — and the mitigation table of the fast benchmark configuration (no store needed)."""
    from repscope.experiments.ranges.benchmark import fast_config, prepare, run_benchmark

    n_perm = 199 if quick else 999
    out: list[Any] = []
    # 3. the controlled confounder: spurious digits, marker hidden in the mid band
    cfg = fast_config()
    if quick:
        cfg.seeds = cfg.seeds[:1]
    pr = prepare("spurious_digits", 0.95, seed, cfg)
    A = pr.A
    cls = 1  # class group "digit ≥ 5"
    b = logit_bands(pr.ZA, cls, sample_ids=A.sample_ids, unit_name="spurious-digits CNN logit 'digit ≥ 5'")
    attrs = {"marker": A.attributes["marker"], "digit": A.attributes["digit"]}
    a3 = analyse_bands(
        b,
        attrs,
        reference=A.y == cls,
        reference_name="validation samples with digit ≥ 5",
        images=A.X,
        colour_by=["marker"],
        n_permutations=n_perm,
        captions=np.array([f"marker {'right' if m else 'left'}" for m in A.attributes["marker"]]),
        seed=seed,
    )
    out += a3.results()

    # 4. mitigation table (fast configuration)
    out.append(run_benchmark(cfg, n_workers=1, progress=progress))
    return out
