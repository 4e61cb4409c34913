"""Purvine et al. (2022)'s recipe on a store, shared by the demo's topology section
(:mod:`repscope.experiments.topology.demo`) and the deeper-CNN reproduction
(:mod:`repscope.experiments.topology.reproduce`): the H1 sliced-Wasserstein PH layer matrix next to
1 − linear CKA on the same rows, and one mapper graph per layer."""

from __future__ import annotations

from typing import Any

import numpy as np

from repscope.topology._mapper import MapperGraph, MapperTrend, mapper, mapper_trend
from repscope.topology.clouds import store_cloud
from repscope.topology.layers import (
    MatrixComparison,
    MatrixCorrelation,
    PHLayerMatrix,
    compare_matrices,
    matrix_correlation,
    ph_layer_matrix,
)

__all__ = ["cka_distance_matrix", "first_draw_rows", "mapper_per_layer", "paper_recipe", "ph_vs_cka"]


def first_draw_rows(n: int, n_use: int, seed: int) -> np.ndarray:
    """The rows of :func:`ph_layer_matrix`'s first draw of ``n_use`` of ``n`` samples (all when n_use ≥ n)."""
    if n_use >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=n_use, replace=False))


def cka_distance_matrix(acts: dict[str, Any], layers: list[str]) -> np.ndarray:
    """1 − linear CKA between every pair of ``layers`` (arrays (n, ...) over the same samples), via
    :func:`repscope.metrics.layer_matrix` (which works in sample space, L·n² memory, when the layers are much
    wider than n — e.g. full-resolution conv maps — and in feature space otherwise)."""
    from repscope.metrics import layer_matrix

    cka = layer_matrix({lay: acts[lay] for lay in layers}, metric="linear_cka").values
    D = 1.0 - cka
    np.fill_diagonal(D, 0.0)
    return D


def paper_recipe(
    store: Any, layers: list[str], n_samples: int, resamples: int, *, seed: int = 0, progress: bool = False,
    rms_check: bool = True,
) -> tuple[PHLayerMatrix, np.ndarray, np.ndarray, MatrixComparison, MatrixCorrelation | None]:
    """Purvine et al.'s comparison on a store: H1 sliced-Wasserstein PH matrix of top-ℓ2 clouds over
    ``resamples`` draws of ``n_samples`` rows, 1 − linear CKA on the first draw's rows, and their correlation.

    Returns ``(ph, rows, one_minus_cka, comparison, rms_correlation)``.
    """
    n = int(store.n_samples)
    n_use = min(int(n_samples), n)
    ph = ph_layer_matrix(
        store, layers, cloud="top_l2", n_samples=n_use, resamples=int(resamples) if n_use < n else 1,
        metric="sliced_wasserstein", dim=1, seed=seed, n_workers=1, progress=progress,
    )
    rows = first_draw_rows(n, n_use, seed)
    cka = cka_distance_matrix({lay: store.read(lay, rows=rows) for lay in layers}, layers)
    comp, ph_rms = ph_vs_cka(store, layers, ph, cka, n_use, seed=seed, rms_check=rms_check)
    return ph, rows, cka, comp, ph_rms


def ph_vs_cka(
    store: Any,
    layers: list[str],
    ph: PHLayerMatrix,
    cka: np.ndarray,
    n_use: int,
    *,
    seed: int = 0,
    rms_check: bool = True,
) -> tuple[MatrixComparison, MatrixCorrelation | None]:
    """PH distances of the first draw next to ``cka`` (1 − CKA on the same rows), Spearman + Mantel.

    With ``rms_check`` the PH matrix is recomputed on clouds rescaled to unit RMS radius (PH distances are
    not scale-free, CKA is) and that correlation is added to the note and returned.
    """
    c_rms = None
    note = ""
    if rms_check:
        ph_rms = ph_layer_matrix(store, layers, cloud="top_l2", n_samples=n_use, normalize="rms", dim=1, seed=seed)
        c_rms = matrix_correlation(ph_rms.values, cka, seed=seed)
        note = (
            "PH distances are not scale-free: a layer with larger activations sits far from all others, "
            "while CKA ignores isotropic scaling. With every cloud rescaled to unit RMS radius first, "
            f"Spearman r = {c_rms.r:.2f} (Mantel p = {c_rms.p_value:.2g})."
        )
    comp = compare_matrices(
        ph.samples[0],
        cka,
        layers,
        names=("PH H1 sliced Wasserstein", "1 − linear CKA"),
        seed=seed,
        note=note,
    )
    return comp, c_rms


def mapper_per_layer(
    store: Any, layers: list[str], rows: np.ndarray, labels: Any, *, seed: int = 0, images: Any = None
) -> tuple[list[MapperGraph], MapperTrend]:
    """One mapper graph per layer on its top-ℓ2 cloud (lens L2 norm, 10 intervals, 50% overlap, DBSCAN
    with k-NN-elbow ε, min_samples 5: the paper's settings) and the purity trend across layers. ``images``
    (one per row of ``rows``) become member thumbnails in the report's node panels."""
    graphs = []
    for lay in layers:
        X = store_cloud(store, lay, "top_l2", rows=rows)
        kw = {} if images is None else {"images": images, "n_tooltips": 6}
        graphs.append(
            mapper(X, labels, lens="l2norm", n_intervals=10, overlap=0.5, min_samples=5, name=lay, seed=seed, **kw)
        )
    return graphs, mapper_trend(graphs, layers)
