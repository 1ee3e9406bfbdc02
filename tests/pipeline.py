"""The shared record -> replay -> diff pipeline behind the `demo_pipeline` fixture.

A `Variant` says what to record (through the real recorder proxy, in front of an upstream
server) and which runs to replay and diff afterwards. Servers are named by their session
fixtures (`flask_server`, `fastapi_server`, `regression_server`, ...), so a variant only
starts the servers it uses. Each variant is built once per test session, in its own
database; a test module that adds runs to it is the only user of that variant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shadowdiff.analysis.diffrun import diff_run
from shadowdiff.demo.servers import free_port
from shadowdiff.demo.traffic import PlannedRequest, generate, send_one
from shadowdiff.differ import RuleSet
from shadowdiff.recorder.launcher import Recording, RecordOptions
from shadowdiff.replayer.engine import ReplayConfig, replay
from shadowdiff.store import Store

DOWN = "down"  # a run target: a loopback port nothing listens on
#: Preset rules for what the demo pair never does (tracebacks, framework 404/405 pages, HTML,
#: charset parameters, empty 204s; tests/test_preset.py shows each at work): in a run of the
#: demo they match nothing, and reports list them so.
PRESET_RULES_THE_DEMO_NEVER_USES = frozenset(
    {
        "python tracebacks",
        "framework 404/405 pages",
        "html/xml whitespace",
        "content-type defaults",
        "content-type on empty 204/304",
    }
)


@dataclass(frozen=True)
class Traffic:
    """One recorded session: `count` requests of the demo mix, then `extra` one by one.

    Every request must be answered (an `extra` one with its `expected_status`, unless 0)
    and every exchange stored.
    """

    session: str
    count: int = 0
    seed: int = 0
    extra: tuple[PlannedRequest, ...] = ()


@dataclass(frozen=True)
class RunPlan:
    """One replay of the recorded traffic; diffed under `rules` unless `diff` is False."""

    name: str
    target: str = "fastapi_server"  # a server fixture's name, or DOWN
    baseline: bool = False  # replay to the upstream too, as the paired baseline run
    session: str | None = None
    only: str | None = None
    limit: int | None = None
    diff: bool = True
    rules: RuleSet = field(default_factory=RuleSet)
    failed: int | None = 0  # how many requests must fail; None: not checked
    sent: int | None = None  # how many requests must be sent (both runs); None: not checked
    different: int | None = None  # the candidate's different count after the diff
    count_volatile: bool = False  # diff with --count-volatile


@dataclass(frozen=True)
class Variant:
    name: str
    traffic: tuple[Traffic, ...]
    runs: tuple[RunPlan, ...] = ()
    upstream: str = "flask_server"  # the recorded server's fixture name


@dataclass(frozen=True)
class DemoPipeline:
    """A built variant: its database and where its servers listen."""

    db: Path
    session: str  # the first recorded session
    candidate: str | None  # the first run's name
    baseline: str | None  # the first run's baseline run, if it has one
    upstream: str  # URL of the recorded server
    targets: dict[str, str]  # server fixture name -> URL, for every run target used


ServerUrl = Callable[[str], str]


def _record(upstream: str, db: Path, traffic: Traffic) -> None:
    opts = RecordOptions(upstream=upstream, db=db, listen_port=free_port(), session=traffic.session)
    with Recording(opts) as rec:
        if traffic.count:
            assert (
                generate(rec.url, count=traffic.count, concurrency=8, seed=traffic.seed).errors == 0
            )
        with httpx.Client(timeout=10) as client:
            for planned in traffic.extra:
                answer = send_one(client, rec.url, planned)
                assert answer["error"] is None, answer["error"]
                if planned.expected_status:
                    assert answer["status"] == planned.expected_status, (planned, answer["status"])
        summary = rec.stop()
    assert (summary.stored, summary.dropped) == (traffic.count + len(traffic.extra), 0), summary


def build(variant: Variant, db: Path, server_url: ServerUrl) -> DemoPipeline:
    """Record every session of `variant` into `db`, then replay and diff its runs."""
    upstream = server_url(variant.upstream)
    for traffic in variant.traffic:
        _record(upstream, db, traffic)
    targets: dict[str, str] = {}
    with Store.open(db) as store:
        for plan in variant.runs:
            if plan.target == DOWN:
                target = f"http://127.0.0.1:{free_port()}"
            else:
                target = targets.setdefault(plan.target, server_url(plan.target))
            config = ReplayConfig(
                target=target,
                baseline=upstream if plan.baseline else None,
                session=plan.session,
                only=plan.only,
                limit=plan.limit,
                name=plan.name,
            )
            result = replay(store, config)
            if plan.failed is not None:
                assert result.failed == plan.failed, (plan.name, result)
            if plan.sent is not None:
                assert result.sent == plan.sent, (plan.name, result)
            if plan.diff:
                cand, base = diff_run(
                    store, plan.name, plan.rules, count_volatile=plan.count_volatile
                )
                assert (base is not None) == plan.baseline, plan.name
                if plan.different is not None:
                    assert cand.different == plan.different, (plan.name, cand)
    first = variant.runs[0] if variant.runs else None
    return DemoPipeline(
        db=db,
        session=variant.traffic[0].session,
        candidate=first.name if first else None,
        baseline=f"{first.name}-baseline" if first and first.baseline else None,
        upstream=upstream,
        targets=targets,
    )
