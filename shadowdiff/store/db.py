"""The `Store`: open a shadowdiff SQLite file and read or write its records.

The store owns every SQL statement of shadowdiff; by table family:

- `sessions`: meta and sessions; `exchanges`: recorded exchanges;
- `runs`: runs and their replays; `results`: what diffing writes and the counts over it;
  `chunkfiles`: those rows handed over by diff worker processes;
- `judgement`: reads of the gate, noise, accept and latency; `reporting`: reads of a report;
- `agreement`: the agreement figures a diff writes; `findings`: run-wide findings; `chains`:
  chains of server-issued values; `following`: a diff following a replay.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import sqlite_utils

from shadowdiff.errors import NotADatabaseError, StoreError
from shadowdiff.store.agreement import AgreementMixin
from shadowdiff.store.chains import ChainsMixin
from shadowdiff.store.chunkfiles import ChunkFilesMixin
from shadowdiff.store.encoding import add_body_function
from shadowdiff.store.exchanges import ExchangesMixin
from shadowdiff.store.findings import FindingsMixin
from shadowdiff.store.following import FollowingMixin
from shadowdiff.store.judgement import JudgementMixin
from shadowdiff.store.merge import MergeMixin
from shadowdiff.store.readonly import connect_readonly
from shadowdiff.store.reporting import ReportingMixin
from shadowdiff.store.results import ResultsMixin
from shadowdiff.store.runs import RunsMixin
from shadowdiff.store.schema import check_readable, ensure_schema
from shadowdiff.store.sessions import SessionsMixin
from shadowdiff.store.spec_results import SpecResultsMixin

_SQLITE_MAGIC = b"SQLite format 3\x00"


def check_sqlite_file(path: Path) -> None:
    """Raise NotADatabaseError when `path` exists, is non-empty and is not SQLite, and
    StoreError when it cannot be looked at (permissions)."""
    try:
        if path.is_dir():
            raise NotADatabaseError(f"{path} is a directory; pass a database file path with --db")
        if not path.exists() or path.stat().st_size == 0:
            return
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}; check its permissions") from None
    if head != _SQLITE_MAGIC:
        raise NotADatabaseError(
            f"{path} is not a SQLite database; pass a new or existing shadowdiff database with --db"
        )


class Store(
    ExchangesMixin,
    SessionsMixin,
    RunsMixin,
    ResultsMixin,
    ChunkFilesMixin,
    JudgementMixin,
    ReportingMixin,
    AgreementMixin,
    FindingsMixin,
    SpecResultsMixin,
    MergeMixin,
    ChainsMixin,
    FollowingMixin,
):
    """A shadowdiff database. Use `Store.open(path)`; close with `.close()` or `with`."""

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, readonly: bool = False, timeout: float = 30.0
    ) -> Store:
        """Open (creating if needed) the store at `path`.

        Raises NotADatabaseError for a file that is not SQLite, StoreError when the
        file cannot be created or opened, StoreVersionError for a newer schema
        (or, read-only, an older one: migrating it needs writing).
        """
        p = Path(path)
        check_sqlite_file(p)
        if readonly:
            if not p.exists():
                raise StoreError(f"{p} does not exist; record or import traffic first")
            try:
                conn = connect_readonly(p, check_same_thread=False)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open {p} read-only: {exc}") from exc
        else:
            if not p.parent.exists():
                raise StoreError(
                    f"directory {p.parent} does not exist; create it or choose another --db"
                )
            try:
                conn = sqlite3.connect(str(p), check_same_thread=False, timeout=timeout)
                add_body_function(conn)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open {p}: {exc}") from exc
        db = sqlite_utils.Database(conn)
        try:
            if not readonly:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                ensure_schema(db, source=str(p))
            else:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
                check_readable(db, source=str(p))
        except sqlite3.DatabaseError as exc:
            conn.close()
            if "not a database" in str(exc) or "file is encrypted" in str(exc):
                raise NotADatabaseError(
                    f"{p} is not a SQLite database; pass a new or existing shadowdiff "
                    "database with --db"
                ) from exc
            raise StoreError(f"cannot use {p}: {exc}") from exc
        return cls(db, p, readonly=readonly)

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
