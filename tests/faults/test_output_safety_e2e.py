"""Terminal escapes recorded through a real mitmdump never reach the terminal raw (issue 11,
item 8), and the JUnit files stay well-formed (item 7).

A client sends request lines whose paths hold `ESC[2J` and `ESC]0;pwned BEL` through
`shadowdiff record` (mitmdump with the addon) in front of a real server on 127.0.0.1; the
recording is replayed and diffed, then report, gate --junit, query and sessions print it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from shadowdiff.demo.servers import free_port
from shadowdiff.recorder.launcher import Recording, RecordOptions
from shadowdiff.store import Store
from tests.clirun import CliResult, invoke
from tests.faults.rawservers import echo_server, raw_exchange, url_of
from tests.screen import appears

pytestmark = pytest.mark.e2e

PATHS = [b"/a\x1b[2J/b", b"/t\x1b]0;pwned\x07/x"]
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _request(path: bytes) -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def _assert_safe(result: CliResult, *shown: str) -> None:
    for stream in (result.stdout, result.stderr):
        assert not RAW_CONTROL.search(stream), repr(RAW_CONTROL.findall(stream))
    for text in shown:
        assert appears(text, result.stdout), f"{text!r} not in {result.stdout!r}"


def test_escapes_recorded_through_mitmdump_are_shown_escaped(tmp_path: Path) -> None:
    db = tmp_path / "esc.db"
    with echo_server() as upstream:
        opts = RecordOptions(
            upstream=url_of(upstream), db=db, listen_port=free_port(), session="esc"
        )
        with Recording(opts) as rec:
            answers = [raw_exchange("127.0.0.1", opts.listen_port, _request(p)) for p in PATHS]
            summary = rec.stop()
        assert all(a.startswith(b"HTTP/1.1 200") for a in answers), answers
        assert summary.stored == 2
        with Store.open(db, readonly=True) as store:
            paths = {e.path for e in store.iter_exchanges(store.session("esc").id)}
        assert paths == {p.decode() for p in PATHS}  # the bytes really are in the store
        run = invoke(
            "replay-diff", "--target", url_of(upstream), "--name", "esc-run", "--db", str(db)
        )
    _assert_safe(run, "esc-run")

    junit = tmp_path / "gate.xml"
    gate = invoke("gate", "esc-run", "--junit", str(junit), "--db", str(db))
    _assert_safe(gate, "esc-run")
    names = {c.get("name") for c in ET.parse(junit).getroot().iter("testcase")}
    assert names == {"GET /a\\x1b[2J/b", "GET /t\\x1b]0;pwned\\x07/x"}

    report_xml = tmp_path / "report.xml"
    assert invoke("report", "esc-run", "-o", str(report_xml), "--db", str(db)).returncode == 0
    assert {c.get("name") for c in ET.parse(report_xml).getroot().iter("testcase")} == names

    for fmt in ("text", "markdown"):
        report = invoke("report", "esc-run", "--format", fmt, "--db", str(db))
        _assert_safe(report, "/a\\x1b[2J/b", "/t\\x1b]0;pwned\\x07/x")
    query = invoke("query", "SELECT path FROM exchanges", "--db", str(db))
    _assert_safe(query, "/a\\x1b[2J/b", "/t\\x1b]0;pwned\\x07/x")
    _assert_safe(invoke("sessions", "--db", str(db)), "esc")
