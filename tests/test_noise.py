"""Noise end to end on real servers: old (Flask/gunicorn) and new (FastAPI/uvicorn) services
from tests/noise_apps.py, traffic recorded through the real recorder, replayed with a baseline,
diffed, then measured: random fields become rules, real and structural changes never do."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shadowdiff.analysis.diffrun import diff_run
from shadowdiff.analysis.gate import GateLimits, evaluate
from shadowdiff.analysis.noise import (
    NoiseReport,
    PathNoise,
    ProposedRule,
    measure_noise,
    noise_adjusted,
    noise_only_exchanges,
    propose_rules,
    render_toml,
    verify,
)
from shadowdiff.demo.traffic import PlannedRequest
from shadowdiff.differ import RuleSet, load_preset, parse_rules
from shadowdiff.report import build_report
from shadowdiff.store import Store
from tests.pipeline import DemoPipeline, RunPlan, Traffic, Variant
from tests.stores import Answer, add_run, session

ITEMS, ECHO = "GET /items/{id}", "GET /echo/{id}"
N_ITEMS, N_ECHO = 40, 20


def _rules() -> RuleSet:
    return load_preset("flask-to-fastapi")  # date, server, framing headers


def _get(path: str) -> PlannedRequest:
    return PlannedRequest(-1, "noise", "GET", path, "", (), b"", 200)


NOISE = Variant(
    "noise",
    upstream="noise_old_server",
    traffic=(
        Traffic(
            "noise",
            extra=tuple(_get(f"/items/{n}") for n in range(1, N_ITEMS + 1))
            + tuple(_get(f"/echo/{n}") for n in range(1, N_ECHO + 1)),
        ),
    ),
    runs=(
        RunPlan(
            "cand",
            target="noise_new_server",
            baseline=True,
            session="noise",
            rules=_rules(),
            sent=2 * (N_ITEMS + N_ECHO),
            different=N_ITEMS + N_ECHO,
        ),
    ),
)


@pytest.fixture(scope="module")
def db(demo_pipeline: Callable[[Variant], DemoPipeline]) -> Path:
    """The old service recorded, replayed to the new one with a baseline, diffed."""
    return demo_pipeline(NOISE).db


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    with Store.open(db) as s:
        yield s


def _find(report: NoiseReport, endpoint: str, path: str, kind: str) -> PathNoise:
    found = [p for p in report.paths if (p.endpoint, p.path, p.kind) == (endpoint, path, kind)]
    assert len(found) == 1, f"{endpoint} {path}:{kind} not measured: {report.lines()}"
    return found[0]


@pytest.mark.e2e
def test_measures_r_and_n_per_path(store: Store) -> None:
    report = measure_noise(store, "cand")
    assert report.baseline.name == "cand-baseline"
    assert report.samples == {ITEMS: N_ITEMS, ECHO: N_ECHO}
    nonce = _find(report, ITEMS, "body.nonce", "value")
    assert (nonce.new_count, nonce.old_count, nonce.samples) == (N_ITEMS, N_ITEMS, N_ITEMS)
    assert nonce.is_noise()
    trace = _find(report, ITEMS, "headers.x-trace", "header")
    assert trace.r == trace.n == 1.0 and trace.is_noise()
    total = _find(report, ITEMS, "body.total", "value")
    assert (total.r, total.n) == (1.0, 0.0) and not total.is_noise()
    legacy = _find(report, ITEMS, "body.legacy", "missing")
    assert (legacy.r, legacy.structural, legacy.is_noise()) == (1.0, True, False)
    assert not report.is_noise(ITEMS, "body.legacy", "missing", min_samples=1, ratio=0.0)
    tags = [p for p in report.paths if p.path == "body.tags" and p.kind in ("missing", "extra")]
    # the old service itself flips `tags` on and off: presence noise old-vs-old shows too
    assert tags and all(p.old_count > 0 for p in tags), report.lines()
    assert all(report.is_noise(ITEMS, p.path, p.kind) for p in tags if p.new_count)
    assert any("body.total:value" in line and "real difference" in line for line in report.lines())


@pytest.mark.e2e
def test_proposes_one_rule_per_path_pooled(store: Store) -> None:
    report = measure_noise(store, "cand")
    proposals = propose_rules(report)
    # one rule per path over both endpoints (no endpoint scope): none dissents
    assert {(p.path, p.kind, p.endpoints, p.scoped) for p in proposals} == {
        ("body.nonce", "keys_only", (ECHO, ITEMS), False),
        ("headers.x-trace", "keys_only", (ECHO, ITEMS), False),
        ("body.tags", "ignore", (ITEMS,), False),
    }
    nonce = next(p for p in proposals if p.path == "body.nonce")
    total = N_ITEMS + N_ECHO
    assert (nonce.r, nonce.n, nonce.samples, nonce.diff_kinds) == (1.0, 1.0, total, ("value",))
    assert f"{total}/{total} requests (N=1.00)" in nonce.reason
    # however permissive the criterion, a real change or a presence difference old-vs-old
    # never shows (legacy) is never proposed
    loose = propose_rules(report, min_samples=1, ratio=0.0)
    assert {p.path for p in loose} == {"body.nonce", "headers.x-trace", "body.tags"}
    assert propose_rules(report, min_samples=total + 1) == []


@pytest.mark.e2e
def test_rendered_toml_parses_as_rules(store: Store) -> None:
    proposals = propose_rules(measure_noise(store, "cand"))
    text = render_toml(proposals)
    rules = parse_rules(text, "noise.toml")
    assert [r.name for r in rules] == [p.name for p in proposals]
    for rule, p in zip(rules, proposals, strict=True):
        assert (rule.kind, [x.text for x in rule.paths], rule.endpoints) == (
            p.kind,
            [p.path],
            (),  # valid everywhere: no endpoint scope
        )
        assert rule.reason == p.reason and "R=1.00 N=1.00" not in rule.reason
    assert text.count("[[rules]]") == 3
    assert f"# R=1.00 N=1.00 samples={N_ITEMS + N_ECHO} (2 endpoints)\n[[rules]]" in text


def _stored(store: Store) -> list[tuple[object, ...]]:
    return store.db.execute(
        "SELECT run_id, exchange_id, verdict, signature, n_fields FROM diffs ORDER BY 1, 2"
    ).fetchall()


@pytest.mark.e2e
def test_verify_keeps_rules_that_remove_their_diffs(store: Store) -> None:
    proposals = propose_rules(measure_noise(store, "cand"))
    useless = ProposedRule(
        name="noise: body.nothing",
        kind="keys_only",
        endpoints=(ITEMS,),
        path="body.nothing",
        diff_kinds=("value",),
        r=1.0,
        n=1.0,
        samples=N_ITEMS,
        reason="a rule that matches nothing",
    )
    before = _stored(store)
    result = verify(store, "cand", _rules(), [*proposals, useless])
    assert _stored(store) == before  # stored diffs are not rewritten
    assert result.kept == proposals
    assert [c.proposal for c in result.rejected] == [useless]
    assert result.rejected[0].why == "rejected: nothing to remove under the given rules"
    nonce = next(c for c in result.checks if c.proposal.path == "body.nonce")
    both = N_ITEMS + N_ECHO
    assert (nonce.before, nonce.after, nonce.baseline_removed) == (both, 0, both)
    assert nonce.introduced == ()
    assert nonce.exchanges_fixed == 0  # echo still differs at x-trace; items: total, legacy
    assert (result.differing_before, result.differing_after) == (N_ITEMS + N_ECHO, N_ITEMS)
    assert result.baseline_after < result.baseline_before == N_ITEMS + N_ECHO
    assert result.stored_differing == N_ITEMS + N_ECHO and result.notes == []
    assert (
        result.lines()[0]
        == "verified 3 of 4 proposed rules by re-comparing 2 endpoint(s) in memory"
    )


@pytest.mark.e2e
def test_noise_adjusted_counts_and_gate(store: Store) -> None:
    counts = noise_adjusted(store, "cand")
    assert (counts[ECHO].differing, counts[ECHO].adjusted) == (N_ECHO, 0)
    assert (counts[ITEMS].differing, counts[ITEMS].adjusted) == (N_ITEMS, N_ITEMS)
    limits = GateLimits(max_diff_rate=1.0, max_endpoint_diff_rate=0.0, allow_structural=True)
    result = evaluate(store, "cand", limits)
    assert result.reasons == [
        f"{ITEMS}: diff rate 100.0% ({N_ITEMS}/{N_ITEMS}, noise-adjusted) exceeds "
        "--max-endpoint-diff-rate 0.0%"
    ]


@pytest.mark.e2e
def test_proposed_rules_work_in_the_real_pipeline(db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    with sqlite3.connect(db) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    with Store.open(copy) as store:
        text = render_toml(propose_rules(measure_noise(store, "cand")))
        cand, base = diff_run(store, "cand", _rules().merge(parse_rules(text, "noise.toml")))
        assert cand.different == N_ITEMS and base is not None
        assert all("nonce" not in s and "x-trace" not in s for s in cand.signatures)
        assert all("body.total:value" in s for s in cand.signatures)
        assert not [name for name in cand.unused_rules if name.startswith("noise:")]
        # old vs old: only the structural `tags` flip is left
        assert all(s.endswith(("body.tags:extra", "body.tags:missing")) for s in base.signatures)


# --------------------------------------------------------------------------- report vs gate

TOLERANCE = """
[[rules]]
name = "float jitter"
kind = "tolerance"
paths = ["body.x", "body.y"]
abs = 0.01
reason = "floats jitter in the last digits"
"""


def _mixed_run(store: Store) -> None:
    """A candidate run and its baseline where the report's and the gate's noise used to part.

    - ``/n``: a nonce that differs in both runs (noise), a real change in 2, a replay error;
    - ``/few``: the same nonce on 3 requests only: too few alone, noise once pooled with /n;
    - ``/tol``: old-vs-old jitter a tolerance rule absorbs, old-vs-new a real change beyond
      it: absorbed old-vs-old differences do not explain a counting one;
    - ``/mix``: old-vs-new mostly absorbed jitter, beyond the tolerance in 2 requests, as often
      as old-vs-old: absorbed old-vs-new differences do not dilute R, so that is noise.
    """
    shapes = {"n": 20, "few": 3, "tol": 10, "mix": 10}
    items = [
        (f"/{k}", {"k": k, "i": i, "nonce": f"rec{i}", "x": 1.0, "y": 1.0})
        for k, count in shapes.items()
        for i in range(count)
    ]
    exchanges = session(store, items, name="mixed")

    def new(_: int, body: dict[str, Any]) -> Answer:
        k, i = body["k"], body["i"]
        if k == "n" and i == 19:
            return Answer(error="timeout: ReadTimeout")
        if k in ("n", "few"):
            return Answer({**body, "nonce": f"new{i}", **({"v": 2} if k == "n" and i < 2 else {})})
        if k == "tol":
            return Answer({**body, "x": 2.0})
        return Answer({**body, "y": 5.0 if i < 2 else 1.001})  # mix

    def base(_: int, body: dict[str, Any]) -> Answer:
        k, i = body["k"], body["i"]
        if k in ("n", "few"):
            return Answer({**body, "nonce": f"old{i}"})
        if k == "tol":
            return Answer({**body, "x": 1.001})
        return Answer({**body, "y": 7.0 if i < 2 else 1.0})  # mix

    add_run(store, exchanges, "mixed", new, base=base, rules=parse_rules(TOLERANCE))


@pytest.mark.unit
def test_report_and_gate_agree_on_noise(tmp_path: Path) -> None:
    with Store.open(tmp_path / "mixed.db") as store:
        _mixed_run(store)
        report = build_report(store, "mixed")
        gate = evaluate(store, "mixed", GateLimits(max_diff_rate=1.0, allow_structural=True))
        noise = measure_noise(store, "mixed")
        noise_only = noise_only_exchanges(store, noise)
        counts = noise_adjusted(store, "mixed")
        members: dict[str | None, set[int]] = {}
        for sig, ex_id in store.db.execute(
            "SELECT signature, exchange_id FROM diffs WHERE run_id = ? AND verdict <> 'same'",
            [report.run.id],
        ):
            members.setdefault(sig, set()).add(int(ex_id))

    assert gate.noise_applied and report.has_baseline
    stats = {e.endpoint: e for e in gate.endpoints}
    assert set(stats) == {e.endpoint for e in report.endpoints} == set(counts)
    for e in report.endpoints:
        g = stats[e.endpoint]
        assert (e.different + e.errors, e.errors) == (g.differing, g.errors), e.endpoint
        assert e.different_adjusted == e.different - g.noise_only, e.endpoint
        assert e.different_adjusted + e.errors == g.counted == counts[e.endpoint].adjusted
    assert report.run.different_adjusted == gate.counted - gate.errors
    # the figures themselves, so that agreeing on something wrong fails too
    assert {e.endpoint: e.different_adjusted for e in report.endpoints} == {
        "GET /n": 2,  # 17 nonce-only requests are noise; the error is no difference
        "GET /few": 0,  # 3 samples alone, but the nonce's evidence is pooled with /n
        "GET /tol": 10,
        "GET /mix": 0,
    }
    assert {ep: (g.differing, g.noise_only, g.counted) for ep, g in stats.items()} == {
        "GET /n": (20, 17, 3),
        "GET /few": (3, 3, 0),
        "GET /tol": (10, 0, 10),
        "GET /mix": (2, 2, 0),
    }
    # noise flags: the report's noise rows and signatures say what the gate excluded
    assert {(n.endpoint, n.path, n.kind) for n in report.noise if n.noise} == noise.noise_keys()
    assert noise.noise_keys() == {
        ("GET /n", "body.nonce", "value"),
        ("GET /few", "body.nonce", "value"),
        ("GET /mix", "body.y", "value"),
    }
    assert len(report.signatures) == len(members) > 4
    for s in report.signatures:
        assert s.noise == (members[s.signature] <= noise_only), s.text
    assert {s.text for s in report.signatures if s.noise} == {
        "GET /n | body.nonce:value/other",
        "GET /few | body.nonce:value/other",
        "GET /mix | body.y:value/number",
    }
