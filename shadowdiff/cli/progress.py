"""Progress bars for long work: counts, rate and failures, on stderr."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Bar:
    """A task on a rich progress display; `advance(failed=...)` updates rate and failures."""

    def __init__(self, progress: Progress, description: str, total: int) -> None:
        self.progress = progress
        self.task = progress.add_task(description, total=total, rate=0.0, failed=0)
        self.started = time.monotonic()
        self.done = 0
        self.failed = 0

    def advance(self, n: int = 1, *, failed: bool = False) -> None:
        self.done += n
        self.failed += int(failed)
        rate = self.done / max(time.monotonic() - self.started, 1e-9)
        self.progress.update(self.task, advance=n, rate=rate, failed=self.failed)


def progress_display(console: Console) -> Progress:
    """A progress display with counts, rate, failures and time (start it when work starts)."""
    columns: list[Any] = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>7.0f}/s"),
        TextColumn("failed {task.fields[failed]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    return Progress(*columns, console=console, transient=False)


@contextmanager
def progress_bar(console: Console, description: str, total: int) -> Iterator[Bar]:
    with progress_display(console) as progress:
        yield Bar(progress, description, total)
