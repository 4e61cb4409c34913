"""Every command's options, as ``--help`` describes them, equal a recorded fixture: a refactor of the CLI
glue (``repscope.commands``) keeps the same command names, option names, types, defaults and help texts.

A deliberate change to the CLI regenerates the fixture (``python tests/test_cli_options.py``) and shows up
in its diff.
"""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).parent / "fixtures" / "cli_options.json"


def _plain(value: Any) -> Any:
    """A JSON value for a default (paths and other objects by their text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return f"{type(value).__name__}:{value}"


def _param(p: Any) -> dict[str, Any]:
    annotation = p.type_descriptor.annotation
    return {
        "name": p.name,
        "kind": type(p).__name__.removeprefix("Typer").lower(),
        "opts": list(p.opts),
        "secondary_opts": list(p.secondary_opts),
        "type": getattr(annotation, "__name__", None) or str(annotation),
        "min": p.min,
        "max": p.max,
        "default": _plain(None if callable(p.default) else p.default),
        "required": p.required,
        "nargs": p.nargs,
        "multiple": p.multiple,
        "is_flag": bool(getattr(p, "is_flag", False)),
        "count": bool(getattr(p, "count", False)),
        "metavar": p.metavar,
        "help": getattr(p, "help", None),
        "hidden": bool(getattr(p, "hidden", False)),
    }


def cli_spec() -> dict[str, Any]:
    """{command path: {"help", "params"}} for every command and group of the live ``repscope`` app."""
    import typer
    from typer._click import Context

    from repscope.cli import app

    root = typer.main.get_command(app)
    spec: dict[str, Any] = {}

    def walk(cmd: Any, path: str, parent: Any) -> None:
        ctx = Context(cmd, parent=parent, info_name=path.rsplit(" ", 1)[-1], terminal_width=100)
        spec[path] = {"help": cmd.help, "params": [_param(p) for p in cmd.params],
                      "help_page": cmd.get_help(ctx).splitlines()}
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, f"{path} {name}", ctx)

    walk(root, "repscope", None)
    return spec


def _text(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def test_cli_options_match_fixture() -> None:
    want, got = FIXTURE.read_text(encoding="utf-8"), _text(cli_spec())
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), "fixture", "live app"))
        raise AssertionError(f"the CLI's options differ from {FIXTURE.name} (regenerate with `python "
                             f"{Path(__file__).name}` only for a deliberate change):\n{diff}")


if __name__ == "__main__":  # pragma: no cover - regenerates the fixture
    FIXTURE.write_text(_text(cli_spec()), encoding="utf-8")
    print(f"wrote {FIXTURE} ({len(cli_spec())} commands)", file=sys.stderr)
