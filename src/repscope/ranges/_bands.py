"""Activation bands over a scalar unit: an output logit, a neuron, or a direction in a layer's space.

The idea (O'Mahony, Nikolov & O'Sullivan 2024, arXiv 2411.10019) is to look at *all* activation levels of
a unit, not only its extremes: samples are split into bands (low / mid / high / top) and each band is
then described by the labels and attributes of its samples (see :mod:`repscope.ranges._associations`).

Two kinds of band:

- **percentile** bands: edges are percentiles of the unit's scores, pooled or computed separately
  within each group (e.g. per class);
- **normalised-logit** bands for an output unit ``c``: the logit is rescaled so that the median over
  samples *not* predicted as ``c`` maps to 0 and the median over samples predicted as ``c`` maps to 1,

  ``t_c = (z_c − median(z_c | pred ≠ c)) / (median(z_c | pred = c) − median(z_c | pred ≠ c))``

  and the edges are values of ``t`` (default low < 0.3 ≤ mid < 0.7 ≤ high), with an optional ``top``
  band for the highest percentile (default ≥ the 95th percentile).
- **value** bands: raw edges on the unit's scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.results import ResultBase, to_jsonable
from repscope.validation import as_2d

__all__ = [
    "Bands",
    "bands",
    "logit_bands",
    "unit_scores",
    "normalised_logits",
    "class_mean_direction",
    "probe_direction",
    "parse_unit",
]

DEFAULT_PERCENTILE_EDGES = (0.0, 30.0, 70.0, 95.0, 100.0)
DEFAULT_PERCENTILE_NAMES = ("low", "mid", "high", "top")
DEFAULT_T_EDGES = (0.3, 0.7)
DEFAULT_T_NAMES = ("low", "mid", "high")


# --------------------------------------------------------------------------------------------------
# Scalar units
# --------------------------------------------------------------------------------------------------


def _as_1d(x: ArrayLike, name: str, n: int | None = None) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x)
    if a.ndim != 1:
        raise InputError(f"{name} has shape {a.shape}; expected a 1-D array with one entry per sample")
    if n is not None and a.shape[0] != n:
        raise InputError(
            f"{name} has {a.shape[0]} entries but there are {n} samples; pass one value per sample, "
            f"in the same order as the activations"
        )
    return a


def parse_unit(spec: str) -> tuple[str, int]:
    """Parse ``"layer:index"`` (e.g. ``"fc2:3"``) into ``("fc2", 3)``.

    Examples
    --------
    >>> from repscope.ranges import parse_unit
    >>> parse_unit("fc2:3")
    ('fc2', 3)
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise InputError(f"unit {spec!r} is not of the form LAYER:INDEX; write e.g. --unit fc2:3")
    layer, _, idx = spec.rpartition(":")
    try:
        index = int(idx)
    except ValueError:
        raise InputError(f"unit {spec!r}: index {idx!r} is not an integer; write e.g. --unit fc2:3") from None
    if not layer:
        raise InputError(f"unit {spec!r} has no layer name; write e.g. --unit fc2:3")
    return layer, index


def unit_scores(
    X: ArrayLike,
    *,
    unit: int | None = None,
    direction: ArrayLike | None = None,
    center: bool = False,
) -> np.ndarray:
    """Scalar score per sample for one unit of a layer's activations ``X`` (n, d).

    Exactly one of ``unit`` (a column: an output logit or a neuron) or ``direction`` (a vector ``w``
    in the layer's space) is given. For a direction the score is the projection ``X·w / ‖w‖``
    (optionally of the centred ``X``), so scores are in activation units along the unit vector.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import unit_scores
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> unit_scores(X, unit=1).tolist()
    [2.0, 4.0, 6.0]
    >>> unit_scores(X, direction=[0.0, 2.0]).tolist()         # projection on the unit vector along it
    [2.0, 4.0, 6.0]
    """
    A = as_2d(X, "activations", min_samples=1)
    if unit is not None and direction is None:
        if not (-A.shape[1] <= int(unit) < A.shape[1]):
            raise InputError(
                f"unit {unit} is out of range for a layer with {A.shape[1]} units; use 0..{A.shape[1] - 1}"
            )
        s = A[:, int(unit)]
        return s - s.mean() if center else s.copy()
    if unit is not None or direction is None:
        raise InputError("give exactly one of unit= (a column index) or direction= (a vector)")
    w = _as_1d(direction, "direction").astype(np.float64)
    if w.shape[0] != A.shape[1]:
        raise InputError(
            f"direction has {w.shape[0]} entries but the layer has {A.shape[1]} features; the direction "
            f"must live in the same (flattened) space as the activations"
        )
    if not np.isfinite(w).all():
        raise InputError("direction contains NaN or Inf; pass a finite vector")
    norm = float(np.linalg.norm(w))
    if norm == 0.0:
        raise InputError("direction is the zero vector; pass a non-zero vector")
    Ac = A - A.mean(axis=0) if center else A
    return Ac @ (w / norm)


