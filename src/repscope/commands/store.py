"""``repscope info`` and ``repscope verify``: describe a store; scan every chunk for damage."""

from __future__ import annotations

import typer

from repscope.commands import _options as opt
from repscope.commands._format import print_json


def info_cmd(
    store: str = opt.store(opt.STORE_URL_HELP, metavar=None),
    json_out: bool = opt.json("Print the description as JSON on stdout."),
) -> None:
    """Layers, shapes, samples, provenance and integrity protection (checksums) of a store."""
    from repscope.errors import StoreError
    from repscope.store import describe_store

    d, text = describe_store(store)
    if json_out:
        print_json(d)
        if d["damage"]:
            raise typer.Exit(2)
        return
    typer.echo(text)
    if d["damage"]:
        raise StoreError(d["damage"])


def verify_cmd(
    store: str = opt.store(opt.STORE_URL_HELP, metavar=None),
    json_out: bool = opt.json("Print the report as JSON on stdout."),
    quiet: bool = opt.quiet("Only the exit status (0 intact, 2 damaged)."),
) -> None:
    """Decode every chunk of every array; list missing, truncated or corrupted chunks (exit 2 if any)."""
    from repscope.store import verify_store

    res = verify_store(store)
    if json_out:
        print_json(res.to_dict())
    elif not quiet:
        typer.echo(res.summary(), err=not res.ok)
    if not res.ok:
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.command("info")(info_cmd)
    app.command("verify")(verify_cmd)
