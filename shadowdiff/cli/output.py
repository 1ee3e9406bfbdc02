"""Where the CLI writes: stdout for results, stderr for progress and warnings; tables.

Recorded values (endpoints, signatures, names) reach the terminal only through `Text`
(never read as rich markup) and `shadowdiff.formatting.visible` (control characters shown as
escapes such as `\\x1b`): `table`, `print_lines` and `say` do both.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.text import Text

from shadowdiff.formatting import visible
from shadowdiff.tables import Fitted, grid

# Wider than rich's 80 columns when piped (CI logs), so tables stay readable; COLUMNS, when
# set, is the width (rich reads it).
_PIPED_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 120
console = Console(highlight=False, soft_wrap=True, width=_PIPED_WIDTH)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, width=_PIPED_WIDTH)

Cell = str | Text


def timestamp(value: float | None) -> str:
    """A local date and time, or "-" for none."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value)) if value else "-"


def safe(value: Cell) -> Text:
    """A value as terminal text: a str is made `visible` and never read as markup; a `Text`
    (built by the caller, with styles) is kept unless it holds a control character."""
    if isinstance(value, Text):
        shown = visible(value.plain)
        return value if shown == value.plain else Text(shown, style=value.style)
    return Text(visible(value))


def table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[Cell]], right: Iterable[str] = ()
) -> Fitted:
    """A table (`shadowdiff.tables.grid`: fits 80 columns, names fold, numbers are never cut)
    of values made `safe`; columns named in `right` hold numbers."""
    body = [[safe(c) for c in row] for row in rows]
    return grid(Text(visible(title)), columns, body, right)


def print_lines(lines: Iterable[str], target: Console | None = None) -> None:
    """Plain lines on stdout (no rich markup; control characters shown as escapes)."""
    for line in lines:
        (target or console).print(Text(visible(line)), soft_wrap=True)


def say(*parts: Cell, target: Console | None = None) -> None:
    """One line on stdout (or `target`) assembled from literal text and recorded values:
    nothing is read as markup, every control character is shown as an escape."""
    (target or console).print(Text.assemble(*(safe(p) for p in parts)))
