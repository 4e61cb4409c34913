"""Sphinx extension: ``.. repscope-cli::`` renders ``repscope --help`` and every (sub)command's ``--help``.

The text is generated at build time from the typer app itself (``repscope.cli.app``), so the CLI page can
never drift from the code. Typer vendors its own click, so sphinx-click cannot read it; we render each
command's help through its click context instead (the same text ``--help`` prints, at a fixed width).
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

WIDTH = 100


def _walk(cmd: Any, ctx: Any, path: list[str]) -> list[tuple[list[str], str]]:
    """``(command path, help text)`` for ``cmd`` and, recursively, each of its subcommands in order."""
    out = [(path, cmd.get_help(ctx))]
    for name in getattr(cmd, "list_commands", lambda _ctx: [])(ctx):
        sub = cmd.get_command(ctx, name)
        if sub is None or getattr(sub, "hidden", False):
            continue
        sub_ctx = type(ctx)(sub, info_name=name, parent=ctx, terminal_width=WIDTH, max_content_width=WIDTH)
        out.extend(_walk(sub, sub_ctx, [*path, name]))
    return out


def cli_help() -> list[tuple[list[str], str]]:
    import typer.main

    from repscope.cli import app

    root = typer.main.get_command(app)
    ctx_cls = root.context_class
    ctx = ctx_cls(root, info_name="repscope", terminal_width=WIDTH, max_content_width=WIDTH)
    return _walk(root, ctx, ["repscope"])


class CliHelp(SphinxDirective):
    """One section per command: its title is the command line, its body the literal ``--help`` text."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        result: list[nodes.Node] = []
        for path, text in cli_help():
            title = " ".join(path)
            section = nodes.section(ids=[nodes.make_id("cli-" + "-".join(path))])
            section += nodes.title(text=title)
            section += nodes.literal_block(text=f"$ {title} --help\n{text}", language="text")
            result.append(section)
        return result


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("repscope-cli", CliHelp)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
