"""A minimal in-memory stand-in for repscope's ActivationStore (the interface in the design brief)."""

from __future__ import annotations

import numpy as np


class FakeStore:
    def __init__(self, layers: dict[str, np.ndarray]):
        self._data = {k: np.asarray(v) for k, v in layers.items()}
        self.layers = list(self._data)
        self.n_samples = next(iter(self._data.values())).shape[0]
        self.labels = None
        self.attributes: dict = {}
        self.sample_ids = np.arange(self.n_samples)

    def layer_shape(self, layer):
        return tuple(self._data[layer].shape[1:])

    def read(self, layer, rows=None):
        X = self._data[layer].reshape(self.n_samples, -1)
        return X if rows is None else X[rows]

    def iter_rows(self, layer, block_rows):
        X = self.read(layer)
        for start in range(0, X.shape[0], block_rows):
            yield start, X[start:start + block_rows].copy()
