"""The similarity lens on any store: layer × layer matrices for a default set of measures, and RSA of every
layer against the label structure when the store has labels.

``analyse(store)`` → :class:`MetricsAnalysis`. Label RSA (Kriegeskorte et al. 2008): the model RDM of the
labels is ``d_ij = 1[y_i ≠ y_j]``; each layer's correlation-distance RDM is compared with it by Spearman's
ρ over the upper triangle (ties averaged). Because the label RDM has only two values, ρ cannot reach 1 for a
layer whose dissimilarities have no ties: its ceiling is √(3 m₀m₁/(m² − 1)) (m pairs, m₀ of them within a
class; :func:`repscope.metrics.categorical_ceiling`) — 0.5186 for 2000 samples of 10 balanced classes.
Values are read against that ceiling (``ceiling``, ``normalised`` = ρ / ceiling): at the ceiling the layer
ranks every within-class pair as closer than every between-class pair; near 0 its geometry ignores the
labels. Only a layer with tied dissimilarities (one that maps each class to a single point) can exceed it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.lenses import protocol as lens
from repscope.results import ResultBase, axes_figure, to_jsonable

__all__ = ["DEFAULTS", "DEFAULT_METRICS", "LabelRSA", "MetricsAnalysis", "SimilarityDefaults", "analyse", "applies",
           "label_rsa", "similarity_matrices"]

#: Measures of the default report, each with a one-sentence reading of what it measures.
DEFAULT_METRICS: dict[str, str] = {
    "linear_cka": "Linear CKA: same overall geometry up to rotation and scale (1 = identical).",
    "debiased_cka": "Debiased CKA: the same with the unbiased HSIC estimator (unrelated layers near 0).",
    "procrustes": "Procrustes: angle (radians) left after the best rotation of one layer onto the other.",
    "svcca": "SVCCA: mean canonical correlation of the components explaining 99% of each layer's variance.",
    "rsa": "RSA: Spearman correlation of the two layers' sample × sample dissimilarity matrices.",
    "mutual_knn": "Mutual k-NN: average share of each sample's 10 nearest neighbours both layers agree on.",
}
_QUADRATIC = ("rsa", "mutual_knn")


@dataclass(frozen=True)
class SimilarityDefaults:
    """The similarity lens's defaults — one set for ``repscope compare``, :func:`analyse` and the report: the
    measures, and the largest sample count the O(n²) measures (``rsa``, ``mutual_knn``, label RSA) use before
    they take a seeded subsample. Sequence layers always enter as their mean over real tokens."""

    metrics: tuple[str, ...] = field(default_factory=lambda: tuple(DEFAULT_METRICS))
    max_quadratic_samples: int = 2000


DEFAULTS = SimilarityDefaults()


@dataclass
class LabelRSA(ResultBase):
    """Spearman ρ between each layer's RDM and the label RDM (1 where labels differ, 0 where equal), with
    ``ceiling``: the largest ρ any layer RDM without tied dissimilarities can reach against this label RDM
    (:func:`repscope.metrics.categorical_ceiling`; NaN when unknown).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import label_rsa
    >>> labels = np.repeat([0, 1, 2], 5)
    >>> res = label_rsa({"onehot": np.eye(3)[labels]}, labels)
    >>> res.layers, res.n_classes, round(float(res.rho[0]), 6)   # one-hot codes: RDM = label RDM
    (['onehot'], 3, 1.0)
    """

    layers: list[str]
    rho: np.ndarray
    n_samples: int
    n_classes: int
    ceiling: float = float("nan")

    @property
    def title(self) -> str:
        return "RSA against the label structure"

    @property
    def best(self) -> str:
        return self.layers[int(np.nanargmax(self.rho))]

    @property
    def normalised(self) -> np.ndarray:
        """ρ / ceiling: 1 = the layer ranks every within-class pair below every between-class pair."""
        return np.asarray(self.rho, dtype=np.float64) / self.ceiling

    def _ceiling_text(self) -> str:
        if not np.isfinite(self.ceiling):
            return ""
        over = [la for la, r in zip(self.layers, self.rho) if r > self.ceiling + 1e-9]
        text = (f" With {self.n_classes} classes the label RDM has only two values, so ρ is capped at "
                f"{self.ceiling:.4f} for a layer without tied dissimilarities (every same-label pair closer than "
                f"every different-label pair); as a share of that ceiling: {self.layers[0]} "
                f"{self.normalised[0]:.2f} → {self.layers[-1]} {self.normalised[-1]:.2f}.")
        if over:
            text += (f" {', '.join(over)} exceed(s) the ceiling: their dissimilarities are tied (classes "
                     f"collapsed to points), which only a layer with ties can do.")
        return text

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({"layers": self.layers, "rho": self.rho, "n_samples": self.n_samples,
                            "n_classes": self.n_classes, "best_layer": self.best,
                            "ceiling": self.ceiling if np.isfinite(self.ceiling) else None,
                            "ceiling_means": "largest Spearman ρ a layer RDM without ties can reach against "
                                             "this two-valued label RDM",
                            "normalised": self.normalised if np.isfinite(self.ceiling) else None})

    def summary(self) -> str:
        i = int(np.nanargmax(self.rho))
        return (f"Spearman ρ between each layer's dissimilarities and 'same label or not' over {self.n_samples} "
                f"samples of {self.n_classes} classes: {self.layers[0]} {self.rho[0]:.2f} → {self.layers[-1]} "
                f"{self.rho[-1]:.2f}; highest at {self.layers[i]} ({self.rho[i]:.2f}).{self._ceiling_text()} "
                f"Look at where the bars rise towards the dashed ceiling line: that is where the layers start to "
                f"group samples by label.")

    def table(self) -> tuple[list[str], list[list[Any]]]:
        if not np.isfinite(self.ceiling):
            return ["layer", "Spearman ρ with label RDM"], [[la, f"{r:.3f}"] for la, r in zip(self.layers, self.rho)]
        return (["layer", "Spearman ρ with label RDM", f"ρ / ceiling ({self.ceiling:.4f})"],
                [[la, f"{r:.3f}", f"{r / self.ceiling:.3f}"] for la, r in zip(self.layers, self.rho)])

    def _ylim(self) -> tuple[float, float]:
        return min(0.0, float(np.nanmin(self.rho)) - 0.05), max(1.0, float(np.nanmax(self.rho)) + 0.02)

    def plot(self, ax: Any = None) -> Any:
        fig, ax = axes_figure(ax, (min(3 + 0.6 * len(self.layers), 12), 3.4))
        ax.bar(range(len(self.layers)), self.rho, color="#3b6ea8")
        ax.set_xticks(range(len(self.layers)), self.layers, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("Spearman ρ (layer RDM vs label RDM)", fontsize=8)
        ax.set_xlabel("layer")
        lo, hi = self._ylim()
        ax.set_ylim(lo, hi)
        c = self.ceiling
        if np.isfinite(c):
            ax.axhspan(c, hi, color="0.88", zorder=0, label="unreachable without tied dissimilarities")
            ax.axhline(c, color="k", ls="--", lw=1, label=f"ceiling {c:.4f} ({self.n_classes} classes)")
            sec = ax.secondary_yaxis("right", functions=(lambda v: v / c, lambda v: v * c))
            sec.set_ylabel("ρ / ceiling", fontsize=8)
            ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.02), fontsize=7, ncol=2, frameon=False)
        ax.set_title(self.title, pad=22 if np.isfinite(c) else 6)
        fig.tight_layout()
        return fig

    def plotly(self) -> Any:
        import html

        import plotly.graph_objects as go

        lo, hi = self._ylim()
        fig = go.Figure(go.Bar(x=[html.escape(x) for x in self.layers], y=self.rho.tolist(), name="ρ"))
        if np.isfinite(self.ceiling):
            c = self.ceiling
            fig.add_hrect(y0=c, y1=hi, fillcolor="lightgrey", opacity=0.4, line_width=0, layer="below")
            fig.add_hline(y=c, line_dash="dash", line_color="black",
                          annotation_text=f"ceiling {c:.4f} ({self.n_classes} classes, no ties)",
                          annotation_position="top left")
        fig.update_layout(title=self.title, yaxis={"title": "Spearman ρ", "range": [lo, hi]},
                          xaxis={"title": "layer"}, height=360)
        return fig


def label_rsa(arrays: dict[str, np.ndarray], labels: ArrayLike) -> LabelRSA:
    """:class:`LabelRSA` of ``{layer: (n, d)}`` against ``labels`` (n,) — at least 2 classes, 3 samples.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import label_rsa
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([0, 1], 10)
    >>> res = label_rsa({"class": np.eye(2)[labels] + 0.01 * rng.normal(size=(20, 2)),
    ...                  "noise": rng.normal(size=(20, 2))}, labels)
    >>> bool(res.rho[0] > 0.5 > abs(res.rho[1]))        # the class-coding layer matches the label RDM
    True
    """
    from repscope.metrics._rsa import categorical_ceiling, compare_rdms, rdm

    y = np.asarray(labels).reshape(-1)
    classes = np.unique(y)
    if classes.size < 2:
        raise InputError(f"label RSA needs at least 2 classes; the labels hold {classes.size}")
    if y.size < 3:
        raise InputError(f"label RSA needs at least 3 samples; got {y.size}")
    iu = np.triu_indices(y.size, 1)
    model = (y[:, None] != y[None, :])[iu].astype(np.float64)
    if model.min() == model.max():
        raise InputError(f"every one of the {y.size} samples has its own label, so the label RDM is constant; "
                         "label RSA needs a class with at least 2 samples")
    names = list(arrays)
    rho = np.array([compare_rdms(rdm(arrays[k]), model, "spearman") for k in names])
    return LabelRSA(names, rho, int(y.size), int(classes.size), categorical_ceiling(y, "spearman"))


class MetricsAnalysis(lens.LensAnalysis):
    """What the similarity lens found on one store (:func:`analyse`): result objects, a reading, notes, layers.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import MetricsAnalysis, layer_matrix
    >>> m = layer_matrix({"a": np.eye(4), "b": 2 * np.eye(4)})
    >>> res = MetricsAnalysis(results=[m], reading="a and b agree", layers=["a", "b"])
    >>> res.lens, res.summary(), res.to_dict()["layers"]
    ('similarity', 'a and b agree', ['a', 'b'])
    """

    lens = "similarity"

    @property
    def matrices(self) -> list[Any]:
        return [r for r in self.results if type(r).__name__ in ("LayerMatrix", "MatrixResult")]


def applies(store: Any) -> str | None:
    """None when layer matrices can be computed, else why not.

    Examples
    --------
    >>> from repscope.experiments.datasets.toy import toy_store
    >>> store, tmp = toy_store()              # 60 samples, 3 classes: fc1 (Linear), relu, fc2 (Linear)
    >>> from repscope.metrics import applies
    >>> applies(store) is None                   # three layers: layer × layer matrices can be computed
    True
    >>> tmp.cleanup()
    """
    n_layers = len(list(store.layers))
    if n_layers < 2:
        return (f"layer × layer similarity needs at least two layers; the store holds {n_layers} "
                f"({', '.join(store.layers)}) — capture more layers (repscope capture --layers A,B; API: "
                f"capture(model, data, layers=[...]))")
    if int(store.n_samples) < 4:
        return (f"the store holds {store.n_samples} samples; similarity measures need at least 4 — capture more "
                f"inputs (a longer --data)")
    return None


def _arrays_for(store: Any, layers: list[str], rows: np.ndarray | None) -> dict[str, np.ndarray]:
    view = lens.VectorView(store, rows)
    return {lay: np.asarray(view.read(lay)) for lay in layers}


def _metric_names(metrics: Any) -> list[str]:
    from repscope.metrics import registry

    names = list(DEFAULTS.metrics) if metrics is None else (
        [m.strip() for m in metrics.split(",") if m.strip()] if isinstance(metrics, str) else list(metrics))
    if not names:
        raise InputError("no measure given; choose from repscope.metrics.available() (repscope compare --list)")
    for m in names:
        registry.get(m)  # unknown names raise with the list
    return names


def _subsample(store: Any, other: Any, n_max: int, seed: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Seeded rows of ``store`` for the O(n²) measures (None = all) and the rows of ``other`` holding the same
    samples (matched by sample id, as :func:`~repscope.metrics.layer_matrices` matches them)."""
    n = int(store.n_samples)
    if n <= n_max:
        return None, None
    sub = np.sort(np.random.default_rng(seed).choice(n, n_max, replace=False))
    if other is None:
        return sub, None
    from repscope.metrics._layer_matrix import _match, _Source

    perm = _match(_Source(store, "source_a"), _Source(other, "source_b"))
    return sub, (sub if perm is None else perm[sub])


