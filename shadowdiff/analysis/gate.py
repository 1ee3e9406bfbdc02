"""The gate: is a diffed run within its limits? Exit code 0 yes, 1 no; trouble is GateError.

Checks, each failing with one line in ``GateResult.reasons``:

* the run completed (an interrupted run is judged on part of its traffic: it fails);
* overall diff rate <= ``max_diff_rate``; errors (verdict ``error``) count as differing, and
  when they alone exceed the limit an ``errors: N requests failed (kind: n, ...)`` line says why;
* per endpoint diff rate <= ``max_endpoint_diff_rate`` (when given);
* no structural difference unless ``allow_structural`` (a presence difference that is noise
  on its endpoint, ``shadowdiff.analysis.noise_measure``, is none). Structural kinds are
  ``missing``,
  ``extra`` and ``type`` (the issue) plus ``status``: a changed status code breaks clients at
  least as surely as a missing key; absorb an intended one with an ``equivalent_status`` rule;
* every endpoint has at least ``min_samples`` requests (too few is a failure, not a pass);
* with an accepted file: every differing signature and run-wide finding is accepted and not
  expired (``shadowdiff.analysis.gate_findings``); a structural key of a run-wide finding fails
  once for the run, not per endpoint, and never once the finding is accepted;
* no response of the new side outside the OpenAPI spec (kind ``schema``) unless
  ``allow_schema``, when the run was diffed with a spec (or ``evaluate`` is given one);
  findings on the old side are the old service's and never fail the gate;
* per endpoint p50 latency of the new service / p50 of the old <= ``max_latency_ratio``, by
  the one comparison of ``shadowdiff.analysis.latency`` (old: the baseline run when there is
  one, measured alongside the candidate; else the recording, which is not like for like);
* per path agreement figures: largest absolute error <= ``max_abs_error`` and share of values
  agreeing >= ``min_agreement`` (``shadowdiff.analysis.agreement_limits``).

Rates count differing requests minus those excluded: noise-only ones (when the run has a
diffed baseline run and ``noise_adjusted``; criterion in ``shadowdiff.analysis.noise``) and those
with an accepted, unexpired signature. Reason texts say which adjustments applied.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import TYPE_CHECKING

from shadowdiff.analysis import gate_checks as checks
from shadowdiff.analysis.accepted import AcceptedSet
from shadowdiff.analysis.agreement_limits import agreement_findings
from shadowdiff.analysis.diffed import diffed_run
from shadowdiff.analysis.drift import measure_drift
from shadowdiff.analysis.gate_findings import (
    RunWide,
    run_wide,
    signature_findings,
    structural_findings,
)
from shadowdiff.analysis.gate_result import (
    SHOWN_SIGNATURES,
    EndpointStats,
    Finding,
    GateLimits,
    GateResult,
)
from shadowdiff.analysis.latency import BASIS_TEXT, compare_latency
from shadowdiff.analysis.noise_measure import (
    NoiseError,
    NoiseReport,
    measure_noise,
    noise_only_exchanges,
)
from shadowdiff.analysis.spec_check import NEW, SpecCheck, check_run, stored_check
from shadowdiff.errors import GateError
from shadowdiff.store import Judged, Run, Store
from shadowdiff.vocabulary import STRUCTURAL_KINDS

if TYPE_CHECKING:
    from shadowdiff.openapi import Spec

__all__ = [
    "SHOWN_SIGNATURES",
    "STRUCTURAL_KINDS",
    "EndpointStats",
    "Finding",
    "GateError",
    "GateLimits",
    "GateResult",
    "diffed_run",
    "evaluate",
]


def _noise(
    store: Store, run: Run, baseline: Run | None, limits: GateLimits, notes: list[str]
) -> NoiseReport | None:
    """The run's measured noise, or None when rates cannot (or should not) be adjusted."""
    if not limits.noise_adjusted or baseline is None:
        return None
    try:
        return measure_noise(store, run)
    except NoiseError as exc:
        notes.append(f"rates not noise-adjusted: {exc}")
        return None


