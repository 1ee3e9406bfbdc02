"""Change classes and volatile values end to end: tests/volatile_apps.py's old (Flask under
gunicorn) and new (FastAPI under uvicorn) services, traffic recorded through the real recorder,
replayed twice without a baseline and once with one, diffed, reported."""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from shadowdiff.analysis.gate import GateLimits, evaluate
from shadowdiff.demo.mix import PlannedRequest
from shadowdiff.demo.servers import HOST, PROJECT_ROOT, RunningServer, free_port, launch
from shadowdiff.differ import RuleSet, parse_rules
from shadowdiff.report import build_report
from shadowdiff.report.json import to_dict
from shadowdiff.report.text import render_text
from shadowdiff.store import Store
from shadowdiff.vocabulary import Verdict
from tests.clirun import invoke
from tests.pipeline import DemoPipeline, RunPlan, Traffic, Variant, build

pytestmark = pytest.mark.e2e

PARSE, PAGE, THINGS = "POST /parse", "GET /page/{id}", "GET /things/{id}"
STICKY, SHAPES, STATUS, NULLS = (
    "GET /sticky/{id}",
    "GET /shapes/{id}",
    "GET /status/{id}",
    "GET /nulls/{id}",
)

#: What every Flask -> FastAPI pair shows, as in the preset; nothing about ids or bodies.
RULES = """
[[rules]]
name = "server header"
kind = "headers"
ignore = ["server", "content-length", "transfer-encoding", "connection", "keep-alive"]
reason = "server software and framing"
"""


def _rules() -> RuleSet:
    return parse_rules(RULES, "volatile.toml")


def _get(path: str, status: int = 200) -> PlannedRequest:
    return PlannedRequest(-1, "volatile", "GET", path, "", (), b"", status)


def _post(path: str, body: bytes, status: int) -> PlannedRequest:
    return PlannedRequest(
        -1, "volatile", "POST", path, "", (("Content-Type", "application/json"),), body, status
    )


REQUESTS = (
    *(_post("/parse", b'{"name": "x", "size": 1, "colour": 2}', 400) for _ in range(3)),
    *(_post("/parse", b"{not json", 400) for _ in range(3)),
    *(_get(f"/page/{n}") for n in range(1, 5)),
    *(_get(f"/things/{n}") for n in range(1, 7)),
    *(_get(f"/sticky/{n}") for n in range(1, 5)),
    *(_get(f"/shapes/{n}") for n in range(1, 4)),
    *(_get(f"/status/{n}", 500) for n in range(1, 5)),
    *(_get(f"/nulls/{n}") for n in range(1, 3)),
)


def _command(kind: str, port: int) -> list[str]:
    if kind == "old":
        return [
            sys.executable, "-m", "gunicorn", "--bind", f"{HOST}:{port}",
            "--worker-class", "gthread", "--workers", "1", "--threads", "4",
            "--log-level", "warning", "--pythonpath", str(PROJECT_ROOT),
            "tests.volatile_apps:old_app",
        ]  # fmt: skip
    return [
        sys.executable, "-m", "uvicorn", "--host", HOST, "--port", str(port),
        "--log-level", "warning", "--no-access-log", "--app-dir", str(PROJECT_ROOT),
        "tests.volatile_apps:new_app",
    ]  # fmt: skip


def _server(kind: str) -> RunningServer:
    port = free_port()
    return launch(kind, _command(kind, port), port)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoPipeline]:
    """Recorded once from the old service; replayed to the new one twice without a baseline
    (`one`, `two`) and once with one (`based`), and to the old one (`aa`), each diffed."""
    with _server("old") as old, _server("new") as new:
        urls = {"old": old.url, "new": new.url}
        variant = Variant(
            "volatile",
            upstream="old",
            traffic=(Traffic("volatile", extra=REQUESTS),),
            runs=(
                *(
                    RunPlan(name, target="new", baseline=name == "based", rules=_rules())
                    for name in ("one", "two", "based")
                ),
                RunPlan("aa", target="old", rules=_rules()),  # the old service against itself
            ),
        )
        db = tmp_path_factory.mktemp("volatile") / "volatile.db"
        yield build(variant, db, urls.__getitem__)


@pytest.fixture
def store(pipeline: DemoPipeline) -> Iterator[Store]:
    with Store.open(pipeline.db) as s:
        yield s


def _signatures(store: Store, run: str, endpoint: str) -> list[str]:
    groups = store.signature_groups(store.run(run).id)
    return sorted(g.text for g in groups if g.endpoint == endpoint)


def _verdicts(store: Store, run: str, endpoint: str) -> dict[str, int]:
    counts = store.verdicts_per_endpoint(store.run(run).id).get(endpoint, {})
    return {str(k): v for k, v in counts.items()}


