"""The one progress-bar helper: labelled rich bars on stderr, shown only when stderr is a terminal.

Progress never goes to stdout (so ``--json`` output stays pure JSON) and is silent in pipes, logs and CI.
"""

from __future__ import annotations

from typing import Any

__all__ = ["progress_bar", "stderr_console"]


def stderr_console() -> Any:
    """A rich Console on stderr (what every repscope bar and log line uses)."""
    from rich.console import Console

    return Console(stderr=True)


def progress_bar(enabled: bool = True, *, rate: str | None = None, transient: bool = True) -> Any:
    """A ``rich.progress.Progress`` (use as a context manager, then ``add_task(description, total=…)``).

    Columns: the task's description (always give one — it is the bar's label), bar, done/total, and the
    time left; ``rate=...`` adds a text column showing the task field ``rate`` (set it with
    ``progress.update(task, rate="1200 samples/s")``). Disabled when ``enabled`` is false or when
    stderr is not a terminal.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = stderr_console()
    columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    if rate:
        columns.append(TextColumn("{task.fields[rate]}"))
    columns.append(TimeRemainingColumn())
    return Progress(*columns, console=console, transient=transient,
                    disable=not enabled or not console.is_terminal)
