"""``repscope topology STORE``: PH layer-distance matrix + a mapper graph per layer, as JSON + PNG."""

from __future__ import annotations

import json
import pathlib
from typing import Annotated

import typer

from repscope.commands._format import print_caveats
from repscope.errors import InputError


def _safe(name: str) -> str:
    from repscope._paths import safe_name

    return safe_name(name)


def _reproduce(
    dataset: str, n_samples: int, resamples: int, seed: int, out: pathlib.Path | None, as_json: bool, quiet: bool
) -> None:
    """``--reproduce``: deeper-CNN reproduction → report.html (one section) + reproduction.json in ``out``."""
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
    if as_json:
        typer.echo(json.dumps(json.loads(dumps(payload["reading"]))))
    elif not quiet:
        typer.echo(reading.summary())
        if out is not None:
            typer.echo(f"wrote {out / 'report.html'}")


def _tooltip_sources(images_path, texts_path, n: int) -> tuple:
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


def register(app: typer.Typer) -> None:
    """Add the ``topology`` command to the main CLI app."""

    @app.command("topology")
    def topology(
        store: Annotated[
            pathlib.Path | None,
            typer.Argument(metavar="STORE", help="Activation store (zarr directory) to analyse, or the word "
                           "'reproduce' to run Purvine et al.'s tests over seeds (repscope topology reproduce "
                           "[--quick])."),
        ] = None,
        layers: Annotated[
            str | None, typer.Option("--layers", help="Comma-separated layer names (default: all layers).")
        ] = None,
        cloud: Annotated[
            str | None,
            typer.Option(help="Point cloud per layer: top_l2 (paper, default), avg_pool, random_position, "
                         "flatten."),
        ] = None,
        n_samples: Annotated[
            int | None, typer.Option("--n-samples", min=1, help="Inputs per draw (default 1000, the paper's and "
                                     "the report's).")
        ] = None,
        resamples: Annotated[
            int | None,
            typer.Option(
                min=1, help="Independent draws of n-samples inputs (mean ± sd); default 1, 3 with --reproduce."
            ),
        ] = None,
        metric: Annotated[
            str | None, typer.Option(help="sliced_wasserstein (paper, default), bottleneck, wasserstein, "
                                     "persistence_image.")
        ] = None,
        dim: Annotated[int | None, typer.Option(min=0, help="Homology dimension compared (default 1, the "
                                                "paper's).")] = None,
        normalize: Annotated[
            str | None, typer.Option(help="Rescale every cloud first: rms or diameter (default: none).")
        ] = None,
        mapper_graphs: Annotated[
            bool, typer.Option("--mapper/--no-mapper", help="Also build mapper graphs.")
        ] = True,
        n_intervals: Annotated[int | None, typer.Option("--n-intervals", min=1, help="Mapper cover intervals "
                                                        "(default 10).")] = None,
        overlap: Annotated[
            float | None, typer.Option(min=0.0, max=0.99, help="Mapper interval overlap fraction in [0, 0.99] "
                                       "(default 0.5).")
        ] = None,
        min_samples: Annotated[
            int | None, typer.Option("--min-samples", min=1, help="Mapper DBSCAN min_samples (default 5).")
        ] = None,
        mapper_lens: Annotated[
            str | None, typer.Option("--mapper-lens", help="Mapper lens: l2norm (paper, default) or pca (first "
                                     "principal component).")
        ] = None,
        mapper_clusterer: Annotated[
            str | None, typer.Option("--mapper-clusterer", help="Mapper clusterer: dbscan (paper, default) or "
                                     "single_linkage.")
        ] = None,
        mapper_images: Annotated[
            pathlib.Path | None,
            typer.Option(
                "--mapper-images",
                help=".npy of one image per stored sample, (n, H, W[, C]) or (n, C, H, W): member thumbnails "
                "in the mapper nodes' tooltips.",
            ),
        ] = None,
        mapper_texts: Annotated[
            pathlib.Path | None,
            typer.Option(
                "--mapper-texts", help="Text file with one line per stored sample: member snippets in tooltips."
            ),
        ] = None,
        workers: Annotated[int, typer.Option(min=1, help="Worker processes for per-layer persistence.")] = 1,
        out: Annotated[
            pathlib.Path | None, typer.Option("--out", help="Output directory (JSON + PNG).")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
        seed: Annotated[int, typer.Option(min=0, help="Seed for sample draws and layouts.")] = 0,
        quiet: Annotated[bool, typer.Option("--quiet", help="No progress or summary output.")] = False,
        reproduce: Annotated[
            bool,
            typer.Option(
                "--reproduce",
                help="Instead of a store: train a deeper CNN (5 conv + 2 linear) and reproduce the paper's "
                "PH-vs-CKA and mapper-purity findings on all its layers; writes report.html + JSON to --out.",
            ),
        ] = False,
        dataset: Annotated[
            str, typer.Option(help="With --reproduce: dsprites_lite (bias-free, task = shape) or digits.")
        ] = "dsprites_lite",
        quick: Annotated[
            bool, typer.Option("--quick", help="With 'reproduce': the ≤ 3-minute version (default: full).")
        ] = False,
        seeds: Annotated[
            int | None, typer.Option("--seeds", min=2, help="With 'reproduce': seeds (≥ 2; default 5).")
        ] = None,
    ) -> None:
        """Persistent-homology distances between layers and mapper graphs (Purvine et al. 2022).

        repscope topology --reproduce --out DIR runs the deeper-CNN reproduction instead of analysing a STORE.
        """

        if store is not None and str(store) == "reproduce" and not store.exists():
            from repscope.commands._reproduce import run_reproduce

            run_reproduce("topology", quick=quick, seeds=seeds, seed=seed, out=out, as_json=as_json, quiet=quiet)
            return
        if reproduce:
            if store is not None:
                raise InputError("--reproduce trains its own model; give either a STORE or --reproduce, not both")
            _reproduce(dataset, 1000 if n_samples is None else n_samples, 3 if resamples is None else resamples,
                       seed, out, as_json, quiet)
            return
        if store is None:
            raise InputError("no STORE given; pass an activation store directory, or --reproduce")
        from repscope.results import dumps
        from repscope.store import open_store
        from repscope.topology import MapperGraph, MapperTrend, PHLayerMatrix, layer_summaries
        from repscope.topology.entry import DEFAULTS, analyse

        st = open_store(store)
        names = [s.strip() for s in layers.split(",") if s.strip()] if layers else None
        given = dict(n_samples=n_samples, cloud=cloud, metric=metric, dim=dim, resamples=resamples,
                     n_intervals=n_intervals, overlap=overlap, min_samples=min_samples, mapper_lens=mapper_lens,
                     mapper_clusterer=mapper_clusterer)
        opts = {k: getattr(DEFAULTS, k) if v is None else v for k, v in given.items()}
        images, texts = _tooltip_sources(mapper_images, mapper_texts, int(st.n_samples))
        analysis = analyse(st, layers=names, seed=seed, n_workers=workers, progress=not quiet and not as_json,
                           normalize=normalize, mapper_graphs=mapper_graphs, images=images, texts=texts, **opts)
        ph = next((r for r in analysis.results if isinstance(r, PHLayerMatrix)), None)
        graphs = [r for r in analysis.results if isinstance(r, MapperGraph)]
        trend = next((r for r in analysis.results if isinstance(r, MapperTrend)), None)
        print_caveats(st)
        result: dict = {"reading": analysis.reading, "notes": list(analysis.notes), "params": analysis.params,
                        "ph_layer_matrix": None if ph is None else ph.to_dict()}
        summaries = (layer_summaries(ph.diagrams, dim=opts["dim"], layers=list(ph.diagrams))
                     if ph is not None and ph.diagrams else None)
        if summaries is not None:
            result["layer_summaries"] = summaries.to_dict()
        if graphs:
            result["mapper"] = {g.name: g.to_dict() for g in graphs}
        if trend is not None:
            result["mapper_trend"] = trend.to_dict()
        if out is not None:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            out.mkdir(parents=True, exist_ok=True)
            (out / "topology.json").write_text(dumps(result))
            if ph is not None:
                fig = ph.plot()
                fig.savefig(out / "ph_layer_matrix.png", dpi=120)
                plt.close(fig)
            if summaries is not None:
                fig = summaries.plot()
                fig.savefig(out / "layer_summaries.png", dpi=120)
                plt.close(fig)
            for g in graphs:
                fig = g.plot()
                fig.savefig(out / f"mapper_{_safe(g.name)}.png", dpi=120)
                plt.close(fig)
            if trend is not None:
                fig = trend.plot()
                fig.savefig(out / "mapper_trend.png", dpi=120)
                plt.close(fig)
        if as_json:
            typer.echo(json.dumps(json.loads(dumps(result))))
        elif not quiet:
            if ph is not None:
                typer.echo(ph.summary())
            if summaries is not None:
                typer.echo(summaries.summary())
            if trend is not None:
                typer.echo(trend.summary())
            for note in analysis.notes:
                typer.echo(f"note: {note}")
            if out is not None:
                typer.echo(f"wrote {out}")
