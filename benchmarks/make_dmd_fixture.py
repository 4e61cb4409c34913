"""Reference one-step prediction MSE and ResDMD residuals from dsa-metric 2.0.2 for
tests/dynamics/test_dynamics_resdmd.py and test_dynamics_sweep.py.

Run with the benchmark venv (never imported by src/ or the tests):
    benchmarks/.venv/bin/python benchmarks/make_dmd_fixture.py
writes tests/dynamics/data/dsa_metric_dmd.json: train/test trials and, per (n_delays, rank), the reference's
``DSA.stats.compute_all_stats(test, DMD.predict(test, reseed=1), rank)["MSE"]`` and the residuals of
``DSA.resdmd.compute_residuals(dmd, test)`` (res², sorted).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def main() -> None:
    import torch
    from DSA.dmd import DMD
    from DSA.resdmd import compute_residuals
    from DSA.stats import compute_all_stats

    rng = np.random.default_rng(0)
    th = [0.35, 1.1]
    A = np.zeros((4, 4))
    for b, (t, rho) in enumerate(zip(th, [0.99, 0.97])):
        A[2 * b : 2 * b + 2, 2 * b : 2 * b + 2] = rho * np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    C = np.array([[1.0, 0.0, 0.7, 0.0], [0.2, 0.0, -0.5, 0.0]])
    Y = np.empty((5, 60, 2))
    for k in range(5):
        x = rng.standard_normal(4)
        for t in range(60):
            Y[k, t] = C @ x
            x = A @ x + 0.01 * rng.standard_normal(4)
    Y = np.round(Y + 0.02 * rng.standard_normal(Y.shape), 8)
    train, test = Y[:4], Y[4:]
    cases = []
    for d, r in ((1, 2), (2, 4), (4, 4), (4, 6)):
        m = DMD(torch.from_numpy(train), n_delays=d, rank=r, lamb=1e-8)
        m.fit()
        pred = m.predict(torch.from_numpy(test), reseed=1).double().numpy()
        st = compute_all_stats(test, pred, r)
        _, _, res, _ = compute_residuals(m, torch.from_numpy(test))
        cases.append({"n_delays": d, "rank": r, "mse": float(st["MSE"]), "mase": float(st["MASE"]),
                      "res2": np.sort(np.abs(np.asarray(res))).tolist()})
    out = {"source": "dsa-metric 2.0.2: DSA.dmd.DMD(lamb=1e-8), DMD.predict(reseed=1), DSA.stats.compute_all_stats, "
                     "DSA.resdmd.compute_residuals (float32)",
           "train": train.tolist(), "test": test.tolist(), "cases": cases}
    path = Path(__file__).resolve().parents[1] / "tests" / "dynamics" / "data" / "dsa_metric_dmd.json"
    path.write_text(json.dumps(out))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