def class_mean_direction(X: ArrayLike, labels: ArrayLike, positive: Any, negative: Any = None) -> np.ndarray:
    """Class-mean difference direction ``mean(X | y = positive) − mean(X | y ∈ negative)``.

    ``negative=None`` uses every other sample. ``positive``/``negative`` may be a label or a list of labels.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import class_mean_direction
    >>> X = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    >>> class_mean_direction(X, [1, 1, 0, 0], positive=1).tolist()     # mean(y = 1) − mean(y = 0)
    [2.0, -2.0]
    """
    A = as_2d(X, "activations")
    y = _as_1d(labels, "labels", A.shape[0])
    pos = np.isin(y, np.atleast_1d(positive))
    neg = ~pos if negative is None else np.isin(y, np.atleast_1d(negative))
    if not pos.any() or not neg.any():
        raise InputError(
            f"class_mean_direction needs samples on both sides (positive={positive!r}: {int(pos.sum())}, "
            f"negative: {int(neg.sum())}); check the label values"
        )
    return A[pos].mean(axis=0) - A[neg].mean(axis=0)


def probe_direction(X: ArrayLike, labels: ArrayLike, positive: Any, *, C: float = 1.0, seed: int = 0) -> np.ndarray:
    """Weight vector of an L2 logistic-regression probe for ``y ∈ positive`` vs the rest.

    Fitted on standardised features; the returned direction is mapped back to the raw activation space
    (``w_raw = w_std / σ``) so that ``unit_scores(X, direction=w)`` ranks samples like the probe does.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import probe_direction
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 30)
    >>> X = np.column_stack([y + 0.1 * rng.normal(size=60), rng.normal(size=60)])   # class in feature 0
    >>> w = probe_direction(X, y, positive=1)
    >>> bool(w[0] > 0 and abs(w[0]) > abs(w[1]))
    True
    """
    from sklearn.linear_model import LogisticRegression

    A = as_2d(X, "activations")
    y = np.isin(_as_1d(labels, "labels", A.shape[0]), np.atleast_1d(positive)).astype(int)
    if y.min() == y.max():
        raise InputError(f"probe_direction: positive={positive!r} selects all or none of the samples")
    sd = A.std(axis=0)
    sd[sd == 0] = 1.0
    Z = (A - A.mean(axis=0)) / sd
    clf = LogisticRegression(C=C, max_iter=2000, random_state=seed).fit(Z, y)
    return clf.coef_[0] / sd


def normalised_logits(logits: ArrayLike, classes: Any = None, *, pred: Any = None) -> np.ndarray:
    """Normalised logits ``t_c`` for the given classes (default: all), shape (n, len(classes)).

    ``t_c = (z_c − median(z_c | pred ≠ c)) / (median(z_c | pred = c) − median(z_c | pred ≠ c))``
    with ``pred`` the predicted class (argmax of the logits unless given, e.g. the true labels).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import normalised_logits
    >>> Z = np.array([[2.0, 0.0], [4.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    >>> normalised_logits(Z)[:, 0].tolist()     # t = (z − median off-class) / (median on-class − median off-class)
    [0.6666666666666666, 1.3333333333333333, 0.0, 0.0]
    """
    Z = as_2d(logits, "logits")
    n, k = Z.shape
    p = Z.argmax(axis=1) if pred is None else _as_1d(pred, "pred", n)
    cls = np.arange(k) if classes is None else np.atleast_1d(np.asarray(classes, dtype=int))
    out = np.empty((n, len(cls)))
    for j, c in enumerate(cls):
        if not (0 <= c < k):
            raise InputError(f"class {c} is out of range for {k} logits; use 0..{k - 1}")
        on = p == c
        if on.sum() == 0 or on.sum() == n:
            raise InputError(
                f"normalised logit of class {c} is undefined: {int(on.sum())} of {n} samples are predicted "
                f"as {c}; pass pred=<true labels>, or use kind='percentile' bands"
            )
        lo = float(np.median(Z[~on, c]))
        hi = float(np.median(Z[on, c]))
        if not hi > lo:
            raise InputError(
                f"normalised logit of class {c} is undefined: the median logit of samples predicted as {c} "
                f"({hi:.3g}) is not above that of the others ({lo:.3g}); use kind='percentile' bands"
            )
        out[:, j] = (Z[:, c] - lo) / (hi - lo)
    return out


