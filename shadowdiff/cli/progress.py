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
from typing import TYPE_CHECKING, Any, Final

from rich.console import Console
from rich.text import Text

from shadowdiff.formatting import visible

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


#: seconds between two updates of a bar's counts on the display (it redraws ten times a
#: second; rich's update cost a replay 2.6 us per request, advancing a bar costs 0.4 us)
PUSH_INTERVAL: Final = 0.05


class Bar:
    """One task on the display: count, rate and failures (pushed to the display at most
    every PUSH_INTERVAL, and when the count reaches the total or the display stops)."""

    def __init__(
        self, progress: Progress, description: str, total: int | None, failures: str | None
    ) -> None:
        self.progress = progress
        self.failures = failures
        self.started = time.monotonic()
        self.done = 0
        self.failed = 0
        self.total = total
        self.pushed = self.started  # when the display last got the counts
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
        now = time.monotonic()
        if now - self.pushed >= PUSH_INTERVAL or done == self.total:
            self.push(now)

    def push(self, now: float | None = None) -> None:
        """Show the counts now."""
        self.pushed = time.monotonic() if now is None else now
        rate = self.done / max(self.pushed - self.started, 1e-9)
        self.progress.update(
            self.task, completed=self.done, rate=rate, failures=self._failures_text()
        )


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
        self.bars: list[Bar] = []

    def add(self, description: str, total: int | None, *, failures: str | None = "failed") -> Bar:
        """A new bar; `failures` labels its failure count (None: no failure count)."""
        if not self.started:
            self.progress.start()
            self.started = True
        self.bars.append(Bar(self.progress, description, total, failures))
        return self.bars[-1]

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
            for bar in self.bars:
                bar.push()  # the last counts, whenever they came
            self.progress.stop()
