"""``repscope topology STORE``: PH layer-distance matrix + a mapper graph per layer, as JSON + PNG."""

from __future__ import annotations

from pathlib import Path

import typer

from repscope.commands import _options as opt
from repscope.commands._format import print_caveats, print_result, write_outputs
from repscope.errors import InputError


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
    from repscope.commands._reproduce import is_reproduce, run_reproduce

    if is_reproduce(store) and deeper_cnn:
        from repscope.experiments.topology.reproduce import deeper_cnn_report

        reading, payload = deeper_cnn_report(out, dataset=dataset, n_samples=1000 if n_samples is None else n_samples,
                                             resamples=3 if resamples is None else resamples, seed=seed,
                                             progress=not quiet and not as_json)
        print_result(payload["reading"], as_json, quiet, reading.summary(),
                     *([] if out is None else [f"wrote {out / 'report.html'}"]), compact=True)
        return
    if is_reproduce(store):
        run_reproduce("topology", quick=quick, seeds=seeds, seed=seed, out=out, as_json=as_json, quiet=quiet)
        return
    if deeper_cnn:
        raise InputError("--deeper-cnn trains its own model; run `repscope topology reproduce --deeper-cnn` without "
                         "a STORE")
    if store is None:
        raise InputError("no STORE given; pass an activation store directory, or `reproduce`")
    from repscope.store import open_store
    from repscope.topology.entry import DEFAULTS, analyse, load_tooltips

    st = open_store(store)
    options = opt.or_defaults(DEFAULTS, n_samples=n_samples, cloud=cloud, metric=metric, dim=dim, resamples=resamples,
                              n_intervals=n_intervals, overlap=overlap, min_samples=min_samples,
                              mapper_lens=mapper_lens, mapper_clusterer=mapper_clusterer)
    images, texts = load_tooltips(mapper_images, mapper_texts, int(st.n_samples))
    analysis = analyse(st, layers=opt.split(layers), seed=seed, n_workers=workers, progress=not quiet and not as_json,
                       normalize=normalize, mapper_graphs=mapper_graphs, images=images, texts=texts, **options)
    print_caveats(st)
    result, figures = analysis.outputs(options["dim"])
    if out is not None:
        write_outputs(out, "topology.json", result, figures)
    summaries = [r.summary() for r, stem in figures if r is not None and stem in analysis.SUMMARISED]
    print_result(result, as_json, quiet, *summaries, *(f"note: {note}" for note in analysis.notes),
                 *([] if out is None else [f"wrote {out}"]), compact=True)


def register(app: typer.Typer) -> None:
    """Add the ``topology`` command to the main CLI app."""
    app.command("topology")(topology)
