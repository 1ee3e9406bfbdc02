"""Reports on a real pipeline: Flask recorded through the proxy, replayed to the FastAPI port.

One database, built once per session by the shared `demo_pipeline` fixture: ~150 requests
of the demo mix plus a request whose 422 answer quotes a `<script>` payload, replayed (with
a baseline) to the port, to the port with the regression switch, and diffed under the
shipped rules. Every figure of a report is checked against SQL written here, independently
of the report code.
"""

from __future__ import annotations

import io
import json
import statistics
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console

from shadowdiff.analysis.diffrun import load_ruleset
from shadowdiff.analysis.gate import GateLimits, evaluate
from shadowdiff.analysis.noise import DEFAULT_MIN_SAMPLES, measure_noise
from shadowdiff.demo.model import FEATURES
from shadowdiff.demo.traffic import PlannedRequest
from shadowdiff.differ import RuleSet, generalize_path, parse_rules
from shadowdiff.report import FORMATS, ReportError, build_report, render, render_string, to_dict
from shadowdiff.store import Store
from tests.pipeline import (
    DOWN,
    PRESET_RULES_THE_DEMO_NEVER_USES,
    DemoPipeline,
    RunPlan,
    Traffic,
    Variant,
)

pytestmark = pytest.mark.e2e

DEMO_RULES = Path(__file__).resolve().parent.parent / "shadowdiff" / "demo" / "rules.toml"
PAYLOAD = "<script>document.title='pwned'</script>"
XSS_CSV = (",".join(FEATURES) + "\n" + ",".join([PAYLOAD, "1", "2", "3", "4"]) + "\n").encode()
REGRESSION_SIGNATURE = "POST /predict/ | body.predictions[*]:value/number"
NOISY_RULES = ("request-id headers",)
# a rule for a field the service no longer has: it must be reported as matching nothing
UNUSED_RULE = """
[[rules]]
name = "legacy score"
kind = "ignore"
path = "body.legacy_score"
reason = "removed in v2"
"""  # left out of the "noisy" run


# the noisy run counts volatile values, so that X-Request-ID's are left to the noise measure;
# the body's ids and clocks (volatile too) are kept out of it by a rule
IDS_AND_CLOCKS = """
[[rules]]
name = "per-request ids and clocks"
kind = "keys_only"
paths = ["body.request_id", "body.timestamp"]
reason = "a fresh id and the answer's clock"
"""


def _rules() -> tuple[RuleSet, RuleSet]:
    """The shipped rules plus the unused one, and the same without the request-id rule."""
    rules, _ = load_ruleset(DEMO_RULES, preset=True)
    rules = rules.merge(parse_rules(UNUSED_RULE, "extra.toml"))
    noisy = RuleSet(tuple(r for r in rules if r.name not in NOISY_RULES))
    return rules, noisy.merge(parse_rules(IDS_AND_CLOCKS, "ids.toml"))


RULES, NOISY = _rules()
XSS = PlannedRequest(
    -1, "xss", "POST", "/predict/", "case=xss", (("Content-Type", "text/csv"),), XSS_CSV, 422
)
REPORTED = Variant(
    "report",
    traffic=(Traffic("mix", count=150, seed=11, extra=(XSS,)),),
    runs=(
        RunPlan("ok", baseline=True, rules=RULES),
        RunPlan("regression", target="regression_server", baseline=True, rules=RULES),
        RunPlan("noisy", baseline=True, rules=NOISY, count_volatile=True),
        # the payload's 422 differs in its error body when no rule explains the shapes
        RunPlan("xss", only="case=xss", failed=None),
        RunPlan("undiffed", limit=3, diff=False, failed=None),
        # nothing listens there: every request fails to connect
        RunPlan("down", target=DOWN, limit=6, failed=6, rules=RULES),
    ),
)


@pytest.fixture(scope="module")
def pipeline(demo_pipeline: Callable[[Variant], DemoPipeline]) -> DemoPipeline:
    return demo_pipeline(REPORTED)


@pytest.fixture
def store(pipeline: DemoPipeline) -> Iterator[Store]:
    with Store.open(pipeline.db, readonly=True) as s:
        yield s


def _run_id(store: Store, name: str) -> int:
    return store.run(name).id


