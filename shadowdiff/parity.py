"""Parity as test items: replay a recorded session, diff it, and judge each endpoint.

What the pytest plugin (``shadowdiff.pytest_plugin``) runs once per test session. An
endpoint passes when none of its requests differs after rules, noise (with a baseline or a
lockstep secondary) and accepted signatures, and no response of the new side is outside the
OpenAPI spec (when one is given): the gate with ``max_endpoint_diff_rate = 0``, read per endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from shadowdiff.analysis.diffrun import DiffSummary, diff_run, load_ruleset
from shadowdiff.analysis.gate import GateLimits, GateResult, evaluate
from shadowdiff.openapi import Spec, load_spec
from shadowdiff.replayer.engine import ReplayConfig, replay
from shadowdiff.report import Report, build_report
from shadowdiff.store import Run, Store

if TYPE_CHECKING:
    from shadowdiff.report.contents import Sample, SignatureReport

SIDE_WIDTH: Final = 48
MAX_SAMPLE_LINES: Final = 40
MAX_SIGNATURES: Final = 10


@dataclass(frozen=True)
class ParityOptions:
    """The plugin's command-line options."""

    db: Path
    target: str
    baseline: str | None = None
    primary: str | None = None  # lockstep: a live old instance, the old side of the diff
    secondary: str | None = None  # lockstep: a second old instance (noise)
    session: str | None = None
    rules: Path | None = None
    accepted: Path | None = None
    openapi: str | None = None
    search_dir: Path | None = None  # where a default rules file is looked up


@dataclass
class ParityRun:
    """One replay-and-diff, as the ``shadowdiff_run`` fixture hands it to tests."""

    db: Path
    run: Run
    summary: DiffSummary
    gate: GateResult
    report: Report
    endpoints: list[str] = field(default_factory=list)

    def failures(self, endpoint: str) -> list[str]:
        """The gate's reasons about one endpoint, and about the whole run (an interrupted
        replay); empty: it passes."""
        return [f.text for f in self.gate.findings if f.endpoint in (endpoint, None)]

    def explain(self, endpoint: str) -> str:
        """A failing endpoint in pytest's assertion style: reasons, signatures, one sample
        side by side, rule hits."""
        lines = [f"shadowdiff parity failed for {endpoint} (run {self.run.name}, db {self.db})"]
        lines += [f"E   {reason}" for reason in self.failures(endpoint)]
        sigs = [s for s in self.report.signatures if s.endpoint == endpoint]
        if sigs:
            lines.append("signatures:")
            for sig in sigs[:MAX_SIGNATURES]:
                lines.append(f"  {sig.signature or '-'} ({sig.requests} requests): {sig.text}")
            if len(sigs) > MAX_SIGNATURES:
                lines.append(f"  ... {len(sigs) - MAX_SIGNATURES} more: see `shadowdiff report`")
            sample = next(((s, x) for s in sigs for x in s.samples), None)
            if sample is not None:
                lines += side_by_side(*sample)
        hits = [r for r in self.report.rules if r.count]
        if hits:
            lines.append("rule hits:")
            lines += [f"  {r.rule} ({r.kind}): {r.count}" for r in hits]
        return "\n".join(lines)


def side_by_side(sig: SignatureReport, sample: Sample) -> list[str]:
    """One sample: its differing fields, then old and new bodies in two columns."""
    out = [f"sample: exchange {sample.exchange_id}, {sample.request}"]
    for f in sample.fields:
        out.append(f"  {f.path} ({f.kind}): old {f.old} != new {f.new}")
    old = [("!" if ln.marked else " ") + ln.text for ln in sample.old.lines]
    new = [("!" if ln.marked else " ") + ln.text for ln in sample.new.lines]
    head_old = f"old (status {sample.old.status})"
    head_new = f"new (status {sample.new.status})"
    out.append(f"  {head_old:<{SIDE_WIDTH}} | {head_new}")
    for i in range(min(max(len(old), len(new)), MAX_SAMPLE_LINES)):
        left = old[i] if i < len(old) else ""
        right = new[i] if i < len(new) else ""
        if len(left) > SIDE_WIDTH:
            left = left[: SIDE_WIDTH - 1] + "…"
        out.append(f"  {left:<{SIDE_WIDTH}} | {right}")
    return out


def spec_for(options: ParityOptions, rules_openapi: str | None) -> Spec | None:
    source = options.openapi or rules_openapi
    return load_spec(source) if source else None


def planned_endpoints(options: ParityOptions) -> list[str]:
    """The endpoints the session's traffic covers (spec templates when a spec is given):
    known before anything is replayed, so pytest can collect one item per endpoint."""
    rules, _ = load_ruleset(options.rules, search_dir=options.search_dir)
    spec = spec_for(options, rules.openapi)
    with Store.open(options.db) as store:
        session = store.session(options.session) if options.session else store.latest_session()
        requests = store.session_requests(session.id)
    return sorted(
        {(spec.endpoint(m, p) if spec else None) or guessed for m, p, guessed in requests}
    )


def run_parity(options: ParityOptions) -> ParityRun:
    """Replay, diff and judge once; raises ShadowdiffError subclasses on trouble."""
    from shadowdiff.analysis.accept import load_accepted

    rules, _ = load_ruleset(options.rules, search_dir=options.search_dir)
    spec = spec_for(options, rules.openapi)
    accepted = load_accepted(options.accepted) if options.accepted else None
    limits = GateLimits(max_diff_rate=1.0, max_endpoint_diff_rate=0.0, accepted=accepted)
    config = ReplayConfig(
        target=options.target,
        baseline=options.baseline,
        primary=options.primary,
        secondary=options.secondary,
        session=options.session,
        identity=rules.identity,  # the rules file may say who the clients are
    )
    with Store.open(options.db) as store:
        result = replay(store, config)
        summary, _ = diff_run(store, result.run.id, rules, spec=spec)
        gate = evaluate(store, result.run.id, limits)
        report = build_report(store, result.run.id)
        endpoints = sorted(store.diffed_per_endpoint(result.run.id))
    return ParityRun(options.db, result.run, summary, gate, report, endpoints)
