"""Reference persistence landscapes from persim 0.4.1 for tests/topology/test_topology_summaries.py.

Run with the benchmark venv (never imported by src/ or the tests):
    benchmarks/.venv/bin/python benchmarks/make_summary_fixtures.py
writes tests/topology/data/persim_landscapes.json. persim's ``PersLandscapeApprox`` snaps births and deaths
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
    out = {
        "source": "persim 0.4.1, persim.landscapes.PersLandscapeApprox(start=0, stop=3, num_steps=61, hom_deg=0)",
        "diagram": D.tolist(),
        "grid": grid.tolist(),
        "values": vals.tolist(),
    }
    path = Path(__file__).resolve().parents[1] / "tests" / "topology" / "data" / "persim_landscapes.json"
    path.write_text(json.dumps(out))
    print(f"wrote {path}: {vals.shape[0]} landscape functions on {num} scales")


if __name__ == "__main__":
    main()