def similarity_matrices(
    store: Any,
    other: Any = None,
    *,
    metrics: Any = None,
    layers: Any = None,
    seed: int = 0,
    max_quadratic_samples: int = DEFAULTS.max_quadratic_samples,
    scheduler: Any = None,
    n_workers: int | None = None,
    device: Any = None,
    progress: bool = True,
    n_boot: int = 0,
    ci: float = 0.95,
    n_perm: int = 0,
    formulation: str = "auto",
) -> tuple[list[Any], list[str], np.ndarray | None]:
    """The similarity lens's layer × layer matrices — what :func:`analyse` (the report) and ``repscope compare``
    both show: ``(matrices, notes, rows)``, ``rows`` being the subsample of the O(n²) measures (None = all).

    ``metrics`` (default ``DEFAULTS.metrics``) over ``layers`` (default all; with ``other``, the same names in
    both stores), within ``store`` or between ``store`` (rows) and ``other`` (columns, matched by sample id).
    Sequence layers ``(T, D)`` enter as their mean over real steps (:class:`repscope.lenses.protocol.VectorView`).
    The linear measures use every sample in one streamed pass; ``rsa`` and ``mutual_knn`` a seeded subsample of
    ``max_quadratic_samples`` when there are more. ``n_boot``/``ci``/``n_perm`` add bootstrap intervals and
    permutation p-values (:func:`repscope.metrics.layer_matrices`), seeded by ``seed``; ``formulation`` picks
    the linear measures' route (:func:`repscope.metrics.layer_matrix`)."""
    from repscope.metrics._layer_matrix import layer_matrices

    names = _metric_names(metrics)
    if int(max_quadratic_samples) < 4:
        raise InputError(f"max_quadratic_samples={max_quadratic_samples}; give at least 4 samples")
    chosen = lens.select(store, layers, what="similarity")
    notes: list[str] = []
    for s in (store, other):
        seqs = [] if s is None else [lay for lay in lens.select(s, layers) if lens.layer_kind(s, lay) == "sequence"]
        note = lens.sequence_note(s, seqs) if seqs else None
        if note is not None:
            notes.append(note)
    sub, sub_other = _subsample(store, other, int(max_quadratic_samples), seed)
    linear = [m for m in names if m not in _QUADRATIC]
    quad = [m for m in names if m in _QUADRATIC]
    common = {"layers": chosen if other is None or layers is not None else None, "scheduler": scheduler,
              "n_workers": n_workers, "device": device, "progress": progress, "n_boot": n_boot, "ci": ci,
              "n_perm": n_perm, "seed": seed}
    results: list[Any] = []
    if linear:
        results += layer_matrices(lens.VectorView(store), None if other is None else lens.VectorView(other),
                                  metrics=linear, formulation=formulation, **common)
    if quad:
        if sub is not None:
            notes.append(f"{', '.join(quad)} on a seeded subsample of {sub.size} of {store.n_samples} samples")
        results += layer_matrices(lens.VectorView(store, sub),
                                  None if other is None else lens.VectorView(other, sub_other), metrics=quad,
                                  **common)
    order = {m: i for i, m in enumerate(names)}
    results.sort(key=lambda r: order[r.metric])
    for r in results:
        r.description = DEFAULT_METRICS.get(r.metric, r.description)
        r.value_range = r.value_range or _range_of(r.metric)
    return results, notes, sub


