"""What checking a run against an OpenAPI spec writes: `schema_findings`, `spec_coverage`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from shadowdiff.store.base import StoreBase


class SchemaFindingRow(NamedTuple):
    """One way one response is outside the spec (a row of `schema_findings`)."""

    run_id: int
    exchange_id: int
    endpoint: str  # the spec operation: METHOD /template
    side: str  # old (the recording) | new (the run's replay)
    status: int | None
    path: str  # body.predictions[0], headers.content-type
    message: str


class CoverageRow(NamedTuple):
    """Requests per spec operation (`operation` 1), or per unmatched endpoint (0)."""

    run_id: int
    endpoint: str
    operation: int
    requests: int


class SpecResultsMixin(StoreBase):
    def replace_spec_results(
        self,
        run_id: int,
        source: str | None,
        findings: Iterable[SchemaFindingRow],
        coverage: Iterable[CoverageRow],
    ) -> None:
        """Replace a run's spec results; ``source`` None (no spec) leaves none."""
        with self.db.conn:
            for table in ("schema_findings", "spec_coverage", "spec_sources"):
                self.db.conn.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
            if source is None:
                return
            self.db.conn.execute(
                "INSERT INTO spec_sources (run_id, source) VALUES (?, ?)", [run_id, source]
            )
            self.insert_rows("schema_findings", SchemaFindingRow._fields, findings)
            self.db.conn.executemany(
                "INSERT INTO spec_coverage (run_id, endpoint, operation, requests) "
                "VALUES (?, ?, ?, ?)",
                coverage,
            )

    def spec_source(self, run_id: int) -> str | None:
        """The spec the run was checked against when diffed, or None."""
        row = self.db.execute(
            "SELECT source FROM spec_sources WHERE run_id = ?", [run_id]
        ).fetchone()
        return None if row is None else str(row[0])

    def schema_findings(self, run_id: int) -> list[SchemaFindingRow]:
        rows = self.db.execute(
            f"SELECT {', '.join(SchemaFindingRow._fields)} FROM schema_findings "
            "WHERE run_id = ? ORDER BY exchange_id, side, path",
            [run_id],
        ).fetchall()
        return [SchemaFindingRow(*r) for r in rows]

    def spec_coverage(self, run_id: int) -> list[CoverageRow]:
        rows = self.db.execute(
            "SELECT run_id, endpoint, operation, requests FROM spec_coverage "
            "WHERE run_id = ? ORDER BY endpoint",
            [run_id],
        ).fetchall()
        return [CoverageRow(*r) for r in rows]

    def session_requests(self, session_id: int) -> list[tuple[str, str, str]]:
        """(method, path, stored endpoint) of each exchange of a session, in order."""
        rows = self.db.execute(
            "SELECT method, path, endpoint FROM exchanges WHERE session_id = ? ORDER BY seq",
            [session_id],
        ).fetchall()
        return [(str(m), str(p), str(e)) for m, p, e in rows]
