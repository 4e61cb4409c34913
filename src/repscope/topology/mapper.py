"""Mapper graphs of a layer's point cloud (Singh, Mémoli & Carlsson 2007; recipe of Purvine et al. 2022).

1. Lens f: X → R — the L2 norm of each activation vector (paper), the first principal component, or a
   user-given array.
2. Cover of f(X) by ``n_intervals`` closed intervals of equal length ℓ with fractional ``overlap`` g:
   ℓ = (max f − min f) / (n − (n − 1) g), interval i starts at min f + i ℓ (1 − g).
3. Cluster each preimage with DBSCAN (``min_samples`` = 5 in the paper) whose ε is the elbow of the
   sorted k-NN distance curve of the whole cloud (point farthest from the chord joining the curve's
   ends), or with single linkage cut at ε. Noise (DBSCAN noise; single-linkage groups smaller than
   ``min_samples``) belongs to no node.
4. One node per cluster, one edge per pair of clusters sharing a point (weight = shared points).

Purity (given class labels): a node's purity is the share of its majority class; *node-wise purity* is
the mean over nodes; *class-wise purity* of class c is Σ_v n_c(v)²/|v| / Σ_v n_c(v) — for a member of
class c, the expected share of class c in a node that holds it. The class co-occurrence matrix
K[a, b] = Σ_v n_a(v) n_b(v)/|v|, normalised to unit diagonal, shows which classes share nodes (the
"hierarchy" view: classes merged at a layer have K ≈ 1).

Own implementation (≈150 lines) rather than KeplerMapper / gudhi's MapperComplex: we need member ids,
per-node class counts and our own interactive view anyway; ``benchmarks/topology.py`` compares speed with
KeplerMapper on the same cover and clustering.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from repscope.errors import InputError
from repscope.results import to_jsonable
from repscope.validation import as_2d

__all__ = [
    "MapperGraph",
    "MapperTrend",
    "mapper",
    "mapper_trend",
    "knn_elbow_eps",
    "cover_intervals",
    "mapper_lens",
]


def knn_elbow_eps(X: Any, k: int = 5) -> float:
    """ε at the elbow of the sorted distances to each point's k-th nearest neighbour (self excluded).

    Elbow = the point of the ascending curve farthest from the straight line joining its first and last
    points, both axes scaled to [0, 1] (the "kneedle" rule). Falls back to the median when the curve is
    flat.
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


def mapper_lens(X: np.ndarray, lens: Any = "l2norm") -> tuple[np.ndarray, str]:
    """Lens values (n,) and a name: "l2norm", "pca" (first principal component score) or an array."""
    if isinstance(lens, str):
        if lens == "l2norm":
            return np.linalg.norm(X, axis=1), "L2 norm"
        if lens == "pca":
            C = X - X.mean(axis=0)
            _, _, Vt = np.linalg.svd(C, full_matrices=False)
            v = Vt[0] * np.sign(Vt[0][np.argmax(np.abs(Vt[0]))])  # deterministic sign
            return C @ v, "PC1"
        raise InputError(f"lens={lens!r} is unknown; use 'l2norm', 'pca' or an array of n values")
    f = np.asarray(lens, dtype=np.float64).reshape(-1)
    if f.shape[0] != X.shape[0]:
        raise InputError(
            f"the lens has {f.shape[0]} values but X has {X.shape[0]} points; give one per point"
        )
    if not np.isfinite(f).all():
        raise InputError("the lens contains NaN or Inf; give finite values")
    return f, "user lens"


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
    raise InputError(f"clusterer={method!r} is unknown; use 'dbscan' or 'single_linkage'")


