"""Cross-cutting findings and pooled noise end to end, on real servers (tests/crosscut_apps.py
under gunicorn), traffic recorded through the real recorder and replayed with a baseline.

* A/A: the same Flask app served twice, an underscore request-id header on every answer and
  a key present on about half of them. Noise pooled across the six endpoints proposes ONE rule
  per path (not one per endpoint); with pooling alone the run gates clean.
* CORS: the candidate adds CORS headers on every endpoint and breaks one field on one
  endpoint. The CORS headers are ONE run-wide finding with its coverage, no signature repeats
  them, the real change is its own signature; accepting the finding passes the gate on it
  while the real change still fails; JUnit shows both. Old-vs-old never shows the added
  headers, so noise never proposes them.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from shadowdiff.analysis.diffrun import diff_run
from shadowdiff.analysis.gate import GateLimits, evaluate
from shadowdiff.analysis.noise import measure_noise, propose_rules, verify
from shadowdiff.demo.servers import HOST, PROJECT_ROOT, RunningServer, free_port, launch
from shadowdiff.demo.traffic import PlannedRequest
from shadowdiff.differ import load_preset
from shadowdiff.report import build_report, render_string
from shadowdiff.report.junit import render_junit
from shadowdiff.report.text import render_text
from shadowdiff.store import Store
from tests.clirun import invoke
from tests.crosscut_apps import KINDS
from tests.pipeline import RunPlan, Traffic, Variant, build

PER_KIND = 20  # a chance split of the 50% key on one endpoint (0 of 20 vs 5+) is ~1e-6
TOTAL = PER_KIND * len(KINDS)
ORDERS = "GET /orders/{id}"
REQUEST_ID = "headers.x_request_id:header"
REQUEST_ID_ITEM = f"{REQUEST_ID}/volatile"  # as a signature item: with its change class
CORS_ITEMS = (
    "headers.access-control-allow-origin:extra",
    "headers.vary:extra",
)


def _gunicorn(app: str) -> RunningServer:
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "--bind", f"{HOST}:{port}",
        "--worker-class", "gthread", "--workers", "1", "--threads", "4",
        "--log-level", "warning", "--pythonpath", str(PROJECT_ROOT),
        f"tests.crosscut_apps:{app}",
    ]  # fmt: skip
    return launch(app, command, port)


def _traffic(session: str) -> Traffic:
    return Traffic(
        session,
        extra=tuple(
            PlannedRequest(-1, "crosscut", "GET", f"/{kind}/{n}", "", (), b"", 200)
            for n in range(1, PER_KIND + 1)
            for kind in KINDS
        ),
    )


def _variant(name: str, upstream: str, target: str) -> Variant:
    return Variant(
        name,
        upstream=upstream,
        traffic=(_traffic(name),),
        runs=(
            RunPlan(
                name,
                target=target,
                baseline=True,
                session=name,
                rules=load_preset("flask-to-fastapi"),
                sent=2 * TOTAL,
                # the request-id header is volatile (a uuid each answer): counted here, so
                # that pooling measures it as noise the way it would any varying value
                count_volatile=True,
            ),
        ),
    )


@pytest.fixture(scope="module")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Both pairs recorded, replayed with a baseline and diffed, each in its own database."""
    apps = ("twin_app", "plain_app", "cors_app")
    servers: dict[str, RunningServer] = {}
    try:
        for app in (*apps, "twin_app#2"):
            servers[app] = _gunicorn(app.split("#")[0])
        urls = {name: s.url for name, s in servers.items()}
        out = {}
        for variant in (
            _variant("aa", "twin_app", "twin_app#2"),
            _variant("cors", "plain_app", "cors_app"),
        ):
            db = tmp_path_factory.mktemp(variant.name) / f"{variant.name}.db"
            build(variant, db, urls.__getitem__)
            out[variant.name] = db
        yield out
    finally:
        for server in servers.values():
            server.stop()


@pytest.mark.e2e
def test_aa_noise_pooled_into_one_rule_per_path(dbs: dict[str, Path]) -> None:
    with Store.open(dbs["aa"]) as store:
        report = measure_noise(store, "aa")
        proposals = propose_rules(report)
        by_path = {p.path: p for p in proposals}
        # one rule for the header over all six endpoints, not one per endpoint
        rid = by_path["headers.x_request_id"]
        assert (rid.kind, rid.scoped, len(rid.endpoints)) == ("keys_only", False, len(KINDS))
        assert (rid.samples, rid.r, rid.n) == (TOTAL, 1.0, 1.0)
        # a key present on about half the answers of either side: presence noise, ignored
        hint = by_path["body.hint"]
        assert (hint.kind, hint.scoped) == ("ignore", False)
        assert set(hint.diff_kinds) <= {"missing", "extra"}
        assert set(by_path) == {"headers.x_request_id", "body.hint"}, report.lines()
        # each proposal removes the diffs it is for
        checked = verify(store, "aa", load_preset("flask-to-fastapi"), proposals)
        assert checked.kept == proposals and checked.differing_after == 0, checked.lines()
        # pooling alone: every differing request is noise-only, the gate passes
        gate = evaluate(store, "aa", GateLimits())
        assert gate.passed, gate.lines()
        assert gate.differing == TOTAL and gate.counted == 0
        # the header is on every endpoint: one run-wide finding, marked as noise
        findings = build_report(store, "aa").findings
    assert [f.items for f in findings if REQUEST_ID_ITEM in f.items] == [[REQUEST_ID_ITEM]]
    assert all(f.noise for f in findings), findings


