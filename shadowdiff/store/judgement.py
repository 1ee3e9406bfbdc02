"""Reads the gate, noise, accept and latency judge by: verdict rows, counting field keys,
signature counts and paired answer times. Aggregation happens in SQL where it can."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from shadowdiff.store.base import StoreBase
from shadowdiff.vocabulary import STRUCTURAL_KINDS, Verdict

FieldKey = tuple[str, str]  # (general path, kind)

# a replay's endpoint is its diff's (an OpenAPI template when diffed with a spec), else the
# recorded guess: joined as `d`, read as coalesce(d.endpoint, e.endpoint)
DIFF_ENDPOINT = "LEFT JOIN diffs d ON d.run_id = r.run_id AND d.exchange_id = r.exchange_id"
# a run's counting field rows (rule IS NULL), read along the (run, rule, ...) index: without
# statistics SQLite would rather walk the (run, exchange) index through every row of the run,
# absorbed ones too (a run the rules made equal: 358,000 rows read for none, at 100k)
COUNTING_INDEX = "INDEXED BY diff_fields_rule"
_LATENCY = "shadowdiff_latency_samples"  # a TEMP table of `latency_ranks`


def _rank_positions(count: int, ranks: Sequence[float]) -> set[int]:
    """The sorted positions percentiles at `ranks` of `count` values read: floor(k) and the
    next, k = (count - 1) * rank / 100 (as `analysis.latency` computes them)."""
    return {int((count - 1) * float(rank) / 100) + step for rank in ranks for step in (0, 1)}


@dataclass(frozen=True)
class Judged:
    """One diffed exchange of a run, as the gate judges it."""

    exchange_id: int
    endpoint: str
    verdict: Verdict
    signature: str | None
    text: str | None
    error_kind: str | None  # verdict error only


@dataclass(frozen=True)
class LatencySample:
    """One comparable exchange's answer times (ms); see `JudgementMixin.latency_samples`."""

    endpoint: str
    new_ms: float | None
    old_ms: float | None


