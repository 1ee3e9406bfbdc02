"""Read-only SQL over a shadowdiff file (`shadowdiff query`); `cli/query_output.py` renders it.

The connection is opened read-only (`shadowdiff.store.readonly`: no file is created beside the
database), set to `PRAGMA query_only=ON` and guarded by an authorizer that refuses anything
but reading, so no statement can change the file, attach another one or write a new one
(`VACUUM INTO`). The views of `shadowdiff.store.views` are
available even in files written before they existed (as TEMP views of the connection).

Rendering: a table shows control characters in values as escapes (`\\x1b`,
`shadowdiff.formatting.visible`) and never reads them as markup; JSON writes DEL and C1 as
`\\u` escapes too (the same data; json escapes C0 itself). CSV is data: written as stored,
except on a terminal, where its values are made `visible` like a table's.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from shadowdiff.errors import NotADatabaseError, QueryError
from shadowdiff.store.db import check_sqlite_file
from shadowdiff.store.readonly import connect_readonly
from shadowdiff.store.views import add_temp_views

QUERY_FORMATS: Final = ("table", "csv", "json")

Row = tuple[Any, ...]


# Authorizer action codes that only read (sqlite3.SQLITE_* constants).
_READING: Final = frozenset(
    {
        sqlite3.SQLITE_READ,
        sqlite3.SQLITE_SELECT,
        sqlite3.SQLITE_FUNCTION,
        sqlite3.SQLITE_RECURSIVE,
        sqlite3.SQLITE_TRANSACTION,
        sqlite3.SQLITE_SAVEPOINT,
    }
)
_VERBS: Final[dict[int, str]] = {
    sqlite3.SQLITE_INSERT: "INSERT",
    sqlite3.SQLITE_UPDATE: "UPDATE",
    sqlite3.SQLITE_DELETE: "DELETE",
    sqlite3.SQLITE_ATTACH: "ATTACH",
    sqlite3.SQLITE_DETACH: "DETACH",
    sqlite3.SQLITE_ALTER_TABLE: "ALTER",
    sqlite3.SQLITE_REINDEX: "REINDEX",
    sqlite3.SQLITE_ANALYZE: "ANALYZE",
    sqlite3.SQLITE_PRAGMA: "PRAGMA",
    **{
        getattr(sqlite3, name): "CREATE"
        for name in dir(sqlite3)
        if name.startswith("SQLITE_CREATE_")
    },
    **{getattr(sqlite3, name): "DROP" for name in dir(sqlite3) if name.startswith("SQLITE_DROP_")},
}
# Pragmas that take an argument and still only read.
_READING_PRAGMAS: Final = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "foreign_key_check",
        "integrity_check",
        "quick_check",
    }
)
_LEADING_KEYWORD = re.compile(r"(?:\s+|--[^\n]*\n?|/\*.*?\*/)*([A-Za-z]+)", re.S)
_STATEMENT_VERBS: Final = frozenset(
    {"INSERT", "REPLACE", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "ATTACH", "DETACH"}
    | {"VACUUM", "REINDEX", "ANALYZE", "PRAGMA"}
)


def _leading_keyword(sql: str) -> str:
    m = _LEADING_KEYWORD.match(sql)
    return m.group(1).upper() if m else ""


def _refusal(verb: str) -> str:
    return f"the query connection is read-only: {verb} is not allowed; shadowdiff query only reads"


class _Guard:
    """An SQLite authorizer that allows reading and remembers what it refused."""

    def __init__(self) -> None:
        self.refused: str | None = None

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, src: str | None
    ) -> int:
        if action in _READING:
            if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() == "load_extension":
                self.refused = "load_extension()"
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and (
            arg2 is None or (arg1 or "").lower() in _READING_PRAGMAS
        ):
            return sqlite3.SQLITE_OK
        verb = _VERBS.get(action, f"action {action}")
        if action == sqlite3.SQLITE_PRAGMA:
            verb = f"PRAGMA {arg1} = {arg2}"
        self.refused = verb
        return sqlite3.SQLITE_DENY


def _connect(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise QueryError(f"{path} does not exist; record or import traffic first")
    try:
        check_sqlite_file(path)
    except NotADatabaseError as exc:
        raise QueryError(str(exc)) from exc
    try:
        conn = connect_readonly(path, isolation_level=None)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        add_temp_views(conn)
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error as exc:
        raise QueryError(f"cannot open {path} read-only: {exc}") from exc
    return conn


#: Bounds of one query: rows returned, seconds of SQLite work, bytes in one value.
MAX_ROWS: Final = 100_000
QUERY_SECONDS: Final = 30.0
MAX_VALUE_BYTES: Final = 64 * 2**20


def _bound(conn: sqlite3.Connection, seconds: float) -> None:
    """Interrupt SQLite past ``seconds`` (checked every 10,000 VM steps) and cap one value's
    size, so an unbounded recursive CTE ends with an error instead of eating the memory."""
    deadline = time.monotonic() + seconds
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)


def _fetch(cur: sqlite3.Cursor, max_rows: int) -> list[Row]:
    rows: list[Row] = []
    while batch := cur.fetchmany(1000):
        rows.extend(tuple(r) for r in batch)
        if len(rows) > max_rows:
            raise QueryError(
                f"the query returns more than {max_rows:,} rows; add a LIMIT or aggregate"
            )
    return rows


def run_query(
    path: str | Path,
    sql: str,
    params: Sequence[Any] = (),
    *,
    max_rows: int = MAX_ROWS,
    seconds: float = QUERY_SECONDS,
) -> tuple[list[str], list[Row]]:
    """Run one read-only SQL statement on the file at `path`: (column names, rows).

    Raises QueryError for a statement that would write (naming what it tried), for SQL that
    SQLite rejects (with SQLite's message), for a file that cannot be opened, and for a query
    past its bounds (more than `max_rows` rows, `seconds` of work, a value over 64 MiB).
    """
    if not sql.strip().rstrip(";").strip():
        raise QueryError("the query is empty; pass one SQL statement, e.g. SELECT * FROM runs")
    conn = _connect(Path(path))
    guard = _Guard()
    conn.set_authorizer(guard)
    _bound(conn, seconds)
    try:
        cur = conn.execute(sql, tuple(params))
        rows = _fetch(cur, max_rows)
        columns = [str(d[0]) for d in cur.description or ()]
    except (sqlite3.DatabaseError, sqlite3.ProgrammingError, sqlite3.Warning) as exc:
        raise _query_error(sql, guard, exc, seconds) from exc
    except MemoryError:
        raise QueryError("the query needs more memory than there is; add a LIMIT") from None
    finally:
        conn.close()
    return columns, rows


def _query_error(sql: str, guard: _Guard, exc: Exception, seconds: float) -> QueryError:
    message = str(exc)
    if guard.refused is not None or "readonly" in message or "read-only" in message:
        keyword = _leading_keyword(sql)
        verb = keyword if keyword in _STATEMENT_VERBS else (guard.refused or keyword)
        if keyword == "PRAGMA" and guard.refused:
            verb = guard.refused
        return QueryError(_refusal(verb))
    if "one statement at a time" in message:
        return QueryError("pass one SQL statement at a time (the query holds several)")
    if "interrupted" in message:
        return QueryError(f"the query ran over {seconds:.0f} s and was stopped; add a LIMIT")
    if "too big" in message:
        return QueryError("the query builds a value over 64 MiB and was stopped")
    return QueryError(f"SQLite cannot run the query: {message}")
