"""Many networks in one metric space: network × network distances, classical MDS, Fréchet means.

The headline use of shape metrics (Williams et al. 2021, NeurIPS, §4; netrep ``pairwise_distances`` and
``frechet_mean``): because a shape distance is a *metric*, a collection of K networks (or layers, or
training checkpoints) becomes K points of one metric space. :func:`network_embedding` computes the K×K
matrix of a registered distance (``procrustes``, ``shape_metric``, ``permutation``, ``gaussian_shape``,
``energy_shape``, ...) and places the networks in the plane by classical (Torgerson) MDS:

    B = −½ J D∘D J,   J = I − 11ᵀ/K,   B = V Λ Vᵀ,   coordinates = V_k Λ_k^{1/2}   (k largest λ > 0).

The embedding is exact (up to rotation) when D is Euclidean; ``negative_mass`` = Σ|λ<0| / Σ|λ| says
how far from Euclidean D is (angular shape distances are metrics on a sphere, not Euclidean).

:func:`frechet_mean` estimates the Fréchet (Karcher) mean of K equally shaped representations under
the alignment group G: X̄ = argmin_M Σᵢ min_{Tᵢ∈G} ‖Xᵢ Tᵢ − M‖²_F, by generalised Procrustes analysis
(Gower 1975): align every Xᵢ to the current mean, average, repeat until the mean moves by less than
``tol`` (RMS per entry). Each step cannot increase the objective. netrep ``frechet_mean(method=
"full_batch")`` runs the same iteration but starts from a *view* of a randomly chosen network (unseeded
``np.random``) that it then overwrites with the running sum, so that network's data is lost from the
average (and a 3-D input array is modified in place): on three noisy rotated copies (40×4) it stopped at
a sum of squared distances of 36–82 where the mean's is 27. repscope starts from a copy of the first
network (or ``init=``); with netrep's ``warmstart`` set to a copy of the same start the two agree to 1e-14.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.metrics._common import check_choice
from repscope.metrics.permutation import GROUPS, align
from repscope.results import ResultBase

__all__ = ["classical_mds", "network_embedding", "NetworkEmbedding", "frechet_mean", "FrechetMean"]


def classical_mds(D: ArrayLike, n_components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Classical (Torgerson) MDS of a symmetric distance matrix D (K×K, zero diagonal):
    returns (coordinates (K, n_components), all eigenvalues of B = −½ J D² J, descending).
    Components with λ ≤ 0 get zero coordinates.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.spatial.distance import pdist, squareform
    >>> from repscope.metrics import classical_mds
    >>> P = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    >>> coords, eig = classical_mds(squareform(pdist(P)), n_components=2)
    >>> np.allclose(squareform(pdist(coords)), squareform(pdist(P)))    # Euclidean distances recovered
    True
    """
    D = np.asarray(D, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != D.shape[1] or D.shape[0] < 2:
        raise InputError(f"D has shape {D.shape}; classical MDS needs a square K×K distance matrix, K ≥ 2")
    if not np.isfinite(D).all():
        raise InputError("D contains NaN or Inf; every pair needs a finite distance")
    if not np.allclose(D, D.T, atol=1e-10 * max(1.0, float(np.abs(D).max()))) or np.any(np.diag(D) != 0):
        raise InputError("D must be symmetric with a zero diagonal (a distance matrix)")
    if np.any(D < 0):
        raise InputError("D has negative entries; distances are ≥ 0")
    K = D.shape[0]
    J = np.eye(K) - 1.0 / K
    B = -0.5 * J @ (D * D) @ J
    lam, V = np.linalg.eigh(0.5 * (B + B.T))
    lam, V = lam[::-1], V[:, ::-1]
    k = int(min(n_components, K))
    coords = np.zeros((K, int(n_components)))
    pos = np.maximum(lam[:k], 0.0)
    coords[:, :k] = V[:, :k] * np.sqrt(pos)[None, :]
    return coords, lam


@dataclass
class NetworkEmbedding(ResultBase):
    """K networks as points: their pairwise ``distances`` under ``metric`` and a classical-MDS layout.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import network_embedding
    >>> rng = np.random.default_rng(0)
    >>> emb = network_embedding([rng.normal(size=(20, 3)) for _ in range(4)], n_components=2)
    >>> emb.coords.shape, emb.distances.shape
    ((4, 2), (4, 4))
    """

    names: list[str]
    distances: np.ndarray
    coords: np.ndarray
    eigenvalues: np.ndarray
    metric: str
    params: dict[str, Any] = field(default_factory=dict)

    title = "Networks in one metric space"

    @property
    def negative_mass(self) -> float:
        """Σ|λ<0| / Σ|λ|: 0 when the distances are Euclidean (the layout is then exact)."""
        tot = float(np.abs(self.eigenvalues).sum())
        return float(np.abs(self.eigenvalues[self.eigenvalues < 0]).sum() / tot) if tot > 0 else 0.0

    @property
    def explained(self) -> float:
        """Share of the positive eigenvalue mass shown by the layout's components."""
        pos = self.eigenvalues[self.eigenvalues > 0]
        k = self.coords.shape[1]
        return float(pos[:k].sum() / pos.sum()) if pos.size else 0.0

    def to_dict(self) -> dict[str, Any]:
        from repscope.results import to_jsonable

        return to_jsonable({
            "metric": self.metric, "names": self.names, "distances": self.distances, "coords": self.coords,
            "eigenvalues": self.eigenvalues, "negative_mass": self.negative_mass,
            "explained": self.explained, "params": self.params,
        })

    def table(self) -> tuple[list[str], list[list[str]]]:
        return ["", *self.names], [[a, *[f"{v:.4f}" for v in row]] for a, row in zip(self.names, self.distances)]

    def summary(self) -> str:
        K = len(self.names)
        iu = np.triu_indices(K, 1)
        i = int(np.argmin(self.distances[iu]))
        j = int(np.argmax(self.distances[iu]))
        return (
            f"{K} networks compared by {self.metric}. Closest: {self.names[iu[0][i]]} / {self.names[iu[1][i]]} "
            f"({self.distances[iu][i]:.4g}); farthest: {self.names[iu[0][j]]} / {self.names[iu[1][j]]} "
            f"({self.distances[iu][j]:.4g}). The {self.coords.shape[1]}-D MDS layout shows "
            f"{100 * self.explained:.0f}% of the positive eigenvalue mass; non-Euclidean part "
            f"{100 * self.negative_mass:.1f}%."
        )

    def plot(self, ax: Any = None) -> Any:
        from repscope.results import axes_figure

        fig, ax = axes_figure(ax, (5.5, 4.5))  # a plain Figure, never pyplot
        x = self.coords[:, 0]
        y = self.coords[:, 1] if self.coords.shape[1] > 1 else np.zeros_like(x)
        ax.scatter(x, y, s=40)
        for name, xi, yi in zip(self.names, x, y):
            ax.annotate(name, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_xlabel("MDS 1")
        ax.set_ylabel("MDS 2")
        ax.set_title(f"{self.metric}: classical MDS of {len(self.names)} networks")
        ax.set_aspect("equal", adjustable="datalim")
        fig.tight_layout()
        return fig

    def plotly(self) -> Any:
        import plotly.graph_objects as go

        y = self.coords[:, 1] if self.coords.shape[1] > 1 else np.zeros(len(self.names))
        fig = go.Figure(go.Scatter(x=self.coords[:, 0].tolist(), y=y.tolist(), mode="markers+text",
                                   text=list(self.names), textposition="top center"))
        fig.update_layout(title=f"{self.metric}: classical MDS", xaxis_title="MDS 1", yaxis_title="MDS 2")
        return fig


def _named(reps: Sequence[Any] | Mapping[str, Any]) -> tuple[list[str], list[Any]]:
    if isinstance(reps, Mapping):
        names, items = [str(k) for k in reps], list(reps.values())
    else:
        items = list(reps)
        names = [f"net{i}" for i in range(len(items))]
    if len(items) < 2:
        raise InputError(f"got {len(items)} network(s); embedding needs at least 2")
    return names, items


def network_embedding(
    reps: Sequence[Any] | Mapping[str, Any],
    metric: str = "procrustes",
    *,
    n_components: int = 2,
    **kw: Any,
) -> NetworkEmbedding:
    """Distances between every pair of K networks under a registered *distance* ``metric`` (keyword
    arguments go to it), then their classical-MDS layout (:class:`NetworkEmbedding`). ``reps`` is a
    list of arrays (names net0, net1, …) or a ``{name: array}`` mapping; each array is what the metric
    takes ((n, d) for procrustes/permutation/shape_metric, (n, repeats, d) for the stochastic ones).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import network_embedding
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 4))
    >>> emb = network_embedding({"a": X, "a_again": X + 1.0, "other": rng.normal(size=(30, 4))})
    >>> emb.names, round(float(emb.distances[0, 1]), 6)
    (['a', 'a_again', 'other'], 0.0)
    """
    from repscope.metrics.registry import get

    measure = get(metric)
    if measure.kind != "distance":
        raise InputError(
            f"{metric!r} is a similarity; an embedding needs a metric distance — use procrustes, "
            f"shape_metric, permutation, gaussian_shape or energy_shape"
        )
    names, items = _named(reps)
    K = len(items)
    D = np.zeros((K, K))
    for i in range(K):
        for j in range(i + 1, K):
            D[i, j] = D[j, i] = float(measure.func(items[i], items[j], **kw))
    coords, lam = classical_mds(D, n_components)
    return NetworkEmbedding(names=names, distances=D, coords=coords, eigenvalues=lam, metric=metric,
                            params={k: v for k, v in kw.items() if isinstance(v, int | float | str)})


@dataclass
class FrechetMean(ResultBase):
    """Fréchet mean of K representations: the ``mean`` (n×d), each network ``aligned`` to it, the
    squared distances ‖XᵢTᵢ − X̄‖² and the RMS change per iteration.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import frechet_mean
    >>> rng = np.random.default_rng(0)
    >>> fm = frechet_mean({"a": rng.normal(size=(20, 3)), "b": rng.normal(size=(20, 3))})
    >>> fm.names, fm.mean.shape, len(fm.aligned)
    (['a', 'b'], (20, 3), 2)
    """

    mean: np.ndarray
    aligned: list[np.ndarray]
    sq_distances: np.ndarray
    changes: list[float]
    converged: bool
    group: str
    names: list[str]

    title = "Fréchet mean of networks"

    @property
    def objective(self) -> float:
        return float(self.sq_distances.sum())

    def to_dict(self) -> dict[str, Any]:
        from repscope.results import to_jsonable

        return to_jsonable({"group": self.group, "names": self.names, "sq_distances": self.sq_distances,
                            "objective": self.objective, "changes": self.changes, "converged": self.converged,
                            "shape": list(self.mean.shape)})

    def summary(self) -> str:
        state = "converged" if self.converged else "stopped at the iteration limit"
        far = self.names[int(np.argmax(self.sq_distances))]
        return (f"Fréchet mean of {len(self.names)} networks under group {self.group}, {state} after "
                f"{len(self.changes)} iterations; Σ squared distance {self.objective:.4g}; farthest "
                f"from the mean: {far}.")

    def table(self) -> tuple[list[str], list[list[str]]]:
        return ["network", "‖XT − X̄‖²"], [[n, f"{v:.6g}"] for n, v in zip(self.names, self.sq_distances)]

    def plot(self, ax: Any = None) -> Any:
        from repscope.results import axes_figure

        fig, ax = axes_figure(ax, (5, 3.5))  # a plain Figure, never pyplot
        ax.bar(range(len(self.names)), self.sq_distances)
        ax.set_xticks(range(len(self.names)), self.names, rotation=45, ha="right")
        ax.set_ylabel("squared distance to the mean")
        ax.set_title(f"Fréchet mean ({self.group})")
        fig.tight_layout()
        return fig

    def plotly(self) -> Any:
        import plotly.graph_objects as go

        fig = go.Figure(go.Bar(x=list(self.names), y=self.sq_distances.tolist()))
        fig.update_layout(title=f"Fréchet mean ({self.group})", yaxis_title="squared distance to the mean")
        return fig


def frechet_mean(
    reps: Sequence[ArrayLike] | Mapping[str, ArrayLike],
    *,
    group: str = "orth",
    center: bool = True,
    tol: float = 1e-8,
    max_iter: int = 100,
    init: ArrayLike | None = None,
) -> FrechetMean:
    """Fréchet mean of K representations of equal shape (n, d) under ``group`` ("orth", "perm",
    "identity"): generalised Procrustes iterations (module docstring). Columns are centred first
    unless ``center=False``.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import frechet_mean
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20, 3))
    >>> Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    >>> fm = frechet_mean([X, X @ Q], group="orth")
    >>> fm.converged, bool(np.all(fm.sq_distances < 1e-8))     # rotated copies: all at the mean
    (True, True)
    """
    check_choice(group, "group", GROUPS)
    names, items = _named(reps)
    Xs = [np.asarray(x, dtype=np.float64) for x in items]
    shape = Xs[0].shape
    if len(shape) != 2 or any(x.shape != shape for x in Xs):
        raise InputError(
            f"all representations must be 2-D of one shape for a Fréchet mean; got {[x.shape for x in Xs]}"
            " — zero-pad the narrower ones or compare with network_embedding"
        )
    if not all(np.isfinite(x).all() for x in Xs):
        raise InputError("a representation contains NaN or Inf")
    if center:
        Xs = [x - x.mean(axis=0) for x in Xs]
    M = (Xs[0] if init is None else np.asarray(init, dtype=np.float64)).copy()
    if M.shape != shape:
        raise InputError(f"init has shape {M.shape}; it must match the representations' {shape}")
    changes: list[float] = []
    converged = False
    for _ in range(max_iter):
        new = sum(x @ align(x, M, group) for x in Xs) / len(Xs)
        changes.append(float(np.linalg.norm(new - M) / np.sqrt(M.size)))
        M = new
        if changes[-1] <= tol:
            converged = True
            break
    aligned = [x @ align(x, M, group) for x in Xs]
    sq = np.array([float(np.sum((a - M) ** 2)) for a in aligned])
    return FrechetMean(mean=M, aligned=aligned, sq_distances=sq, changes=changes, converged=converged,
                       group=group, names=names)
