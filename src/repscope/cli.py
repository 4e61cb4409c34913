"""The ``repscope`` command line. Thin glue: parse → call the Python API → print.

Errors a user can cause print one line on stderr and exit 2; internal failures exit 1. No traceback
unless ``--debug`` is given (anywhere on the command line).
"""

from __future__ import annotations

import sys

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


def _register() -> None:
    from repscope.commands import register_all

    register_all(app)


_register()


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    if args and not {"--help", "-h"} & set(args):  # help pages need no console (and stay instant)
        import rich

        rich.reconfigure(stderr=True)  # progress bars and logs never mix into stdout (kept pure for --json)
    click = _click_exceptions()
    try:
        rv = app(args=args, prog_name="repscope", standalone_mode=False)
    except click.NoArgsIsHelpError as exc:  # `repscope` or `repscope GROUP` alone: show the help
        typer.echo(exc.ctx.get_help() if exc.ctx else "see `repscope --help`", err=True)
        _error_exit(2)
    except click.UsageError as exc:  # bad option value / unknown option: one line naming the option, exit 2
        if debug:
            raise
        cmd = f" {exc.ctx.command_path.split(' ', 1)[1]}" if exc.ctx and " " in exc.ctx.command_path else ""
        typer.echo(f"repscope: error: {_one_line(exc.format_message())} (see `repscope{cmd} --help`)", err=True)
        _error_exit(2)
    except click.ClickException as exc:
        typer.echo(f"repscope: error: {_one_line(exc.format_message())}", err=True)
        _error_exit(exc.exit_code)
    except typer.Abort:
        typer.echo("repscope: interrupted", err=True)
        _error_exit(130)
    except RepscopeError as exc:
        if debug:
            raise
        typer.echo(f"repscope: error: {_one_line(exc)}", err=True)
        _error_exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        msg = str(exc) or "interrupted"
        typer.echo(f"repscope: {msg}", err=True)
        _error_exit(getattr(exc, "exit_code", 130))
    except SystemExit:
        raise
    except OSError as exc:  # unreadable input, unwritable output, disk full: the user's to fix
        if debug:
            raise
        where = f" '{exc.filename}'" if getattr(exc, "filename", None) else ""
        typer.echo(
            f"repscope: error: cannot access{where}: {exc.strerror or exc}; check the path, its permissions "
            f"and free disk space",
            err=True,
        )
        _error_exit(2)
    except Exception as exc:
        if debug:
            raise
        if "checksum do not match" in str(exc):  # zarr's crc32c codec, reached by a reader outside repscope.store
            typer.echo("repscope: error: a store chunk failed its CRC-32C checksum (the store is damaged); run "
                       "`repscope verify STORE` to locate it and re-run the capture with --overwrite", err=True)
            _error_exit(2)
        typer.echo(
            f"repscope: internal error: {type(exc).__name__}: {exc} (re-run with --debug for the traceback)",
            err=True,
        )
        _error_exit(1)
    _exit_with(rv)


def _click_exceptions():
    """The click exception classes typer raises (typer ≥ 0.25 vendors click as ``typer._click``)."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - older typer on plain click
        from click import exceptions  # type: ignore[no-redef]  # same module, click's own copy
    return exceptions


def _error_exit(code: int) -> None:
    """Exit after the one-line error message, and keep it the only line on stderr: an error raised while zarr
    reads chunks concurrently leaves its sibling reads pending on zarr's event-loop thread, and at interpreter
    exit asyncio would log "Task was destroyed but it is pending!" for each of them (noise after the error
    already reported; the process is ending)."""
    import logging

    logging.getLogger("asyncio").disabled = True
    sys.exit(code)


def _exit_with(rv: object) -> None:
    if isinstance(rv, int) and rv:
        sys.exit(rv)


def _one_line(exc: BaseException | str) -> str:
    return " ".join(str(exc).split())


if __name__ == "__main__":  # pragma: no cover
    main()
