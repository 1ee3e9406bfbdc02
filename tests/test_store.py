"""The store on real SQLite files: schema, batches, dedup, filters, sessions, errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shadowdiff.store import (
    Exchange,
    NotADatabaseError,
    Replay,
    SessionNotFoundError,
    Store,
    StoreError,
)
from shadowdiff.store.schema import SCHEMA_VERSION

pytestmark = pytest.mark.unit


def make(path: str, body: bytes = b"", status: int | None = 200, query: str = "") -> Exchange:
    return Exchange(
        method="POST" if body else "GET",
        path=path,
        query=query,
        request_headers=[("Host", "x"), ("Content-Type", "text/csv")],
        request_body=body,
        status=status,
        response_headers=[("Content-Type", "application/json")],
        response_body=b'{"ok": true}',
        started_at=1000.0,
        duration_ms=1.5,
    )


def test_schema_version_wal_and_tables(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        assert store.meta("schema_version") == str(SCHEMA_VERSION)
        mode = store.db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
        tables = set(store.db.table_names())
        assert {"meta", "sessions", "exchanges", "blobs", "runs", "replays", "diffs"} <= tables


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this shadowdiff"):
        Store.open(path)


def _as_version_1(path: Path) -> None:
    """Turn a fresh file into what schema 1 wrote: no general_path, no error_kind; absorbed
    rows at their generalized path, errors only in the signature text."""
    Store.open(path).close()
    conn = sqlite3.connect(path)
    for view in ("endpoint_summary", "field_summary", "signatures"):
        conn.execute(f"DROP VIEW {view}")
    conn.execute("ALTER TABLE diff_fields DROP COLUMN general_path")
    conn.execute("ALTER TABLE diffs DROP COLUMN error_kind")
    conn.execute("ALTER TABLE runs DROP COLUMN reference_run_id")
    conn.execute("ALTER TABLE diff_fields DROP COLUMN change")
    conn.execute("INSERT INTO sessions VALUES (1, 's', 'proxy', NULL, 0, NULL)")
    conn.execute("INSERT INTO runs VALUES (1, 'r', 1, 'candidate', 'http://t', NULL, '{}', 0, 1, "
                 "'complete')")  # fmt: skip
    conn.executemany(
        "INSERT INTO diffs VALUES (1, ?, 'GET /x', ?, ?, ?, 0)",
        [(1, "error", "abc", "GET /x | error:connect"), (2, "different", "def", "GET /x | y")],
    )
    conn.executemany(
        "INSERT INTO diff_fields (run_id, exchange_id, endpoint, part, path, kind, rule) "
        "VALUES (1, 2, 'GET /x', 'body', ?, 'value', ?)",
        [("body.a[3].b", None), ('body."k[1]"[*]', "some rule")],
    )
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()


def test_version_1_files_are_migrated_when_opened_for_writing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    _as_version_1(path)
    with pytest.raises(StoreError, match="older than this shadowdiff"):
        Store.open(path, readonly=True)
    with Store.open(path) as store:
        assert store.meta("schema_version") == str(SCHEMA_VERSION)
        fields = store.db.execute(
            "SELECT path, general_path FROM diff_fields ORDER BY id"
        ).fetchall()
        kinds = store.db.execute("SELECT error_kind FROM diffs ORDER BY exchange_id").fetchall()
    assert fields == [("body.a[3].b", "body.a[*].b"), ('body."k[1]"[*]', 'body."k[1]"[*]')]
    assert kinds == [("connect",), (None,)]
    with Store.open(path, readonly=True) as store:
        assert store.judged(1)[0].error_kind == "connect"


def test_version_4_files_get_change_classes(tmp_path: Path) -> None:
    """Schema 5 adds `diff_fields.change`: NULL on the rows already there, which still read
    (a JSON null stored as SQL NULL then; the kind tells it from an absent side)."""
    path = tmp_path / "s4.db"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    for view in ("endpoint_summary", "field_summary", "signatures"):
        conn.execute(f"DROP VIEW {view}")
    conn.execute("ALTER TABLE diff_fields DROP COLUMN change")
    conn.execute("ALTER TABLE runs DROP COLUMN reference_run_id")  # the other v5 additions
    for table in ("findings", "chain_links", "chains"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("INSERT INTO sessions VALUES (1, 's', 'proxy', NULL, 0, NULL)")
    conn.execute("INSERT INTO runs VALUES (1, 'r', 1, 'candidate', 'http://t', NULL, '{}', 0, 1, "
                 "'complete')")  # fmt: skip
    conn.execute(
        "INSERT INTO diff_fields (run_id, exchange_id, endpoint, part, path, general_path, kind, "
        "old_value, new_value) VALUES (1, 1, 'GET /x', 'body', 'body.a', 'body.a', 'type', "
        "NULL, '5')"
    )
    conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="older than this shadowdiff"):
        Store.open(path, readonly=True)
    with Store.open(path) as store:
        assert store.meta("schema_version") == "5" == str(SCHEMA_VERSION)
        assert store.sample_fields(1, 1) == [("body", "body.a", "type", None, "5", None)]
        views = store.db.execute("SELECT change FROM field_summary").fetchall()
    assert views == [(None,)]


def test_batch_roundtrip_is_exact_and_bodies_deduplicated(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        sess = store.create_session("a", source="proxy", upstream="http://u")
        body = b"a,b\n1,2\n\x00\xff"
        n = store.add_exchanges(sess.id, [make("/predict/", body), make("/predict/", body)])
        assert n == 2
        got = list(store.iter_exchanges(sess.id))
        assert [e.seq for e in got] == [1, 2]
        assert got[0].request_body == body
        assert got[0].request_headers == [("Host", "x"), ("Content-Type", "text/csv")]
        assert got[0].endpoint == "POST /predict/"
        blobs = store.db.execute("SELECT count(*) FROM blobs").fetchone()[0]
        assert blobs == 2  # one request body + one response body, each stored once
        # seq continues in a second batch
        store.add_exchanges(sess.id, [make("/ping")])
        assert [e.seq for e in store.iter_exchanges(sess.id)] == [1, 2, 3]


def test_filters(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        sess = store.create_session("a", source="proxy")
        store.add_exchanges(
            sess.id,
            [make("/users/1"), make("/users/2", b"x"), make("/ping", query="a=1"), make("/x")],
        )
        paths = lambda **kw: [e.path for e in store.iter_exchanges(sess.id, **kw)]  # noqa: E731
        assert paths(only="^GET /users") == ["/users/1"]
        assert paths(only=r"/users/\{id\}") == ["/users/1", "/users/2"]
        assert paths(exclude="users") == ["/ping", "/x"]
        assert paths(methods=["post"]) == ["/users/2"]
        assert paths(only="a=1") == ["/ping"]
        assert paths(limit=2) == ["/users/1", "/users/2"]


def test_sessions_listing_and_lookup(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        a = store.create_session("a", source="proxy")
        store.add_exchanges(a.id, [make("/a"), make("/b", status=None)])
        assert store.create_session("a", source="proxy").id == a.id  # existing name is reused
        auto = store.create_session(None, source="har")
        assert auto.name.startswith("har-")
        rows = {s.session.name: s for s in store.list_sessions()}
        assert rows["a"].exchanges == 2 and rows["a"].errors == 0
        assert rows[auto.name].exchanges == 0
        with pytest.raises(SessionNotFoundError, match="no session 'zzz'"):
            store.session("zzz")
        assert store.session(str(a.id)).name == "a"


def test_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello, not sqlite at all")
    with pytest.raises(NotADatabaseError, match="is not a SQLite database"):
        Store.open(bad)
    assert bad.read_text() == "hello, not sqlite at all"  # never touched


def test_readonly_open_rejects_writes(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store.open(path).close()
    with Store.open(path, readonly=True) as store, pytest.raises(sqlite3.OperationalError):
        store.create_session("x", source="proxy")


def test_runs_and_replays(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        sess = store.create_session("a", source="proxy")
        store.add_exchanges(sess.id, [make("/a"), make("/b")])
        ids = [e.id for e in store.iter_exchanges(sess.id)]
        run = store.create_run(sess.id, kind="candidate", target="http://t", name="r1")
        with pytest.raises(StoreError, match="exists already"):
            store.create_run(sess.id, kind="candidate", target="http://t", name="r1")
        assert ids[0] is not None
        store.add_replays([Replay(run.id, ids[0], status=200, body=b"hi", duration_ms=2.0)])
        assert store.replayed_ids(run.id) == {ids[0]}
        store.add_replays([Replay(run.id, ids[0], status=500, body=b"again")])
        got = list(store.iter_replays(run.id))
        assert len(got) == 1 and got[0].status == 500 and got[0].body == b"again"
        store.finish_run(run.id)
        assert store.run("r1").status == "complete"


def test_client_address_and_replay_flags_round_trip(tmp_path: Path) -> None:
    """Schema 3: the recorded client's address, and markers on a replay outcome."""
    with Store.open(tmp_path / "s.db") as store:
        sess = store.create_session("a", source="proxy")
        ex = make("/ping")
        ex.client = "127.0.0.9"
        store.add_exchanges(sess.id, [ex, make("/x")])
        got = list(store.iter_exchanges(sess.id))
        assert [e.client for e in got] == ["127.0.0.9", None]
        run = store.create_run(sess.id, name="r", kind="candidate", target="http://t")
        store.add_replays(
            [
                Replay(run.id, got[0].id, status=200, flags=["retried", "truncated"]),
                Replay(run.id, got[1].id, status=200),
            ]
        )
        flags = {r.exchange_id: r.flags for r in store.iter_replays(run.id)}
    assert flags == {got[0].id: ["retried", "truncated"], got[1].id: []}
