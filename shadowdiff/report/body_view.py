"""One side of a sample, decoded for reading: indented JSON (or text) lines, cut to ~4 KB.

Lines that show a differing path (or lie inside one) are marked, so renderers can highlight
them. Paths are written as the differ writes them (`body.predictions[3]`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from shadowdiff.differ import format_path, lift

SAMPLE_BODY_CHARS: Final = 4096


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
    headers = [(str(k), str(v)) for k, v in json.loads(headers_json or "[]")]
    tree = lift(status, headers, body or b"")
    content_type = tree["headers"].get("content-type")
    decoded = tree["body"]
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
    else:
        lines, truncated = _cut(_pretty(decoded, ("body",), marked, False, 0, "", ""), budget)
    return BodyView(
        status=status,
        status_marked="status" in marked,
        content_type=content_type if isinstance(content_type, str) else None,
        size=len(body or b""),
        lines=lines,
        truncated=truncated,
        note=note,
    )
