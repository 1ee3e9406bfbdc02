"""Recorded exchanges: written in batches, read back in recorded order."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any, Final

from shadowdiff.errors import StoreError
from shadowdiff.patterns import BadPattern, BoundedPattern, PatternTimeout, compile_pattern
from shadowdiff.records import Exchange, Session, header_value
from shadowdiff.store.encoding import (
    Blobs,
    headers_from_json,
    headers_json,
    sites_from_json,
    text_column,
    text_value,
)
from shadowdiff.store.endpoints import endpoint_for
from shadowdiff.store.sessions import SessionsMixin, immediate

_MAX_SQL_IDS: Final = 900  # below SQLite's parameter limit; larger id sets go as JSON
#: --only/--exclude searches past their time budget before the pattern is refused as too slow
MAX_PATTERN_TIMEOUTS: Final = 20

_EXCHANGE_COLUMNS: Final = (
    "session_id, seq, method, scheme, host, port, path, query, endpoint, http_version, "
    "request_headers, request_body, request_size, request_content_type, "
    "request_content_encoding, request_truncated, status, reason, response_headers, "
    "response_body, response_size, response_content_type, response_content_encoding, "
    "response_truncated, started_at, duration_ms, redacted, error, client"
)

_RESPONSE_COLUMNS: Final = "e.response_headers, shadowdiff_body(rs.data, rs.encoding)"
_SELECT_EXCHANGES: Final = (
    "SELECT e.id, e.seq, e.method, e.scheme, e.host, e.port, e.path, e.query, "
    "e.endpoint, e.http_version, e.request_headers, "
    "shadowdiff_body(rq.data, rq.encoding), e.request_truncated, "
    "e.status, e.reason, e.response_headers, "
    "shadowdiff_body(rs.data, rs.encoding), e.response_truncated, "
    "e.started_at, e.duration_ms, e.redacted, e.error, e.client "
    "FROM exchanges e LEFT JOIN blobs rq ON rq.sha256 = e.request_body "
    "LEFT JOIN blobs rs ON rs.sha256 = e.response_body "
    "WHERE e.session_id = ?"
)


def _exchange_row(session_id: int, ex: Exchange, blobs: Blobs) -> tuple[Any, ...]:
    return (
        session_id,
        ex.seq,
        text_column(ex.method),
        ex.scheme,
        text_column(ex.host),
        ex.port,
        text_column(ex.path),
        text_column(ex.query),
        text_column(ex.endpoint or endpoint_for(ex.method, ex.path)),
        ex.http_version,
        headers_json(ex.request_headers),
        blobs.add(ex.request_body),
        len(ex.request_body),
        header_value(ex.request_headers, "content-type"),
        header_value(ex.request_headers, "content-encoding"),
        int(ex.request_truncated),
        ex.status,
        text_column(ex.reason),
        headers_json(ex.response_headers),
        blobs.add(ex.response_body),
        len(ex.response_body),
        header_value(ex.response_headers, "content-type"),
        header_value(ex.response_headers, "content-encoding"),
        int(ex.response_truncated),
        ex.started_at,
        ex.duration_ms,
        json.dumps(ex.redacted),
        text_column(ex.error),
        ex.client,
    )


def _exchange(session_id: int, r: Sequence[Any]) -> Exchange:
    """An Exchange from one row of `_SELECT_EXCHANGES` (built field by field: a replay reads
    every exchange it sends, and the dataclass's keyword call costs as much as the rest)."""
    ex = Exchange.__new__(Exchange)
    ex.__dict__ = {
        "method": _text(r[2]),
        "path": _text(r[6]),
        "query": _text(r[7]),
        "scheme": r[3],
        "host": _text(r[4]),
        "port": r[5],
        "http_version": r[9],
        "request_headers": headers_from_json(r[10]),
        "request_body": r[11] or b"",
        "status": r[13],
        "reason": _text(r[14]),
        "response_headers": headers_from_json(r[15]),
        "response_body": r[16] or b"",
        "started_at": r[18],
        "duration_ms": r[19],
        "error": _text(r[21]),
        "request_truncated": bool(r[12]),
        "response_truncated": bool(r[17]),
        "redacted": sites_from_json(r[20]),
        "endpoint": _text(r[8]),
        "client": r[22],
        "seq": r[1],
        "id": r[0],
        "session_id": session_id,
    }
    return ex


def _text(value: Any) -> Any:
    """`text_value`, with the common case (a str, or None) first."""
    return value if value is None or type(value) is str else text_value(value)


class _Filter:
    """The `iter_exchanges` filters, applied to a row of `_SELECT_EXCHANGES`."""

    def __init__(
        self,
        only: str | None,
        exclude: str | None,
        methods: Sequence[str],
        ids: set[int] | None,
        timed_out: list[int] | None = None,
    ) -> None:
        self.only = _pattern(only, "only")
        self.exclude = _pattern(exclude, "exclude")
        self.methods = {m.upper() for m in methods}
        self.ids = ids
        self.timed_out = timed_out if timed_out is not None else []

    def keeps(self, r: Sequence[Any]) -> bool:
        if self.ids is not None and r[0] not in self.ids:
            return False
        if not (self.methods or self.only or self.exclude):
            return True
        method, path, query, endpoint = (text_value(v) for v in (r[2], r[6], r[7], r[8]))
        if self.methods and method not in self.methods:
            return False
        if not (self.only or self.exclude):
            return True
        line = f"{method} {path}{'?' + query if query else ''}"
        try:
            if self.only and not (self.only.search(line) or self.only.search(endpoint)):
                return False
            return not (
                self.exclude and (self.exclude.search(line) or self.exclude.search(endpoint))
            )
        except PatternTimeout as exc:
            # too slow to tell: never replayed (not matched by --only, excluded by --exclude)
            self.timed_out.append(int(r[0]))
            if len(self.timed_out) >= MAX_PATTERN_TIMEOUTS:
                raise StoreError(
                    f"{exc} on {len(self.timed_out)} requests; simplify the --only/--exclude "
                    "regex (nested repeats like (a+)+ backtrack without end)"
                ) from None
            return False


def _pattern(text: str | None, name: str) -> BoundedPattern | None:
    try:
        return compile_pattern(text)
    except BadPattern as exc:
        raise StoreError(f"bad {name} regex: {exc}", field=name) from None


class ExchangesMixin(SessionsMixin):
    """Exchanges; a session's (`import_session`) too, so it extends the sessions part."""

    def add_exchanges(self, session_id: int, exchanges: Iterable[Exchange]) -> int:
        """Write a batch of exchanges in one transaction; returns how many were written.

        Exchanges without a `seq` get the next numbers of the session. The write lock is
        taken first (BEGIN IMMEDIATE), so reading the last `seq` and inserting after it is
        atomic even with other writers (another recorder) on the same session. On failure
        nothing is written and the numbers given are taken back.
        """
        batch = list(exchanges)
        numbered: list[Exchange] = []
        try:
            with self.db.conn:
                immediate(self.db.conn)
                self._insert_exchanges(session_id, batch, numbered)
        except BaseException:
            for ex in numbered:
                ex.seq = None
            raise
        return len(batch)

    def _insert_exchanges(
        self, session_id: int, batch: list[Exchange], numbered: list[Exchange]
    ) -> None:
        """The inserts of `add_exchanges`, inside its transaction; `numbered` collects the
        exchanges given a `seq` here."""
        row = self.db.execute(
            "SELECT coalesce(max(seq), 0) FROM exchanges WHERE session_id = ?", [session_id]
        ).fetchone()
        next_seq = int(row[0]) + 1
        rows: list[tuple[Any, ...]] = []
        blobs = Blobs()
        for ex in batch:
            if ex.seq is None:
                ex.seq = next_seq
                numbered.append(ex)
                next_seq += 1
            rows.append(_exchange_row(session_id, ex, blobs))
        blobs.write(self.db)
        if rows:
            placeholders = ", ".join("?" * len(rows[0]))
            self.db.conn.executemany(
                f"INSERT INTO exchanges ({_EXCHANGE_COLUMNS}) VALUES ({placeholders})", rows
            )

    def import_session(
        self, name: str | None, exchanges: list[Exchange], *, source: str, upstream: str | None
    ) -> Session:
        """Create a new, finished session holding `exchanges`, all in one transaction: a
        failure leaves no session and no exchange. A `name` in use is refused (StoreError,
        field `session`): an import never appends to another session."""
        numbered: list[Exchange] = []
        try:
            with self.db.conn:
                immediate(self.db.conn)
                if name:
                    self.refuse_existing_session(name)
                session = self._insert_session(name, source, upstream)
                self._insert_exchanges(session.id, exchanges, numbered)
                ended = time.time()
                self.db.execute(
                    "UPDATE sessions SET ended_at = ? WHERE id = ?", [ended, session.id]
                )
        except (sqlite3.Error, ValueError, OverflowError, TypeError) as exc:
            for ex in numbered:
                ex.seq = None
            raise StoreError(
                f"cannot store the exchanges ({type(exc).__name__}: {exc}); nothing was imported"
            ) from exc
        return replace(session, ended_at=ended)

    def ids_with_request_tokens(self, session_id: int) -> Iterator[int]:
        """The ids of a session's exchanges whose request may hold a redaction token: a
        header or the query holds one, or redaction noted a site in the request (a body's
        tokens are noted there). Read from the row alone, without a body."""
        rows = self.db.execute(
            "SELECT id FROM exchanges WHERE session_id = ? AND (instr(request_headers, "
            "'redacted:') > 0 OR instr(query, 'redacted:') > 0 OR redacted LIKE '%\"request %')",
            [session_id],
        )
        return (int(row[0]) for row in rows)

    def count_exchanges(self, session_id: int) -> int:
        row = self.db.execute(
            "SELECT count(*) FROM exchanges WHERE session_id = ?", [session_id]
        ).fetchone()
        return int(row[0])

    def session_totals(self, session_id: int) -> tuple[int, int]:
        """(exchanges, request + response body bytes) a session holds."""
        row = self.db.execute(
            "SELECT count(*), coalesce(sum(request_size + response_size), 0) "
            "FROM exchanges WHERE session_id = ?",
            [session_id],
        ).fetchone()
        return int(row[0]), int(row[1])

    def iter_exchanges(
        self,
        session_id: int,
        *,
        only: str | None = None,
        exclude: str | None = None,
        methods: Sequence[str] = (),
        ids: Iterable[int] | None = None,
        limit: int | None = None,
        timed_out: list[int] | None = None,
        responses: bool = True,
        request_bodies: bool = True,
    ) -> Iterator[Exchange]:
        """Yield a session's exchanges in recorded order.

        `only`/`exclude` are regular expressions searched in `METHOD /path?query` and in
        the endpoint template, each search bounded in time (shadowdiff.patterns); an
        exchange whose search runs out of time is left out (not matched by `only`,
        excluded by `exclude`) and its id appended to `timed_out`; after
        MAX_PATTERN_TIMEOUTS of them the pattern is refused (StoreError). `methods` keeps
        only those methods; `ids` restricts to those exchange ids. Without `responses`, the
        recorded response's headers and body are not read (left empty: a replay's sender);
        without `request_bodies` nor is the request's body (a replay choosing what to send
        reads the bodies when it sends).
        """
        keep = _Filter(only, exclude, methods, set(ids) if ids is not None else None, timed_out)
        sql = _SELECT_EXCHANGES
        params: list[Any] = [session_id]
        if keep.ids is not None:  # look them up by id, not by scanning the session for them
            sql = sql.replace("WHERE e.session_id", "WHERE +e.session_id")
        if not responses:
            sql = sql.replace(
                "e.response_headers, shadowdiff_body(rs.data, rs.encoding)", "'[]', NULL"
            )
        if not request_bodies:
            sql = sql.replace("shadowdiff_body(rq.data, rq.encoding)", "NULL")
        if keep.ids is not None and len(keep.ids) <= _MAX_SQL_IDS:
            sql += f" AND e.id IN ({', '.join('?' * len(keep.ids))})"
            params.extend(keep.ids)
        elif keep.ids is not None:  # many: one JSON parameter, so only they are read
            sql += " AND e.id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(keep.ids)))
        emitted = 0
        for r in self.db.execute(sql + " ORDER BY e.seq", params):
            if limit is not None and emitted >= limit:
                return
            if keep.keeps(r):
                emitted += 1
                yield _exchange(session_id, r)

    def request_bodies(self, ids: Sequence[int]) -> dict[int, bytes]:
        """The non-empty request bodies of the exchanges of `ids`, by id (exchanges read
        without them get them when they are about to be sent)."""
        sql = (
            "SELECT e.id, shadowdiff_body(rq.data, rq.encoding) FROM exchanges e "
            "JOIN blobs rq ON rq.sha256 = e.request_body WHERE e.id IN "
        )
        if len(ids) <= _MAX_SQL_IDS:
            rows = self.db.execute(sql + f"({', '.join('?' * len(ids))})", list(ids))
        else:
            many = json.dumps(list(ids))
            rows = self.db.execute(sql + "(SELECT value FROM json_each(?))", [many])
        return {int(r[0]): r[1] for r in rows if r[1]}

    def exchange(self, exchange_id: int) -> Exchange:
        row = self.db.execute(
            "SELECT session_id FROM exchanges WHERE id = ?", [exchange_id]
        ).fetchone()
        if row is None:
            raise StoreError(f"no exchange with id {exchange_id}")
        return next(self.iter_exchanges(int(row[0]), ids=[exchange_id]))
