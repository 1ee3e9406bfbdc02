"""`run_query` on a real store: the views, read-only enforcement, renderings.

The store is filled through the Store API and diffed by the real differ; the views are
checked against GROUP BY queries written here; every kind of write is refused with a clear
message and leaves the file byte for byte as it was.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
from pathlib import Path

import pytest
from rich.console import Console

from shadowdiff.analysis.diffrun import diff_run
from shadowdiff.cli.query_output import render_result, to_csv, to_json, unique_columns
from shadowdiff.differ import RuleSet
from shadowdiff.store import Exchange, Replay, Store
from shadowdiff.store.query import QueryError, run_query
from shadowdiff.store.views import VIEWS

pytestmark = pytest.mark.unit

JSON = [("Content-Type", "application/json")]


def _exchange(method: str, path: str, body: object, ms: float) -> Exchange:
    return Exchange(
        method=method,
        path=path,
        status=200,
        response_headers=JSON,
        response_body=json.dumps(body).encode(),
        started_at=1000.0,
        duration_ms=ms,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Two runs over 12 exchanges: values, extra keys and a refused connection."""
    path = tmp_path / "q.db"
    with Store.open(path) as store:
        session = store.create_session("s", source="proxy")
        plan = [_exchange("GET", f"/users/{i}", {"id": i, "n": i}, 2.0 + i) for i in range(6)]
        plan += [_exchange("POST", "/orders/", {"total": i}, 10.0 * i) for i in range(4)]
        plan += [_exchange("GET", "/health", {"ok": True}, 1.0) for _ in range(2)]
        store.add_exchanges(session.id, plan)
        exchanges = list(store.iter_exchanges(session.id))
        for name, change in (("first", 1), ("second", 0)):
            run = store.create_run(session.id, kind="candidate", target="http://new", name=name)
            replays = []
            for k, ex in enumerate(exchanges):
                body = json.loads(ex.response_body)
                if ex.path.startswith("/users/") and k % 2 and change:
                    body["n"] += 100  # a value difference
                if ex.path == "/orders/" and k % 3 == 0:
                    body["extra"] = "<b>[bold]markup[/bold]</b>"  # an extra key
                error = "connect: refused" if ex.path == "/health" and k % 2 else None
                replays.append(
                    Replay(
                        run_id=run.id,
                        exchange_id=int(ex.id or 0),
                        status=None if error else 200,
                        headers=JSON,
                        body=b"" if error else json.dumps(body).encode(),
                        duration_ms=(ex.duration_ms or 0) + 1.0 + k,
                        error=error,
                    )
                )
            store.add_replays(replays)
            diff_run(store, run.id, RuleSet())
    return path


