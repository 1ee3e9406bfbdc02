"""Cross-cutting findings (schema v5): what a diff writes to `findings`, the re-signing of the
`diffs` rows they are taken out of, and the reads of the gate, `accept` and the report."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

from shadowdiff.store.base import StoreBase
from shadowdiff.store.judgement import COUNTING_INDEX
from shadowdiff.vocabulary import Verdict


class FindingRow(NamedTuple):
    """One key of a run-wide finding (a row of `findings`); keys of one finding share its id."""

    run_id: int
    finding_id: str
    part: str
    general_path: str
    kind: str
    text: str
    endpoints: int
    endpoints_with_field: int
    exchanges: int
    old_value: str | None  # JSON sample
    new_value: str | None
    change: str = ""  # the change class ("" for none)


class CountingRow(NamedTuple):
    """One counting (exchange, endpoint, part, general path, kind) of a run, with a sample."""

    exchange_id: int
    endpoint: str
    part: str
    general_path: str
    kind: str
    old_value: str | None
    new_value: str | None
    change: str | None = None  # the change class (signatures name it; finding keys do not)


class Resigned(NamedTuple):
    """A `diffs` row's new signature once the run-wide findings are taken out of it."""

    exchange_id: int
    signature: str
    text: str


class FindingsMixin(StoreBase):
    def iter_counting_rows(self, run_id: int) -> Iterator[CountingRow]:
        """The run's counting differences, one per (exchange, part, general path, kind)."""
        for row in self.db.execute(
            "SELECT exchange_id, endpoint, part, general_path, kind, min(old_value), "
            "min(new_value), change FROM diff_fields WHERE run_id = ? AND rule IS NULL "
            "GROUP BY exchange_id, endpoint, part, general_path, kind, change "
            "ORDER BY exchange_id",
            [run_id],
        ):
            yield CountingRow(int(row[0]), str(row[1]), *(str(v) for v in row[2:5]), *row[5:])

    def replace_findings(
        self, run_id: int, rows: Iterable[FindingRow], resigned: Iterable[Resigned]
    ) -> None:
        """Replace the run's findings and re-sign its `diffs` rows, in one transaction."""
        with self.db.conn:
            self.db.conn.execute("DELETE FROM findings WHERE run_id = ?", [run_id])
            self.insert_rows("findings", FindingRow._fields, rows)
            self.db.conn.executemany(
                "UPDATE diffs SET signature = ?, signature_text = ? "
                "WHERE run_id = ? AND exchange_id = ?",
                ((r.signature, r.text, run_id, r.exchange_id) for r in resigned),
            )

    def findings(self, run_id: int) -> list[FindingRow]:
        """The run's findings' keys, most exchanges first, then by id and path."""
        return [
            FindingRow(*row)
            for row in self.db.execute(
                f"SELECT {', '.join(FindingRow._fields)} FROM findings WHERE run_id = ? "
                "ORDER BY exchanges DESC, finding_id, part, general_path, kind, change",
                [run_id],
            )
        ]

    def exchange_findings(self, run_id: int) -> dict[int, set[str]]:
        """Differing exchange -> the ids of the run-wide findings it carries."""
        out: dict[int, set[str]] = {}
        for ex_id, finding in self.db.execute(
            f"SELECT DISTINCT d.exchange_id, f.finding_id FROM diff_fields d {COUNTING_INDEX} "
            "JOIN findings f "
            "ON f.run_id = d.run_id AND f.part = d.part AND f.general_path = d.general_path "
            "AND f.kind = d.kind AND f.change = coalesce(d.change, '') "
            "JOIN diffs x ON x.run_id = d.run_id "
            "AND x.exchange_id = d.exchange_id "
            "WHERE d.run_id = ? AND d.rule IS NULL AND x.verdict = ?",
            [run_id, str(Verdict.DIFFERENT)],
        ):
            out.setdefault(int(ex_id), set()).add(str(finding))
        return out
