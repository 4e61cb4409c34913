"""
Topology: persistence and mapper graphs
=======================================

Layers as point clouds. Vietoris–Rips persistence finds loops (H1) and components (H0); diagram
distances compare layers by shape rather than by geometry; a mapper graph (Purvine et al. 2022) summarises
how the samples of each class are arranged in a layer.
"""

import numpy as np
import torch
from torch import nn

import repscope as rs

# %%
# A known answer first: a circle embedded in 20 dimensions has exactly one long-lived H1 bar, and a
# diagram is at distance 0 from itself.
rng = np.random.default_rng(0)
t = rng.uniform(0, 2 * np.pi, 200)
circle = np.c_[np.cos(t), np.sin(t)] @ rng.standard_normal((2, 20))
blob = rng.standard_normal((200, 20))
dg_circle = rs.topology.persistence(circle, maxdim=1, name="circle")
dg_blob = rs.topology.persistence(blob, maxdim=1, name="blob")
h1 = dg_circle.dgms[1]
print("long H1 bars:", int(((h1[:, 1] - h1[:, 0]) > 0.5 * np.ptp(circle)).sum()))
same = rs.topology.diagram_distance(dg_circle, dg_circle, metric="bottleneck", dim=1)
different = rs.topology.diagram_distance(dg_circle, dg_blob, metric="bottleneck", dim=1)
print(f"bottleneck(circle, circle) = {same}, bottleneck(circle, blob) = {different:.3f}")
dg_circle.plot()

# %%
# Now a network: a GRU reads short sequences of 3 kinds (rising, falling, oscillating) and a linear
# head classifies its last state. The mapper graph of the head's inputs, coloured by class, shows how
# pure its nodes are.
n, T = 300, 12
y = np.arange(n) % 3
time = np.linspace(0, 1, T)
base = np.stack([time, 1 - time, 0.5 + 0.5 * np.sin(6 * time)])
seqs = (base[y] + 0.15 * rng.standard_normal((n, T))).astype(np.float32)[..., None]


class GRUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(1, 16, batch_first=True)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.head(out[:, -1])


torch.manual_seed(0)
net = GRUNet()
opt = torch.optim.Adam(net.parameters(), lr=0.02)
for _ in range(80):
    opt.zero_grad()
    nn.functional.cross_entropy(net(torch.from_numpy(seqs)), torch.from_numpy(y)).backward()
    opt.step()

with torch.no_grad():
    out, _ = net.gru(torch.from_numpy(seqs))
hidden = out[:, -1].numpy()
graph = rs.topology.mapper(hidden, labels=y, lens="l2norm", n_intervals=8, overlap=0.3, seed=0)
print(graph.summary())
print("mean node purity:", round(graph.node_purity(), 3))
graph.plot()
