"""A run checked against an OpenAPI spec: coverage of its operations, and schema findings.

Both responses of every exchange are validated against the schema the spec declares for
their status: ``old`` (the recording) and ``new`` (the run's replay). A finding on the new
side of a candidate run fails the gate (kind ``schema``) unless allowed, even where old and
new agree; one on the old side is reported only (the old service broke the contract too).
Results are stored when a run is diffed with a spec; ``report``/``gate --openapi`` compute
them afresh with the spec given.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from shadowdiff.analysis.pairs import RunPairs
from shadowdiff.differ import generalize_path
from shadowdiff.openapi import Coverage, OperationCount, ResponseValidator, Spec, coverage
from shadowdiff.records import Exchange
from shadowdiff.store import CoverageRow, Run, SchemaFindingRow, Store

OLD, NEW = "old", "new"


@dataclass
class SpecCheck:
    """One run's spec results: coverage and findings (both sides)."""

    source: str
    coverage: Coverage
    findings: list[SchemaFindingRow] = field(default_factory=list)

    def on(self, side: str) -> list[SchemaFindingRow]:
        return [f for f in self.findings if f.side == side]

    def grouped(self, side: str) -> list[tuple[str, str, str, int]]:
        """(endpoint, path, message, responses) of one side's findings, most first."""
        counts: Counter[tuple[str, str, str]] = Counter(
            (f.endpoint, generalize_path(f.path), f.message) for f in self.on(side)
        )
        return [(ep, path, msg, n) for (ep, path, msg), n in counts.most_common()]

    def lines(self) -> list[str]:
        out = self.coverage.lines()
        for side, label in ((NEW, "new"), (OLD, "old")):
            groups = self.grouped(side)
            if groups:
                out.append(f"schema findings ({label} side): {len(self.on(side))}")
                out.extend(f"  {ep}: {path}: {msg} ({n} responses)" for ep, path, msg, n in groups)
        return out


class SpecChecker:
    """Collects one run's coverage and findings exchange by exchange (see diffrun)."""

    def __init__(self, spec: Spec, run_id: int) -> None:
        self.spec = spec
        self.run_id = run_id
        self.validator = ResponseValidator(spec)
        self.requests: list[tuple[str, str, str]] = []
        self.findings: list[SchemaFindingRow] = []

    def endpoint(self, ex: Exchange) -> str:
        """The spec's template for the exchange, or the stored guess."""
        assert ex.endpoint is not None
        return self.spec.endpoint(ex.method, ex.path) or ex.endpoint

    def add(self, ex: Exchange, guessed: str, responses: dict[str, dict[str, Any]]) -> None:
        """Count the exchange; validate its lifted responses (``side -> tree``)."""
        assert ex.id is not None
        self.requests.append((ex.method, ex.path, guessed))
        op = self.spec.operation(ex.method, ex.path)
        if op is None:
            return
        for side, tree in responses.items():
            for v in self.validator.check(op, tree):
                self.findings.append(
                    SchemaFindingRow(
                        self.run_id, ex.id, op.endpoint, side, tree.get("status"), v.path, v.message
                    )
                )

    def result(self) -> SpecCheck:
        return SpecCheck(self.spec.source, coverage(self.spec, self.requests), self.findings)

    def store(self, store: Store) -> None:
        cov = self.result().coverage
        rows = [CoverageRow(self.run_id, o.endpoint, 1, o.requests) for o in cov.operations]
        rows += [CoverageRow(self.run_id, o.endpoint, 0, o.requests) for o in cov.unmatched]
        store.replace_spec_results(self.run_id, self.spec.source, self.findings, rows)


def check_run(store: Store, run: Run, spec: Spec) -> SpecCheck:
    """Compute a run's spec results afresh (nothing is stored)."""
    checker = SpecChecker(spec, run.id)
    pairs = RunPairs(store, run)  # lockstep: old is the primary's answer
    for ex in store.iter_exchanges(run.session_id, ids=pairs.replays.keys()):
        assert ex.endpoint is not None
        trees = (
            {}
            if pairs.error(ex) is not None
            else dict(zip((OLD, NEW), pairs.lift(ex), strict=True))
        )
        checker.add(ex, ex.endpoint, trees)
    return checker.result()


def stored_check(store: Store, run: Run) -> SpecCheck | None:
    """The spec results stored when the run was diffed, or None (diffed without a spec)."""
    source = store.spec_source(run.id)
    if source is None:
        return None
    rows = store.spec_coverage(run.id)
    cov = Coverage(
        source,
        sorted(
            (OperationCount(r.endpoint, r.requests) for r in rows if r.operation),
            key=lambda o: (o.endpoint.split(" ", 1)[-1], o.endpoint),
        ),
        [OperationCount(r.endpoint, r.requests) for r in rows if not r.operation],
    )
    return SpecCheck(source, cov, store.schema_findings(run.id))
