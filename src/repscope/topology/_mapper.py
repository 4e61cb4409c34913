"""Mapper graphs of a layer's point cloud (Singh, Mémoli & Carlsson 2007; recipe of Purvine et al. 2022).

1. Lens f: X → R — the L2 norm of each activation vector (paper), the first principal component, a
   user-given array, a callable ``f(X)``, or any scikit-learn transformer (first column of
   ``fit_transform(X)``, as KeplerMapper's ``projection=``).
2. Cover of f(X) by ``n_intervals`` closed intervals of equal length ℓ with fractional ``overlap`` g:
   ℓ = (max f − min f) / (n − (n − 1) g), interval i starts at min f + i ℓ (1 − g); or explicit
   ``intervals`` (e.g. KeplerMapper's cubes ``[c − r, c + r]``).
3. Cluster each preimage with DBSCAN (``min_samples`` = 5 in the paper) whose ε is the elbow of the
   sorted k-NN distance curve of the whole cloud (point farthest from the chord joining the curve's
   ends), with single linkage cut at ε, or with any scikit-learn-style clusterer object (``fit_predict``,
   or ``fit`` + ``labels_``; cloned per preimage; preimages smaller than its ``min_samples`` /
   ``min_cluster_size`` / ``n_clusters`` are skipped, as in KeplerMapper). Noise (label −1; single-linkage
   groups smaller than ``min_samples``) belongs to no node.
4. One node per cluster, one edge per pair of clusters sharing a point (weight = shared points).

Purity (given class labels): a node's purity is the share of its majority class; *node-wise purity* is
the mean over nodes; *class-wise purity* of class c is Σ_v n_c(v)²/|v| / Σ_v n_c(v) — for a member of
class c, the expected share of class c in a node that holds it. The class co-occurrence matrix
K[a, b] = Σ_v n_a(v) n_b(v)/|v|, normalised to unit diagonal, shows which classes share nodes (the
"hierarchy" view: classes merged at a layer have K ≈ 1).

Inspecting nodes (KeplerMapper's ``custom_tooltips``): :meth:`MapperGraph.members` gives a node's row
indices; with ``images=`` (one image per row) each node keeps up to ``n_tooltips`` member thumbnails as
small base64 PNG data URIs, with ``texts=`` text snippets, otherwise the members' leading coordinates —
in ``to_dict()["nodes"][i]["tooltips"]`` and in the interactive view (hover text; thumbnails in the
markers' ``customdata``).

Own implementation rather than KeplerMapper / gudhi's MapperComplex: we need member ids, per-node class
counts and our own interactive view anyway. On KeplerMapper's own cover (``intervals``) and clusterer the
node member sets and edges are identical (``tests/topology/data/kmapper_graph.json``, made by
``benchmarks/make_mapper_fixture.py``); ``benchmarks/topology.py`` compares speed.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.results import ResultBase, to_jsonable
from repscope.validation import as_2d

__all__ = [
    "thumbnail_png",
    "MapperGraph",
    "MapperTrend",
    "mapper",
    "mapper_trend",
    "knn_elbow_eps",
    "cover_intervals",
    "mapper_lens",
]


def knn_elbow_eps(X: ArrayLike, k: int = 5) -> float:
    """ε at the elbow of the sorted distances to each point's k-th nearest neighbour (self excluded).

    Elbow = the point of the ascending curve farthest from the straight line joining its first and last
    points, both axes scaled to [0, 1] (the "kneedle" rule). Falls back to the median when the curve is
    flat.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import knn_elbow_eps
    >>> X = np.random.default_rng(0).normal(size=(60, 2))
    >>> bool(knn_elbow_eps(X, k=5) > 0)
    True
    """
    from sklearn.neighbors import NearestNeighbors

    A = as_2d(X, "X")
    k = int(min(max(1, k), A.shape[0] - 1))
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(A).kneighbors(A)
    d = np.sort(dist[:, k])
    if d[-1] - d[0] <= 0:
        return float(d[0]) if d[0] > 0 else 1e-12
    x = np.linspace(0.0, 1.0, len(d))
    y = (d - d[0]) / (d[-1] - d[0])
    gap = x - y  # distance below the chord y = x (up to a constant factor) for a convex curve
    eps = float(d[int(np.argmax(gap))])
    return eps if eps > 0 else float(np.median(d[d > 0])) if (d > 0).any() else 1e-12


def mapper_lens(X: np.ndarray, lens: ArrayLike = "l2norm") -> tuple[np.ndarray, str]:
    """Lens values (n,) and a name: "l2norm", "pca" (first principal component score), an array of n values,
    a callable ``lens(X)`` returning n values, or a transformer with ``fit_transform`` (first column)."""
    if isinstance(lens, str):
        if lens == "l2norm":
            return np.linalg.norm(X, axis=1), "L2 norm"
        if lens == "pca":
            C = X - X.mean(axis=0)
            _, _, Vt = np.linalg.svd(C, full_matrices=False)
            v = Vt[0] * np.sign(Vt[0][np.argmax(np.abs(Vt[0]))])  # deterministic sign
            return C @ v, "PC1"
        raise InputError(
            f"lens={lens!r} is unknown; use 'l2norm', 'pca', an array of n values, a callable or a transformer"
        )
    name = "user lens"
    if hasattr(lens, "fit_transform"):
        name = type(lens).__name__
        vals = np.asarray(lens.fit_transform(X), dtype=np.float64)
        vals = vals[:, 0] if vals.ndim == 2 else vals
    elif callable(lens):
        name = getattr(lens, "__name__", "user lens")
        vals = lens(X)
    else:
        vals = lens
    f = np.asarray(vals, dtype=np.float64)
    if f.ndim == 2 and f.shape[1] == 1:
        f = f[:, 0]
    if f.ndim != 1:
        raise InputError(
            f"the lens gives an array of shape {f.shape}; mapper uses a 1-d lens — give one value per point"
        )
    if f.shape[0] != X.shape[0]:
        raise InputError(
            f"the lens has {f.shape[0]} values but X has {X.shape[0]} points; give one per point"
        )
    if not np.isfinite(f).all():
        raise InputError("the lens contains NaN or Inf; give finite values")
    return f, name


def cover_intervals(f: np.ndarray, n_intervals: int, overlap: float) -> np.ndarray:
    """``(n_intervals, 2)`` closed intervals of equal length covering [min f, max f] with the overlap."""
    if int(n_intervals) < 1:
        raise InputError(f"n_intervals={n_intervals} must be ≥ 1")
    if not 0.0 <= overlap < 1.0:
        raise InputError(f"overlap={overlap} must be in [0, 1); e.g. 0.3 or 0.5 as in the paper")
    lo, hi = float(f.min()), float(f.max())
    n = int(n_intervals)
    span = hi - lo if hi > lo else 1.0
    length = span / (n - (n - 1) * overlap)
    starts = lo + np.arange(n) * length * (1.0 - overlap)
    iv = np.stack([starts, starts + length], axis=1)
    iv[-1, 1] = max(iv[-1, 1], hi)  # guard rounding at the top end
    return iv


def _cluster(Xs: np.ndarray, method: str, eps: float, min_samples: int) -> np.ndarray:
    if method == "dbscan":
        from sklearn.cluster import DBSCAN

        if Xs.shape[0] < min_samples:
            return np.full(Xs.shape[0], -1)
        return DBSCAN(eps=eps, min_samples=min_samples).fit_predict(Xs)
    if method == "single_linkage":
        if Xs.shape[0] < max(min_samples, 2):
            return np.full(Xs.shape[0], -1) if Xs.shape[0] < min_samples else np.zeros(Xs.shape[0], dtype=int)
        from scipy.cluster.hierarchy import fcluster, linkage

        lab = fcluster(linkage(Xs, method="single"), t=eps, criterion="distance") - 1
        ids, counts = np.unique(lab, return_counts=True)
        small = ids[counts < min_samples]  # like DBSCAN: groups below min_samples are noise
        lab[np.isin(lab, small)] = -1
        return lab
    raise InputError(
        f"clusterer={method!r} is unknown; use 'dbscan', 'single_linkage' or a scikit-learn-style clusterer object"
    )


def _min_cluster_samples(est: Any) -> int:
    """Smallest preimage an estimator is run on (KeplerMapper's rule: its n_clusters / min_cluster_size /
    min_samples attribute, else 1)."""
    for attr in ("n_clusters", "min_cluster_size", "min_samples"):
        v = getattr(est, attr, None)
        if isinstance(v, int | np.integer) and not isinstance(v, bool):
            return int(v)
    return 1


def _cluster_object(est: Any, Xs: np.ndarray) -> np.ndarray:
    """Labels of an arbitrary scikit-learn-style clusterer (cloned; fit_predict or fit + labels_)."""
    if Xs.shape[0] < max(_min_cluster_samples(est), 1):
        return np.full(Xs.shape[0], -1)
    try:
        from sklearn.base import clone

        est = clone(est)
    except Exception:  # not a scikit-learn estimator: use it as given (fit again on each preimage)
        pass
    if hasattr(est, "fit_predict"):
        lab = est.fit_predict(Xs)
    else:
        lab = getattr(est.fit(Xs), "labels_", None)
        lab = getattr(est, "labels_", None) if lab is None else lab
    lab = np.asarray(lab) if lab is not None else None
    if lab is None or lab.shape != (Xs.shape[0],) or not np.issubdtype(lab.dtype, np.integer):
        raise InputError(
            f"the clusterer {type(est).__name__} gave no integer label per point; pass an object with "
            f"fit_predict(X) or fit(X) + labels_ (noise = -1), e.g. sklearn.cluster.DBSCAN(eps=…)"
        )
    return lab


def _check_clusterer(clusterer: Any) -> None:
    if isinstance(clusterer, str):
        if clusterer not in ("dbscan", "single_linkage"):
            _cluster(np.zeros((0, 1)), clusterer, 1.0, 1)  # raises with the list of choices
        return
    if not (hasattr(clusterer, "fit_predict") or hasattr(clusterer, "fit")):
        raise InputError(
            f"clusterer={clusterer!r} has neither fit_predict nor fit; pass 'dbscan', 'single_linkage' or a "
            f"scikit-learn-style clusterer object"
        )


# ------------------------------------------------------------------------------------ tooltips


def _as_images(images: ArrayLike, n: int) -> np.ndarray:
    arr = np.asarray(images)
    if arr.shape[0] != n:
        raise InputError(f"images has {arr.shape[0]} entries but X has {n} points; give one image per point")
    if arr.ndim == 4 and arr.shape[1] in (1, 3) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 1, -1)  # (n, C, H, W) → (n, H, W, C)
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if not (arr.ndim == 3 or (arr.ndim == 4 and arr.shape[-1] in (3, 4))):
        raise InputError(
            f"images has shape {arr.shape}; expected (n, H, W), (n, H, W, 1|3|4) or (n, 1|3, H, W) — reshape "
            f"flattened pixels first"
        )
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise InputError(f"images must be numeric (got dtype {arr.dtype})")
    return arr


def thumbnail_png(image: Any, max_size: int = 28) -> str:
    """A small PNG of one image as a ``data:image/png;base64,…`` URI (min–max scaled to 0–255 per image,
    strided down to at most ``max_size`` pixels per side)."""
    import base64
    import io

    from PIL import Image

    a = np.asarray(image, dtype=np.float64)
    step = max(1, int(np.ceil(max(a.shape[0], a.shape[1]) / max_size)))
    a = a[::step, ::step]
    a = np.nan_to_num(a)
    lo, hi = float(a.min()), float(a.max())
    a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    buf = io.BytesIO()
    Image.fromarray(np.round(255 * a).astype(np.uint8)).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _tooltips(members: np.ndarray, X: np.ndarray, images: np.ndarray | None, texts: list[str] | None,
              k: int) -> list[dict[str, Any]]:
    if k <= 0 or members.size == 0:
        return []
    pick = members[np.unique(np.linspace(0, members.size - 1, min(k, members.size)).astype(int))]
    out = []
    for i in pick.tolist():
        tip: dict[str, Any] = {"index": int(i)}
        if images is not None:
            tip["image"] = thumbnail_png(images[i])
        if texts is not None:
            t = str(texts[i])
            tip["text"] = t if len(t) <= 80 else t[:79] + "…"
        if images is None and texts is None:
            tip["values"] = [round(float(v), 4) for v in X[i, :8]]
        out.append(tip)
    return out





@dataclass
class MapperGraph(ResultBase):
    """A mapper graph: ``nodes`` (dicts with ``id``, ``interval``, ``members``, ``class_counts``, ``lens``,
    ``tooltips``), ``edges`` ``(i, j, shared)``, per-point ``labels`` and ``lens_values``, and the parameters used.

    Tooltip records (``nodes[i]["tooltips"]``, also in ``to_dict()``): ``{"index": row}`` plus ``"image"`` (a
    ``data:image/png;base64,…`` URI), ``"text"`` (≤ 80 characters, raw — escape when rendering) and/or
    ``"values"`` (the row's first 8 coordinates). In :meth:`plotly` every node marker's ``customdata`` is
    ``[node id, [image URIs]]`` and its hover text lists the text/value tooltips (escaped).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import mapper
    >>> X = np.random.default_rng(0).normal(size=(40, 2))
    >>> g = mapper(X, lens=X[:, 0], n_intervals=3, eps=2.0, min_samples=3)
    >>> g.lens_name, g.n_points, bool(len(g.nodes) >= 1)
    ('user lens', 40, True)
    """

    nodes: list[dict[str, Any]]
    edges: list[tuple[int, int, int]]
    n_points: int
    lens_name: str
    lens_values: np.ndarray
    intervals: np.ndarray
    eps: float
    params: dict[str, Any]
    labels: np.ndarray | None = None
    classes: list[Any] = field(default_factory=list)
    name: str = ""
    seed: int = 0
    _pos: dict[int, tuple[float, float]] | None = field(default=None, repr=False)

    @property
    def title(self) -> str:
        return f"Mapper graph{(' — ' + self.name) if self.name else ''}"

    # --- node inspection -------------------------------------------------------------------------
    def _node_index(self, node: int | str) -> int:
        if isinstance(node, str):
            for i, nd in enumerate(self.nodes):
                if nd["id"] == node:
                    return i
            raise InputError(f"no node with id {node!r}; ids look like 'interval.cluster', e.g. {self.nodes[0]['id']!r}"
                             if self.nodes else "the graph has no nodes")
        i = int(node)
        if not 0 <= i < len(self.nodes):
            raise InputError(
                f"node {node} is out of range; the graph has {len(self.nodes)} nodes (0..{len(self.nodes) - 1})"
            )
        return i

    def members(self, node: int | str) -> np.ndarray:
        """Row indices (into X) of the points in ``node`` (its position in ``nodes`` or its id, e.g. "3.0")."""
        return np.asarray(self.nodes[self._node_index(node)]["members"])

    def tooltips(self, node: int | str) -> list[dict[str, Any]]:
        """The node's tooltip records: ``index`` plus ``image`` (PNG data URI), ``text`` or ``values``."""
        return list(self.nodes[self._node_index(node)].get("tooltips", []))

    # --- graph facts -------------------------------------------------------------------------------
    def graph(self):
        """The graph as a ``networkx.Graph`` (node attributes: size, lens, purity)."""
        import networkx as nx

        G = nx.Graph()
        for i, nd in enumerate(self.nodes):
            G.add_node(i, size=len(nd["members"]), lens=nd["lens"], purity=self.node_purities()[i])
        G.add_weighted_edges_from(self.edges)
        return G

    def n_components(self) -> int:
        import networkx as nx

        return nx.number_connected_components(self.graph()) if self.nodes else 0

    def coverage(self) -> float:
        """Fraction of points in at least one node (DBSCAN noise is in none)."""
        if not self.nodes:
            return 0.0
        return len(np.unique(np.concatenate([nd["members"] for nd in self.nodes]))) / self.n_points

    def _counts(self) -> np.ndarray:
        """(n_nodes, n_classes) class counts."""
        C = np.zeros((len(self.nodes), len(self.classes)), dtype=np.int64)
        for i, nd in enumerate(self.nodes):
            for k, c in enumerate(self.classes):
                C[i, k] = nd["class_counts"].get(c, 0)
        return C

    def node_purities(self) -> np.ndarray:
        """Share of the majority class in each node (NaN without labels)."""
        if self.labels is None or not self.nodes:
            return np.full(len(self.nodes), np.nan)
        C = self._counts()
        return C.max(axis=1) / np.maximum(C.sum(axis=1), 1)

    def node_purity(self) -> float:
        """Node-wise purity: mean over nodes of the majority-class share."""
        p = self.node_purities()
        return float(np.mean(p)) if len(p) and self.labels is not None else float("nan")

    def class_purity(self) -> dict[Any, float]:
        """Class-wise purity Σ_v n_c(v)²/|v| / Σ_v n_c(v) for each class c present in some node."""
        if self.labels is None or not self.nodes:
            return {}
        C = self._counts().astype(float)
        size = C.sum(axis=1, keepdims=True)
        num = (C**2 / np.maximum(size, 1)).sum(axis=0)
        den = C.sum(axis=0)
        return {c: float(num[k] / den[k]) for k, c in enumerate(self.classes) if den[k] > 0}

    def class_cooccurrence(self) -> np.ndarray:
        """K[a, b] = Σ_v n_a n_b / |v| normalised to unit diagonal (0 for a class in no node)."""
        C = self._counts().astype(float)
        K = (C / np.maximum(C.sum(axis=1, keepdims=True), 1)).T @ C
        d = np.sqrt(np.clip(np.diag(K), 0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            K = K / np.outer(d, d)
        return np.nan_to_num(K)

    def class_groups(self, threshold: float = 0.1) -> list[list[Any]]:
        """Groups of classes linked by co-occurrence above ``threshold`` (the hierarchy view)."""
        import networkx as nx

        K = self.class_cooccurrence()
        G = nx.Graph()
        G.add_nodes_from(range(len(self.classes)))
        for a in range(len(self.classes)):
            for b in range(a + 1, len(self.classes)):
                if K[a, b] > threshold:
                    G.add_edge(a, b)
        groups = [sorted(g) for g in nx.connected_components(G)]
        groups.sort(key=lambda g: (-len(g), g[0]))
        return [[self.classes[i] for i in g] for g in groups]

    # --- result protocol ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(
            {
                "kind": "mapper_graph",
                "name": self.name,
                "n_points": self.n_points,
                "lens": self.lens_name,
                "eps": self.eps,
                "params": self.params,
                "intervals": self.intervals,
                "classes": [str(c) for c in self.classes],
                "nodes": [
                    {
                        "id": nd["id"],
                        "interval": nd["interval"],
                        "size": len(nd["members"]),
                        "members": nd["members"],
                        "lens": nd["lens"],
                        "class_counts": {str(k): v for k, v in nd["class_counts"].items()},
                        "tooltips": nd.get("tooltips", []),
                    }
                    for nd in self.nodes
                ],
                "edges": [list(e) for e in self.edges],
                "n_components": self.n_components(),
                "coverage": self.coverage(),
                "node_purity": self.node_purity(),
                "class_purity": {str(k): v for k, v in self.class_purity().items()},
            }
        )

    def summary(self) -> str:
        s = (
            f"{len(self.nodes)} nodes, {len(self.edges)} edges, {self.n_components()} connected components; "
            f"{100 * self.coverage():.0f}% of {self.n_points} points in some node (lens {self.lens_name}, "
            f"{self.params['n_intervals']} intervals"
            + (f", overlap {self.params['overlap']}" if self.params.get("overlap") is not None else "")
            + (f", ε={self.eps:.3g})." if np.isfinite(self.eps) else f", {self.params['clusterer']}).")
        )
        if self.labels is not None and self.nodes:
            cp = self.class_purity()
            worst = min(cp, key=lambda c: cp[c]) if cp else None
            s += f" Node-wise purity {self.node_purity():.2f}"
            if worst is not None:
                s += f"; lowest class-wise purity: class {worst} ({cp[worst]:.2f})"
            groups = [g for g in self.class_groups() if len(g) > 1]
            if groups:
                s += "; classes sharing nodes: " + "; ".join(
                    "{" + ", ".join(map(str, g)) + "}" for g in groups[:4]
                )
            s += "."
        s += " Look at the colours: a branch of one colour is a group of one class; click a node for its members."
        return s

    def table(self) -> tuple[list[str], list[list[Any]]]:
        header = ["class", "points in nodes", "class-wise purity"]
        cp = self.class_purity()
        C = self._counts()
        return header, [
            [str(c), int(C[:, k].sum()), round(cp.get(c, float("nan")), 4)]
            for k, c in enumerate(self.classes)
        ]

    def layout(self) -> dict[int, tuple[float, float]]:
        """Deterministic 2-D positions (networkx spring layout seeded with ``seed``)."""
        if self._pos is None:
            import networkx as nx

            G = self.graph()
            if G.number_of_nodes() == 0:
                self._pos = {}
            else:
                pos = nx.spring_layout(
                    G, seed=self.seed, weight=None, k=1.5 / np.sqrt(max(G.number_of_nodes(), 1))
                )
                self._pos = {int(k): (float(v[0]), float(v[1])) for k, v in pos.items()}
        return self._pos

    def plot(self, ax: Any = None):
        """Static view: each node a pie chart of its classes (paper's style), size ∝ √members."""
        from matplotlib.lines import Line2D
        from matplotlib.patches import Circle

        from repscope.results import colormap, subplots_in

        fig, ax = subplots_in(ax, figsize=(6.5, 6))
        pos = self.layout()
        cmap = colormap("tab10" if len(self.classes) <= 10 else "tab20")
        for i, j, _ in self.edges:
            ax.plot([pos[i][0], pos[j][0]], [pos[i][1], pos[j][1]], color="#bbbbbb", lw=0.8, zorder=1)
        sizes = np.array([len(nd["members"]) for nd in self.nodes]) if self.nodes else np.zeros(0)
        rmax = 0.06
        radii = rmax * np.sqrt(sizes / sizes.max()) if len(sizes) else sizes
        C = self._counts() if self.labels is not None else None
        for i in range(len(self.nodes)):
            x, y = pos[i]
            r = max(radii[i], 0.008)
            if C is not None and C[i].sum() > 0:
                ax.pie(
                    C[i],
                    colors=[cmap(k % cmap.N) for k in range(len(self.classes))],
                    center=(x, y),
                    radius=r,
                    wedgeprops={"linewidth": 0, "zorder": 2},
                    normalize=True,
                )
            else:
                ax.add_patch(Circle((x, y), r, color="tab:blue", zorder=2))
        if pos:
            xs, ys = np.array(list(pos.values())).T
            ax.set_xlim(xs.min() - 0.1, xs.max() + 0.1)
            ax.set_ylim(ys.min() - 0.1, ys.max() + 0.1)
        ax.set_aspect("equal")
        ax.axis("off")
        if C is not None:
            handles = [
                Line2D([], [], marker="o", ls="", color=cmap(k % cmap.N), label=str(c))
                for k, c in enumerate(self.classes)
            ]
            ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="class")
        sub = f"node purity {self.node_purity():.2f}" if self.labels is not None else ""
        ax.set_title(
            f"{self.title}\n{len(self.nodes)} nodes, {self.n_components()} components {sub}", fontsize=9
        )
        fig.tight_layout()
        return fig

    def _hover(self, i: int) -> str:
        nd = self.nodes[i]
        size = len(nd["members"])
        lines = [
            f"<b>node {html.escape(str(nd['id']))}</b> · {size} members",
            f"{html.escape(self.lens_name)} {nd['lens']:.4g}",
        ]
        if self.labels is not None:
            lines.append(f"purity {self.node_purities()[i]:.2f}")
            for c, v in sorted(nd["class_counts"].items(), key=lambda kv: -kv[1])[:5]:
                bar = "█" * max(1, int(round(10 * v / size)))
                lines.append(f"{html.escape(str(c))}: {bar} {v}")
        tips = nd.get("tooltips", [])
        shown = [t for t in tips if "text" in t or "values" in t][:4]
        if shown:
            lines.append("members:")
        for t in shown:
            body = t["text"] if "text" in t else ", ".join(f"{v:.3g}" for v in t["values"])
            lines.append(f"#{t['index']}: {html.escape(body)}")
        n_img = sum("image" in t for t in tips)
        if n_img:
            lines.append(f"click to see {n_img} member thumbnail(s) below the figure")
        return "<br>".join(lines)

    def _members_view(self, i: int, k: int = 12) -> dict[str, Any]:
        """What the report's member panel shows for node ``i``: the node's tooltips when the graph has them
        (image thumbnails, texts or values), else up to ``k`` member indices with their class."""
        nd = self.nodes[i]
        mem = np.asarray(nd["members"])
        tips = nd.get("tooltips")
        if tips:
            members = [dict(t) for t in tips]
        else:
            pick = mem[np.unique(np.linspace(0, mem.size - 1, min(k, mem.size)).astype(int))] if mem.size else mem
            members = []
            for j in pick.tolist():
                m: dict[str, Any] = {"index": int(j)}
                if self.labels is not None:
                    m["label"] = html.escape(str(self.labels[j]))
                members.append(m)
        for m in members:
            for key in ("text", "label"):
                if key in m:
                    m[key] = str(m[key])
        return {"node": str(nd["id"]), "size": int(mem.size), "members": members}

    def _colour_modes(self, n: int) -> tuple[bool, list[tuple[str, Any, Any]]]:
        """Whether nodes are coloured by class, and the colour modes (label, colours, colourscale or None)."""
        lensv = np.array([nd["lens"] for nd in self.nodes])
        purity = self.node_purities()
        has_cls = self.labels is not None and n > 0
        if has_cls:
            C = self._counts()
            major = [int(np.argmax(C[i])) for i in range(n)]
            cls_color = [_PALETTE[k % len(_PALETTE)] for k in major]
        else:
            cls_color = ["#1f77b4"] * n
        lens_name = html.escape(self.lens_name)
        modes: list[tuple[str, Any, Any]] = [("class (majority)", cls_color, None)] if has_cls else []
        modes.append((lens_name, lensv.tolist(), "Viridis"))
        if has_cls:
            modes.append(("purity", np.nan_to_num(purity).tolist(), "RdYlGn"))
        return has_cls, modes

    def _edge_lines(self, xs: np.ndarray, ys: np.ndarray, keep: np.ndarray) -> tuple[list, list]:
        """Line coordinates (None-separated) of the edges between kept nodes."""
        ex: list = []
        ey: list = []
        for i, j, _ in self.edges:
            if keep[i] and keep[j]:
                ex += [float(xs[i]), float(xs[j]), None]
                ey += [float(ys[i]), float(ys[j]), None]
        return ex, ey

    def _size_steps(self, xs: np.ndarray, ys: np.ndarray, sizes: np.ndarray, msize: np.ndarray) -> list[dict]:
        """The minimum-node-size slider's steps: each hides the smaller nodes and their edges."""
        n = len(self.nodes)
        thresholds = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500) if n and t <= sizes.max()] or [1]
        steps = []
        for t in thresholds:
            keep = sizes >= t
            ex, ey = self._edge_lines(xs, ys, keep)
            steps.append({
                "label": str(t),
                "method": "restyle",
                "args": [{
                    "x": [ex, xs.tolist()],
                    "y": [ey, ys.tolist()],
                    "marker.size": [None, np.where(keep, msize, 0).tolist()],
                    "hoverinfo": ["skip", ["text" if k2 else "skip" for k2 in keep]],
                }, [0, 1]],
            })
        return steps

    def plotly(self):
        """Interactive view: one node per marker (size ∝ √members), colour by majority class (with a legend),
        by the lens or by purity (dropdown, with a colourbar), minimum node size (slider); hover a node for its
        class histogram, click it to pin its members below the figure (thumbnails, texts or values)."""
        import plotly.graph_objects as go

        pos = self.layout()
        n = len(self.nodes)
        sizes = np.array([len(nd["members"]) for nd in self.nodes], dtype=float) if n else np.zeros(0)
        xs = np.array([pos[i][0] for i in range(n)])
        ys = np.array([pos[i][1] for i in range(n)])
        msize = 8 + 26 * np.sqrt(sizes / sizes.max()) if n else sizes
        hover = [self._hover(i) for i in range(n)]
        custom = [self._members_view(i) for i in range(n)]
        has_cls, modes = self._colour_modes(n)
        fig = go.Figure()
        ex, ey = self._edge_lines(xs, ys, np.ones(n, bool))
        fig.add_scatter(x=ex, y=ey, mode="lines", line={"color": "#b0b0b0", "width": 1}, hoverinfo="skip",
                        showlegend=False, name="edges")
        label0, col0, scale0 = modes[0]
        marker: dict[str, Any] = {"size": msize.tolist(), "color": col0, "line": {"width": 0.5, "color": "#333"},
                                  "opacity": 0.9}
        if scale0:
            marker.update(colorscale=scale0, showscale=True, colorbar={"title": {"text": label0}})
        fig.add_scatter(x=xs.tolist(), y=ys.tolist(), mode="markers", marker=marker, text=hover,
                        hoverinfo="text", customdata=custom, name="nodes", showlegend=False)
        classes = [str(c) for c in self.classes] if has_cls else []
        for k, c in enumerate(classes):  # legend entries for the class colouring
            fig.add_scatter(x=[None], y=[None], mode="markers", name=html.escape(c), legendgroup="class",
                            marker={"size": 10, "color": _PALETTE[k % len(_PALETTE)]}, showlegend=True,
                            hoverinfo="skip")
        pad = 0.08
        xr = [float(xs.min()) - pad, float(xs.max()) + pad] if n else [-1, 1]
        yr = [float(ys.min()) - pad, float(ys.max()) + pad] if n else [-1, 1]
        fig.update_layout(
            title={"text": html.escape(self.title) + f"<br><sup>{n} nodes · hover a node for its classes, "
                   "click it to list its members below</sup>"},
            xaxis={"visible": False, "range": xr},
            yaxis={"visible": False, "range": yr},
            dragmode="pan",
            hovermode="closest",
            plot_bgcolor="white",
            height=560,
            margin={"l": 10, "r": 10, "t": 90, "b": 70},
            legend={"title": {"text": "majority class"}, "itemclick": False, "itemdoubleclick": False},
            updatemenus=[{"buttons": _colour_buttons(modes, len(classes)), "direction": "down", "x": 1.0,
                          "y": 1.1, "xanchor": "right", "yanchor": "bottom"}],
            sliders=[{"active": 0, "currentvalue": {"prefix": "min node size: "},
                      "steps": self._size_steps(xs, ys, sizes, msize),
                      "pad": {"t": 10}, "len": 0.6, "x": 0.0, "y": 0.0, "yanchor": "top"}],
        )
        return fig


