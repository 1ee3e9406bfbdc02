"""What every part of the `Store` shares: the open database and where it came from."""

from __future__ import annotations

from pathlib import Path

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
