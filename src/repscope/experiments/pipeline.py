"""End-to-end jobs shared by the CLI and the Python API: the demo and the report of a store.

model → capture → store → lens analyses (each lens's ``demo_results``) → result objects → report.
"""

from __future__ import annotations

import importlib
import inspect
import time
from pathlib import Path
from typing import Any

from repscope.errors import InputError

# (section key, title, module providing demo_results, one-line explanation)
LENSES: list[tuple[str, str, str, str]] = [
    ("similarity", "Representational similarity", "repscope.experiments.similarity.demo",
     "How alike are the layers' representations? One layer×layer matrix per measure."),
    ("ranges", "Activation ranges", "repscope.experiments.ranges.demo",
     "Beyond maximal activations: what the mid-range of a unit's activations is associated with."),
    ("topology", "Topology", "repscope.experiments.topology.demo",
     "Layers as point clouds: persistent-homology distances beside CKA, and mapper graphs per layer."),
    ("dynamics", "Dynamics", "repscope.experiments.dynamics.demo",
     "Dynamical Similarity Analysis of trajectories next to Procrustes and CKA."),
    ("descrambling", "Descrambling", "repscope.experiments.descramble.demo",
     "Principal components of preactivations as optimal descramblers of a layer's weights."),
]

DEMO_LAYERS = ["conv1", "conv2", "conv3", "fc1", "relu4", "fc2"]


def available_sections() -> list[str]:
    return ["capture"] + [k for k, *_ in LENSES if _lens_module(k) is not None]


def _lens_module(key: str):
    for k, _, mod, _ in LENSES:
        if k == key:
            if importlib.util.find_spec(mod) is None:
                return None
            return importlib.import_module(mod)
    raise InputError(f"unknown report section {key!r}; choose from capture, {', '.join(k for k, *_ in LENSES)}")


def analyse_store(
    store: Any,
    out_dir: str | Path,
    *,
    sections: list[str] | None = None,
    seed: int = 0,
    quick: bool = False,
    progress: bool = False,
    capture_extra: dict[str, Any] | None = None,
    log: Any = None,
) -> tuple[list[Any], dict[str, float]]:
    """Run every requested lens on ``store``; return report sections and wall time per section."""
    from repscope.report import Section
    from repscope.store.summary import CaptureSummary

    out = Path(out_dir)
    chosen = sections or available_sections()
    unknown = [s for s in chosen if s != "capture" and s not in {k for k, *_ in LENSES}]
    if unknown:
        raise InputError(
            f"unknown report section(s) {unknown}; choose from capture, {', '.join(k for k, *_ in LENSES)}"
        )
    result: list[Any] = []
    timings: dict[str, float] = {}
    if "capture" in chosen:
        result.append(Section("Capture", [CaptureSummary.from_store(store, **(capture_extra or {}))],
                              intro="What was recorded, from which model, and how.", key="capture"))
    for key, title, _mod, intro in LENSES:
        if key not in chosen:
            continue
        mod = _lens_module(key)
        if mod is None:
            continue
        t0 = time.perf_counter()
        if log:
            log(f"running {key} …")
        kwargs: dict[str, Any] = {"out_dir": out, "seed": seed, "progress": progress}
        if "quick" in inspect.signature(mod.demo_results).parameters:
            kwargs["quick"] = quick
        res = mod.demo_results(store, **kwargs)
        timings[key] = time.perf_counter() - t0
        result.append(Section(title, list(res), intro=intro, key=key))
    return result, timings


def run_demo(
    out_dir: str | Path = "repscope-demo",
    *,
    model: str = "cnn",
    seed: int = 0,
    quick: bool = False,
    sections: list[str] | None = None,
    progress: bool = True,
    log: Any = print,
) -> Path:
    """The embedded default job: train (or load) a digits model, capture, analyse, write the report."""
    from repscope import capture
    from repscope.experiments.datasets.digits import digits_attributes
    from repscope.experiments.models.digits import accuracy, load_model
    from repscope.report import write_report

    if model == "minilm":
        return run_minilm_demo(out_dir, seed=seed, progress=progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    net, X, y = load_model(model, seed=seed)
    t_model = time.perf_counter() - t0
    n = 600 if quick else len(X)
    layers = DEMO_LAYERS if model == "cnn" else ["fc1", "relu1", "fc2", "relu2", "fc3"]
    attrs = digits_attributes(X[:n])
    t1 = time.perf_counter()
    store = capture(net, X[:n], layers, out / "acts.zarr", labels=y[:n], attributes=attrs, batch_size=256,
                    overwrite=True, progress=progress, dataset=f"scikit-learn digits (first {n} of 1797)")
    t_capture = time.perf_counter() - t1
    extra = {"training accuracy": f"{accuracy(net, X, y):.3f}", "model (load/train) s": round(t_model, 2),
             "capture s": round(t_capture, 2)}
    secs, timings = analyse_store(store, out, sections=sections, seed=seed, quick=quick, progress=progress,
                                  capture_extra=extra, log=log)
    meta = {"job": "repscope demo", "model": f"digits {model}", "seed": seed, "samples": n,
            **{f"time {k} (s)": round(v, 2) for k, v in timings.items()},
            "total time (s)": round(time.perf_counter() - t0, 2)}
    path = write_report(secs, out, title=f"repscope demo — digits {model}", meta=meta)
    return path


def run_minilm_demo(out_dir: str | Path, *, seed: int = 0, progress: bool = True) -> Path:
    """The demo on a real pretrained model (all-MiniLM-L6-v2, offline): capture summary + layer×layer CKA."""
    from repscope.experiments.models.text import SENTENCES, capture_minilm
    from repscope.metrics import layer_matrix
    from repscope.report import Section, write_report
    from repscope.store.summary import CaptureSummary

    t0 = time.perf_counter()
    store = capture_minilm(out_dir, seed=seed, progress=progress)
    summary = CaptureSummary.from_store(store, topics=", ".join(SENTENCES))
    cka = layer_matrix(store, metric="linear_cka")
    secs = [Section("Capture", [summary], key="capture"),
            Section("Representational similarity", [cka], key="similarity",
                    intro="Linear CKA between MiniLM's layers on the built-in sentences (masked token mean).")]
    return write_report(secs, out_dir, title="repscope demo — all-MiniLM-L6-v2",
                        meta={"job": "repscope demo --model minilm", "seed": seed,
                              "total time (s)": round(time.perf_counter() - t0, 2)})
