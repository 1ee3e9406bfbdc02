"""Compact bodies (schema 5): recorded and replayed bodies stored once per SHA-256, zlib-
compressed where that pays, read back byte for byte; version 4 files migrate; `shadowdiff
query` decodes with `shadowdiff_body(data, encoding)`."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

import pytest

from shadowdiff.store import Exchange, Replay, Store
from shadowdiff.store.encoding import COMPRESS_MIN, ZLIB, decode_body, encode_body
from shadowdiff.store.query import run_query

pytestmark = pytest.mark.unit

JSON_BODY = json.dumps({"items": [{"id": i, "label": "same label"} for i in range(200)]}).encode()
BODIES = {
    "empty": b"",
    "small": b'{"ok": true}',
    "binary": os.urandom(4096),  # does not compress: stored as it is
    "latin1": "caf\xe9 cr\xe8me br\xfbl\xe9e ".encode("latin-1") * 40,  # not UTF-8
    "json": JSON_BODY,
    "nul": b"\x00\xff\xfe" * 500,
}


def stored(store: Store, names: list[str]) -> list[Exchange]:
    """One exchange per body name (as request and response), replayed with the same body."""
    sess = store.create_session("s", source="har")
    store.add_exchanges(
        sess.id,
        [
            Exchange(method="POST", path=f"/{n}", request_body=BODIES[n], response_body=BODIES[n])
            for n in names
        ],
    )
    exchanges = list(store.iter_exchanges(sess.id))
    run = store.create_run(sess.id, kind="candidate", target="http://127.0.0.1:1")
    store.add_replays(
        [
            Replay(run_id=run.id, exchange_id=ex.id or 0, body=BODIES[n])
            for ex, n in zip(exchanges, names, strict=True)
        ]
    )
    return exchanges


def test_bodies_round_trip_byte_for_byte_recorded_and_replayed(tmp_path: Path) -> None:
    names = list(BODIES)
    with Store.open(tmp_path / "s.db") as store:
        exchanges = stored(store, names)
        run = store.list_runs()[0]
        replays = {rp.exchange_id: rp.body for rp in store.iter_replays(run.id)}
        for ex, name in zip(exchanges, names, strict=True):
            assert ex.request_body == ex.response_body == BODIES[name], name
            assert replays[ex.id or 0] == BODIES[name], name
        encodings = dict(store.db.execute("SELECT size, encoding FROM blobs").fetchall())
    assert encodings[len(JSON_BODY)] == ZLIB
    assert encodings[len(BODIES["nul"])] == ZLIB
    assert encodings[len(BODIES["binary"])] == ""  # would not save 10%
    assert encodings[len(BODIES["small"])] == ""  # under COMPRESS_MIN
    assert len(BODIES["small"]) < COMPRESS_MIN


def test_equal_bodies_are_stored_once_and_compressed_smaller(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        stored(store, ["json", "json", "json"])
        rows = store.db.execute("SELECT size, length(data), encoding FROM blobs").fetchall()
    assert len(rows) == 1  # request and response bodies of 3 exchanges and 3 replays
    size, kept, encoding = rows[0]
    assert encoding == ZLIB and size == len(JSON_BODY) and kept < size / 5


def test_encode_decode_are_inverse_and_unknown_encodings_are_refused() -> None:
    for body in BODIES.values():
        data, encoding = encode_body(body)
        assert decode_body(data, encoding) == body
    assert decode_body(None, ZLIB) is None
    with pytest.raises(ValueError, match="unknown blob encoding 'brotli'"):
        decode_body(b"x", "brotli")


def test_version_4_files_migrate_and_keep_their_bodies(tmp_path: Path) -> None:
    db = tmp_path / "v4.db"
    with Store.open(db) as store:
        stored(store, ["json", "latin1"])
    conn = sqlite3.connect(db)
    with conn:  # as schema 4 wrote it: no encoding column, bodies as they are
        conn.execute("DELETE FROM blobs")
        conn.execute("ALTER TABLE blobs DROP COLUMN encoding")
        conn.execute("DROP INDEX diff_fields_exchange")
        conn.execute("DROP INDEX diff_fields_rule")
        for name in ("json", "latin1"):
            body = BODIES[name]
            digest = hashlib.sha256(body).hexdigest()
            conn.execute("INSERT INTO blobs VALUES (?, ?, ?)", [digest, body, len(body)])
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.close()
    with Store.open(db) as store:  # opened for writing: migrated
        assert store.meta("schema_version") == "5"
        bodies = [ex.response_body for ex in store.iter_exchanges(store.session("s").id)]
        assert bodies == [JSON_BODY, BODIES["latin1"]]
        assert {r[0] for r in store.db.execute("SELECT encoding FROM blobs")} == {""}
        indexes = {r[1] for r in store.db.execute("PRAGMA index_list(diff_fields)")}
        assert {"diff_fields_exchange", "diff_fields_rule"} <= indexes  # the one v5 migration
        tables = set(store.db.table_names())
        assert {"findings", "chains", "chain_links"} <= tables  # main's v5 pieces beside them
        store.add_replays([Replay(run_id=1, exchange_id=1, body=JSON_BODY * 2)])
        assert (
            store.db.execute("SELECT count(*) FROM blobs WHERE encoding = 'zlib'").fetchone()[0]
            == 1
        )


def test_query_reads_bodies_through_shadowdiff_body(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store.open(db) as store:
        stored(store, ["json"])
    _, rows = run_query(db, "SELECT shadowdiff_body(data, encoding), encoding FROM blobs")
    assert rows == [(JSON_BODY, ZLIB)]


def test_a_version_5_file_without_these_pieces_is_completed(tmp_path: Path) -> None:
    """A file stamped 5 by a shadowdiff from before compact storage joined version 5 gets
    the encoding column and the summary indexes when opened for writing."""
    db = tmp_path / "other5.db"
    with Store.open(db) as store:
        stored(store, ["json"])
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DROP INDEX diff_fields_exchange")
        conn.execute("DROP INDEX diff_fields_rule")
        conn.execute("UPDATE blobs SET data = ?", [JSON_BODY])  # as stored before schema 5
        conn.execute("ALTER TABLE blobs DROP COLUMN encoding")
    conn.close()
    with Store.open(db) as store:
        assert store.meta("schema_version") == "5"
        [ex] = store.iter_exchanges(store.session("s").id)
        assert ex.response_body == JSON_BODY
        indexes = {r[1] for r in store.db.execute("PRAGMA index_list(diff_fields)")}
    assert {"diff_fields_exchange", "diff_fields_rule"} <= indexes
