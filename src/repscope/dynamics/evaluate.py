"""Scoring distance matrices against known structure: group ratios, 1-NN accuracy, learning correlations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError

__all__ = ["group_ratio", "nn_accuracy", "learning_correlation", "pairwise_matrix", "geometry_distance"]


def _check_square(D: np.ndarray, groups: list[str]) -> np.ndarray:
    D = np.asarray(D, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != D.shape[1] or D.shape[0] != len(groups):
        raise InputError(f"distance matrix of shape {D.shape} does not match {len(groups)} group labels")
    return D


def group_ratio(D: np.ndarray, groups: list[str]) -> float:
    """Mean between-group distance divided by mean within-group distance (> 1: groups are separated).

    This is the "within- vs between-regime distance ratio" of Guilhot et al. (2024), written between/within.
    """
    D = _check_square(D, groups)
    g = np.asarray(groups)
    same = g[:, None] == g[None, :]
    off = ~np.eye(len(g), dtype=bool)
    within = D[same & off]
    between = D[~same]
    if within.size == 0 or between.size == 0:
        return float("nan")
    w = within.mean()
    return float(between.mean() / w) if w > 0 else float("inf")


def nn_accuracy(D: np.ndarray, groups: list[str]) -> float:
    """Leave-one-out 1-nearest-neighbour accuracy of the group labels under distance D."""
    D = _check_square(D, groups).copy()
    np.fill_diagonal(D, np.inf)
    g = np.asarray(groups)
    return float(np.mean(g[np.argmin(D, axis=1)] == g))


def learning_correlation(distance_to_reference: np.ndarray, accuracy: np.ndarray) -> float:
    """Spearman correlation between a checkpoint's distance to the reference and its accuracy.

    Strongly negative = the distance tracks learning (closer to the trained/target dynamics as accuracy
    rises).
    """
    from scipy.stats import spearmanr

    d = np.asarray(distance_to_reference, dtype=np.float64)
    a = np.asarray(accuracy, dtype=np.float64)
    if d.shape != a.shape or d.size < 3:
        raise InputError("need ≥ 3 checkpoints with one distance and one accuracy each")
    if np.ptp(a) == 0 or np.ptp(d) == 0:
        return float("nan")
    return float(spearmanr(d, a).statistic)


def geometry_distance(metric: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """Geometry baseline between two systems' states (rows = paired (trial, time) samples).

    ``procrustes``: angular Procrustes distance; ``cka``: 1 − linear CKA. Both from :mod:`repscope.metrics`.
    """
    import repscope.metrics as metrics

    if metric == "procrustes":
        fn = metrics.procrustes

        def dist(X, Y):
            return float(fn(_flat(X), _flat(Y)))
    elif metric == "cka":
        fn = metrics.linear_cka

        def dist(X, Y):
            return float(1.0 - fn(_flat(X), _flat(Y)))
    else:
        raise InputError(f"unknown geometry metric {metric!r}; use 'procrustes' or 'cka'")
    return dist


def _flat(X: ArrayLike) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return X.reshape(-1, X.shape[-1])


def pairwise_matrix(func: Callable, systems: list[Any], others: list[Any] | None = None) -> np.ndarray:
    """Distance matrix from a pair function (symmetric when ``others`` is None; zero diagonal)."""
    if others is None:
        n = len(systems)
        D = np.zeros((n, n))
        for i in range(n):
            for j in range(i + 1, n):
                D[i, j] = D[j, i] = func(systems[i], systems[j])
        return D
    return np.array([[func(a, b) for b in others] for a in systems])
