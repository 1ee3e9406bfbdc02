"""`shadowdiff import` is all or nothing: a failure leaves no session, and a session name in
use is refused instead of appended to. Real files, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mitmproxy import io
from mitmproxy.test import tflow

from shadowdiff.store import Store
from tests.clirun import invoke
from tests.conftest import assert_one_line_error

pytestmark = pytest.mark.unit


def _entry(path: str, http_version: str = "HTTP/1.1") -> dict[str, object]:
    return {
        "startedDateTime": "2024-05-01T10:00:00.000Z",
        "time": 12,
        "request": {
            "method": "GET",
            "url": f"http://127.0.0.1:5000{path}",
            "httpVersion": http_version,
            "headers": [],
        },
        "response": {
            "status": 200,
            "statusText": "OK",
            "headers": [{"name": "Content-Type", "value": "text/plain"}],
            "content": {"text": "ok"},
        },
    }


def _har(path: Path, entries: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": entries}}))
    return path


def _flows(path: Path, statuses: list[int]) -> Path:
    with path.open("wb") as fh:
        writer = io.FlowWriter(fh)
        for n, status in enumerate(statuses):
            flow = tflow.tflow(resp=True)
            flow.request.path = f"/f{n}"
            assert flow.response is not None
            flow.response.status_code = status
            writer.add(flow)
    return path


def _sessions(db: Path) -> dict[str, int]:
    with Store.open(db) as store:
        return {s.session.name: s.exchanges for s in store.list_sessions()}


def test_the_same_session_name_twice_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "i.db"
    first = _har(tmp_path / "a.har", [_entry("/a"), _entry("/b")])
    second = _har(tmp_path / "b.har", [_entry("/c")])
    ok = invoke("import", str(first), "--db", str(db), "--session", "imp")
    assert ok.returncode == 0, ok.stderr
    again = invoke("import", str(second), "--db", str(db), "--session", "imp")
    assert_one_line_error(again, "'imp'", "--session")
    assert _sessions(db) == {"imp": 2}  # nothing appended
    other = invoke("import", str(second), "--db", str(db), "--session", "imp2")
    assert other.returncode == 0, other.stderr
    assert _sessions(db) == {"imp": 2, "imp2": 1}


@pytest.mark.parametrize("kind", ["flow-status", "har-version"])
def test_an_import_the_store_refuses_leaves_no_session(tmp_path: Path, kind: str) -> None:
    """The file reads fine, but one exchange cannot be stored (a status of 10**30 does not
    fit an SQLite INTEGER; a lone surrogate in the HTTP version is not UTF-8): the import
    fails with one line and leaves neither a session nor an exchange."""
    db = tmp_path / "i.db"
    if kind == "flow-status":
        bad = _flows(tmp_path / "bad.mitm", [200, 10**30, 200])
    else:
        bad = _har(tmp_path / "bad.har", [_entry("/a"), _entry("/b", "HTTP/1.1\ud800")])
    for session in (["--session", "named"], []):
        result = invoke("import", str(bad), "--db", str(db), *session)
        assert_one_line_error(result, str(bad), "nothing was imported")
    assert _sessions(db) == {}
    good = invoke("import", str(_flows(tmp_path / "ok.mitm", [200])), "--db", str(db))
    assert good.returncode == 0, good.stderr
    assert list(_sessions(db).values()) == [1]
