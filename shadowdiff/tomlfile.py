"""TOML files people edit (rules, accepted differences, noise proposals): one way to read
their errors, one way to write them.

Reading is `tomllib`; `decode_problem` turns its TOMLDecodeError into a message and a line,
for one-line errors that point into the file. Writing is tomlkit, so a file a user edited
keeps its comments, its order and its formatting when shadowdiff adds or updates tables:

>>> doc = new_document("proposed rules")
>>> append_table(doc, "rules", {"name": "a", "paths": ["body.x"]}, comments=["why"])
>>> print(doc.as_string(), end="")
# proposed rules
<BLANKLINE>
# why
[[rules]]
name = "a"
paths = ["body.x"]
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import tomlkit
from tomlkit.items import AoT, Comment, Table, Whitespace
from tomlkit.toml_document import TOMLDocument

__all__ = [
    "DecodeProblem",
    "append_table",
    "decode_problem",
    "new_document",
    "parse_document",
    "replace_values",
    "tables",
]

# tomllib ends each message with where it found the problem.
_AT: Final = re.compile(r"\s*\(at line (\d+), column \d+\)\s*$|\s*\(at end of document\)\s*$")


@dataclass(frozen=True)
class DecodeProblem:
    """What tomllib could not read: its message without the location, and the line."""

    message: str
    line: int | None  # None: at the end of the document


def loads(text: str) -> dict[str, Any]:
    """``tomllib.loads``, bounded: TOML nested too deeply for the parser's recursion is a
    TOMLDecodeError like any other problem, never a RecursionError."""
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise tomllib.TOMLDecodeError("arrays or tables nested too deeply") from None


def decode_problem(err: tomllib.TOMLDecodeError) -> DecodeProblem:
    """`Expected '=' after a key (at line 3, column 5)` -> ("Expected '=' ...", 3)."""
    text = str(err)
    m = _AT.search(text)
    line = int(m.group(1)) if m is not None and m.group(1) else None
    return DecodeProblem(_AT.sub("", text) or text, line)


def new_document(*comments: str) -> TOMLDocument:
    """An empty document that starts with these comment lines."""
    doc = tomlkit.document()
    for text in comments:
        doc.add(tomlkit.comment(text))
    return doc


def parse_document(text: str) -> TOMLDocument:
    """The document of a file that tomllib has already read without error."""
    return tomlkit.parse(text)


def tables(doc: TOMLDocument, key: str) -> AoT | None:
    """The array of tables ``[[key]]``, or None when the document has none (or not as tables)."""
    value = doc.get(key)
    return value if isinstance(value, AoT) else None


def append_table(
    doc: TOMLDocument, key: str, values: Mapping[str, Any], *, comments: Iterable[str] = ()
) -> None:
    """Append a ``[[key]]`` table after a blank line, ``comments`` just above its header.

    A value of None leaves the key out.
    """
    notes = list(comments)
    aot = tables(doc, key)
    table = _table(values)
    if notes:  # the comments belong to what comes before the header
        before = doc if aot is None or not len(aot) else aot[-1]
        before.add(tomlkit.nl())
        for text in notes:
            before.add(tomlkit.comment(text))
    if aot is None:
        aot = tomlkit.aot()
        aot.append(table)
        doc.add(key, aot)
    else:
        aot.append(table)
    aot[-1].trivia.indent = "" if notes else "\n"


def replace_values(aot: AoT, index: int, values: Mapping[str, Any]) -> None:
    """Give table ``index`` these values: a key keeps its place and its comment, a new key
    comes after the last key (before comments that lead to the next table), None removes."""
    old = aot[index]
    body = old.value.body
    last_key = max((i for i, (k, _) in enumerate(body) if k is not None), default=-1)
    table = tomlkit.table()
    seen: set[str] = set()
    for i, (key, item) in enumerate(body):
        if i > last_key:
            break
        if key is None:
            if isinstance(item, Comment | Whitespace):
                table.add(item)
            continue
        seen.add(key.key)
        if key.key not in values:
            table.add(key, item)
        elif values[key.key] is not None:
            new = tomlkit.item(values[key.key])
            new.trivia.comment_ws, new.trivia.comment = item.trivia.comment_ws, item.trivia.comment
            table.add(key, new)
    for name, value in values.items():
        if name not in seen and value is not None:
            table.add(name, value)
    for _, item in body[last_key + 1 :]:  # comments and blank lines: keys all come before
        if isinstance(item, Comment | Whitespace):
            table.add(item)
    table.trivia.indent = old.trivia.indent
    aot[index] = table


def _table(values: Mapping[str, Any]) -> Table:
    table = tomlkit.table()
    for name, value in values.items():
        if value is not None:
            table.add(name, value)
    return table
