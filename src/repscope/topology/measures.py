"""PH layer distances as entries of the similarity-measure registry (``repscope.metrics.registry``).

Registered (all ``kind="distance"``): ``ph_sliced_wasserstein`` (H1, M = 50 — the paper's choice),
``ph_bottleneck`` (H1), and per-dimension variants ``ph_sliced_wasserstein_h0`` / ``_h1`` and
``ph_bottleneck_h0`` / ``_h1``. Each declares ``prepare`` (X → Rips diagrams H0+H1, computed once per
layer) and ``compare`` (diagrams → distance), so ``layer_matrix`` does the expensive part once per layer.

The registry treats a layer's activations ``X`` (n, d) as the point cloud itself (flattened). For the
paper's top-ℓ2 clouds of convolutional layers, resampling and landmarks, use
:func:`repscope.topology.ph_layer_matrix`.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from numpy.typing import ArrayLike

from repscope.metrics.registry import register
from repscope.topology._persistence import Diagrams, persistence
from repscope.topology.distances import diagram_distance

__all__ = ["prepare_diagrams", "compare_diagrams", "ph_distance", "MEASURES"]


def prepare_diagrams(X: ArrayLike) -> Diagrams:
    """Rips diagrams (H0, H1; Z/2) of the point cloud X (n, d).

    Rips diagrams scale exactly with the cloud (dgm(cX) = c·dgm(X)), so a cloud whose coordinates lie
    outside [2⁻⁴⁰, 2⁴⁰] is brought to unit scale by an exact power of two first and its diagrams scaled
    back (no overflow of squared distances at 1e200, no underflow at 1e-160)."""
    import dataclasses

    from repscope.metrics._common import scale_exponent
    from repscope.validation import as_2d

    A = as_2d(X, "point cloud", min_samples=3)
    e = scale_exponent(A)
    if e == 0:
        return persistence(A, maxdim=1)
    d = persistence(np.ldexp(A, -e), maxdim=1)
    return dataclasses.replace(d, dgms=[np.ldexp(g, e) for g in d.dgms])


def compare_diagrams(d1: Diagrams, d2: Diagrams, *, metric: str, dim: int) -> float:
    """Distance between prepared diagrams in dimension ``dim``."""
    return float(diagram_distance(d1, d2, metric=metric, dim=dim))


def ph_distance(X: ArrayLike, Y: ArrayLike, *, metric: str = "sliced_wasserstein", dim: int = 1) -> float:
    """PH distance between two point clouds: ``metric`` between their Rips H_dim diagrams.

    X and Y need not have the same number of points or features (diagrams are compared, not points).
    """
    return compare_diagrams(
        prepare_diagrams(np.asarray(X)), prepare_diagrams(np.asarray(Y)), metric=metric, dim=dim
    )


_DESCR = {
    "sliced_wasserstein": "sliced Wasserstein distance (M=50, persim conventions; Carrière et al. 2017)",
    "bottleneck": "bottleneck distance (gudhi)",
}

#: name → (metric, dim)
MEASURES: dict[str, tuple[str, int]] = {
    "ph_sliced_wasserstein": ("sliced_wasserstein", 1),
    "ph_sliced_wasserstein_h0": ("sliced_wasserstein", 0),
    "ph_sliced_wasserstein_h1": ("sliced_wasserstein", 1),
    "ph_bottleneck": ("bottleneck", 1),
    "ph_bottleneck_h0": ("bottleneck", 0),
    "ph_bottleneck_h1": ("bottleneck", 1),
}

for _name, (_metric, _dim) in MEASURES.items():
    register(
        _name,
        partial(ph_distance, metric=_metric, dim=_dim),
        kind="distance",
        value_range=(0.0, None),  # a distance between diagrams: ≥ 0, unbounded (in the data's units)
        description=(
            f"Persistent-homology distance between layers (Purvine et al. 2022): {_DESCR[_metric]} between "
            f"Vietoris–Rips H{_dim} diagrams (Z/2) of the activations as point clouds"
        ),
        prepare=prepare_diagrams,
        compare=partial(compare_diagrams, metric=_metric, dim=_dim),
    )