def _truth(store: Store, run: str) -> dict[str, dict[str, int]]:
    """Per endpoint: requests, compared, different, errors, straight from the tables."""
    rows = store.db.execute(
        "SELECT e.endpoint, count(*), count(d.verdict), "
        "coalesce(sum(d.verdict = 'different'), 0), coalesce(sum(d.verdict = 'error'), 0) "
        "FROM replays r JOIN exchanges e ON e.id = r.exchange_id "
        "LEFT JOIN diffs d ON d.run_id = r.run_id AND d.exchange_id = r.exchange_id "
        "WHERE r.run_id = ? GROUP BY e.endpoint",
        [_run_id(store, run)],
    ).fetchall()
    return {
        ep: {"requests": n, "compared": c, "different": d, "errors": err}
        for ep, n, c, d, err in rows
    }


def test_endpoint_figures_equal_sql(store: Store) -> None:
    for run in ("ok", "regression", "noisy"):
        report = build_report(store, run)
        truth = _truth(store, run)
        got = {
            e.endpoint: {
                "requests": e.requests,
                "compared": e.compared,
                "different": e.different,
                "errors": e.errors,
            }
            for e in report.endpoints
        }
        assert got == truth, run
        assert report.run.requests == 151
        assert report.run.different == sum(t["different"] for t in truth.values())
        run_id = _run_id(store, run)
        # latency: medians of the old and new durations, per endpoint; old is the baseline
        # run's replay when the run has one (like for like), else the recording
        baseline = store.baseline_of(store.run(run))
        assert report.latency.basis == ("baseline" if baseline else "recorded")
        durations: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
        for ep, old, new in store.db.execute(
            "SELECT e.endpoint, coalesce(b.duration_ms, CASE WHEN ? IS NULL "
            "THEN e.duration_ms END), r.duration_ms FROM replays r "
            "JOIN exchanges e ON e.id = r.exchange_id "
            "LEFT JOIN replays b ON b.run_id = ? AND b.exchange_id = r.exchange_id "
            "WHERE r.run_id = ? AND r.error IS NULL",
            [baseline.id if baseline else None, baseline.id if baseline else None, run_id],
        ):
            if old is not None:
                durations[ep][0].append(old)
            durations[ep][1].append(new)
        for e in report.endpoints:
            old, new = durations[e.endpoint]
            assert e.latency.old.p50 == pytest.approx(statistics.median(old))
            assert e.latency.new.p50 == pytest.approx(statistics.median(new))
            assert e.latency.old.p95 is not None and e.latency.old.p95 <= max(old)
            assert e.latency.p50_ratio == pytest.approx(
                statistics.median(new) / statistics.median(old)
            )
        # counting fields: generalized paths and how many requests differ there
        expected: dict[str, dict[tuple[str, str], set[int]]] = defaultdict(lambda: defaultdict(set))
        for ex_id, ep, path, kind in store.db.execute(
            "SELECT exchange_id, endpoint, path, kind FROM diff_fields "
            "WHERE run_id = ? AND rule IS NULL",
            [run_id],
        ):
            expected[ep][(generalize_path(path), kind)].add(ex_id)
        for e in report.endpoints:
            got_fields = {(f.path, f.kind): f.requests for f in e.fields}
            want = {k: len(v) for k, v in expected[e.endpoint].items()}
            assert got_fields == want, (run, e.endpoint)


def test_the_clean_run_differs_nowhere_and_flags_the_unused_rule(store: Store) -> None:
    report = build_report(store, "ok")
    assert report.run.different == 0 and report.signatures == []
    assert report.run.baseline == "ok-baseline"
    # Date has 1 s resolution: a replay within the same second as the recording gives the
    # "date header" rule nothing to absorb, so it may be unused too
    unused = {r.rule for r in report.unused_rules} - {"date header"}
    assert unused - PRESET_RULES_THE_DEMO_NEVER_USES == {"legacy score"}
    hits = dict(
        store.db.execute(
            "SELECT rule, count FROM rule_hits WHERE run_id = ?", [_run_id(store, "ok")]
        ).fetchall()
    )
    assert {r.rule: r.count for r in report.rules} == hits
    absorbed = {a.rule for e in report.endpoints for a in e.absorbed}
    assert {"server header", "prediction float formatting"} <= absorbed


