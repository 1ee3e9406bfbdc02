"""How `shadowdiff query` shows a result: a table on the terminal, CSV or JSON.

Recorded values never drive the terminal (`formatting.visible`); BLOBs are shown as text when
they are UTF-8, else as `base64:...` in CSV/JSON and as their size in the table.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from shadowdiff.errors import QueryError
from shadowdiff.formatting import json_text, visible
from shadowdiff.store.query import QUERY_FORMATS, Row

__all__ = ["render_result", "to_csv", "to_json", "to_table", "unique_columns"]


def _plain(value: Any) -> Any:
    """A cell as JSON/CSV can hold it: BLOBs as text when UTF-8, else `base64:...`."""
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(data).decode("ascii")
    return value


def unique_columns(columns: Sequence[str]) -> list[str]:
    """Column names made unique for JSON objects: `id, id` -> `id, id_2`."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for name in columns:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def to_csv(columns: Sequence[str], rows: Sequence[Row]) -> str:
    """The result as CSV with a header line (NULL is an empty cell)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else _plain(v) for v in row])
    return buf.getvalue()


def to_json(columns: Sequence[str], rows: Sequence[Row]) -> str:
    """The result as a JSON list of objects, one per row (keys in column order)."""
    names = unique_columns(columns)
    data = [{k: _plain(v) for k, v in zip(names, row, strict=True)} for row in rows]
    return json_text(json.dumps(data, ensure_ascii=False, indent=2, default=str)) + "\n"


def _cell(value: Any) -> Text:
    if value is None:
        return Text("NULL", style="dim")
    if isinstance(value, bytes | bytearray | memoryview):
        return Text(f"<{len(bytes(value))} bytes>", style="dim")
    if isinstance(value, float):
        return Text(f"{value:.6g}")
    return Text(visible(str(value)))


def to_table(columns: Sequence[str], rows: Sequence[Row], *, title: str | None = None) -> Table:
    """The result as a rich Table (numbers right-aligned; values never read as markup)."""
    table = Table(title=title, show_lines=False)
    numeric = [
        bool(rows) and all(isinstance(r[i], int | float) or r[i] is None for r in rows)
        for i in range(len(columns))
    ]
    for name, is_num in zip(columns, numeric, strict=True):
        header = Text(visible(name))
        table.add_column(header, justify="right" if is_num else "left", overflow="fold")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    return table


def render_result(columns: Sequence[str], rows: Sequence[Row], fmt: str, console: Console) -> None:
    """Print a query result to `console` as `table`, `csv` or `json`."""
    if fmt == "table":
        console.print(to_table(columns, rows))
        console.print(Text(f"{len(rows)} row{'s' if len(rows) != 1 else ''}", style="dim"))
    elif fmt == "csv":
        text = to_csv(columns, rows)
        console.file.write(visible(text) if console.is_terminal else text)
    elif fmt == "json":
        console.file.write(to_json(columns, rows))
    else:
        raise QueryError(f"unknown format {fmt!r}; choose from {', '.join(QUERY_FORMATS)}")
