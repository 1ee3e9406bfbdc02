"""Runs (one replay of a session against a target) and the replayed answers they got."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

from shadowdiff.errors import RunNotFoundError, StoreError
from shadowdiff.records import Replay, Run
from shadowdiff.store.base import StoreBase
from shadowdiff.store.encoding import Blobs, headers_from_json, headers_json
from shadowdiff.vocabulary import RunKind, RunStatus

_RUN_COLUMNS = (
    "id, name, session_id, kind, target, paired_run_id, config, started_at, finished_at, status, "
    "reference_run_id"
)


def _run(row: tuple[Any, ...]) -> Run:
    return Run(
        id=row[0],
        name=row[1],
        session_id=row[2],
        kind=RunKind(row[3]),
        target=row[4],
        paired_run_id=row[5],
        config=json.loads(row[6]),
        started_at=row[7],
        finished_at=row[8],
        status=RunStatus(row[9]),
        reference_run_id=row[10],
    )


class RunsMixin(StoreBase):
    def create_run(
        self,
        session_id: int,
        *,
        kind: str,
        target: str,
        name: str | None = None,
        paired_run_id: int | None = None,
        config: dict[str, Any] | None = None,
        reference_run_id: int | None = None,
    ) -> Run:
        if name is None:
            base = f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
            name, n = base, 1
            while self.db.execute("SELECT 1 FROM runs WHERE name = ?", [name]).fetchone():
                n += 1
                name = f"{base}-{n}"
        elif self.db.execute("SELECT 1 FROM runs WHERE name = ?", [name]).fetchone():
            raise StoreError(f"a run named {name!r} exists already; choose another --name")
        now = time.time()
        with self.db.conn:
            cur = self.db.execute(
                "INSERT INTO runs (name, session_id, kind, target, paired_run_id, config, "
                "started_at, status, reference_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    name,
                    session_id,
                    str(kind),
                    target,
                    paired_run_id,
                    json.dumps(config or {}),
                    now,
                    str(RunStatus.RUNNING),
                    reference_run_id,
                ],
            )
        return self.run(int(cur.lastrowid or 0))

    def run(self, ref: str | int) -> Run:
        """Find a run by name or id."""
        sql = f"SELECT {_RUN_COLUMNS} FROM runs WHERE"
        row = self.db.execute(f"{sql} name = ?", [str(ref)]).fetchone()
        if row is None and str(ref).isdigit():
            row = self.db.execute(f"{sql} id = ?", [int(ref)]).fetchone()
        if row is None:
            known = [r[0] for r in self.db.execute("SELECT name FROM runs ORDER BY id DESC")]
            hint = f" (recent: {', '.join(known[:5])})" if known else " (the store has none)"
            raise RunNotFoundError(f"no run {ref!r}{hint}; see `shadowdiff runs`")
        return _run(row)

    def list_runs(self) -> list[Run]:
        rows = self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id").fetchall()
        return [_run(r) for r in rows]

    def baseline_of(self, run: Run) -> Run | None:
        """The baseline run paired with a candidate run, if any (None for a baseline run);
        in lockstep, the secondary."""
        return self._paired(run, RunKind.BASELINE)

    def primary_of(self, run: Run) -> Run | None:
        """The primary run paired with a lockstep candidate run, if any."""
        return self._paired(run, RunKind.PRIMARY)

    def _paired(self, run: Run, kind: RunKind) -> Run | None:
        row = self.db.execute(
            "SELECT id FROM runs WHERE paired_run_id = ? AND kind = ?", [run.id, str(kind)]
        ).fetchone()
        return self.run(int(row[0])) if row else None

    def reference_of(self, run: Run) -> Run | None:
        """The run whose replayed answers are the old side of `run`'s diff (None: the
        recording's answers are)."""
        return self.run(run.reference_run_id) if run.reference_run_id is not None else None

    def candidate_of(self, run: Run) -> Run:
        """The candidate run a baseline or primary run was paired with; any other run is
        itself."""
        if run.kind != RunKind.CANDIDATE and run.paired_run_id is not None:
            return self.run(run.paired_run_id)
        return run

    def set_reference_run(self, run_id: int, reference_run_id: int | None) -> Run:
        """Make `reference_run_id`'s answers the old side of the run's diff."""
        with self.db.conn:
            self.db.execute(
                "UPDATE runs SET reference_run_id = ? WHERE id = ?", [reference_run_id, run_id]
            )
        return self.run(run_id)

    def finish_run(self, run_id: int, status: str = RunStatus.COMPLETE) -> None:
        with self.db.conn:
            self.db.execute(
                "UPDATE runs SET finished_at = ?, status = ? WHERE id = ?",
                [time.time(), str(status), run_id],
            )

    # ------------------------------------------------------------------- drift
    def status_drift(self, run_id: int) -> tuple[int, list[tuple[int, str, str, int, int]]]:
        """How many of the run's replays can be set against the recording by status (both
        answered), and those whose status disagrees: (exchange id, endpoint as diffed,
        request line, recorded status, replayed status), in recorded order."""
        base = (
            "FROM replays r JOIN exchanges e ON e.id = r.exchange_id "
            "LEFT JOIN diffs d ON d.run_id = r.run_id AND d.exchange_id = r.exchange_id "
            "WHERE r.run_id = ? AND r.error IS NULL AND r.status IS NOT NULL "
            "AND e.status IS NOT NULL"
        )
        (compared,) = self.db.execute(f"SELECT count(*) {base}", [run_id]).fetchone()
        rows = self.db.execute(
            "SELECT r.exchange_id, coalesce(d.endpoint, e.endpoint), e.method || ' ' || e.path, "
            f"e.status, r.status {base} AND r.status != e.status ORDER BY e.seq",
            [run_id],
        ).fetchall()
        return int(compared), [(int(a), str(b), str(c), int(d), int(e)) for a, b, c, d, e in rows]

    # ------------------------------------------------------ in-flight journal
    # `meta` row `claim:<run id>`: the recorded seq up to which a running replay may have
    # sent requests; cleared once every sent request is stored (see replayer/writer.py).
    def claim_sent(self, run_id: int, seq: int) -> None:
        with self.db.conn:
            self.db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [f"claim:{run_id}", str(seq)],
            )

    def clear_claim(self, run_id: int) -> None:
        with self.db.conn:
            self.db.execute("DELETE FROM meta WHERE key = ?", [f"claim:{run_id}"])

    def claimed_seq(self, run_id: int) -> int | None:
        """The seq up to which a killed replay of the run may have sent requests, or None."""
        row = self.db.execute(
            "SELECT value FROM meta WHERE key = ?", [f"claim:{run_id}"]
        ).fetchone()
        return int(row[0]) if row else None

    # ----------------------------------------------------------------- replays
    def add_replays(self, replays: Iterable[Replay]) -> int:
        """Store replay outcomes in one transaction (a re-sent exchange replaces its row)."""
        rows = []
        blobs = Blobs()
        with self.db.conn:
            for rp in replays:
                rows.append(
                    (
                        rp.run_id,
                        rp.exchange_id,
                        rp.status,
                        rp.reason,
                        headers_json(rp.headers),
                        blobs.add(rp.body),
                        len(rp.body),
                        rp.header("content-type"),
                        rp.started_at,
                        rp.duration_ms,
                        rp.error,
                        json.dumps(rp.flags) if rp.flags else "[]",
                    )
                )
            blobs.write(self.db)
            if rows:
                self.db.conn.executemany(
                    "INSERT OR REPLACE INTO replays (run_id, exchange_id, status, reason, "
                    "headers, body, size, content_type, started_at, duration_ms, error, flags) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
        return len(rows)

    def replayed_ids(self, run_id: int) -> set[int]:
        return {
            int(r[0])
            for r in self.db.execute("SELECT exchange_id FROM replays WHERE run_id = ?", [run_id])
        }

    def count_replays(self, *run_ids: int) -> int:
        """How many replayed answers the given runs hold together."""
        if not run_ids:
            return 0
        row = self.db.execute(
            f"SELECT count(*) FROM replays WHERE run_id IN ({', '.join('?' * len(run_ids))})",
            list(run_ids),
        ).fetchone()
        return int(row[0])

    def replayed_in_order(self, run_id: int) -> list[int]:
        """The ids of the exchanges a run replayed, in recorded order (by seq)."""
        sql = (
            "SELECT r.exchange_id FROM replays r JOIN exchanges e ON e.id = r.exchange_id "
            "WHERE r.run_id = ? ORDER BY e.seq"
        )
        return [int(r[0]) for r in self.db.execute(sql, [run_id])]

    def iter_replays(self, run_id: int, ids: Iterable[int] | None = None) -> Iterator[Replay]:
        """A run's replays by exchange id (only those of `ids`, when given)."""
        sql = (
            "SELECT r.exchange_id, r.status, r.reason, r.headers, "
            "shadowdiff_body(b.data, b.encoding), r.started_at, "
            "r.duration_ms, r.error, r.flags FROM replays r "
            "LEFT JOIN blobs b ON b.sha256 = r.body WHERE r.run_id = ?"
        )
        params: list[Any] = [run_id]
        if ids is not None:
            sql += " AND r.exchange_id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(list(ids)))
        for r in self.db.execute(sql + " ORDER BY r.exchange_id", params):
            yield Replay(
                run_id=run_id,
                exchange_id=r[0],
                status=r[1],
                reason=r[2],
                headers=headers_from_json(r[3]),
                body=r[4] or b"",
                started_at=r[5],
                duration_ms=r[6],
                error=r[7],
                flags=json.loads(r[8]) if r[8] and r[8] != "[]" else [],
            )
