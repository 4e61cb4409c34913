"""
Activation ranges: what the mid band reveals
============================================

O'Mahony, Nikolov & O'Sullivan (2024) read a class logit in *bands*: the top band is what the network is
sure of, the mid band what it half-recognises. For each attribute of the samples, repscope measures how
strongly it goes with each band (Cramér's V with permutation p-values) and gives a verdict: an attribute
strong in the mid band but not in the top band is a candidate confounder. Here an MLP learns 3 classes of
generated points whose attribute ``shade`` is correlated with class 2 and shifts the points.
"""

import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

import repscope as rs

# %%
# Data: three blobs in 6 dimensions; ``shade`` (0/1) is 1 for 80 % of class 2 and 20 % of the others,
# and it nudges the points along one axis, so the network can use it.
rng = np.random.default_rng(1)
n = 600
y = np.arange(n) % 3
shade = (rng.random(n) < np.where(y == 2, 0.8, 0.2)).astype(int)
X = (1.5 * rng.standard_normal((3, 6))[y] + rng.standard_normal((n, 6))).astype(np.float32)
X[:, 0] += 1.5 * shade

torch.manual_seed(0)
mlp = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 3))
opt = torch.optim.Adam(mlp.parameters(), lr=0.02)
for _ in range(150):
    opt.zero_grad()
    nn.functional.cross_entropy(mlp(torch.from_numpy(X)), torch.from_numpy(y)).backward()
    opt.step()

work = Path(tempfile.mkdtemp(prefix="repscope-ranges-"))
store = rs.capture(mlp, X, layers=["0", "2"], out=work / "mlp.zarr", labels=y,
                   attributes={"shade": shade}, progress=False)

# %%
# The normalised logit of class 2 cut into bands (low / mid / high / top).
bands = rs.ranges.logit_bands(store.read("2"), 2)
print(bands.names, bands.counts())
bands.plot()

# %%
# The whole analysis of unit ``2:2`` (layer ``"2"``, unit 2): attribute associations per band with
# permutation p-values, and a verdict per attribute. Here the network relies on ``shade`` for its
# *confident* class-2 outputs: it is strong in the top band and absent from the mid band ("top only"),
# while the label and the prediction are, as they must be, derived from the target.
analysis = rs.ranges.analyse_store(store, unit="2:2", n_permutations=199, seed=0)
header, rows = analysis.confounders.table()
print(header)
for row in rows:
    print(row)
analysis.confounders.plot()
verdicts = {row[0]: row[-1] for row in rows}
assert verdicts["shade"] == "top only", verdicts  # the text above describes this run
