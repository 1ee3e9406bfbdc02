"""Import: a HAR from mitmproxy's own export and a `mitmdump -w` flow file, both from one
real capture, import to the same exchanges as the direct recording; bad files fail cleanly."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from shadowdiff.demo.servers import RunningServer, free_port, wait_port
from shadowdiff.demo.traffic import generate
from shadowdiff.recorder.launcher import mitmdump_command
from shadowdiff.store import Exchange, Store
from tests.clirun import invoke
from tests.conftest import assert_one_line_error, exchange_key, run_cli


def _comparable(ex: Exchange) -> tuple[Any, ...]:
    return (*exchange_key(ex), tuple(ex.redacted))


@pytest.fixture(scope="module")
def capture(flask_server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real capture written three ways: recorder addon, flow file and HAR."""
    d = tmp_path_factory.mktemp("capture")
    port = free_port()
    proc = subprocess.Popen(
        mitmdump_command(
            flask_server.url,
            port,
            recorder={"shadowdiff_db": d / "direct.db", "shadowdiff_session": "direct"},
            settings={"hardump": d / "capture.har"},
            extra_args=["-w", str(d / "flows.mitm")],
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_port(port)
        summary = generate(f"http://127.0.0.1:{port}", count=120, concurrency=4, seed=5)
        assert summary.errors == 0
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert (d / "capture.har").stat().st_size > 0 and (d / "flows.mitm").stat().st_size > 0
    return d


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["capture.har", "flows.mitm"])
def test_import_matches_direct_recording(capture: Path, tmp_path: Path, name: str) -> None:
    db = capture / "direct.db"
    target_db = tmp_path / "imported.db"
    # the imported store must use the same redaction key to give equal tokens
    with Store.open(db) as src, Store.open(target_db) as dst:
        key = src.redaction_key().hex()
        dst.db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('redaction_key', ?)", [key]
        )
        dst.db.conn.commit()
    result = run_cli("import", str(capture / name), "--db", str(target_db), "--session", "imp")
    assert result.returncode == 0, result.stderr
    assert "imported 120 exchanges" in result.stdout
    with Store.open(db) as a, Store.open(target_db) as b:
        direct = sorted(_comparable(e) for e in a.iter_exchanges(a.session("direct").id))
        imported = sorted(_comparable(e) for e in b.iter_exchanges(b.session("imp").id))
        source = b.session("imp").source
    assert len(direct) == 120
    assert imported == direct
    assert source == ("har" if name.endswith(".har") else "mitm")


@pytest.mark.unit
def test_malformed_har_isassert_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.har"
    bad.write_text('{"log": {"entries": [ {"request": ')
    db = tmp_path / "s.db"
    assert_one_line_error(invoke("import", str(bad), "--db", str(db)), "bad.har", "malformed HAR")
    bad.write_text('{"log": {"entries": [{"request": {"url": "nope"}, "response": {}}]}}')
    assert_one_line_error(invoke("import", str(bad), "--db", str(db)), "request.url")


@pytest.mark.e2e
def test_truncated_flow_file_imports_nothing_unless_partial(capture: Path, tmp_path: Path) -> None:
    data = (capture / "flows.mitm").read_bytes()
    cut = tmp_path / "cut.mitm"
    cut.write_bytes(data[: len(data) // 2])
    db = tmp_path / "s.db"
    assert_one_line_error(invoke("import", str(cut), "--db", str(db)), "cut.mitm", "--partial")
    with Store.open(db) as store:
        assert store.list_sessions() == []  # nothing half-imported
    ok = run_cli("import", str(cut), "--db", str(db), "--partial", "--session", "part")
    assert ok.returncode == 0, ok.stderr
    with Store.open(db) as store:
        assert 0 < store.count_exchanges(store.session("part").id) < 120


@pytest.mark.e2e
def test_non_sqlite_db_isassert_one_line_error(capture: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my precious notes\n")
    for args in (
        ["import", str(capture / "capture.har"), "--db", str(notes)],
        ["sessions", "--db", str(notes)],
        [
            "record",
            "--upstream",
            "http://127.0.0.1:9",
            "--listen",
            f"127.0.0.1:{free_port()}",
            "--db",
            str(notes),
        ],
    ):
        assert_one_line_error(invoke(*args), "notes.txt", "not a SQLite database")
    assert notes.read_text() == "my precious notes\n"


@pytest.mark.unit
def test_record_startup_failures(tmp_path: Path) -> None:
    busy = free_port()
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", busy))
        s.listen()
        assert_one_line_error(
            invoke(
                "record",
                "--upstream",
                "http://127.0.0.1:9",
                "--listen",
                f"127.0.0.1:{busy}",
                "--db",
                str(tmp_path / "a.db"),
            ),
            "cannot listen",
            "--listen",
        )
    assert_one_line_error(
        invoke("record", "--upstream", "localhost:5000", "--db", str(tmp_path / "a.db")),
        "bad --upstream URL",
    )
    assert_one_line_error(
        invoke(
            "record",
            "--upstream",
            "http://127.0.0.1:9",
            "--listen",
            f"127.0.0.1:{free_port()}",
            "--db",
            str(tmp_path / "missing" / "a.db"),
        ),
        "does not exist",
    )
