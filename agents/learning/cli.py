"""What `ape run train` and `ape run evaluate` share: comma-separated lists on the command line (names, seeds), and
a progress bar."""

from __future__ import annotations

from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def parse_names(text: str) -> tuple[str, ...]:
    """"a, b,c" as ("a", "b", "c"): the parts of a comma-separated option, stripped, empty ones dropped."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_seeds(text: str) -> tuple[int, ...]:
    """"1-8", "3,5,9" or "1-4,10" as a tuple of seeds in order, each once; click.BadParameter (one line) if not."""
    seeds: list[int] = []
    try:
        for part in parse_names(text):
            first, dash, last = part.partition("-")
            seeds += range(int(first), int(last) + 1) if dash else [int(first)]
    except ValueError:
        raise click.BadParameter(f"seeds are numbers and ranges like 1-8,12, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise click.BadParameter(f"give at least one seed, none negative, got {text!r}")
    return tuple(dict.fromkeys(seeds))


@contextmanager
def progress_bar(console: Console, label: str):
    """Yields `advance(done, total)` for the runs of a training or an evaluation."""
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("left"),
               TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        yield advance
