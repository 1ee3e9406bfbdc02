"""The schema, created by code and versioned in the `meta` table."""

from __future__ import annotations

import sqlite_utils

from shadowdiff.errors import StoreVersionError
from shadowdiff.store.views import ensure_views

SCHEMA_VERSION = 1

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,              -- proxy | har | mitm
    upstream TEXT,
    started_at REAL NOT NULL,
    ended_at REAL
);
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS exchanges (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    seq INTEGER NOT NULL,
    method TEXT NOT NULL,
    scheme TEXT,
    host TEXT,
    port INTEGER,
    path TEXT NOT NULL,
    query TEXT NOT NULL DEFAULT '',
    endpoint TEXT NOT NULL,
    http_version TEXT,
    request_headers TEXT NOT NULL,     -- JSON [[name, value], ...] in wire order
    request_body TEXT REFERENCES blobs(sha256),
    request_size INTEGER NOT NULL DEFAULT 0,
    request_content_type TEXT,
    request_content_encoding TEXT,
    request_truncated INTEGER NOT NULL DEFAULT 0,
    status INTEGER,                    -- NULL when the exchange ended in an error
    reason TEXT,
    response_headers TEXT NOT NULL,
    response_body TEXT REFERENCES blobs(sha256),
    response_size INTEGER NOT NULL DEFAULT 0,
    response_content_type TEXT,
    response_content_encoding TEXT,
    response_truncated INTEGER NOT NULL DEFAULT 0,
    started_at REAL NOT NULL,
    duration_ms REAL,
    redacted TEXT NOT NULL DEFAULT '[]', -- JSON list of header names redacted
    error TEXT,
    UNIQUE (session_id, seq)
);
CREATE INDEX IF NOT EXISTS exchanges_session_endpoint ON exchanges(session_id, endpoint);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    kind TEXT NOT NULL,                -- candidate | baseline
    target TEXT NOT NULL,
    paired_run_id INTEGER REFERENCES runs(id),
    config TEXT NOT NULL DEFAULT '{}',
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL DEFAULT 'running'
);
CREATE TABLE IF NOT EXISTS replays (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    exchange_id INTEGER NOT NULL REFERENCES exchanges(id),
    status INTEGER,
    reason TEXT,
    headers TEXT NOT NULL DEFAULT '[]',
    body TEXT REFERENCES blobs(sha256),
    size INTEGER NOT NULL DEFAULT 0,
    content_type TEXT,
    started_at REAL,
    duration_ms REAL,
    error TEXT,
    PRIMARY KEY (run_id, exchange_id)
);
CREATE TABLE IF NOT EXISTS diffs (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    exchange_id INTEGER NOT NULL REFERENCES exchanges(id),
    endpoint TEXT NOT NULL,
    verdict TEXT NOT NULL,             -- same | different | error
    signature TEXT,
    signature_text TEXT,
    n_fields INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, exchange_id)
);
CREATE TABLE IF NOT EXISTS diff_fields (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    exchange_id INTEGER NOT NULL REFERENCES exchanges(id),
    endpoint TEXT NOT NULL,
    part TEXT NOT NULL,                -- status | header | body
    path TEXT NOT NULL,
    kind TEXT NOT NULL,                -- value | type | missing | extra | order | length | status
    old_value TEXT,                    -- JSON
    new_value TEXT,                    -- JSON
    rule TEXT                          -- the rule that absorbed it; NULL when it counts
);
CREATE INDEX IF NOT EXISTS diff_fields_run ON diff_fields(run_id, endpoint, path);
CREATE TABLE IF NOT EXISTS rule_hits (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    rule TEXT NOT NULL,
    kind TEXT,
    origin TEXT,
    reason TEXT,
    count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, rule)
);
"""


def current_version(db: sqlite_utils.Database) -> int | None:
    if "meta" not in db.table_names():
        return None
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else None


def ensure_schema(db: sqlite_utils.Database, *, source: str) -> None:
    """Create the tables (idempotent) and stamp the version; refuse newer files."""
    version = current_version(db)
    if version is not None and version > SCHEMA_VERSION:
        raise StoreVersionError(
            f"{source} has schema version {version}, newer than this shadowdiff "
            f"understands ({SCHEMA_VERSION}); upgrade shadowdiff"
        )
    if version != SCHEMA_VERSION:
        with db.conn:
            db.conn.executescript(_TABLES)
            db.conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
    ensure_views(db)  # also for files created before the views existed
