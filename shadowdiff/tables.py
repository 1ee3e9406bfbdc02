"""Rich tables that fit a terminal of 80 columns without cutting anything (one layout for the
report's text tables and the CLI's lists).

Names, paths, signatures and ids fold onto more lines within their column; numbers are
right-aligned and never wrapped nor shortened with '…' (their headers take a word a line
when the values are narrower). No vertical rules and collapsed padding leave room for names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

__all__ = ["SHORT_WORD", "Fitted", "grid", "stacked"]

# A column whose words are all this short (dates, times, kinds, statuses) is not folded.
SHORT_WORD = 10


def stacked(header: str, width: int) -> str:
    """`header` on as many lines as it takes for its words to fit in `width` columns.

    >>> stacked("old p50 ms", 4)
    'old\\np50\\nms'
    """
    lines: list[str] = []
    for word in header.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return "\n".join(lines)


def grid(
    title: str | Text,
    header: Sequence[str],
    rows: Sequence[Sequence[Text]],
    numeric: Iterable[str] = (),
) -> Fitted:
    """A table of `rows` under `header` (a rich renderable); the columns named in `numeric`
    hold numbers."""
    return Fitted(title, header, rows, set(numeric))


@dataclass(frozen=True)
class Fitted:
    """A table with two spaces between columns, or one when two would not fit the console."""

    title: str | Text
    header: Sequence[str]
    rows: Sequence[Sequence[Text]]
    numeric: set[str]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = self.table(roomy=True)
        if _width(table, console, options) > options.max_width:
            table = self.table(roomy=False)
        yield table

    def table(self, *, roomy: bool) -> Table:
        table = Table(
            title=self.title,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            show_edge=False,
            padding=(0, 1) if roomy else (0, 0),
            collapse_padding=True,
        )
        for i, col in enumerate(self.header):
            cells = [row[i] for row in self.rows]
            if col in self.numeric:
                widest = max((c.cell_len for c in cells), default=1)
                table.add_column(stacked(col, widest), justify="right", no_wrap=True)
            else:
                longest = max((len(w) for c in cells for w in c.plain.split()), default=1)
                short = longest if longest <= SHORT_WORD else None  # only short words: keep
                table.add_column(col, overflow="fold", min_width=short)
        for row in self.rows:
            table.add_row(*row)
        return table


def _width(table: Table, console: Console, options: ConsoleOptions) -> int:
    """How wide `table` is drawn, its columns at their minimum (as `Table.__rich_console__`
    lays them out; rich offers no public measure that is not clamped to the console)."""
    extra = table._extra_width
    inner = options.update_width(options.max_width - extra)
    return sum(table._calculate_column_widths(console, inner)) + extra
