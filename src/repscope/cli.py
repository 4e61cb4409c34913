"""The ``repscope`` command line. Thin glue: parse → call the Python API → print.

Errors a user can cause print one line on stderr and exit 2; internal failures exit 1. No traceback
unless ``--debug`` is given (anywhere on the command line).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from repscope.errors import RepscopeError

app = typer.Typer(
    name="repscope",
    help="Understand what a neural network has learned from its activations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain click help: flags without a "<bool>" metavar, and no rich import at --help
)


@app.callback()
def _root() -> None:
    """repscope: capture activations, compare layers, analyse ranges, topology, dynamics, descrambling.

    Add --debug anywhere to see tracebacks.
    """


def emit(obj: Any, *, as_json: bool) -> None:
    """Print a result: JSON on stdout with --json, else nothing (commands print their own summary)."""
    if as_json:
        from repscope.results import dumps

        typer.echo(dumps(obj))


def echo(msg: str, *, quiet: bool = False, as_json: bool = False) -> None:
    """Human-readable progress lines go to stderr so --json output stays parseable."""
    if not quiet:
        typer.echo(msg, err=True)


def _register() -> None:
    from repscope.commands import register_all

    register_all(app)


_register()


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        app(args=args, prog_name="repscope")
    except RepscopeError as exc:
        if debug:
            raise
        typer.echo(f"repscope: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("repscope: interrupted", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:
        if debug:
            raise
        typer.echo(
            f"repscope: internal error: {type(exc).__name__}: {exc} (re-run with --debug for the traceback)",
            err=True,
        )
        sys.exit(1)


def dumps_json(obj: Any) -> str:  # pragma: no cover - convenience
    return json.dumps(obj)


if __name__ == "__main__":  # pragma: no cover
    main()
