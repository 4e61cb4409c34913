"""How commands print and write: tables (``--format table`` — aligned; rich boxes only on a terminal — ``tsv``
or ``json``), ``--json`` documents, progress lines on stderr, and result files in ``--out``.

Tables go to stdout in full — never cut to the terminal width when stdout is a pipe or a file — so that
``repscope compare … > out.txt`` and ``… | grep`` see every column.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import typer

FORMATS = ("table", "tsv", "json")


def check_format(fmt: str) -> str:
    from repscope.errors import InputError

    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    return fmt


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def render_table(header: list[Any], rows: list[list[Any]], fmt: str = "table", *, title: str = "",
                 terminal: bool | None = None) -> str:
    """The text of one table in ``fmt``; ``terminal`` (default: is stdout a terminal) picks rich boxes."""
    check_format(fmt)
    head = [str(h) for h in header]
    body = [[_cell(c) for c in r] for r in rows]
    if fmt == "json":
        return json.dumps([dict(zip(head, r)) for r in body], ensure_ascii=False)
    if fmt == "tsv":
        clean = [[c.replace("\t", " ").replace("\n", " ") for c in r] for r in [head, *body]]
        return "\n".join("\t".join(r) for r in clean)
    if terminal is None:
        terminal = sys.stdout.isatty()
    if terminal:
        import io

        from rich.console import Console
        from rich.table import Table

        t = Table(*head, title=title or None)
        for r in body:
            t.add_row(*r)
        buf = io.StringIO()
        Console(file=buf, force_terminal=False, width=max(80, Console().width)).print(t)
        return buf.getvalue().rstrip("\n")
    widths = [max(len(x) for x in col) for col in zip(head, *body)] if head else []
    lines = [title] if title else []
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in body]
    return "\n".join(lines)


def print_table(header: list[Any], rows: list[list[Any]], fmt: str = "table", *, title: str = "") -> None:
    """Print one table to stdout (see :func:`render_table`)."""
    typer.echo(render_table(header, rows, fmt, title=title))


def print_caveats(*stores: Any) -> None:
    """Print what a user should know before reading a lens on each store given (None: skipped; sequence layers
    without per-sample lengths, a layer order that is not the execution order:
    :func:`repscope.lenses.protocol.caveats`) as ``repscope: warning: …`` lines on stderr — shown with
    ``--quiet`` too, since they are not progress."""
    from repscope.lenses.protocol import caveats

    for store in stores:
        for note in caveats(store) if store is not None else ():
            typer.echo(f"repscope: warning: {note}", err=True)


def print_json(obj: Any, *, compact: bool = False) -> None:
    """``obj`` as JSON on stdout (:func:`repscope.results.to_jsonable`; NaN refused): indented, or on one line."""
    from repscope.results import to_jsonable

    typer.echo(json.dumps(to_jsonable(obj), indent=None if compact else 2, allow_nan=False))


def print_result(payload: Any, as_json: bool, quiet: bool, *lines: str, compact: bool = False) -> None:
    """The usual ending of a command: ``payload`` as JSON with ``--json``, else its summary ``lines`` on stdout
    (nothing with ``--quiet``)."""
    if as_json:
        print_json(payload, compact=compact)
    elif not quiet:
        for line in lines:
            typer.echo(line)


def stderr_log(quiet: bool) -> Callable[[str], None]:
    """A progress logger: lines on stderr (stdout stays pure for --json), nothing with ``--quiet``."""
    return (lambda m: None) if quiet else (lambda m: typer.echo(m, err=True))


def save_figure(fig: Any, path: Path, dpi: int = 120) -> None:
    """Write a matplotlib figure and close it (plots are plain Figures, no pyplot state kept)."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")  # no GUI backend for a CLI
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def write_result(out: Path, stem: str, result: Any, *, dpi: int = 120, **plot_kw: Any) -> None:
    """``<stem>.json`` (the result's ``to_dict()``) and ``<stem>.png`` (its plot) in ``out``."""
    write_outputs(out, f"{stem}.json", result.to_dict(), [])
    save_figure(result.plot(**plot_kw), _inside(out, f"{stem}.png"), dpi=dpi)


def write_outputs(out: Path, json_name: str, payload: Any, figures: Iterable[tuple[Any, str]], *,
                  dpi: int = 120) -> None:
    """``json_name`` holding ``payload``, and ``<stem>.png`` for each (result, stem) of ``figures`` whose result
    is not None, in ``out`` (created; nothing is written outside it)."""
    from repscope.results import dumps

    out.mkdir(parents=True, exist_ok=True)
    _inside(out, json_name).write_text(dumps(payload))
    for result, stem in figures:
        if result is not None:
            save_figure(result.plot(), _inside(out, f"{stem}.png"), dpi=dpi)


def _inside(out: Path, name: str) -> Path:
    from repscope._paths import inside

    return inside(out, name)
