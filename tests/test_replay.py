"""Replay against real targets: byte-faithful requests, failures stored, resume after kill."""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from shadowdiff.demo.servers import RunningServer, free_port
from shadowdiff.demo.traffic import PlannedRequest, generate
from shadowdiff.recorder.launcher import Recording, RecordOptions
from shadowdiff.replayer.engine import ReplayConfig, replay
from shadowdiff.store import Store
from tests.badservers import tcp_server
from tests.conftest import SHADOWDIFF, run_cli
from tests.pipeline import DemoPipeline, Traffic, Variant
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

BOUNDARY = "----shadowdiffTestBoundary7MA4YWxkTrZu0gW"
CSV = b"age,games,points,assists,minutes\r\n25,70,1200,300,2100\r\n34,60,900,250,1800\r\n"
MULTIPART = (
    (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="X"; filename="x.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    + CSV
    + f"\r\n--{BOUNDARY}--\r\n".encode()
)
BINARY = bytes(range(256)) * 4


ECHOED = Variant(
    "echo",
    traffic=(
        Traffic(
            "echo",
            extra=tuple(
                PlannedRequest(
                    -1,
                    "echo",
                    "POST",
                    "/echo/",
                    "q=1&x=%20y",
                    (("Content-Type", ctype), ("Authorization", "Bearer t")),
                    body,
                    200,
                )
                for ctype, body in (
                    ("multipart/form-data; boundary=" + BOUNDARY, MULTIPART),
                    ("text/csv", CSV),
                    ("application/octet-stream", BINARY),
                )
            ),
        ),
    ),
)


@pytest.fixture(scope="module")
def echo_db(demo_pipeline: Callable[[Variant], DemoPipeline]) -> Path:
    """Three POSTs to /echo/ (multipart, CSV, binary), recorded from Flask."""
    return demo_pipeline(ECHOED).db


def test_requests_arrive_byte_identical(echo_db: Path, fastapi_server: RunningServer) -> None:
    with Store.open(echo_db) as store:
        result = replay(
            store,
            ReplayConfig(
                target=fastapi_server.url,
                session="echo",
                headers=[("Authorization", "Bearer real")],
            ),
        )
        assert result.failed == 0
        recorded = {e.id: e for e in store.iter_exchanges(store.session("echo").id)}
        for rp in store.iter_replays(result.run.id):
            ex = recorded[rp.exchange_id]
            seen = json.loads(rp.body)  # what the FastAPI port received, as it saw it
            assert seen["sha256"] == hashlib.sha256(ex.request_body).hexdigest()
            assert seen["length"] == len(ex.request_body)
            assert seen["content_type"] == ex.request_header("content-type")
            assert ex.request_header("authorization").startswith("Bearer redacted:")


def test_redacted_headers_are_never_sent_as_tokens(echo_db: Path) -> None:
    from shadowdiff.replayer.build import Target, build_request

    with Store.open(echo_db) as store:
        ex = next(store.iter_exchanges(store.session("echo").id))
    plain = build_request(ex, Target.parse("http://127.0.0.1:9"))
    assert plain.header("authorization") is None
    given = build_request(ex, Target.parse("http://127.0.0.1:9"), [("Authorization", "B x")])
    assert given.header("authorization") == "B x"
    assert given.header("host") == ex.request_header("host")  # --host recorded, the default
    aimed = build_request(ex, Target.parse("http://127.0.0.1:9"), host="target")
    assert aimed.header("host") == "127.0.0.1:9"
    assert [k for k, _ in aimed.headers] == [k for k, _ in plain.headers]  # same places
    assert given.target.endswith(b"?q=1&x=%20y")
    assert given.body == ex.request_body


@pytest.mark.parametrize(
    ("behaviour", "outcome"),
    [("down", "connect: "), ("reset", "reset: "), ("slow", "timeout: "), ("short", "reset: ")],
)
def test_failures_are_stored_and_the_run_completes(
    echo_db: Path, tmp_path: Path, behaviour: str, outcome: str
) -> None:
    db = tmp_path / "fail.db"
    db.write_bytes(echo_db.read_bytes())

    def run(target: str) -> subprocess.CompletedProcess[str]:
        return run_cli(
            "replay",
            "--db",
            str(db),
            "--session",
            "echo",
            "--target",
            target,
            "--timeout",
            "0.5",
            "--name",
            "failing",
        )

    if behaviour == "down":
        result = run(f"http://127.0.0.1:{free_port()}")
    else:
        with tcp_server(behaviour, delay=3.0) as url:
            result = run(url)
    assert result.returncode == 1, result.stderr
    assert "failed 3" in result.stdout and "Traceback" not in result.stderr
    with Store.open(db) as store:
        run_row = store.run("failing")
        outcomes = [rp.error for rp in store.iter_replays(run_row.id)]
    assert run_row.status == "complete"
    assert len(outcomes) == 3 and all(o and o.startswith(outcome) for o in outcomes), outcomes


def _replayed(db: Path, run: str) -> int:
    """Replays stored so far for `run`, read without writing (0 before the run exists)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            row = conn.execute(
                "SELECT count(*) FROM replays r JOIN runs u ON u.id = r.run_id WHERE u.name = ?",
                [run],
            ).fetchone()
    except sqlite3.OperationalError:  # the schema is being created, or a write holds a lock
        return 0
    return int(row[0])


def test_resume_after_kill_sends_only_what_is_missing(
    flask_server: RunningServer, fastapi_server: RunningServer, tmp_path: Path
) -> None:
    db = tmp_path / "resume.db"
    with Recording(
        RecordOptions(upstream=flask_server.url, db=db, listen_port=free_port(), session="r")
    ) as rec:
        assert generate(rec.url, count=200, concurrency=8, seed=4).errors == 0
        assert rec.stop().stored == 200
    proc = subprocess.Popen(
        [
            *SHADOWDIFF,
            "replay",
            "--db",
            str(db),
            "--session",
            "r",
            "--target",
            fastapi_server.url,
            "--rate",
            "50",
            "--concurrency",
            "4",
            "--name",
            "killed",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # kill it once part of the run is stored: at 50 requests/s it lasts about 4 s
        wait_until(lambda: _replayed(db, "killed") >= 10, timeout=60, what="replays stored")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    with Store.open(db) as store:
        before = len(store.replayed_ids(store.run("killed").id))
    assert 0 < before < 200
    result = run_cli("replay", "--db", str(db), "--resume", "killed")
    assert result.returncode == 0, result.stderr
    assert f"sent {200 - before} of 200" in result.stdout
    with Store.open(db) as store:
        run_id = store.run("killed").id
        rows = store.db.execute(
            "SELECT count(*), count(DISTINCT exchange_id) FROM replays WHERE run_id = ?", [run_id]
        ).fetchone()
        assert rows == (200, 200)
        assert store.run("killed").status == "complete"
