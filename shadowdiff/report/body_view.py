"""One side of a sample, decoded for reading: indented JSON (or text) lines, cut to ~4 KB.

Lines that show a differing path (or lie inside one) are marked, so renderers can highlight
them. Paths are written as the differ writes them (`body.predictions[3]`). A CSV body is a
small table (its first CSV_ROWS rows, one line each); two JSON bodies of a sample are
aligned: their keys in one order, a key one side lacks shown there as `"key": (missing)`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from shadowdiff.differ import format_path, lift

SAMPLE_BODY_CHARS: Final = 4096
CSV_ROWS: Final = 20  # rows of a CSV sample shown as a table
CSV_CELL_CHARS: Final = 24


@dataclass(frozen=True)
class BodyLine:
    text: str
    marked: bool  # the line shows a differing path (or lies inside one)


@dataclass(frozen=True)
class BodyView:
    """One side of a sample, decoded for reading."""

    status: int | None
    status_marked: bool
    content_type: str | None
    size: int
    lines: list[BodyLine]
    truncated: bool  # cut to SAMPLE_BODY_CHARS for display
    note: str | None  # empty, binary, truncated when recorded, replay error


def _scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _pretty(
    value: Any,
    path: tuple[str | int, ...],
    marked: frozenset[str],
    inherited: bool,
    indent: int,
    prefix: str,
    comma: str,
) -> Iterator[BodyLine]:
    """Indented JSON lines, each knowing whether it shows a differing path."""
    here = inherited or format_path(path) in marked
    pad = "  " * indent
    if isinstance(value, dict) and value:
        yield BodyLine(f"{pad}{prefix}{{", here)
        last = len(value) - 1
        for i, (key, child) in enumerate(value.items()):
            yield from _pretty(
                child,
                (*path, str(key)),
                marked,
                here,
                indent + 1,
                f"{_scalar(str(key))}: ",
                "," if i < last else "",
            )
        yield BodyLine(f"{pad}}}{comma}", here)
    elif isinstance(value, list) and value:
        yield BodyLine(f"{pad}{prefix}[", here)
        last = len(value) - 1
        for i, child in enumerate(value):
            yield from _pretty(
                child, (*path, i), marked, here, indent + 1, "", "," if i < last else ""
            )
        yield BodyLine(f"{pad}]{comma}", here)
    elif value is ABSENT:
        yield BodyLine(f"{pad}{prefix}(missing)", True)
    else:
        yield BodyLine(f"{pad}{prefix}{_scalar(value)}{comma}", here)


def _cut(lines: Iterable[BodyLine], budget: int) -> tuple[list[BodyLine], bool]:
    out: list[BodyLine] = []
    used = 0
    for line in lines:
        if used + len(line.text) > budget:
            room = budget - used
            if room > 40:
                out.append(BodyLine(line.text[:room] + "…", line.marked))
            return out, True
        out.append(line)
        used += len(line.text) + 1
    return out, False


def _is_csv(content_type: str | None, decoded: Any) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "text/csv" and isinstance(decoded, list)


def _csv_text(cell: Any) -> str:
    text = cell if isinstance(cell, str) else _scalar(cell)
    return text if len(text) <= CSV_CELL_CHARS else text[: CSV_CELL_CHARS - 1] + "…"


def _csv_lines(rows: list[Any], marked: frozenset[str]) -> tuple[list[BodyLine], bool]:
    """A CSV body as a small table: its first CSV_ROWS rows, cells padded to their column's
    width (cut at CSV_CELL_CHARS); a row is marked when it or one of its cells differs."""
    shown = [r if isinstance(r, list) else [r] for r in rows[:CSV_ROWS]]
    cells = [[_csv_text(c) for c in row] for row in shown]
    widths: dict[int, int] = {}
    for row in cells:
        for j, text in enumerate(row):
            widths[j] = max(widths.get(j, 0), len(text))
    lines = []
    for i, row in enumerate(cells):
        here = "body" in marked or format_path(("body", i)) in marked
        here = here or any(format_path(("body", i, j)) in marked for j in range(len(row)))
        text = " | ".join(t.ljust(widths[j]) for j, t in enumerate(row))
        lines.append(BodyLine(f"| {text} |" if row else "|", here))
    return lines, len(rows) > CSV_ROWS


class _Absent:
    """A key one side lacks, put in its place so the two sides of a sample line up."""

    def __repr__(self) -> str:
        return "(missing)"


ABSENT: Final = _Absent()


def align(old: Any, new: Any) -> tuple[Any, Any]:
    """The two JSON trees with their objects' keys in one order (the old side's, then the
    new side's own) and a key one side lacks present there as ABSENT; lists pair by index."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = list(old) + [k for k in new if k not in old]
        pairs = [align(old.get(k, ABSENT), new.get(k, ABSENT)) for k in keys]
        a = {k: o for k, (o, _) in zip(keys, pairs, strict=True)}
        b = {k: n for k, (_, n) in zip(keys, pairs, strict=True)}
        return a, b
    if isinstance(old, list) and isinstance(new, list):
        head = [align(o, n) for o, n in zip(old, new, strict=False)]
        return [o for o, _ in head] + old[len(head) :], [n for _, n in head] + new[len(head) :]
    return old, new


