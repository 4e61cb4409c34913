"""Reference mapper graph from KeplerMapper 2.1.0 for tests/topology/test_topology_mapper_parity.py.

Run with the benchmark venv (never imported by src/ or the tests):
    benchmarks/.venv/bin/python benchmarks/make_mapper_fixture.py
writes tests/topology/data/kmapper_graph.json: the data, the lens, KeplerMapper's cover as closed intervals
``[center − radius, center + radius]`` and its node member sets and edges for DBSCAN(eps=0.6, min_samples=4).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def main() -> None:
    import kmapper
    from sklearn.cluster import DBSCAN

    rng = np.random.default_rng(0)
    t = rng.uniform(0, 2 * np.pi, 150)
    X = np.c_[np.cos(t), np.sin(t), 0.1 * rng.standard_normal(150)] * 3 + 0.15 * rng.standard_normal((150, 3))
    X = np.round(X, 6)
    lens = np.round(X[:, 0], 6)
    cover = kmapper.Cover(n_cubes=8, perc_overlap=0.3)
    km = kmapper.KeplerMapper(verbose=0)
    g = km.map(lens[:, None], X, cover=cover, clusterer=DBSCAN(eps=0.6, min_samples=4))
    centers = np.asarray(cover.centers_)[:, 0]
    radius = float(np.asarray(cover.radius_).ravel()[0])
    nodes = sorted(sorted(int(i) for i in m) for m in g["nodes"].values())
    edges = sorted(
        sorted([sorted(int(i) for i in g["nodes"][a]), sorted(int(i) for i in g["nodes"][b])])
        for a, bs in g["links"].items()
        for b in bs
    )
    out = {
        "source": "kmapper 2.1.0: KeplerMapper().map(lens, X, cover=Cover(n_cubes=8, perc_overlap=0.3), "
        "clusterer=DBSCAN(eps=0.6, min_samples=4))",
        "X": X.tolist(),
        "lens": lens.tolist(),
        "intervals": np.c_[centers - radius, centers + radius].tolist(),
        "nodes": nodes,
        "edges": edges,
    }
    path = Path(__file__).resolve().parents[1] / "tests" / "topology" / "data" / "kmapper_graph.json"
    path.write_text(json.dumps(out))
    print(f"wrote {path}: {len(nodes)} nodes, {len(edges)} edges")


if __name__ == "__main__":
    main()
