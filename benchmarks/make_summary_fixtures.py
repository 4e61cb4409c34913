"""Reference persistence landscapes from persim 0.4.1 for tests/topology/test_topology_summaries.py.

Run with the benchmark venv (never imported by src/ or the tests):
    benchmarks/.venv/bin/python benchmarks/make_summary_fixtures.py
writes tests/topology/data/persim_landscapes.json (landscapes; the sup-norm landscape distance of two diagrams).
persim's ``PersLandscapeApprox`` snaps births and deaths
to its grid, so the diagram is drawn on the grid (then its values are the exact landscape there).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def main() -> None:
    from persim.landscapes import PersLandscapeApprox

    start, stop, num = 0.0, 3.0, 61
    grid = np.linspace(start, stop, num)
    rng = np.random.default_rng(0)
    b = rng.integers(0, 40, 25)
    d = b + rng.integers(1, 20, 25)
    D = np.c_[grid[b], grid[d]]
    pl = PersLandscapeApprox(start=start, stop=stop, num_steps=num, dgms=[D], hom_deg=0)
    vals = np.asarray(pl.values, dtype=float)
    # landscape distance: persim's exact landscapes, difference, sup norm (its p_norm of a difference is up to
    # ~1 % off an independent fine-grid integral here — cause not investigated — so it is not used)
    from persim.landscapes import PersLandscapeExact

    A = np.c_[rng.uniform(0, 1, 12)]
    A = np.c_[A, A + rng.exponential(0.3, (12, 1))]
    B = np.c_[rng.uniform(0, 1, 9)]
    B = np.c_[B, B + rng.exponential(0.3, (9, 1))]
    sup = (PersLandscapeExact(dgms=[A], hom_deg=0) - PersLandscapeExact(dgms=[B], hom_deg=0)).sup_norm()
    out = {
        "source": "persim 0.4.1, persim.landscapes.PersLandscapeApprox(start=0, stop=3, num_steps=61, hom_deg=0); "
        "PersLandscapeExact difference .sup_norm()",
        "diagram": D.tolist(),
        "grid": grid.tolist(),
        "values": vals.tolist(),
        "distance": {"A": A.tolist(), "B": B.tolist(), "sup_norm": float(sup)},
    }
    path = Path(__file__).resolve().parents[1] / "tests" / "topology" / "data" / "persim_landscapes.json"
    path.write_text(json.dumps(out))
    print(f"wrote {path}: {vals.shape[0]} landscape functions on {num} scales")


if __name__ == "__main__":
    main()
