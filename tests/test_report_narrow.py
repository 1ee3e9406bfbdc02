"""At 80 columns nothing is cut (issue 10): names, ids and endpoints wrap, numbers stay whole.

Long session, run and endpoint names in a store built with tests/stores.py; the report is
rendered on a recording Console of width 80, and `sessions`, `runs`, `gate` and `diff` run
through the CLI with its console set to 80 columns. Every full name must be there (perhaps
folded down its column: `tests.screen.appears`), no '…', no line over 80 columns.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from shadowdiff.cli import output
from shadowdiff.report import build_report
from shadowdiff.report.text import render_text
from shadowdiff.store import Store
from tests import stores
from tests.clirun import invoke
from tests.screen import appears

pytestmark = pytest.mark.unit

SESSION = "checkout-production-recording-2026-11-30-eu-west-1-primary-cluster"
RUN = "candidate-checkout-production-2026-11-30T101500-with-feature-flags-enabled"
LONG = "/api/v2/organisations/{org}/projects/{project}/deployments/production-eu-west-1/status"
PATHS = ["/short", LONG, "/api/v2/organisations/{org}/members/{member}/permissions/effective"]
ENDPOINTS = [f"GET {p}" for p in PATHS]


def _slower(i: int, body: dict[str, object]) -> stores.Answer:
    return stores.Answer({key: i + 1 for key in body}, ms=12345.6)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "narrow.db"
    with Store.open(path) as store:
        # a field of its own per endpoint: a signature each, not one run-wide finding
        items = [(p, {key: 0}) for p, key in zip(PATHS * 3, "wvx" * 3, strict=True)]
        exchanges = stores.session(store, items, name=SESSION)
        stores.add_run(store, exchanges, RUN, _slower, base=stores.same)
    return path


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output.console, "width", 80)


def _assert_fits(text: str, *names: str, lines: bool = True) -> None:
    assert "…" not in text
    if lines:  # tables fit; one-line messages are soft-wrapped by the terminal, never cut
        assert max(len(line) for line in text.splitlines()) <= 80, text
    for name in names:
        assert appears(name, text), f"{name!r} not whole in:\n{text}"


def test_report_at_80_columns(db: Path) -> None:
    with Store.open(db, readonly=True) as store:
        report = build_report(store, RUN)
    console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    render_text(report, console)
    text = console.export_text()
    _assert_fits(text, RUN, SESSION, f"{RUN}-baseline", *ENDPOINTS, "12346", "×1234.56")
    assert appears(f"GET {LONG} | body.v:value", text)


@pytest.mark.usefixtures("narrow")
def test_sessions_and_runs_at_80_columns(db: Path) -> None:
    # the title line (the database path) is soft-wrapped by the terminal; the table fits
    title, sessions = invoke("sessions", "--db", str(db)).stdout.split("\n", 1)
    assert title.endswith("narrow.db")
    _assert_fits(sessions, SESSION, "1970-01-01")
    title, runs = invoke("runs", "--db", str(db)).stdout.split("\n", 1)
    assert title.endswith("narrow.db")
    _assert_fits(runs, RUN, f"{RUN}-baseline", SESSION, "candidate", "complete")


@pytest.mark.usefixtures("narrow")
def test_gate_and_diff_at_80_columns(db: Path) -> None:
    gate = invoke("gate", RUN, "--db", str(db))
    assert gate.returncode == 1
    _assert_fits(gate.stdout, RUN, *ENDPOINTS, lines=False)
    diff = invoke("diff", RUN, "--no-preset", "--db", str(db)).stdout
    _assert_fits(diff, RUN, lines=False)  # the summary line
    _assert_fits(diff.split("\n", 1)[1], f"GET {LONG} | body.v:value")  # the tables
