"""Recorded values never drive the terminal nor break XML (issue 11, items 7 and 8).

A store whose endpoints hold terminal escape sequences (`ESC[2J` clears the screen,
`ESC]0;...BEL` retitles the window), a C1 CSI, a NUL and rich markup, built with
tests/stores.py; every command that prints them runs through the real CLI (in-process) and
no raw control byte reaches stdout or stderr, while its escaped form is visible. The JUnit
files of `gate --junit` and `report --format junit` parse with xml.etree.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from shadowdiff.cli.query_output import render_result
from shadowdiff.formatting import json_text, visible, xml_text
from shadowdiff.store import Store
from tests import stores
from tests.clirun import CliResult, invoke
from tests.screen import appears

pytestmark = pytest.mark.unit

CLEAR = "/a\x1b[2J/b"
TITLE = "/t\x1b]0;pwned\x07/x"
ODD = "/n\x00\x9b31m/[bold]markup[/bold]"
# any C0 control but tab and newline, DEL, C1: none may reach a terminal raw
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _changed(i: int, body: dict[str, Any]) -> stores.Answer:
    # two endpoints change (on every endpoint it would be one run-wide finding, whose
    # signature names no endpoint)
    return stores.Answer({**body, "v": body["v"] + 1} if i % 3 != 1 else body)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "esc.db"
    with Store.open(path) as store:
        items = [(p, {"v": i, "k\x1b[31m": "x"}) for i, p in enumerate([CLEAR, TITLE, ODD] * 2)]
        exchanges = stores.session(store, items, name="sess\x1b[2J[red]x[/red]")
        stores.add_run(store, exchanges, "r\x1b]0;run\x07", _changed, base=stores.same)
    return path


def _run(db: Path, *args: str) -> CliResult:
    return invoke(*args, "--db", str(db))


def _assert_safe(result: CliResult, *shown: str) -> None:
    for stream in (result.stdout, result.stderr):
        assert not RAW_CONTROL.search(stream), repr(RAW_CONTROL.findall(stream))
    for text in shown:
        assert appears(text, result.stdout), f"{text!r} not in {result.stdout!r}"


RUN = "r\x1b]0;run\x07"


def test_visible_escapes_controls_and_keeps_tabs_and_newlines() -> None:
    assert visible(TITLE) == "/t\\x1b]0;pwned\\x07/x"
    assert visible("a\tb\nc\rd\x7f\x9b\udce9") == "a\tb\nc\\x0dd\\x7f\\x9b\\udce9"
    assert xml_text("a\x00\tb\ufffe\ud800\x1b") == "a\\x00\tb\\ufffe\\ud800\\x1b"
    assert json.loads(json_text(json.dumps("\x9b\x7f", ensure_ascii=False))) == "\x9b\x7f"


@pytest.mark.parametrize("fmt", ["text", "markdown", "json", "html", "junit"])
def test_report_prints_no_raw_control(db: Path, fmt: str) -> None:
    result = _run(db, "report", RUN, "--format", fmt)
    assert result.returncode == 0, result.stderr
    shown = {"json": ["\\u001b[2J"], "html": [], "junit": ["\\x1b[2J"]}
    _assert_safe(result, *shown.get(fmt, ["\\x1b[2J", "\\x1b]0;pwned\\x07", "\\x9b31m"]))
    if fmt in ("text", "markdown"):
        assert "[bold]markup[/bold]" in result.stdout  # rich markup is not interpreted


def test_gate_lines_and_junit(db: Path, tmp_path: Path) -> None:
    junit = tmp_path / "gate.xml"
    result = _run(db, "gate", RUN, "--junit", str(junit))
    assert result.returncode == 1
    _assert_safe(result, "\\x1b]0;run\\x07", "\\x1b[2J")
    names = {c.get("name") for c in ET.parse(junit).getroot().iter("testcase")}
    assert "GET /a\\x1b[2J/b" in names and "GET /t\\x1b]0;pwned\\x07/x" in names
    assert any(n and n.startswith("GET /n\\x00\\x9b31m") for n in names)


def test_report_junit_parses_and_names_every_endpoint(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.xml"
    assert _run(db, "report", RUN, "-o", str(out)).returncode == 0
    root = ET.parse(out).getroot()
    names = {c.get("name") for c in root.iter("testcase")}
    assert len(names) == 3 and "GET /a\\x1b[2J/b" in names
    assert root.find("testsuite") is not None
    assert "\\x1b]0;run\\x07" in (root.find("testsuite").get("name") or "")  # type: ignore[union-attr]


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_query_prints_no_raw_control(db: Path, fmt: str) -> None:
    result = _run(db, "query", "SELECT path, method FROM exchanges", "--format", fmt)
    assert result.returncode == 0, result.stderr
    if fmt == "csv":  # data, not a terminal: written as stored
        assert "\x1b[2J" in result.stdout
        return
    _assert_safe(result, "\\u001b[2J" if fmt == "json" else "\\x1b[2J")


def test_query_csv_on_a_terminal_is_escaped() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80)
    render_result(["path"], [(TITLE,)], "csv", console)
    assert "\x1b" not in out.getvalue() and "\\x1b]0;pwned\\x07" in out.getvalue()


def test_diff_summary_and_signatures(db: Path) -> None:
    result = _run(db, "diff", RUN, "--no-preset")
    assert result.returncode == 0, result.stderr
    _assert_safe(result, "\\x1b]0;run\\x07", "\\x1b[2J", "\\x9b31m")


def test_sessions_and_runs_tables(db: Path) -> None:
    sessions = _run(db, "sessions")
    _assert_safe(sessions, "\\x1b[2J[red]x[/red]")
    runs = _run(db, "runs")
    _assert_safe(runs, "\\x1b]0;run\\x07", "\\x1b[2J[red]x[/red]")


def test_noise_lines(db: Path) -> None:
    result = _run(db, "noise", RUN, "--no-preset")
    assert result.returncode == 0, result.stderr
    _assert_safe(result, "\\x1b]0;run\\x07")
