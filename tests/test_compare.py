"""`shadowdiff compare A B`: two sessions of one scripted scenario, each recorded in front of
its own real stateful server (tests/stateful.py), aligned by client identity and order.

Session B's clients carry other tokens (each server issues its own), its server has a planted
bug (PUT keeps nothing), one of its clients stops a request early and one sends another
request in place of a DELETE.
"""

from __future__ import annotations

import signal
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from shadowdiff.analysis.compare import _Line, align, compare_sessions
from shadowdiff.analysis.diffrun import diff_run, load_ruleset
from shadowdiff.errors import AnalysisError
from shadowdiff.records import Exchange
from shadowdiff.report.model import build_report
from shadowdiff.store import Store
from tests.chainapp import ChainApp, chain_app
from tests.clirun import invoke
from tests.conftest import RecorderProcess
from tests.stateful import lifecycle_traffic, stateful_server
from tests.test_chains_e2e import _traffic

USERS = 4
RULES = load_ruleset(None)[0]


def record_through(url: str, script: list[Exchange]) -> list[Exchange]:
    """Send the script's requests to a real server in order; the exchanges as recorded."""
    out = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for ex in script:
            headers = [(k, v) for k, v in ex.request_headers if k.lower() != "host"]
            t0 = time.time()
            got = client.request(ex.method, ex.path, headers=headers, content=ex.request_body)
            out.append(
                replace(
                    ex,
                    request_headers=[("Host", url.partition("://")[2]), *headers],
                    status=got.status_code,
                    response_headers=[(k.decode(), v.decode()) for k, v in got.headers.raw],
                    response_body=got.content,
                    started_at=t0,
                    duration_ms=got.elapsed.total_seconds() * 1000,
                )
            )
    return out


def _script_b() -> list[Exchange]:
    """Other tokens; user-3 stops before its last request; user-2 reads instead of deleting."""
    script = []
    for ex in lifecycle_traffic(USERS):
        user = ex.request_header("authorization") or ""
        if user == "user-3" and ex.method == "GET" and ex.status == 404:
            continue
        if user == "user-2" and ex.method == "DELETE":
            ex = replace(ex, method="GET")
        headers = [(k, f"b-{v}" if k == "Authorization" else v) for k, v in ex.request_headers]
        script.append(replace(ex, request_headers=headers))
    return script


def _sessions(db: Path) -> None:
    with (
        Store.open(db) as store,
        stateful_server(delay=0.0) as (url_a, _),
        stateful_server(delay=0.0) as (url_b, state_b),
    ):
        state_b.bug = "put-drops-name"
        for name, url, script in (
            ("flask", url_a, lifecycle_traffic(USERS)),
            ("fastapi", url_b, _script_b()),
        ):
            session = store.create_session(name, source="proxy", upstream=url)
            store.add_exchanges(session.id, record_through(url, script))