@dataclass
class MapperGraph:
    """A mapper graph: ``nodes`` (dicts with ``id``, ``interval``, ``members``, ``class_counts``, ``lens``),
    ``edges`` ``(i, j, shared)``, per-point ``labels`` and ``lens_values``, and the parameters used."""

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
            f"{self.params['n_intervals']} intervals, overlap {self.params['overlap']}, ε={self.eps:.3g})."
        )
        if self.labels is not None and self.nodes:
            cp = self.class_purity()
            worst = min(cp, key=cp.get) if cp else None
            s += f" Node-wise purity {self.node_purity():.2f}"
            if worst is not None:
                s += f"; lowest class-wise purity: class {worst} ({cp[worst]:.2f})"
            groups = [g for g in self.class_groups() if len(g) > 1]
            if groups:
                s += "; classes sharing nodes: " + "; ".join(
                    "{" + ", ".join(map(str, g)) + "}" for g in groups[:4]
                )
            s += "."
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

    def plot(self):
        """Static view: each node a pie chart of its classes (paper's style), size ∝ √members."""
        from matplotlib.lines import Line2D
        from matplotlib.patches import Circle

        from repscope.results import colormap, subplots

        fig, ax = subplots(figsize=(6.5, 6))
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
            f"<b>node {html.escape(nd['id'])}</b>",
            f"size {size}",
            f"{html.escape(self.lens_name)} {nd['lens']:.4g}",
        ]
        if self.labels is not None:
            lines.append(f"purity {self.node_purities()[i]:.2f}")
            for c, v in sorted(nd["class_counts"].items(), key=lambda kv: -kv[1])[:10]:
                bar = "█" * max(1, int(round(20 * v / size)))
                lines.append(f"{html.escape(str(c))}: {bar} {v}")
        return "<br>".join(lines)

    def plotly(self):
        """Interactive view: pan/zoom, hover with the class histogram, colour by class / lens / purity
        (dropdown), minimum node size (slider), deterministic layout."""
        import plotly.graph_objects as go

        pos = self.layout()
        n = len(self.nodes)
        sizes = np.array([len(nd["members"]) for nd in self.nodes], dtype=float) if n else np.zeros(0)
        xs = np.array([pos[i][0] for i in range(n)])
        ys = np.array([pos[i][1] for i in range(n)])
        msize = 6 + 24 * np.sqrt(sizes / sizes.max()) if n else sizes
        hover = [self._hover(i) for i in range(n)]
        lensv = np.array([nd["lens"] for nd in self.nodes])
        purity = self.node_purities()
        palette = [
            "#1f77b4",
            "#ff7f0e",
            "#2ca02c",
            "#d62728",
            "#9467bd",
            "#8c564b",
            "#e377c2",
            "#7f7f7f",
            "#bcbd22",
            "#17becf",
        ]
        if self.labels is not None and n:
            C = self._counts()
            cls_color = [palette[int(np.argmax(C[i])) % len(palette)] for i in range(n)]
        else:
            cls_color = ["#1f77b4"] * n
        modes = [("class (majority)", cls_color, None), (html.escape(self.lens_name), lensv, "Viridis")]
        if self.labels is not None:
            modes.append(("purity", purity, "RdYlGn"))

        def filt(t: float):
            keep = sizes >= t
            ex, ey = [], []
            for i, j, _ in self.edges:
                if keep[i] and keep[j]:
                    ex += [xs[i], xs[j], None]
                    ey += [ys[i], ys[j], None]
            return keep, ex, ey

        fig = go.Figure()
        keep, ex, ey = filt(0)
        fig.add_scatter(
            x=ex,
            y=ey,
            mode="lines",
            line={"color": "#aaaaaa", "width": 1},
            hoverinfo="skip",
            showlegend=False,
            name="edges",
        )
        for k, (label, col, scale) in enumerate(modes):
            marker = {"size": msize, "color": col, "line": {"width": 0.5, "color": "#333"}}
            if scale:
                marker.update(colorscale=scale, showscale=True, colorbar={"title": label})
            fig.add_scatter(
                x=xs,
                y=ys,
                mode="markers",
                marker=marker,
                text=hover,
                hoverinfo="text",
                name=label,
                visible=(k == 0),
                showlegend=False,
            )
        n_modes = len(modes)
        buttons = [
            {
                "label": f"colour: {label}",
                "method": "restyle",
                "args": [{"visible": [True] + [m == k for m in range(n_modes)]}],
            }
            for k, (label, _, _) in enumerate(modes)
        ]
        thresholds = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500) if n and t <= sizes.max()] or [1]
        steps = []
        for t in thresholds:
            keep, ex, ey = filt(t)
            node_x = [xs[keep].tolist()] * n_modes
            node_y = [ys[keep].tolist()] * n_modes
            node_text = [[h for h, k2 in zip(hover, keep) if k2]] * n_modes
            colors = []
            for _, col, _ in modes:
                colors.append([c for c, k2 in zip(col, keep) if k2])
            steps.append(
                {
                    "label": str(t),
                    "method": "restyle",
                    "args": [
                        {
                            "x": [ex, *node_x],
                            "y": [ey, *node_y],
                            "text": [None, *node_text],
                            "marker.size": [None, *([msize[keep].tolist()] * n_modes)],
                            "marker.color": ["#aaaaaa", *colors],
                        },
                        list(range(n_modes + 1)),
                    ],
                }
            )
        fig.update_layout(
            title=html.escape(self.title),
            xaxis={"visible": False},
            yaxis={"visible": False, "scaleanchor": "x"},
            dragmode="pan",
            hovermode="closest",
            plot_bgcolor="white",
            updatemenus=[{"buttons": buttons, "direction": "down", "x": 0.0, "y": 1.12, "xanchor": "left"}],
            sliders=[
                {"active": 0, "currentvalue": {"prefix": "min node size: "}, "steps": steps, "pad": {"t": 20}}
            ],
        )
        return fig


