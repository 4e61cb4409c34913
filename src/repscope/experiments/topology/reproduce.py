"""Purvine et al. (2022) on a deeper CNN: PH layer distances next to 1 − CKA, and mapper purity per layer.

Issue 5, "reproduce on embedded data": a 5-conv (with batch norm) + 2-linear CNN is trained in seconds
(one torch thread, seeded) on generated data — dSprites-lite with no position bias (task = shape, 3 classes, 32 × 32) or
scikit-learn's digits (10 classes, 8 × 8) — and **every** Conv2d and Linear module is captured with
``pool="none"`` into a temporary store (conv outputs are taken before their ReLU, as in the paper;
also before batch norm; ``fc1`` is the penultimate pre-activation, ``fc2`` the logits). On that store:

1. PH layer distances: top-ℓ2 clouds, Vietoris–Rips H1, sliced Wasserstein, mean ± sd over ``resamples``
   draws of ``n_samples`` inputs (:func:`repscope.topology.ph_layer_matrix`);
2. 1 − linear CKA between the same layers on the first draw's inputs (:func:`cka_distance_matrix`), and
   the Spearman correlation of the two matrices with a Mantel permutation p-value
   (:func:`repscope.topology.compare_matrices`), plus the same correlation with RMS-normalised clouds;
3. one mapper graph per layer (lens = L2 norm, 10 intervals, 50 % overlap, DBSCAN with k-NN-elbow ε)
   and the purity trend with depth (:func:`repscope.topology.mapper_trend`).

:func:`deeper_cnn_reproduction` returns result objects; the last one, :class:`ReproductionReading`, holds
the numbers and a short written reading of what was measured.
"""

from __future__ import annotations

import functools
import pathlib
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

import numpy as np

from repscope.errors import InputError
from repscope.experiments.topology.recipe import mapper_per_layer, paper_recipe
from repscope.results import to_jsonable

__all__ = [
    "DATASETS",
    "ReproductionReading",
    "build_deep_cnn",
    "deeper_cnn_reproduction",
    "deeper_cnn_report",
    "reproduction_data",
    "train_deep_cnn",
]

#: Generated data sets the reproduction can train on.
DATASETS = ("dsprites_lite", "digits")

# Per-dataset defaults: (channel widths, strides) of the five convolutions and training sizes.
class _Arch(TypedDict):
    widths: tuple[int, ...]
    strides: tuple[int, ...]
    n_train: NotRequired[int]  # digits: none, the model trains on all 1797 digits
    epochs: int


_ARCH: dict[str, _Arch] = {
    "dsprites_lite": {"widths": (8, 16, 16, 32, 32), "strides": (1, 2, 1, 2, 1), "n_train": 4000, "epochs": 8},
    "digits": {"widths": (16, 16, 32, 32, 32), "strides": (1, 1, 2, 1, 1), "epochs": 20},
}


def build_deep_cnn(
    in_shape: tuple[int, int, int],
    n_classes: int,
    *,
    widths: tuple[int, ...] = (8, 16, 16, 32, 32),
    strides: tuple[int, ...] = (1, 2, 1, 2, 1),
    feat_dim: int = 64,
    batchnorm: bool = True,
    seed: int = 0,
):
    """A deeper CNN: ``conv1 [bn1] relu1 … convK [bnK] reluK pool flatten fc1 relu fc2`` (3 × 3 convs, padding 1).

    ``widths``/``strides`` give the K convolutions; ``pool`` is a 2 × 2 max-pool when the last map is at
    least 4 × 4 (identity otherwise); ``fc1`` has ``feat_dim`` units and ``fc2`` gives the logits.
    Initialised with ``torch.manual_seed(seed)``.
    """
    import torch
    from torch import nn

    if len(widths) != len(strides) or not widths:
        raise InputError(f"widths {widths} and strides {strides} must be non-empty and of equal length")
    C, H, W = (int(v) for v in in_shape)
    torch.manual_seed(seed)
    mods: list[tuple[str, Any]] = []
    c = C
    for k, (w, s) in enumerate(zip(widths, strides), start=1):
        mods.append((f"conv{k}", nn.Conv2d(c, int(w), 3, padding=1, stride=int(s))))
        if batchnorm:
            mods.append((f"bn{k}", nn.BatchNorm2d(int(w))))
        mods.append((f"relu{k}", nn.ReLU()))
        c = int(w)
        H, W = (H - 1) // int(s) + 1, (W - 1) // int(s) + 1
    if min(H, W) >= 4:
        mods.append(("pool", nn.MaxPool2d(2)))
        H, W = H // 2, W // 2
    else:
        mods.append(("pool", nn.Identity()))
    k = len(widths) + 1
    mods += [
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(c * H * W, int(feat_dim))),
        (f"relu{k}", nn.ReLU()),
        ("fc2", nn.Linear(int(feat_dim), int(n_classes))),
    ]
    return nn.Sequential(OrderedDict(mods))


