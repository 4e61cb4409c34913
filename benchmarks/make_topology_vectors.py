"""Generate the committed reference vectors for the topology tests (run once, in a venv with persim/ripser).

    python3 -m venv /tmp/bench-topology
    /tmp/bench-topology/bin/pip install -r benchmarks/requirements-topology.txt
    /tmp/bench-topology/bin/python benchmarks/make_topology_vectors.py

Writes ``tests/topology/data/sliced_wasserstein_vectors.json``: fixed diagrams with persim's
``sliced_wasserstein`` (several M) and ``bottleneck`` values, plus a small point cloud with ripser's
H0/H1 diagrams. repscope is NOT imported here: the values come from the reference libraries only.
"""

from __future__ import annotations

import json
import pathlib
import sys
from importlib.metadata import version

import numpy as np
import persim
import ripser


def diagram(rng: np.random.Generator, k: int, shift: float = 0.0) -> np.ndarray:
    b = rng.uniform(0.0, 2.0, k) + shift
    return np.stack([b, b + rng.exponential(0.6, k)], axis=1)


def main() -> None:
    rng = np.random.default_rng(20240611)
    cases = []
    specs = [(12, 9, 0.0), (40, 55, 0.3), (1, 1, 0.0), (0, 7, 0.0), (25, 25, 1.0), (80, 3, 0.1), (5, 60, 0.0)]
    for i, (k1, k2, shift) in enumerate(specs):
        d1, d2 = diagram(rng, k1), diagram(rng, k2, shift)
        sw = {str(M): float(persim.sliced_wasserstein(d1, d2, M=M)) for M in (1, 7, 50, 100)}
        bn = float(persim.bottleneck(d1, d2)) if k1 and k2 else None
        cases.append(
            {
                "name": f"case{i}",
                "d1": d1.tolist(),
                "d2": d2.tolist(),
                "sliced_wasserstein": sw,
                "bottleneck": bn,
            }
        )
    # a noisy circle in 10-D: ripser reference diagrams (no threshold, Z/2, maxdim 1)
    t = rng.uniform(0, 2 * np.pi, 60)
    X = np.zeros((60, 10))
    X[:, 0], X[:, 1] = np.cos(t), np.sin(t)
    X += 0.05 * rng.standard_normal(X.shape)
    dg = ripser.ripser(X, maxdim=1)["dgms"]
    out = {
        "generated_by": "benchmarks/make_topology_vectors.py",
        "versions": {
            "persim": version("persim"),
            "ripser": version("ripser"),
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "cases": cases,
        "ripser_cloud": {
            "X": X.tolist(),
            "H0": [[b, d if np.isfinite(d) else None] for b, d in dg[0].tolist()],
            "H1": dg[1].tolist(),
        },
    }
    path = (
        pathlib.Path(__file__).resolve().parents[1]
        / "tests"
        / "topology"
        / "data"
        / "sliced_wasserstein_vectors.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
