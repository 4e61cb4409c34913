"""Similarity section of the demo report: one layer×layer matrix per measure for the demo store."""

from __future__ import annotations

import pathlib
from typing import Any

from repscope.metrics._layer_matrix import layer_matrices
from repscope.metrics._result import LayerMatrix

#: Measures shown in the demo report, in order, with a 1–2 sentence reading of what each measures.
DEMO_MEASURES: dict[str, str] = {
    "linear_cka": "Linear CKA asks whether two layers arrange the samples with the same overall geometry, "
    "ignoring rotations and overall scale (1 = identical up to rotation and scale).",
    "debiased_cka": "Debiased CKA is the same comparison with the unbiased HSIC estimator, so unrelated "
    "layers score near 0 instead of a positive value that depends on the sample size.",
    "procrustes": "Procrustes distance is the angle (radians) left between two layers after the best "
    "rotation of one onto the other; unlike CKA it is a true metric (0 = same shape).",
    "svcca": "SVCCA keeps the principal components explaining 99% of each layer's variance and reports "
    "their mean canonical correlation: how much linear subspace the layers share, whatever its scale.",
    "rsa": "RSA correlates (Spearman) the two layers' sample-by-sample dissimilarity matrices: do both "
    "layers put the same digits close together and far apart?",
    "mutual_knn": "Mutual k-NN is the average fraction of each digit's 10 nearest neighbours that both "
    "layers share: agreement of local neighbourhoods, blind to global geometry.",
}


def demo_results(
    store: Any,
    *,
    out_dir: pathlib.Path,
    seed: int = 0,
    progress: bool = False,
    quick: bool = False,
) -> list[LayerMatrix]:
    """Layer matrices of every demo measure over all layers of ``store`` (one streamed pass for the linear
    ones). Writes ``similarity_<metric>.csv`` under ``out_dir``. ``seed`` is unused (all measures are
    deterministic); ``quick`` drops the O(n²) RSA."""
    metrics = [m for m in DEMO_MEASURES if not (quick and m == "rsa")]
    results = layer_matrices(store, metrics=metrics, progress=progress)
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for r in results:
        r.description = DEMO_MEASURES[r.metric]
        r.to_csv(out / f"similarity_{r.metric}.csv")
    return results
