"""Report sections read straight from the store: what rules hid, volatile values that did
not count, and the agreement figures."""

from __future__ import annotations

from shadowdiff.report.contents import (
    AgreementFigures,
    Change,
    HiddenRule,
    RuleHit,
    VolatileValue,
)
from shadowdiff.store import FieldCountRow, Store

__all__ = ["agreement_figures", "hidden_rules", "volatile_values"]


def hidden_rules(
    store: Store,
    run_id: int,
    rules: list[RuleHit],
    counts: list[FieldCountRow] | None = None,
    requests: dict[tuple[str, str], int] | None = None,
) -> list[HiddenRule]:
    """Per rule that absorbed differences: its hits and one sample, broad rules first
    (`counts`, `requests`: the store's `field_counts`/`absorbed_requests` when already read)."""
    by_name = {r.rule: r for r in rules}
    out = []
    for h in store.hidden_by_rules(run_id, counts, requests):
        hit = by_name.get(h.rule)
        out.append(
            HiddenRule(
                rule=h.rule,
                kind=hit.kind if hit else None,
                origin=hit.origin if hit else None,
                reason=hit.reason if hit else None,
                hits=hit.count if hit else h.exchanges,
                exchanges=h.exchanges,
                endpoints=h.endpoints,
                paths=h.paths,
                kinds=h.kinds,
                endpoint=h.endpoint,
                path=h.path,
                field_kind=h.kind,
                old=h.old,
                new=h.new,
                exchange_id=h.exchange_id,
            )
        )
    return sorted(out, key=lambda r: (-r.paths, -r.endpoints, -r.hits, r.rule))


def volatile_values(store: Store, run_id: int) -> list[VolatileValue]:
    """Volatile differences that did not count, per (endpoint, general path, kind)."""
    return [
        VolatileValue(v.endpoint, v.general_path, v.kind, v.exchanges, v.old, v.new, v.exchange_id)
        for v in store.volatile_values(run_id)
    ]


def agreement_figures(store: Store, run_id: int) -> list[AgreementFigures]:
    """The run's agreement figures: numbers first, then labels, each by endpoint and path."""
    rows = sorted(store.agreement(run_id), key=lambda r: (r.value_type != "number", r[1:3]))
    return [
        AgreementFigures(*r[1:11], changes=[Change(o, n, c) for o, n, c in r.top_changes()])
        for r in rows
    ]
