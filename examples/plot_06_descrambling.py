"""
Descrambling a layer
====================

Sule, Spencer & Czaja (2023): the units of a layer come in an arbitrary order; an orthogonal
*descrambler* ``P`` re-mixes them so that the preactivations ``P S`` vary smoothly along the unit axis.
The optimum is in closed form, ``P* = T Uᵀ`` (smoothness-operator modes × principal components of the
preactivations), and attains the Brockett bound. Here: the first layer of a small trained MLP.
"""

import numpy as np
import torch
from torch import nn

import repscope as rs

# %%
# An MLP on generated data; its first layer's outputs (``Linear``, before the ReLU) are preactivations.
rng = np.random.default_rng(0)
y = np.arange(500) % 5
X = (2.0 * rng.standard_normal((5, 12))[y] + rng.standard_normal((500, 12))).astype(np.float32)
torch.manual_seed(0)
mlp = nn.Sequential(nn.Linear(12, 48), nn.ReLU(), nn.Linear(48, 5))
opt = torch.optim.Adam(mlp.parameters(), lr=0.01)
for _ in range(100):
    opt.zero_grad()
    nn.functional.cross_entropy(mlp(torch.from_numpy(X)), torch.from_numpy(y)).backward()
    opt.step()
with torch.no_grad():
    S = mlp[0](torch.from_numpy(X)).numpy().T           # preactivations: units × samples

# %%
# The closed-form descrambler is orthogonal and attains the Brockett bound.
d = rs.descramble.Descrambler("first_difference").fit(S)
P = d.P_
print("orthogonal:", np.allclose(P @ P.T, np.eye(48)))
print("cost / bound:", d.cost_, d.bound_, "relative gap", abs(d.cost_ - d.bound_) / abs(d.bound_))
print("cost of the original unit order:", round(d.cost_identity_, 3))

# %%
# How much of the layer's energy is at high "unit frequencies" before and after (lower = smoother).
before = rs.descramble.high_frequency_fraction(S)
after = rs.descramble.high_frequency_fraction(P @ S)
print(f"high-frequency fraction: {before:.3f} → {after:.3f}")

# %%
# The descrambled weights ``P W`` of the same layer (rows = re-mixed units).
W = mlp[0].weight.detach().numpy()
PW = rs.descramble.descramble_weights(P, W)
print(PW.shape)
d.result().plot()