@dataclass(frozen=True)
class Side:
    """One side of a sample as stored."""

    status: int | None
    headers_json: str | None
    body: bytes | None
    note: str | None = None


def _lift(side: Side) -> tuple[str | None, Any]:
    headers = [(str(k), str(v)) for k, v in json.loads(side.headers_json or "[]")]
    tree = lift(side.status, headers, side.body or b"")
    content_type = tree["headers"].get("content-type")
    return (content_type if isinstance(content_type, str) else None), tree["body"]


def sample_views(old: Side, new: Side, marked: frozenset[str]) -> tuple[BodyView, BodyView]:
    """Both sides of a sample; two JSON bodies with their keys aligned (see `align`)."""
    (old_type, old_tree), (new_type, new_tree) = _lift(old), _lift(new)
    jsonish = (dict, list)
    if (
        isinstance(old_tree, jsonish)
        and isinstance(new_tree, jsonish)
        and not _is_csv(old_type, old_tree)
        and not _is_csv(new_type, new_tree)
        and not (isinstance(old_tree, dict) and "$binary" in old_tree)
        and not (isinstance(new_tree, dict) and "$binary" in new_tree)
    ):
        old_tree, new_tree = align(old_tree, new_tree)
    return (
        _view(old, old_type, old_tree, marked, SAMPLE_BODY_CHARS),
        _view(new, new_type, new_tree, marked, SAMPLE_BODY_CHARS),
    )


def body_view(
    status: int | None,
    headers_json: str | None,
    body: bytes | None,
    marked: frozenset[str],
    *,
    note: str | None = None,
    budget: int = SAMPLE_BODY_CHARS,
) -> BodyView:
    """Decode one side of a sample for reading, marking the lines of `marked` paths."""
    side = Side(status, headers_json, body, note)
    content_type, decoded = _lift(side)
    return _view(side, content_type, decoded, marked, budget)


def _view(
    side: Side, content_type: str | None, decoded: Any, marked: frozenset[str], budget: int
) -> BodyView:
    note = side.note
    lines: list[BodyLine] = []
    truncated = False
    body_marked = "body" in marked
    if decoded is None:
        note = note or "empty body"
    elif isinstance(decoded, dict) and "$binary" in decoded:
        info = decoded["$binary"]
        extra = f"; {decoded['$note']}" if "$note" in decoded else ""
        note = note or f"binary body: {info.get('length')} bytes, sha256 {info.get('sha256')}"
        note += extra
    elif isinstance(decoded, str):
        text_lines = (BodyLine(t, body_marked) for t in decoded.splitlines())
        lines, truncated = _cut(text_lines, budget)
    elif _is_csv(content_type, decoded):
        lines, more = _csv_lines(decoded, marked)
        lines, truncated = _cut(lines, budget)
        truncated = truncated or more
    else:
        lines, truncated = _cut(_pretty(decoded, ("body",), marked, False, 0, "", ""), budget)
    return BodyView(
        status=side.status,
        status_marked="status" in marked,
        content_type=content_type,
        size=len(side.body or b""),
        lines=lines,
        truncated=truncated,
        note=note,
    )
