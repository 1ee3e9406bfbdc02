"""Where the CLI writes: stdout for results, stderr for progress and warnings; tables."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.table import Table

# Wider than rich's 80 columns when piped (CI logs), so tables stay readable.
_PIPED_WIDTH = None if sys.stdout.isatty() else 120
console = Console(highlight=False, soft_wrap=True, width=_PIPED_WIDTH)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, width=_PIPED_WIDTH)


def timestamp(value: float | None) -> str:
    """A local date and time, or "-" for none."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value)) if value else "-"


def table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[str]], right: Iterable[str] = ()
) -> Table:
    """A rich table; columns named in `right` are right-aligned."""
    aligned = set(right)
    out = Table(title=title)
    for col in columns:
        out.add_column(col, justify="right" if col in aligned else "left")
    for row in rows:
        out.add_row(*row)
    return out


def print_lines(lines: Iterable[str]) -> None:
    """Plain lines on stdout (no rich markup)."""
    for line in lines:
        console.print(line, markup=False)
