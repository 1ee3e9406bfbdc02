"""The gate: is a diffed run within its limits? Exit code 0 yes, 1 no; trouble is GateError.

Checks, each failing with one line in ``GateResult.reasons``:

* the run completed (an interrupted run is judged on part of its traffic: it fails);
* overall diff rate <= ``max_diff_rate``; errors (verdict ``error``) count as differing, and
  when they alone exceed the limit an ``errors: N requests failed (kind: n, ...)`` line says why;
* per endpoint diff rate <= ``max_endpoint_diff_rate`` (when given);
* no structural difference unless ``allow_structural``. Structural kinds are ``missing``,
  ``extra`` and ``type`` (the issue) plus ``status``: a changed status code breaks clients at
  least as surely as a missing key; absorb an intended one with an ``equivalent_status`` rule;
* every endpoint has at least ``min_samples`` requests (too few is a failure, not a pass);
* with an accepted file: every differing signature is accepted and not expired;
* per endpoint p50 latency of the new service / p50 of the old <= ``max_latency_ratio`` (old:
  the baseline run when there is one, measured alongside the candidate; else the recording).

Rates count differing requests minus those excluded: noise-only ones (when the run has a
diffed baseline run and ``noise_adjusted``; criterion in ``shadowdiff.analysis.noise``) and those
with an accepted, unexpired signature. Reason texts say which adjustments applied.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from shadowdiff.analysis.noise import NoiseError, measure_noise, noise_only_exchanges
from shadowdiff.differ.paths import generalize_path
from shadowdiff.errors import GateError
from shadowdiff.formatting import pct as _pct
from shadowdiff.store import Run, Store, StoreError
from shadowdiff.vocabulary import STRUCTURAL_KINDS

if TYPE_CHECKING:
    from shadowdiff.analysis.accept import AcceptedSet

__all__ = [
    "STRUCTURAL_KINDS",
    "EndpointStats",
    "Finding",
    "GateError",
    "GateLimits",
    "GateResult",
    "diffed_run",
    "evaluate",
]


@dataclass(frozen=True)
class GateLimits:
    max_diff_rate: float = 0.0
    max_endpoint_diff_rate: float | None = None
    allow_structural: bool = False
    min_samples: int = 1
    accepted: AcceptedSet | None = None
    max_latency_ratio: float | None = None
    noise_adjusted: bool = True


@dataclass(frozen=True)
class Finding:
    """One failing check: ``check`` names it, ``endpoint`` when it is about one endpoint."""

    check: str  # run | diff rate | errors | endpoint diff rate | structural | min samples |
    #             signature | latency
    text: str
    endpoint: str | None = None


@dataclass(frozen=True)
class EndpointStats:
    endpoint: str
    requests: int
    differing: int  # verdict different or error
    errors: int
    noise_only: int  # differing only at noise paths (not counted)
    accepted: int  # differing with an accepted, unexpired signature (not counted)
    p50_new_ms: float | None = None
    p50_old_ms: float | None = None

    @property
    def counted(self) -> int:
        return self.differing - self.noise_only - self.accepted

    @property
    def rate(self) -> float:
        return self.counted / self.requests if self.requests else 0.0

    @property
    def latency_ratio(self) -> float | None:
        if self.p50_new_ms is None or not self.p50_old_ms:
            return None
        return self.p50_new_ms / self.p50_old_ms


SHOWN_SIGNATURES = 10


@dataclass
class GateResult:
    run: Run
    baseline: Run | None
    limits: GateLimits
    endpoints: list[EndpointStats]
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    noise_applied: bool = False  # rates are noise-adjusted
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    # counted (not noise, not accepted) root causes: (signature, text, requests), most first
    signatures: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return [f.text for f in self.findings]

    @property
    def exit_code(self) -> int:
        return 1 if self.findings else 0

    @property
    def passed(self) -> bool:
        return not self.findings

    @property
    def requests(self) -> int:
        return sum(e.requests for e in self.endpoints)

    @property
    def differing(self) -> int:
        return sum(e.differing for e in self.endpoints)

    @property
    def counted(self) -> int:
        return sum(e.counted for e in self.endpoints)

    @property
    def errors(self) -> int:
        return sum(e.errors for e in self.endpoints)

    @property
    def rate(self) -> float:
        return self.counted / self.requests if self.requests else 0.0

    def lines(self, *, endpoints: bool = False) -> list[str]:
        """Print-ready: a headline, one line per failing reason, notes; optionally a table."""
        verdict = "PASS" if self.passed else "FAIL"
        head = (
            f"gate {verdict}: run {self.run.name}: {self.requests} requests, "
            f"{self.differing} differing, {self.errors} errors; counted {self.counted} "
            f"({_pct(self.rate)})"
        )
        if self.noise_applied and self.baseline is not None:
            noise = sum(e.noise_only for e in self.endpoints)
            head += f"; noise-adjusted with {self.baseline.name} ({noise} noise-only)"
        accepted = sum(e.accepted for e in self.endpoints)
        if self.limits.accepted is not None:
            head += f"; {accepted} accepted"
        out = [head, *(f"  - {r}" for r in self.reasons), *(f"  note: {n}" for n in self.notes)]
        if not self.passed:
            for sig, text, n in self.signatures[:SHOWN_SIGNATURES]:
                out.append(f"  signature {sig} ({n} requests): {text}")
            if len(self.signatures) > SHOWN_SIGNATURES:
                more = len(self.signatures) - SHOWN_SIGNATURES
                out.append(f"  ... {more} more signatures: see `shadowdiff report`")
        if endpoints:
            out.append(f"  {'endpoint':<32} {'requests':>8} {'differing':>9} {'counted':>7}")
            for e in self.endpoints:
                out.append(
                    f"  {e.endpoint:<32} {e.requests:>8} {e.differing:>9} {e.counted:>7}"
                    f"  {_pct(e.rate)}"
                )
        return out


# --------------------------------------------------------------------------- loading


def diffed_run(store: Store, run_ref: str | int) -> Run:
    """The candidate run ``run_ref``, checked to be diffed (all replays) -- else GateError."""
    try:
        run = store.run(run_ref)
    except StoreError as exc:
        raise GateError(str(exc)) from exc
    if run.kind == "baseline":
        paired = store.run(run.paired_run_id).name if run.paired_run_id else "its candidate"
        raise GateError(
            f"run {run.name!r} is a baseline run (old vs old); gate the candidate run {paired!r}"
        )
    replays = int(
        store.db.execute("SELECT count(*) FROM replays WHERE run_id = ?", [run.id]).fetchone()[0]
    )
    diffs = int(
        store.db.execute("SELECT count(*) FROM diffs WHERE run_id = ?", [run.id]).fetchone()[0]
    )
    if replays == 0:
        raise GateError(f"run {run.name!r} has no replays; nothing to judge")
    if diffs == 0:
        raise GateError(
            f"run {run.name!r} has not been diffed yet; run `shadowdiff diff {run.name}`"
        )
    if diffs < replays:
        raise GateError(
            f"run {run.name!r} has {replays} replays but only {diffs} diffs; "
            f"run `shadowdiff diff {run.name}` again"
        )
    return run


@dataclass
class _Row:
    exchange_id: int
    endpoint: str
    verdict: str
    signature: str | None
    text: str | None
    error: str | None
    new_ms: float | None


def _rows(store: Store, run: Run) -> list[_Row]:
    sql = (
        "SELECT d.exchange_id, d.endpoint, d.verdict, d.signature, d.signature_text, "
        "r.error, e.error, e.status, r.duration_ms FROM diffs d "
        "JOIN replays r ON r.run_id = d.run_id AND r.exchange_id = d.exchange_id "
        "JOIN exchanges e ON e.id = d.exchange_id WHERE d.run_id = ? ORDER BY d.exchange_id"
    )
    out = []
    for ex_id, ep, verdict, sig, text, rp_err, ex_err, ex_status, ms in store.db.execute(
        sql, [run.id]
    ):
        error = rp_err or (f"recorded: {ex_err}" if ex_status is None else None)
        out.append(_Row(int(ex_id), str(ep), str(verdict), sig, text, error, ms))
    return out


def _old_durations(store: Store, run: Run, baseline: Run | None) -> dict[int, float]:
    if baseline is not None:
        sql = "SELECT exchange_id, duration_ms FROM replays WHERE run_id = ? AND error IS NULL"
        rows = store.db.execute(sql, [baseline.id])
    else:
        sql = (
            "SELECT e.id, e.duration_ms FROM exchanges e JOIN replays r ON r.exchange_id = e.id "
            "WHERE r.run_id = ? AND e.error IS NULL"
        )
        rows = store.db.execute(sql, [run.id])
    return {int(i): float(ms) for i, ms in rows if ms is not None}


def _structural(store: Store, run: Run) -> dict[int, set[tuple[str, str]]]:
    kinds = sorted(STRUCTURAL_KINDS)
    rows = store.db.execute(
        "SELECT exchange_id, path, kind FROM diff_fields WHERE run_id = ? AND rule IS NULL "
        f"AND kind IN ({', '.join('?' * len(kinds))})",
        [run.id, *kinds],
    )
    out: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for ex_id, path, kind in rows:
        out[int(ex_id)].add((generalize_path(path), str(kind)))
    return out


def _noise_only(
    store: Store, run: Run, baseline: Run | None, limits: GateLimits, notes: list[str]
) -> set[int] | None:
    """Noise-only exchanges, or None when rates cannot (or should not) be noise-adjusted."""
    if not limits.noise_adjusted or baseline is None:
        return None
    try:
        return noise_only_exchanges(store, measure_noise(store, run))
    except NoiseError as exc:
        notes.append(f"rates not noise-adjusted: {exc}")
        return None


# --------------------------------------------------------------------------- evaluating


def evaluate(
    store: Store, run_ref: str | int, limits: GateLimits, *, today: date | None = None
) -> GateResult:
    """Judge a diffed candidate run against ``limits``; ``today`` decides expiry (tests)."""
    today = today or date.today()
    run = diffed_run(store, run_ref)
    baseline = store.baseline_of(run)
    notes: list[str] = []
    noise_only = _noise_only(store, run, baseline, limits, notes)
    rows = _rows(store, run)
    accepted_ids, findings = _signatures(rows, limits, today, noise_only or set())
    excluded_noise = noise_only or set()
    old_ms = _old_durations(store, run, baseline) if limits.max_latency_ratio else {}

    by_ep: dict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        by_ep[row.endpoint].append(row)
    stats = [
        _endpoint_stats(ep, by_ep[ep], excluded_noise, accepted_ids, old_ms) for ep in sorted(by_ep)
    ]
    errors = Counter(
        r.error.split(":", 1)[0].strip() or "error"
        for r in rows
        if r.error is not None and r.exchange_id not in accepted_ids
    )
    result = GateResult(
        run=run,
        baseline=baseline,
        limits=limits,
        endpoints=stats,
        notes=notes,
        noise_applied=noise_only is not None,
        errors_by_kind=dict(errors.most_common()),
        signatures=_counted_signatures(rows, excluded_noise | accepted_ids),
    )
    if run.status != "complete":
        result.findings.append(
            Finding(
                "run",
                f"run {run.name} is {run.status}, not complete: it covers part of the traffic; "
                "finish it with `shadowdiff replay --resume` and diff it again",
            )
        )
    result.findings.extend(_rate_findings(result))
    if not limits.allow_structural:
        result.findings.extend(
            _structural_findings(store, run, rows, excluded_noise | accepted_ids)
        )
    result.findings.extend(_sample_findings(stats, limits.min_samples))
    result.findings.extend(findings)
    if limits.max_latency_ratio is not None:
        src = "baseline run" if baseline is not None else "recording"
        result.findings.extend(_latency_findings(stats, limits.max_latency_ratio, src))
    return result


def _counted_signatures(rows: list[_Row], excluded: set[int]) -> list[tuple[str, str, int]]:
    counts: Counter[tuple[str, str]] = Counter(
        (r.signature, r.text or "")
        for r in rows
        if r.verdict != "same" and r.signature and r.exchange_id not in excluded
    )
    return [(sig, text, n) for (sig, text), n in counts.most_common()]


def _endpoint_stats(
    endpoint: str,
    rows: list[_Row],
    noise_only: set[int],
    accepted: set[int],
    old_ms: dict[int, float],
) -> EndpointStats:
    differing = [r for r in rows if r.verdict != "same"]
    new = [r.new_ms for r in rows if r.error is None and r.new_ms is not None]
    old = [old_ms[r.exchange_id] for r in rows if r.exchange_id in old_ms and r.error is None]
    return EndpointStats(
        endpoint=endpoint,
        requests=len(rows),
        differing=len(differing),
        errors=sum(r.verdict == "error" for r in rows),
        noise_only=sum(r.exchange_id in noise_only for r in differing),
        accepted=sum(r.exchange_id in accepted for r in differing),
        p50_new_ms=statistics.median(new) if new else None,
        p50_old_ms=statistics.median(old) if old else None,
    )


def _qualifiers(result: GateResult, stats: list[EndpointStats]) -> str:
    parts = []
    if result.noise_applied:
        noise = sum(e.noise_only for e in stats)
        parts.append(f"noise-adjusted: {noise} noise-only excluded" if noise else "noise-adjusted")
    if result.limits.accepted is not None:
        parts.append(f"{sum(e.accepted for e in stats)} accepted excluded")
    return "".join(f", {p}" for p in parts)


def _rate_findings(result: GateResult) -> list[Finding]:
    limits = result.limits
    out: list[Finding] = []
    total = result.requests
    if result.rate > limits.max_diff_rate:
        out.append(
            Finding(
                "diff rate",
                f"diff rate {_pct(result.rate)} ({result.counted}/{total}"
                f"{_qualifiers(result, result.endpoints)}) exceeds --max-diff-rate "
                f"{_pct(limits.max_diff_rate)}",
            )
        )
    n_errors = sum(result.errors_by_kind.values())
    if n_errors and total and n_errors / total > limits.max_diff_rate:
        kinds = ", ".join(f"{k}: {n}" for k, n in result.errors_by_kind.items())
        out.append(Finding("errors", f"errors: {n_errors} requests failed ({kinds})"))
    if limits.max_endpoint_diff_rate is not None:
        for e in result.endpoints:
            if e.rate > limits.max_endpoint_diff_rate:
                out.append(
                    Finding(
                        "endpoint diff rate",
                        f"{e.endpoint}: diff rate {_pct(e.rate)} ({e.counted}/{e.requests}"
                        f"{_qualifiers(result, [e])}) exceeds --max-endpoint-diff-rate "
                        f"{_pct(limits.max_endpoint_diff_rate)}",
                        e.endpoint,
                    )
                )
    return out


def _structural_findings(
    store: Store, run: Run, rows: list[_Row], excluded: set[int]
) -> list[Finding]:
    fields = _structural(store, run)
    counts: Counter[tuple[str, str, str]] = Counter()
    for row in rows:
        if row.verdict != "different" or row.exchange_id in excluded:
            continue
        for path, kind in fields.get(row.exchange_id, ()):
            counts[(row.endpoint, path, kind)] += 1
    return [
        Finding(
            "structural",
            f"structural difference {path}:{kind} in {ep} ({n} requests); "
            "pass --allow-structural to permit",
            ep,
        )
        for (ep, path, kind), n in sorted(counts.items())
    ]


def _sample_findings(stats: list[EndpointStats], min_samples: int) -> list[Finding]:
    return [
        Finding(
            "min samples",
            f"{e.endpoint}: only {e.requests} samples (< --min-samples {min_samples})",
            e.endpoint,
        )
        for e in stats
        if e.requests < min_samples
    ]


def _signatures(
    rows: list[_Row], limits: GateLimits, today: date, noise_only: set[int]
) -> tuple[set[int], list[Finding]]:
    """Exchanges excused by an accepted, unexpired signature; findings for the others."""
    accepted = limits.accepted
    if accepted is None:
        return set(), []
    groups: dict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        if row.verdict != "same" and row.signature:
            groups[row.signature].append(row)
    excused: set[int] = set()
    new: list[Finding] = []
    expired: list[Finding] = []
    for sig, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        text, ep, n = members[0].text or "", members[0].endpoint, len(members)
        entry = accepted.get(sig)
        if entry is None:
            if all(r.exchange_id in noise_only for r in members):
                continue  # noise, not a difference of the port
            line = f"new signature {sig} {text} ({n} requests) not in accepted file"
            new.append(Finding("signature", line, ep))
        elif entry.expired(today):
            line = f"accepted signature {sig} {text} ({n} requests) expired on {entry.expires}"
            expired.append(Finding("signature", line, ep))
        else:
            excused.update(r.exchange_id for r in members)
    findings = new + expired
    return excused, findings


def _latency_findings(stats: list[EndpointStats], limit: float, source: str) -> list[Finding]:
    out = []
    for e in stats:
        ratio = e.latency_ratio
        if ratio is None or ratio <= limit:
            continue
        out.append(
            Finding(
                "latency",
                f"{e.endpoint}: p50 latency ratio {_ratio(ratio, limit)} "
                f"({e.p50_new_ms:.1f} ms new / {e.p50_old_ms:.1f} ms old, {source}) "
                f"exceeds --max-latency-ratio {limit:g}",
                e.endpoint,
            )
        )
    return out


def _ratio(ratio: float, limit: float) -> str:
    """Two decimals, more when two would print the limit itself (1.2004 vs 1.2)."""
    for digits in (2, 3, 4):
        text = f"{ratio:.{digits}f}"
        if float(text) != limit:
            return text
    return f"{ratio:.6f}"
