"""
Layer similarity with confidence intervals
==========================================

How alike are the layers of an MLP, and how sure are we? ``layer_matrix(..., n_boot=...)`` resamples
the samples (bootstrap) and gives a percentile interval for every entry in the same streamed pass;
``n_perm`` adds permutation p-values against unrelated representations, and
:func:`~repscope.metrics.uncertainty.compare_entries` tells whether two entries differ.
"""

import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

import repscope as rs
from repscope.metrics.uncertainty import compare_entries

# %%
# A small MLP on a generated 4-class problem (Gaussian blobs in 10 dimensions), trained for a moment.
rng = np.random.default_rng(0)
y = np.arange(400) % 4
X = (2.0 * rng.standard_normal((4, 10))[y] + rng.standard_normal((400, 10))).astype(np.float32)

torch.manual_seed(0)
mlp = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4))
opt = torch.optim.Adam(mlp.parameters(), lr=0.01)
for _ in range(100):
    opt.zero_grad()
    nn.functional.cross_entropy(mlp(torch.from_numpy(X)), torch.from_numpy(y)).backward()
    opt.step()

work = Path(tempfile.mkdtemp(prefix="repscope-ci-"))
store = rs.capture(mlp, X, layers=["0", "1", "2", "3", "4"], out=work / "mlp.zarr", labels=y, progress=False)
print(store.layers)

# %%
# Linear CKA between every pair of layers, with 95% bootstrap intervals (200 resamples of the samples)
# and permutation p-values (99 permutations).
cka = rs.metrics.layer_matrix(store, metric="linear_cka", n_boot=200, n_perm=99, seed=0)
print(type(cka).__name__)
print(np.round(cka.values, 3))
print("95% interval of CKA(layer 0, layer 4):", cka.ci_low_[0, 4].round(3), "–", cka.ci_high_[0, 4].round(3))
print("permutation p-values, first row:", cka.p_values_[0].round(3))
cka.plot()

# %%
# Is the first hidden layer closer to the output than the input layer is? A paired bootstrap over the
# same resamples answers with an interval for the difference.
comparison = compare_entries(cka, ("1", "4"), ("0", "4"))
print(comparison.summary())
