"""Models the demo never uses, defined here, and their captured stores (built once per test session).

- ``mlp``: a 3-class MLP trained for a few seconds on Gaussian blobs (8 → 32 → 16 → 3);
- ``untrained_mlp``: a 4-layer MLP at random init whose logits all favour one class;
- ``two_layer``: the same MLP captured at two layers only;
- ``rescnn``: a small residual CNN (conv stem, one residual block, global pool, head) on 8×8 images;
- ``gru``: two stacked GRUs over 3-channel sequences (sinusoids whose frequency is the class);
- ``bert``: a tiny BERT (transformers ``BertConfig``, random init, no download) over token sequences of
  varying length, padded, with an ``n_tokens`` attribute.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, d_in: int = 8, widths: tuple[int, ...] = (32, 16), n_out: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = d_in
        for i, w in enumerate(widths):
            setattr(self, f"fc{i + 1}", nn.Linear(d, w))
            setattr(self, f"act{i + 1}", nn.ReLU())
            layers += [getattr(self, f"fc{i + 1}"), getattr(self, f"act{i + 1}")]
            d = w
        self.out = nn.Linear(d, n_out)
        self._order = layers + [self.out]

    def forward(self, x):
        for m in self._order:
            x = m(x)
        return x


class ResBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.bn = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return torch.relu(x + self.conv2(torch.relu(self.bn(self.conv1(x)))))


class ResCNN(nn.Module):
    def __init__(self, n_out: int = 4) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.block = ResBlock(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.head = nn.Linear(8, n_out)

    def forward(self, x):
        return self.head(self.flat(self.pool(self.block(torch.relu(self.stem(x))))))


class GRUNet(nn.Module):
    def __init__(self, d_in: int = 3, hidden: int = 16, n_out: int = 3) -> None:
        super().__init__()
        self.gru1 = nn.GRU(d_in, hidden, batch_first=True)
        self.gru2 = nn.GRU(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_out)

    def forward(self, x):
        h, _ = self.gru1(x)
        h, _ = self.gru2(h)
        return self.head(h[:, -1])


def blobs(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    centres = rng.standard_normal((3, 8)) * 2.5
    return (centres[y] + rng.standard_normal((n, 8))).astype(np.float32), y


def trained_mlp(seed: int = 0) -> tuple[MLP, np.ndarray, np.ndarray]:
    torch.manual_seed(seed)
    X, y = blobs(seed=seed)
    net = MLP()
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    return net.eval(), X, y


def images(n: int = 160, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    X = rng.standard_normal((n, 1, 8, 8)).astype(np.float32) * 0.3
    for i, c in enumerate(y):  # class c: a bright bar in row/column band c
        X[i, 0, 2 * c : 2 * c + 2, :] += 1.5 if c % 2 == 0 else 0.0
        X[i, 0, :, 2 * c : 2 * c + 2] += 1.5 if c % 2 == 1 else 0.0
    return X, y


def sequences(n: int = 120, T: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    t = np.arange(T)
    X = np.empty((n, T, 3), dtype=np.float32)
    for i, c in enumerate(y):
        f = 0.15 * (c + 1)
        ph = rng.uniform(0, 2 * np.pi)
        X[i, :, 0] = np.sin(f * t + ph)
        X[i, :, 1] = np.cos(f * t + ph)
        X[i, :, 2] = 0.1 * rng.standard_normal(T)
    return X, y


def tiny_bert(seed: int = 0):
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=48, max_position_embeddings=32, attn_implementation="eager")
    return BertModel(cfg).eval()


def token_batches(n: int = 96, T: int = 12, seed: int = 0):
    """Batches of (input_ids, attention_mask) with lengths 6…12; class k draws tokens from its own range."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    lengths = rng.integers(6, T + 1, size=n)
    ids = np.zeros((n, T), dtype=np.int64)
    mask = np.zeros((n, T), dtype=np.int64)
    for i, (c, L) in enumerate(zip(y, lengths)):
        ids[i, :L] = rng.integers(3 + 18 * c, 3 + 18 * (c + 1), size=L)
        ids[i, 0] = 1
        mask[i, :L] = 1
    batches = [{"input_ids": torch.from_numpy(ids[s : s + 32]), "attention_mask": torch.from_numpy(mask[s : s + 32])}
               for s in range(0, n, 32)]
    return batches, y, lengths


def capture_all(root: Path) -> dict[str, Path]:
    """Capture every zoo model into ``root/<name>.zarr``; return the store paths."""
    import repscope as rs

    root = Path(root)
    paths: dict[str, Path] = {}
    kw = dict(overwrite=True, progress=False)

    net, X, y = trained_mlp()
    paths["mlp"] = root / "mlp.zarr"
    rs.capture(net, X, ["fc1", "act1", "fc2", "act2", "out"], paths["mlp"], labels=y,
               attributes={"blob": np.array(["a", "b", "c"])[y]}, **kw)
    paths["two_layer"] = root / "two_layer.zarr"
    rs.capture(net, X, ["fc2", "out"], paths["two_layer"], labels=y, **kw)

    torch.manual_seed(3)
    deep = MLP(widths=(16, 16, 16), n_out=3)
    with torch.no_grad():  # an untrained net whose logits always favour class 2
        deep.out.bias.copy_(torch.tensor([-50.0, -50.0, 50.0]))
    Xu, yu = blobs(120, seed=1)
    paths["untrained_mlp"] = root / "untrained_mlp.zarr"
    rs.capture(deep, Xu, ["fc1", "fc2", "fc3", "out"], paths["untrained_mlp"], labels=yu, **kw)

    torch.manual_seed(0)
    Xi, yi = images()
    paths["rescnn"] = root / "rescnn.zarr"
    rs.capture(ResCNN(), Xi, ["stem", "block.conv1", "block", "pool", "head"], paths["rescnn"],
               pool={"pool": "mean", "*": "none"}, labels=yi, **kw)

    torch.manual_seed(0)
    Xs, ys = sequences()
    paths["gru"] = root / "gru.zarr"
    rs.capture(GRUNet(), Xs, ["gru1", "gru2", "head"], paths["gru"], labels=ys, **kw)

    bert = tiny_bert()
    batches, yb, lengths = token_batches()
    paths["bert"] = root / "bert.zarr"
    rs.capture(bert, batches, ["embeddings", "encoder.layer.0", "encoder.layer.1",
                               "encoder.layer.0.intermediate.dense", "encoder.layer.1.intermediate.dense"],
               paths["bert"], labels=yb, attributes={"n_tokens": lengths}, **kw)
    return paths
