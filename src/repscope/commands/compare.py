"""``repscope compare``: layer×layer similarity matrices within one store or between two stores."""

from __future__ import annotations

import json
import pathlib
from typing import Annotated

import typer

from repscope.commands._format import check_format, format_option, print_table, render_table


def register(app: typer.Typer) -> None:
    @app.command("compare")
    def compare(
        store: Annotated[
            pathlib.Path,
            typer.Argument(metavar="STORE", help="Activation store (directory written by capture); its layers "
                           "are the rows."),
        ],
        store2: Annotated[
            pathlib.Path | None,
            typer.Argument(metavar="STORE2", help="Optional second store: its layers are the columns "
                           "(default: STORE's layers again)."),
        ] = None,
        metric: Annotated[
            str | None, typer.Option("--metric", "-m", help="Comma-separated measures (see --list; default "
                                     "linear_cka, debiased_cka, procrustes, svcca, rsa, mutual_knn, as the report).")
        ] = None,
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
            int, typer.Option("--seed", min=0, help="Random seed of the subsample of rsa and mutual_knn, the "
                              "bootstrap and the permutation test.")
        ] = 0,
        max_quadratic: Annotated[
            int | None, typer.Option("--max-quadratic-samples", min=4, help="rsa and mutual_knn (O(n²)) use a "
                                     "seeded subsample of this many samples when there are more (default 2000, as "
                                     "the report).")
        ] = None,
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
        formulation: Annotated[
            str, typer.Option("--formulation", help="Linear measures: auto (the cheaper), gram (n×n: few samples, "
                              "wide layers) or covariance (d×d).")
        ] = "auto",
        list_: Annotated[bool, typer.Option("--list", help="List the available measures and exit.")] = False,
        fmt: Annotated[str, format_option(annotated=True)] = "table",
    ) -> None:
        """Similarity of every pair of layers (CKA, Procrustes, CCA, RSA, ...), as matrices and heatmaps.

        Rows are STORE's layers, columns STORE2's (or STORE's again when only one store is given). The
        numbers are those of the report's similarity section: sequence layers (tokens, time steps) enter as
        their mean over the real tokens, and rsa and mutual_knn use the same seeded subsample.
        """
        from repscope.commands._format import print_caveats
        from repscope.metrics import describe
        from repscope.metrics.entry import DEFAULTS, similarity_matrices
        from repscope.results import dumps
        from repscope.store import open_store

        check_format(fmt)
        if list_:
            rows = [[name, d["kind"], d["description"]] for name, d in describe().items()]
            print_table(["measure", "kind", "description"], rows, fmt)
            return
        a = open_store(store)
        b = None if store2 is None else open_store(store2)
        for s_ in (a, b):
            if s_ is not None:
                print_caveats(s_)
        results, notes, _ = similarity_matrices(
            a, b, metrics=metric, layers=layers, device=device, progress=not quiet, n_boot=n_boot, ci=ci,
            n_perm=n_perm, seed=seed, formulation=formulation,
            max_quadratic_samples=DEFAULTS.max_quadratic_samples if max_quadratic is None else max_quadratic)
        rows_from = str(store)
        cols_from = str(store2 if store2 is not None else store)
        for r in results:
            r.row_axis = f"layer of {pathlib.Path(rows_from).name}"
            r.col_axis = f"layer of {pathlib.Path(cols_from).name}"
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            for r in results:
                (out / f"{r.metric}.json").write_text(dumps(r.to_dict()))
                r.to_csv(out / f"{r.metric}.csv")
                r.plot().savefig(out / f"{r.metric}.png", dpi=120)
        if json_out:
            typer.echo(dumps({"seed": seed, "notes": notes, "results": [r.to_dict() for r in results]}))
        elif not quiet:
            if fmt == "table":
                typer.echo(f"rows: layers of {rows_from}; columns: layers of {cols_from}")
            for note in notes:  # beside a tsv/json table on stdout, the notes go to stderr
                typer.echo(f"note: {note}", err=fmt != "table")
            for r in results:
                header, rows = r.table()
                header = [f"{rows_from} \\ {cols_from}" if fmt != "table" else "rows \\ cols", *header[1:]]
                title = f"{r.metric} ({r.kind}, n={r.n_samples}, {r.seconds:.2f} s)"
                if fmt == "json":
                    typer.echo(json.dumps({"metric": r.metric, "kind": r.kind, "rows_from": rows_from,
                                           "cols_from": cols_from, "table": json.loads(
                                               render_table(header, rows, "json"))}))
                else:
                    typer.echo("" if fmt == "table" else f"# {title}")
                    print_table(header, rows, fmt, title=title if fmt == "table" else "")
            if out is not None:
                typer.echo(f"wrote {len(results)} matrices (JSON, CSV, PNG) to {out}", err=True)
