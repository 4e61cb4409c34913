"""scikit-learn's handwritten digits (ships with scikit-learn; no download)."""

from __future__ import annotations

import numpy as np


def load_digits_images(*, standardize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as ``(n, 1, 8, 8)`` float32 images scaled to [0, 1] (or standardised) and labels.

    Standardisation uses the dataset-wide mean and standard deviation (a fixed, deterministic transform).
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.images.astype(np.float32) / 16.0)[:, None, :, :]
    if standardize:
        X = (X - X.mean()) / X.std()
    return X.astype(np.float32), d.target.astype(np.int64)


def digits_attributes(images: np.ndarray) -> dict[str, np.ndarray]:
    """Simple per-image attributes for the demo: ink (total intensity tercile) and vertical mass centre."""
    x = images.reshape(len(images), 8, 8)
    x = x - x.min()
    ink = x.sum(axis=(1, 2))
    rows = np.arange(8)[None, :]
    centre = (x.sum(axis=2) * rows).sum(axis=1) / np.maximum(ink, 1e-9)
    tercile = np.digitize(ink, np.quantile(ink, [1 / 3, 2 / 3]))
    return {
        "ink": np.array(["light", "medium", "heavy"])[tercile],
        "centre_row": np.round(centre, 3).astype(np.float64),
    }
