"""What a diff that follows a replay (`replay-diff`, `shadowdiff.analysis.pipeline`) reads and
writes: the replays committed since it last looked, and its results in short transactions
(so the replay's writer, on the same file, never waits long for the lock)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from shadowdiff.store.base import StoreBase
from shadowdiff.store.results import DiffRow, FieldRow, RuleHitRow


class FollowingMixin(StoreBase):
    def replays_after(self, run_id: int, rowid: int, limit: int) -> list[tuple[int, int]]:
        """(rowid, exchange id) of the run's replays stored after `rowid`, at most `limit`,
        in the order they were stored. Past a replay of the run already seen (`rowid` > 0):
        by rowid range (``+run_id``), so a poll reads what was stored since, not every replay
        of the run stored so far as the primary key's index would; before the first one, by
        that index (the rows of earlier runs are not scanned while none of this run is)."""
        run = "+run_id" if rowid > 0 else "run_id"
        rows = self.db.execute(
            f"SELECT rowid, exchange_id FROM replays WHERE {run} = ? AND rowid > ? "
            "ORDER BY rowid LIMIT ?",
            [run_id, rowid, limit],
        ).fetchall()
        return [(int(r[0]), int(r[1])) for r in rows]

    def replayed_among(self, run_id: int, ids: Sequence[int]) -> set[int]:
        """Those of `ids` (a page) the run has a stored replay of."""
        marks = ", ".join("?" * len(ids))
        rows = self.db.execute(
            f"SELECT exchange_id FROM replays WHERE run_id = ? AND exchange_id IN ({marks})",
            [run_id, *ids],
        )
        return {int(r[0]) for r in rows}

    def clear_results(self, run_id: int) -> None:
        """Drop a run's diffs, field differences and rule hits (before results are appended)."""
        with self.db.conn:
            for table in ("diffs", "diff_fields", "rule_hits"):
                self.db.conn.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])

    def append_results(self, diffs: Iterable[DiffRow], fields: Iterable[FieldRow]) -> None:
        """Add diffs and field differences in one transaction (fields first, as
        `replace_results` writes them, so their ids follow the same order)."""
        with self.db.conn:
            self.insert_rows("diff_fields", FieldRow._fields, fields)
            self.insert_rows("diffs", DiffRow._fields, diffs)

    def replace_rule_hits(self, run_id: int, rule_hits: Iterable[RuleHitRow]) -> None:
        with self.db.conn:
            self.db.conn.execute("DELETE FROM rule_hits WHERE run_id = ?", [run_id])
            self.db.conn.executemany(
                "INSERT INTO rule_hits (run_id, rule, kind, origin, reason, count) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rule_hits,
            )
