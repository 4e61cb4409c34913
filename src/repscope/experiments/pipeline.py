"""The ``repscope demo`` jobs: model → capture → store → the library's report (every lens that applies,
:mod:`repscope.report.job`) → plus the built-in experiments (papers' controlled cases and reproductions),
which appear only here or with ``repscope report --experiments``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from repscope.errors import InputError

BUILT_IN = "built-in data and models, not the store"
DEMO_LAYERS = ["conv1", "conv2", "conv3", "fc1", "relu4", "fc2"]

#: (section key, title, what it shows) of the built-in experiments, in report order.
EXPERIMENTS: list[tuple[str, str, str]] = [
    ("spurious-digits", "Experiment — a confounder hidden in the mid band (spurious digits)",
     "O'Mahony et al. (2024)'s controlled case on built-in data, not on your store: a marker correlated "
     "(ρ = 0.95) with the class shows in the mid band of the class logit; mitigation by mid-range retraining."),
    ("attractors", "Experiment — DSA vs geometry on attractors",
     "Built-in dynamical systems, not your store: ring, line and point attractors and limit cycles."),
    ("descrambling-reproductions", "Experiment — descrambling reproductions (Sule et al. 2023)",
     "Closed-form cases on generated data: isotropic inputs, a two-layer linear network, a circulant toy."),
    ("topology-reproduction", "Experiment — deeper CNN on dSprites-lite (Purvine et al. 2022)",
     "A 5-conv network trained on built-in dSprites-lite: PH distances vs CKA and mapper purity by depth."),
    ("reproductions", "Reproductions of the four papers",
     "Each paper's experimental design at the scale that fits (quick mode), the paper's claims beside ours and "
     "an untrained or null control, the paired difference with its Holm-adjusted one-sided p-value, and a verdict "
     "by one calibrated rule (underpowered below 10 independent values; repscope <lens> reproduce)."),
]


def available_sections(experiments: bool = True) -> list[str]:
    """Section keys of the demo report: the library's sections, then the experiments."""
    from repscope.report.job import SECTION_KEYS

    return list(SECTION_KEYS) + ([k for k, *_ in EXPERIMENTS] if experiments else [])


def experiment_sections(
    out_dir: str | Path, *, seed: int = 0, quick: bool = False, progress: bool = False, log: Any = None,
    only: list[str] | None = None,
) -> list[Any]:
    """The built-in experiments as report sections (a failing one is shown as failed, the rest still run)."""
    from repscope.report.job import LensSection

    out: list[Any] = []
    for key, title, intro in EXPERIMENTS:
        if only is not None and key not in only:
            continue
        if log:
            log(f"running experiment {key} …")
        t0 = time.perf_counter()
        if key == "reproductions":
            if quick:
                why = "not run with --quick (≈ 8 CPU-minutes; run repscope <lens> reproduce --quick)"
                out.append(LensSection.not_run(title, intro, key, "skipped", why, BUILT_IN))
                continue
            try:
                from repscope.experiments.verdict import reproduction_sections

                for s in reproduction_sections(quick=True, seed=seed, progress=progress):
                    # each paper's wall time (its table's), so the demo's time breakdown counts it
                    secs = [float(r.seconds) for r in s.results if hasattr(r, "seconds")]
                    out.append(LensSection(s.title, s.results, intro=s.intro, key=s.key, status=s.status,
                                           reason=s.reason, data=s.data, seconds=secs[0] if secs else float("nan")))
            except Exception as exc:  # shown as failed; the report is still written
                from repscope.report.job import _one_line

                out.append(LensSection.not_run(title, intro, key, "failed", _one_line(exc), BUILT_IN,
                                               time.perf_counter() - t0))
            continue
        if key == "topology-reproduction" and quick:
            why = "not run with --quick (≈ 20 s more on 2 CPUs)"
            out.append(LensSection.not_run(title, intro, key, "skipped", why, BUILT_IN))
            continue
        try:
            res = _experiment(key, Path(out_dir), seed=seed, quick=quick, progress=progress)
            out.append(LensSection(title, res, intro=intro, key=key, data=BUILT_IN,
                                   seconds=time.perf_counter() - t0))
        except Exception as exc:  # shown as failed; the report is still written
            from repscope.report.job import _one_line

            out.append(LensSection.not_run(title, intro, key, "failed", _one_line(exc), BUILT_IN,
                                               time.perf_counter() - t0))
    return out


def store_report(store: Any, out_dir: str | Path, sections: list[str] | None = None, *, experiments: bool = False,
                 seed: int = 0, quick: bool = False, progress: bool = False, log: Any = None, **kwargs: Any) -> Path:
    """``repscope report``: :func:`repscope.report.job.build_report` of ``store`` (keyword arguments go there),
    with the built-in experiments appended when ``experiments`` (the run card's total time counts them too).
    Returns the path of ``report.html``."""
    from repscope.report.job import build_report

    started = time.perf_counter()
    extra = experiment_sections(out_dir, seed=seed, quick=quick, progress=progress, log=log) if experiments else []
    return build_report(store, out_dir, sections, seed=seed, progress=progress, log=log, extra_sections=extra,
                        started=started, **kwargs)


