"""The gate's checks, one function each: every failing check is a `Finding`."""

from __future__ import annotations

from collections import Counter

from shadowdiff.analysis.gate_result import EndpointStats, Finding, GateResult
from shadowdiff.analysis.latency import Latency
from shadowdiff.formatting import pct
from shadowdiff.store import Judged
from shadowdiff.vocabulary import RunStatus, Verdict

FieldKey = tuple[str, str]  # (general path, kind)


def counted_signatures(rows: list[Judged], excluded: set[int]) -> list[tuple[str, str, int]]:
    """Root causes still counted: (signature, text, requests), most first."""
    counts: Counter[tuple[str, str]] = Counter(
        (r.signature, r.text or "")
        for r in rows
        if r.verdict != Verdict.SAME and r.signature and r.exchange_id not in excluded
    )
    return [(sig, text, n) for (sig, text), n in counts.most_common()]


def errors_by_kind(rows: list[Judged], accepted: set[int]) -> dict[str, int]:
    """Failed requests (verdict error) per error kind, most first; accepted ones left out."""
    errors = Counter(
        r.error_kind or "error"
        for r in rows
        if r.verdict == Verdict.ERROR and r.exchange_id not in accepted
    )
    return dict(errors.most_common())


def endpoint_stats(
    endpoint: str,
    requests: int,
    rows: list[Judged],
    excluded: tuple[set[int], set[int]],
    latency: Latency | None,
) -> EndpointStats:
    """An endpoint's figures: `requests` diffed, `rows` those of them (or only the
    differing ones), `excluded` the (noise-only, accepted) exchanges."""
    noise_only, accepted = excluded
    differing = [r for r in rows if r.verdict != Verdict.SAME]
    return EndpointStats(
        endpoint=endpoint,
        requests=requests,
        differing=len(differing),
        errors=sum(r.verdict == Verdict.ERROR for r in differing),
        noise_only=sum(r.exchange_id in noise_only for r in differing),
        accepted=sum(r.exchange_id in accepted for r in differing),
        p50_new_ms=latency.new.p50 if latency is not None else None,
        p50_old_ms=latency.old.p50 if latency is not None else None,
    )


def _qualifiers(result: GateResult, stats: list[EndpointStats]) -> str:
    parts = []
    if result.noise_applied:
        noise = sum(e.noise_only for e in stats)
        parts.append(f"noise-adjusted: {noise} noise-only excluded" if noise else "noise-adjusted")
    if result.limits.accepted is not None:
        parts.append(f"{sum(e.accepted for e in stats)} accepted excluded")
    return "".join(f", {p}" for p in parts)


def run_findings(result: GateResult) -> list[Finding]:
    run = result.run
    if run.status == RunStatus.COMPLETE:
        return []
    return [
        Finding(
            "run",
            f"run {run.name} is {run.status}, not complete: it covers part of the traffic; "
            "finish it with `shadowdiff replay --resume` and diff it again",
        )
    ]


def rate_findings(result: GateResult) -> list[Finding]:
    limits = result.limits
    out: list[Finding] = []
    total = result.requests
    if result.rate > limits.max_diff_rate:
        out.append(
            Finding(
                "diff rate",
                f"diff rate {pct(result.rate)} ({result.counted}/{total}"
                f"{_qualifiers(result, result.endpoints)}) exceeds --max-diff-rate "
                f"{pct(limits.max_diff_rate)}",
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
                        f"{e.endpoint}: diff rate {pct(e.rate)} ({e.counted}/{e.requests}"
                        f"{_qualifiers(result, [e])}) exceeds --max-endpoint-diff-rate "
                        f"{pct(limits.max_endpoint_diff_rate)}",
                        e.endpoint,
                    )
                )
    return out


def sample_findings(stats: list[EndpointStats], min_samples: int) -> list[Finding]:
    return [
        Finding(
            "min samples",
            f"{e.endpoint}: only {e.requests} samples (< --min-samples {min_samples})",
            e.endpoint,
        )
        for e in stats
        if e.requests < min_samples
    ]


def latency_findings(stats: list[EndpointStats], limit: float, source: str) -> list[Finding]:
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