_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf"]


def _colour_buttons(modes: list[tuple[str, Any, Any]], n_leg: int) -> list[dict]:
    """The colour dropdown's buttons: restyle the nodes (trace 1) and show the class legend only for classes."""
    buttons = []
    for label, col, scale in modes:
        is_cls = scale is None
        buttons.append({
            "label": f"colour: {label}",
            "method": "restyle",
            "args": [{
                "marker.color": [col, *[_PALETTE[k % len(_PALETTE)] for k in range(n_leg)]],
                "marker.colorscale": [scale or "Viridis", *(["Viridis"] * n_leg)],
                "marker.showscale": [not is_cls, *([False] * n_leg)],
                "marker.colorbar.title.text": [label, *([""] * n_leg)],
                "visible": [True, *([is_cls] * n_leg)],
            }, list(range(1, 2 + n_leg))],
        })
    return buttons


def mapper(
    X: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    lens: ArrayLike = "l2norm",
    n_intervals: int = 10,
    overlap: float = 0.3,
    intervals: ArrayLike | None = None,
    clusterer: Any = "dbscan",
    min_samples: int = 5,
    eps: float | None = None,
    images: ArrayLike | None = None,
    texts: list[str] | None = None,
    n_tooltips: int = 4,
    name: str = "",
    seed: int = 0,
) -> MapperGraph:
    """Mapper graph of the point cloud ``X`` (n, d), with optional per-point class ``labels``.

    ``lens``: "l2norm" (paper), "pca", an (n,) array, a callable ``lens(X)`` or a transformer with
    ``fit_transform``; ``n_intervals``/``overlap``: the cover (paper: 10 at 0.5 or 40 at 0.3), or explicit
    closed ``intervals`` (m, 2); ``clusterer``: "dbscan" (``min_samples``, paper 5), "single_linkage" or any
    scikit-learn-style clusterer object; ``eps``: scale of the built-in clusterers, default the k-NN elbow
    (k = ``min_samples``) of the whole cloud; ``images`` (one image per point) / ``texts`` (one string per
    point): member tooltips, ``n_tooltips`` per node (values of the leading coordinates when neither is
    given; 0 = none); ``seed``: layout. Node members are row indices into ``X`` (:meth:`MapperGraph.members`).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import mapper
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + 20])   # two far blobs
    >>> labels = np.repeat([0, 1], 30)
    >>> g = mapper(X, labels, lens=X[:, 0], n_intervals=4, eps=3.0, min_samples=3)
    >>> g.n_components(), round(g.node_purity(), 6)      # the blobs never share a node
    (2, 1.0)
    """
    A = as_2d(X, "X")
    if np.all(A == A[:1]):
        raise InputError("all points are identical; a mapper graph needs a cloud with some spread")
    lab = None
    classes: list[Any] = []
    if labels is not None:
        lab = np.asarray(labels).reshape(-1)
        if lab.shape[0] != A.shape[0]:
            raise InputError(
                f"labels has {lab.shape[0]} entries but X has {A.shape[0]} points; give one per point"
            )
        classes = sorted(np.unique(lab).tolist(), key=lambda v: (str(type(v)), v))
    if int(min_samples) < 1:
        raise InputError(f"min_samples={min_samples} must be ≥ 1")
    _check_clusterer(clusterer)
    imgs = _as_images(images, A.shape[0]) if images is not None else None
    if texts is not None and len(texts) != A.shape[0]:
        raise InputError(f"texts has {len(texts)} entries but X has {A.shape[0]} points; give one per point")
    f, lens_name = mapper_lens(A, lens)
    if intervals is not None:
        iv = np.asarray(intervals, dtype=np.float64)
        if iv.ndim != 2 or iv.shape[1] != 2 or len(iv) < 1 or not np.isfinite(iv).all() or np.any(iv[:, 1] < iv[:, 0]):
            raise InputError("intervals must be a finite (m, 2) array of [low, high] with low ≤ high")
    else:
        iv = cover_intervals(f, n_intervals, overlap)
    builtin = isinstance(clusterer, str)
    if not builtin and eps is not None:
        raise InputError("eps applies to the built-in clusterers only; set the scale on your clusterer object instead")
    eps_v = (knn_elbow_eps(A, k=int(min_samples)) if eps is None else float(eps)) if builtin else float("nan")
    if builtin and not eps_v > 0:
        raise InputError(f"eps={eps} must be > 0")
    nodes: list[dict[str, Any]] = []
    for k, (a, b) in enumerate(iv):
        idx = np.flatnonzero((f >= a) & (f <= b))
        if idx.size == 0:
            continue
        cl = _cluster(A[idx], clusterer, eps_v, int(min_samples)) if builtin else _cluster_object(clusterer, A[idx])
        for c in sorted(set(cl.tolist()) - {-1}):
            mem = idx[cl == c]
            counts: dict[Any, int] = {}
            if lab is not None:
                u, cnt = np.unique(lab[mem], return_counts=True)
                counts = {uu.item() if hasattr(uu, "item") else uu: int(cc) for uu, cc in zip(u, cnt)}
            nodes.append(
                {
                    "id": f"{k}.{c}",
                    "interval": k,
                    "members": mem,
                    "class_counts": counts,
                    "lens": float(f[mem].mean()),
                    "tooltips": _tooltips(mem, A, imgs, texts, int(n_tooltips)),
                }
            )
    # edges: nodes sharing a point
    member_of: dict[int, list[int]] = {}
    for i, nd in enumerate(nodes):
        for m in nd["members"].tolist():
            member_of.setdefault(m, []).append(i)
    shared: dict[tuple[int, int], int] = {}
    for lst in member_of.values():
        for x in range(len(lst)):
            for y in range(x + 1, len(lst)):
                key = (lst[x], lst[y])
                shared[key] = shared.get(key, 0) + 1
    edges = sorted((i, j, w) for (i, j), w in shared.items())
    return MapperGraph(
        nodes=nodes,
        edges=edges,
        n_points=int(A.shape[0]),
        lens_name=lens_name,
        lens_values=f,
        intervals=iv,
        eps=eps_v,
        labels=lab,
        classes=classes,
        name=name,
        seed=int(seed),
        params={
            "n_intervals": int(len(iv)),
            "overlap": float(overlap) if intervals is None else None,
            "cover": "equal intervals" if intervals is None else "given intervals",
            "clusterer": clusterer if builtin else repr(clusterer),
            "min_samples": int(min_samples),
            "eps_rule": ("knn_elbow" if eps is None else "given") if builtin else "clusterer object",
            "tooltips": "images" if imgs is not None else "texts" if texts is not None else "values",
        },
    )