def _endpoints(
    store: Store,
    run: Run,
    baseline: Run | None,
    rows: list[Judged],
    excluded: tuple[set[int], set[int]],
) -> list[EndpointStats]:
    """Per endpoint figures from the differing `rows` and the per endpoint counts (in SQL);
    `excluded` is (noise-only, accepted) exchanges."""
    lat = compare_latency(store, run, baseline)
    requests = store.diffed_per_endpoint(run.id)
    by_ep: dict[str, list[Judged]] = defaultdict(list)
    for row in rows:
        by_ep[row.endpoint].append(row)
    return [
        checks.endpoint_stats(ep, requests[ep], by_ep[ep], excluded, lat.of(ep))
        for ep in sorted(requests)
    ]


def _structural(
    store: Store,
    run: Run,
    judged: tuple[list[Judged], set[int]],
    found: RunWide,
    measured: NoiseReport | None,
    decisions: tuple[AcceptedSet | None, date],
) -> list[Finding]:
    """Structural differences of the judged rows not excluded (noise keys aside)."""
    rows, excluded = judged
    noise_keys = measured.noise_keys() if measured is not None else set()
    fields = store.structural_keys(run.id)
    return structural_findings(fields, rows, excluded, found, decisions, noise_keys)


def schema_findings(check: SpecCheck | None) -> list[Finding]:
    """One finding per (operation, where, problem) of the new side."""
    if check is None:
        return []
    return [
        Finding(
            "schema",
            f"schema: {ep} answered outside {check.source} at {path}: {msg} ({n} responses); "
            "pass --allow-schema to permit",
            ep,
        )
        for ep, path, msg, n in check.grouped(NEW)
    ]


def evaluate(
    store: Store,
    run_ref: str | int,
    limits: GateLimits,
    *,
    today: date | None = None,
    spec: Spec | None = None,
) -> GateResult:
    """Judge a diffed candidate run against ``limits``; ``today`` decides expiry (tests).
    ``spec``: check responses against this OpenAPI spec instead of what the diff stored."""
    today = today or date.today()
    run = diffed_run(store, run_ref)
    baseline = store.baseline_of(run)
    drift = measure_drift(store, run)
    notes: list[str] = [drift.line] if drift is not None and drift.drifted else []
    if volatile := store.volatile_exchanges(run.id):
        why = "confirmed by the baseline" if baseline else "likely volatile, no baseline"
        notes.append(f"volatile values not counted in {volatile} requests ({why}; "
                     "diff --count-volatile counts them)")  # fmt: skip
    measured = _noise(store, run, baseline, limits, notes)
    noise_only = noise_only_exchanges(store, measured) if measured is not None else None
    noise = noise_only or set()
    rows = store.judged(run.id, differing_only=True)  # `same` ones are counted in SQL
    found = run_wide(store, run.id, measured)
    accepted_ids, accepted_findings = signature_findings(rows, limits.accepted, today, noise, found)
    result = GateResult(
        run=run,
        baseline=baseline,
        limits=limits,
        endpoints=_endpoints(store, run, baseline, rows, (noise, accepted_ids)),
        notes=notes,
        noise_applied=noise_only is not None,
        errors_by_kind=checks.errors_by_kind(rows, accepted_ids),
        signatures=checks.counted_signatures(rows, noise | accepted_ids),
    )
    result.findings.extend(checks.run_findings(result))
    result.findings.extend(checks.rate_findings(result))
    if not limits.allow_structural:
        judged = (rows, noise | accepted_ids)
        decisions = (limits.accepted, today)
        result.findings.extend(_structural(store, run, judged, found, measured, decisions))
    result.findings.extend(checks.sample_findings(result.endpoints, limits.min_samples))
    if not limits.allow_schema:
        check = check_run(store, run, spec) if spec is not None else stored_check(store, run)
        result.findings.extend(schema_findings(check))
    result.findings.extend(accepted_findings)
    if limits.max_latency_ratio is not None:
        source = BASIS_TEXT["baseline" if baseline is not None else "recorded"]
        result.findings.extend(
            checks.latency_findings(result.endpoints, limits.max_latency_ratio, source)
        )
    if limits.max_abs_error or limits.min_agreement:
        result.findings.extend(
            agreement_findings(
                store.agreement(run.id), limits.max_abs_error, limits.min_agreement, notes
            )
        )
    return result
