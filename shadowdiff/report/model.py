"""What a report says about a run, built from the store (no rendering).

`build_report(store, run)` reads the run's replays, diffs, field differences and rule hits
(and its baseline run's, when it has one) and returns a `Report` (the dataclasses of
`shadowdiff.report.contents`): per endpoint the counts, rates, differing fields and latency;
the root-cause signatures with sample old/new bodies; the rule hits; and, with a baseline,
the noise-adjusted figures; and the agreement figures per path (`shadowdiff.analysis.agreement`).

Noise (R, N, the criterion, noise-only requests, noise-adjusted counts) comes from
`shadowdiff.analysis.noise_measure`, the same definition the gate and `shadowdiff noise` use, so
a report's noise-adjusted counts are the gate's (`EndpointStats.differing - noise_only`, errors
aside). Latency is the one comparison of `shadowdiff.analysis.latency`, the gate's too: old is
the baseline run's replay when there is one, else the recording (`Latency.basis` says which).
Field paths are the general paths stored at diff time; sample fields keep concrete paths.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from shadowdiff.analysis.drift import measure_drift
from shadowdiff.analysis.latency import RunLatency, compare_latency
from shadowdiff.analysis.noise_measure import (
    NoiseError,
    NoiseReport,
    PathNoise,
    measure_noise,
    noise_adjusted,
)
from shadowdiff.analysis.signature_pick import pick_signature
from shadowdiff.analysis.spec_check import check_run, stored_check
from shadowdiff.differ import signature_item
from shadowdiff.errors import ReportError
from shadowdiff.report.body_view import Side, sample_views
from shadowdiff.report.contents import (
    MAX_SAMPLES,
    AbsorbedRule,
    AgreementFigures,
    Change,
    EndpointReport,
    FieldCount,
    FieldValue,
    FindingReport,
    HiddenRule,
    NoiseRow,
    Report,
    RuleHit,
    RunInfo,
    Sample,
    SignatureReport,
)
from shadowdiff.report.findings import finding_carriers, report_findings, split_signatures
from shadowdiff.report.sections import agreement_figures, hidden_rules, volatile_values
from shadowdiff.store import FieldCountRow, Run, SignatureGroup, Store
from shadowdiff.vocabulary import RunKind, Verdict

if TYPE_CHECKING:
    from shadowdiff.openapi import Spec

__all__ = [
    "MAX_SAMPLES",
    "AbsorbedRule",
    "AgreementFigures",
    "Change",
    "EndpointReport",
    "FieldCount",
    "FieldValue",
    "FindingReport",
    "HiddenRule",
    "NoiseRow",
    "Report",
    "ReportError",
    "RuleHit",
    "RunInfo",
    "Sample",
    "SignatureReport",
    "build_report",
]


Key = tuple[str, str, str]  # (part, general path, kind)


@dataclass
class _FieldRows:
    """The run's field differences at their general paths, counted in SQL: per endpoint the
    exchanges with each difference, and the keys of each signature group's first exchange."""

    counting: dict[int, set[Key]] = field(default_factory=dict)
    by_endpoint: dict[str, Counter[Key]] = field(default_factory=lambda: defaultdict(Counter))
    absorbed: dict[str, dict[str, Counter[Key]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Counter))
    )
    absorbed_requests: dict[tuple[str, str], int] = field(default_factory=dict)
    counts: list[FieldCountRow] = field(default_factory=list)


def _field_rows(store: Store, run_id: int) -> _FieldRows:
    out = _FieldRows(store.first_counting_keys(run_id), counts=store.field_counts(run_id))
    for r in out.counts:
        key = (r.part, r.general_path, r.kind)
        if r.rule is None:
            out.by_endpoint[r.endpoint][key] += r.requests
        else:
            out.absorbed[r.endpoint][r.rule][key] += r.requests
    out.absorbed_requests = store.absorbed_requests(run_id)
    return out


def _measure(store: Store, run: Run, baseline: Run | None) -> NoiseReport | None:
    """The run's noise, or None without a baseline run or when it was never diffed (the gate
    then does not noise-adjust either)."""
    if baseline is None:
        return None
    try:
        return measure_noise(store, run)
    except NoiseError:
        return None


def _sample(store: Store, run_id: int, exchange_id: int) -> Sample:
    row = store.sample_row(run_id, exchange_id)
    fields = [FieldValue(*f) for f in store.sample_fields(run_id, exchange_id)]
    marked = frozenset(f.path for f in fields)
    old_note = "recorded body was truncated at capture" if row.old_truncated else None
    if row.old.error:
        old_note = f"recorded error: {row.old.error}"
    if store.run(run_id).reference_run_id is not None:  # lockstep: the primary's answer
        old_note = f"primary error: {row.old.error}" if row.old.error else None
        old_note = old_note or ("primary's body was cut" if row.old_truncated else None)
    new_note = f"replay error: {row.new.error}" if row.new.error else None
    old, new = row.old, row.new
    old_view, new_view = sample_views(
        Side(old.status, old.headers_json, old.body, old_note),
        Side(new.status, new.headers_json, new.body, new_note),
        marked,
    )
    return Sample(exchange_id, row.request, old_view, new_view, fields)