def train_deep_cnn(
    model: Any,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int = 15,
    batch_size: int = 64,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    seed: int = 0,
    threads: int | None = 1,
) -> float:
    """Train ``model`` in place with Adam, a one-cycle schedule (peak ``lr``) and cross-entropy, with
    ``threads`` torch threads; deterministic for a seed. Returns the training accuracy."""
    import torch

    from repscope.parallel import torch_threads

    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    with torch_threads(threads):
        torch.manual_seed(seed)
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        steps = int(epochs) * -(-Xt.shape[0] // int(batch_size))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, steps))
        g = torch.Generator().manual_seed(seed)
        lossf = torch.nn.CrossEntropyLoss()
        model.train()
        for _ in range(int(epochs)):
            perm = torch.randperm(Xt.shape[0], generator=g)
            for s in range(0, Xt.shape[0], int(batch_size)):
                idx = perm[s : s + int(batch_size)]
                opt.zero_grad()
                lossf(model(Xt[idx]), yt[idx]).backward()
                opt.step()
                sched.step()
        model.eval()
        return _accuracy(model, Xt, yt)


def _accuracy(model: Any, X: Any, y: Any) -> float:
    import torch

    X = torch.as_tensor(np.asarray(X, dtype=np.float32)) if not isinstance(X, torch.Tensor) else X
    y = torch.as_tensor(np.asarray(y, dtype=np.int64)) if not isinstance(y, torch.Tensor) else y
    with torch.no_grad():
        pred = torch.cat([model(X[s : s + 1024]).argmax(1) for s in range(0, X.shape[0], 1024)])
    return float((pred == y).float().mean())


def reproduction_data(
    dataset: str = "dsprites_lite", *, n_train: int | None = None, n_capture: int = 1500, seed: int = 0
) -> dict[str, Any]:
    """Training and capture data for :func:`deeper_cnn_reproduction`.

    ``dsprites_lite``: ``n_train`` control images (``fraction_pos_bias=0``: position independent of
    shape; default 4000) to train on, and ``n_capture`` *held-out* control images to capture; label =
    shape. ``digits``: scikit-learn's 1797 digits; the model trains on all of them (as the demo model
    does) and the first ``n_capture`` (≤ 1797) are captured, so its accuracy is a training accuracy.
    """
    if dataset not in DATASETS:
        raise InputError(f"dataset={dataset!r} is unknown; use one of {', '.join(DATASETS)}")
    if int(n_capture) < 3:
        raise InputError(f"n_capture={n_capture} is too small; capture at least 3 (the paper uses 1000)")
    if dataset == "dsprites_lite":
        from repscope.experiments.datasets.dsprites import SHAPES, dsprites_lite

        n_tr = _ARCH[dataset]["n_train"] if n_train is None else int(n_train)
        ds = dsprites_lite(0.0, n_train=n_tr, n_val=1, n_test=int(n_capture), seed=seed)
        return {
            "X_train": ds.train.X,
            "y_train": ds.train.y,
            "X": ds.test.X,
            "y": ds.test.y,
            "classes": list(SHAPES),
            "held_out": True,
            "description": (
                f"dSprites-lite, no position bias, task = shape (3 classes), 32×32; trained on {n_tr} "
                f"images, {int(n_capture)} held-out images captured"
            ),
        }
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    if int(n_capture) > len(y):
        raise InputError(f"n_capture={n_capture} exceeds the {len(y)} digits; use at most {len(y)}")
    n_tr = len(y) if n_train is None else min(int(n_train), len(y))
    return {
        "X_train": X[:n_tr],
        "y_train": y[:n_tr],
        "X": X[: int(n_capture)],
        "y": y[: int(n_capture)],
        "classes": [str(k) for k in range(10)],
        "held_out": False,
        "description": (
            f"scikit-learn digits, 10 classes, 8×8; trained on {n_tr} digits, the first {int(n_capture)} "
            "captured (training data)"
        ),
    }


@dataclass
class ReproductionReading:
    """Numbers and a short written reading of one deeper-CNN reproduction (see module docstring)."""

    dataset: str
    description: str
    architecture: str
    layers: list[str]
    accuracy: float
    held_out: bool
    n_samples: int
    resamples: int
    r: float
    p_value: float
    r_rms: float | None
    p_rms: float | None
    node_purity: list[float]
    class_purity: list[float]
    n_nodes: list[int]
    seconds: dict[str, float]
    examples: np.ndarray | None = None
    example_labels: list[str] = field(default_factory=list)
    seed: int = 0

    title = "Deeper CNN reproduction — reading"

    def purity_rises(self) -> bool:
        """True when node purity at the last layer exceeds that at the first."""
        return bool(self.node_purity[-1] > self.node_purity[0])

    def monotone(self) -> bool:
        """True when node purity never drops from one layer to the next (tolerance 0.01)."""
        p = np.asarray(self.node_purity, dtype=float)
        return bool(np.all(np.diff(p) >= -0.01))

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(
            {
                "kind": "deeper_cnn_reproduction",
                "dataset": self.dataset,
                "description": self.description,
                "architecture": self.architecture,
                "layers": self.layers,
                "accuracy": self.accuracy,
                "accuracy_held_out": self.held_out,
                "n_samples": self.n_samples,
                "resamples": self.resamples,
                "spearman_r_ph_vs_1_minus_cka": self.r,
                "mantel_p": self.p_value,
                "spearman_r_rms_normalised": self.r_rms,
                "mantel_p_rms_normalised": self.p_rms,
                "node_purity": self.node_purity,
                "class_purity": self.class_purity,
                "n_nodes": self.n_nodes,
                "purity_rises": self.purity_rises(),
                "purity_monotone": self.monotone(),
                "seconds": self.seconds,
                "seed": self.seed,
            }
        )

    def table(self) -> tuple[list[str], list[list[Any]]]:
        rows = [
            [lay, f"{self.node_purity[i]:.3f}", f"{self.class_purity[i]:.3f}", self.n_nodes[i]]
            for i, lay in enumerate(self.layers)
        ]
        return ["layer", "mapper node purity", "mapper class purity", "nodes"], rows

    def summary(self) -> str:
        acc = "held-out" if self.held_out else "training"
        p = self.node_purity
        path = " → ".join(f"{lay} {v:.2f}" for lay, v in zip(self.layers, p))
        if self.purity_rises() and self.monotone():
            pur = "rises with depth (never drops by more than 0.01 between consecutive layers), as the paper reports"
        elif self.purity_rises():
            drops = [
                f"{self.layers[i]}→{self.layers[i + 1]}" for i in range(len(p) - 1) if p[i + 1] < p[i] - 0.01
            ]
            pur = f"is higher at the output than at the input but not monotone (drops at {', '.join(drops)})"
        else:
            pur = "does NOT rise toward the output here (unlike the paper)"
        if self.p_value < 0.05 and self.r > 0:
            agree = "the PH distance and 1 − CKA order the layer pairs similarly (significant at 5%)"
        elif self.r > 0:
            agree = "the agreement between the PH distance and 1 − CKA is weak (not significant at 5%)"
        else:
            agree = "the PH distance and 1 − CKA do not agree on which layers are close"
        s = (
            f"Model: {self.architecture}; {self.description}; {acc} accuracy {self.accuracy:.3f}. "
            f"All {len(self.layers)} conv/linear layers ({', '.join(self.layers)}) were captured without "
            f"pooling (conv outputs before batch norm and ReLU).\n\n"
            f"PH (top-ℓ2 clouds, Rips H1, sliced Wasserstein; n = {self.n_samples}, {self.resamples} draw(s)) "
            f"vs 1 − linear CKA: Spearman r = {self.r:.2f}, Mantel p = {self.p_value:.2g} — {agree}."
        )
        if self.r_rms is not None:
            s += (
                f" With every cloud rescaled to unit RMS radius first (PH distances are not scale-free, CKA is): "
                f"r = {self.r_rms:.2f}, p = {self.p_rms:.2g}."
            )
        s += f"\n\nMapper node-wise purity {pur}: {path}."
        tot = self.seconds.get("total")
        if tot is not None:
            s += f"\n\nWall time {tot:.1f} s (training {self.seconds.get('train', float('nan')):.1f} s)."
        return s

    def plot(self):
        import matplotlib.pyplot as plt

        shown = [] if self.examples is None else list(self.examples[:8])
        k = len(shown)
        fig = plt.figure(figsize=(10, 3.2))
        gs = fig.add_gridspec(2, max(k, 1) // 2 + 4 if k else 4)
        ncol = k // 2 if k else 0
        for i, im in enumerate(shown):
            ax = fig.add_subplot(gs[i % 2, i // 2])
            ax.imshow(im[0], cmap="gray", vmin=0, vmax=1)
            ax.set_title(self.example_labels[i] if i < len(self.example_labels) else "", fontsize=7)
            ax.axis("off")
        ax = fig.add_subplot(gs[:, ncol:])
        x = np.arange(len(self.layers))
        ax.plot(x, self.node_purity, "o-", label="node purity")
        ax.plot(x, self.class_purity, "s--", label="class purity")
        ax.set_xticks(x, self.layers, rotation=30, fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("mapper purity")
        ax.set_title(
            f"{self.dataset}: PH vs 1 − CKA Spearman r = {self.r:.2f} (p = {self.p_value:.2g})", fontsize=9
        )
        ax.legend(fontsize=8)
        fig.tight_layout()
        return fig


def _arch_string(model: Any) -> str:
    from torch import nn

    parts = []
    for name, m in model.named_children():
        if isinstance(m, nn.Conv2d):
            parts.append(f"{name} {m.in_channels}→{m.out_channels}" + (f"/s{m.stride[0]}" if m.stride[0] > 1 else ""))
        elif isinstance(m, nn.Linear):
            parts.append(f"{name} {m.in_features}→{m.out_features}")
        elif isinstance(m, nn.BatchNorm2d) and parts:
            parts[-1] += "+BN"
        elif isinstance(m, nn.MaxPool2d):
            parts.append("maxpool")
    return "CNN " + ", ".join(parts)


def _capture_sizes(dataset: str, n_samples: int, resamples: int, n_capture: int | None) -> tuple[int, int]:
    """Checked ``(n_samples, n_capture)`` of :func:`deeper_cnn_reproduction` (default n_capture filled in)."""
    if dataset not in DATASETS:
        raise InputError(f"dataset={dataset!r} is unknown; use one of {', '.join(DATASETS)}")
    if int(n_samples) < 10:
        raise InputError(f"n_samples={n_samples} is too small for mapper and PH; use at least 10 (paper: 1000)")
    if int(resamples) < 1:
        raise InputError(f"resamples={resamples} must be ≥ 1")
    n_samples = int(n_samples)
    if n_capture is None:
        n_capture = n_samples + (500 if resamples > 1 else 0)
        if dataset == "digits":
            n_capture = min(n_capture, 1797)
    n_capture = int(n_capture)
    if n_capture < n_samples:
        raise InputError(f"n_capture={n_capture} is smaller than n_samples={n_samples}; capture at least as many")
    if resamples > 1 and n_capture == n_samples:
        raise InputError(
            f"resamples={resamples} needs n_capture > n_samples={n_samples} (draws without replacement); "
            "raise n_capture or use resamples=1"
        )
    return n_samples, n_capture


def _capture_and_compare(model: Any, data: dict, layers: list[str], workdir: Any, n_samples: int, resamples: int,
                         seed: int, progress: bool, rms_check: bool) -> tuple[tuple, list[float]]:
    """Capture ``layers`` into a store under ``workdir`` (default a temporary one), run PH, CKA and mapper.

    Returns ``(n_use, ph, cka, comp, ph_rms, graphs, trend)`` and the times after capture, PH/CKA and mapper."""
    from repscope.capture import capture

    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="repscope-reproduce-")
        workdir = tmp.name
    try:
        from repscope.parallel import torch_threads

        with torch_threads(1):
            store = capture(
                model,
                data["X"],
                layers,
                pathlib.Path(workdir) / "acts.zarr",
                pool="none",
                labels=data["y"],
                batch_size=256,
                overwrite=True,
                progress=progress,
                dataset=data["description"],
            )
        t_cap = time.perf_counter()
        n_use = min(n_samples, int(store.n_samples))
        ph, rows, cka, comp, ph_rms = paper_recipe(
            store, layers, n_use, resamples, seed=seed, progress=progress, rms_check=rms_check
        )
        t_cka = time.perf_counter()
        labels = np.asarray(data["y"])[rows]
        graphs, trend = mapper_per_layer(store, layers, rows, labels, seed=seed)
        t_map = time.perf_counter()
    finally:
        if tmp is not None:
            tmp.cleanup()
    return (n_use, ph, cka, comp, ph_rms, graphs, trend), [t_cap, t_cka, t_map]


def deeper_cnn_reproduction(
    seed: int = 0,
    n_samples: int = 1000,
    progress: bool = False,
    dataset: str = "dsprites_lite",
    *,
    resamples: int = 3,
    n_capture: int | None = None,
    n_train: int | None = None,
    epochs: int | None = None,
    rms_check: bool = True,
    workdir: str | pathlib.Path | None = None,
) -> list:
    """Train the deeper CNN, capture all conv/linear layers, and compare PH, CKA and mapper across layers.

    Parameters
    ----------
    seed : seeds the data, the network's initialisation and training order, the draws and the layouts.
    n_samples : inputs per PH draw and for CKA and mapper (paper: 1000).
    dataset : ``"dsprites_lite"`` (bias-free, task = shape) or ``"digits"``.
    resamples : PH draws of ``n_samples`` inputs (mean ± sd); needs ``n_capture > n_samples`` when > 1.
    n_capture : inputs captured (default ``n_samples + 500``, at most 1797 for digits).
    n_train, epochs : training size and length (defaults: dsprites 4000 images × 8 epochs, digits all
        1797 × 20 epochs; ≈ 9 s and 4 s on one core; held-out / training accuracy ≥ 0.99 at seeds 0–2).
    rms_check : also correlate PH distances of RMS-normalised clouds with 1 − CKA (one more PH pass).
    workdir : where the activation store is written (default: a temporary directory, removed after).

    Returns ``[PHLayerMatrix, MatrixComparison (PH vs 1 − CKA), LayerMatrix (linear CKA), MapperTrend,
    MapperGraph per layer …, ReproductionReading]``.
    """
    from torch import nn

    n_samples, n_capture = _capture_sizes(dataset, n_samples, resamples, n_capture)
    arch = _ARCH[dataset]
    t0 = time.perf_counter()
    data = reproduction_data(dataset, n_train=n_train, n_capture=n_capture, seed=seed)
    t_data = time.perf_counter()
    model = build_deep_cnn(
        data["X"].shape[1:], len(data["classes"]), widths=arch["widths"], strides=arch["strides"], seed=seed
    )
    train_acc = train_deep_cnn(
        model, data["X_train"], data["y_train"], epochs=arch["epochs"] if epochs is None else int(epochs), seed=seed
    )
    acc = _accuracy(model, data["X"], data["y"]) if data["held_out"] else train_acc
    t_train = time.perf_counter()
    layers = [nm for nm, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    (n_use, ph, cka, comp, ph_rms, graphs, trend), (t_cap, t_cka, t_map) = _capture_and_compare(
        model, data, layers, workdir, n_samples, resamples, seed, progress, rms_check
    )
    seconds = {
        "data": t_data - t0,
        "train": t_train - t_data,
        "capture": t_cap - t_train,
        "ph_layer_matrix_and_cka_comparison": t_cka - t_cap,
        "mapper": t_map - t_cka,
        "total": t_map - t0,
    }
    names = data["classes"]
    reading = ReproductionReading(
        dataset=dataset,
        description=data["description"],
        architecture=_arch_string(model),
        layers=list(layers),
        accuracy=float(acc),
        held_out=bool(data["held_out"]),
        n_samples=n_use,
        resamples=ph.resamples,
        r=float(comp.correlation.r),
        p_value=float(comp.correlation.p_value),
        r_rms=None if ph_rms is None else float(ph_rms.r),
        p_rms=None if ph_rms is None else float(ph_rms.p_value),
        node_purity=[float(v) for v in trend.node_purity],
        class_purity=[float(v) for v in trend.class_purity],
        n_nodes=[int(v) for v in trend.n_nodes],
        seconds=seconds,
        examples=np.asarray(data["X"][:8]),
        example_labels=[names[int(c)] for c in data["y"][:8]],
        seed=int(seed),
    )
    cka_result = _cka_layer_matrix(1.0 - cka, layers, n_use)
    return [ph, comp, cka_result, trend, *graphs, reading]


def _cka_layer_matrix(values: np.ndarray, layers: list[str], n: int):
    from repscope.metrics import LayerMatrix

    return LayerMatrix(
        values=values,
        rows=list(layers),
        cols=list(layers),
        metric="linear_cka",
        kind="similarity",
        value_range=(0.0, 1.0),
        n_samples=int(n),
        description="Linear CKA (Kornblith et al. 2019) from centred Gram matrices of the flattened activations.",
    )


# ==================================================================================================
# Purvine et al. (2022), the paper's tests over several seeds: ``repscope topology reproduce``
# ==================================================================================================


def build_residual_cnn(in_shape: tuple[int, int, int], n_classes: int, *, width: int = 16, seed: int = 0):
    """A small ResNet (the paper used a CIFAR ResNet-18): stem conv, three basic residual blocks
    (``conv-BN-ReLU-conv-BN`` + identity or 1×1-conv skip; the second block downsamples ×2 and doubles the
    width), global average pool, ``fc`` logits. Conv modules are named ``stem``, ``b{i}.conv{j}``."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.skip = (nn.Identity() if stride == 1 and cin == cout
                         else nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)))

        def forward(self, x):
            h = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(h)) + self.skip(x))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            C = int(in_shape[0])
            self.stem = nn.Conv2d(C, width, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(width)
            self.b1 = Block(width, width, 1)
            self.b2 = Block(width, 2 * width, 2)
            self.b3 = Block(2 * width, 2 * width, 1)
            self.fc = nn.Linear(2 * width, int(n_classes))

        def forward(self, x):
            h = torch.relu(self.bn(self.stem(x)))
            h = self.b3(self.b2(self.b1(h)))
            return self.fc(h.mean((2, 3)))

    torch.manual_seed(seed)
    return ResNet()


RESNET_LAYERS = ("stem", "b1.conv1", "b1.conv2", "b2.conv1", "b2.conv2", "b3.conv1", "b3.conv2", "fc")


def _conv_outputs(model: Any, X: np.ndarray, layers: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Outputs of the named modules (conv outputs before BN/ReLU, as in the paper) for inputs ``X``."""
    import torch

    mods = dict(model.named_modules())
    acts: dict[str, list] = {n: [] for n in layers}
    hooks = [mods[n].register_forward_hook(lambda m, i, o, n=n: acts[n].append(o.detach().double().numpy()))
             for n in layers]
    try:
        with torch.no_grad():
            for s in range(0, len(X), 256):
                model(torch.from_numpy(np.ascontiguousarray(X[s : s + 256], dtype=np.float32)))
    finally:
        for h in hooks:
            h.remove()
    return {n: np.concatenate(v) for n, v in acts.items()}


def _cloud(A: np.ndarray) -> np.ndarray:
    from repscope.topology import top_l2

    return top_l2(A) if A.ndim == 4 else A


def purvine_config(quick: bool) -> dict[str, Any]:
    """Sizes of the quick and full Purvine reproduction (10-class digits by default; ``dataset`` may be
    ``dsprites_lite``). Full mode uses 20 seeds: cross-seed specificity rests on 10 disjoint seed pairs."""
    if quick:
        return {"dataset": "digits", "n_train": 1297, "epochs": 15, "n_samples": 300, "seeds": 10,
                "ks": (0, 1, 2, 4, 8), "drop_ks": (1, 2, 4, 8, 16)}
    return {"dataset": "digits", "n_train": 1297, "epochs": 30, "n_samples": 500, "seeds": 20,
            "ks": (0, 1, 2, 4, 8, 16), "drop_ks": (1, 2, 4, 8, 16, 32)}


def _purvine_data(cfg: dict[str, Any], seed: int) -> dict[str, Any]:
    """Training data and *held-out* capture data. Digits: the first ``n_train`` digits train, ``n_samples``
    of the rest are captured; dSprites-lite: as :func:`reproduction_data`."""
    n = int(cfg["n_samples"])
    if cfg["dataset"] != "digits":
        return reproduction_data(cfg["dataset"], n_train=cfg["n_train"], n_capture=n, seed=seed)
    d = reproduction_data("digits", n_capture=1797)
    n_tr = int(cfg["n_train"])
    if n_tr + n > 1797:
        raise InputError(f"n_train={n_tr} + n_samples={n} exceed the 1797 digits; lower one of them")
    X, y = d["X"], d["y"]
    return {"X_train": X[:n_tr], "y_train": y[:n_tr], "X": X[n_tr : n_tr + n], "y": y[n_tr : n_tr + n],
            "classes": d["classes"], "held_out": True,
            "description": f"scikit-learn digits, 10 classes, 8×8; trained on the first {n_tr}, {n} held-out captured"}


def _ph(X: np.ndarray) -> np.ndarray:
    """H1 diagram of a cloud rescaled to unit RMS radius (PH distances are then scale-free, as CKA is)."""
    from repscope.topology import normalize_scale, persistence

    return persistence(normalize_scale(X, "rms"), maxdim=1).dgms[1]


def _accuracy_with(model: Any, X: np.ndarray, y: np.ndarray, layer: str, replace: np.ndarray | None) -> float:
    """Accuracy on ``X`` with the output of module ``layer`` replaced by ``replace`` (None: unchanged)."""
    import torch

    mod = dict(model.named_modules())[layer]
    hook = None if replace is None else mod.register_forward_hook(
        lambda m, i, o: torch.from_numpy(np.ascontiguousarray(replace, dtype=np.float32)).reshape(o.shape))
    try:
        with torch.no_grad():
            pred = model(torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))).argmax(1).numpy()
    finally:
        if hook is not None:
            hook.remove()
    return float((pred == np.asarray(y)).mean())


def _drop_sensitivity(model: Any, X: np.ndarray, y: np.ndarray, A: np.ndarray, layer: str, ks: tuple[int, ...],
                      rng: np.random.Generator) -> dict[str, Any]:
    """The paper's sensitivity test: remove the top-k principal components (and, for contrast, k random
    directions) of a layer's activations, run the rest of the network, and correlate the PH distance between
    the original and the modified cloud with the drop in accuracy (Spearman over all removals)."""
    from scipy.stats import spearmanr

    from repscope.topology import sliced_wasserstein

    n = A.shape[0]
    flat = A.reshape(n, -1)
    mu = flat.mean(0)
    C = flat - mu
    Vt = np.linalg.svd(C, full_matrices=False)[2]
    d0 = _ph(_cloud(A))
    acc0 = _accuracy_with(model, X, y, layer, None)
    dist, drop = [], []
    for k in ks:
        k = min(int(k), Vt.shape[0])
        for V in (Vt[:k].T, np.linalg.qr(rng.standard_normal((flat.shape[1], k)))[0]):
            M = (C - (C @ V) @ V.T + mu).reshape(A.shape)
            dist.append(sliced_wasserstein(d0, _ph(_cloud(M)), M=50))
            drop.append(acc0 - _accuracy_with(model, X, y, layer, M))
    rho = float(spearmanr(dist, drop).statistic) if np.ptp(drop) > 0 and np.ptp(dist) > 0 else 0.0
    return {"rho": rho, "distance": dist, "drop": drop}


def _purvine_network(model: Any, data: dict[str, Any], cfg: dict[str, Any], k_cmp: int, sd: int) -> dict[str, Any]:
    """Every per-network statistic of :func:`purvine_reproduction` (trained network or its untrained control)."""
    from scipy.stats import spearmanr

    from repscope.experiments.topology.recipe import cka_distance_matrix
    from repscope.topology import (
        mapper,
        mapper_trend,
        matrix_correlation,
        persistence,
        remove_principal_components,
        sliced_wasserstein,
    )

    layers = RESNET_LAYERS
    L, n = len(layers), len(data["y"])
    mid = layers[L // 2]
    acc = _accuracy(model, data["X"], data["y"])
    acts = _conv_outputs(model, data["X"], layers)
    clouds = {k: _cloud(v) for k, v in acts.items()}
    dg = [_ph(clouds[k]) for k in layers]
    dg_raw = [persistence(clouds[k], maxdim=1).dgms[1] for k in layers]
    P = np.zeros((L, L))
    P_raw = np.zeros((L, L))
    for i in range(L):
        for j in range(i + 1, L):
            P[i, j] = P[j, i] = sliced_wasserstein(dg[i], dg[j], M=50)
            P_raw[i, j] = P_raw[j, i] = sliced_wasserstein(dg_raw[i], dg_raw[j], M=50)
    C = cka_distance_matrix({k: acts[k].reshape(n, -1) for k in layers}, list(layers))
    # PC removal on the middle layer's cloud: distance to the original for top-k PCs and for k random directions
    X = clouds[mid]
    d0 = _ph(X)
    dk = [sliced_wasserstein(d0, _ph(remove_principal_components(X, k)), M=50) for k in cfg["ks"]]
    Q = np.linalg.qr(np.random.default_rng(sd).standard_normal((X.shape[1], k_cmp)))[0]
    Xc = X - X.mean(0)
    d_rand = sliced_wasserstein(d0, _ph(Xc - (Xc @ Q) @ Q.T + X.mean(0)), M=50)
    drop = _drop_sensitivity(model, data["X"], data["y"], acts[mid], mid, tuple(cfg["drop_ks"]),
                             np.random.default_rng(sd + 1))
    graphs = [mapper(clouds[k], data["y"], lens="l2norm", n_intervals=10, overlap=0.5, min_samples=5, name=k,
                     seed=sd) for k in layers]
    tr = mapper_trend(graphs, list(layers))
    return {"diagrams": dg, "acc": acc, "r_ph_cka": matrix_correlation(P, C, seed=sd).r,
            "r_ph_cka_raw": matrix_correlation(P_raw, C, seed=sd).r,
            "sens_rho": float(spearmanr(cfg["ks"], dk).statistic),
            "sens_gap": dk[list(cfg["ks"]).index(k_cmp)] - d_rand, "drop": drop,
            "purity": [float(v) for v in tr.node_purity],
            "purity_gain": float(tr.node_purity[-1] - tr.node_purity[0])}


def _purvine_seed(sd: int, *, data: dict[str, Any], cfg: dict[str, Any], k_cmp: int) -> dict[str, Any]:
    """One seed of :func:`purvine_reproduction`: the trained network and its untrained initialisation."""
    from repscope.parallel import torch_threads

    with torch_threads(1):
        model = build_residual_cnn(data["X"].shape[1:], len(data["classes"]), seed=sd)
        model.eval()
        untrained = _purvine_network(model, data, cfg, k_cmp, sd)
        model = build_residual_cnn(data["X"].shape[1:], len(data["classes"]), seed=sd)
        train_deep_cnn(model, data["X_train"], data["y_train"], epochs=cfg["epochs"], seed=sd)
        trained = _purvine_network(model, data, cfg, k_cmp, sd)
    return {"trained": trained, "untrained": untrained}


def _specificity(diagrams: list[list[np.ndarray]]) -> tuple[list[float], list[float]]:
    """Cross-seed specificity over disjoint seed pairs (2i, 2i+1): mean PH distance to the other layers − to the
    same layer, and the 1-NN layer identification rate."""
    from repscope.experiments.verdict import disjoint_pairs
    from repscope.topology import sliced_wasserstein

    L = len(diagrams[0])
    spec, nn_acc = [], []
    for s, t in disjoint_pairs(len(diagrams)):
        a, b = diagrams[s], diagrams[t]
        D = np.array([[sliced_wasserstein(a[i], b[j], M=50) for j in range(L)] for i in range(L)])
        off = (D.sum(1) - np.diag(D)) / (L - 1)
        spec.append(float(np.mean(off - np.diag(D))))
        nn_acc.append(float(np.mean(D.argmin(1) == np.arange(L))))
    return spec, nn_acc


def purvine_reproduction(*, quick: bool = True, seeds: int | None = None, seed: int = 0,
                         config: dict[str, Any] | None = None, progress: bool = False,
                         n_workers: int | None = None) -> list[Any]:
    """The paper's tests on a residual CNN (10-class digits by default), over seeds, each against the same
    network untrained (its initialisation: a chance-level network — the control).

    Per seed and network: H1 persistence of the top-ℓ2 cloud of every conv layer (before BN) and the
    logits, each cloud rescaled to unit RMS radius (scale-free); sliced Wasserstein (M = 50) between layers;
    1 − linear CKA between the same layers; the paper's sensitivity test (PH distance vs accuracy drop after
    removing principal components of the middle layer's activations); PC removal on the cloud (top-k PCs vs k
    random directions; the monotonicity in k is a method check: distance 0 at k = 0 anchors it); mapper node
    purity per layer. Across seeds: cross-seed specificity over disjoint seed pairs (2i, 2i+1).
    """
    from repscope.experiments.verdict import MIN_SEEDS, ControlKw, ReproductionTable, claim, method_check
    from repscope.parallel import map_items, n_cores

    cfg = dict(purvine_config(quick), **(config or {}))
    n_seeds = int(seeds if seeds is not None else cfg["seeds"])
    if n_seeds < 2:
        raise InputError(f"seeds={n_seeds} is too few; cross-seed specificity needs ≥ 2 (≥ {2 * MIN_SEEDS} for a "
                         "verdict on it)")
    t0 = time.perf_counter()
    layers = RESNET_LAYERS
    L = len(layers)
    n = int(cfg["n_samples"])
    data = _purvine_data(cfg, seed)
    mid = layers[L // 2]
    k_cmp = 4 if 4 in cfg["ks"] else cfg["ks"][-1]
    job = functools.partial(_purvine_seed, data=data, cfg=cfg, k_cmp=k_cmp)
    outs = map_items(job, [seed + s for s in range(n_seeds)],
                     n_workers=min(2, n_cores()) if n_workers is None else int(n_workers), progress=progress,
                     desc="Purvine reproduction")
    T, U = [o["trained"] for o in outs], [o["untrained"] for o in outs]

    def col(rows: list[dict[str, Any]], key: str) -> list[Any]:
        return [r[key] for r in rows]

    spec_t, nn_t = _specificity(col(T, "diagrams"))
    spec_u, nn_u = _specificity(col(U, "diagrams"))
    drop_t = [r["drop"]["rho"] for r in T]
    drop_u = [r["drop"]["rho"] for r in U]
    ctl: ControlKw = {"control_label": "untrained network", "seed": seed}
    rows = [
        claim("PH distance tracks the accuracy lost when principal components are removed",
              "sensitivity test: removing PCs changes the topology in step with the accuracy drop",
              f"Spearman ρ(PH distance to the original, accuracy drop) over removing the top-k PCs and k random "
              f"directions of {mid}'s activations, k ∈ {list(cfg['drop_ks'])}",
              drop_t, control=drop_u, **ctl,
              note=f"accuracy drop at the largest k: trained {np.mean([r['drop']['drop'][-2] for r in T]):.2f}, "
                   f"untrained {np.mean([r['drop']['drop'][-2] for r in U]):.2f}"),
        claim("PH distance responds to removing top PCs more than to removing as many random directions",
              "high-variance directions carry the cloud's topology",
              f"PH distance on {mid}'s cloud: top-{k_cmp} PCs removed − {k_cmp} random directions removed",
              col(T, "sens_gap"), control=col(U, "sens_gap"), **ctl),
        claim("Cross-seed specificity: a layer is closest to the same layer of another seed",
              "specificity over 100 trained copies",
              "mean PH distance to other layers − to the same layer, disjoint seed pairs (2i, 2i+1)",
              spec_t, control=spec_u, **ctl,
              note=f"1-NN layer identification across seeds: trained {np.mean(nn_t):.2f}, untrained "
                   f"{np.mean(nn_u):.2f} (chance {1 / L:.2f}); {len(spec_t)} independent pairs from {n_seeds} seeds"),
        claim("PH distances agree with representational similarity (1 − CKA)",
              "PH distance set beside CKA-like measures as a meaningful layer distance",
              "Spearman r(PH matrix, 1 − CKA matrix) over layer pairs, RMS-normalised clouds",
              col(T, "r_ph_cka"), control=col(U, "r_ph_cka"), **ctl,
              note=f"without the rescaling (PH is not scale-free): trained r = {np.mean(col(T, 'r_ph_cka_raw')):.2f}, "
                   f"untrained {np.mean(col(U, 'r_ph_cka_raw')):.2f}"),
        claim("Mapper purity rises with depth", "mapper graphs organise class knowledge toward the output",
              "node purity: logits − first conv", col(T, "purity_gain"), control=col(U, "purity_gain"), **ctl),
        method_check("PH distance to the original grows as more top PCs are removed (on the cloud)",
                     "sensitivity test: distance grows with the number of PCs removed",
                     f"Spearman ρ(k, PH distance) on {mid}, k ∈ {list(cfg['ks'])}", col(T, "sens_rho"),
                     note="cannot fail: d(0) = 0 anchors it, and any removal moves the cloud (untrained ρ "
                          f"{np.mean(col(U, 'sens_rho')):.2f})"),
    ]
    accs = col(T, "acc")
    table = ReproductionTable(
        "Purvine et al. 2022 (topology of activations)", "topology", rows,
        setup={"model": "residual CNN (stem + 3 basic blocks, widths 16/32) — the paper used ResNet-18",
               "data": data["description"], "layers": list(layers), "cloud": "top-ℓ2 (before BN), unit RMS radius",
               "PH": "Vietoris–Rips H1, sliced Wasserstein M=50", "n per cloud": n, "seeds": n_seeds,
               "control": "the same network untrained (its initialisation, same seed)",
               "epochs": cfg["epochs"], "config": dict(cfg), "mode": "quick" if quick else "full"},
        extra={"accuracy": accs, "accuracy_untrained": col(U, "acc"), "node_purity": col(T, "purity"),
               "node_purity_untrained": col(U, "purity"), "cross_seed_nn": nn_t, "cross_seed_nn_untrained": nn_u,
               "drop_sensitivity": [r["drop"] for r in T], "drop_sensitivity_untrained": [r["drop"] for r in U]},
        seconds=time.perf_counter() - t0,
        findings=[f"Held-out accuracy {np.mean(accs):.3f} (min {np.min(accs):.3f}) over {n_seeds} seeds; untrained "
                  f"{np.mean(col(U, 'acc')):.3f} (chance {1 / len(data['classes']):.2f}).",
                  "Mean node purity per layer: " + ", ".join(
                      f"{k} {v:.2f}" for k, v in zip(layers, np.mean(col(T, "purity"), axis=0)))],
        command=f"repscope topology reproduce{' --quick' if quick else ''} --seeds {n_seeds}")
    return [table]


def reproduce(*, quick: bool = True, seeds: int | None = None, seed: int = 0, progress: bool = False,
              config: dict[str, Any] | None = None, n_workers: int | None = None) -> list[Any]:
    """Entry point of ``repscope topology reproduce`` (see :func:`purvine_reproduction`)."""
    return purvine_reproduction(quick=quick, seeds=seeds, seed=seed, config=config, progress=progress,
                                n_workers=n_workers)


def deeper_cnn_report(out: str | pathlib.Path | None = None, *, dataset: str = "dsprites_lite", n_samples: int = 1000,
                      resamples: int = 3, seed: int = 0,
                      progress: bool = False) -> tuple[ReproductionReading, dict[str, Any]]:
    """``repscope topology reproduce --deeper-cnn``: :func:`deeper_cnn_reproduction`, written to ``out`` (if
    given) as report.html (one section) and reproduction.json. Returns the reading and that JSON's content
    (the reading's and every result's ``to_dict()``)."""
    from repscope.report import Section, write_report
    from repscope.results import dumps

    if dataset not in DATASETS:
        raise InputError(f"--dataset {dataset!r} is unknown; use one of {', '.join(DATASETS)}")
    res = deeper_cnn_reproduction(seed=seed, n_samples=n_samples, progress=progress, dataset=dataset,
                                  resamples=resamples)
    reading = res[-1]
    payload = {"reading": reading.to_dict(), "results": [{"title": r.title, "result": r.to_dict()} for r in res]}
    if out is not None:
        out = pathlib.Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "reproduction.json").write_text(dumps(payload))
        intro = ("Purvine et al. (2022) on a deeper CNN: PH (H1, sliced Wasserstein) layer distances next to "
                 "1 − linear CKA, their rank correlation, and mapper purity per layer.")
        meta = {"dataset": dataset, "seed": seed, "n_samples": reading.n_samples, "resamples": reading.resamples,
                "total time (s)": round(reading.seconds["total"], 2)}
        write_report([Section("Topology — deeper CNN reproduction", list(res), intro=intro, key="topology-reproduce")],
                     out, title=f"repscope — topology reproduction ({dataset})", meta=meta)
    return reading, payload
