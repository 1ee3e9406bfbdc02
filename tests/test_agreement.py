"""Agreement figures: exact numbers on a fixture with known errors, and the gate limits on
them pass and fail as their thresholds say."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from shadowdiff.analysis.agreement_limits import parse_path_limit
from shadowdiff.analysis.gate import GateLimits, evaluate
from shadowdiff.analysis.sketch import (
    CAPACITY,
    EXACT_LIMIT,
    RELATIVE_ACCURACY,
    ErrorSketch,
    TopChanges,
)
from shadowdiff.differ import parse_rules
from shadowdiff.errors import GateError
from shadowdiff.store import AgreementRow, Store
from tests.clirun import invoke as run_cli
from tests.conftest import assert_one_line_error
from tests.stores import Answer, add_run, session

pytestmark = pytest.mark.unit

RULES = """
[[rules]]
name = "prediction tolerance"
kind = "tolerance"
path = "body.predictions[*]"
abs = 0.01
reason = "float paths differ"
"""
# Per exchange, what the new side adds to each of the four predictions (exact binary fractions).
ERRORS: list[list[float]] = [[0, 0, 0, 0], [2**-7, 0, 0, 0], [0, 2**-5, 0, 0], [0, 0, 0, 1.0]]
LABELS = ["cat", "cat", "dog", "dog"]  # the new side's label; the old one says "cat"
SCORES = [0.5, 0.5, 0.5, 0.75]  # the new side's score; the old one says 0.5


def _new(i: int, body: dict[str, Any]) -> Answer:
    preds = [p + e for p, e in zip(body["predictions"], ERRORS[i], strict=True)]
    return Answer({"predictions": preds, "label": LABELS[i], "score": SCORES[i]})


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "a.db"
    old = {"predictions": [1.0, 2.0, 3.0, 4.0], "label": "cat", "score": 0.5}
    with Store.open(path) as store:
        exchanges = session(store, [("/p", old)] * 4)
        add_run(store, exchanges, "r", _new, rules=parse_rules(RULES, "test"))
    return path


def _figures(db: Path) -> dict[str, AgreementRow]:
    with Store.open(db, readonly=True) as store:
        run = store.run("r")
        return {r.path: r for r in store.agreement(run.id)}


def test_exact_figures_on_known_errors(db: Path) -> None:
    rows = _figures(db)
    assert set(rows) == {"body.predictions[*]", "body.label", "body.score"}
    p = rows["body.predictions[*]"]
    assert (p.endpoint, p.value_type, p.rule) == ("GET /p", "number", "prediction tolerance")
    assert (p.compared, p.agreeing) == (16, 14)  # 2**-5 and 1.0 are beyond abs 0.01
    assert (p.max_abs, p.max_rel) == (1.0, 0.2)  # |5 - 4| / 5
    assert (p.p50_abs, p.p99_abs) == (0.0, 1.0)  # 13 of 16 errors are 0
    # learned when it first differed (4th exchange); the 3 before are caught up
    s = rows["body.score"]
    assert (s.value_type, s.rule, s.compared, s.agreeing) == ("number", None, 4, 3)
    assert (s.max_abs, s.max_rel, s.p50_abs, s.p99_abs) == (0.25, 0.25 / 0.75, 0.0, 0.25)
    lab = rows["body.label"]
    assert (lab.value_type, lab.compared, lab.agreeing) == ("label", 4, 2)
    assert lab.top_changes() == [("cat", "dog", 2)]
    assert lab.max_abs is None


def test_diffing_again_replaces_the_figures(db: Path) -> None:
    first = _figures(db)
    run_cli("diff", "r", "--db", str(db), "--no-preset", "--rules", str(_rules_file(db)))
    assert _figures(db) == first


def _rules_file(db: Path) -> Path:
    path = db.parent / "rules.toml"
    path.write_text(RULES)
    return path


@pytest.mark.parametrize(
    ("max_abs", "min_agree", "failing"),
    [
        (["body.predictions[*]=1.0"], ["body.predictions[*]=0.875"], []),
        (["body.predictions[*]=0.5"], [], ["max abs error"]),
        ([], ["body.predictions[*]=0.9"], ["min agreement"]),
        ([], ["body.label=0.5", "body.score=0.75"], []),
        ([], ["body.label=0.51"], ["min agreement"]),
        (["GET /p body.predictions[3]=0.99"], ["GET /p body.score=0.76"], ["max abs error",
                                                                           "min agreement"]),
    ],
)  # fmt: skip
def test_gate_limits_pass_and_fail_by_threshold(
    db: Path, max_abs: list[str], min_agree: list[str], failing: list[str]
) -> None:
    limits = GateLimits(
        max_diff_rate=1.0,
        allow_structural=True,
        max_abs_error=tuple(parse_path_limit(t, "max_abs_error") for t in max_abs),
        min_agreement=tuple(parse_path_limit(t, "min_agreement") for t in min_agree),
    )
    with Store.open(db, readonly=True) as store:
        result = evaluate(store, "r", limits)
    assert [f.check for f in result.findings] == failing, result.reasons
    assert all(f.endpoint == "GET /p" for f in result.findings)


def test_gate_findings_name_the_path_and_figure(db: Path) -> None:
    out = run_cli(
        "gate", "r", "--db", str(db), "--max-diff-rate", "1", "--allow-structural",
        "--max-abs-error", "body.predictions[*]=0.5",
        "--min-agreement", "body.label=0.9",
        "--min-agreement", "body.nothing=0.9",
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert (
        "GET /p body.predictions[*]: max abs error 1 exceeds --max-abs-error 0.5 "
        "(16 values, 2 not agreeing; p99 1)" in out.stdout
    ), out.stdout
    assert "GET /p body.label: agreement 50.00% (2/4 labels) is below --min-agreement 90.00%" in (
        out.stdout
    )
    assert "note: --min-agreement body.nothing=0.9: no figures for that path" in out.stdout


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [
        ("--max-abs-error", "body.predictions[*]", "is not PATH=VALUE"),
        ("--max-abs-error", "body.predictions[*]=abc", "'abc' is not a number"),
        ("--max-abs-error", "body.predictions[*]=-1", "a finite number >= 0"),
        ("--min-agreement", "body.label=1.5", "between 0 and 1"),
        ("--min-agreement", "GET body.label=0.5", "'METHOD /route PATH'"),
        ("--min-agreement", "body..label=0.5", "expected a key at column 6"),
    ],
)
def test_malformed_limits_are_one_line_errors(db: Path, flag: str, value: str, needle: str) -> None:
    out = run_cli("gate", "r", "--db", str(db), flag, value)
    assert_one_line_error(out, flag, needle)


def test_parse_path_limit_scopes_and_generalizes() -> None:
    limit = parse_path_limit("post /predict/ body.predictions[7]=1e-6", "max_abs_error")
    assert (limit.endpoint, limit.path, limit.value) == ("POST /predict/", "body.predictions[*]",
                                                         1e-6)  # fmt: skip
    with pytest.raises(GateError):
        parse_path_limit("=1", "min_agreement")


def test_error_sketch_is_exact_then_bounded() -> None:
    sketch = ErrorSketch()
    for i in range(1, 101):
        sketch.add(i / 100)
    assert (sketch.quantile(0.5), sketch.quantile(0.99), sketch.max) == (0.5, 0.99, 1.0)
    big = ErrorSketch()
    n = EXACT_LIMIT * 5
    for i in range(1, n + 1):
        big.add(i * 1e-9)
    assert not big.exact and big.count == n and big.max == n * 1e-9
    for q in (0.5, 0.99):
        true = max(1, -(-int(q * n * 1000) // 1000)) * 1e-9  # rank ceil(q * n)
        got = big.quantile(q)
        assert got is not None and abs(got - true) <= RELATIVE_ACCURACY * true * 1.0001
    assert len(big.buckets) < 1000  # bounded: values are summarised, not kept


def test_top_changes_keep_the_frequent_ones_in_bounded_space() -> None:
    top = TopChanges()
    for _ in range(50):
        top.add("cat", "dog")
    for i in range(1000):
        top.add("cat", f"rare{i}")
    for _ in range(30):
        top.add("dog", True)
    assert len(top.counts) <= CAPACITY and top.seen == 1080
    bound = top.seen / CAPACITY  # the documented overestimate at most
    kept = {(o, n): c for o, n, c in top.top(2)}
    assert set(kept) == {("cat", "dog"), ("dog", "true")}  # both frequent changes are kept
    assert 50 <= kept[("cat", "dog")] <= 50 + bound and 30 <= kept[("dog", "true")] <= 30 + bound


def test_every_report_format_shows_the_figures(db: Path) -> None:
    from shadowdiff.report import build_report, render_string
    from shadowdiff.report.text import render_text

    with Store.open(db, readonly=True) as store:
        report = build_report(store, "r")
    assert [(a.path, a.value_type) for a in report.agreement] == [
        ("body.predictions[*]", "number"),
        ("body.score", "number"),
        ("body.label", "label"),
    ]
    console = Console(record=True, width=80, file=io.StringIO(), color_system=None)
    render_text(report, console)
    text = console.export_text()
    assert "agreement: numbers" in text and "agreement: labels" in text
    assert max(len(line) for line in text.splitlines()) <= 80
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "16 │ 87.50%" in line)
    assert lines[at].split("│")[2:] == [" 16 ", " 87.50% ", "       1 ", "     0.2 ",
                                        "       0 ", "       1 ", ""], lines[at]  # fmt: skip
    assert "body.predictions[*]" in lines[at + 1]
    assert "cat → dog ×2" in text and "50.00%" in text
    md = render_string(report, "markdown")
    assert (
        "## Agreement" in md
        and "| `GET /p` | `body.predictions[*]` | 16 | 87.50% | 1 | 0.2 | 0 | 1 |" in md
    )
    data = json.loads(render_string(report, "json"))
    first = data["agreement"][0]
    assert (first["path"], first["compared"], first["agreement"]) == (
        "body.predictions[*]",
        16,
        0.875,
    )
    assert data["agreement"][2]["changes"] == [{"old": "cat", "new": "dog", "count": 2}]
    page = render_string(report, "html")
    assert 'id="agreement-numbers"' in page and "cat → dog ×2" in page and "87.50%" in page
    junit = render_string(report, "junit")
    assert 'name="agreement GET /p body.predictions[*]"' in junit
    assert "16 values, 87.50% within tolerance, max abs 1, max rel 0.2" in junit


def test_version_3_files_get_the_agreement_table(db: Path) -> None:
    import sqlite3

    from shadowdiff.store.schema import SCHEMA_VERSION

    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DROP TABLE agreement")
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    conn.close()
    with Store.open(db) as store:  # opened for writing: migrated
        assert store.meta("schema_version") == str(SCHEMA_VERSION) == "5"
        assert store.agreement(store.run("r").id) == []  # figures come with the next diff


NESTED_RULES = """
[[rules]]
name = "probabilities"
kind = "tolerance"
path = "body.predictions[*]"
digits = 3
reason = "class probabilities per row"

