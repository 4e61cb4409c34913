"""
Dynamics: Dynamical Similarity Analysis
=======================================

DSA (Ostrow et al. 2023) compares *how* systems evolve, not where their states lie: it fits a linear
operator to delay-embedded trajectories (HAVOK DMD) and measures the distance between two operators up
to an orthogonal change of basis. Two rotations at the same speed, observed through different random
projections, are the same dynamics; a faster rotation or a decaying spiral are not.
"""

import numpy as np

import repscope as rs


def linear_system(theta: float, decay: float = 0.99, T: int = 200, seed: int = 0) -> np.ndarray:
    """A 2-D rotation by ``theta`` per step (damped by ``decay``) observed in 6 dimensions."""
    r = np.random.default_rng(seed)
    A = decay * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    x = np.empty((T, 2))
    x[0] = r.standard_normal(2)
    for k in range(1, T):
        x[k] = A @ x[k - 1]
    return x @ r.standard_normal((2, 6))


# %%
# One pair at a time: the same dynamics seen through two projections are at distance ≈ 0.
a, b = linear_system(0.2, seed=0), linear_system(0.2, seed=1)
c = linear_system(0.6, seed=2)
print("DSA(a, b) =", f"{rs.dynamics.dsa(a, b, rank=2):.2e}", " DSA(a, c) =", round(rs.dynamics.dsa(a, c, rank=2), 3))

# %%
# A matrix over several systems: two slow rotations, two fast ones, two damped spirals. DSA groups them
# by dynamics whatever the projection.
systems = [linear_system(0.2, seed=0), linear_system(0.2, seed=1),
           linear_system(0.6, seed=2), linear_system(0.6, seed=3),
           linear_system(0.2, decay=0.9, seed=4), linear_system(0.2, decay=0.9, seed=5)]
names = ["slow-1", "slow-2", "fast-1", "fast-2", "damped-1", "damped-2"]
D = rs.dynamics.dsa_matrix(systems, rank=2, names=names, seed=0)
print(np.round(D.distances, 3))
D.plot()

# %%
# With a model: the dynamics lens reads every sequence layer of a store — ``(N, T, D)`` captured with
# ``pool="none"`` from a recurrent network — as trajectories, and compares the layers' dynamics. Here two
# stacked, untrained GRUs driven by noise; their hidden-state sequences are captured through ``Identity``
# modules placed on the GRUs' outputs (a GRU itself returns a tuple).
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402


class GRUStates(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru1 = nn.GRU(3, 16, batch_first=True)
        self.states1 = nn.Identity()
        self.gru2 = nn.GRU(16, 16, batch_first=True)
        self.states2 = nn.Identity()

    def forward(self, x):
        h = self.states1(self.gru1(x)[0])
        return self.states2(self.gru2(h)[0])


torch.manual_seed(0)
inputs = torch.randn(40, 30, 3)
store = rs.capture(GRUStates(), inputs, layers=["states1", "states2"], pool="none",
                   out=Path(tempfile.mkdtemp(prefix="repscope-dsa-")) / "gru.zarr", progress=False)
print(store.layer_info("states1")["axes"], "— applies:", rs.dynamics.applies(store))
analysis = rs.dynamics.analyse(store, progress=False)
print(analysis.summary())
analysis.plot()
