"""The demo's contract: the FastAPI port serves its spec, and both sides of the demo keep it.

The spec is fetched from the running port's `/openapi.json` (a real server, a real fetch).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from shadowdiff.analysis.diffrun import diff_run, load_ruleset
from shadowdiff.demo.run import demo_rules_path
from shadowdiff.demo.servers import RunningServer
from shadowdiff.errors import SpecError
from shadowdiff.openapi import load_spec
from shadowdiff.replayer.engine import ReplayConfig, replay
from shadowdiff.store import Store
from tests.pipeline import DemoPipeline, Traffic, Variant

pytestmark = pytest.mark.e2e

SPEC_TRAFFIC = Variant("openapi", (Traffic("openapi", count=150, seed=7),))


def test_flask_and_the_port_keep_the_ports_spec(
    demo_pipeline: Callable[[Variant], DemoPipeline],
    fastapi_server: RunningServer,
    regression_server: RunningServer,
    tmp_path: Path,
) -> None:
    db = tmp_path / "t.db"
    shutil.copy(demo_pipeline(SPEC_TRAFFIC).db, db)
    spec = load_spec(f"{fastapi_server.url}/openapi.json")
    assert "POST /predict/" in {op.endpoint for op in spec.operations}
    rules, _ = load_ruleset(demo_rules_path())
    with Store.open(db) as store:
        for name, server in (("ok", fastapi_server), ("regressed", regression_server)):
            replay(store, ReplayConfig(target=server.url, name=name))
            summary, _ = diff_run(store, name, rules, spec=spec)
            assert summary.spec is not None
            # a value regression stays inside the contract; Flask keeps it too
            assert summary.spec.findings == [], summary.spec.findings[:3]
            cov = summary.spec.coverage
            counts = {o.endpoint: o.requests for o in cov.operations}
            assert counts["POST /predict/"] > 50 and counts["GET /info/"] > 0
            assert "GET /favicon.ico" in {o.endpoint for o in cov.unmatched}
            assert sum(counts.values()) + sum(o.requests for o in cov.unmatched) == summary.total


def test_a_spec_url_that_is_not_a_spec_is_one_clear_error(fastapi_server: RunningServer) -> None:
    with pytest.raises(SpecError, match=r"/nothing: fetching the spec answered 404$"):
        load_spec(f"{fastapi_server.url}/nothing")
    with pytest.raises(SpecError, match="not an OpenAPI 3 spec"):
        load_spec(f"{fastapi_server.url}/info/")
    with pytest.raises(SpecError, match="larger than 100 bytes"):
        load_spec(f"{fastapi_server.url}/openapi.json", max_bytes=100)


def test_a_violation_planted_on_the_new_side_fails_the_gate_where_rules_agree(
    demo_pipeline: Callable[[Variant], DemoPipeline],
    fastapi_server: RunningServer,
    tmp_path: Path,
) -> None:
    """The contract says /stats/ has Flask's keys only: the port's backpressure keys, which a
    rule lets through as an intended difference, are outside it, on the new side only."""
    import json

    import httpx

    from shadowdiff.analysis.gate import GateLimits, evaluate

    document = httpx.get(f"{fastapi_server.url}/openapi.json", timeout=10).json()
    stats = document["paths"]["/stats/"]["get"]["responses"]["200"]["content"]
    schema = stats["application/json"]["schema"]
    for key in [k for k in schema["properties"] if k.startswith("backpressure_")]:
        del schema["properties"][key]
    schema["additionalProperties"] = False
    path = tmp_path / "strict.json"
    path.write_text(json.dumps(document))
    db = tmp_path / "t.db"
    shutil.copy(demo_pipeline(SPEC_TRAFFIC).db, db)
    rules, _ = load_ruleset(demo_rules_path())
    with Store.open(db) as store:
        replay(store, ReplayConfig(target=fastapi_server.url, name="strict"))
        summary, _ = diff_run(store, "strict", rules, spec=load_spec(path))
        gate = evaluate(store, "strict", GateLimits())
    assert summary.different == 0  # old and new agree under the demo's rules
    assert summary.spec is not None and summary.spec.findings
    assert {(f.side, f.endpoint) for f in summary.spec.findings} == {("new", "GET /stats/")}
    assert all("Additional properties are not allowed" in f.message for f in summary.spec.findings)
    assert [f.check for f in gate.findings] == ["schema"]
    assert gate.exit_code == 1
