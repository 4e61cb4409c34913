"""Descrambling benchmarks: timings and the reproduction numbers (prints a table).

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/descramble_bench.py

Uses the lead's digits CNN (repscope.experiments.models.digits) when present; otherwise an untrained stand-in CNN
with the same module names (conv1..fc2), so timings for the demo section can be measured early.
"""

from __future__ import annotations

import pathlib
import tempfile
import time

import numpy as np


class ArrayStore:
    def __init__(self, layers):
        self._d = layers
        self.layers = list(layers)
        self.n_samples = next(iter(layers.values())).shape[0]

    def layer_shape(self, layer):
        return tuple(self._d[layer].shape[1:])

    def read(self, layer, rows=None):
        X = self._d[layer].reshape(self.n_samples, -1)
        return X if rows is None else X[rows]

    def iter_rows(self, layer, block_rows):
        X = self.read(layer)
        for s in range(0, X.shape[0], block_rows):
            yield s, X[s:s + block_rows]


def digits_store(seed=0):
    import torch
    from sklearn.datasets import load_digits

    try:
        from repscope.experiments.models.digits import load_model

        model, X, _ = load_model("cnn", seed=seed)
        source = "repscope.experiments.models.digits (trained)"
    except ImportError:
        torch.manual_seed(seed)
        model = torch.nn.Sequential()
        for name, mod in [("conv1", torch.nn.Conv2d(1, 16, 3, padding=1)), ("relu1", torch.nn.ReLU()),
                          ("conv2", torch.nn.Conv2d(16, 32, 3, padding=1)), ("relu2", torch.nn.ReLU()),
                          ("pool", torch.nn.MaxPool2d(2)), ("conv3", torch.nn.Conv2d(32, 64, 3, padding=1)),
                          ("relu3", torch.nn.ReLU()), ("flatten", torch.nn.Flatten()),
                          ("fc1", torch.nn.Linear(64 * 16, 128)), ("relu4", torch.nn.ReLU()),
                          ("fc2", torch.nn.Linear(128, 10))]:
            model.add_module(name, mod)
        X = torch.tensor(load_digits().images[:, None] / 16.0, dtype=torch.float32)
        source = "untrained stand-in CNN"
    acts = {}
    def keep(name):
        return lambda m, i, o: acts.__setitem__(name, o.detach().numpy())

    hooks = [getattr(model, n).register_forward_hook(keep(n))
             for n in ("conv1", "conv2", "conv3", "fc1", "relu4", "fc2")]
    with torch.no_grad():
        model(torch.as_tensor(X))
    for h in hooks:
        h.remove()
    return ArrayStore({k: v.astype(np.float32) for k, v in acts.items()}), model, source


def main() -> None:
    from repscope.descramble import Descrambler, brockett_descent
    from repscope.experiments.descramble.demo import demo_results
    from repscope.experiments.descramble.reproductions import (
        circulant_reproduction,
        isotropic_reproduction,
        linear_network_reproduction,
    )

    rows = []
    store, model, source = digits_store()
    W = model.fc1.weight.detach().numpy().astype(np.float64)
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        res = demo_results(store, out_dir=pathlib.Path(tmp), weights=W)
    rows.append(("demo_results (digits store, all sections)", f"{time.perf_counter() - t:.2f} s", source))
    for r in res:
        d = r.to_dict()
        if "cost_permutation" in d:
            rows.append((f"  permutation {d['layer']}", f"identity {d['cost_identity']:.4g}",
                         f"perm {d['cost_permutation']:.4g} / bound {d['bound']:.4g} "
                         f"(gain share {d['fraction_of_possible_gain']:.2f})"))
        elif "cost" in d:
            rows.append((f"  orthogonal {d['layer']}", f"identity {d['cost_identity']:.4g} → {d['cost']:.4g}",
                         f"hf {d['hf_fraction_raw']:.3f} → {d['hf_fraction_descrambled']:.3f}"))
    for seed in range(3):
        m = isotropic_reproduction(seed=seed).measurements
        rows.append((f"isotropic 64x64, 32768 samples, seed {seed}",
                     f"overlap k=8 {m['subspace_overlap_leading_k']:.4f}",
                     f"hf {m['hf_fraction_raw']:.3f} → {m['hf_fraction_descrambled']:.3f}"))
    m = linear_network_reproduction().measurements
    rows.append(("two-layer linear net",
                 f"align {m['mean_alignment_descrambled']:.3f} (raw {m['mean_alignment_best_raw_unit']:.3f})",
                 f"half-gain steps {[int(x) for x in m['half_gain_step']]}"))
    m = circulant_reproduction(n=64).measurements
    rows.append(("circulant toy n=64", f"gap {m['relative_gap']:.1e}",
                 f"ring recovered {m['ring_recovered']}"))
    rng = np.random.default_rng(0)
    for n in (64, 128):
        S = rng.standard_normal((n, n)) @ rng.standard_normal((n, 4 * n))
        t = time.perf_counter()
        d = Descrambler().fit(S)
        t1 = time.perf_counter() - t
        t = time.perf_counter()
        sol = brockett_descent(d.moment_, seed=1)
        t2 = time.perf_counter() - t
        rows.append((f"closed form vs Cayley descent, n={n}", f"{t1 * 1e3:.1f} ms vs {t2:.2f} s",
                     f"rel gap {(sol.cost - d.bound_) / d.bound_:.1e}, {sol.n_iter} it"))
    w = max(len(r[0]) for r in rows)
    for r in rows:
        print(f"{r[0]:<{w}}  {r[1]:<36}  {r[2]}")


if __name__ == "__main__":
    main()