def _fingerprint(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def _sql(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]


def test_select_returns_columns_and_rows(db: Path) -> None:
    columns, rows = run_query(db, "SELECT name, kind FROM runs ORDER BY id;")
    assert columns == ["name", "kind"]
    assert rows == [("first", "candidate"), ("second", "candidate")]
    columns, rows = run_query(db, "SELECT count(*) AS n FROM exchanges WHERE path LIKE ?", ["/u%"])
    assert (columns, rows) == (["n"], [(6,)])


def test_endpoint_summary_equals_a_group_by(db: Path) -> None:
    columns, rows = run_query(
        db,
        "SELECT run, endpoint, requests, compared, same, different, errors, diff_rate "
        "FROM endpoint_summary ORDER BY run, endpoint",
    )
    expected = _sql(
        db,
        "SELECT ru.name, d.endpoint, count(*), count(*), sum(d.verdict = 'same'), "
        "sum(d.verdict = 'different'), sum(d.verdict = 'error'), "
        "round(1.0 * sum(d.verdict = 'different') / count(*), 4) "
        "FROM diffs d JOIN runs ru ON ru.id = d.run_id GROUP BY ru.name, d.endpoint "
        "ORDER BY ru.name, d.endpoint",
    )
    assert rows == expected
    by_key = {(r[0], r[1]): r for r in rows}
    assert by_key[("first", "GET /users/{id}")][5] == 3  # odd positions changed
    assert by_key[("second", "GET /users/{id}")][5] == 0
    assert by_key[("first", "GET /health")][6] == 1  # one refused connection
    # medians: GET /users/{id} recorded 2..7 ms -> 4.5
    _, medians = run_query(
        db,
        "SELECT old_p50_ms, new_p50_ms FROM endpoint_summary "
        "WHERE run = 'first' AND endpoint = 'GET /users/{id}'",
    )
    assert medians == [(4.5, 8.0)]  # replayed: recorded + 1 + position 0..5


def test_field_summary_and_signatures_equal_group_bys(db: Path) -> None:
    _, fields = run_query(
        db,
        "SELECT run, endpoint, path, kind, rule, counting, exchanges, fields FROM field_summary "
        "ORDER BY run, endpoint, path, kind",
    )
    assert fields == _sql(
        db,
        "SELECT ru.name, f.endpoint, f.path, f.kind, f.rule, f.rule IS NULL, "
        "count(DISTINCT f.exchange_id), count(*) FROM diff_fields f "
        "JOIN runs ru ON ru.id = f.run_id GROUP BY ru.name, f.endpoint, f.path, f.kind, f.rule "
        "ORDER BY ru.name, f.endpoint, f.path, f.kind",
    )
    assert ("first", "GET /users/{id}", "body.n", "value", None, 1, 3, 3) in fields
    _, sigs = run_query(
        db,
        "SELECT run, verdict, signature_text, requests, sample_exchange_id FROM signatures "
        "ORDER BY run, signature_text",
    )
    assert sigs == _sql(
        db,
        "SELECT ru.name, d.verdict, d.signature_text, count(*), min(d.exchange_id) FROM diffs d "
        "JOIN runs ru ON ru.id = d.run_id WHERE d.verdict <> 'same' "
        "GROUP BY ru.name, d.verdict, d.signature, d.signature_text "
        "ORDER BY ru.name, d.signature_text",
    )
    texts = {s[2] for s in sigs}
    assert "GET /users/{id} | body.n:value/number" in texts
    assert "POST /orders/ | body.extra:extra" in texts


@pytest.mark.parametrize(
    ("sql", "verb"),
    [
        ("UPDATE runs SET name = 'x'", "UPDATE"),
        ("DELETE FROM exchanges", "DELETE"),
        ("INSERT INTO meta (key, value) VALUES ('a', 'b')", "INSERT"),
        ("REPLACE INTO meta (key, value) VALUES ('a', 'b')", "REPLACE"),
        ("WITH x AS (SELECT 1) DELETE FROM runs", "DELETE"),
        ("CREATE TABLE t (a)", "CREATE"),
        ("CREATE TEMP VIEW v AS SELECT 1", "CREATE"),
        ("DROP VIEW endpoint_summary", "DROP"),
        ("ALTER TABLE runs ADD COLUMN x", "ALTER"),
        ("ATTACH DATABASE '{tmp}/other.db' AS other", "ATTACH"),
        ("VACUUM INTO '{tmp}/copy.db'", "VACUUM"),
        ("VACUUM", "VACUUM"),
        ("REINDEX", "REINDEX"),
        ("PRAGMA query_only = OFF", "PRAGMA query_only = OFF"),
        ("  -- comment\n  /* block */ update runs set name = 'x'", "UPDATE"),
    ],
)
def test_writes_are_refused_and_the_file_is_untouched(
    db: Path, tmp_path: Path, sql: str, verb: str
) -> None:
    before = _fingerprint(db)
    with pytest.raises(QueryError) as info:
        run_query(db, sql.format(tmp=tmp_path))
    assert str(info.value) == (
        f"the query connection is read-only: {verb} is not allowed; shadowdiff query only reads"
    )
    assert _fingerprint(db) == before
    assert not (tmp_path / "other.db").exists() and not (tmp_path / "copy.db").exists()
    # and the data is all there
    assert run_query(db, "SELECT count(*) FROM runs")[1] == [(2,)]


def test_bad_sql_and_bad_files(db: Path, tmp_path: Path) -> None:
    with pytest.raises(QueryError, match="SQLite cannot run the query: no such table: nope"):
        run_query(db, "SELECT * FROM nope")
    with pytest.raises(QueryError, match='near "SELEC": syntax error'):
        run_query(db, "SELEC 1")
    with pytest.raises(QueryError, match="one SQL statement at a time"):
        run_query(db, "SELECT 1; DELETE FROM runs")
    with pytest.raises(QueryError, match="empty"):
        run_query(db, "  ; ")
    with pytest.raises(QueryError, match="does not exist"):
        run_query(tmp_path / "missing.db", "SELECT 1")
    assert not (tmp_path / "missing.db").exists()
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all")
    with pytest.raises(QueryError, match="not a SQLite database"):
        run_query(text, "SELECT 1")


def test_views_reach_files_written_before_them(db: Path) -> None:
    with sqlite3.connect(db) as conn:  # an older file: no views, one outdated
        for name in VIEWS:
            conn.execute(f"DROP VIEW {name}")
        conn.execute("CREATE VIEW signatures AS SELECT 1 AS stale")
    conn.close()
    before = _fingerprint(db)
    columns, rows = run_query(db, "SELECT count(*) FROM endpoint_summary")
    assert rows == [(6,)] and _fingerprint(db) == before  # TEMP views, nothing written
    Store.open(db).close()  # a writable open brings the file's views up to date
    names = {r[0] for r in _sql(db, "SELECT name FROM sqlite_master WHERE type = 'view'")}
    assert names == set(VIEWS)
    assert "requests" in run_query(db, "SELECT * FROM signatures")[0]


def test_renderings(db: Path) -> None:
    columns, rows = run_query(
        db,
        "SELECT f.endpoint, f.path, f.new_value, NULL AS missing, 1.5 AS x, "
        "CAST('raw' AS BLOB) AS b, f.run_id AS id, f.exchange_id AS id FROM diff_fields f "
        "WHERE f.kind = 'extra' ORDER BY f.id LIMIT 2",
    )
    assert len(rows) == 2
    parsed = list(csv.reader(io.StringIO(to_csv(columns, rows))))
    assert parsed[0] == columns
    assert parsed[1][:3] == [str(v) for v in rows[0][:3]] and parsed[1][3] == ""
    assert parsed[1][5] == "raw"
    objects = json.loads(to_json(columns, rows))
    assert list(objects[0]) == ["endpoint", "path", "new_value", "missing", "x", "b", "id", "id_2"]
    assert objects[0]["missing"] is None and objects[0]["x"] == 1.5 and objects[0]["b"] == "raw"
    assert unique_columns(["a", "a", "a"]) == ["a", "a_2", "a_3"]
    console = Console(record=True, width=200, file=io.StringIO())
    render_result(columns, rows, "table", console)
    shown = console.export_text()
    assert "[bold]markup[/bold]" in shown  # a value is never read as rich markup
    assert "NULL" in shown and "<3 bytes>" in shown and "2 rows" in shown
    out = io.StringIO()
    render_result(columns, rows, "json", Console(file=out))
    assert json.loads(out.getvalue()) == objects
    with pytest.raises(QueryError, match="unknown format"):
        render_result(columns, rows, "xml", Console(file=io.StringIO()))


def test_file_mtime_is_untouched_by_reads(db: Path) -> None:
    before = os.stat(db).st_mtime_ns
    for view in VIEWS:
        run_query(db, f"SELECT * FROM {view}")
    assert os.stat(db).st_mtime_ns == before