class JudgementMixin(StoreBase):
    def judged(self, run_id: int, differing_only: bool = False) -> list[Judged]:
        """The run's diffed exchanges in exchange order (`differing_only`: those whose
        verdict is not `same`, which is all the gate needs one by one)."""
        where = " AND verdict <> 'same'" if differing_only else ""
        return [
            Judged(int(ex_id), str(ep), Verdict(verdict), sig, text, kind)
            for ex_id, ep, verdict, sig, text, kind in self.db.execute(
                "SELECT exchange_id, endpoint, verdict, signature, signature_text, error_kind "
                f"FROM diffs WHERE run_id = ?{where} ORDER BY exchange_id",
                [run_id],
            )
        ]

    def structural_keys(self, run_id: int) -> dict[int, set[tuple[str, str, str]]]:
        """Exchange -> its counting (general path, kind, change class or '') of a structural
        kind."""
        kinds = sorted(STRUCTURAL_KINDS)
        out: dict[int, set[tuple[str, str, str]]] = {}
        for ex_id, path, kind, change in self.db.execute(
            "SELECT DISTINCT exchange_id, general_path, kind, coalesce(change, '') "
            f"FROM diff_fields {COUNTING_INDEX} "
            f"WHERE run_id = ? AND rule IS NULL AND kind IN ({', '.join('?' * len(kinds))})",
            [run_id, *(str(k) for k in kinds)],
        ):
            out.setdefault(int(ex_id), set()).add((str(path), str(kind), str(change)))
        return out

    def iter_counting(self, run_id: int) -> Iterator[tuple[int, str, frozenset[FieldKey]]]:
        """(exchange id, endpoint, counting (general path, kind)) per differing exchange."""
        rows = self.db.execute(
            "SELECT DISTINCT exchange_id, endpoint, general_path, kind "
            f"FROM diff_fields {COUNTING_INDEX} WHERE run_id = ? AND rule IS NULL "
            "ORDER BY exchange_id",
            [run_id],
        )
        current: int | None = None
        endpoint = ""
        keys: set[FieldKey] = set()
        for ex_id, ep, path, kind in rows:
            if ex_id != current:
                if current is not None:
                    yield current, endpoint, frozenset(keys)
                current, endpoint, keys = int(ex_id), str(ep), set()
            keys.add((str(path), str(kind)))
        if current is not None:
            yield current, endpoint, frozenset(keys)

    def counting_keys(self, run_id: int) -> frozenset[tuple[str, str, str]]:
        """The (endpoint, general path, kind)s where the run has a counting difference."""
        return frozenset(
            (str(ep), str(path), str(kind))
            for ep, path, kind in self.db.execute(
                "SELECT DISTINCT endpoint, general_path, kind "
                f"FROM diff_fields {COUNTING_INDEX} WHERE run_id = ? AND rule IS NULL",
                [run_id],
            )
        )

    def counting_tally(
        self, run_id: int, excluded: Iterable[int] = ()
    ) -> Counter[tuple[str, str, str]]:
        """Exchanges per (endpoint, general path, kind) with a counting difference there,
        each exchange once, `excluded` exchanges left out: `iter_counting` added up, in SQL."""
        rows = self.db.execute(
            "SELECT endpoint, general_path, kind, count(DISTINCT exchange_id) "
            f"FROM diff_fields {COUNTING_INDEX} WHERE run_id = ? AND rule IS NULL "
            "AND exchange_id NOT IN (SELECT value FROM json_each(?)) "
            "GROUP BY endpoint, general_path, kind",
            [run_id, json.dumps(sorted(excluded))],
        )
        return Counter({(str(ep), str(path), str(kind)): int(n) for ep, path, kind, n in rows})

    def signature_counts(self, run_id: int) -> list[tuple[str, str, int]]:
        """(signature, text, requests) of the differing exchanges (different or error)."""
        rows = self.db.execute(
            "SELECT signature, min(coalesce(signature_text, '')), count(*) FROM diffs "
            "WHERE run_id = ? AND verdict IN (?, ?) AND signature IS NOT NULL "
            "GROUP BY signature",
            [run_id, str(Verdict.DIFFERENT), str(Verdict.ERROR)],
        )
        return [(str(sig), str(text), int(n)) for sig, text, n in rows]

    def latency_ranks(
        self, run_id: int, baseline_id: int | None, ranks: Sequence[float]
    ) -> list[tuple[str | None, str, int, int, float]]:
        """The answer times `latency_samples` holds, at the positions a percentile needs, read
        in SQL: (endpoint, the diff's as there, or None for the whole run; side `old`|`new`;
        position in sorted order; count; value) for the positions floor(k) and floor(k) + 1
        of each k = (count - 1) * rank / 100. Nothing per exchange leaves SQLite: the samples
        go to a TEMP table, indexed per side (run-wide, and per endpoint), and each position
        is one ``ORDER BY ... LIMIT 1 OFFSET`` along an index (window functions over the
        samples sorted them once per side and scope, several times slower)."""
        if baseline_id is None:
            old = "CASE WHEN e.error IS NULL THEN e.duration_ms END"
            join, params = "", [run_id]
        else:
            old = "CASE WHEN b.error IS NULL THEN b.duration_ms END"
            join = "LEFT JOIN replays b ON b.run_id = ? AND b.exchange_id = r.exchange_id "
            params = [baseline_id, run_id]
        self.db.execute(f"DROP TABLE IF EXISTS temp.{_LATENCY}")
        self.db.execute(
            f"CREATE TEMP TABLE {_LATENCY} AS SELECT coalesce(d.endpoint, e.endpoint) AS ep, "
            f"r.duration_ms AS new, {old} AS old "
            f"FROM replays r JOIN exchanges e ON e.id = r.exchange_id {join}{DIFF_ENDPOINT} "
            "WHERE r.run_id = ? AND r.error IS NULL AND e.status IS NOT NULL",
            params,
        )
        try:
            return [row for side in ("old", "new") for row in self._side_ranks(side, ranks)]
        finally:
            self.db.execute(f"DROP TABLE temp.{_LATENCY}")  # its indexes with it

    def _side_ranks(
        self, side: str, ranks: Sequence[float]
    ) -> Iterator[tuple[str | None, str, int, int, float]]:
        """`latency_ranks` of one side, from the TEMP table of samples."""
        table = f"temp.{_LATENCY}"
        self.db.execute(f"CREATE INDEX {table}_{side} ON {_LATENCY} ({side})")
        self.db.execute(f"CREATE INDEX {table}_ep_{side} ON {_LATENCY} (ep, {side})")
        counts = self.db.execute(
            f"SELECT ep, count(*) FROM {table} WHERE {side} IS NOT NULL GROUP BY ep ORDER BY ep"
        ).fetchall()
        scopes = [(None, sum(int(n) for _, n in counts)), *counts]
        for ep, n in scopes:
            where, args = ("", []) if ep is None else ("ep = ? AND ", [ep])
            for i in sorted(p for p in _rank_positions(int(n), ranks) if p < n):
                (value,) = self.db.execute(
                    f"SELECT {side} FROM {table} WHERE {where}{side} IS NOT NULL "
                    f"ORDER BY {side} LIMIT 1 OFFSET ?",
                    [*args, i],
                ).fetchone()
                yield None if ep is None else str(ep), side, i, int(n), float(value)

    def latency_samples(self, run_id: int, baseline_id: int | None) -> list[LatencySample]:
        """Answer times of the run's comparable exchanges (neither the replay nor the
        recording failed): new is the run's replay; old is the baseline run's replay of the
        same exchange when `baseline_id` is given (None when that one failed), else the
        recorded answer (as captured: sequential, through the proxy)."""
        if baseline_id is None:
            sql = (
                "SELECT coalesce(d.endpoint, e.endpoint), r.duration_ms, "
                "CASE WHEN e.error IS NULL THEN e.duration_ms END "
                f"FROM replays r JOIN exchanges e ON e.id = r.exchange_id {DIFF_ENDPOINT} "
                "WHERE r.run_id = ? AND r.error IS NULL AND e.status IS NOT NULL "
                "ORDER BY r.exchange_id"
            )
            params: list[int] = [run_id]
        else:
            sql = (
                "SELECT coalesce(d.endpoint, e.endpoint), r.duration_ms, "
                "CASE WHEN b.error IS NULL THEN b.duration_ms END "
                f"FROM replays r JOIN exchanges e ON e.id = r.exchange_id {DIFF_ENDPOINT} "
                "LEFT JOIN replays b ON b.run_id = ? AND b.exchange_id = r.exchange_id "
                "WHERE r.run_id = ? AND r.error IS NULL AND e.status IS NOT NULL "
                "ORDER BY r.exchange_id"
            )
            params = [baseline_id, run_id]
        return [LatencySample(str(ep), new, old) for ep, new, old in self.db.execute(sql, params)]
