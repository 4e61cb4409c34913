"""``repscope topology STORE``: PH layer-distance matrix + a mapper graph per layer, as JSON + PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from repscope.commands import _options as opt
from repscope.commands._format import print_caveats, print_result, write_outputs
from repscope.errors import InputError


def _deeper_cnn(
    dataset: str, n_samples: int, resamples: int, seed: int, out: Path | None, as_json: bool, quiet: bool
) -> None:
    """``reproduce --deeper-cnn``: deeper-CNN reproduction → report.html (one section) + reproduction.json in
    ``out``."""
    from repscope.experiments.topology.reproduce import DATASETS, deeper_cnn_reproduction
    from repscope.results import dumps

    if dataset not in DATASETS:
        raise InputError(f"--dataset {dataset!r} is unknown; use one of {', '.join(DATASETS)}")
    res = deeper_cnn_reproduction(
        seed=seed, n_samples=n_samples, progress=not quiet and not as_json, dataset=dataset, resamples=resamples
    )
    reading = res[-1]
    payload = {"reading": reading.to_dict(), "results": [{"title": r.title, "result": r.to_dict()} for r in res]}
    if out is not None:
        from repscope.report import Section, write_report

        out.mkdir(parents=True, exist_ok=True)
        (out / "reproduction.json").write_text(dumps(payload))
        write_report(
            [
                Section(
                    "Topology — deeper CNN reproduction",
                    list(res),
                    intro="Purvine et al. (2022) on a deeper CNN: PH (H1, sliced Wasserstein) layer distances "
                    "next to 1 − linear CKA, their rank correlation, and mapper purity per layer.",
                    key="topology-reproduce",
                )
            ],
            out,
            title=f"repscope — topology reproduction ({dataset})",
            meta={"dataset": dataset, "seed": seed, "n_samples": reading.n_samples, "resamples": reading.resamples,
                  "total time (s)": round(reading.seconds["total"], 2)},
        )
    print_result(payload["reading"], as_json, quiet, reading.summary(),
                 *([] if out is None else [f"wrote {out / 'report.html'}"]), compact=True)


def _tooltip_sources(images_path: Path | None, texts_path: Path | None, n: int) -> tuple[Any, Any]:
    """Images (.npy, memory-mapped) and texts (one line per sample) for mapper tooltips, one per stored sample
    (the analysis keeps those of the inputs it draws)."""
    import numpy as np

    images = texts = None
    if images_path is not None:
        if not images_path.exists():
            raise InputError(f"--mapper-images {images_path} does not exist; pass a .npy with one image per sample")
        try:
            images = np.load(images_path, mmap_mode="r", allow_pickle=False)
        except Exception as exc:
            raise InputError(f"--mapper-images {images_path} could not be read as .npy ({exc})") from exc
        if images.shape[0] != n:
            raise InputError(
                f"--mapper-images has {images.shape[0]} images but the store has {n} samples; give one per sample"
            )

    if texts_path is not None:
        if not texts_path.exists():
            raise InputError(f"--mapper-texts {texts_path} does not exist; pass a text file, one line per sample")
        lines = texts_path.read_text(encoding="utf-8", errors="replace").splitlines()
        if len(lines) != n:
            raise InputError(
                f"--mapper-texts has {len(lines)} lines but the store has {n} samples; give one line per sample"
            )
        texts = lines
    return images, texts


def topology(
    store: str | None = opt.store("Activation store (zarr directory or fsspec URL) to analyse, or the word "
                                  "'reproduce' to run Purvine et al.'s tests over seeds (repscope topology reproduce "
                                  "[--quick]; with --deeper-cnn the deeper-CNN reproduction).", default=None),
    layers: str | None = opt.layers("Comma-separated layer names (default: all layers)."),
    cloud: str | None = typer.Option(None, "--cloud", help="Point cloud per layer: top_l2 (paper, default), avg_pool, "
                                     "random_position, flatten."),
    n_samples: int | None = typer.Option(None, "--n-samples", min=1, help="Inputs per draw (default 1000, the "
                                         "paper's and the report's)."),
    resamples: int | None = typer.Option(None, "--resamples", min=1, help="Independent draws of n-samples inputs "
                                         "(mean ± sd); default 1, 3 with --deeper-cnn."),
    metric: str | None = opt.metric(None, "sliced_wasserstein (paper, default), bottleneck, wasserstein, "
                                    "persistence_image."),
    dim: int | None = typer.Option(None, "--dim", min=0, help="Homology dimension compared (default 1, the "
                                   "paper's)."),
    normalize: str | None = typer.Option(None, "--normalize", help="Rescale every cloud first: rms or diameter "
                                         "(default: none)."),
    mapper_graphs: bool = typer.Option(True, "--mapper/--no-mapper", help="Also build mapper graphs."),
    n_intervals: int | None = typer.Option(None, "--n-intervals", min=1, help="Mapper cover intervals (default "
                                           "10)."),
    overlap: float | None = typer.Option(None, "--overlap", min=0.0, max=0.99, help="Mapper interval overlap "
                                         "fraction in [0, 0.99] (default 0.5)."),
    min_samples: int | None = typer.Option(None, "--min-samples", min=1, help="Mapper DBSCAN min_samples (default "
                                           "5)."),
    mapper_lens: str | None = typer.Option(None, "--mapper-lens", help="Mapper lens: l2norm (paper, default) or pca "
                                           "(first principal component)."),
    mapper_clusterer: str | None = typer.Option(None, "--mapper-clusterer", help="Mapper clusterer: dbscan (paper, "
                                                "default) or single_linkage."),
    mapper_images: Path | None = typer.Option(None, "--mapper-images", help=".npy of one image per stored sample, "
                                              "(n, H, W[, C]) or (n, C, H, W): member thumbnails in the mapper "
                                              "nodes' tooltips."),
    mapper_texts: Path | None = typer.Option(None, "--mapper-texts", help="Text file with one line per stored "
                                             "sample: member snippets in tooltips."),
    workers: int = opt.workers(1, "Worker processes for per-layer persistence."),
    out: Path | None = opt.out("Output directory (JSON + PNG)."),
    as_json: bool = opt.json(),
    seed: int = opt.seed("Seed for sample draws and layouts."),
    quiet: bool = opt.quiet("No progress or summary output."),
    deeper_cnn: bool = typer.Option(False, "--deeper-cnn", help="With 'reproduce': train a deeper CNN (5 conv + 2 "
                                    "linear) and reproduce the paper's PH-vs-CKA and mapper-purity findings on all "
                                    "its layers; writes report.html + JSON to --out."),
    dataset: str = typer.Option("dsprites_lite", "--dataset", help="With --deeper-cnn: dsprites_lite (bias-free, "
                                "task = shape) or digits."),
    quick: bool = opt.quick("With 'reproduce': the ≤ 3-minute version (default: full)."),
    seeds: int | None = opt.seeds(),
) -> None:
    """Persistent-homology distances between layers and mapper graphs (Purvine et al. 2022).

    repscope topology reproduce --deeper-cnn --out DIR runs the deeper-CNN reproduction instead of the paper's tests.
    """
    if store == "reproduce" and not Path(store).exists():
        if deeper_cnn:
            _deeper_cnn(dataset, 1000 if n_samples is None else n_samples, 3 if resamples is None else resamples,
                        seed, out, as_json, quiet)
            return
        from repscope.commands._reproduce import run_reproduce

        run_reproduce("topology", quick=quick, seeds=seeds, seed=seed, out=out, as_json=as_json, quiet=quiet)
        return
    if deeper_cnn:
        raise InputError("--deeper-cnn trains its own model; run `repscope topology reproduce --deeper-cnn` without "
                         "a STORE")
    if store is None:
        raise InputError("no STORE given; pass an activation store directory, or `reproduce`")
    from repscope.store import open_store
    from repscope.topology.entry import DEFAULTS, analyse

    st = open_store(store)
    names = [s.strip() for s in layers.split(",") if s.strip()] if layers else None
    given = dict(n_samples=n_samples, cloud=cloud, metric=metric, dim=dim, resamples=resamples,
                 n_intervals=n_intervals, overlap=overlap, min_samples=min_samples, mapper_lens=mapper_lens,
                 mapper_clusterer=mapper_clusterer)
    opts: dict[str, Any] = {k: getattr(DEFAULTS, k) if v is None else v for k, v in given.items()}
    images, texts = _tooltip_sources(mapper_images, mapper_texts, int(st.n_samples))
    analysis = analyse(st, layers=names, seed=seed, n_workers=workers, progress=not quiet and not as_json,
                       normalize=normalize, mapper_graphs=mapper_graphs, images=images, texts=texts, **opts)
    print_caveats(st)
    result, figures = _payload(analysis, opts["dim"])
    if out is not None:
        write_outputs(out, "topology.json", result, figures)
    summaries = [r.summary() for r, stem in figures if r is not None and stem in _SUMMARISED]
    print_result(result, as_json, quiet, *summaries, *(f"note: {note}" for note in analysis.notes),
                 *([] if out is None else [f"wrote {out}"]), compact=True)


_SUMMARISED = ("ph_layer_matrix", "layer_summaries", "mapper_trend")  # printed without --json (not each graph)


def _payload(analysis: Any, dim: int) -> tuple[dict[str, Any], list[tuple[Any, str]]]:
    """topology.json's content and the figures (result, file stem): the PH layer matrix, the per-layer
    persistence summaries, each layer's mapper graph and the mapper trend (those the analysis made)."""
    from repscope._paths import safe_name
    from repscope.topology import MapperGraph, MapperTrend, PHLayerMatrix, layer_summaries

    ph = next((r for r in analysis.results if isinstance(r, PHLayerMatrix)), None)
    graphs = [r for r in analysis.results if isinstance(r, MapperGraph)]
    trend = next((r for r in analysis.results if isinstance(r, MapperTrend)), None)
    result: dict[str, Any] = {"reading": analysis.reading, "notes": list(analysis.notes), "params": analysis.params,
                              "ph_layer_matrix": None if ph is None else ph.to_dict()}
    summaries = (layer_summaries(ph.diagrams, dim=dim, layers=list(ph.diagrams))
                 if ph is not None and ph.diagrams else None)
    if summaries is not None:
        result["layer_summaries"] = summaries.to_dict()
    if graphs:
        result["mapper"] = {g.name: g.to_dict() for g in graphs}
    if trend is not None:
        result["mapper_trend"] = trend.to_dict()
    figures = [(ph, "ph_layer_matrix"), (summaries, "layer_summaries"),
               *((g, f"mapper_{safe_name(g.name)}") for g in graphs), (trend, "mapper_trend")]
    return result, figures


def register(app: typer.Typer) -> None:
    """Add the ``topology`` command to the main CLI app."""
    app.command("topology")(topology)
