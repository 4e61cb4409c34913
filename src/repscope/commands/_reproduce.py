"""Shared glue of the ``repscope <lens> reproduce`` commands: run one paper's reproduction, write its
tables (``reproduction.md``, ``reproduction.json``) and ``report.html`` to ``--out``, print the verdicts."""

from __future__ import annotations

import json
import pathlib
import time

import typer

from repscope.errors import InputError


def run_reproduce(key: str, *, quick: bool, seeds: int | None, seed: int, out: pathlib.Path | None,
                  as_json: bool, quiet: bool) -> None:
    """Run reproduction ``key`` (see :data:`repscope.experiments.verdict.REPRODUCTIONS`) and report it."""
    from repscope.experiments.verdict import ReproductionTable, run_reproduction, write_reproduction
    from repscope.results import dumps

    if seeds is not None and seeds < 2:
        raise InputError(f"--seeds {seeds} is too few for a confidence interval; use at least 2 (5 or more advised)")
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
        typer.echo(json.dumps(json.loads(dumps({"reproductions": [t.to_dict() for t in tables], "wall_s": wall}))))
    elif not quiet:
        for t in tables:
            typer.echo(f"## {t.paper} — overall: {t.verdict}")
            typer.echo(t.markdown())
            typer.echo(t.summary())
        typer.echo(f"wall time {wall:.0f} s" + (f"; wrote {pathlib.Path(out) / 'report.html'}" if out else ""))
