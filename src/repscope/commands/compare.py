"""``repscope compare``: layer×layer similarity matrices within one store or between two stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from repscope.commands import _options as opt
from repscope.commands._format import print_caveats, print_json, print_table, render_table, write_result


def compare(
    store: str = opt.store("Activation store (directory written by capture, or fsspec URL); its layers are the "
                           "rows."),
    store2: str | None = opt.store("Optional second store: its layers are the columns (default: STORE's layers "
                                   "again).", metavar="STORE2", default=None),
    metric: str | None = opt.metric(None, "Comma-separated measures (see --list; default linear_cka, debiased_cka, "
                                    "procrustes, svcca, rsa, mutual_knn, as the report).", short=True),
    layers: str | None = opt.layers("Comma-separated layer names (default: all).", short=True),
    out: Path | None = opt.out("Write <metric>.json/.csv/.png here.", short=True),
    json_out: bool = opt.json("Print the matrices as JSON to stdout."),
    seed: int = opt.seed("Random seed of the subsample of rsa and mutual_knn, the bootstrap and the permutation "
                         "test."),
    max_quadratic: int | None = typer.Option(None, "--max-quadratic-samples", min=4, help="rsa and mutual_knn "
                                             "(O(n²)) use a seeded subsample of this many samples when there are "
                                             "more (default 2000, as the report)."),
    n_boot: int = typer.Option(0, "--n-boot", min=0, help="Bootstrap resamples over samples: CIs per entry (0 = "
                               "none)."),
    ci: float = typer.Option(0.95, "--ci", min=0.5, max=0.9999, help="Coverage of the bootstrap intervals."),
    n_perm: int = typer.Option(0, "--n-perm", min=0, help="Permutations for p-values against unrelated layers (0 = "
                               "none)."),
    quiet: bool = opt.quiet("No progress or tables.", short=True),
    device: str | None = typer.Option(None, "--device", help="cpu (default), cuda or auto."),
    formulation: str = typer.Option("auto", "--formulation", help="Linear measures: auto (the cheaper), gram (n×n: "
                                    "few samples, wide layers) or covariance (d×d)."),
    list_: bool = typer.Option(False, "--list", help="List the available measures and exit."),
    fmt: str = opt.table_format(),
) -> None:
    """Similarity of every pair of layers (CKA, Procrustes, CCA, RSA, ...), as matrices and heatmaps.

    Rows are STORE's layers, columns STORE2's (or STORE's again when only one store is given). The
    numbers are those of the report's similarity section: sequence layers (tokens, time steps) enter as
    their mean over the real tokens, and rsa and mutual_knn use the same seeded subsample.
    """
    from repscope._paths import store_label
    from repscope.metrics import describe
    from repscope.metrics.entry import DEFAULTS, similarity_matrices
    from repscope.store import open_store

    if list_:
        rows = [[name, d["kind"], d["description"]] for name, d in describe().items()]
        print_table(["measure", "kind", "description"], rows, fmt)
        return
    a = open_store(store)
    b = None if store2 is None else open_store(store2)
    print_caveats(a, b)
    results, notes, _ = similarity_matrices(
        a, b, metrics=metric, layers=layers, device=device, progress=not quiet, n_boot=n_boot, ci=ci,
        n_perm=n_perm, seed=seed, formulation=formulation,
        **opt.or_defaults(DEFAULTS, max_quadratic_samples=max_quadratic))
    rows_from, cols_from = store, store if store2 is None else store2
    for r in results:
        r.row_axis, r.col_axis = f"layer of {store_label(rows_from)}", f"layer of {store_label(cols_from)}"
    if out is not None:
        for r in results:
            write_result(out, r.metric, r)
            r.to_csv(out / f"{r.metric}.csv")
    if json_out:
        print_json({"seed": seed, "notes": notes, "results": [r.to_dict() for r in results]})
    elif not quiet:
        _print_matrices(results, notes, rows_from, cols_from, fmt)
        if out is not None:
            typer.echo(f"wrote {len(results)} matrices (JSON, CSV, PNG) to {out}", err=True)


def _print_matrices(results: list[Any], notes: list[str], rows_from: str, cols_from: str, fmt: str) -> None:
    if fmt == "table":
        typer.echo(f"rows: layers of {rows_from}; columns: layers of {cols_from}")
    for note in notes:  # beside a tsv/json table on stdout, the notes go to stderr
        typer.echo(f"note: {note}", err=fmt != "table")
    for r in results:
        header, rows = r.table()
        header = [f"{rows_from} \\ {cols_from}" if fmt != "table" else "rows \\ cols", *header[1:]]
        title = f"{r.metric} ({r.kind}, n={r.n_samples}, {r.seconds:.2f} s)"
        if fmt == "json":
            table = json.loads(render_table(header, rows, "json"))
            print_json({"metric": r.metric, "kind": r.kind, "rows_from": rows_from, "cols_from": cols_from,
                        "table": table}, compact=True)
        else:
            typer.echo("" if fmt == "table" else f"# {title}")
            print_table(header, rows, fmt, title=title if fmt == "table" else "")


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