def _finding(store: Store) -> str:
    """The CORS finding's id (the request-id header, on every endpoint too, is another)."""
    found = store.findings(store.run("cors").id)
    assert {f"{r.general_path}:{r.kind}" for r in found} == {*CORS_ITEMS, REQUEST_ID}, found
    rows = [r for r in found if r.kind == "extra"]
    assert len({r.finding_id for r in rows}) == 1
    assert {(r.endpoints, r.endpoints_with_field, r.exchanges) for r in rows} == {
        (len(KINDS), len(KINDS), TOTAL)
    }
    return rows[0].finding_id


@pytest.mark.e2e
def test_cors_is_one_run_wide_finding(dbs: dict[str, Path]) -> None:
    with Store.open(dbs["cors"]) as store:
        ident = _finding(store)
        texts = {text: n for _, text, n in store.signature_counts(store.run("cors").id)}
        report = build_report(store, "cors")
        narrowed = build_report(store, "cors", signature=ident[:6])  # a finding's id
        proposals = propose_rules(measure_noise(store, "cors"))
    # --signature with a finding's id: the requests that carry it, the real change among them
    assert sum(s.requests for s in narrowed.signatures) == TOTAL
    assert f"{ORDERS} | body.total:value/number" in {s.text for s in narrowed.signatures}
    # no signature repeats the CORS headers; the real change is a signature of its own
    assert texts == {
        f"run-wide | {', '.join(CORS_ITEMS)}, {REQUEST_ID_ITEM}": TOTAL - PER_KIND,
        f"{ORDERS} | body.total:value/number": PER_KIND,
    }
    cors = next(f for f in report.findings if f.finding_id == ident)
    assert cors.coverage == f"on 6 of 6 endpoints where the field exists; {TOTAL} exchanges"
    assert cors.structural and cors.noise is False
    # the request-id header: its own finding, and noise (old-vs-old shows it as often)
    assert [(f.items, f.noise) for f in report.findings if f is not cors] == [
        ([REQUEST_ID_ITEM], True)
    ]
    # old-vs-old never shows the added headers: never proposed as noise (the request id is)
    assert [p.path for p in proposals] == ["headers.x_request_id"]
    html, md = render_string(report, "html"), render_string(report, "markdown")
    assert html.index('id="findings-section"') < html.index('id="signatures"')
    assert ident in html and "access-control-allow-origin" in html
    assert md.index("## Run-wide findings") < md.index("## Root causes")
    data = json.loads(render_string(report, "json"))
    cors_data = next(f for f in data["findings"] if f["finding_id"] == ident)
    assert cors_data["coverage"] == cors.coverage and cors_data["structural"] is True
    assert {v["new"] for v in cors_data["samples"]} == {'"*"', '"Origin"'}
    console = Console(width=80, record=True, color_system=None)
    render_text(report, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert text.index("run-wide findings") < text.index("root causes")
    assert ident in text


@pytest.mark.e2e
def test_accepting_the_finding_leaves_the_real_change_failing(
    dbs: dict[str, Path], tmp_path: Path
) -> None:
    db = str(dbs["cors"])
    with Store.open(db) as store:
        ident = _finding(store)
    plain = invoke("gate", "cors", "--db", db)
    assert plain.returncode == 1
    structural = [line for line in plain.stdout.splitlines() if "structural" in line]
    # the CORS headers fail once for the run, not once per endpoint
    assert len(structural) == 1 and f"finding {ident}" in structural[0], plain.stdout
    assert all(item in structural[0] for item in CORS_ITEMS)
    accepted = tmp_path / "accepted.toml"
    done = invoke(
        "accept", "cors", "--db", db, "--signature", ident, "--reason", "CORS by design",
        "-o", str(accepted),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f'signature = "{ident}"' in accepted.read_text()
    junit = tmp_path / "gate.xml"
    gated = invoke("gate", "cors", "--db", db, "--accepted", str(accepted), "--junit", str(junit))
    assert gated.returncode == 1
    assert "structural" not in gated.stdout and ident not in gated.stdout, gated.stdout
    assert f"{ORDERS} | body.total:value/number" in gated.stdout
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases[ORDERS].find("failure") is not None
    assert f"run-wide: {ident}" not in cases
    assert all(cases[f"GET /{k}/{{id}}"].find("failure") is None for k in KINDS if k != "orders")


@pytest.mark.e2e
def test_report_junit_shows_finding_and_signature(dbs: dict[str, Path]) -> None:
    with Store.open(dbs["cors"]) as store:
        ident = _finding(store)
        xml = render_junit(build_report(store, "cors"))
    cases = {c.get("name"): c for c in ET.fromstring(xml).iter("testcase")}
    noise = [c for name, c in cases.items() if name.startswith("run-wide") and ident not in name]
    assert len(noise) == 1 and noise[0].find("failure") is None  # the request id: noise
    finding = cases[f"run-wide: {ident}"].find("failure")
    assert finding is not None and "on 6 of 6 endpoints" in (finding.get("message") or "")
    orders = cases[ORDERS].find("failure")
    assert orders is not None and "body.total:value" in (orders.get("message") or "")
    assert "access-control" not in (orders.get("message") or "")


@pytest.mark.e2e
def test_aa_pair_gates_clean_with_no_rules_when_volatile_values_are_recognised(
    dbs: dict[str, Path],
) -> None:
    with Store.open(dbs["aa"]) as store:
        diff_run(store, "aa", load_preset("flask-to-fastapi"))  # volatile values not counted
        gate = evaluate(store, "aa", GateLimits())
        report = build_report(store, "aa")
    assert gate.passed, gate.lines()
    assert [v.path for v in report.volatile] == ["headers.x_request_id"] * len(
        report.volatile
    ) and report.volatile
