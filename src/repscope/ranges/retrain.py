"""Last-layer retraining on frozen features (DFR) and mid-range curation without group labels.

DFR recipe (Kirichenko, Izmailov & Wilson 2022, "Last Layer Re-Training is Sufficient for Robustness
to Spurious Correlations"): standardise the frozen penultimate embeddings of a held-out set, fit an
L1-penalised logistic regression (liblinear) on a group-balanced random subset, repeat with fresh
subsets and average the coefficients; ``C`` is chosen on a group-labelled tuning split.

Mid-range curation (*ours*, following O'Mahony et al. 2024): the ERM model's logits on the retraining
set are turned into normalised logits ``t_c`` (see :func:`repscope.ranges.normalised_logits`); samples
whose ``t`` falls in a mid band — for their predicted class and/or a non-predicted class — are flagged,
**without looking at group labels**, and up-weighted when the last layer is refit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.ranges._bands import _as_1d, normalised_logits
from repscope.validation import as_2d

__all__ = [
    "C_GRID",
    "LinearHead",
    "fit_last_layer",
    "group_balanced_sampler",
    "Curation",
    "curate",
    "jtt_weights",
    "group_accuracies",
]

C_GRID = (1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01)  # DFR's grid


@dataclass
class LinearHead:
    """A linear classifier on standardised features: ``z = ((F − mean_) / scale_) · coef_ᵀ + intercept_``.

    Binary problems store one row (the logit of ``classes_[1]``).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import fit_last_layer
    >>> y = np.array([0, 0, 0, 1, 1, 1])
    >>> head = fit_last_layer(np.array([[0.0], [0.1], [0.2], [1.0], [1.1], [1.2]]), y, C=10.0, penalty="l2")
    >>> head.classes_.tolist(), head.predict(np.array([[0.05], [1.15]])).tolist()
    ([0, 1], [0, 1])
    """

    mean_: np.ndarray
    scale_: np.ndarray
    coef_: np.ndarray
    intercept_: np.ndarray
    classes_: np.ndarray
    C: float = 1.0

    def decision_function(self, F: Any) -> np.ndarray:
        Fa = as_2d(F, "features", min_samples=1)
        if Fa.shape[1] != self.mean_.shape[0]:
            raise InputError(
                f"features have {Fa.shape[1]} columns; the head was fit on {self.mean_.shape[0]}"
            )
        return ((Fa - self.mean_) / self.scale_) @ self.coef_.T + self.intercept_

    def predict(self, F: Any) -> np.ndarray:
        z = self.decision_function(F)
        if self.coef_.shape[0] == 1:
            return self.classes_[(z[:, 0] > 0).astype(int)]
        return self.classes_[z.argmax(axis=1)]


def group_balanced_sampler(groups: ArrayLike) -> Callable[[np.random.Generator], np.ndarray]:
    """DFR's subset: for every group, draw (without replacement) as many samples as the smallest group has.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import group_balanced_sampler
    >>> draw = group_balanced_sampler([0, 0, 0, 0, 1, 1])
    >>> idx = draw(np.random.default_rng(0))
    >>> sorted(np.bincount(np.array([0, 0, 0, 0, 1, 1])[idx]).tolist())   # 2 from each group
    [2, 2]
    """
    g = _as_1d(groups, "groups")
    members = [np.flatnonzero(g == v) for v in np.unique(g)]
    m = min(len(x) for x in members)
    if m == 0:
        raise InputError("a group is empty; group-balanced subsets need at least one sample per group")

    def sample(rng: np.random.Generator) -> np.ndarray:
        return np.concatenate([rng.choice(x, m, replace=False) for x in members])

    return sample


def fit_last_layer(
    F: Any,
    y: ArrayLike,
    *,
    C: float = 1.0,
    sample_weight: ArrayLike | None = None,
    sampler: Callable[[np.random.Generator], np.ndarray] | None = None,
    n_retrains: int = 1,
    penalty: str = "l1",
    seed: int = 0,
    scaler: tuple[np.ndarray, np.ndarray] | None = None,
    max_iter: int = 1000,
) -> LinearHead:
    """Fit a (DFR-style) last layer on frozen features.

    Standardises ``F`` (or uses ``scaler=(mean, scale)``), then fits ``n_retrains`` L1 logistic regressions
    (liblinear) — each on ``sampler(rng)`` rows when a sampler is given, e.g. :func:`group_balanced_sampler`
    — with optional ``sample_weight``, and averages coefficients and intercepts. ``max_iter`` caps
    liblinear's iterations (heavily weighted, nearly separable problems converge slowly).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import fit_last_layer
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 40)
    >>> F = np.column_stack([y + 0.2 * rng.normal(size=80), rng.normal(size=80)])
    >>> head = fit_last_layer(F, y, C=1.0)
    >>> float((head.predict(F) == y).mean())
    1.0
    """
    from sklearn.linear_model import LogisticRegression

    Fa = as_2d(F, "features")
    ya = _as_1d(y, "y", Fa.shape[0])
    if not C > 0:
        raise InputError(f"C={C} must be positive")
    if penalty not in ("l1", "l2"):
        raise InputError(f"penalty={penalty!r} is not one of 'l1', 'l2'")
    if n_retrains < 1:
        raise InputError("n_retrains must be at least 1")
    w = (
        None
        if sample_weight is None
        else _as_1d(sample_weight, "sample_weight", Fa.shape[0]).astype(np.float64)
    )
    if w is not None and ((w < 0).any() or not np.isfinite(w).all()):
        raise InputError("sample_weight must be finite and non-negative")
    classes = np.unique(ya)
    if classes.size < 2:
        raise InputError("y has a single class; retraining needs at least two classes")
    if scaler is None:
        mean, scale = Fa.mean(axis=0), Fa.std(axis=0)
    else:
        mean, scale = (np.asarray(a, dtype=np.float64) for a in scaler)
    scale = np.where(scale > 0, scale, 1.0)
    Z = (Fa - mean) / scale
    rng = np.random.default_rng(seed)
    k = 1 if classes.size == 2 else classes.size
    coef = np.zeros((k, Fa.shape[1]))
    icpt = np.zeros(k)
    for r in range(n_retrains):
        idx = np.arange(Fa.shape[0]) if sampler is None else sampler(rng)
        yi = ya[idx]
        wi = None if w is None else w[idx]
        # one-vs-rest for k > 2 classes (liblinear is binary), as liblinear's own multi-class mode did
        targets = [(0, classes[1])] if k == 1 else list(enumerate(classes))
        for row, c in targets:
            yb = (yi == c).astype(int)
            if yb.min() == yb.max():  # a subset without this class (or only it): constant logit
                icpt[row] += 1e3 if yb[0] == 1 else -1e3
                continue
            clf = LogisticRegression(
                C=C,
                l1_ratio=1.0 if penalty == "l1" else 0.0,
                solver="liblinear",
                random_state=seed + r,
                max_iter=1000,
            )
            clf.fit(Z[idx], yb, sample_weight=wi)
            coef[row] += clf.coef_[0]
            icpt[row] += clf.intercept_[0]
    return LinearHead(mean, scale, coef / n_retrains, icpt / n_retrains, classes, float(C))


@dataclass
class Curation:
    """Samples flagged by mid-range curation and the resulting sample weights (no group labels used).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import curate
    >>> rng = np.random.default_rng(0)
    >>> c = curate(rng.normal(size=(50, 3)), rng.integers(0, 3, 50))   # "balanced" weights need labels
    >>> c.edges, c.which, c.upweight, c.weights.shape
    ((0.3, 0.7), 'any', 'balanced', (50,))
    """

    mask: np.ndarray
    weights: np.ndarray
    t: np.ndarray
    edges: tuple[float, float]
    which: str
    upweight: float | str

    @property
    def n_selected(self) -> int:
        return int(self.mask.sum())


def _binary_to_two(z: np.ndarray) -> np.ndarray:
    return np.c_[-z / 2, z / 2] if z.shape[1] == 1 else z


def curate(
    logits: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    edges: tuple[float, float] = (0.3, 0.7),
    which: str = "any",
    upweight: float | str = "balanced",
) -> Curation:
    """Flag mid-range samples from a model's logits and weight them for retraining.

    A sample is flagged when its normalised logit ``t_c`` lies in ``[edges[0], edges[1])`` for its
    predicted class (``which="pred"``), for some non-predicted class (``"nonpred"``), either (``"any"``),
    or for its labelled class (``"label"``: the predicted class when the model is right, a non-predicted
    one when it is wrong; class labels are not group labels).
    Weights: ``upweight`` = λ gives flagged samples weight λ and the others 1; ``"balanced"`` gives each
    pseudo-group (class label × flagged) the same total weight — DFR's group balancing with band
    membership standing in for the unknown groups. ``labels`` (class labels, not group labels) are only
    needed for ``"balanced"``.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import curate
    >>> logits = np.array([[3.0, 0.0], [2.0, 0.0], [1.0, 0.0], [0.0, 3.0], [0.0, 2.0], [0.0, 1.0]])
    >>> c = curate(logits, upweight=5.0, which="pred")
    >>> c.mask.tolist(), c.weights.tolist()     # t of the predicted class in [0.3, 0.7): the weak predictions
    ([False, False, True, False, False, True], [1.0, 1.0, 5.0, 1.0, 1.0, 5.0])
    """
    Z = _binary_to_two(as_2d(logits, "logits"))
    lo, hi = (float(x) for x in edges)
    if not hi > lo:
        raise InputError(f"edges={edges} must satisfy lower < upper")
    if which not in ("any", "pred", "nonpred", "label"):
        raise InputError(f"which={which!r} is not one of 'any', 'pred', 'nonpred', 'label'")
    if upweight == "balanced" and labels is None:
        raise InputError("upweight='balanced' needs the class labels (labels=...); or pass a number")
    if which == "label" and labels is None:
        raise InputError("which='label' needs the class labels (labels=...)")
    n, k = Z.shape
    pred = Z.argmax(axis=1)
    t = normalised_logits(Z, pred=pred)
    inb = (t >= lo) & (t < hi)
    is_pred = np.zeros((n, k), bool)
    is_pred[np.arange(n), pred] = True
    if which == "pred":
        mask = (inb & is_pred).any(axis=1)
    elif which == "nonpred":
        mask = (inb & ~is_pred).any(axis=1)
    elif which == "label":
        if labels is None:
            raise InputError("which='label' needs the class labels (labels=...)")
        yl = _as_1d(labels, "labels", n).astype(np.int64)
        if yl.min() < 0 or yl.max() >= k:
            raise InputError(f"which='label' needs labels that index the {k} logits (0..{k - 1})")
        mask = inb[np.arange(n), yl]
    else:
        mask = inb.any(axis=1)
    if upweight == "balanced":
        if labels is None:
            raise InputError("upweight='balanced' needs the class labels (labels=...); or pass a number")
        y = _as_1d(labels, "labels", n)
        pg = np.unique(np.c_[y, mask], axis=0, return_inverse=True)[1].ravel()
        counts = np.bincount(pg)
        w = n / (counts.size * counts[pg])
    else:
        lam = float(upweight)
        if not lam > 0:
            raise InputError(f"upweight={upweight} must be positive or 'balanced'")
        w = np.where(mask, lam, 1.0)
    return Curation(np.asarray(mask), w.astype(np.float64), t, (lo, hi), which, upweight)


def jtt_weights(pred: Any, labels: ArrayLike, upweight: float) -> np.ndarray:
    """JTT-style weights (Liu et al. 2021): misclassified samples get ``upweight``, the rest 1.

    Examples
    --------
    >>> from repscope.ranges import jtt_weights
    >>> jtt_weights([0, 1, 1], [0, 1, 0], upweight=20.0).tolist()    # the error gets weight λ
    [1.0, 1.0, 20.0]
    """
    p = _as_1d(pred, "pred")
    y = _as_1d(labels, "labels", p.shape[0])
    if not upweight > 0:
        raise InputError(f"upweight={upweight} must be positive")
    return np.where(p != y, float(upweight), 1.0)


def group_accuracies(pred: Any, labels: ArrayLike, groups: ArrayLike) -> tuple[float, float, dict[int, float]]:
    """(worst-group accuracy, mean accuracy, per-group accuracy).

    Examples
    --------
    >>> from repscope.ranges import group_accuracies
    >>> worst, mean, per_group = group_accuracies([0, 1, 1, 1], [0, 1, 0, 1], groups=[0, 0, 1, 1])
    >>> worst, mean, per_group
    (0.5, 0.75, {0: 1.0, 1: 0.5})
    """
    p = _as_1d(pred, "pred")
    y = _as_1d(labels, "labels", p.shape[0])
    g = _as_1d(groups, "groups", p.shape[0])
    per = {int(v): float(np.mean(p[g == v] == y[g == v])) for v in np.unique(g)}
    return min(per.values()), float(np.mean(p == y)), per
