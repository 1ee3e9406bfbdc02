"""The views people query (`shadowdiff query`): per-endpoint, per-field and per-signature sums.

They are plain SQL over `replays`, `exchanges`, `diffs` and `diff_fields`, so they work in any
SQLite client too. Field paths are the concrete ones the differ wrote (`body.predictions[3]`);
signatures use the generalized ones (`body.predictions[*]`).

- `endpoint_summary`: per run and endpoint: requests replayed, compared, same, different,
  errors, diff_rate (different / compared) and the median latency of the recorded (old) and
  replayed (new) answers in milliseconds.
- `field_summary`: per run, endpoint, part, path, kind and rule (NULL when the difference
  counts): how many exchanges differ there (`exchanges`) and in how many fields (`fields`);
  `counting` is 1 when no rule absorbed the difference.
- `signatures`: per run and root-cause signature (verdict different or error): how many
  requests and one sample exchange id.
"""

from __future__ import annotations

import sqlite3
from typing import Final

import sqlite_utils

_ENDPOINT_SUMMARY: Final = """
WITH pairs AS (
    SELECT r.run_id, e.endpoint, r.exchange_id, e.duration_ms AS old_ms,
           r.duration_ms AS new_ms, d.verdict
    FROM replays r
    JOIN exchanges e ON e.id = r.exchange_id
    LEFT JOIN diffs d ON d.run_id = r.run_id AND d.exchange_id = r.exchange_id
),
latencies AS (
    SELECT run_id, endpoint, 'old' AS side, old_ms AS ms FROM pairs WHERE old_ms IS NOT NULL
    UNION ALL
    SELECT run_id, endpoint, 'new' AS side, new_ms AS ms FROM pairs WHERE new_ms IS NOT NULL
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
           coalesce(sum(verdict = 'error'), 0) AS errors
    FROM pairs
    GROUP BY run_id, endpoint
)
SELECT c.run_id, ru.name AS run, c.endpoint, c.requests, c.compared, c.same, c.different,
       c.errors,
       CASE WHEN c.compared > 0 THEN round(1.0 * c.different / c.compared, 4) END AS diff_rate,
       round(m.old_p50_ms, 2) AS old_p50_ms,
       round(m.new_p50_ms, 2) AS new_p50_ms
FROM counts c
JOIN runs ru ON ru.id = c.run_id
LEFT JOIN medians m ON m.run_id = c.run_id AND m.endpoint = c.endpoint
"""

_FIELD_SUMMARY: Final = """
SELECT f.run_id, ru.name AS run, f.endpoint, f.part, f.path, f.kind, f.rule,
       (f.rule IS NULL) AS counting,
       count(DISTINCT f.exchange_id) AS exchanges,
       count(*) AS fields
FROM diff_fields f
JOIN runs ru ON ru.id = f.run_id
GROUP BY f.run_id, f.endpoint, f.part, f.path, f.kind, f.rule
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