[[rules]]
name = "scores"
kind = "tolerance"
path = "body.**.score"
abs = 0.1
reason = "scores anywhere"
"""


def test_nested_lists_deep_patterns_and_labels_under_a_number_rule(tmp_path: Path) -> None:
    old = {
        "predictions": [[0.25, 0.75], [0.5, 0.5]],
        "meta": {"a": {"score": 1.0}, "b": [{"score": 2.0}]},
        "classes": ["cat", "dog"],
    }

    def new(i: int, body: dict[str, Any]) -> Answer:
        return Answer(
            {
                "predictions": [[0.25, 0.75], [0.5, 0.5 + 2**-4 * i]],  # 2nd answer: 1 off
                "meta": {"a": {"score": 1.0 + 2**-3 * i}, "b": [{"score": 2.0}]},
                "classes": ["cat", "cow" if i else "dog"],
            }
        )

    path = tmp_path / "n.db"
    with Store.open(path) as store:
        add_run(
            store, session(store, [("/p", old)] * 2), "r", new, rules=parse_rules(NESTED_RULES, "t")
        )
        rows = {(r.path, r.value_type): r for r in store.agreement(store.run("r").id)}
    assert set(rows) == {
        ("body.predictions[*][*]", "number"),
        ("body.meta.a.score", "number"),
        ("body.meta.b[*].score", "number"),
        ("body.classes[*]", "label"),
    }
    p = rows[("body.predictions[*][*]", "number")]
    assert (p.rule, p.compared, p.agreeing, p.max_abs) == ("probabilities", 8, 7, 2**-4)
    s = rows[("body.meta.a.score", "number")]
    assert (s.rule, s.compared, s.agreeing, s.max_abs) == ("scores", 2, 1, 0.125)
    assert rows[("body.meta.b[*].score", "number")][5:7] == (2, 2)
    c = rows[("body.classes[*]", "label")]
    assert (c.compared, c.agreeing, c.top_changes()) == (4, 3, [("dog", "cow", 1)])
