"""Spurious digits: scikit-learn's 8×8 digits with a spurious marker correlated with the label group.

Each digit image is placed on an 8 × 12 canvas (columns 2–9) and a 2 × 2 bright patch — the
marker — is drawn in the top-left (marker 0) or top-right (marker 1) corner. The class group is
``digit ≥ 5`` (0–4 → group 0, 5–9 → group 1). In the training and validation splits the marker agrees
with the class group with probability ``rho``; in the test split it is independent (probability ½).
The four groups ``class_group × marker`` are kept as attributes, so worst-group accuracy can be
measured; the minority groups are the ones where the marker disagrees with the class group.

Nothing is downloaded: the digits ship with scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from repscope.errors import InputError

__all__ = ["LabelledSplit", "SpuriousDataset", "spurious_digits", "add_marker"]

CANVAS = (8, 12)
_COL0 = 2


@dataclass
class LabelledSplit:
    """One split of a generated dataset: images ``X`` (n, C, H, W) float32 in [0, 1], targets ``y``,
    ``attributes`` (name → (n,) array; always has ``"group"``) and ``sample_ids`` (unique across splits)."""

    X: np.ndarray
    y: np.ndarray
    attributes: dict[str, np.ndarray]
    sample_ids: np.ndarray

    @property
    def n(self) -> int:
        return int(self.y.shape[0])

    @property
    def groups(self) -> np.ndarray:
        return self.attributes["group"]

    def subset(self, idx: Any) -> LabelledSplit:
        idx = np.asarray(idx)
        return LabelledSplit(
            self.X[idx], self.y[idx], {k: v[idx] for k, v in self.attributes.items()}, self.sample_ids[idx]
        )


@dataclass
class SpuriousDataset:
    """Train / validation / test splits plus the generating parameters."""

    name: str
    train: LabelledSplit
    val: LabelledSplit
    test: LabelledSplit
    n_classes: int
    n_groups: int
    params: dict[str, Any] = field(default_factory=dict)
    group_names: list[str] = field(default_factory=list)

    def splits(self) -> dict[str, LabelledSplit]:
        return {"train": self.train, "val": self.val, "test": self.test}


def add_marker(images: np.ndarray, marker: np.ndarray) -> np.ndarray:
    """Place 8×8 digit images (n, 8, 8) in [0, 1] on the 8 × 12 canvas with the marker patch."""
    n = images.shape[0]
    out = np.zeros((n, 1, *CANVAS), dtype=np.float32)
    out[:, 0, :, _COL0 : _COL0 + 8] = images
    left = marker == 0
    out[left, 0, 0:2, 0:2] = 1.0
    out[~left, 0, 0:2, CANVAS[1] - 2 : CANVAS[1]] = 1.0
    return out


def _check_rho(rho: float) -> float:
    try:
        r = float(rho)
    except (TypeError, ValueError):
        raise InputError(f"rho={rho!r} is not a number; pass a probability in [0, 1]") from None
    if not 0.0 <= r <= 1.0:
        raise InputError(f"rho={rho} must be in [0, 1] (agreement of marker and class group in train/val)")
    return r


def spurious_digits(
    rho: float = 0.95,
    *,
    seed: int = 0,
    task: str = "group",
    fractions: tuple[float, float, float] = (0.5, 0.25, 0.25),
    test_rho: float = 0.5,
) -> SpuriousDataset:
    """Generate the spurious-digits dataset.

    Parameters
    ----------
    rho : probability that the marker equals the class group in the train and validation splits
        (0.5 = independent, 1 = always agrees).
    task : ``"group"`` (default; binary target = class group, digits 0–4 vs 5–9) or ``"digit"``
        (10-way target; the marker still follows the class group).
    fractions : train / validation / test shares of the 1797 digits (stratified by digit).
    test_rho : marker agreement in the test split (default ½: independent).

    Attributes per sample: ``digit``, ``class_group``, ``marker``, ``group`` = 2·class_group + marker
    (named in ``group_names``), and ``agrees`` (marker == class group).
    """
    from sklearn.datasets import load_digits

    r = _check_rho(rho)
    tr = _check_rho(test_rho)
    if task not in ("group", "digit"):
        raise InputError(f"task={task!r} is not one of 'group', 'digit'")
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.shape != (3,) or (fr <= 0).any() or not np.isclose(fr.sum(), 1.0):
        raise InputError(
            f"fractions={fractions} must be three positive shares summing to 1 (train, val, test)"
        )
    d = load_digits()
    images = (d.images / 16.0).astype(np.float32)
    digits = d.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    split_of = np.empty(digits.size, dtype=np.int64)
    for k in range(10):  # stratified split
        idx = rng.permutation(np.flatnonzero(digits == k))
        c1 = int(round(fr[0] * idx.size))
        c2 = c1 + int(round(fr[1] * idx.size))
        split_of[idx[:c1]], split_of[idx[c1:c2]], split_of[idx[c2:]] = 0, 1, 2
    out = {}
    for s, (name, agree_p) in enumerate((("train", r), ("val", r), ("test", tr))):
        idx = np.flatnonzero(split_of == s)
        idx = idx[rng.permutation(idx.size)]
        cg = (digits[idx] >= 5).astype(np.int64)
        agrees = rng.random(idx.size) < agree_p
        marker = np.where(agrees, cg, 1 - cg)
        X = add_marker(images[idx], marker)
        y = cg if task == "group" else digits[idx]
        attrs = {
            "digit": digits[idx],
            "class_group": cg,
            "marker": marker,
            "group": 2 * cg + marker,
            "agrees": agrees.astype(np.int64),
        }
        out[name] = LabelledSplit(X, y.copy(), attrs, idx.astype(np.int64))
    return SpuriousDataset(
        name="spurious_digits",
        train=out["train"],
        val=out["val"],
        test=out["test"],
        n_classes=2 if task == "group" else 10,
        n_groups=4,
        params={"rho": r, "seed": seed, "task": task, "fractions": list(fr), "test_rho": tr},
        group_names=[
            "digit<5 & marker left",
            "digit<5 & marker right",
            "digit≥5 & marker left",
            "digit≥5 & marker right",
        ],
    )
