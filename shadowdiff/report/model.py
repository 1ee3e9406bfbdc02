"""What a report says about a run, as plain dataclasses built from the store (no rendering).

`build_report(store, run)` reads the run's replays, diffs, field differences and rule hits
(and its baseline run's, when it has one) and returns a `Report`: per endpoint the counts,
rates, differing fields and latency; the root-cause signatures with sample old/new bodies;
the rule hits; and, with a baseline, the noise-adjusted figures.

Noise (R, N, the criterion, noise-only requests, noise-adjusted counts) comes from
`shadowdiff.analysis.noise`, the same definition the gate and `shadowdiff noise` use, so a report's
noise-adjusted counts are the gate's (`EndpointStats.differing - noise_only`, errors aside).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from typing import Final

from shadowdiff.analysis.noise import (
    NoiseError,
    NoiseReport,
    measure_noise,
    noise_adjusted,
)
from shadowdiff.differ import generalize_path
from shadowdiff.errors import ReportError
from shadowdiff.report.body_view import BodyView, body_view
from shadowdiff.report.latency import Latency, latency
from shadowdiff.store import Run, Store

MAX_SAMPLES: Final = 20



# ------------------------------------------------------------------------------ the model
@dataclass(frozen=True)
class FieldCount:
    """A (generalized) field path that differs, and in how many requests."""

    part: str
    path: str
    kind: str
    requests: int
    noise: bool = False  # noise under shadowdiff.analysis.noise (only with a baseline)


@dataclass(frozen=True)
class AbsorbedRule:
    """The differences one rule absorbed on an endpoint."""

    rule: str
    requests: int
    fields: list[FieldCount]


@dataclass(frozen=True)
class EndpointReport:
    endpoint: str
    requests: int
    compared: int
    same: int
    different: int
    errors: int
    diff_rate: float
    different_adjusted: int | None  # `different` minus noise-only requests (with a baseline)
    latency: Latency
    fields: list[FieldCount]  # counting differences
    absorbed: list[AbsorbedRule]  # differences rules absorbed, per rule
    signatures: list[str]  # signature texts seen on this endpoint, most frequent first


@dataclass(frozen=True)
class FieldValue:
    """One counting difference of a sample, values as stored (JSON text)."""

    part: str
    path: str
    kind: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class Sample:
    exchange_id: int
    request: str  # METHOD /path?query
    old: BodyView
    new: BodyView
    fields: list[FieldValue]


@dataclass(frozen=True)
class SignatureReport:
    signature: str | None
    text: str
    endpoint: str
    verdict: str  # different | error
    requests: int
    share: float  # of the run's compared requests
    items: list[str]  # `path:kind` entries (or the error kind)
    noise: bool | None  # every entry is noise, its requests noise-only (None: no baseline)
    samples: list[Sample]


@dataclass(frozen=True)
class RuleHit:
    rule: str
    kind: str | None
    origin: str | None
    reason: str | None
    count: int

    @property
    def unused(self) -> bool:
        return self.count == 0


@dataclass(frozen=True)
class NoiseRow:
    endpoint: str
    path: str
    kind: str
    r: float  # share differing old-vs-new
    n: float  # share differing old-vs-old
    noise: bool


@dataclass(frozen=True)
class RunInfo:
    id: int
    name: str
    kind: str
    status: str
    session: str
    target: str
    started_at: float
    finished_at: float | None
    baseline: str | None
    baseline_target: str | None
    baseline_different: int | None  # old-vs-old differing requests
    requests: int
    compared: int
    same: int
    different: int
    errors: int
    diff_rate: float
    different_adjusted: int | None
    diff_rate_adjusted: float | None


@dataclass(frozen=True)
class Report:
    run: RunInfo
    latency: Latency
    endpoints: list[EndpointReport]
    signatures: list[SignatureReport]
    rules: list[RuleHit]
    noise: list[NoiseRow]
    generated_at: float = field(default_factory=time.time)

    @property
    def unused_rules(self) -> list[RuleHit]:
        return [r for r in self.rules if r.unused]

    @property
    def has_baseline(self) -> bool:
        return self.run.baseline is not None


# ------------------------------------------------------------------------------ reading
@dataclass
class _FieldRows:
    """The run's field differences, paths generalized, one entry per request."""

    counting: dict[int, set[tuple[str, str, str]]] = field(default_factory=dict)
    by_endpoint: dict[str, Counter[tuple[str, str, str]]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    absorbed: dict[str, dict[str, Counter[tuple[str, str, str]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Counter))
    )
    absorbed_requests: dict[str, dict[str, set[int]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(set))
    )


def _field_rows(store: Store, run_id: int) -> _FieldRows:
    out = _FieldRows()
    seen: set[tuple[int, str, str, str, str, str | None]] = set()
    for ex_id, endpoint, part, path, kind, rule in store.db.execute(
        "SELECT DISTINCT exchange_id, endpoint, part, path, kind, rule FROM diff_fields "
        "WHERE run_id = ?",
        [run_id],
    ):
        seen.add(
            (int(ex_id), str(endpoint), str(part), generalize_path(str(path)), str(kind), rule)
        )
    for ex_id, endpoint, part, gpath, kind, rule in seen:
        key = (part, gpath, kind)
        if rule is None:
            out.counting.setdefault(ex_id, set()).add(key)
            out.by_endpoint[endpoint][key] += 1
        else:
            out.absorbed[endpoint][str(rule)][key] += 1
            out.absorbed_requests[endpoint][str(rule)].add(ex_id)
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
    row = store.db.execute(
        "SELECT e.method, e.path, e.query, e.status, e.response_headers, ob.data, "
        "e.response_truncated, e.error, r.status, r.headers, nb.data, r.error "
        "FROM replays r JOIN exchanges e ON e.id = r.exchange_id "
        "LEFT JOIN blobs ob ON ob.sha256 = e.response_body "
        "LEFT JOIN blobs nb ON nb.sha256 = r.body "
        "WHERE r.run_id = ? AND r.exchange_id = ?",
        [run_id, exchange_id],
    ).fetchone()
    fields = [
        FieldValue(str(p), str(path), str(k), old, new)
        for p, path, k, old, new in store.db.execute(
            "SELECT part, path, kind, old_value, new_value FROM diff_fields "
            "WHERE run_id = ? AND exchange_id = ? AND rule IS NULL ORDER BY id",
            [run_id, exchange_id],
        )
    ]
    marked = frozenset(f.path for f in fields)
    method, path, query = row[0], row[1], row[2]
    old_note = "recorded body was truncated at capture" if row[6] else None
    if row[7]:
        old_note = f"recorded error: {row[7]}"
    new_note = f"replay error: {row[11]}" if row[11] else None
    return Sample(
        exchange_id=exchange_id,
        request=f"{method} {path}{'?' + query if query else ''}",
        old=body_view(row[3], row[4], row[5], marked, note=old_note),
        new=body_view(row[8], row[9], row[10], marked, note=new_note),
        fields=fields,
    )


def _run_info(
    store: Store, run: Run, baseline: Run | None, verdicts: Counter[str], requests: int
) -> RunInfo:
    session = store.session(run.session_id).name
    compared = sum(verdicts.values())
    base_diff = None
    if baseline is not None:
        row = store.db.execute(
            "SELECT count(*) FROM diffs WHERE run_id = ? AND verdict = 'different'", [baseline.id]
        ).fetchone()
        base_diff = int(row[0])
    return RunInfo(
        id=run.id,
        name=run.name,
        kind=run.kind,
        status=run.status,
        session=session,
        target=run.target,
        started_at=run.started_at,
        finished_at=run.finished_at,
        baseline=baseline.name if baseline else None,
        baseline_target=baseline.target if baseline else None,
        baseline_different=base_diff,
        requests=requests,
        compared=compared,
        same=verdicts["same"],
        different=verdicts["different"],
        errors=verdicts["error"],
        diff_rate=verdicts["different"] / compared if compared else 0.0,
        different_adjusted=None,
        diff_rate_adjusted=None,
    )


def build_report(store: Store, run_ref: str | int, *, samples: int = 1) -> Report:
    """Everything the renderers show about one run (a candidate run, or any run by name/id).

    Raises RunNotFoundError for an unknown run and ReportError for a run that was never
    diffed or a bad `samples`.
    """
    if not 0 <= samples <= MAX_SAMPLES:
        raise ReportError(f"samples must be between 0 and {MAX_SAMPLES}, not {samples}")
    run = store.run(run_ref)
    baseline = store.baseline_of(run) if run.kind == "candidate" else None

    # requests and latencies per endpoint
    old_ms: dict[str, list[float]] = defaultdict(list)
    new_ms: dict[str, list[float]] = defaultdict(list)
    requests: Counter[str] = Counter()
    for endpoint, old, new, error in store.db.execute(
        "SELECT e.endpoint, e.duration_ms, r.duration_ms, r.error FROM replays r "
        "JOIN exchanges e ON e.id = r.exchange_id WHERE r.run_id = ?",
        [run.id],
    ):
        requests[endpoint] += 1
        if old is not None:
            old_ms[endpoint].append(float(old))
        if new is not None and error is None:
            new_ms[endpoint].append(float(new))
    verdicts: dict[str, Counter[str]] = defaultdict(Counter)
    for endpoint, verdict, n in store.db.execute(
        "SELECT endpoint, verdict, count(*) FROM diffs WHERE run_id = ? GROUP BY endpoint, verdict",
        [run.id],
    ):
        verdicts[endpoint][verdict] += int(n)
    if not verdicts:
        if requests:
            raise ReportError(
                f"run {run.name!r} was replayed but never diffed; "
                f"run `shadowdiff diff {run.name}` first"
            )
        raise ReportError(f"run {run.name!r} has no replayed requests; nothing to report")

    rows = _field_rows(store, run.id)
    noise_report = _measure(store, run, baseline)
    noise_only = (
        {ep: c.noise_only for ep, c in noise_adjusted(store, run, noise=noise_report).items()}
        if noise_report is not None
        else {}
    )

    # signatures, most frequent first, with their samples
    sig_rows = store.db.execute(
        "SELECT signature, signature_text, endpoint, verdict, count(*) AS n, "
        "min(exchange_id) FROM diffs WHERE run_id = ? AND verdict <> 'same' "
        "GROUP BY signature, signature_text, endpoint, verdict "
        "ORDER BY n DESC, signature_text",
        [run.id],
    ).fetchall()
    sample_ids: dict[str | None, list[int]] = defaultdict(list)
    if samples:
        for sig, ex_id in store.db.execute(
            "SELECT signature, exchange_id FROM (SELECT signature, exchange_id, row_number() "
            "OVER (PARTITION BY signature ORDER BY exchange_id) AS rn FROM diffs "
            "WHERE run_id = ? AND verdict <> 'same') WHERE rn <= ?",
            [run.id, samples],
        ):
            sample_ids[sig].append(int(ex_id))
    total_compared = sum(sum(c.values()) for c in verdicts.values())
    signatures: list[SignatureReport] = []
    by_endpoint_sigs: dict[str, list[str]] = defaultdict(list)
    for sig, text, endpoint, verdict, n, first_id in sig_rows:
        text = str(text or "")
        if verdict == "error":
            items = [text.split(" | ", 1)[-1]]
            noise: bool | None = False if baseline else None
        else:
            keys = sorted(rows.counting.get(int(first_id), set()), key=lambda k: (k[1], k[2]))
            items = [f"{path}:{kind}" for _, path, kind in keys]
            noise = (
                noise_report is not None
                and noise_report.all_noise(str(endpoint), ((p, k) for _, p, k in keys))
                if baseline
                else None
            )
        signatures.append(
            SignatureReport(
                signature=sig,
                text=text,
                endpoint=str(endpoint),
                verdict=str(verdict),
                requests=int(n),
                share=int(n) / total_compared if total_compared else 0.0,
                items=items,
                noise=noise,
                samples=[_sample(store, run.id, i) for i in sample_ids.get(sig, [])],
            )
        )
        by_endpoint_sigs[str(endpoint)].append(text)

    endpoints: list[EndpointReport] = []
    for endpoint in sorted(requests.keys() | verdicts.keys()):
        v = verdicts[endpoint]
        compared = sum(v.values())
        adjusted = v["different"] - noise_only.get(endpoint, 0) if baseline else None
        fields = [
            FieldCount(
                part,
                path,
                kind,
                n,
                noise_report is not None and noise_report.is_noise(endpoint, path, kind),
            )
            for (part, path, kind), n in sorted(
                rows.by_endpoint[endpoint].items(), key=lambda kv: (-kv[1], kv[0])
            )
        ]
        absorbed = [
            AbsorbedRule(
                rule,
                len(rows.absorbed_requests[endpoint][rule]),
                [
                    FieldCount(part, path, kind, n)
                    for (part, path, kind), n in sorted(
                        counter.items(), key=lambda kv: (-kv[1], kv[0])
                    )
                ],
            )
            for rule, counter in sorted(rows.absorbed[endpoint].items())
        ]
        endpoints.append(
            EndpointReport(
                endpoint=endpoint,
                requests=requests[endpoint],
                compared=compared,
                same=v["same"],
                different=v["different"],
                errors=v["error"],
                diff_rate=v["different"] / compared if compared else 0.0,
                different_adjusted=adjusted,
                latency=latency(old_ms[endpoint], new_ms[endpoint]),
                fields=fields,
                absorbed=absorbed,
                signatures=by_endpoint_sigs[endpoint],
            )
        )
    endpoints.sort(key=lambda e: (-e.different, -e.errors, -e.diff_rate, e.endpoint))

    total = Counter[str]()
    for c in verdicts.values():
        total.update(c)
    info = _run_info(store, run, baseline, total, sum(requests.values()))
    if baseline:
        adjusted_total = sum(e.different_adjusted or 0 for e in endpoints)
        info = _replace_adjusted(info, adjusted_total)

    rules = [
        RuleHit(str(name), kind, origin, reason, int(count))
        for name, kind, origin, reason, count in store.db.execute(
            "SELECT rule, kind, origin, reason, count FROM rule_hits WHERE run_id = ? "
            "ORDER BY rowid",
            [run.id],
        )
    ]
    noise_rows = sorted(
        (
            NoiseRow(p.endpoint, p.path, p.kind, p.r, p.n, p.is_noise())
            for p in (noise_report.paths if noise_report is not None else [])
        ),
        key=lambda r: (r.endpoint, -r.r, r.path, r.kind),
    )
    return Report(
        run=info,
        latency=latency(
            (x for xs in old_ms.values() for x in xs), (x for xs in new_ms.values() for x in xs)
        ),
        endpoints=endpoints,
        signatures=signatures,
        rules=rules,
        noise=noise_rows,
    )


def _replace_adjusted(info: RunInfo, adjusted: int) -> RunInfo:
    rate = adjusted / info.compared if info.compared else 0.0
    return replace(info, different_adjusted=adjusted, diff_rate_adjusted=rate)
