"""Shared fixtures: a tiny deterministic model and the trained digits CNN."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def digits_cnn():
    from repscope.experiments.models.digits import load_model

    return load_model("cnn", seed=0)


@pytest.fixture
def tiny_model():
    import torch
    from torch import nn

    torch.manual_seed(0)

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 4, 3, padding=1)
            self.act = nn.ReLU()
            self.flat = nn.Flatten()
            self.fc = nn.Linear(4 * 5 * 5, 6)
            self.out = nn.Linear(6, 3)

        def forward(self, x):
            return self.out(self.fc(self.flat(self.act(self.conv(x)))))

    return Tiny().eval()


@pytest.fixture
def tiny_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((70, 2, 5, 5)).astype(np.float32)
    y = rng.integers(0, 3, 70)
    return X, y


@pytest.fixture(autouse=True)
def _close_figures():
    """Tests call result.plot(); close every matplotlib figure afterwards so none accumulate."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def run_cli(capsys):
    """The repscope CLI run in this process: ``run_cli(*args) -> (exit code, stdout, stderr)``."""

    def run(*args):
        from repscope.cli import main

        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
