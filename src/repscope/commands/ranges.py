"""`repscope ranges …`: activation-range analysis of a stored unit, and the mitigation benchmark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from repscope.commands import _options as opt
from repscope.commands._format import print_caveats, print_json, print_table, write_outputs
from repscope.errors import InputError

_PRINT = "print the result as JSON"


def _save(results: list[Any], out: Path | None, payload: dict[str, Any]) -> None:
    if out is not None:
        figures = [(r, f"ranges_{i:02d}_{type(r).__name__}") for i, r in enumerate(results)]
        write_outputs(out, "results.json", payload, figures, dpi=110)


def _parse_edges(edges: str | None) -> list[float] | None:
    if edges is None:
        return None
    try:
        return [float(x) for x in edges.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"--edges {edges!r} must be comma-separated numbers, e.g. 0.3,0.7 or 0,30,70,95,100") \
            from None


def analyse(
    store: str = opt.store("activation store (zarr directory or fsspec URL)"),
    unit: str | None = typer.Option(None, "--unit", metavar="LAYER:INDEX", help="the unit to analyse, e.g. fc2:3 (a "
                                    "logit or a neuron). One of --unit / --direction is required."),
    direction: str | None = typer.Option(None, "--direction", metavar="SPEC", help="a direction instead of a unit: "
                                         "LAYER:class-mean:A[-B] | LAYER:probe:A | LAYER:file:PATH.npy. One of "
                                         "--unit / --direction is required."),
    kind: str | None = typer.Option(None, "--kind", help="normalised | percentile | value (default: normalised for "
                                    "the last layer)"),
    edges: str | None = typer.Option(None, "--edges", help="band edges, comma separated (t cuts or percentiles)"),
    attribute: list[str] = typer.Option([], "--attribute", "-a", metavar="NAME", help="only test this attribute "
                                        "(repeat for several)"),
    within_class: bool = typer.Option(False, "--within-class", help="compare within the unit's class"),
    permutations: int = typer.Option(None, "--permutations", min=1, help="permutations for p-values (default 999, "
                                     "as the report)"),
    correction: str = typer.Option(None, "--correction", help="bh | holm | none (default bh, as the report)"),
    out: Path | None = opt.out("write results.json and PNGs here"),
    json_out: bool = opt.json(_PRINT),
    seed: int = opt.seed("seed for the permutations and the examples"),
    quiet: bool = opt.quiet("print nothing but errors"),
    fmt: str = opt.table_format(),
) -> None:
    """Bands of one unit (or direction) and the attributes that characterise each band.

    Give exactly one of --unit LAYER:INDEX or --direction LAYER:KIND:ARGS.
    """
    from repscope.ranges.analysis import DEFAULTS, analyse_store
    from repscope.store import open_store

    st = open_store(store)
    res = analyse_store(st, unit=unit, direction=direction, kind=kind, edges=_parse_edges(edges),
                        attributes=list(attribute) or None, within_class=within_class, seed=seed,
                        **opt.or_defaults(DEFAULTS, n_permutations=permutations, correction=correction))
    print_caveats(st)
    payload = res.to_dict()
    _save([res.bands, *res.results()], out, payload)
    if json_out:
        print_json(payload)
    elif not quiet:
        table = fmt == "table"
        if table:
            typer.echo(res.bands.summary())
        print_table(*res.associations.table(), fmt, title="band associations" if table else "")
        if res.confounders is not None:
            print_table(*res.confounders.table(), fmt, title="confounder findings" if table else "")
            if table:
                typer.echo(res.confounders.summary())
        for note in res.notes if table else []:
            typer.echo(f"note: {note}")


def benchmark(
    fast: bool = typer.Option(False, "--fast", help="small configuration (spurious_digits, ρ=0.95, 2 seeds)"),
    seeds: int = opt.seeds("number of seeds (≥ 5 for the reported table)", 5, min=1),
    dataset: list[str] = typer.Option([], "--dataset", help="spurious_digits and/or dsprites_lite"),
    workers: int = opt.workers(2, "worker processes"),
    out: Path | None = opt.out("write results.json and a PNG here"),
    json_out: bool = opt.json(_PRINT),
    seed: int = opt.seed("first seed"),
    quiet: bool = opt.quiet(),
) -> None:
    """Worst-group / mean accuracy of ERM, JTT-style, random subset, mid-range curation and DFR."""
    from repscope.experiments.ranges.benchmark import benchmark_config, run_benchmark

    cfg = benchmark_config(fast, seeds, seed, tuple(dataset))
    res = run_benchmark(cfg, n_workers=workers, progress=not quiet and not json_out)
    payload = res.to_dict()
    _save([res], out, payload)
    if json_out:
        typer.echo(json.dumps(payload["stats"], indent=2))
    elif not quiet:
        typer.echo(res.format())


def register(app: typer.Typer) -> None:
    """Add the ``ranges`` sub-command group (``analyse``, ``benchmark``, ``reproduce``) to the main CLI."""
    from repscope.commands._reproduce import add_reproduce_command

    sub = typer.Typer(help="Activation ranges: bands of a unit, what each band contains, confounders, mitigation.",
                      no_args_is_help=True)
    sub.command("analyse")(analyse)
    sub.command("benchmark")(benchmark)
    add_reproduce_command(
        sub, "ranges",
        """Reproduce O'Mahony et al. 2024: bands on unbiased data, mitigation vs ERM/random/JTT/DFR/Group DRO.

        Writes the paper's claims beside ours with 95% CIs and verdicts.""",
    )
    app.add_typer(sub, name="ranges")
