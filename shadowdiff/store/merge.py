"""Merge shadowdiff databases: shards of a replay, recorders of several service instances.

`merge_into(out, sources)` copies every input's sessions, exchanges, blobs, runs, replays and
results into `out` with fresh ids, in one transaction (a refusal leaves `out` as it was):

* a session is matched by name: a name new to `out` is copied with its exchanges; a name it
  has already must be the same session (same upstream, and the same exchanges by seq: method,
  path, query, request and response bodies, status), else the merge is refused;
* blobs are shared by sha256 (INSERT OR IGNORE);
* a run is matched by name: a name new to `out` is copied with its replays and its results
  (diffs, diff_fields, rule_hits, agreement, spec results); a name it has already must be a
  run of the same session, kind, target and paired run, replayed the same way (baseline,
  transport, headers, --max-body, --host; the selection, such as --only or --sample, may
  differ) and, where both were diffed, under the same rules; else the merge is refused. Its
  replays are unioned by exchange (the first input's answer is kept for an exchange both
  replayed) and its stored results are dropped: a unioned run is diffed again
  (`shadowdiff diff RUN`), which the summary lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from shadowdiff.errors import MergeError
from shadowdiff.store.base import StoreBase

__all__ = ["MergeSummary"]

# how a run's answers were obtained: must agree for two runs of one name to be unioned
ANSWER_KEYS: Final = (
    "target", "baseline", "primary", "secondary", "session", "transport", "headers", "max_body",
    "host",
)  # fmt: skip
RESULT_TABLES: Final = ("diffs", "diff_fields", "rule_hits", "agreement", "findings")
SPEC_TABLES: Final = ("spec_sources", "schema_findings", "spec_coverage")
_SAME_EXCHANGE: Final = (
    "method",
    "path",
    "query",
    "request_body",
    "response_body",
    "status",
)


@dataclass
class MergeSummary:
    sessions_added: list[str] = field(default_factory=list)
    sessions_shared: list[str] = field(default_factory=list)
    runs_added: list[str] = field(default_factory=list)
    runs_unioned: list[str] = field(default_factory=list)  # to diff again
    exchanges: int = 0
    replays: int = 0
    notes: list[str] = field(default_factory=list)


class MergeMixin(StoreBase):
    def merge_from(self, sources: Iterable[Path]) -> MergeSummary:
        """Merge the databases `sources` into this one (see the module docstring), one
        transaction per input: an input refused leaves nothing of itself behind."""
        summary = MergeSummary()
        conn = self.db.conn
        for source in sources:
            conn.execute("ATTACH DATABASE ? AS src", [str(source)])
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    _Merge(self, Path(source), summary).run()
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                _detach(conn)
        summary.runs_unioned = sorted(set(summary.runs_unioned))
        return summary


def _detach(conn: Any) -> None:
    names = [r[1] for r in conn.execute("PRAGMA database_list")]
    if "src" in names:
        conn.execute("DETACH DATABASE src")


class _Merge:
    """One input merged into the store."""

    def __init__(self, store: StoreBase, source: Path, summary: MergeSummary) -> None:
        self.db, self.source, self.summary = store.db, source, summary
        self.sessions: dict[int, int] = {}  # input session id -> out id
        self.runs: dict[int, int] = {}

    def q(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.db.conn.execute(sql, list(params)).fetchall())

    def run(self) -> None:
        version = self.q("SELECT value FROM src.meta WHERE key = 'schema_version'")
        mine = self.q("SELECT value FROM main.meta WHERE key = 'schema_version'")
        if version != mine:
            raise MergeError(
                f"{self.source} has schema version {version[0][0] if version else 'none'}, not "
                f"{mine[0][0]}; diff a run of it once with this shadowdiff to migrate it"
            )
        self._key()
        self.db.conn.execute("INSERT OR IGNORE INTO main.blobs SELECT * FROM src.blobs")
        for sid, name in self.q("SELECT id, name FROM src.sessions ORDER BY id"):
            self.sessions[sid] = self._session(sid, name)
        self.db.conn.execute("DROP TABLE IF EXISTS temp.xmap")
        self.db.conn.execute(
            "CREATE TEMP TABLE xmap AS SELECT s.id AS old, o.id AS new FROM src.exchanges s "
            "JOIN main.sessions ms ON ms.name = (SELECT name FROM src.sessions WHERE id = "
            "s.session_id) JOIN main.exchanges o ON o.session_id = ms.id AND o.seq = s.seq"
        )
        self.db.conn.execute("CREATE UNIQUE INDEX temp.xmap_old ON xmap(old)")
        rows = self.q("SELECT id, name, paired_run_id, reference_run_id FROM src.runs ORDER BY id")
        for rid, name, _, _ in rows:
            self.runs[rid] = self._run(rid, name)
        for rid, _, paired, reference in rows:
            for column, value in (("paired_run_id", paired), ("reference_run_id", reference)):
                if value is not None:
                    self.db.conn.execute(
                        f"UPDATE main.runs SET {column} = ? WHERE id = ?",
                        [self.runs[value], self.runs[rid]],
                    )

    def _key(self) -> None:
        theirs = self.q("SELECT value FROM src.meta WHERE key = 'redaction_key'")
        mine = self.q("SELECT value FROM main.meta WHERE key = 'redaction_key'")
        if theirs and not mine:
            self.db.conn.execute(
                "INSERT INTO main.meta (key, value) VALUES ('redaction_key', ?)", [theirs[0][0]]
            )
        elif theirs and mine and theirs != mine:
            self.summary.notes.append(
                f"{self.source} redacted secrets under another key: --secrets cannot supply "
                "the values of its sessions' tokens (they replay flagged unsupplied-secret)"
            )

    # ---------------------------------------------------------------- sessions
    def _session(self, sid: int, name: str) -> int:
        found = self.q("SELECT id, upstream FROM main.sessions WHERE name = ?", [name])
        (upstream,) = self.q("SELECT upstream FROM src.sessions WHERE id = ?", [sid])[0]
        if not found:
            cur = self.db.conn.execute(
                "INSERT INTO main.sessions (name, source, upstream, started_at, ended_at) "
                "SELECT name, source, upstream, started_at, ended_at FROM src.sessions "
                "WHERE id = ?",
                [sid],
            )
            new = int(cur.lastrowid or 0)
            cols = [c for c in self._columns("exchanges") if c not in ("id", "session_id")]
            cur = self.db.conn.execute(
                f"INSERT INTO main.exchanges (session_id, {', '.join(cols)}) "
                f"SELECT ?, {', '.join(cols)} FROM src.exchanges WHERE session_id = ? "
                "ORDER BY seq",
                [new, sid],
            )
            self.summary.exchanges += cur.rowcount
            self.summary.sessions_added.append(name)
            for (value,) in self.q(
                "SELECT value FROM src.meta WHERE key = ?", [f"redaction_names:{sid}"]
            ):
                self.db.conn.execute(
                    "INSERT OR REPLACE INTO main.meta (key, value) VALUES (?, ?)",
                    [f"redaction_names:{new}", value],
                )
            return new
        out_id, out_upstream = found[0]
        if out_upstream != upstream:
            raise self._refuse(f"session {name!r}", f"upstream {upstream} vs {out_upstream}")
        same = ", ".join(("seq", *_SAME_EXCHANGE))
        theirs = self.q(
            f"SELECT {same} FROM src.exchanges WHERE session_id = ? ORDER BY seq", [sid]
        )
        mine = self.q(
            f"SELECT {same} FROM main.exchanges WHERE session_id = ? ORDER BY seq", [out_id]
        )
        if theirs != mine:
            raise self._refuse(
                f"session {name!r}",
                f"{len(theirs)} exchanges vs {len(mine)}, not the same by seq"
                if len(theirs) != len(mine)
                else "other exchanges at the same seq",
            )
        self.summary.sessions_shared.append(name)
        return int(out_id)

    def _refuse(self, what: str, why: str) -> MergeError:
        return MergeError(
            f"{what} in {self.source} does not fit the {what} already merged ({why}); merge "
            "only databases whose sessions and runs of one name are the same, others apart"
        )

    def _columns(self, table: str) -> list[str]:
        return [r[1] for r in self.q(f"PRAGMA src.table_info({table})")]

    # -------------------------------------------------------------------- runs
    def _run(self, rid: int, name: str) -> int:
        (src_row,) = self.q(
            "SELECT session_id, kind, target, config, started_at, finished_at, status "
            "FROM src.runs WHERE id = ?",
            [rid],
        )
        session = self.sessions[src_row[0]]
        found = self.q(
            "SELECT id, session_id, kind, target, config FROM main.runs WHERE name = ?", [name]
        )
        if not found:
            cur = self.db.conn.execute(
                "INSERT INTO main.runs (name, session_id, kind, target, config, started_at, "
                "finished_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [name, session, *src_row[1:]],
            )
            new = int(cur.lastrowid or 0)
            self._copy_replays(rid, new)
            for table in (*RESULT_TABLES, *SPEC_TABLES):
                self._copy_results(table, rid, new)
            self.summary.runs_added.append(name)
            return new
        out_id, out_session, kind, target, config = found[0]
        self._check_run(name, rid, src_row, (out_id, out_session, kind, target, config), session)
        self._copy_replays(rid, out_id, union=True)
        for table in (*RESULT_TABLES, *SPEC_TABLES):
            self.db.conn.execute(f"DELETE FROM main.{table} WHERE run_id = ?", [out_id])
        self.db.conn.execute(
            "UPDATE main.runs SET started_at = min(started_at, ?), finished_at = "
            "max(coalesce(finished_at, 0), coalesce(?, 0)), status = CASE WHEN status = "
            "'complete' THEN ? ELSE status END WHERE id = ?",
            [src_row[4], src_row[5], src_row[6], out_id],
        )
        self.summary.runs_unioned.append(name)
        return int(out_id)

    def _check_run(
        self, name: str, rid: int, src: tuple[Any, ...], out: tuple[Any, ...], session: int
    ) -> None:
        what = f"run {name!r}"
        if out[1] != session or out[2] != src[1] or out[3] != src[2]:
            raise self._refuse(what, f"session, kind or target differ: {src[2]} vs {out[3]}")
        theirs, mine = json.loads(src[3] or "{}"), json.loads(out[4] or "{}")
        for key in ANSWER_KEYS:
            if theirs.get(key) != mine.get(key):
                raise self._refuse(
                    what, f"replayed with {key} {theirs.get(key)!r} vs {mine.get(key)!r}"
                )
        sql = "SELECT rule, kind, origin, reason FROM {}.rule_hits WHERE run_id = ? ORDER BY rule"
        diffed = "SELECT count(*) FROM {}.diffs WHERE run_id = ?"
        both = (
            self.q(diffed.format("src"), [rid])[0][0]
            and self.q(diffed.format("main"), [out[0]])[0][0]
        )
        if both and self.q(sql.format("src"), [rid]) != self.q(sql.format("main"), [out[0]]):
            raise self._refuse(what, "diffed under different rules")

    def _copy_replays(self, rid: int, new: int, *, union: bool = False) -> None:
        cols = [c for c in self._columns("replays") if c not in ("run_id", "exchange_id")]
        verb = "INSERT OR IGNORE" if union else "INSERT"
        cur = self.db.conn.execute(
            f"{verb} INTO main.replays (run_id, exchange_id, {', '.join(cols)}) "
            f"SELECT ?, x.new, {', '.join('r.' + c for c in cols)} FROM src.replays r "
            "JOIN temp.xmap x ON x.old = r.exchange_id WHERE r.run_id = ?",
            [new, rid],
        )
        self.summary.replays += cur.rowcount

    def _copy_results(self, table: str, rid: int, new: int) -> None:
        cols = [c for c in self._columns(table) if c not in ("id", "run_id", "exchange_id")]
        keyed = "exchange_id" in self._columns(table)
        select = ", ".join(f"t.{c}" for c in cols)
        if keyed:
            self.db.conn.execute(
                f"INSERT INTO main.{table} (run_id, exchange_id, {', '.join(cols)}) "
                f"SELECT ?, x.new, {select} FROM src.{table} t "
                "JOIN temp.xmap x ON x.old = t.exchange_id WHERE t.run_id = ? ORDER BY t.rowid",
                [new, rid],
            )
        else:
            self.db.conn.execute(
                f"INSERT INTO main.{table} (run_id, {', '.join(cols)}) "
                f"SELECT ?, {select} FROM src.{table} t WHERE t.run_id = ? ORDER BY t.rowid",
                [new, rid],
            )
