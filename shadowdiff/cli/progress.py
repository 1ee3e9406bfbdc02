"""The one progress display of long commands (record, replay, diff, demo), on stderr.

Each bar shows its count (of the total, when known), rate, failures and time; the
display appears with its first bar, so a setup error is the only line printed.

    with Bars(err_console) as bars:
        bar = bars.add("replay", total)
        bar.advance(failed=True)
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from shadowdiff.formatting import visible

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class Bar:
    """One task on the display: count, rate and failures."""

    def __init__(
        self, progress: Progress, description: str, total: int | None, failures: str | None
    ) -> None:
        self.progress = progress
        self.failures = failures
        self.started = time.monotonic()
        self.done = 0
        self.failed = 0
        self.task: TaskID = progress.add_task(
            description, total=total, rate=0.0, failures=self._failures_text()
        )

    def _failures_text(self) -> str:
        return f"{self.failures} {self.failed}" if self.failures else ""

    def advance(self, n: int = 1, *, failed: bool = False) -> None:
        """`n` more done (one more failed when `failed`)."""
        self.update(self.done + n, self.failed + int(failed))

    def update(self, done: int, failed: int = 0) -> None:
        """Set the counts (for counters read from elsewhere, e.g. the recorder's)."""
        self.done, self.failed = done, failed
        rate = done / max(time.monotonic() - self.started, 1e-9)
        self.progress.update(self.task, completed=done, rate=rate, failures=self._failures_text())


class Bars:
    """A progress display on `console`, started by its first bar, stopped on exit.

    `transient` bars are erased when the display stops."""

    def __init__(self, console: Console, *, transient: bool = False) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns: list[Any] = [
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>7.0f}/s"),
            TextColumn("{task.fields[failures]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        self.progress = Progress(*columns, console=console, transient=transient)
        self.started = False

    def add(self, description: str, total: int | None, *, failures: str | None = "failed") -> Bar:
        """A new bar; `failures` labels its failure count (None: no failure count)."""
        if not self.started:
            self.progress.start()
            self.started = True
        return Bar(self.progress, description, total, failures)

    def note(self, text: str, *, label: str = "", style: str = "") -> None:
        """A line printed above the bars: `label` in `style`, then `text` as it is (no
        markup, controls shown as escapes)."""
        head = Text(f"{label} ", style=style) if label else Text()
        self.progress.console.print(head + Text(visible(text)))

    def __enter__(self) -> Bars:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.started:
            self.progress.stop()
