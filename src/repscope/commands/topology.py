"""``repscope topology STORE``: PH layer-distance matrix + a mapper graph per layer, as JSON + PNG."""

from __future__ import annotations

import json
import pathlib
import re
from typing import Annotated

import typer

from repscope.errors import InputError


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80] or "layer"


def register(app: typer.Typer) -> None:
    """Add the ``topology`` command to the main CLI app."""

    @app.command("topology")
    def topology(
        store: Annotated[pathlib.Path, typer.Argument(help="Activation store (zarr directory) to analyse.")],
        layers: Annotated[
            str | None, typer.Option("--layers", help="Comma-separated layer names (default: all layers).")
        ] = None,
        cloud: Annotated[
            str,
            typer.Option(help="Point cloud per layer: top_l2 (paper), avg_pool, random_position, flatten."),
        ] = "top_l2",
        n_samples: Annotated[int, typer.Option("--n-samples", help="Inputs per draw (paper: 1000).")] = 1000,
        resamples: Annotated[
            int, typer.Option(help="Independent draws of n-samples inputs (mean ± sd).")
        ] = 1,
        metric: Annotated[
            str, typer.Option(help="sliced_wasserstein (paper), bottleneck, wasserstein, persistence_image.")
        ] = "sliced_wasserstein",
        dim: Annotated[int, typer.Option(help="Homology dimension compared (paper: 1).")] = 1,
        normalize: Annotated[
            str | None, typer.Option(help="Rescale every cloud first: rms or diameter (default: none).")
        ] = None,
        mapper_graphs: Annotated[
            bool, typer.Option("--mapper/--no-mapper", help="Also build mapper graphs.")
        ] = True,
        n_intervals: Annotated[int, typer.Option("--n-intervals", help="Mapper cover intervals.")] = 10,
        overlap: Annotated[float, typer.Option(help="Mapper interval overlap fraction.")] = 0.5,
        workers: Annotated[int, typer.Option(help="Worker processes for per-layer persistence.")] = 1,
        out: Annotated[
            pathlib.Path | None, typer.Option("--out", help="Output directory (JSON + PNG).")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
        seed: Annotated[int, typer.Option(help="Seed for sample draws and layouts.")] = 0,
        quiet: Annotated[bool, typer.Option("--quiet", help="No progress or summary output.")] = False,
    ) -> None:
        """Persistent-homology distances between layers and mapper graphs (Purvine et al. 2022)."""
        import numpy as np

        from repscope._result import dumps
        from repscope.store import open_store
        from repscope.topology import mapper, mapper_trend, ph_layer_matrix, store_cloud

        st = open_store(store)
        names = [s.strip() for s in layers.split(",") if s.strip()] if layers else list(st.layers)
        for nm in names:
            if nm not in list(st.layers):
                raise InputError(f"layer {nm!r} is not in {store}; available: {', '.join(st.layers)}")
        ph = ph_layer_matrix(
            st,
            names,
            cloud=cloud,
            n_samples=n_samples,
            resamples=resamples,
            metric=metric,
            dim=dim,
            normalize=normalize,
            seed=seed,
            n_workers=workers,
            progress=not quiet and not as_json,
        )
        result: dict = {"ph_layer_matrix": ph.to_dict()}
        graphs = []
        if mapper_graphs:
            n = int(st.n_samples)
            rows = (
                None
                if n_samples >= n
                else np.sort(np.random.default_rng(seed).choice(n, n_samples, replace=False))
            )
            labels = getattr(st, "labels", None)
            lab = (
                None if labels is None else (np.asarray(labels) if rows is None else np.asarray(labels)[rows])
            )
            for nm in names:
                X = store_cloud(st, nm, cloud, rows=rows, seed=seed)
                graphs.append(mapper(X, lab, n_intervals=n_intervals, overlap=overlap, name=nm, seed=seed))
            trend = mapper_trend(graphs, names)
            result["mapper"] = {g.name: g.to_dict() for g in graphs}
            result["mapper_trend"] = trend.to_dict()
        if out is not None:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            out.mkdir(parents=True, exist_ok=True)
            (out / "topology.json").write_text(dumps(result))
            fig = ph.plot()
            fig.savefig(out / "ph_layer_matrix.png", dpi=120)
            plt.close(fig)
            for g in graphs:
                fig = g.plot()
                fig.savefig(out / f"mapper_{_safe(g.name)}.png", dpi=120)
                plt.close(fig)
            if graphs:
                fig = trend.plot()
                fig.savefig(out / "mapper_trend.png", dpi=120)
                plt.close(fig)
        if as_json:
            typer.echo(json.dumps(json.loads(dumps(result))))
        elif not quiet:
            typer.echo(ph.summary())
            if graphs:
                typer.echo(trend.summary())
            if out is not None:
                typer.echo(f"wrote {out}")
