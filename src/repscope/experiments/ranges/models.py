"""Small image classifiers for the mitigation benchmark (trained in seconds on a CPU).

``SmallCNN``: conv(3×3) → ReLU → conv(3×3) → ReLU → max-pool(2) → conv(3×3) → ReLU → flatten →
``fc1`` → ReLU (penultimate features, ``feat_dim``) → ``fc2`` (logits). The flattening head keeps
spatial position, so the network *can* pick up a position/marker shortcut — which is what the benchmark
needs ERM to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from repscope.errors import InputError

__all__ = ["build_cnn", "train_classifier", "TrainedClassifier"]


def build_cnn(
    in_shape: tuple[int, int, int],
    n_classes: int,
    *,
    width: int = 16,
    feat_dim: int = 64,
    seed: int = 0,
    batchnorm: bool = False,
):
    """The benchmark CNN for inputs of shape ``(C, H, W)``."""
    import torch
    from torch import nn

    C, H, W = in_shape
    torch.manual_seed(seed)
    ph, pw = H // 2, W // 2
    stride = 2 if ph * pw > 64 else 1  # keep the flattened size small on 32×32 inputs
    oh, ow = (ph + stride - 1) // stride, (pw + stride - 1) // stride

    def bn(c: int) -> Any:
        return nn.BatchNorm2d(c) if batchnorm else nn.Identity()

    return nn.Sequential(
        nn.Conv2d(C, width, 3, padding=1),
        bn(width),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1),
        bn(width),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1, stride=stride),
        bn(2 * width),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(2 * width * oh * ow, feat_dim),
        nn.ReLU(),
        nn.Linear(feat_dim, n_classes),
    )


@dataclass
class TrainedClassifier:
    """A trained network plus helpers to read its penultimate features and logits."""

    model: Any
    n_classes: int
    train_accuracy: float

    def _forward(self, X: np.ndarray, upto: int | None) -> np.ndarray:
        import torch

        layers = list(self.model.children())
        net = self.model if upto is None else torch.nn.Sequential(*layers[:upto])
        out = []
        with torch.no_grad():
            for s in range(0, X.shape[0], 1024):
                out.append(net(torch.as_tensor(X[s : s + 1024], dtype=torch.float32)).numpy())
        return np.concatenate(out).astype(np.float64)

    def features(self, X: np.ndarray) -> np.ndarray:
        """Penultimate features (after the ReLU of ``fc1``)."""
        return self._forward(X, len(list(self.model.children())) - 1)

    def logits(self, X: np.ndarray) -> np.ndarray:
        return self._forward(X, None)

    def head(self) -> tuple[np.ndarray, np.ndarray]:
        """(coef (k, d), intercept (k,)) of the final linear layer."""
        last = list(self.model.children())[-1]
        return last.weight.detach().numpy().astype(np.float64), last.bias.detach().numpy().astype(np.float64)


def train_classifier(
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    *,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
    width: int = 16,
    feat_dim: int = 64,
    seed: int = 0,
    batchnorm: bool = False,
    threads: int | None = 1,
) -> TrainedClassifier:
    """Train :func:`build_cnn` with Adam, a one-cycle learning-rate schedule (peak ``lr``) and
    cross-entropy (ERM). Deterministic for a given seed."""
    import torch

    from repscope.parallel import torch_threads

    Xa = np.asarray(X, dtype=np.float32)
    ya = np.asarray(y, dtype=np.int64)
    if Xa.ndim != 4:
        raise InputError(f"X has shape {Xa.shape}; expected images (n, C, H, W)")
    if ya.shape != (Xa.shape[0],):
        raise InputError(f"y has shape {ya.shape}; expected ({Xa.shape[0]},)")
    if ya.min() < 0 or ya.max() >= n_classes:
        raise InputError(f"labels must lie in 0..{n_classes - 1}")
    with torch_threads(threads):
        model = build_cnn(
            Xa.shape[1:], n_classes, width=width, feat_dim=feat_dim, seed=seed, batchnorm=batchnorm
        )
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        g = torch.Generator().manual_seed(seed)
        Xt, yt = torch.from_numpy(Xa), torch.from_numpy(ya)
        lossf = torch.nn.CrossEntropyLoss()
        steps = epochs * ((Xt.shape[0] + batch_size - 1) // batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, steps))
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(Xt.shape[0], generator=g)
            for s in range(0, Xt.shape[0], batch_size):
                idx = perm[s : s + batch_size]
                opt.zero_grad()
                loss = lossf(model(Xt[idx]), yt[idx])
                loss.backward()
                opt.step()
                sched.step()
        model.eval()
        with torch.no_grad():
            acc = float((model(Xt).argmax(1) == yt).float().mean())
    return TrainedClassifier(model, n_classes, acc)
