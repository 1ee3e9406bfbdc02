"""OpenAPI: templates from the spec, coverage on known traffic, schema findings, load errors.

Stores are built with the Store API (tests/stores.py) and diffed by the real `diff_run`; the
spec is a file written here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shadowdiff.analysis.diffrun import diff_run
from shadowdiff.analysis.gate import GateLimits, evaluate
from shadowdiff.errors import SpecError
from shadowdiff.openapi import load_spec, parse_spec
from shadowdiff.report import build_report, render_string
from shadowdiff.store import Store
from tests.clirun import invoke
from tests.stores import Answer, replayed_run, same, session

pytestmark = pytest.mark.unit

USER = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"200": {"description": "ok", "content": {"application/json": {"schema": schema}}}}


SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "users", "version": "1"},
    "paths": {
        "/users/{user_id}": {"get": {"responses": _json({"$ref": "#/components/schemas/User"})}},
        "/users/me": {"get": {"responses": _json({"$ref": "#/components/schemas/User"})}},
        "/api/2.0/mlflow/experiments/get": {"get": {"responses": _json({"type": "object"})}},
        "/users/{user_id}/avatar": {"get": {"responses": {"200": {"description": "png"}}}},
        "/teams": {"post": {"responses": _json({"type": "object"})}},
    },
    "components": {"schemas": {"User": USER}},
}


def write_spec(tmp_path: Path, spec: dict[str, Any] = SPEC) -> Path:
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(spec))
    return path


def test_templates_come_from_the_spec_and_literals_win(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path))
    assert spec.endpoint("GET", "/users/42") == "GET /users/{user_id}"
    assert spec.endpoint("get", "/users/me?x=1") == "GET /users/me"  # literal beats {user_id}
    assert spec.endpoint("GET", "/users/42/avatar") == "GET /users/{user_id}/avatar"
    # today's guess made this /api/{id}/mlflow/...; the spec keeps it as written
    assert spec.endpoint("GET", "/api/2.0/mlflow/experiments/get") == (
        "GET /api/2.0/mlflow/experiments/get"
    )
    assert spec.endpoint("POST", "/users/42") is None  # no such operation
    assert spec.endpoint("GET", "/users/42/extra") is None


USERS: list[tuple[str, dict[str, Any]]] = [
    ("/users/1", {"id": 1, "name": "a"}),
    ("/users/2", {"id": 2, "name": "b"}),
    ("/users/me", {"id": 3, "name": "c"}),
    ("/api/2.0/mlflow/experiments/get", {"experiment": {}}),
    ("/api/2.0/mlflow/experiments/get", {"experiment": {}}),
    ("/api/2.0/mlflow/experiments/get", {"experiment": {}}),
    ("/legacy/7", {"ok": True}),
]


def _stringly_ids(i: int, body: dict[str, Any]) -> Answer:
    """The port answers user ids as strings: outside its own spec."""
    return Answer({**body, "id": str(body["id"])} if "id" in body else body)


def test_diff_with_spec_groups_by_its_templates_and_counts_coverage(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path))
    with Store.open(tmp_path / "s.db") as store:
        exchanges = session(store, USERS)
        replayed_run(store, exchanges, "r", same)
        summary, _ = diff_run(store, "r", _rules(), spec=spec)
        per_endpoint = store.diffed_per_endpoint(summary.run.id)
        stored = [e.endpoint for e in store.iter_exchanges(exchanges[0].session_id)]
        report = build_report(store, "r")
    # the report's endpoints are the spec's, each with its requests (no recorded guess left
    # over with 0 requests beside its template)
    assert {e.endpoint: e.requests for e in report.endpoints} == per_endpoint
    assert {e.endpoint: e.latency.new.count for e in report.endpoints} == per_endpoint
    assert per_endpoint == {
        "GET /users/{user_id}": 2,
        "GET /users/me": 1,
        "GET /api/2.0/mlflow/experiments/get": 3,
        "GET /legacy/{id}": 1,  # matches no operation: today's guess
    }
    assert "GET /api/{id}/mlflow/experiments/get" in stored  # the recorded guess is kept
    assert summary.spec is not None
    cov = summary.spec.coverage
    assert {o.endpoint: o.requests for o in cov.operations} == {
        "GET /api/2.0/mlflow/experiments/get": 3,
        "POST /teams": 0,
        "GET /users/me": 1,
        "GET /users/{user_id}": 2,
        "GET /users/{user_id}/avatar": 0,
    }
    assert [o.endpoint for o in cov.never] == ["POST /teams", "GET /users/{user_id}/avatar"]
    assert [(o.endpoint, o.requests) for o in cov.unmatched] == [("GET /legacy/{id}", 1)]
    assert summary.spec.findings == []


def _rules() -> Any:
    from shadowdiff.differ import RuleSet

    return RuleSet()


def test_a_schema_violation_on_the_new_side_fails_the_gate(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path))
    with Store.open(tmp_path / "s.db") as store:
        exchanges = session(store, USERS)
        replayed_run(store, exchanges, "r", _stringly_ids)
        diff_run(store, "r", _rules(), spec=spec)
        limits = GateLimits(allow_structural=True, max_diff_rate=1.0)
        gate = evaluate(store, "r", limits)
        allowed = evaluate(store, "r", GateLimits(max_diff_rate=1.0, allow_structural=True,
                                                  allow_schema=True))  # fmt: skip
        report = build_report(store, "r")
    schema = [f for f in gate.findings if f.check == "schema"]
    assert [f.endpoint for f in schema] == ["GET /users/{user_id}", "GET /users/me"]
    assert "body.id: is not of type 'integer' (2 responses)" in schema[0].text
    assert not [f for f in allowed.findings if f.check == "schema"]
    assert report.spec is not None and {f.side for f in report.spec.findings} == {"new"}
    for fmt in ("text", "markdown", "json", "html"):
        assert "is not of type" in render_string(report, fmt), fmt
    assert "OpenAPI coverage" in render_string(report, "markdown")
    junit = render_string(report, "junit")
    assert 'name="schema: GET /users/{user_id}"' in junit and 'type="schema"' in junit


def test_a_violation_where_old_and_new_agree_is_still_found(tmp_path: Path) -> None:
    """Both sides answer the same body outside the spec: no difference, two findings."""
    bad = [("/users/5", {"id": "5", "name": "e"})]
    spec = load_spec(write_spec(tmp_path))
    with Store.open(tmp_path / "s.db") as store:
        exchanges = session(store, bad)
        replayed_run(store, exchanges, "r", same)
        summary, _ = diff_run(store, "r", _rules(), spec=spec)
        gate = evaluate(store, "r", GateLimits())
    assert summary.different == 0
    assert summary.spec is not None
    assert sorted(f.side for f in summary.spec.findings) == ["new", "old"]
    assert [f.check for f in gate.findings] == ["schema"]


def test_report_and_gate_take_a_spec_for_a_run_diffed_without_one(tmp_path: Path) -> None:
    path = write_spec(tmp_path)
    with Store.open(tmp_path / "s.db") as store:
        exchanges = session(store, USERS)
        replayed_run(store, exchanges, "r", _stringly_ids)
        diff_run(store, "r", _rules())
    gate = invoke("gate", "r", "--db", str(tmp_path / "s.db"), "--allow-structural",
                  "--max-diff-rate", "1", "--openapi", str(path))  # fmt: skip
    assert gate.returncode == 1 and "schema: GET /users/{user_id} answered outside" in gate.stdout
    plain = invoke("gate", "r", "--db", str(tmp_path / "s.db"), "--allow-structural",
                   "--max-diff-rate", "1")  # fmt: skip
    assert plain.returncode == 0, plain.stdout
    report = invoke("report", "r", "--db", str(tmp_path / "s.db"), "--openapi", str(path))
    assert report.returncode == 0
    assert "3 of 5 operations exercised" in report.stdout


BAD_SPECS: list[tuple[str, Any, str]] = [
    ("not json", "{nope", "not a JSON OpenAPI spec"),
    ("swagger 2", {"swagger": "2.0", "paths": {}}, "not an OpenAPI 3 spec"),
    ("no paths", {"openapi": "3.0.3"}, "no 'paths' object"),
    ("dangling", {**SPEC, "components": {}}, "points at nothing"),
    ("remote", {**SPEC, "components": {"schemas": {"User": {"$ref": "http://x/u.json"}}}},
     "is not local"),
    ("circular", {**SPEC, "components": {"schemas": {"User": {"$ref": "#/components/schemas/U2"},
                                                     "U2": {"$ref": "#/components/schemas/User"}}}},
     "circular or longer"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "spec", "needle"), BAD_SPECS, ids=[c[0] for c in BAD_SPECS])
def test_a_spec_that_fails_to_load_is_one_clear_error(
    tmp_path: Path, case: str, spec: Any, needle: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(spec if isinstance(spec, str) else json.dumps(spec))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert needle in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_bounds_size_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="larger than 10 bytes"):
        load_spec(write_spec(tmp_path), max_bytes=10)
    with pytest.raises(SpecError, match="cannot read the spec"):
        load_spec(tmp_path / "missing.json")
    with pytest.raises(SpecError, match="OpenAPI 2.0 is not supported|not supported"):
        parse_spec(json.dumps({"openapi": "2.0", "paths": {}}), "x")


def test_cli_diff_with_a_bad_spec_exits_2_with_one_line(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        exchanges = session(store, USERS[:1])
        replayed_run(store, exchanges, "r", same)
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    result = invoke("diff", "r", "--db", str(tmp_path / "s.db"), "--openapi", str(bad))
    assert result.returncode == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "not a JSON OpenAPI spec" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_rules_file_names_the_spec_relative_to_itself(tmp_path: Path) -> None:
    from shadowdiff.differ import load_rules

    write_spec(tmp_path)
    rules_file = tmp_path / "shadowdiff.toml"
    rules_file.write_text('openapi = "openapi.json"\n')
    assert load_rules(rules_file).openapi == str(tmp_path / "openapi.json")
    with Store.open(tmp_path / "s.db") as store:
        exchanges = session(store, USERS)
        replayed_run(store, exchanges, "r", same)
    result = invoke("diff", "r", "--db", str(tmp_path / "s.db"), "--rules", str(rules_file))
    assert result.returncode == 0, result.stderr
    assert "3 of 5 operations exercised" in result.stdout


def test_a_version_3_store_gains_the_openapi_tables_when_opened_for_writing(
    tmp_path: Path,
) -> None:
    import sqlite3

    path = tmp_path / "s.db"
    with Store.open(path) as store:
        exchanges = session(store, USERS[:2])
        replayed_run(store, exchanges, "r", same)
    conn = sqlite3.connect(path)
    with conn:
        for table in ("spec_sources", "schema_findings", "spec_coverage"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    conn.close()
    with Store.open(path) as store:
        assert store.meta("schema_version") == "5"
        diff_run(store, "r", _rules(), spec=load_spec(write_spec(tmp_path)))
        assert store.spec_source(1) is not None
        assert {r.endpoint for r in store.spec_coverage(1) if r.requests} == {
            "GET /users/{user_id}"
        }
