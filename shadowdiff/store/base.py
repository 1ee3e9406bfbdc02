"""What every part of the `Store` shares: the open database and where it came from."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlite_utils


class StoreBase:
    """The connection the `Store` mixins read and write through (set by `Store.open`)."""

    db: sqlite_utils.Database
    path: Path
    readonly: bool

    def __init__(self, db: sqlite_utils.Database, path: Path, *, readonly: bool) -> None:
        self.db = db
        self.path = path
        self.readonly = readonly

    def insert_rows(self, table: str, fields: tuple[str, ...], rows: Iterable[Any]) -> None:
        """INSERT rows (tuples in the order of `fields`, a NamedTuple's ``_fields``) into
        `table`, inside the caller's transaction; `rows` may be a generator."""
        self.db.conn.executemany(
            f"INSERT INTO {table} ({', '.join(fields)}) VALUES ({', '.join('?' * len(fields))})",
            rows,
        )
