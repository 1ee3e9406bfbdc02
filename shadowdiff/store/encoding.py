"""How records become columns: header lists as JSON text, bodies as content-addressed blobs."""

from __future__ import annotations

import hashlib

import orjson
import sqlite_utils

from shadowdiff.records import Headers


def headers_json(headers: Headers) -> str:
    return orjson.dumps([[k, v] for k, v in headers]).decode()


def headers_from_json(text: str | None) -> Headers:
    return [(k, v) for k, v in orjson.loads(text or "[]")]


class Blobs(dict[str, bytes]):
    """The distinct bodies of one batch, keyed by SHA-256, written with one statement."""

    def add(self, data: bytes) -> str | None:
        if not data:
            return None
        digest = hashlib.sha256(data).hexdigest()
        self[digest] = data
        return digest

    def write(self, db: sqlite_utils.Database) -> None:
        """Store the bodies not stored yet (inside the caller's transaction)."""
        if self:
            db.conn.executemany(
                "INSERT OR IGNORE INTO blobs (sha256, data, size) VALUES (?, ?, ?)",
                ((digest, data, len(data)) for digest, data in self.items()),
            )