@dataclass(frozen=True)
class _Context:
    """What the parts of a report are built from."""

    store: Store
    run: Run
    baseline: Run | None
    rows: _FieldRows
    noise: NoiseReport | None


def _signature(ctx: _Context, g: SignatureGroup, total: int, samples: list[int]) -> SignatureReport:
    noise: bool | None
    if g.verdict == Verdict.ERROR:
        items = [f"error:{g.error_kind}"]
        noise = False if ctx.baseline else None
    else:
        keys = sorted(ctx.rows.counting.get(g.first_exchange_id, set()), key=lambda k: k[1:])
        changes = ctx.store.counting_changes(ctx.run.id, g.first_exchange_id)
        items = [signature_item(path, kind, changes.get((path, kind))) for _, path, kind in keys]
        noise = (
            ctx.noise is not None and ctx.noise.all_noise(g.endpoint, ((p, k) for _, p, k in keys))
            if ctx.baseline
            else None
        )
    return SignatureReport(
        signature=g.signature,
        text=g.text,
        endpoint=g.endpoint,
        verdict=g.verdict,
        requests=g.requests,
        share=g.requests / total if total else 0.0,
        items=items,
        noise=noise,
        samples=[_sample(ctx.store, ctx.run.id, i) for i in samples],
    )


def _counts(counter: Counter[Key], noise: NoiseReport | None, endpoint: str) -> list[FieldCount]:
    return [
        FieldCount(part, path, kind, n, noise is not None and noise.is_noise(endpoint, path, kind))
        for (part, path, kind), n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def _endpoint(
    ctx: _Context,
    endpoint: str,
    requests: int,
    v: Counter[Verdict],
    noise_only: int,
    latency: RunLatency,
    signatures: list[str],
) -> EndpointReport:
    compared = sum(v.values())
    absorbed = [
        AbsorbedRule(rule, ctx.rows.absorbed_requests[endpoint, rule], _counts(counter, None, ""))
        for rule, counter in sorted(ctx.rows.absorbed[endpoint].items())
    ]
    return EndpointReport(
        endpoint=endpoint,
        requests=requests,
        compared=compared,
        same=v[Verdict.SAME],
        different=v[Verdict.DIFFERENT],
        errors=v[Verdict.ERROR],
        diff_rate=v[Verdict.DIFFERENT] / compared if compared else 0.0,
        different_adjusted=v[Verdict.DIFFERENT] - noise_only if ctx.baseline else None,
        latency=latency.of(endpoint),
        fields=_counts(ctx.rows.by_endpoint[endpoint], ctx.noise, endpoint),
        absorbed=absorbed,
        signatures=signatures,
    )


def _run_info(ctx: _Context, verdicts: Counter[Verdict], requests: int) -> RunInfo:
    run, baseline = ctx.run, ctx.baseline
    compared = sum(verdicts.values())
    base_diff = (
        ctx.store.count_diffs(baseline.id, Verdict.DIFFERENT) if baseline is not None else None
    )
    return RunInfo(
        id=run.id,
        name=run.name,
        kind=run.kind,
        status=run.status,
        session=ctx.store.session(run.session_id).name,
        target=run.target,
        started_at=run.started_at,
        finished_at=run.finished_at,
        baseline=baseline.name if baseline else None,
        baseline_target=baseline.target if baseline else None,
        baseline_different=base_diff,
        requests=requests,
        compared=compared,
        same=verdicts[Verdict.SAME],
        different=verdicts[Verdict.DIFFERENT],
        errors=verdicts[Verdict.ERROR],
        diff_rate=verdicts[Verdict.DIFFERENT] / compared if compared else 0.0,
        different_adjusted=None,
        diff_rate_adjusted=None,
        **_primary(ctx),
    )


def _primary(ctx: _Context) -> dict[str, str | None]:
    """The run's reference (lockstep: its primary), whose answers are the old side."""
    ref = ctx.store.reference_of(ctx.run)
    return {"primary": ref.name, "primary_target": ref.target} if ref is not None else {}


def p_key(p: PathNoise) -> tuple[str, str, str]:
    return p.endpoint, p.path, p.kind


def _noise_rows(noise: NoiseReport | None) -> list[NoiseRow]:
    return sorted(
        (
            NoiseRow(p.endpoint, p.path, p.kind, p.r, p.n, noise.is_noise(*p_key(p)))
            for p in (noise.paths if noise is not None else [])
            if noise is not None
        ),
        key=lambda r: (r.endpoint, -r.r, r.path, r.kind),
    )


def _context(store: Store, run_ref: str | int) -> tuple[_Context, dict[str, Counter[Verdict]]]:
    """The run, its baseline and field rows; its verdicts per endpoint (ReportError if none)."""
    run = store.run(run_ref)
    baseline = store.baseline_of(run) if run.kind == RunKind.CANDIDATE else None
    verdicts = store.verdicts_per_endpoint(run.id)
    if not verdicts:
        if store.count_replays(run.id):
            raise ReportError(
                f"run {run.name!r} was replayed but never diffed; "
                f"run `shadowdiff diff {run.name}` first"
            )
        raise ReportError(f"run {run.name!r} has no replayed requests; nothing to report")
    ctx = _Context(store, run, baseline, _field_rows(store, run.id), _measure(store, run, baseline))
    return ctx, verdicts


def build_report(
    store: Store,
    run_ref: str | int,
    *,
    samples: int = 1,
    spec: Spec | None = None,
    signature: str | None = None,
) -> Report:
    """Everything the renderers show about one run (a candidate run, or any run by name/id).

    With ``spec``, the OpenAPI section is computed against it; else the one stored when the
    run was diffed with a spec, if any. With ``signature`` (an id or a unique prefix), the
    root causes are that one signature only; the rest of the report is the whole run's.
    Raises RunNotFoundError for an unknown run and ReportError for a run never diffed, a
    bad `samples` or a signature the run does not have (naming the nearest ids)."""
    if not 0 <= samples <= MAX_SAMPLES:
        raise ReportError(f"samples must be between 0 and {MAX_SAMPLES}, not {samples}")
    ctx, verdicts = _context(store, run_ref)
    run = ctx.run
    requests = store.replays_per_endpoint(run.id)
    noise_only = (
        {ep: c.noise_only for ep, c in noise_adjusted(store, run, noise=ctx.noise).items()}
        if ctx.noise is not None
        else {}
    )
    total = Counter[Verdict]()
    for c in verdicts.values():
        total.update(c)
    sample_ids = store.sample_ids(run.id, samples)
    signatures = [
        _signature(ctx, g, total.total(), sample_ids.get(g.signature, []))
        for g in _groups(store, run, signature)
    ]
    signatures, by_endpoint_sigs = split_signatures(signatures, narrowed=signature is not None)
    latency = compare_latency(store, run, ctx.baseline)
    endpoints = [
        _endpoint(ctx, ep, requests[ep], verdicts.get(ep, Counter()), noise_only.get(ep, 0),
                  latency, by_endpoint_sigs[ep])
        for ep in sorted(requests.keys() | verdicts.keys())
    ]  # fmt: skip
    endpoints.sort(key=lambda e: (-e.different, -e.errors, -e.diff_rate, e.endpoint))
    info = _run_info(ctx, total, sum(requests.values()))
    if ctx.baseline:
        info = _replace_adjusted(info, sum(e.different_adjusted or 0 for e in endpoints))
    rules = [RuleHit(*r) for r in store.rule_hits(run.id)]
    return Report(
        run=info,
        latency=latency.overall,
        endpoints=endpoints,
        signatures=signatures,
        rules=rules,
        hidden=hidden_rules(store, run.id, rules, ctx.rows.counts, ctx.rows.absorbed_requests),
        volatile=volatile_values(store, run.id),
        noise=_noise_rows(ctx.noise),
        agreement=agreement_figures(ctx.store, run.id),
        spec=check_run(store, run, spec) if spec is not None else stored_check(store, run),
        drift=measure_drift(store, run) if run.kind == RunKind.CANDIDATE else None,
        findings=report_findings(store, run.id, ctx.noise),
    )


def _groups(store: Store, run: Run, signature: str | None) -> list[SignatureGroup]:
    """The run's signature groups, or those `signature` names (an id or unique prefix; a
    run-wide finding's id names the signatures of the requests carrying it)."""
    groups = store.signature_groups(run.id)
    if signature is None:
        return groups
    known = [g.signature for g in groups if g.signature is not None]
    carriers = finding_carriers(store, run.id)
    chosen = pick_signature([*known, *carriers], signature, run.name, ReportError)
    wanted = carriers.get(chosen, {chosen})
    return [g for g in groups if g.signature in wanted]


def _replace_adjusted(info: RunInfo, adjusted: int) -> RunInfo:
    rate = adjusted / info.compared if info.compared else 0.0
    return replace(info, different_adjusted=adjusted, diff_rate_adjusted=rate)
