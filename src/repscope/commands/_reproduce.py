"""Shared glue of the ``repscope <lens> reproduce`` commands: run one paper's reproduction, write its
tables (``reproduction.md``, ``reproduction.json``) and ``report.html`` to ``--out``, print the verdicts."""

from __future__ import annotations

import pathlib
import time

import typer

from repscope.commands import _options as opt
from repscope.commands._format import print_json
from repscope.errors import InputError


def is_reproduce(store: str | None) -> bool:
    """Whether a command's STORE argument is the word ``reproduce`` (and no store of that name exists)."""
    return store == "reproduce" and not pathlib.Path(store).exists()


def run_reproduce(key: str, *, quick: bool, seeds: int | None, seed: int, out: pathlib.Path | None,
                  as_json: bool, quiet: bool) -> None:
    """Run reproduction ``key`` (see :data:`repscope.experiments.verdict.REPRODUCTIONS`) and report it."""
    from repscope.experiments.verdict import ReproductionTable, run_reproduction, write_reproduction

    if seeds is not None and seeds < 2:
        raise InputError(f"--seeds {seeds} is too few for a confidence interval; use at least 2 "
                         "(a verdict needs 10 or more)")
    t0 = time.perf_counter()
    res = run_reproduction(key, quick=quick, seeds=seeds, seed=seed, progress=not quiet and not as_json)
    wall = time.perf_counter() - t0
    tables = [r for r in res if isinstance(r, ReproductionTable)]
    cmd = f"repscope {key} reproduce" + (" --quick" if quick else "") + (f" --seeds {seeds}" if seeds else "")
    for t in tables:
        t.command = cmd
    if out is not None:
        write_reproduction(res, out, title=f"repscope — {key} reproduction{' (quick)' if quick else ''}")
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
