"""Reference values for tests/dynamics/test_dynamics_inputdsa.py from dsa-metric 2.0.2's DMDc.

Run with the benchmark venv (never imported by src/ or the tests):
    benchmarks/.venv/bin/python benchmarks/make_inputdsa_fixture.py
writes tests/dynamics/data/dsa_metric_inputdsa.json (data + the reference's A_havok_dmd / B_havok_dmd).
One long single trial: the reference stacks trials and pairs rows across trial boundaries; with one trial
both fits use the same transitions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def make_data(seed: int = 0, T: int = 300, n: int = 3, m: int = 2, noise: float = 0.1):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    A *= 0.9 / np.max(np.abs(np.linalg.eigvals(A)))
    B = rng.standard_normal((n, m))
    U = rng.standard_normal((T, m))
    X = np.zeros((T, n))
    x = rng.standard_normal(n)
    for t in range(T):
        X[t] = x
        x = A @ x + B @ U[t] + noise * rng.standard_normal(n)
    return X, U


def main() -> None:
    from DSA.dmdc import DMDc

    X, U = make_data()
    ref = DMDc(X, U, n_delays=1, rank_input=5, rank_output=3, lamb=1e-8)
    ref.fit()
    out = {
        "source": "dsa-metric 2.0.2, DSA.dmdc.DMDc(X, U, n_delays=1, rank_input=5, rank_output=3, lamb=1e-8)",
        "n_delays": 1,
        "rank": 3,
        "tol": 1e-4,  # the reference computes in float32
        "X": X.tolist(),
        "U": U.tolist(),
        "A_havok_dmd": ref.A_havok_dmd.double().numpy().tolist(),
        "B_havok_dmd": ref.B_havok_dmd.double().numpy().tolist(),
    }
    path = Path(__file__).resolve().parents[1] / "tests" / "dynamics" / "data" / "dsa_metric_inputdsa.json"
    path.write_text(json.dumps(out))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
