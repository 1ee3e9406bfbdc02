"""Sessions (a recording or an import) and the meta table of a store."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterable
from typing import Any

from shadowdiff.errors import SessionNotFoundError, StoreError
from shadowdiff.records import Session, SessionSummary
from shadowdiff.store.base import StoreBase


def immediate(conn: sqlite3.Connection) -> None:
    """Open the caller's transaction with the write lock taken (BEGIN IMMEDIATE): what it
    reads cannot change before it writes. Waits for the lock up to the busy timeout."""
    if not conn.in_transaction:
        conn.execute("BEGIN IMMEDIATE")


class SessionsMixin(StoreBase):
    # -------------------------------------------------------------------- meta
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return str(row[0]) if row else None

    def redaction_key(self) -> bytes:
        """The per-database key used for redaction tokens (created on first use)."""
        value = self.meta("redaction_key")
        if value is None:
            value = secrets.token_hex(16)
            with self.db.conn:
                self.db.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('redaction_key', ?)", [value]
                )
            value = self.meta("redaction_key") or value
        return bytes.fromhex(value)

    def save_redaction_names(self, session_id: int, names: Iterable[str]) -> None:
        """Remember which names a session's secrets were redacted under (replay uses them)."""
        with self.db.conn:
            self.db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [f"redaction_names:{session_id}", json.dumps(sorted(names))],
            )

    def redaction_names(self, session_id: int) -> list[str] | None:
        """The names saved by `save_redaction_names`, or None (a session from before)."""
        value = self.meta(f"redaction_names:{session_id}")
        return [str(n) for n in json.loads(value)] if value else None

    # ---------------------------------------------------------------- sessions
    def create_session(
        self, name: str | None, *, source: str, upstream: str | None = None
    ) -> Session:
        """Create a session; a name that exists already is reused (exchanges append). Under
        the write lock, so two recorders starting at once on one name share one session."""
        if name and self._session_row(name) is not None:
            return self.session(name)  # no write lock needed to join a session
        with self.db.conn:
            immediate(self.db.conn)
            if name and self._session_row(name) is not None:
                return self.session(name)
            return self._insert_session(name, source, upstream)

    def _insert_session(self, name: str | None, source: str, upstream: str | None) -> Session:
        """Insert a session row inside the caller's transaction (no name: an unused
        `source-<time>` one)."""
        if not name:
            base = f"{source}-{time.strftime('%Y%m%d-%H%M%S')}"
            name, n = base, 1
            while self._session_row(name) is not None:
                n += 1
                name = f"{base}-{n}"
        now = time.time()
        cur = self.db.execute(
            "INSERT INTO sessions (name, source, upstream, started_at) VALUES (?, ?, ?, ?)",
            [name, source, upstream, now],
        )
        return Session(int(cur.lastrowid or 0), name, source, upstream, now, None)

    def refuse_existing_session(self, name: str) -> None:
        """Raise StoreError (field `session`) when a session named `name` exists."""
        if self.db.execute("SELECT 1 FROM sessions WHERE name = ?", [name]).fetchone():
            raise StoreError(
                f"{self.path} holds a session named {name!r} already; give the import "
                "a new session name",
                field="session",
            )

    def _session_row(self, ref: str | int) -> tuple[Any, ...] | None:
        cols = "id, name, source, upstream, started_at, ended_at"
        sql = f"SELECT {cols} FROM sessions WHERE"
        row = self.db.execute(f"{sql} name = ?", [str(ref)]).fetchone()
        if row is None and str(ref).isdigit():
            row = self.db.execute(f"{sql} id = ?", [int(ref)]).fetchone()
        return row  # type: ignore[no-any-return]

    def session(self, ref: str | int) -> Session:
        """Find a session by name or id."""
        row = self._session_row(ref)
        if row is None:
            known = [r[0] for r in self.db.execute("SELECT name FROM sessions ORDER BY id DESC")]
            hint = f" (known: {', '.join(known[:5])})" if known else " (the store has none)"
            raise SessionNotFoundError(f"no session {ref!r}{hint}; see `shadowdiff sessions`")
        return Session(*row)

    def latest_session(self) -> Session:
        row = self.db.execute("SELECT name FROM sessions ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            raise SessionNotFoundError(
                f"{self.path} holds no session; record or import traffic first"
            )
        return self.session(row[0])

    def finish_session(self, session_id: int) -> None:
        with self.db.conn:
            self.db.execute(
                "UPDATE sessions SET ended_at = ? WHERE id = ?", [time.time(), session_id]
            )

    def list_sessions(self) -> list[SessionSummary]:
        rows = self.db.execute(
            """SELECT s.id, s.name, s.source, s.upstream, s.started_at, s.ended_at,
                      count(e.id), coalesce(sum(e.error IS NOT NULL), 0),
                      min(e.started_at), max(e.started_at),
                      coalesce(sum(e.request_size), 0), coalesce(sum(e.response_size), 0)
               FROM sessions s LEFT JOIN exchanges e ON e.session_id = s.id
               GROUP BY s.id ORDER BY s.id"""
        ).fetchall()
        return [SessionSummary(Session(*r[:6]), *r[6:]) for r in rows]
