"""Agreement figures of a run (the `agreement` table): written when a run is diffed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import NamedTuple

from shadowdiff.store.base import StoreBase


class AgreementRow(NamedTuple):
    """Figures of one (run, endpoint, general path, value type): a row of `agreement`."""

    run_id: int
    endpoint: str
    path: str  # general: body.predictions[*]
    value_type: str  # number | label
    rule: str | None  # the tolerance rule naming the path (numbers), else None
    compared: int  # pairs of values compared
    agreeing: int  # numbers: within the rule's tolerance (equal without one); labels: equal
    max_abs: float | None  # numbers only
    max_rel: float | None
    p50_abs: float | None
    p99_abs: float | None
    changes: str  # labels: JSON [[old, new, count], ...], most frequent first; else "[]"

    def top_changes(self) -> list[tuple[str, str, int]]:
        return [(str(o), str(n), int(c)) for o, n, c in json.loads(self.changes or "[]")]


class AgreementMixin(StoreBase):
    def replace_agreement(self, run_id: int, rows: Iterable[AgreementRow]) -> None:
        """Replace a run's agreement figures in one transaction."""
        with self.db.conn:
            self.db.conn.execute("DELETE FROM agreement WHERE run_id = ?", [run_id])
            self.insert_rows("agreement", AgreementRow._fields, rows)

    def agreement(self, run_id: int) -> list[AgreementRow]:
        """A run's agreement figures by endpoint, numbers before labels, then path."""
        rows = self.db.execute(
            f"SELECT {', '.join(AgreementRow._fields)} FROM agreement WHERE run_id = ? "
            "ORDER BY endpoint, value_type DESC, path",
            [run_id],
        ).fetchall()
        return [AgreementRow(*r) for r in rows]