# --------------------------------------------------------------------------------------------------
# Bands
# --------------------------------------------------------------------------------------------------


@dataclass(repr=False)
class Bands(ResultBase):
    """Band assignment of every sample for one scalar unit.

    ``values`` are the numbers the edges apply to (raw scores, or ``t`` for normalised bands);
    ``assignment[i]`` is the band index of sample ``i`` (−1: outside every band); ``edges`` has shape
    ``(n_bands + 1,)`` for pooled bands, or ``(n_groups, n_bands + 1)`` with one row per entry of
    ``group_values`` for per-group bands.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import bands
    >>> b = bands(np.arange(10.0), kind="value", edges=[-np.inf, 5, np.inf], names=["below", "above"], unit="fc:0")
    >>> b
    Bands(unit='fc:0', kind='value', counts={'below': 5, 'above': 5})
    >>> b.assignment.tolist()
    [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    """

    unit: str
    kind: str
    names: list[str]
    values: np.ndarray
    assignment: np.ndarray
    edges: np.ndarray
    sample_ids: np.ndarray
    group_values: np.ndarray | None = None
    groups: np.ndarray | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"Bands(unit={self.unit!r}, kind={self.kind!r}, counts={self.counts()})"

    def to_xarray(self) -> Any:
        """Per-sample scores as an ``xarray.DataArray`` over dim ``"sample"``: coordinates ``sample_id``,
        ``band`` (its name, ``""`` outside every band), ``band_index`` and, for per-group bands, ``group``;
        attrs ``unit``, ``kind``, ``band_names``. Needs ``repscope[xarray]``."""
        from repscope.results import xarray_module

        band = np.array([self.names[a] if a >= 0 else "" for a in self.assignment], dtype=object)
        coords = {"sample_id": ("sample", self.sample_ids), "band": ("sample", band.astype(str)),
                  "band_index": ("sample", self.assignment)}
        if self.groups is not None:
            coords["group"] = ("sample", np.asarray(self.groups))
        return xarray_module().DataArray(self.values, dims=("sample",), coords=coords, name=self.unit,
                                         attrs={"unit": self.unit, "kind": self.kind, "band_names": list(self.names)})

    @property
    def title(self) -> str:
        return f"Activation bands — {self.unit}"

    @property
    def n_samples(self) -> int:
        return int(self.values.shape[0])

    def index(self, name: str) -> int:
        if name not in self.names:
            raise InputError(f"no band named {name!r}; bands are {self.names}")
        return self.names.index(name)

    def mask(self, name: str) -> np.ndarray:
        """Boolean mask of the samples in band ``name``."""
        return self.assignment == self.index(name)

    def counts(self) -> dict[str, int]:
        return {nm: int((self.assignment == b).sum()) for b, nm in enumerate(self.names)}

    def examples(self, name: str, k: int = 8, *, seed: int = 0, order: str = "random") -> np.ndarray:
        """Sample ids of up to ``k`` members of a band (``order``: random, highest or lowest value)."""
        idx = np.flatnonzero(self.mask(name))
        if order == "random":
            rng = np.random.default_rng(seed)
            idx = rng.permutation(idx)[:k]
        elif order in ("highest", "lowest"):
            o = np.argsort(self.values[idx], kind="stable")
            idx = idx[o[::-1] if order == "highest" else o][:k]
        else:
            raise InputError(f"order={order!r} is not one of random, highest, lowest")
        return self.sample_ids[idx]

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(
            {
                "unit": self.unit,
                "kind": self.kind,
                "names": list(self.names),
                "counts": self.counts(),
                "edges": self.edges,
                "group_values": self.group_values,
                "n_samples": self.n_samples,
            }
        )

    def summary(self) -> str:
        c = self.counts()
        parts = ", ".join(f"{k}: {v}" for k, v in c.items())
        return (f"{self.unit}: {self.kind} bands over {self.n_samples} samples — {parts}. Look at the mid "
                f"band: samples the unit responds to only partly.")

    def table(self) -> tuple[list[str], list[list[Any]]]:
        rows = []
        for b, nm in enumerate(self.names):
            m = self.assignment == b
            lo = hi = float("nan")
            if self.edges.ndim == 1:
                lo, hi = float(self.edges[b]), float(self.edges[b + 1])
            rows.append(
                [
                    nm,
                    int(m.sum()),
                    _fmt(lo),
                    _fmt(hi),
                    _fmt(float(self.values[m].mean()) if m.any() else np.nan),
                ]
            )
        return ["band", "n", "lower edge", "upper edge", "mean value"], rows

    def plot(self, ax: Any = None):
        from repscope.results import colormap, subplots_in

        fig, ax = subplots_in(ax, figsize=(6, 3.2))
        v = self.values
        bins = np.histogram_bin_edges(v[np.isfinite(v)], bins=60)
        colours = colormap("viridis")(np.linspace(0.1, 0.9, len(self.names)))
        for b, nm in enumerate(self.names):
            ax.hist(
                v[self.assignment == b],
                bins=bins,
                color=colours[b],
                label=f"{nm} ({(self.assignment == b).sum()})",
            )
        if (self.assignment < 0).any():
            ax.hist(v[self.assignment < 0], bins=bins, color="lightgrey", label="outside")
        ax.set_xlabel("t (normalised logit)" if self.kind == "normalised" else "activation")
        ax.set_ylabel("samples")
        ax.set_title(self.title)
        ax.legend(fontsize=8)
        fig.tight_layout()
        return fig


