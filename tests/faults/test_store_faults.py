"""Store faults: read-only places, and reading never writes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from shadowdiff.errors import QueryError
from shadowdiff.records import Exchange
from shadowdiff.store import Store
from shadowdiff.store.query import run_query

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _store_in(folder: Path) -> Path:
    db = folder / "x.db"
    with Store.open(db) as store:
        store.create_session("s", source="proxy", upstream="http://127.0.0.1:1")
    return db


def _run(*args: str, user: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [*(user or []), sys.executable, "-m", "shadowdiff", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


@pytest.mark.e2e
def test_query_creates_no_file_beside_the_database(tmp_path: Path) -> None:
    db = _store_in(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = _run("query", "SELECT count(*) FROM sessions", "--db", str(db), "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == before == ["x.db"]


@pytest.mark.e2e
@pytest.mark.parametrize("command", [["query", "SELECT count(*) FROM sessions"], ["sessions"]])
def test_read_commands_work_in_a_read_only_directory(command: list[str]) -> None:
    """As an unprivileged user (root ignores permissions), with the folder read-only."""
    folder = Path(tempfile.mkdtemp(prefix="shadowdiff-ro-"))  # /tmp: reachable by nobody
    try:
        db = _store_in(folder)
        os.chmod(db, 0o644)
        os.chmod(folder, 0o555)
        result = _run(*command, "--db", str(db), user=NOBODY)
        assert sorted(p.name for p in folder.iterdir()) == ["x.db"]
    finally:
        os.chmod(folder, 0o755)
        shutil.rmtree(folder)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.e2e
def test_an_unreadable_database_is_a_one_line_error(tmp_path: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="shadowdiff-unreadable-"))
    try:
        db = _store_in(folder)
        os.chmod(db, 0o600)  # root's, and nobody may read it
        os.chmod(folder, 0o700)  # nor even look into its folder
        result = _run("sessions", "--db", str(db), user=NOBODY)
    finally:
        shutil.rmtree(folder)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "cannot read" in result.stderr


ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "


@pytest.mark.unit
@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (ENDLESS + "SELECT x FROM c", "more than 100,000 rows"),
        (ENDLESS + "SELECT count(*) FROM c", "was stopped"),
        (
            "WITH RECURSIVE c(x) AS (SELECT 'a' UNION ALL SELECT x || x FROM c) "
            "SELECT length(x) FROM c",
            "over 64 MiB",
        ),
    ],
    ids=["rows", "time", "value"],
)
def test_unbounded_queries_end_with_one_clear_error(
    tmp_path: Path, sql: str, expected: str
) -> None:
    db = _store_in(tmp_path)
    with pytest.raises(QueryError, match=expected):
        run_query(db, sql, seconds=1.0)


@pytest.mark.unit
def test_text_that_is_not_utf8_round_trips_losslessly(tmp_path: Path) -> None:
    odd = Exchange(
        method="GET",
        path="/caf\udce9/\ud800",  # a latin-1 byte (surrogateescape) and a lone surrogate
        query="q=\udcff",
        request_headers=[("X-\udc80", "v\udcfe"), ("Accept", "*/*")],
        status=200,
        reason="O\udc8bK",
        response_headers=[("Set-\udc81", "x")],
    )
    plain = Exchange(method="GET", path="/ok", status=200)
    with Store.open(tmp_path / "x.db") as store:
        session = store.create_session("s", source="proxy", upstream="http://127.0.0.1:1")
        assert store.add_exchanges(session.id, [plain, odd]) == 2
        back = {e.path: e for e in store.iter_exchanges(session.id)}
    got = back[odd.path]
    assert (got.path, got.query, got.reason) == (odd.path, odd.query, odd.reason)
    assert got.request_headers == odd.request_headers
    assert got.response_headers == odd.response_headers
    assert "/ok" in back
