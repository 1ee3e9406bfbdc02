"""The views people query (`shadowdiff query`): per-endpoint, per-field and per-signature sums.

They are plain SQL over `runs`, `replays`, `exchanges`, `diffs` and `diff_fields`, so they work
in any SQLite client too. `diff_fields` keeps both paths: `path` is the concrete one the differ
found (`body.predictions[3]`), `general_path` has list indices as `[*]` (`body.predictions[*]`);
signatures are built from general paths.

- `endpoint_summary`: per run and endpoint: requests replayed, compared (diffed), same,
  different, errors, diff_rate (different / compared) and the median latency in milliseconds
  of the old and new answers, over the exchanges whose replay and recording both succeeded.
  New is the run's replay. Old is, when the run has a paired baseline run, that run's replay
  of the same exchange (`latency_basis` 'baseline': like for like); otherwise the recorded
  answer (`latency_basis` 'recorded': captured sequentially through the proxy, not like for
  like with a concurrent replay).
- `field_summary`: per run, endpoint, part, path (with its `general_path`), kind, change
  class (`change`: affix, volatile, 500→200, ...; NULL on rows diffed before schema 5) and
  rule (NULL when the difference counts; `(volatile)` for a volatile one not counted): how
  many exchanges differ there (`exchanges`) and in how many fields (`fields`); `counting` is
  1 when no rule absorbed the difference. What a rule absorbed is stored once per exchange,
  rule, general path and kind, at its first concrete path: count absorbed differences by
  `general_path` (rule_hits holds the exact counts).
- `signatures`: per run, endpoint and root-cause signature (verdict different or error): how
  many requests and one sample exchange id (the smallest). The signature text names each
  (general path, kind/change class), e.g. `body.message:value/affix, status:500→200`.
"""

from __future__ import annotations

import sqlite3
from typing import Final

import sqlite_utils

_ENDPOINT_SUMMARY: Final = """
WITH pairs AS (
    SELECT r.run_id, coalesce(d.endpoint, e.endpoint) AS endpoint, r.exchange_id, d.verdict,
           (r.error IS NULL AND e.status IS NOT NULL) AS comparable,
           bl.id IS NOT NULL AS has_baseline,
           r.duration_ms AS new_raw,
           CASE WHEN bl.id IS NULL THEN (CASE WHEN e.error IS NULL THEN e.duration_ms END)
                ELSE (CASE WHEN b.error IS NULL THEN b.duration_ms END) END AS old_raw
    FROM replays r
    JOIN exchanges e ON e.id = r.exchange_id
    LEFT JOIN runs bl ON bl.paired_run_id = r.run_id AND bl.kind = 'baseline'
    LEFT JOIN replays b ON b.run_id = bl.id AND b.exchange_id = r.exchange_id
    LEFT JOIN diffs d ON d.run_id = r.run_id AND d.exchange_id = r.exchange_id
),
latencies AS (
    SELECT run_id, endpoint, 'old' AS side, old_raw AS ms FROM pairs
    WHERE comparable AND old_raw IS NOT NULL
    UNION ALL
    SELECT run_id, endpoint, 'new' AS side, new_raw AS ms FROM pairs
    WHERE comparable AND new_raw IS NOT NULL
),
ranked AS (
    SELECT run_id, endpoint, side, ms,
           row_number() OVER (PARTITION BY run_id, endpoint, side ORDER BY ms) AS rn,
           count(*) OVER (PARTITION BY run_id, endpoint, side) AS n
    FROM latencies
),
medians AS (
    SELECT run_id, endpoint,
           avg(CASE WHEN side = 'old' THEN ms END) AS old_p50_ms,
           avg(CASE WHEN side = 'new' THEN ms END) AS new_p50_ms
    FROM ranked
    WHERE rn IN ((n + 1) / 2, (n + 2) / 2)
    GROUP BY run_id, endpoint
),
counts AS (
    SELECT run_id, endpoint,
           count(*) AS requests,
           count(verdict) AS compared,
           coalesce(sum(verdict = 'same'), 0) AS same,
           coalesce(sum(verdict = 'different'), 0) AS different,
           coalesce(sum(verdict = 'error'), 0) AS errors,
           CASE WHEN max(has_baseline) THEN 'baseline' ELSE 'recorded' END AS latency_basis
    FROM pairs
    GROUP BY run_id, endpoint
)
SELECT c.run_id, ru.name AS run, c.endpoint, c.requests, c.compared, c.same, c.different,
       c.errors,
       CASE WHEN c.compared > 0 THEN round(1.0 * c.different / c.compared, 4) END AS diff_rate,
       round(m.old_p50_ms, 2) AS old_p50_ms,
       round(m.new_p50_ms, 2) AS new_p50_ms,
       c.latency_basis
FROM counts c
JOIN runs ru ON ru.id = c.run_id
LEFT JOIN medians m ON m.run_id = c.run_id AND m.endpoint = c.endpoint
"""

_FIELD_SUMMARY: Final = """
SELECT f.run_id, ru.name AS run, f.endpoint, f.part, f.path, f.general_path, f.kind,
       f.change, f.rule,
       (f.rule IS NULL) AS counting,
       count(DISTINCT f.exchange_id) AS exchanges,
       count(*) AS fields
FROM diff_fields f
JOIN runs ru ON ru.id = f.run_id
GROUP BY f.run_id, f.endpoint, f.part, f.path, f.general_path, f.kind, f.change, f.rule
"""

_SIGNATURES: Final = """
SELECT d.run_id, ru.name AS run, d.endpoint, d.verdict, d.signature, d.signature_text,
       count(*) AS requests,
       min(d.exchange_id) AS sample_exchange_id
FROM diffs d
JOIN runs ru ON ru.id = d.run_id
WHERE d.verdict <> 'same'
GROUP BY d.run_id, d.endpoint, d.verdict, d.signature, d.signature_text
"""

VIEWS: Final[dict[str, str]] = {
    "endpoint_summary": _ENDPOINT_SUMMARY,
    "field_summary": _FIELD_SUMMARY,
    "signatures": _SIGNATURES,
}


def view_sql(name: str, *, temp: bool = False) -> str:
    """The `CREATE VIEW IF NOT EXISTS` statement of one view (TEMP ones for read-only use)."""
    kind = "TEMP VIEW" if temp else "VIEW"
    return f"CREATE {kind} IF NOT EXISTS {name} AS{VIEWS[name]}"


def _stored_sql(name: str) -> str:
    """How SQLite keeps the statement in sqlite_master (it drops `IF NOT EXISTS`)."""
    return f"CREATE VIEW {name} AS{VIEWS[name]}"


def ensure_views(db: sqlite_utils.Database) -> None:
    """Create the views that are missing and replace those with an outdated definition.

    Writes nothing when every view is current, so it is cheap to call on every open.
    """
    existing = {
        str(name): str(sql or "")
        for name, sql in db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'view'"
        ).fetchall()
    }
    stale = [name for name in VIEWS if existing.get(name) != _stored_sql(name)]
    if not stale:
        return
    with db.conn:
        for name in stale:
            if name in existing:
                db.execute(f"DROP VIEW IF EXISTS {name}")
            db.execute(view_sql(name))


def add_temp_views(conn: sqlite3.Connection) -> None:
    """Give a (read-only) connection the views as TEMP views where the file lacks them."""
    present = {
        str(row[0])
        for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'").fetchall()
    }
    for name in VIEWS:
        if name not in present:
            conn.execute(view_sql(name, temp=True))
