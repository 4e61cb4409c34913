"""The options the commands share, each declared once: its flags, default, bounds and usual help text.

Every command declares its parameters in one style, ``name: type = <option>(...)``; a command passes its own
``help`` where what the option does for it is more specific than the usual text (``--help`` says so), and
``short=True`` where it also takes the one-letter form (``-o``, ``-q``, ``-m``, ``-l``). Commands import the
module as ``opt``: ``as_json: bool = opt.json()``.
"""

from __future__ import annotations

from typing import Any

import typer

FORMAT_HELP = "How tables are printed: table (aligned), tsv (tab-separated) or json (one object per row)."
SCHEDULER_HELP = "tcp://host:port of a running `dask scheduler`, or local:N for a LocalCluster with N workers."
RDM_HELP = "correlation | cosine | euclidean | sqeuclidean"
OUT_DIR_HELP = "Directory for report.html, results.json and figures."
WRITE_HELP = "Write JSON + PNG here."
NETS_LAYER_HELP = "Layer for STOREs given without one."
STORE_URL_HELP = "Activation store directory or fsspec URL (file://, s3://, …)."


def split(values: str | list[str] | None) -> list[str] | None:
    """Comma-separated values (one string, or a repeated option's strings) → their stripped items; None when
    none is given."""
    items = [v.strip() for item in ([values] if isinstance(values, str) else values or []) for v in item.split(",")]
    return [v for v in items if v] or None


def or_defaults(defaults: Any, **given: Any) -> dict[str, Any]:
    """The options a command leaves at None (``--help``: "default …, as the report") filled in from the lens's
    ``DEFAULTS``: ``or_defaults(DEFAULTS, n_samples=None, dim=2)`` → ``{"n_samples": 1000, "dim": 2}``."""
    return {k: getattr(defaults, k) if v is None else v for k, v in given.items()}


def _flags(name: str, short: str, use_short: bool) -> tuple[str, ...]:
    return (name, short) if use_short else (name,)


def json(help: str = "Print the result as JSON on stdout.") -> Any:
    return typer.Option(False, "--json", help=help)


def quiet(help: str = "No progress output.", *, short: bool = False) -> Any:
    return typer.Option(False, *_flags("--quiet", "-q", short), help=help)


def out(help: str, default: Any = None, *, short: bool = False) -> Any:
    return typer.Option(default, *_flags("--out", "-o", short), help=help)


def seed(help: str = "Seed for every random step.") -> Any:
    return typer.Option(0, "--seed", min=0, help=help)


def table_format() -> Any:
    """``--format``, checked as it is parsed (an unknown format: a one-line InputError, exit 2)."""
    from repscope.commands._format import check_format

    return typer.Option("table", "--format", help=FORMAT_HELP, metavar="table|tsv|json", callback=check_format)


def scheduler(default: str | None, help: str = SCHEDULER_HELP) -> Any:
    return typer.Option(default, "--scheduler", help=help)


def workers(default: int | None, help: str, *, min: int = 1) -> Any:
    return typer.Option(default, "--workers", min=min, help=help)


def metric(default: str | None, help: str, *, short: bool = False, older: str | None = None) -> Any:
    return typer.Option(default, *_flags("--metric", "-m", short), *((older,) if older else ()), help=help)


def layers(help: str, *, short: bool = False) -> Any:
    return typer.Option(None, *_flags("--layers", "-l", short), help=help)


def layer(help: str = NETS_LAYER_HELP, *, short: bool = True) -> Any:
    return typer.Option(None, *_flags("--layer", "-l", short), help=help)


def quick(help: str = "With 'reproduce': the ≤ 3-minute version.") -> Any:
    return typer.Option(False, "--quick", help=help)


def seeds(help: str = "With 'reproduce': seeds (≥ 2; default 5).", default: int | None = None,
              *, min: int = 2) -> Any:
    return typer.Option(default, "--seeds", min=min, help=help)


def weights(help: str = "state_dict file (loaded weights_only).") -> Any:
    return typer.Option(None, "--weights", help=help)


def rdm(help: str = RDM_HELP) -> Any:
    return typer.Option("correlation", "--rdm", help=help)


def compare(help: str) -> Any:
    return typer.Option("spearman", "--compare", help=help)


def n_delays(help: str) -> Any:
    return typer.Option(None, "--n-delays", min=1, help=help)


def rank(help: str) -> Any:
    return typer.Option(None, "--rank", min=1, help=help)


def block_rows(default: int | None) -> Any:
    return typer.Option(default, "--block-rows", min=1, help="Rows per streamed block.")


def store(help: str, *, metavar: str | None = "STORE", default: Any = ...) -> Any:
    return typer.Argument(default, metavar=metavar, help=help)


def nets(help: str) -> Any:
    return typer.Argument(..., help=help)
