"""The `Store`: open a shadowdiff SQLite file and read or write its records."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import sqlite_utils

from shadowdiff.errors import (
    NotADatabaseError,
    RunNotFoundError,
    SessionNotFoundError,
    StoreError,
)
from shadowdiff.records import (
    Exchange,
    Headers,
    Replay,
    Run,
    Session,
    SessionSummary,
    header_value,
)
from shadowdiff.store.endpoints import endpoint_for
from shadowdiff.store.readonly import connect_readonly
from shadowdiff.store.schema import ensure_schema

_SQLITE_MAGIC = b"SQLite format 3\x00"
_MAX_SQL_IDS = 900  # below SQLite's parameter limit; larger id sets filter in Python

_EXCHANGE_COLUMNS = (
    "session_id, seq, method, scheme, host, port, path, query, endpoint, http_version, "
    "request_headers, request_body, request_size, request_content_type, "
    "request_content_encoding, request_truncated, status, reason, response_headers, "
    "response_body, response_size, response_content_type, response_content_encoding, "
    "response_truncated, started_at, duration_ms, redacted, error"
)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _headers_json(headers: Headers) -> str:
    return orjson.dumps([[k, v] for k, v in headers]).decode()


def _headers_from_json(text: str | None) -> Headers:
    return [(k, v) for k, v in orjson.loads(text or "[]")]


class _Blobs(dict[str, bytes]):
    """The distinct bodies of one batch, keyed by SHA-256, written with one statement."""

    def add(self, data: bytes) -> str | None:
        if not data:
            return None
        digest = _sha256(data)
        self[digest] = data
        return digest


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


class Store:
    """A shadowdiff database. Use `Store.open(path)`; close with `.close()` or `with`."""

    def __init__(self, db: sqlite_utils.Database, path: Path, *, readonly: bool) -> None:
        self.db = db
        self.path = path
        self.readonly = readonly

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, readonly: bool = False, timeout: float = 30.0
    ) -> Store:
        """Open (creating if needed) the store at `path`.

        Raises NotADatabaseError for a file that is not SQLite, StoreError when the
        file cannot be created or opened, StoreVersionError for a newer schema.
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

    # ---------------------------------------------------------------- sessions
    def create_session(
        self, name: str | None, *, source: str, upstream: str | None = None
    ) -> Session:
        """Create a session; a name that exists already is reused (exchanges append)."""
        if name:
            try:
                return self.session(name)
            except SessionNotFoundError:
                pass
        else:
            base = f"{source}-{time.strftime('%Y%m%d-%H%M%S')}"
            name, n = base, 1
            while self._session_row(name) is not None:
                n += 1
                name = f"{base}-{n}"
        now = time.time()
        with self.db.conn:
            cur = self.db.execute(
                "INSERT INTO sessions (name, source, upstream, started_at) VALUES (?, ?, ?, ?)",
                [name, source, upstream, now],
            )
        return Session(int(cur.lastrowid or 0), name, source, upstream, now, None)

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

    # --------------------------------------------------------------- exchanges
    def _write_blobs(self, blobs: _Blobs) -> None:
        if blobs:
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO blobs (sha256, data, size) VALUES (?, ?, ?)",
                ((digest, data, len(data)) for digest, data in blobs.items()),
            )

    def add_exchanges(self, session_id: int, exchanges: Iterable[Exchange]) -> int:
        """Write a batch of exchanges in one transaction; returns how many were written.

        Exchanges without a `seq` get the next numbers of the session.
        """
        rows: list[tuple[Any, ...]] = []
        blobs = _Blobs()
        with self.db.conn:
            next_seq: int | None = None
            for ex in exchanges:
                if ex.seq is None:
                    if next_seq is None:
                        row = self.db.execute(
                            "SELECT coalesce(max(seq), 0) FROM exchanges WHERE session_id = ?",
                            [session_id],
                        ).fetchone()
                        next_seq = int(row[0]) + 1
                    ex.seq = next_seq
                    next_seq += 1
                rows.append(self._exchange_row(session_id, ex, blobs))
            self._write_blobs(blobs)
            if rows:
                placeholders = ", ".join("?" * len(rows[0]))
                self.db.conn.executemany(
                    f"INSERT INTO exchanges ({_EXCHANGE_COLUMNS}) VALUES ({placeholders})", rows
                )
        return len(rows)

    def _exchange_row(self, session_id: int, ex: Exchange, blobs: _Blobs) -> tuple[Any, ...]:
        req_ct = header_value(ex.request_headers, "content-type")
        req_ce = header_value(ex.request_headers, "content-encoding")
        resp_ct = header_value(ex.response_headers, "content-type")
        resp_ce = header_value(ex.response_headers, "content-encoding")
        return (
            session_id,
            ex.seq,
            ex.method,
            ex.scheme,
            ex.host,
            ex.port,
            ex.path,
            ex.query,
            ex.endpoint or endpoint_for(ex.method, ex.path),
            ex.http_version,
            _headers_json(ex.request_headers),
            blobs.add(ex.request_body),
            len(ex.request_body),
            req_ct,
            req_ce,
            int(ex.request_truncated),
            ex.status,
            ex.reason,
            _headers_json(ex.response_headers),
            blobs.add(ex.response_body),
            len(ex.response_body),
            resp_ct,
            resp_ce,
            int(ex.response_truncated),
            ex.started_at,
            ex.duration_ms,
            json.dumps(ex.redacted),
            ex.error,
        )

    def count_exchanges(self, session_id: int) -> int:
        row = self.db.execute(
            "SELECT count(*) FROM exchanges WHERE session_id = ?", [session_id]
        ).fetchone()
        return int(row[0])

    def iter_exchanges(
        self,
        session_id: int,
        *,
        only: str | None = None,
        exclude: str | None = None,
        methods: Sequence[str] = (),
        ids: Iterable[int] | None = None,
        limit: int | None = None,
    ) -> Iterator[Exchange]:
        """Yield a session's exchanges in recorded order.

        `only`/`exclude` are regular expressions searched in `METHOD /path?query` and in
        the endpoint template; `methods` keeps only those methods; `ids` restricts to
        those exchange ids.
        """
        only_re = re.compile(only) if only else None
        exclude_re = re.compile(exclude) if exclude else None
        wanted = {m.upper() for m in methods}
        id_set = set(ids) if ids is not None else None
        sql = (
            "SELECT e.id, e.seq, e.method, e.scheme, e.host, e.port, e.path, e.query, "
            "e.endpoint, e.http_version, e.request_headers, rq.data, e.request_truncated, "
            "e.status, e.reason, e.response_headers, rs.data, e.response_truncated, "
            "e.started_at, e.duration_ms, e.redacted, e.error "
            "FROM exchanges e LEFT JOIN blobs rq ON rq.sha256 = e.request_body "
            "LEFT JOIN blobs rs ON rs.sha256 = e.response_body "
            "WHERE e.session_id = ?"
        )
        params: list[Any] = [session_id]
        if id_set is not None and len(id_set) <= _MAX_SQL_IDS:
            sql += f" AND e.id IN ({', '.join('?' * len(id_set))})"
            params.extend(id_set)
        emitted = 0
        for r in self.db.execute(sql + " ORDER BY e.seq", params):
            if limit is not None and emitted >= limit:
                return
            if id_set is not None and r[0] not in id_set:
                continue
            if wanted and r[2] not in wanted:
                continue
            line = f"{r[2]} {r[6]}{'?' + r[7] if r[7] else ''}"
            if only_re and not (only_re.search(line) or only_re.search(r[8])):
                continue
            if exclude_re and (exclude_re.search(line) or exclude_re.search(r[8])):
                continue
            emitted += 1
            yield Exchange(
                id=r[0],
                session_id=session_id,
                seq=r[1],
                method=r[2],
                scheme=r[3],
                host=r[4],
                port=r[5],
                path=r[6],
                query=r[7],
                endpoint=r[8],
                http_version=r[9],
                request_headers=_headers_from_json(r[10]),
                request_body=r[11] or b"",
                request_truncated=bool(r[12]),
                status=r[13],
                reason=r[14],
                response_headers=_headers_from_json(r[15]),
                response_body=r[16] or b"",
                response_truncated=bool(r[17]),
                started_at=r[18],
                duration_ms=r[19],
                redacted=json.loads(r[20]),
                error=r[21],
            )

    def exchange(self, exchange_id: int) -> Exchange:
        row = self.db.execute(
            "SELECT session_id FROM exchanges WHERE id = ?", [exchange_id]
        ).fetchone()
        if row is None:
            raise StoreError(f"no exchange with id {exchange_id}")
        return next(self.iter_exchanges(int(row[0]), ids=[exchange_id]))

    # -------------------------------------------------------------------- runs
    def create_run(
        self,
        session_id: int,
        *,
        kind: str,
        target: str,
        name: str | None = None,
        paired_run_id: int | None = None,
        config: dict[str, Any] | None = None,
    ) -> Run:
        if name is None:
            base = f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
            name, n = base, 1
            while self.db.execute("SELECT 1 FROM runs WHERE name = ?", [name]).fetchone():
                n += 1
                name = f"{base}-{n}"
        elif self.db.execute("SELECT 1 FROM runs WHERE name = ?", [name]).fetchone():
            raise StoreError(f"a run named {name!r} exists already; choose another --name")
        now = time.time()
        with self.db.conn:
            cur = self.db.execute(
                "INSERT INTO runs (name, session_id, kind, target, paired_run_id, config, "
                "started_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'running')",
                [name, session_id, kind, target, paired_run_id, json.dumps(config or {}), now],
            )
        return self.run(int(cur.lastrowid or 0))

    def run(self, ref: str | int) -> Run:
        """Find a run by name or id."""
        cols = (
            "id, name, session_id, kind, target, paired_run_id, config, started_at, "
            "finished_at, status"
        )
        row = self.db.execute(f"SELECT {cols} FROM runs WHERE name = ?", [str(ref)]).fetchone()
        if row is None and str(ref).isdigit():
            row = self.db.execute(f"SELECT {cols} FROM runs WHERE id = ?", [int(ref)]).fetchone()
        if row is None:
            known = [r[0] for r in self.db.execute("SELECT name FROM runs ORDER BY id DESC")]
            hint = f" (recent: {', '.join(known[:5])})" if known else " (the store has none)"
            raise RunNotFoundError(f"no run {ref!r}{hint}; see `shadowdiff runs`")
        return Run(
            id=row[0],
            name=row[1],
            session_id=row[2],
            kind=row[3],
            target=row[4],
            paired_run_id=row[5],
            config=json.loads(row[6]),
            started_at=row[7],
            finished_at=row[8],
            status=row[9],
        )

    def list_runs(self) -> list[Run]:
        return [self.run(r[0]) for r in self.db.execute("SELECT id FROM runs ORDER BY id")]

    def baseline_of(self, run: Run) -> Run | None:
        """The baseline run paired with a candidate run, if any."""
        row = self.db.execute(
            "SELECT id FROM runs WHERE paired_run_id = ? AND kind = 'baseline'", [run.id]
        ).fetchone()
        return self.run(int(row[0])) if row else None

    def finish_run(self, run_id: int, status: str = "complete") -> None:
        with self.db.conn:
            self.db.execute(
                "UPDATE runs SET finished_at = ?, status = ? WHERE id = ?",
                [time.time(), status, run_id],
            )

    def add_replays(self, replays: Iterable[Replay]) -> int:
        """Store replay outcomes in one transaction (a re-sent exchange replaces its row)."""
        rows = []
        blobs = _Blobs()
        with self.db.conn:
            for rp in replays:
                rows.append(
                    (
                        rp.run_id,
                        rp.exchange_id,
                        rp.status,
                        rp.reason,
                        _headers_json(rp.headers),
                        blobs.add(rp.body),
                        len(rp.body),
                        rp.header("content-type"),
                        rp.started_at,
                        rp.duration_ms,
                        rp.error,
                    )
                )
            self._write_blobs(blobs)
            if rows:
                self.db.conn.executemany(
                    "INSERT OR REPLACE INTO replays (run_id, exchange_id, status, reason, "
                    "headers, body, size, content_type, started_at, duration_ms, error) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
        return len(rows)

    def replayed_ids(self, run_id: int) -> set[int]:
        return {
            int(r[0])
            for r in self.db.execute("SELECT exchange_id FROM replays WHERE run_id = ?", [run_id])
        }

    def iter_replays(self, run_id: int) -> Iterator[Replay]:
        sql = (
            "SELECT r.exchange_id, r.status, r.reason, r.headers, b.data, r.started_at, "
            "r.duration_ms, r.error FROM replays r LEFT JOIN blobs b ON b.sha256 = r.body "
            "WHERE r.run_id = ? ORDER BY r.exchange_id"
        )
        for r in self.db.execute(sql, [run_id]):
            yield Replay(
                run_id=run_id,
                exchange_id=r[0],
                status=r[1],
                reason=r[2],
                headers=_headers_from_json(r[3]),
                body=r[4] or b"",
                started_at=r[5],
                duration_ms=r[6],
                error=r[7],
            )