def _fmt(x: float) -> str:
    return "" if not np.isfinite(x) else f"{x:.3g}"


def _check_edges(edges: Any, kind: str) -> np.ndarray:
    e = np.asarray(edges, dtype=np.float64).ravel()
    if e.size < 2:
        raise InputError(
            f"edges={list(e)} needs at least two values (one band); e.g. edges=(0, 30, 70, 95, 100)"
        )
    if np.isnan(e).any():
        raise InputError("edges contain NaN; pass numbers (±inf allowed for open ends)")
    if np.any(np.diff(e) <= 0):
        raise InputError(f"edges={list(e)} must be strictly increasing")
    if kind == "percentile" and (e[0] < 0 or e[-1] > 100):
        raise InputError(f"percentile edges={list(e)} must lie in [0, 100]")
    return e


def _assign(v: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Band index for values ``v`` and edges ``e``: [e_i, e_{i+1}), last band closed on the right;
    values outside [e_0, e_last] get −1."""
    b = np.searchsorted(e, v, side="right") - 1
    b = np.where(v == e[-1], len(e) - 2, b)
    b[(v < e[0]) | (v > e[-1])] = -1
    return b.astype(np.int64)


def bands(
    scores: ArrayLike,
    *,
    kind: str = "percentile",
    edges: Any = None,
    names: Any = None,
    groups: ArrayLike | None = None,
    unit: str = "unit",
    sample_ids: Any = None,
) -> Bands:
    """Split samples into bands of a scalar unit.

    Parameters
    ----------
    scores : (n,) array — the unit's values (see :func:`unit_scores`), or ``t`` values.
    kind : ``"percentile"`` (edges are percentiles, 0–100, of ``scores``; default edges 0/30/70/95/100 →
        low/mid/high/top) or ``"value"`` (edges are raw values; ±inf allowed).
    groups : optional (n,) labels; with percentile bands the edges are computed within each group
        (e.g. per class), so "top" means the top 5 % *of that class*.
    names : band names (default ``band0…`` or low/mid/high/top for the default edges).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import bands
    >>> b = bands(np.arange(100.0))              # default percentile edges 0/30/70/95/100
    >>> b.names, b.counts()
    (['low', 'mid', 'high', 'top'], {'low': 30, 'mid': 40, 'high': 25, 'top': 5})
    >>> bands([0.1, 0.5, 0.9], kind="value", edges=[0, 0.4, 1], names=["off", "on"]).assignment.tolist()
    [0, 1, 1]
    """
    if kind not in ("percentile", "value", "normalised"):
        raise InputError(f"kind={kind!r} is not one of 'percentile', 'value', 'normalised'")
    s = _as_1d(scores, "scores").astype(np.float64)
    n = s.shape[0]
    if n < 1:
        raise InputError("scores is empty; pass at least one sample")
    if not np.isfinite(s).all():
        raise InputError("scores contain NaN or Inf; remove those samples first")
    if edges is None:
        if kind != "percentile":
            raise InputError(f"kind={kind!r} needs explicit edges, e.g. edges=(-np.inf, 0.3, 0.7, np.inf)")
        edges = DEFAULT_PERCENTILE_EDGES
        names = DEFAULT_PERCENTILE_NAMES if names is None else names
    e = _check_edges(edges, "percentile" if kind == "percentile" else "value")
    nb = e.size - 1
    if names is None and kind == "percentile" and np.array_equal(e, DEFAULT_PERCENTILE_EDGES):
        names = DEFAULT_PERCENTILE_NAMES
    names = [f"band{i}" for i in range(nb)] if names is None else [str(x) for x in names]
    if len(names) != nb:
        raise InputError(f"{len(names)} names given for {nb} bands (edges={list(e)}); give one name per band")
    if len(set(names)) != nb:
        raise InputError(f"band names {names} are not unique")
    ids = np.arange(n) if sample_ids is None else _as_1d(sample_ids, "sample_ids", n)

    if groups is None or kind != "percentile":
        if kind == "percentile":
            ve = np.percentile(s, e)
            ve = np.maximum.accumulate(ve)
            assign = _assign(s, ve)
        else:
            ve = e
            assign = _assign(s, ve)
        g_arr = None if groups is None else _as_1d(groups, "groups", n)
        return Bands(unit, kind, names, s, assign, ve, ids, None, g_arr)

    g = _as_1d(groups, "groups", n)
    gv = np.unique(g)
    E = np.empty((gv.size, nb + 1))
    assign = np.full(n, -1, dtype=np.int64)
    for j, val in enumerate(gv):
        m = g == val
        E[j] = np.maximum.accumulate(np.percentile(s[m], e))
        assign[m] = _assign(s[m], E[j])
    return Bands(unit, kind, names, s, assign, E, ids, gv, g)


def logit_bands(
    logits: ArrayLike,
    unit: int,
    *,
    edges: Any = DEFAULT_T_EDGES,
    names: Any = None,
    top_percentile: float | None = 95.0,
    pred: Any = None,
    sample_ids: Any = None,
    unit_name: str | None = None,
) -> Bands:
    """Normalised-logit bands for output unit ``unit`` (see :func:`normalised_logits`).

    ``edges`` are inner ``t`` cut points (default 0.3, 0.7 → low / mid / high; the outer edges are
    ±inf). With ``top_percentile`` (default 95) the samples at or above that percentile of ``t`` —
    and above the last inner edge — form an extra ``top`` band taken out of ``high``.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.ranges import logit_bands
    >>> rng = np.random.default_rng(0)
    >>> logits = rng.normal(size=(200, 3)) + 3 * np.eye(3)[rng.integers(0, 3, 200)]
    >>> b = logit_bands(logits, unit=1)
    >>> b.names, b.kind
    (['low', 'mid', 'high', 'top'], 'normalised')
    """
    Z = as_2d(logits, "logits", min_samples=2)
    t = normalised_logits(Z, [unit], pred=pred)[:, 0]
    inner = np.asarray(edges, dtype=np.float64).ravel()
    if inner.size < 1 or np.any(np.diff(inner) <= 0) or not np.isfinite(inner).all():
        raise InputError(
            f"edges={list(inner)} must be finite, strictly increasing inner t cut points, e.g. (0.3, 0.7)"
        )
    e = np.concatenate([[-np.inf], inner, [np.inf]])
    if names is None:
        names = list(DEFAULT_T_NAMES) if inner.size == 2 else [f"band{i}" for i in range(inner.size + 1)]
    names = [str(x) for x in names]
    if top_percentile is not None:
        if not (0 < top_percentile < 100):
            raise InputError(f"top_percentile={top_percentile} must be in (0, 100), or None for no top band")
        cut = max(float(np.percentile(t, top_percentile)), float(inner[-1]))
        if cut <= inner[-1]:
            cut = np.nextafter(inner[-1], np.inf)
        e = np.concatenate([e[:-1], [cut, np.inf]])
        if len(names) == e.size - 2:
            names = names + ["top"]
    if len(names) != e.size - 1:
        raise InputError(f"{len(names)} names given for {e.size - 1} bands; give one name per band")
    b = bands(t, kind="value", edges=e, names=names, sample_ids=sample_ids, unit=unit_name or f"logit {unit}")
    b.kind = "normalised"
    return b
