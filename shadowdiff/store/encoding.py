"""How records become columns: header lists as JSON text, bodies as content-addressed blobs,
and text that is not valid UTF-8 kept losslessly.

Request lines and headers are bytes on the wire; the recorder decodes them with
``surrogateescape``, so a non-UTF-8 byte becomes a lone surrogate that SQLite (and orjson)
refuse. Such a value is stored as the BLOB of its ``surrogatepass`` bytes (a TEXT column holds
a BLOB happily) and read back to the identical string, so one odd byte never costs a batch.
Header lists holding one fall back to ASCII-escaped JSON, which the stdlib reads back.

Bodies (recorded and replayed alike) are stored once per SHA-256 of their bytes, zlib-
compressed when they are at least COMPRESS_MIN bytes and that saves at least MIN_SAVING;
`blobs.encoding` says how (`''` as is, `'zlib'`) and `blobs.size` is the body's own length.
Reading is transparent: every connection the store opens has the SQL function
`shadowdiff_body(data, encoding)`, which gives the body's bytes back.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zlib
from typing import Final, overload

import orjson
import sqlite_utils

from shadowdiff.records import Headers


def headers_json(headers: Headers) -> str:
    pairs = [[k, v] for k, v in headers]
    try:
        return orjson.dumps(pairs).decode()
    except TypeError:  # a lone surrogate: "\udc80" escapes, which json.loads reads back
        return json.dumps(pairs, ensure_ascii=True)


def headers_from_json(text: str | None) -> Headers:
    if not text or text == "[]":
        return []
    try:
        pairs = orjson.loads(text)
    except orjson.JSONDecodeError:  # a lone surrogate, written escaped by json.dumps
        pairs = json.loads(text)
    return list(map(tuple, pairs))  # type: ignore[arg-type]  # [name, value] pairs


def sites_from_json(text: str | None) -> list[str]:
    """An exchange's redaction sites (a JSON list of strings) as stored."""
    if not text or text == "[]":
        return []
    try:
        sites: list[str] = orjson.loads(text)
    except orjson.JSONDecodeError:
        sites = json.loads(text)
    return sites


def text_column(value: str | None) -> str | bytes | None:
    """A str for a TEXT column: as it is when it is valid UTF-8, else its lossless BLOB."""
    if value is None or value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")
    return value


@overload
def text_value(value: str | bytes) -> str: ...
@overload
def text_value(value: str | bytes | None) -> str | None: ...
def text_value(value: str | bytes | None) -> str | None:
    """The str that ``text_column`` stored."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogatepass")
    return value


COMPRESS_MIN: Final = 256  # bytes: smaller bodies are stored as they are
MIN_SAVING: Final = 0.10  # compressed only when that saves at least this fraction
ZLIB: Final = "zlib"
_LEVEL: Final = 6


def encode_body(data: bytes) -> tuple[bytes, str]:
    """(stored bytes, encoding): zlib where that pays, else the body as it is."""
    if len(data) >= COMPRESS_MIN:
        packed = zlib.compress(data, _LEVEL)
        if len(packed) <= len(data) * (1 - MIN_SAVING):
            return packed, ZLIB
    return data, ""


def decode_body(data: bytes | None, encoding: str | None) -> bytes | None:
    """The body `encode_body` stored (None stays None)."""
    if data is None or not encoding:
        return data
    if encoding == ZLIB:
        return zlib.decompress(data)
    raise ValueError(f"unknown blob encoding {encoding!r}")


def add_body_function(conn: sqlite3.Connection) -> None:
    """`shadowdiff_body(data, encoding)` on this connection: a blob's body bytes."""
    conn.create_function("shadowdiff_body", 2, decode_body, deterministic=True)


_LOOKUP: Final = 500  # digests looked up per statement (below SQLite's variable limit)


class Blobs(dict[str, bytes]):
    """The distinct bodies of one batch, keyed by SHA-256, written with one statement."""

    def add(self, data: bytes) -> str | None:
        if not data:
            return None
        digest = hashlib.sha256(data).hexdigest()
        self[digest] = data
        return digest

    def write(self, db: sqlite_utils.Database) -> None:
        """Store the bodies not stored yet (inside the caller's transaction). Those the store
        holds already are not compressed again (a replay mostly answers recorded bodies)."""
        if not self:
            return
        digests = list(self)
        known: set[str] = set()
        for i in range(0, len(digests), _LOOKUP):
            part = digests[i : i + _LOOKUP]
            known.update(
                str(row[0])
                for row in db.execute(
                    f"SELECT sha256 FROM blobs WHERE sha256 IN ({', '.join('?' * len(part))})",
                    part,
                )
            )
        db.conn.executemany(
            "INSERT OR IGNORE INTO blobs (sha256, data, encoding, size) VALUES (?, ?, ?, ?)",
            (
                (digest, *encode_body(data), len(data))
                for digest, data in self.items()
                if digest not in known
            ),
        )