def analyse(
    store: Any,
    *,
    layers: Any = None,
    seed: int = 0,
    scheduler: Any = None,
    n_workers: int | None = None,
    device: Any = None,
    progress: bool = True,
    metrics: Any = None,
    max_quadratic_samples: int = DEFAULTS.max_quadratic_samples,
    labels_rsa: bool = True,
    formulation: str = "auto",
) -> MetricsAnalysis:
    """Layer × layer matrices of ``metrics`` (default ``DEFAULTS.metrics``: :data:`DEFAULT_METRICS`) over
    ``layers`` (default all) — :func:`similarity_matrices`, the numbers ``repscope compare STORE`` prints —
    plus :class:`LabelRSA` when the store has labels of ≥ 2 classes.

    Sequence layers ``(T, D)`` enter as their mean over real steps (``n_tokens``; without it over all
    positions, with a warning in the notes — :func:`repscope.lenses.protocol.sequence_note`). The O(n²)
    measures (``rsa``, ``mutual_knn``) and the label RSA use a seeded subsample of ``max_quadratic_samples``
    rows when the store holds more. ``scheduler``/``n_workers`` go to the generic measures, ``device`` to the
    streamed linear ones; ``formulation`` too (``"auto"``: d×d covariance or n×n Gram route, whichever is
    cheaper — few samples of wide layers take the Gram route; see :mod:`repscope.metrics.gram`).

    Examples
    --------
    >>> from repscope.experiments.datasets.toy import toy_store
    >>> store, tmp = toy_store()              # 60 samples, 3 classes: fc1 (Linear), relu, fc2 (Linear)
    >>> from repscope.metrics import analyse
    >>> res = analyse(store, metrics=["linear_cka"], progress=False, labels_rsa=False)
    >>> res.layers, res.results[0].values.shape
    (['fc1', 'relu', 'fc2'], (3, 3))
    >>> tmp.cleanup()
    """

    t0 = time.perf_counter()
    reason = applies(store)
    if reason:
        raise InputError(reason)
    chosen = lens.select(store, layers, what="similarity")
    if len(chosen) < 2:
        raise InputError(f"layers={chosen}: layer × layer similarity needs at least two layers")
    names = _metric_names(metrics)
    results, mnotes, sub = similarity_matrices(
        store, metrics=names, layers=chosen, seed=seed, max_quadratic_samples=max_quadratic_samples,
        scheduler=scheduler, n_workers=n_workers, device=device, progress=progress,
        formulation=formulation)
    notes: list[str] = [n for n in [lens.order_note(store)] if n] + mnotes
    y = getattr(store, "labels", None)
    lrsa = None
    if labels_rsa and y is not None:
        y = np.asarray(y)
        if np.unique(y).size < 2:
            notes.append("skipped RSA against labels: every sample has the same label")
        else:
            arrs = _arrays_for(store, chosen, sub)
            lrsa = label_rsa(arrs, y if sub is None else y[sub])
            results.append(lrsa)
    elif labels_rsa:
        notes.append("skipped RSA against labels: the store has no labels (capture with labels=)")
    out = MetricsAnalysis(results=results, notes=notes, layers=chosen,
                          params={"metrics": names, "seed": seed, "max_quadratic_samples": max_quadratic_samples})
    out.reading = _reading(out, lrsa)
    out.seconds = time.perf_counter() - t0
    return out


