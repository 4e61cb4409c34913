"""Models the built-in demo does not use: a tiny random BERT (config only), a residual CNN, a GRU, an MLP."""

from __future__ import annotations

import pytest
import torch
from torch import nn


@pytest.fixture(scope="session")
def tiny_bert():
    """A randomly initialised 2-layer BERT (hidden 32): nothing is downloaded."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=37, max_position_embeddings=32)
    return BertModel(cfg).eval()


@pytest.fixture
def bert_batches():
    """Two batches of token ids with padding (attention_mask) — 8 sentences of up to 7 tokens."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 60, (8, 7), generator=g)
    lengths = torch.tensor([7, 5, 3, 7, 2, 6, 4, 7])
    mask = (torch.arange(7)[None] < lengths[:, None]).long()
    ids = ids * mask
    return [{"input_ids": ids[:4], "attention_mask": mask[:4]}, {"input_ids": ids[4:], "attention_mask": mask[4:]}]


class ResBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.relu(x + self.conv2(self.relu(self.bn1(self.conv1(x)))))


class ResCNN(nn.Module):
    """A small residual CNN: stem → 2 residual blocks → global average pool → linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.block1 = ResBlock(4)
        self.block2 = ResBlock(4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        h = self.block2(self.block1(self.stem(x)))
        return self.head(self.pool(h).flatten(1))


class GRUNet(nn.Module):
    """A GRU over (batch, time, features) sequences with a linear read-out of the last state."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(3, 8)
        self.gru = nn.GRU(8, 6, batch_first=True)
        self.out = nn.Linear(6, 2)

    def forward(self, x):
        seq, _ = self.gru(self.inp(x))
        return self.out(seq[:, -1])


@pytest.fixture
def res_cnn():
    torch.manual_seed(0)
    return ResCNN().eval()


@pytest.fixture
def gru_net():
    torch.manual_seed(0)
    return GRUNet().eval()
