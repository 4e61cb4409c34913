"""Topology section of the demo report (digits CNN store): Purvine et al. (2022) recipe at n = 1000.

1. PH layer distances: top-ℓ2 clouds, Rips H1, sliced Wasserstein (M = 50), mean ± sd over 3 draws of
   1000 of the 1797 digits.
2. The same layer pairs under 1 − linear CKA (flattened activations of the first draw), their Spearman
   correlation with an exact Mantel permutation p-value.
3. Sensitivity: removing the top principal components of the penultimate layer, PH distance vs 1 − CKA.
4. One mapper graph per layer (lens = L2 norm, 10 intervals, 50% overlap, DBSCAN with k-NN-elbow ε) and
   the purity trend with depth.
5. (full demo, not ``quick``) The same on a deeper CNN (5 conv + 2 linear layers, all captured) trained on
   bias-free dSprites-lite: :mod:`repscope.experiments.topology.reproduce`, ending with a written reading.
"""

from __future__ import annotations

import pathlib
import time
from typing import Any

import numpy as np

from repscope.experiments.topology.recipe import mapper_per_layer, paper_recipe
from repscope.topology.clouds import store_cloud
from repscope.topology.layers import pc_removal_sensitivity

__all__ = ["demo_results"]


def _one_minus_cka(X: np.ndarray, Y: np.ndarray) -> float:
    from repscope.metrics import linear_cka

    return 1.0 - float(linear_cka(X, Y))


def _digit_images(store: Any, rows: np.ndarray) -> np.ndarray | None:
    """The 8×8 input images of ``rows`` when the store's samples are scikit-learn's digits (ids 0…1796)."""
    meta = getattr(store, "metadata", None) or {}
    if "digits" not in str(meta.get("dataset", "")):
        return None
    try:
        from sklearn.datasets import load_digits

        ids = np.asarray(getattr(store, "sample_ids", np.arange(store.n_samples)))[rows]
        imgs = load_digits().images
        return imgs[ids] if ids.size and ids.min() >= 0 and ids.max() < imgs.shape[0] else None
    except Exception:  # pragma: no cover - thumbnails are decoration only
        return None


def demo_results(
    store: Any,
    *,
    out_dir: pathlib.Path,
    seed: int = 0,
    progress: bool = False,
    n_samples: int = 1000,
    resamples: int = 3,
    quick: bool = False,
    reproduce: bool | None = None,
) -> list:
    """Result objects for the report's topology section (see module docstring).

    ``reproduce`` (default: ``not quick``) appends the deeper-CNN reproduction of
    :func:`repscope.experiments.topology.reproduce.deeper_cnn_reproduction` (dSprites-lite, n = ``n_samples``, same
    ``resamples``): ≈ 20 s more, ≈ 30 s for the whole section on 2 CPUs. ``out_dir`` receives
    ``topology_timings.json`` (seconds per step).
    """
    from repscope.results import dumps

    t0 = time.perf_counter()
    layers = list(store.layers)
    n = int(store.n_samples)
    n_use = min(int(n_samples), n)
    ph, rows, cka, comp, _ = paper_recipe(store, layers, n_use, resamples, seed=seed, progress=progress)
    t2 = time.perf_counter()

    pen = "fc1" if "fc1" in layers else layers[-2] if len(layers) >= 2 else layers[-1]
    cloud = store_cloud(store, pen, "top_l2", rows=rows)
    ks = [k for k in (0, 1, 2, 4, 8, 16) if k < min(cloud.shape) - 1]
    sens = pc_removal_sensitivity(cloud, ks, others={"1 − linear CKA": _one_minus_cka}, layer=pen)
    t3 = time.perf_counter()

    labels = getattr(store, "labels", None)
    labels = None if labels is None else np.asarray(labels)[rows]
    graphs, trend = mapper_per_layer(store, layers, rows, labels, seed=seed, images=_digit_images(store, rows))
    t4 = time.perf_counter()
    extra: list = []
    if (not quick) if reproduce is None else reproduce:
        from repscope.experiments.topology.reproduce import deeper_cnn_reproduction

        extra = deeper_cnn_reproduction(seed=seed, n_samples=n_samples, progress=progress, resamples=resamples)
    t5 = time.perf_counter()

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    timings = {
        "ph_layer_matrix_and_cka_comparison": t2 - t0,
        "pc_removal": t3 - t2,
        "mapper": t4 - t3,
        "deeper_cnn_reproduction": t5 - t4 if extra else None,
        "total": t5 - t0,
        "n_samples": n_use,
        "resamples": resamples,
    }
    (out_dir / "topology_timings.json").write_text(dumps(timings))
    diagrams = ph.diagrams[pen]
    return [ph, comp, diagrams, sens, trend, *graphs, *extra]
