"""Reading terminal output back: whether a name appears whole, perhaps wrapped over lines.

A table wraps a long cell within its column: the first piece is on one line, the rest below
it in the same column. `appears` follows those pieces (spaces dropped at a wrap are ignored).
"""

from __future__ import annotations

import re

# Where a cell's text ends on a line: two spaces, a box line, or the end of the line.
_CELL_END = re.compile(r" {2,}|[│┃║]|$")


def _piece(line: str, x: int) -> str:
    rest = line[x:]
    end = _CELL_END.search(rest)
    return rest[: end.start() if end else len(rest)].replace(" ", "")


def _cell_start(line: str, x: int) -> int:
    """Where the cell holding column `x` of `line` starts."""
    head = line[:x]
    spaces = head.rfind("  ")
    cut = max(spaces + 2 if spaces >= 0 else 0, *(head.rfind(c) + 1 for c in "│┃║"))
    while cut < x and line[cut] == " ":
        cut += 1
    return cut


def appears(name: str, text: str) -> bool:
    """Whether `name` is in `text` whole: on one line, or folded down one column."""
    if name in text:
        return True
    want = name.replace(" ", "")
    lines = text.splitlines()
    for i, line in enumerate(lines):
        for x in (m.start() for m in re.finditer(re.escape(want[0]), line)):
            got = _piece(line, x)
            if not want.startswith(got):
                continue
            start = _cell_start(line, x)
            for below in lines[i + 1 :]:
                piece = _piece(below, start)
                if not piece:
                    break
                if (got + piece).startswith(want):
                    return True
                if not want.startswith(got + piece):
                    break
                got += piece
    return False
