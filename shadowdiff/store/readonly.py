"""Opening a store file read-only without writing anything next to it.

A WAL-mode SQLite file opened with ``mode=ro`` still creates ``-wal`` and ``-shm`` files beside
it, and cannot be opened at all in a read-only directory where they do not exist. When there is
no ``-wal`` file, no connection has the database open in WAL mode and every committed page is in
the main file, so it is opened ``immutable``: SQLite then creates no file and takes no lock.
When a ``-wal`` file exists (a recorder may be writing), it is opened ``mode=ro`` so that the
WAL's committed pages are read too.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from shadowdiff.store.encoding import add_body_function

__all__ = ["connect_readonly", "readonly_uri"]


def readonly_uri(path: Path) -> str:
    """The SQLite URI that opens ``path`` read-only, creating no file beside it if it can."""
    wal = path.with_name(path.name + "-wal")
    uri = f"{path.resolve().as_uri()}?mode=ro"
    return uri if wal.exists() else uri + "&immutable=1"


def connect_readonly(path: Path, **kwargs: Any) -> sqlite3.Connection:
    """``sqlite3.connect`` on ``readonly_uri(path)`` (with `shadowdiff_body`, which reads a
    stored body); sqlite3.Error when it cannot."""
    conn = sqlite3.connect(readonly_uri(path), uri=True, **kwargs)
    add_body_function(conn)
    return conn
