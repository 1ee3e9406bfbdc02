"""End to end: gunicorn Flask <- `shadowdiff record` (mitmdump) <- the traffic generator."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from shadowdiff.demo.servers import RunningServer
from shadowdiff.demo.traffic import generate
from shadowdiff.redaction import RedactionPolicy, Redactor
from shadowdiff.store import Exchange, Store
from tests.conftest import exchange_key, load_traffic_log
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e


def _stored(db: Path, session: str) -> tuple[list[Exchange], bytes]:
    with Store.open(db) as store:
        return list(store.iter_exchanges(store.session(session).id)), store.redaction_key()


def _expected_headers(headers: list[list[str]], key: bytes) -> list[tuple[str, str]]:
    red = Redactor(RedactionPolicy.build(key=key), "request", None)
    return [(k, red.header(k, v)) for k, v in headers]


def _client_key(e: dict[str, Any], key: bytes) -> tuple[Any, ...]:
    return (
        e["method"],
        e["path"],
        e["query"],
        tuple(_expected_headers(e["request_headers"], key)),
        e["request_body"],
        e["status"],
        tuple((k, v) for k, v in e["response_headers"]),
        e["response_body"],
    )


def test_records_every_exchange_byte_for_byte(
    flask_server: RunningServer, recorder_factory: Any, tmp_path: Path
) -> None:
    db, log = tmp_path / "rec.db", tmp_path / "traffic.jsonl"
    rec = recorder_factory(flask_server.url, db, "e2e")
    summary = generate(rec.url, count=500, concurrency=8, seed=7, log_path=log, max_seconds=120)
    code, out, err = rec.stop(signal.SIGINT)
    assert code == 0, err
    assert summary.sent == 500 and summary.errors == 0
    assert "stored 500, dropped 0" in out

    client = load_traffic_log(log)
    stored, key = _stored(db, "e2e")
    assert len(stored) == 500
    # byte-identical: method, path, query, headers (secrets redacted), bodies, status
    assert Counter(exchange_key(e) for e in stored) == Counter(_client_key(c, key) for c in client)
    # multipart uploads are intact, Authorization never lands in clear, durations present
    multipart = [
        e
        for e in stored
        if (e.request_header("content-type") or "").startswith("multipart/form-data")
    ]
    assert sum(b'form-data; name="X"' in e.request_body for e in multipart) >= 10
    assert all(e.request_body.rstrip().endswith(b"--") for e in multipart)
    auth = [e for e in stored if e.request_header("authorization")]
    assert auth and all(
        e.request_header("authorization").startswith("Bearer redacted:") for e in auth
    )
    assert all(any("header:authorization" in s for s in e.redacted) for e in auth)
    assert all(e.duration_ms is not None and e.duration_ms >= 0 for e in stored)
    assert {e.endpoint for e in stored} >= {"POST /predict/", "GET /ping", "GET /stats/"}


def test_fail_open_when_database_is_locked(
    flask_server: RunningServer, recorder_factory: Any, tmp_path: Path
) -> None:
    db, log = tmp_path / "locked.db", tmp_path / "traffic.jsonl"
    rec = recorder_factory(flask_server.url, db, "locked")
    lock = sqlite3.connect(db, timeout=1)
    lock.execute("BEGIN EXCLUSIVE")  # nobody else can write while we hold this
    try:
        summary = generate(rec.url, count=150, concurrency=8, seed=3, log_path=log)
        # until the writer has hit the lock and dropped what it could not store
        wait_until(lambda: rec.stats().get("dropped", 0) > 0, timeout=60, what="a drop")
    finally:
        lock.rollback()
        lock.close()
    code, out, err = rec.stop(signal.SIGINT)
    assert code == 0, err
    client = load_traffic_log(log)
    # every request still got its upstream response
    assert summary.errors == 0 and len(client) == 150
    assert all(c["status"] in (200, 308, 404, 405, 422) for c in client)
    stored, _ = _stored(db, "locked")
    dropped = int(out.split("dropped ")[1].split(",")[0])
    assert dropped > 0, out
    assert len(stored) + dropped == 150
    assert "not stored" in err and "locked" in err


def test_sigterm_during_traffic_loses_no_answered_exchange(
    flask_server: RunningServer, recorder_factory: Any, tmp_path: Path
) -> None:
    db, log = tmp_path / "term.db", tmp_path / "traffic.jsonl"
    rec = recorder_factory(flask_server.url, db, "term")
    result: dict[str, Any] = {}
    answered: list[object] = []

    def count(entry: dict[str, object]) -> None:
        if entry["status"] is not None:
            answered.append(entry["status"])

    def traffic() -> None:
        result["summary"] = generate(
            rec.url,
            count=3000,
            concurrency=8,
            seed=11,
            log_path=log,
            max_seconds=60,
            timeout=5,
            on_done=count,
        )

    t = threading.Thread(target=traffic)
    t.start()
    try:  # stop the recorder mid-traffic: once some exchanges went through it
        wait_until(lambda: len(answered) >= 100, timeout=60, what="100 answered requests")
    finally:
        code, out, err = rec.stop(signal.SIGTERM)
    t.join(90)
    assert not t.is_alive()
    assert code == 0, err
    answered = [c for c in load_traffic_log(log) if c.get("status") is not None]
    assert 0 < len(answered) < 3000  # we really stopped mid-traffic
    stored, key = _stored(db, "term")
    missing = Counter(_client_key(c, key) for c in answered) - Counter(
        exchange_key(e) for e in stored
    )
    assert not missing, f"{sum(missing.values())} answered exchanges were lost"


def test_record_stops_by_itself_after_duration(flask_server: RunningServer, tmp_path: Path) -> None:
    from shadowdiff.demo.servers import free_port
    from tests.conftest import run_cli

    t0 = time.monotonic()
    result = run_cli(
        "record",
        "--upstream",
        flask_server.url,
        "--listen",
        f"127.0.0.1:{free_port()}",
        "--db",
        str(tmp_path / "d.db"),
        "--session",
        "timed",
        "--duration",
        "1.5",
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "session timed: stored 0, dropped 0" in result.stdout
    assert 1.5 <= time.monotonic() - t0 < 30
