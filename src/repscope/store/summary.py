"""A result object describing a store (the report's "capture" section)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from repscope.results import ResultBase


@dataclass
class CaptureSummary(ResultBase):
    """What was captured: samples, layers (shape, pooling, hook point, non-finite count), labels."""

    path: str
    n_samples: int
    layers: dict[str, dict[str, Any]]
    label_counts: dict[str, int] = field(default_factory=dict)
    attributes: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    title: str = "Capture summary"

    @classmethod
    def from_store(cls, store: Any, **extra: Any) -> CaptureSummary:
        layers = {}
        for name in store.layers:
            info = store.layer_info(name)
            layers[name] = {
                "shape": tuple(info["shape"]), "features": int(np.prod(info["shape"])),
                "pool": info.get("pool"), "point": info.get("point"), "module": info.get("module"),
                "nonfinite": store.nonfinite(name),
            }
        counts: dict[str, int] = {}
        if store.labels is not None:
            vals, cnt = np.unique(store.labels, return_counts=True)
            counts = {str(v): int(c) for v, c in zip(vals, cnt)}
        meta = store.metadata
        prov = {k: meta.get(k) for k in ("repscope_version", "created", "dataset", "torch_version")}
        prov["model"] = (meta.get("model") or {}).get("class")
        prov["n_params"] = (meta.get("model") or {}).get("n_params")
        return cls(str(store.path), store.n_samples, layers, counts, list(store.attributes), prov, dict(extra))

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "n_samples": self.n_samples, "layers": self.layers,
                "label_counts": self.label_counts, "attributes": self.attributes,
                "provenance": self.provenance, **self.extra}

    def summary(self) -> str:
        nf = [k for k, v in self.layers.items() if v["nonfinite"]]
        parts = [
            f"{self.n_samples} samples × {len(self.layers)} layers captured from "
            f"{self.provenance.get('model')} ({self.provenance.get('n_params')} parameters) on "
            f"{self.provenance.get('dataset')}.",
        ]
        if self.extra:
            parts.append("; ".join(f"{k}: {v}" for k, v in self.extra.items()) + ".")
        if nf:
            parts.append(f"Layers with NaN/Inf activations (analyses refuse them): {', '.join(nf)}.")
        look = "Look at the table: one row per captured layer (shape, pooling, hook point)"
        counts = list(self.label_counts.values())
        if len(counts) > 1 and min(counts) == max(counts):
            look += f"; the labels are balanced ({counts[0]} samples for each of {len(counts)} labels)."
        elif len(counts) > 1:
            look += "; the figure shows how many samples each label has."
        else:
            look += "."
        parts.append(look)
        return "\n\n".join(parts)

    def table(self) -> tuple[list[str], list[list[Any]]]:
        rows = [[k, "×".join(map(str, v["shape"])), v["features"], v["pool"], v["point"], v["module"],
                 v["nonfinite"]] for k, v in self.layers.items()]
        return ["layer", "shape", "features", "pool", "hook", "module", "NaN/Inf"], rows

    def plot(self, ax: Any = None):
        """Samples per label (is the data balanced?) when the store has unequal label counts; ``None``
        otherwise — the table already lists every layer, and equal bars say nothing the summary cannot."""
        counts = list(self.label_counts.values())
        if len(counts) < 2 or min(counts) == max(counts):  # balanced labels: the summary says so in words
            return None
        from repscope.results import axes_figure

        names = list(self.label_counts)
        counts = [self.label_counts[k] for k in names]
        fig, ax = axes_figure(ax, (min(2.5 + 0.35 * len(names), 12), 2.8))
        ax.bar(range(len(names)), counts, color="#23408e")
        shown = names if len(names) <= 40 else [n if i % max(1, len(names) // 40) == 0 else ""
                                                for i, n in enumerate(names)]
        ax.set_xticks(range(len(names)), shown, rotation=0 if len(names) <= 12 else 90, fontsize=8)
        ax.set_xlabel("label")
        ax.set_ylabel("samples")
        ax.set_title(f"Samples per label ({self.n_samples} in all)")
        fig.tight_layout()
        return fig