def _range_of(metric: str) -> tuple[float, float] | None:
    return {"linear_cka": (0.0, 1.0), "svcca": (0.0, 1.0), "mutual_knn": (0.0, 1.0),
            "procrustes": (0.0, float(np.pi / 2))}.get(metric)


def _reading(a: MetricsAnalysis, lrsa: LabelRSA | None) -> str:
    parts = []
    cka = next((r for r in a.results if getattr(r, "metric", "") == "linear_cka"), None)
    if cka is not None and len(cka.rows) >= 2:
        V = np.asarray(cka.values)
        adj = np.array([V[i, i + 1] for i in range(len(cka.rows) - 1)])
        k = int(np.argmin(adj))
        parts.append(
            f"Linear CKA between neighbouring layers ranges {adj.min():.2f}–{adj.max():.2f}; the largest change "
            f"of representation is between {cka.rows[k]} and {cka.rows[k + 1]} (CKA {adj[k]:.2f}); first vs "
            f"last layer: {V[0, -1]:.2f}.")
    if lrsa is not None:
        parts.append(
            f"Label structure: RSA with 'same label or not' goes from {lrsa.rho[0]:.2f} ({lrsa.layers[0]}) to "
            f"{lrsa.rho[-1]:.2f} ({lrsa.layers[-1]}), highest at {lrsa.best} ({np.nanmax(lrsa.rho):.2f})"
            + (f", out of a ceiling of {lrsa.ceiling:.2f} for {lrsa.n_classes} classes ({lrsa.layers[0]} "
               f"{lrsa.normalised[0]:.0%} → {lrsa.layers[-1]} {lrsa.normalised[-1]:.0%} of it; a layer without tied "
               f"dissimilarities cannot exceed it)." if np.isfinite(lrsa.ceiling) else "."))
    return " ".join(parts)