@dataclass
class MapperTrend(ResultBase):
    """Purity and shape of one mapper graph per layer, in layer order (is class structure rising?).

    Examples
    --------
    >>> from repscope.topology import MapperTrend
    >>> tr = MapperTrend(layers=["l1"], node_purity=[1.0], class_purity=[1.0], n_nodes=[3], n_components=[1],
    ...                  coverage=[1.0], merged_classes=[[]])
    >>> tr.layers, tr.n_nodes
    (['l1'], [3])
    """

    layers: list[str]
    node_purity: list[float]
    class_purity: list[float]
    n_nodes: list[int]
    n_components: list[int]
    coverage: list[float]
    merged_classes: list[list[list[Any]]]

    title = "Mapper purity across layers"

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(
            {
                "kind": "mapper_trend",
                "layers": self.layers,
                "node_purity": self.node_purity,
                "class_purity": self.class_purity,
                "n_nodes": self.n_nodes,
                "n_components": self.n_components,
                "coverage": self.coverage,
                "merged_classes": [[[str(c) for c in g] for g in gs] for gs in self.merged_classes],
            }
        )

    def summary(self) -> str:
        p = np.asarray(self.node_purity, dtype=float)
        if not np.isfinite(p).any():
            return "No class labels: purity is undefined."
        from scipy.stats import spearmanr

        rho = float(spearmanr(np.arange(len(p)), p).statistic) if np.ptp(p) > 0 else float("nan")
        trend = "rises" if rho > 0.5 else "falls" if rho < -0.5 else "does not change monotonically"
        s = (
            f"Node-wise purity {trend} from the first to the last layer ({self.layers[0]} {p[0]:.2f} → "
            f"{self.layers[-1]} {p[-1]:.2f}; rank correlation with depth {rho:.2f})."
        )
        last = [g for g in self.merged_classes[-1] if len(g) > 1] if self.merged_classes else []
        if last:
            s += (
                " Classes still sharing nodes at the last layer: "
                + "; ".join("{" + ", ".join(map(str, g)) + "}" for g in last)
                + "."
            )
        return s

    def table(self) -> tuple[list[str], list[list[Any]]]:
        header = ["layer", "node-wise purity", "mean class-wise purity", "nodes", "components", "coverage"]
        rows = [
            [lay, round(a, 3), round(b, 3), n, c, round(v, 3)]
            for lay, a, b, n, c, v in zip(
                self.layers,
                self.node_purity,
                self.class_purity,
                self.n_nodes,
                self.n_components,
                self.coverage,
            )
        ]
        return header, rows

    def plot(self, ax: Any = None):
        from repscope.results import subplots_in

        fig, ax = subplots_in(ax, figsize=(6, 3.5))
        x = np.arange(len(self.layers))
        ax.plot(x, self.node_purity, marker="o", label="node-wise purity")
        ax.plot(x, self.class_purity, marker="s", label="mean class-wise purity")
        ax.set_xticks(x, self.layers, rotation=30, ha="right")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("purity")
        ax.legend(fontsize=8)
        ax.set_title(self.title, fontsize=10)
        fig.tight_layout()
        return fig


