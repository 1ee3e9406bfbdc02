"""What diffing a run writes (`diffs`, `diff_fields`, `rule_hits`) and the counts over it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

from shadowdiff.store.base import StoreBase
from shadowdiff.vocabulary import Verdict


class DiffRow(NamedTuple):
    """One exchange's verdict in a run (a row of `diffs`)."""

    run_id: int
    exchange_id: int
    endpoint: str
    verdict: str
    signature: str | None
    signature_text: str | None
    n_fields: int
    error_kind: str | None  # verdict error only


class FieldRow(NamedTuple):
    """One field difference (a row of `diff_fields`); `rule` is None when it counts."""

    run_id: int
    exchange_id: int
    endpoint: str
    part: str
    path: str  # concrete: body.predictions[3]
    general_path: str  # body.predictions[*]
    kind: str
    old_value: str | None  # JSON (`null` for a JSON null); None only for an absent side
    new_value: str | None  # JSON, likewise
    rule: str | None
    change: str | None = None  # the ChangeClass (a status: its pair, 500→200); NULL before v5


class RuleHitRow(NamedTuple):
    run_id: int
    rule: str
    kind: str | None
    origin: str | None
    reason: str | None
    hits: int  # stored in column `count`


class ResultsMixin(StoreBase):
    def replace_results(
        self,
        run_id: int,
        diffs: Iterable[DiffRow],
        fields: Iterable[FieldRow],
        rule_hits: Iterable[RuleHitRow],
    ) -> None:
        """Replace a run's diffs, field differences and rule hits in one transaction.
        Consumed in the order fields, diffs, rule hits (each may be a generator). A parallel
        diff hands its rows over in files instead (`replace_results_from_files`)."""
        with self.db.conn:
            for table in ("diffs", "diff_fields", "rule_hits"):
                self.db.conn.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
            self.insert_rows("diff_fields", FieldRow._fields, fields)
            self.insert_rows("diffs", DiffRow._fields, diffs)
            self.db.conn.executemany(
                "INSERT INTO rule_hits (run_id, rule, kind, origin, reason, count) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rule_hits,
            )

    def count_diffs(self, run_id: int, verdict: Verdict | None = None) -> int:
        """How many exchanges of the run were diffed (with that verdict)."""
        sql = "SELECT count(*) FROM diffs WHERE run_id = ?"
        params: list[object] = [run_id]
        if verdict is not None:
            sql += " AND verdict = ?"
            params.append(str(verdict))
        return int(self.db.execute(sql, params).fetchone()[0])

    def count_different(self, run_id: int, endpoints: Iterable[str]) -> int:
        """Exchanges of those endpoints with verdict `different`."""
        eps = sorted(endpoints)
        if not eps:
            return 0
        row = self.db.execute(
            "SELECT count(*) FROM diffs WHERE run_id = ? AND verdict = ? "
            f"AND endpoint IN ({', '.join('?' * len(eps))})",
            [run_id, str(Verdict.DIFFERENT), *eps],
        ).fetchone()
        return int(row[0])

    def diffed_per_endpoint(self, run_id: int) -> dict[str, int]:
        """Endpoint -> diffed exchanges."""
        rows = self.db.execute(
            "SELECT endpoint, count(*) FROM diffs WHERE run_id = ? GROUP BY endpoint", [run_id]
        ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def verdicts_per_endpoint(self, run_id: int) -> dict[str, Counter[Verdict]]:
        """Endpoint -> how many exchanges got each verdict."""
        out: dict[str, Counter[Verdict]] = {}
        for endpoint, verdict, n in self.db.execute(
            "SELECT endpoint, verdict, count(*) FROM diffs WHERE run_id = ? "
            "GROUP BY endpoint, verdict",
            [run_id],
        ):
            out.setdefault(str(endpoint), Counter())[Verdict(verdict)] += int(n)
        return out

    def different_ids(self, run_id: int) -> set[int]:
        """Exchanges of the run with verdict `different`."""
        return {
            int(r[0])
            for r in self.db.execute(
                "SELECT exchange_id FROM diffs WHERE run_id = ? AND verdict = ?",
                [run_id, str(Verdict.DIFFERENT)],
            )
        }