def test_set_order_and_a_leaked_bytes_repr_are_two_signatures(store: Store) -> None:
    assert _signatures(store, "one", PARSE) == [
        f"{PARSE} | body.message:value/affix",
        f"{PARSE} | body.message:value/reordered",
    ]


def test_an_off_by_one_page_is_one_signature_stable_across_runs(store: Store) -> None:
    one, two = _signatures(store, "one", PAGE), _signatures(store, "two", PAGE)
    assert one == two == [f"{PAGE} | body.items:value/shifted"]
    # page 1 is right; pages 2 to 4 are shifted, though their inner fields differ unalike
    assert _verdicts(store, "one", PAGE) == {"same": 1, "different": 3}


def test_every_signature_is_the_same_in_two_runs_of_the_same_traffic(store: Store) -> None:
    def signatures(run: str) -> set[tuple[str, str, int]]:
        groups = store.signature_groups(store.run(run).id)
        return {(g.signature or "", g.text, g.requests) for g in groups}

    one = signatures("one")
    assert one == signatures("two")
    assert len(one) == 7  # parse x2, page, shapes, status x2, nulls: one per cause


def test_volatile_values_do_not_count_without_a_baseline(store: Store) -> None:
    assert _verdicts(store, "one", THINGS) == {"same": 6}
    volatile = {
        (v.endpoint, v.general_path, v.kind): v for v in store.volatile_values(store.run("one").id)
    }
    for path, kind in (
        ("body.uuid", "value"),
        ("body.created_at", "value"),
        ("body.stamp", "value"),
        ("headers.x_request_id", "header"),
    ):
        assert volatile[(THINGS, path, kind)].exchanges == 6, path
    # the old service's stable uuid against the new one's fresh ones: without a baseline
    # nothing tells them from volatile values, so they do not count either (but are listed)
    assert _verdicts(store, "one", STICKY) == {"same": 4}
    assert volatile[(STICKY, "body.ref", "value")].exchanges == 4


def test_a_baseline_confirms_volatile_values_and_counts_the_stable_ones(store: Store) -> None:
    assert _verdicts(store, "based", THINGS) == {"same": 6}
    assert _verdicts(store, "based", STICKY) == {"different": 4}
    assert _signatures(store, "based", STICKY) == [f"{STICKY} | body.ref:value/volatile"]
    report = build_report(store, "based")
    assert report.volatile_heading.startswith("volatile values confirmed by the baseline")
    assert {(v.endpoint, v.path) for v in report.volatile} >= {
        (THINGS, "body.uuid"),
        (THINGS, "headers.x_request_id"),
    }
    assert (STICKY, "body.ref") not in {(v.endpoint, v.path) for v in report.volatile}


def test_the_old_service_against_itself_gates_clean(store: Store) -> None:
    # ids, clocks and an X_Request_ID header fresh on every answer; only server and framing
    # headers have a rule
    result = evaluate(store, "aa", GateLimits())
    assert result.passed, result.reasons()
    # nothing hidden unseen: the gate says what it did not count
    [note] = [n for n in result.notes if "volatile" in n]
    count = int(note.split(" requests")[0].rsplit(" ", 1)[1])
    assert count >= 9  # /things and /shapes always; others where the Date header turned
    assert "(likely volatile, no baseline; diff --count-volatile counts them)" in note
    assert store.count_diffs(store.run("aa").id, Verdict.DIFFERENT) == 0
    paths = {(v.endpoint, v.general_path) for v in store.volatile_values(store.run("aa").id)}
    assert {(THINGS, "headers.x_request_id"), (SHAPES, "body.ref"), (SHAPES, "body.at")} <= paths


def test_changed_shapes_count(store: Store) -> None:
    for run in ("one", "based"):
        assert _verdicts(store, run, SHAPES) == {"different": 3}
        assert _signatures(store, run, SHAPES) == [
            f"{SHAPES} | body.at:value/other, body.ref:type/other"
        ]


def test_status_pairs_are_separate_signatures(store: Store) -> None:
    texts = _signatures(store, "one", STATUS)
    assert len(texts) == 2
    assert any("status:500→403" in t for t in texts)
    assert any("status:500→200" in t for t in texts)
    assert not any("500→403" in t and "500→200" in t for t in texts)