@pytest.mark.e2e
def test_compare_aligns_by_identity_and_order_and_reports_the_unaligned(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    _sessions(db)
    with Store.open(db) as store:
        done = compare_sessions(store, "flask", "fastapi", name="cmp")
        summary, _ = diff_run(store, "cmp", RULES)
        report = build_report(store, "cmp")
        run = store.run("cmp")
    steps = USERS * 6
    assert (done.aligned, done.unaligned, done.b_only) == (steps - 2, 2, 1)
    assert run.kind == "candidate" and run.target == "session:fastapi"
    assert summary.errors == 2
    errors = {t: n for t, n in summary.signatures.items() if "| error:" in t}
    assert sum(errors.values()) == 2 and all("error:unaligned" in t for t in errors)
    # the bug (each user's GET after PUT lacks the name) and user-2's item, never deleted in
    # B, still found by its last GET: 200 where A answered 404
    assert summary.different == USERS + 1
    texts = " ".join(summary.signatures)
    assert "body.name:missing" in texts and "status:404→200" in texts
    assert report.run.errors == 2 and report.drift is None


@pytest.mark.e2e
def test_cli_compare_then_report_and_gate(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    _sessions(db)
    done = invoke("compare", "flask", "fastapi", "--db", str(db), "--name", "cmp", "-j", "1")
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.split())
    assert f"run cmp: {USERS * 6 - 2} exchanges of flask aligned with fastapi, 2 unaligned" in out
    assert "1 of fastapi's requests have no partner in flask" in out
    shown = invoke("report", "cmp", "--db", str(db))
    assert shown.returncode == 0 and "session:fastapi" in shown.stdout
    gated = invoke("gate", "cmp", "--db", str(db))
    assert gated.returncode == 1, gated.stdout + gated.stderr
    again = invoke("compare", "flask", "flask", "--db", str(db))
    assert again.returncode == 2 and "compare needs two sessions" in again.stderr
    resumed = invoke("replay", "--db", str(db), "--resume", "cmp")
    assert resumed.returncode == 2 and "nothing to resume" in resumed.stderr


@pytest.mark.unit
def test_alignment_matches_shared_identities_first_then_by_first_appearance() -> None:
    a = [
        _Line(1, "client:x", "GET", "GET /a"),
        _Line(2, "auth:t1", "POST", "POST /b"),
        _Line(3, "auth:t2", "POST", "POST /b"),
        _Line(4, "auth:t1", "GET", "GET /c"),
    ]
    b = [
        _Line(11, "auth:u2", "POST", "POST /b"),  # B's first token goes with A's first
        _Line(12, "client:x", "GET", "GET /a"),
        _Line(13, "auth:u1", "POST", "POST /b"),
        _Line(14, "auth:u2", "GET", "GET /z"),
    ]
    got = align(a, b)
    assert got.pairs == {1: 12, 2: 11, 3: 13}
    assert got.unaligned == {
        4: "unaligned: request 2 of this client (GET /c) has no partner in session B, whose "
        "requests there are GET /z"
    }
    assert got.b_only == 1
    lonely = align([*a, _Line(5, "auth:t3", "GET", "GET /a")], b)  # B has no third client
    assert lonely.unaligned[5] == (
        "unaligned: request 1 of this client (GET /a) has no partner in session B, which has "
        "0 requests of this client"
    )


@pytest.mark.unit
def test_a_request_only_one_side_made_costs_only_itself() -> None:
    """B retried a request and skipped another: by position every later request would be
    unaligned; by the longest common subsequence only the skipped one is."""
    a = [
        _Line(i, "auth:t", m, f"{m} {p}")
        for i, (m, p) in enumerate(
            [
                ("POST", "/login"),
                ("POST", "/items"),
                ("GET", "/items/{id}"),
                ("PUT", "/items/{id}"),
                ("GET", "/items/{id}"),
                ("DELETE", "/items/{id}"),
            ],
            start=1,
        )
    ]
    b = [
        _Line(10 + i, "auth:u", m, f"{m} {p}")
        for i, (m, p) in enumerate(
            [
                ("POST", "/login"),
                ("POST", "/items"),
                ("POST", "/items"),
                ("GET", "/items/{id}"),
                ("GET", "/items/{id}"),
                ("DELETE", "/items/{id}"),
            ],
            start=1,
        )
    ]
    got = align(a, b)
    assert got.pairs == {1: 11, 2: 12, 3: 14, 5: 15, 6: 16}
    assert list(got.unaligned) == [4] and "(PUT /items/{id}) has no partner" in got.unaligned[4]
    assert got.b_only == 1  # B's retried POST
    with Store.open(":memory:") as store:
        session = store.create_session("one", source="har")
        with pytest.raises(AnalysisError, match="needs two sessions"):
            compare_sessions(store, "one", "one")
        assert session.name == "one"


def _record_scenario(db: Path, session: str, app: ChainApp) -> None:
    """The chains test's scripted scenario, recorded through a real mitmdump (default
    redaction) in front of `app`."""
    rec = RecorderProcess(app.url, db, session)
    try:
        _traffic(rec.url)
        code, _, err = rec.stop(signal.SIGINT)
    finally:
        rec.kill()
    assert code == 0, err


@pytest.mark.e2e
def test_compare_maps_each_servers_issued_values_through_chains(tmp_path: Path) -> None:
    """Each instance signs its own tokens and issues its own uuids (and sid cookies): chains
    map B's to A's, so two instances of one implementation show no difference."""
    db = tmp_path / "shop.db"
    with chain_app() as old, chain_app() as new:
        _record_scenario(db, "old", old)
        _record_scenario(db, "new", new)
        issued = [*old.issued, *new.issued]
    done = invoke("compare", "old", "new", "--db", str(db), "--name", "cmp", "-j", "1")
    assert done.returncode == 0, done.stderr
    assert "answers mapped through chains" in done.stdout
    with Store.open(db) as store:
        run = store.run("cmp")
        chained = sum("chained" in rp.flags for rp in store.iter_replays(run.id))
        summary, _ = diff_run(store, "cmp", RULES)
    assert (summary.total, summary.errors) == (15, 0)
    assert chained >= 5  # logins' tokens and cookies, created items' uuids
    assert summary.different == 0, summary.signatures
    data = db.read_bytes()
    assert not any(value.encode() in data for value in issued)  # redacted, never stored
