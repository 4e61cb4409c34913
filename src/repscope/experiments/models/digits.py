"""Tiny models trained on the fly on scikit-learn digits, cached under the user cache directory.

Training takes seconds on a CPU and is deterministic for a seed. The cache holds only a ``state_dict``
loaded with ``torch.load(..., weights_only=True)`` (never unpickling arbitrary objects) and a SHA-256
checksum; a missing, corrupt or mismatching cache file is silently re-trained.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from repscope.errors import InputError

_VERSION = 1


class DigitsCNN(nn.Module):
    """conv1 relu1 conv2 relu2 pool conv3 relu3 flatten fc1 relu4 fc2 (fc2 = logits, fc1: 128 units)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.relu3 = nn.ReLU()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(64 * 4 * 4, 128)
        self.relu4 = nn.ReLU()
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        x = self.relu3(self.conv3(self.pool(x)))
        return self.fc2(self.relu4(self.fc1(self.flatten(x))))


class DigitsMLP(nn.Module):
    """flatten fc1 relu1 fc2 relu2 fc3 (fc3 = logits)."""

    def __init__(self) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(64, 128)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(128, 64)
        self.relu2 = nn.ReLU()
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc3(self.relu2(self.fc2(self.relu1(self.fc1(self.flatten(x))))))


def make_model(kind: str = "cnn") -> nn.Module:
    """Untrained digits model: ``"cnn"`` (:class:`DigitsCNN`) or ``"mlp"`` (:class:`DigitsMLP`)."""
    if kind == "cnn":
        return DigitsCNN()
    if kind == "mlp":
        return DigitsMLP()
    raise InputError(f"unknown model kind {kind!r}; choose 'cnn' or 'mlp'")


def cache_dir() -> Path:
    """Where trained models are cached (``$REPSCOPE_CACHE`` overrides the platform user cache dir)."""
    env = os.environ.get("REPSCOPE_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("repscope"))


def train_model(kind: str = "cnn", seed: int = 0, *, epochs: int = 30, X=None, y=None) -> Any:
    """Train a digits model deterministically (Adam, full-batch-ish minibatches, fixed seed)."""
    import torch

    from repscope.experiments.datasets.digits import load_digits_images

    if X is None:
        X, y = load_digits_images()
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = make_model(kind)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    n = len(Xt)
    with _single_thread_if_small():
        for _ in range(epochs):
            perm = torch.randperm(n, generator=g)
            for s in range(0, n, 128):
                idx = perm[s : s + 128]
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
                loss.backward()
                opt.step()
    model.eval()
    return model


class _single_thread_if_small:
    def __enter__(self):
        import torch

        self.old = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.old)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_model(kind: str = "cnn", seed: int = 0, *, cache: bool = True) -> tuple[Any, np.ndarray, np.ndarray]:
    """Return ``(trained model, X, y)`` for the digits ``cnn`` or ``mlp``; trains (seconds) if not cached.

    ``X`` is float32 ``(1797, 1, 8, 8)`` (standardised), ``y`` the digit labels.
    """
    import torch

    from repscope.experiments.datasets.digits import load_digits_images

    X, y = load_digits_images()
    make_model(kind)  # validates kind
    path = cache_dir() / f"digits_{kind}_seed{seed}_v{_VERSION}_torch{torch.__version__.split('+')[0]}.pt"
    meta_path = path.with_suffix(".json")
    if cache and path.exists() and meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("sha256") == _sha256(path):
                model = make_model(kind)
                state = torch.load(path, map_location="cpu", weights_only=True)
                model.load_state_dict(state)
                model.eval()
                return model, X, y
        except Exception:  # corrupt cache: fall through and re-train
            pass
    model = train_model(kind, seed, X=X, y=y)
    if cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save(model.state_dict(), tmp)
            os.replace(tmp, path)
            meta_path.write_text(json.dumps({"sha256": _sha256(path), "kind": kind, "seed": seed}))
        except OSError:
            pass  # read-only cache dir: the model is still returned
    return model, X, y


def accuracy(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    import torch

    with torch.inference_mode():
        pred = model(torch.from_numpy(X)).argmax(1).numpy()
    return float((pred == y).mean())