def mapper_trend(graphs: list[MapperGraph], layers: list[str] | None = None) -> MapperTrend:
    """Collect purity, size and class-merging facts of per-layer mapper graphs into a :class:`MapperTrend`.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import mapper, mapper_trend
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([0, 1], 20)
    >>> mixed = rng.normal(size=(40, 2))
    >>> split = mixed + 20 * labels[:, None]
    >>> graphs = [mapper(Z, labels, lens=Z[:, 0], n_intervals=3, eps=3.0, min_samples=3) for Z in (mixed, split)]
    >>> tr = mapper_trend(graphs, ["early", "late"])
    >>> tr.layers, bool(tr.node_purity[1] > tr.node_purity[0])
    (['early', 'late'], True)
    """
    names = [g.name or f"layer {i}" for i, g in enumerate(graphs)] if layers is None else list(layers)
    cp = [g.class_purity() for g in graphs]
    return MapperTrend(
        layers=names,
        node_purity=[g.node_purity() for g in graphs],
        class_purity=[float(np.mean(list(c.values()))) if c else float("nan") for c in cp],
        n_nodes=[len(g.nodes) for g in graphs],
        n_components=[g.n_components() for g in graphs],
        coverage=[g.coverage() for g in graphs],
        merged_classes=[g.class_groups() if g.labels is not None else [] for g in graphs],
    )
