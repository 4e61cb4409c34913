"""Shared glue of the ``repscope <lens> reproduce`` commands: run one paper's reproduction, write its
tables (``reproduction.md``, ``reproduction.json``) and ``report.html`` to ``--out``, print the verdicts."""

from __future__ import annotations

import pathlib

import typer

from repscope.commands import _options as opt
from repscope.commands._format import print_json


def is_reproduce(store: str | None) -> bool:
    """Whether a command's STORE argument is the word ``reproduce`` (and no store of that name exists)."""
    return store == "reproduce" and not pathlib.Path(store).exists()


def run_reproduce(key: str, *, quick: bool, seeds: int | None, seed: int, out: pathlib.Path | None,
                  as_json: bool, quiet: bool) -> None:
    """Run reproduction ``key`` (see :data:`repscope.experiments.verdict.REPRODUCTIONS`) and report it."""
    from repscope.experiments.verdict import reproduce

    tables, wall = reproduce(key, quick=quick, seeds=seeds, seed=seed, out=out, progress=not quiet and not as_json)
    if as_json:
        print_json({"reproductions": [t.to_dict() for t in tables], "wall_s": wall}, compact=True)
    elif not quiet:
        for t in tables:
            typer.echo(f"## {t.paper} — overall: {t.verdict}")
            typer.echo(t.markdown())
            typer.echo(t.summary())
        typer.echo(f"wall time {wall:.0f} s" + (f"; wrote {pathlib.Path(out) / 'report.html'}" if out else ""))


def add_reproduce_command(sub: typer.Typer, key: str, doc: str) -> None:
    """Register ``repscope <lens> reproduce`` (the same options for every lens) on the lens's sub-app."""

    def reproduce(
        quick: bool = opt.quick("The ≤ 3-minute version (default: full, ≤ 30 min on 2 cores)."),
        seeds: int = opt.seeds("Seeds (≥ 2; default: the paper design's, 10 or more — 20 where a claim uses seed "
                               "pairs; fewer than 10 give no verdict)."),
        out: pathlib.Path = opt.out("Directory for report.html, reproduction.md and .json."),
        seed: int = opt.seed("First seed."),
        as_json: bool = opt.json("Print the tables as JSON on stdout."),
        quiet: bool = opt.quiet("No progress or tables on the terminal."),
    ) -> None:
        run_reproduce(key, quick=quick, seeds=seeds, seed=seed, out=out, as_json=as_json, quiet=quiet)

    reproduce.__doc__ = doc
    sub.command("reproduce")(reproduce)
