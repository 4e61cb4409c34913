"""
Your own model, start to finish
===============================

A residual CNN defined in *your* file, trained for a few seconds on generated images, its weights saved
and loaded as you would a trained model, its activations captured into a store, one lens at a time, and
finally the HTML report. Nothing is downloaded: the images are generated here.
"""

# %%
# The model lives in a file of its own (``resnet_small.py``), as it would in your project. The CLI takes
# the same file as ``--model resnet_small.py:ResNetSmall``.
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

import repscope as rs
from repscope.report import build_report

work = Path(tempfile.mkdtemp(prefix="repscope-own-"))
(work / "resnet_small.py").write_text('''
from torch import nn


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.relu(x + self.conv2(self.relu(self.conv1(x))))


class ResNetSmall(nn.Module):
    def __init__(self, n_classes=3):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.block1 = Block(8)
        self.block2 = Block(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, n_classes)

    def forward(self, x):
        x = self.block2(self.block1(self.stem(x).relu()))
        return self.fc(self.pool(x).flatten(1))
''')
sys.path.insert(0, str(work))
from resnet_small import ResNetSmall  # noqa: E402

# %%
# Data: 12×12 images of a horizontal bar, a vertical bar or a diagonal, at random positions, with noise.
rng = np.random.default_rng(0)
n = 240
y = np.arange(n) % 3
X = rng.normal(0, 0.3, (n, 1, 12, 12)).astype(np.float32)
for i in range(n):
    p = rng.integers(2, 10)
    if y[i] == 0:
        X[i, 0, p, 1:11] += 1.0
    elif y[i] == 1:
        X[i, 0, 1:11, p] += 1.0
    else:
        X[i, 0, np.arange(12), np.arange(12)] += 1.0

torch.manual_seed(0)
net = ResNetSmall()
opt = torch.optim.Adam(net.parameters(), lr=0.02)
xt, yt = torch.from_numpy(X), torch.from_numpy(y)
for _ in range(40):
    opt.zero_grad()
    torch.nn.functional.cross_entropy(net(xt), yt).backward()
    opt.step()
print("training accuracy", float((net(xt).argmax(1) == yt).float().mean()))
torch.save(net.state_dict(), work / "resnet_small.pt")

# %%
# Load the weights (only ever with ``weights_only=True``) and list the layers with one dry forward pass.
net = ResNetSmall()
net.load_state_dict(torch.load(work / "resnet_small.pt", weights_only=True))
table = rs.capture.list_layers(net, X[:4])
print(table.info("block1").type, table.info("block1").shape)

# %%
# Capture: the blocks' feature maps averaged over space (``pool="mean"``), the logits as they are.
store = rs.capture(net, X, layers=["stem", "block*", "fc"], out=work / "acts.zarr", labels=y,
                   pool={"fc": "none", "*": "mean"}, progress=False)
print(store.layers, store.n_samples, store.layer_shape("block2"))

# %%
# One lens at a time: the layer-by-layer linear CKA matrix …
cka = rs.metrics.layer_matrix(store, metric="linear_cka")
print(cka.summary())
cka.plot()

# %%
# … or every lens that applies, in one self-contained report (here two sections, to stay quick; without
# ``sections=`` the report runs every lens that applies).
report = build_report(store, work / "report", sections=["capture", "similarity"],
                      title="ResNetSmall on bars")
print(report.name, sorted(p.name for p in report.parent.iterdir())[:4])