def _experiment(key: str, out_dir: Path, *, seed: int, quick: bool, progress: bool) -> list[Any]:
    if key == "spurious-digits":
        from repscope.experiments.ranges.demo import spurious_results

        return spurious_results(seed=seed, quick=quick, progress=progress)
    if key == "attractors":
        from repscope.experiments.dynamics.demo import demo_results

        return demo_results(None, out_dir=out_dir, seed=seed, progress=progress)
    if key == "descrambling-reproductions":
        from repscope.experiments.descramble.demo import reproduction_results

        return reproduction_results(seed=seed)
    if key == "topology-reproduction":
        from repscope.experiments.topology.reproduce import deeper_cnn_reproduction

        return deeper_cnn_reproduction(seed=seed, n_samples=1000, progress=progress, resamples=3)
    raise InputError(f"unknown experiment {key!r}; choose from {', '.join(k for k, *_ in EXPERIMENTS)}")


def _split_sections(sections: list[str] | None) -> tuple[list[str] | None, list[str] | None]:
    if sections is None:
        return None, None
    allowed = available_sections()
    unknown = [s for s in sections if s not in allowed]
    if unknown:
        raise InputError(f"unknown report section(s) {unknown}; choose from {', '.join(allowed)}")
    exp = {k for k, *_ in EXPERIMENTS}
    return [s for s in sections if s not in exp], [s for s in sections if s in exp]


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
    from repscope.capture import capture
    from repscope.experiments.datasets.digits import digits_attributes
    from repscope.experiments.models.digits import accuracy, load_model
    from repscope.report.job import build_report

    if model == "minilm":
        return run_minilm_demo(out_dir, seed=seed, progress=progress, sections=sections, log=log)
    lib_secs, exp_secs = _split_sections(sections)
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
    phases = {"model (load/train)": t_model, "capture": t_capture}
    options: dict[str, dict[str, Any]] = {
        "ranges": {"n_permutations": 199 if quick else 999},
        "topology": {"n_samples": 300 if quick else 1000},
        # the store holds activations only; the demo has the model, so fc1's weights join its descrambling
        "descrambling": {"weights": {"fc1": net.fc1.weight.detach().cpu().numpy()}},
    }
    extra_secs = [] if exp_secs == [] else experiment_sections(out, seed=seed, quick=quick, progress=progress,
                                                                log=log, only=exp_secs)
    return build_report(store, out, lib_secs, title=f"repscope demo — digits {model}", seed=seed,
                        progress=progress, options=options, capture_extra=extra, log=log,
                        extra_sections=extra_secs, started=t0, phases=phases,
                        meta={"job": "repscope demo", "model": f"digits {model}", "samples": n})


def minilm_layers(n_layers: int = 6) -> dict[str, list[str]]:
    """MiniLM's captured layers by use: sentence vectors (masked token mean), token sequences, and the
    feed-forward intermediate preactivations (per token)."""
    enc = [f"encoder.layer.{i}" for i in range(n_layers)]
    return {
        "vectors": ["embeddings", *enc],
        "sequences": ["embeddings.LayerNorm", *[f"{e}.output" for e in enc]],
        "preactivations": [f"{e}.intermediate.dense" for e in enc],
    }


def run_minilm_demo(
    out_dir: str | Path, *, seed: int = 0, progress: bool = True, sections: list[str] | None = None,
    log: Any = None,
) -> Path:
    """The demo on a real pretrained model (all-MiniLM-L6-v2, offline): every lens through the library's
    report, each on the layers it reads (sentence vectors, token sequences, intermediate preactivations)."""
    from repscope.experiments.models.text import SENTENCES, capture_minilm
    from repscope.report.job import build_report

    lib_secs, _ = _split_sections(sections)
    t0 = time.perf_counter()
    store = capture_minilm(out_dir, seed=seed, progress=progress)
    t_capture = time.perf_counter() - t0
    lay = minilm_layers()
    options = {
        "similarity": {"layers": lay["vectors"]},
        "ranges": {"layers": lay["vectors"], "n_permutations": 999},
        "topology": {"layers": lay["vectors"], "n_samples": len(store.sample_ids), "min_samples": 3},
        "dynamics": {"layers": lay["sequences"]},
        # first and last block (1536 units each: one eigendecomposition per layer, ≈ 5 s apiece)
        "descrambling": {"layers": [lay["preactivations"][0], lay["preactivations"][-1]]},
    }
    topics = ", ".join(f"{i} = {t}" for i, t in enumerate(SENTENCES))
    return build_report(store, out_dir, lib_secs, title="repscope demo — all-MiniLM-L6-v2", seed=seed,
                        progress=progress, options=options, log=log,
                        capture_extra={"topics": topics}, started=t0, phases={"capture": t_capture},
                        meta={"job": "repscope demo --model minilm", "labels": topics})
