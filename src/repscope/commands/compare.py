"""``repscope compare``: layer×layer similarity matrices within one store or between two stores."""

from __future__ import annotations

import pathlib
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("compare")
    def compare(
        store: Annotated[
            pathlib.Path, typer.Argument(help="Activation store (directory written by capture).")
        ],
        store2: Annotated[
            pathlib.Path | None,
            typer.Argument(help="Optional second store: compare its layers against STORE's."),
        ] = None,
        metric: Annotated[
            str, typer.Option("--metric", "-m", help="Comma-separated measures (see --list).")
        ] = "linear_cka,procrustes",
        layers: Annotated[
            str | None, typer.Option("--layers", "-l", help="Comma-separated layer names (default: all).")
        ] = None,
        out: Annotated[
            pathlib.Path | None, typer.Option("--out", "-o", help="Write <metric>.json/.csv/.png here.")
        ] = None,
        json_out: Annotated[
            bool, typer.Option("--json", help="Print the matrices as JSON to stdout.")
        ] = False,
        seed: Annotated[
            int, typer.Option("--seed", min=0, help="Random seed of the bootstrap and permutation test.")
        ] = 0,
        n_boot: Annotated[
            int, typer.Option("--n-boot", min=0, help="Bootstrap resamples over samples: CIs per entry (0 = none).")
        ] = 0,
        ci: Annotated[
            float, typer.Option("--ci", min=0.5, max=0.9999, help="Coverage of the bootstrap intervals.")
        ] = 0.95,
        n_perm: Annotated[
            int, typer.Option("--n-perm", min=0, help="Permutations for p-values against unrelated layers (0 = none).")
        ] = 0,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or tables.")] = False,
        device: Annotated[str | None, typer.Option("--device", help="cpu (default), cuda or auto.")] = None,
        list_: Annotated[bool, typer.Option("--list", help="List the available measures and exit.")] = False,
    ) -> None:
        """Similarity of every pair of layers (CKA, Procrustes, CCA, RSA, ...), as matrices and heatmaps."""
        import repscope
        from repscope.metrics import describe, layer_matrices
        from repscope.results import dumps

        if list_:
            for name, d in describe().items():
                typer.echo(f"{name:20s} {d['kind']:10s} {d['description']}")
            return
        a = repscope.open_store(store)
        b = None if store2 is None else repscope.open_store(store2)
        results = layer_matrices(a, b, metrics=metric, layers=layers, device=device, progress=not quiet,
                                 n_boot=n_boot, ci=ci, n_perm=n_perm, seed=seed)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            for r in results:
                (out / f"{r.metric}.json").write_text(dumps(r.to_dict()))
                r.to_csv(out / f"{r.metric}.csv")
                fig = r.plot()
                fig.savefig(out / f"{r.metric}.png", dpi=120)
                plt.close(fig)
        if json_out:
            typer.echo(dumps({"seed": seed, "results": [r.to_dict() for r in results]}))
        elif not quiet:
            for r in results:
                header, rows = r.table()
                typer.echo(f"\n{r.metric} ({r.kind}, n={r.n_samples}, {r.seconds:.2f} s)")
                w = max(len(str(c)) for c in [*header, *(c for row in rows for c in row)]) + 2
                typer.echo("".join(h.rjust(w) for h in header))
                for row in rows:
                    typer.echo("".join(str(c).rjust(w) for c in row))
            if out is not None:
                typer.echo(f"\nwrote {len(results)} matrices (JSON, CSV, PNG) to {out}")