def test_regression_report_names_the_regression_signature(store: Store) -> None:
    report = build_report(store, "regression")
    count = store.db.execute(
        "SELECT count(*) FROM diffs WHERE run_id = ? AND signature_text = ?",
        [_run_id(store, "regression"), REGRESSION_SIGNATURE],
    ).fetchone()[0]
    assert count > 0
    assert [(s.text, s.requests) for s in report.signatures] == [(REGRESSION_SIGNATURE, count)]
    sig = report.signatures[0]
    assert sig.items == ["body.predictions[*]:value/number"]
    assert sig.noise is False  # old vs old never differs there
    sample = sig.samples[0]
    marked = [line.text for line in sample.new.lines if line.marked]
    assert marked and all(f.path.startswith("body.predictions[") for f in sample.fields)
    # the marked lines show exactly the differing new values
    new_values = {json.loads(f.new) for f in sample.fields if f.new is not None}
    assert {float(t.strip().rstrip(",")) for t in marked} == new_values
    predict = next(e for e in report.endpoints if e.endpoint == "POST /predict/")
    assert predict.different == count and predict.different_adjusted == count
    assert report.endpoints[0] is predict  # the most differing endpoint comes first


def _samples(store: Store, run: str) -> dict[str, int]:
    return dict(
        store.db.execute(
            "SELECT endpoint, count(*) FROM diffs WHERE run_id = ? GROUP BY endpoint",
            [_run_id(store, run)],
        ).fetchall()
    )


def test_noise_adjusted_figures_use_the_baseline(store: Store) -> None:
    # Without the request-id rule, X-Request-ID differs wherever the client sent none: a fresh
    # id on each side, old vs new as often as old vs old. That is noise, and nothing else is
    # left -- on every endpoint, a thin one too: the evidence is pooled across endpoints, and
    # the gate agrees.
    report = build_report(store, "noisy")
    without_id = store.db.execute(
        "SELECT count(*) FROM exchanges WHERE request_headers NOT LIKE '%\"x-request-id\"%' "
        "COLLATE NOCASE"
    ).fetchone()[0]
    assert report.run.different == without_id > 50
    noise = measure_noise(store, "noisy")
    ping = noise.get("GET /ping", "headers.x-request-id", "header")
    assert ping is not None and ping.r == ping.n > 0.5 and ping.is_noise()
    # a structural difference a rule absorbed is no difference: not measured, never noise
    absorbed = store.db.execute(
        "SELECT count(*) FROM diff_fields WHERE run_id = ? AND endpoint = 'POST /predict/' "
        "AND path = 'body.detail' AND kind = 'extra' AND rule IS NOT NULL",
        [_run_id(store, "noisy")],
    ).fetchone()[0]
    assert absorbed > 0
    assert noise.get("POST /predict/", "body.detail", "extra") is None
    assert not noise.is_noise("POST /predict/", "body.detail", "extra")

    cand, base = _samples(store, "noisy"), _samples(store, "noisy-baseline")
    thin = {ep for ep in cand if min(cand[ep], base.get(ep, 0)) < DEFAULT_MIN_SAMPLES}
    assert thin and thin != set(cand)  # both cases occur in this run
    assert report.run.different_adjusted == 0 and report.run.diff_rate_adjusted == 0
    # on most endpoints: one run-wide finding, noise, and the signatures name only it
    assert [(f.items, f.noise) for f in report.findings] == [
        (["headers.x-request-id:header/volatile"], True)
    ]
    assert report.signatures == []  # every request differs only run-wide
    for e in report.endpoints:
        wide = "run-wide | headers.x-request-id:header/volatile"
        assert e.signatures == [wide] or not e.different
        assert e.different_adjusted == 0
        assert all(f.noise for f in e.fields)
    assert {(n.path, n.kind) for n in report.noise} == {("headers.x-request-id", "header")}
    assert all(n.noise for n in report.noise)


def test_report_and_gate_agree_on_noise(store: Store) -> None:
    # the report's noise-adjusted counts are the gate's, endpoint by endpoint
    for run in ("ok", "regression", "noisy"):
        report = build_report(store, run)
        gate = evaluate(store, run, GateLimits(max_diff_rate=1.0, allow_structural=True))
        assert gate.noise_applied
        stats = {e.endpoint: e for e in gate.endpoints}
        assert set(stats) == {e.endpoint for e in report.endpoints}, run
        for e in report.endpoints:
            g = stats[e.endpoint]
            assert (e.different + e.errors, e.errors) == (g.differing, g.errors), e.endpoint
            assert e.different_adjusted == e.different - g.noise_only, (run, e.endpoint)
            assert e.different_adjusted + e.errors == g.counted, (run, e.endpoint)
        assert report.run.different_adjusted == gate.counted - gate.errors, run