def test_null_and_missing_are_distinct_in_rows_and_reports(
    store: Store, pipeline: DemoPipeline
) -> None:
    assert _signatures(store, "one", NULLS) == [f"{NULLS} | body.a:missing/null, body.d:missing"]
    with sqlite3.connect(pipeline.db) as conn:
        rows = conn.execute(
            "SELECT f.path, f.kind, f.old_value, f.new_value, f.change FROM diff_fields f "
            "JOIN runs r ON r.id = f.run_id WHERE r.name = 'one' AND f.endpoint = ? "
            "AND f.rule IS NULL "
            "AND f.exchange_id = (SELECT min(exchange_id) FROM diff_fields WHERE endpoint = ?) "
            "ORDER BY f.path",
            [NULLS, NULLS],
        ).fetchall()
    assert rows == [
        ("body.a", "missing", "null", None, "null"),
        ("body.d", "missing", "1", None, "absent"),
    ]
    data = to_dict(build_report(store, "one", samples=1))
    [sig] = [s for s in data["signatures"] if s["endpoint"] == NULLS]
    fields = {f["path"]: f for f in sig["samples"][0]["fields"]}
    assert (fields["body.a"]["old"], fields["body.a"]["old_present"]) == ("null", True)
    assert (fields["body.a"]["new"], fields["body.a"]["new_present"]) == (None, False)
    assert fields["body.a"]["change"] == "null"
    text = invoke("report", "one", "--db", str(pipeline.db), "--format", "text").stdout
    assert "body.a missing/null: null -> (missing)" in text
    assert "body.d missing: 1 -> (missing)" in text
    junit = invoke("report", "one", "--db", str(pipeline.db), "--format", "junit").stdout
    assert "body.a missing/null: null -&gt; (missing)" in junit
    markdown = invoke("report", "one", "--db", str(pipeline.db), "--format", "markdown").stdout
    assert "| `body.a` | missing/null | `null` | `(missing)` |" in markdown


def test_count_volatile_counts_them(pipeline: DemoPipeline, tmp_path: Path) -> None:
    db = tmp_path / "copy.db"
    with sqlite3.connect(pipeline.db) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    result = invoke(
        "diff", "two", "--count-volatile", "--no-preset", "-j", "1", "--db", str(db), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    with Store.open(db) as store:
        verdicts = _verdicts(store, "two", THINGS)
        assert verdicts == {"different": 6}
        assert store.volatile_values(store.run("two").id) == []
        texts = _signatures(store, "two", THINGS)
    # without the preset, server and framing headers show too (the Date header, RFC 1123,
    # is volatile where the second turned between recording and replay)
    assert texts and all(
        "body.uuid:value/volatile" in t and "headers.x_request_id:header/volatile" in t
        for t in texts
    )
    again = invoke("diff", "two", "--no-preset", "--rules", str(_rules_file(tmp_path)), "--db",
                   str(db), cwd=tmp_path)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "differences of volatile values not counted (likely volatile" in again.stdout
    with Store.open(db) as store:
        assert _verdicts(store, "two", THINGS) == {"same": 6}


def _rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    return path


def test_report_formats_show_the_volatile_section(pipeline: DemoPipeline, store: Store) -> None:
    db = str(pipeline.db)
    console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    render_text(build_report(store, "one"), console)
    text = console.export_text()
    section = text[text.index("likely volatile (no baseline)") :]
    assert max(len(line) for line in section.splitlines()) <= 80, section
    assert "GET /things/{id}" in section and "requests" in section
    markdown = invoke("report", "one", "--db", db, "--format", "markdown").stdout
    assert "## Likely volatile (no baseline)" in markdown and "body.uuid" in markdown
    data = json.loads(invoke("report", "one", "--db", db, "--format", "json").stdout)
    paths = {(v["endpoint"], v["path"]) for v in data["volatile"]}
    assert (THINGS, "body.created_at") in paths
    html = invoke("report", "one", "--db", db, "--format", "html").stdout
    assert 'id="volatile-section"' in html
    # the two causes at body.message read apart on their cards too
    assert '<span class="chip">body.message:value/affix</span>' in html
    assert '<span class="chip">body.message:value/reordered</span>' in html


def test_jobs_give_the_same_volatile_decisions(pipeline: DemoPipeline, tmp_path: Path) -> None:
    from shadowdiff.analysis.parallel import diff_run_jobs

    db = tmp_path / "jobs.db"
    with sqlite3.connect(pipeline.db) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    query = (
        "SELECT f.exchange_id, f.path, f.kind, f.change, f.rule FROM diff_fields f "
        "JOIN runs r ON r.id = f.run_id WHERE r.name = ? ORDER BY 1, 2, 3, 4, 5"
    )
    with sqlite3.connect(db) as conn:
        before = conn.execute(query, ["based"]).fetchall()
    with Store.open(db) as store:
        cand, base = diff_run_jobs(store, "based", _rules(), jobs=2, min_pairs=0)
    assert base is not None and cand.volatile > 0
    with sqlite3.connect(db) as conn:
        assert conn.execute(query, ["based"]).fetchall() == before
    assert ("(volatile)",) in {(r[4],) for r in before}
