"""The run-wide findings of a report (``shadowdiff.analysis.findings``), read from the store."""

from __future__ import annotations

from collections import defaultdict

from shadowdiff.analysis.findings import RUN_WIDE
from shadowdiff.analysis.noise_measure import NoiseReport
from shadowdiff.differ import signature_item
from shadowdiff.report.contents import FieldValue, FindingReport, SignatureReport
from shadowdiff.store import FindingRow, Store
from shadowdiff.vocabulary import STRUCTURAL_KINDS


def _noise(noise: NoiseReport | None, rows: list[FindingRow]) -> bool | None:
    """Every key's pooled evidence is noise and no endpoint dissents."""
    if noise is None:
        return None
    pools = noise.pooled()
    found = [pools.get((r.general_path, r.kind)) for r in rows]
    return all(p is not None and p.noise and not p.dissenting for p in found)


def report_findings(store: Store, run_id: int, noise: NoiseReport | None) -> list[FindingReport]:
    """The run's findings, most exchanges first."""
    by_id: dict[str, list[FindingRow]] = defaultdict(list)
    for row in store.findings(run_id):
        by_id[row.finding_id].append(row)
    return [
        FindingReport(
            finding_id=ident,
            text=rows[0].text,
            items=[signature_item(r.general_path, r.kind, r.change or None) for r in rows],
            endpoints=rows[0].endpoints,
            endpoints_with_field=max(r.endpoints_with_field for r in rows),
            exchanges=rows[0].exchanges,
            structural=any(r.kind in STRUCTURAL_KINDS for r in rows),
            samples=[
                FieldValue(r.part, r.general_path, r.kind, r.old_value, r.new_value) for r in rows
            ],
            noise=_noise(noise, rows),
        )
        for ident, rows in by_id.items()
    ]


def finding_carriers(store: Store, run_id: int) -> dict[str, set[str]]:
    """Finding id -> the signatures of the requests that carry it."""
    of_exchange = store.exchange_findings(run_id)
    out: dict[str, set[str]] = defaultdict(set)
    for row in store.judged(run_id):
        for ident in of_exchange.get(row.exchange_id, ()):
            if row.signature is not None:
                out[ident].add(row.signature)
    return dict(out)


def split_signatures(
    signatures: list[SignatureReport], *, narrowed: bool
) -> tuple[list[SignatureReport], dict[str, list[str]]]:
    """The signatures shown (unless `narrowed`, not those of requests that differ only
    run-wide: the findings section shows them) and every signature text per endpoint."""
    by_endpoint: dict[str, list[str]] = defaultdict(list)
    for s in signatures:
        by_endpoint[s.endpoint].append(s.text)
    if narrowed:
        return signatures, by_endpoint
    return [s for s in signatures if not s.text.startswith(f"{RUN_WIDE} | ")], by_endpoint