def mapper(
    X: Any,
    labels: Any = None,
    *,
    lens: Any = "l2norm",
    n_intervals: int = 10,
    overlap: float = 0.3,
    clusterer: str = "dbscan",
    min_samples: int = 5,
    eps: float | None = None,
    name: str = "",
    seed: int = 0,
) -> MapperGraph:
    """Mapper graph of the point cloud ``X`` (n, d), with optional per-point class ``labels``.

    ``lens``: "l2norm" (paper), "pca" or an (n,) array; ``n_intervals``/``overlap``: the cover (paper: 10 at
    0.5 or 40 at 0.3); ``clusterer``: "dbscan" (``min_samples``, paper 5) or "single_linkage"; ``eps``:
    clustering scale, default the k-NN elbow (k = ``min_samples``) of the whole cloud; ``seed``: layout.
    Node members are row indices into ``X``.
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
    f, lens_name = mapper_lens(A, lens)
    iv = cover_intervals(f, n_intervals, overlap)
    eps_v = knn_elbow_eps(A, k=int(min_samples)) if eps is None else float(eps)
    if not eps_v > 0:
        raise InputError(f"eps={eps} must be > 0")
    nodes: list[dict[str, Any]] = []
    for k, (a, b) in enumerate(iv):
        idx = np.flatnonzero((f >= a) & (f <= b))
        if idx.size == 0:
            continue
        cl = _cluster(A[idx], clusterer, eps_v, int(min_samples))
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
            "n_intervals": int(n_intervals),
            "overlap": float(overlap),
            "clusterer": clusterer,
            "min_samples": int(min_samples),
            "eps_rule": "knn_elbow" if eps is None else "given",
        },
    )


@dataclass
class MapperTrend:
    """Purity and shape of one mapper graph per layer, in layer order (is class structure rising?)."""

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

    def plot(self):
        from repscope.results import subplots

        fig, ax = subplots(figsize=(6, 3.5))
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
    """Collect purity, size and class-merging facts of per-layer mapper graphs into a :class:`MapperTrend`."""
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
