"""The gate's checks on signatures and run-wide findings alike (`shadowdiff.analysis.findings`).

An accepted file lists signatures and findings by their 12-hex ids. A differing exchange is
excused when every run-wide finding it carries is accepted (and unexpired) or noise and so
is its own signature, unless that signature is made of run-wide findings only. An unaccepted
finding or signature fails the gate once; so does a structural difference, once per
endpoint, or once for the run when it is a finding's key (an accepted finding's keys never
fail).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

from shadowdiff.analysis.accepted import AcceptedSet
from shadowdiff.analysis.findings import RUN_WIDE
from shadowdiff.analysis.gate_result import Finding
from shadowdiff.analysis.noise_measure import NoiseReport
from shadowdiff.store import FindingRow, Judged, Store
from shadowdiff.vocabulary import Verdict

__all__ = ["RunWide", "run_wide", "signature_findings", "structural_findings"]

FieldKey = tuple[str, str, str]  # (general path, kind, change class or "")


@dataclass
class RunWide:
    """A run's findings: id -> text and coverage; (path, kind) -> id; exchange -> ids."""

    texts: dict[str, str] = field(default_factory=dict)
    coverage: dict[str, str] = field(default_factory=dict)
    of_key: dict[FieldKey, str] = field(default_factory=dict)
    of_exchange: dict[int, set[str]] = field(default_factory=dict)
    noise: set[str] = field(default_factory=set)  # findings all of whose keys are noise


def run_wide(store: Store, run_id: int, noise: NoiseReport | None) -> RunWide:
    """The run's findings; with measured noise, which of them are noise: every key's pooled
    evidence is noise and no endpoint dissents."""
    out = RunWide()
    pools = noise.pooled() if noise is not None else {}
    rows: list[FindingRow] = store.findings(run_id)
    for r in rows:
        out.texts[r.finding_id] = r.text
        out.coverage[r.finding_id] = (
            f"on {r.endpoints} of {r.endpoints_with_field} endpoints; {r.exchanges} exchanges"
        )
        out.of_key[(r.general_path, r.kind, r.change)] = r.finding_id
    for ident in out.texts:
        keys = [k for k, f in out.of_key.items() if f == ident]
        pooled = [pools.get(k[:2]) for k in keys]  # noise is pooled by (path, kind)
        if all(p is not None and p.noise and not p.dissenting for p in pooled):
            out.noise.add(ident)
    out.of_exchange = store.exchange_findings(run_id) if rows else {}
    return out


def _ok(accepted: AcceptedSet, ident: str, today: date, found: RunWide) -> bool:
    if ident in found.noise:
        return True
    entry = accepted.get(ident)
    return entry is not None and not entry.expired(today)


def _finding_checks(
    found: RunWide, accepted: AcceptedSet, today: date, noise_only: set[int]
) -> list[Finding]:
    carriers: dict[str, list[int]] = defaultdict(list)
    for ex_id, ids in found.of_exchange.items():
        for ident in ids:
            carriers[ident].append(ex_id)
    out: list[Finding] = []
    for ident, text in found.texts.items():
        entry = accepted.get(ident)
        where = found.coverage[ident]
        if entry is None:
            if ident in found.noise or all(x in noise_only for x in carriers[ident]):
                continue  # noise, not a difference of the port
            line = f"new finding {ident} {text} ({where}) not accepted"
            out.append(Finding("finding", line, finding_id=ident))
        elif entry.expired(today):
            line = f"accepted finding {ident} {text} ({where}) expired on {entry.expires}"
            out.append(Finding("finding", line, finding_id=ident))
    return out


def signature_findings(
    rows: list[Judged],
    accepted: AcceptedSet | None,
    today: date,
    noise_only: set[int],
    found: RunWide,
) -> tuple[set[int], list[Finding]]:
    """Exchanges excused by accepted, unexpired signatures and findings; findings for the
    others (see the module docstring)."""
    if accepted is None:
        return set(), []
    groups: dict[str, list[Judged]] = defaultdict(list)
    for row in rows:
        if row.verdict != Verdict.SAME and row.signature:
            groups[row.signature].append(row)
    excused: set[int] = set()
    new: list[Finding] = []
    expired: list[Finding] = []
    for sig, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        text, ep, n = members[0].text or "", members[0].endpoint, len(members)
        own = not text.startswith(f"{RUN_WIDE} | ")
        entry = accepted.get(sig) if own else None
        if own and entry is None:
            if all(r.exchange_id in noise_only for r in members):
                continue  # noise, not a difference of the port
            new.append(
                Finding(
                    "signature",
                    f"new signature {sig} {text} ({n} requests) not in accepted file",
                    ep,
                )
            )
            continue
        if own and entry is not None and entry.expired(today):
            line = f"accepted signature {sig} {text} ({n} requests) expired on {entry.expires}"
            expired.append(Finding("signature", line, ep))
            continue
        excused.update(
            r.exchange_id
            for r in members
            if all(_ok(accepted, f, today, found) for f in found.of_exchange.get(r.exchange_id, ()))
        )
    return excused, _finding_checks(found, accepted, today, noise_only) + new + expired


def structural_findings(
    fields: dict[int, set[FieldKey]],
    rows: list[Judged],
    excluded: set[int],
    found: RunWide,
    decisions: tuple[AcceptedSet | None, date],
    noise_keys: set[tuple[str, str, str]],
) -> list[Finding]:
    """`fields`: exchange -> its counting structural (general path, kind); `decisions`: the
    accepted file and today; `noise_keys`: (endpoint, path, kind) that are noise (never
    fail)."""
    accepted, today = decisions
    per_endpoint: Counter[tuple[str, str, str]] = Counter()
    run_wide_keys: Counter[tuple[str, str, str]] = Counter()
    for row in rows:
        if row.verdict != Verdict.DIFFERENT or row.exchange_id in excluded:
            continue
        for path, kind, change in fields.get(row.exchange_id, ()):
            if (row.endpoint, path, kind) in noise_keys:
                continue
            ident = found.of_key.get((path, kind, change))
            if ident is None:
                per_endpoint[(row.endpoint, path, kind)] += 1
            elif accepted is None or not _ok(accepted, ident, today, found):
                run_wide_keys[(ident, path, kind)] += 1
    keys_of: dict[str, list[str]] = defaultdict(list)
    for ident, path, kind in sorted(run_wide_keys):
        keys_of[ident].append(f"{path}:{kind}")
    wide = [
        Finding(
            "structural",
            f"run-wide structural difference {', '.join(items)} (finding {ident}, "
            f"{found.coverage[ident]}; {max(n for k, n in run_wide_keys.items() if k[0] == ident)}"
            " requests counted); pass --allow-structural or accept the finding to permit",
            finding_id=ident,
        )
        for ident, items in keys_of.items()
    ]
    return wide + [
        Finding(
            "structural",
            f"structural difference {path}:{kind} in {ep} ({n} requests); "
            "pass --allow-structural to permit",
            ep,
        )
        for (ep, path, kind), n in sorted(per_endpoint.items())
    ]