def test_markdown_json_junit_and_text(store: Store) -> None:
    report = build_report(store, "regression")
    md = render_string(report, "markdown")
    assert "# shadowdiff report: run `regression`" in md
    assert "`POST /predict/ \\| body.predictions[*]:value/number`" in md  # pipe escaped in a table
    assert "**0 (matched nothing)**" in md
    predict = next(e for e in report.endpoints if e.endpoint == "POST /predict/")
    assert f"| `POST /predict/` | {predict.requests} | {predict.different} |" in md

    data = json.loads(render_string(report, "json"))
    assert data["format"] == "shadowdiff-report" and data["version"] == 1
    assert set(data) == {
        "format", "version", "generated_at", "run", "latency", "endpoints", "signatures",
        "rules", "unused_rules", "noise", "agreement", "hidden_by_rules", "findings",
        "volatile", "openapi", "drift",
    }  # fmt: skip
    assert data["openapi"] is None  # diffed without a spec
    assert data == json.loads(json.dumps(to_dict(report)))
    assert data["run"]["different"] == report.run.different
    assert [e["endpoint"] for e in data["endpoints"]] == [e.endpoint for e in report.endpoints]
    sample = data["signatures"][0]["samples"][0]
    lines = sample["new"]["text"].split("\n")
    assert all(lines[i - 1].strip().rstrip(",") for i in sample["new"]["marked_lines"])

    root = ET.fromstring(render_string(report, "junit"))
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(report.endpoints)
    failing = {c.get("name") for c in cases if c.find("failure") is not None}
    truth = _truth(store, "regression")
    assert failing == {ep for ep, t in truth.items() if t["different"]}
    failure = next(c for c in cases if c.get("name") == "POST /predict/").find("failure")
    assert failure is not None and REGRESSION_SIGNATURE in (failure.get("message") or "")
    assert root.get("failures") == str(len(failing))

    console = Console(record=True, width=160, file=io.StringIO())
    render(report, "text", console)
    text = console.export_text()
    assert REGRESSION_SIGNATURE in text and "matched nothing" in text


def test_html_escapes_recorded_values(store: Store, tmp_path: Path) -> None:
    raw = store.db.execute(
        "SELECT b.data FROM exchanges e JOIN blobs b ON b.sha256 = e.response_body "
        "WHERE e.query = 'case=xss'"
    ).fetchone()[0]
    assert PAYLOAD.encode() in raw  # the recorded answer quotes the payload
    report = build_report(store, "xss")
    assert report.run.different == 1
    assert any(PAYLOAD in line.text for line in report.signatures[0].samples[0].old.lines)
    out = tmp_path / "xss.html"
    render(report, "html", out)
    page = out.read_text()
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page
    assert "<script" not in page.lower()
    assert 'id="endpoints"' in page and "<title>shadowdiff report · xss</title>" in page


def test_failed_requests_are_errors_not_differences(store: Store) -> None:
    report = build_report(store, "down")
    assert (report.run.errors, report.run.different, report.run.compared) == (6, 0, 6)
    assert report.signatures and all(s.verdict == "error" for s in report.signatures)
    assert sum(s.requests for s in report.signatures) == 6
    sample = report.signatures[0].samples[0]
    assert sample.new.status is None and (sample.new.note or "").startswith("replay error:")
    assert all(e.latency.new.count == 0 for e in report.endpoints)  # failures have no latency
    root = ET.fromstring(render_string(report, "junit"))
    errored = {c.get("name") for c in root.iter("testcase") if c.find("error") is not None}
    assert errored == {e.endpoint for e in report.endpoints}
    assert not any(c.find("failure") is not None for c in root.iter("testcase"))
    page = render_string(report, "html")
    assert 'class="sig error"' in page and "replay error:" in page
    assert "| error:" in render_string(report, "markdown")


def test_errors_for_bad_requests(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="never diffed"):
        build_report(store, "undiffed")
    with pytest.raises(ReportError, match="samples"):
        build_report(store, "ok", samples=-1)
    report = build_report(store, "ok", samples=0)
    with pytest.raises(ReportError, match="unknown report format"):
        render(report, "pdf", tmp_path / "r.pdf")
    with pytest.raises(ReportError, match="cannot write"):
        render(report, "html", tmp_path / "missing-dir" / "r.html")
    for fmt in FORMATS:
        assert render_string(report, fmt).strip()
