"""Descrambling section of the demo report (digits CNN store; budget ≈ 20 s on 2 cores)."""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from repscope.descramble.core import Descrambler
from repscope.descramble.permutation import PermutationDescrambler
from repscope.experiments.descramble.reproductions import (
    circulant_reproduction,
    isotropic_reproduction,
    linear_network_reproduction,
)

__all__ = ["demo_results", "load_fc1_weights", "reproduction_results"]


def load_fc1_weights(seed: int = 0) -> np.ndarray:
    """``fc1.weight`` (128 × in_features) of the embedded digits CNN — the store holds only activations."""
    from repscope.experiments.models.digits import load_model

    model = load_model("cnn", seed=seed)[0]
    return model.fc1.weight.detach().cpu().numpy().astype(np.float64)


def demo_results(
    store: Any,
    *,
    out_dir: pathlib.Path,
    seed: int = 0,
    progress: bool = False,
    weights: Any = None,
    layer: str = "fc1",
    conv_layers: tuple[str, ...] | None = None,
    reproductions: bool = True,
) -> list:
    """Result objects for the report's "descrambling" section.

    - orthogonal descrambling of ``layer`` (default ``fc1``) from streamed preactivations, with the
      layer's weights ``W`` (``weights``, else loaded from ``repscope.experiments.models.digits``): raw vs ``P*·W``
      images, spectra, cost vs Brockett bound;
    - permutation (QAP) vs orthogonal descrambling of ``layer`` and of every conv layer in the store
      (channels as units, positions × samples as samples);
    - the embedded reproductions (isotropic inputs, two-layer linear network, circulant toy).

    Writes ``descramble_<layer>_P.npy`` and ``descramble_<layer>_weights.npy`` into ``out_dir``.
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list = []
    W = load_fc1_weights(seed) if weights is None and layer == "fc1" else weights
    d = Descrambler("first_difference").fit_store(store, layer, progress=progress)
    res = d.result(W, layer=layer)
    results.append(res)
    np.save(out_dir / f"descramble_{layer}_P.npy", d.P_)
    if res.weights_descrambled is not None:
        np.save(out_dir / f"descramble_{layer}_weights.npy", res.weights_descrambled)
    results.append(PermutationDescrambler("first_difference", n_init=4, seed=seed)
                   .fit_moment(d.moment_, d.n_samples_).result(layer))
    if conv_layers is None:
        conv_layers = tuple(name for name in store.layers if len(tuple(store.layer_shape(name))) >= 2)
    for name in conv_layers:
        p = PermutationDescrambler("first_difference", n_init=4, seed=seed)
        p.fit_store(store, name, progress=progress)
        results.append(p.result(name))
    if reproductions:
        results += reproduction_results(seed=seed)
    return results


def reproduction_results(*, seed: int = 0) -> list:
    """The embedded reproductions of Sule et al. (isotropic inputs, two-layer linear network, circulant toy)."""
    return [isotropic_reproduction(seed=seed), linear_network_reproduction(seed=seed),
            circulant_reproduction(seed=seed)]
