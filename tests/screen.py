"""Reading terminal output back: whether a name appears whole, perhaps wrapped over lines.

A table wraps a long cell within its column: the first piece is on one line, the rest below
it, each piece starting at the column's left edge. `appears` follows those pieces; a name
with a space may wrap at it (the space is then not drawn).
"""

from __future__ import annotations

import re

_BOX = "│┃║"


def _take(line: str, x: int, want: str) -> str:
    """The words of `line` from column `x` on (up to a box line) that begin `want`, as many
    as do, spaces dropped."""
    got = ""
    for word in re.split(" +", re.split(f"[{_BOX}]", line[x:])[0]):
        if not word or not want.startswith(got + word):
            if want.startswith(got) and word and (got + word).startswith(want):
                return want
            break
        got += word
    return got


def _cell_start(line: str, x: int) -> int:
    """Where the cell holding column `x` of `line` starts (after a space or box line)."""
    head = line[:x]
    return max(head.rfind(c) + 1 for c in " " + _BOX)


def appears(name: str, text: str) -> bool:
    """Whether `name` is in `text` whole: on one line, or folded down one column."""
    if name in text:
        return True
    want = name.replace(" ", "")
    lines = text.splitlines()
    for i, line in enumerate(lines):
        for x in (m.start() for m in re.finditer(re.escape(want[0]), line)):
            if _cell_start(line, x) != x:
                continue
            got = _take(line, x, want)
            for below in lines[i + 1 :]:
                if not got or got == want or _cell_start(below, x) != x:
                    break
                more = _take(below, x, want[len(got) :])
                if not more:
                    break
                got += more
            if got == want:
                return True
    return False
