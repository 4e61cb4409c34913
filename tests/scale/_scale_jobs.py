"""Stand-in per-item / per-pair jobs for the scale tests (pickled by value onto the Dask workers)."""

from __future__ import annotations

import os
import time

import numpy as np


def circle_cloud(seed: int, n: int = 40, noise: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    r = 1.0 + 0.3 * (seed % 3)
    return np.c_[r * np.cos(t), r * np.sin(t)] + noise * rng.standard_normal((n, 2))


def rips_diagram(X: np.ndarray) -> np.ndarray:
    """H1 persistence diagram of a Vietoris–Rips filtration (gudhi), finite points only."""
    import gudhi

    st = gudhi.RipsComplex(points=X, max_edge_length=4.0).create_simplex_tree(max_dimension=2)
    st.compute_persistence()
    d = np.asarray(st.persistence_intervals_in_dimension(1)).reshape(-1, 2)
    return d[np.isfinite(d[:, 1])]


def bottleneck(d1: np.ndarray, d2: np.ndarray) -> float:
    import gudhi

    return float(gudhi.bottleneck_distance(d1, d2))


def linear_system_trajectory(seed: int, T: int = 120, dim: int = 3) -> np.ndarray:
    """A noisy trajectory of a random stable linear system (a DSA-like test input)."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    A = 0.95 * Q
    x = np.empty((T, dim))
    x[0] = rng.standard_normal(dim)
    for t in range(1, T):
        x[t] = A @ x[t - 1] + 0.01 * rng.standard_normal(dim)
    return x


def fit_dmd(x: np.ndarray, n_delays: int = 3) -> np.ndarray:
    """Delay-embed (Hankel) and fit the least-squares linear operator (havok/DMD stand-in)."""
    H = np.hstack([x[i : len(x) - n_delays + i + 1] for i in range(n_delays)])
    A, *_ = np.linalg.lstsq(H[:-1], H[1:], rcond=None)
    return A.T


def spectrum_distance(A: np.ndarray, B: np.ndarray) -> float:
    """A similarity-transform-invariant distance between two operators (sorted eigenvalues)."""
    ea = np.sort_complex(np.linalg.eigvals(A))
    eb = np.sort_complex(np.linalg.eigvals(B))
    return float(np.linalg.norm(ea - eb))


def in_worker_flag(x: object) -> str:
    return os.environ.get("REPSCOPE_IN_WORKER", "")


def die_once(X: np.ndarray, Y: np.ndarray, marker: str) -> float:
    """linear-CKA-like value; the first call anywhere on a Dask worker kills that worker's process."""
    if os.environ.get("REPSCOPE_IN_WORKER") == "1":
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pass
        else:
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            os._exit(1)  # the worker process dies mid-job, without cleanup
    time.sleep(0.05)
    return float(np.linalg.norm(X.T @ Y))


def fail_once(x: float, marker: str) -> float:
    """Raises on its first call (anywhere), succeeds afterwards."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return 2.0 * x
    os.close(fd)
    raise RuntimeError("transient failure")


def fail_on(x: int, bad: int) -> int:
    time.sleep(0.02)
    if x == bad:
        raise ValueError(f"item {x} is bad")
    return x * x


def slow_square(x: float) -> float:
    time.sleep(0.3)
    return x * x
