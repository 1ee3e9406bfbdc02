"""What a recording stored, read once mitmdump has exited.

Normally from the addon's final counters (its stats file). When mitmdump was killed by a
signal, that file is stale (it is rewritten at most a few times a second and never at the
end), so the stored count and bytes come from the database instead, and the summary says
the recorder was killed.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shadowdiff.errors import StoreError
from shadowdiff.store import Store


@dataclass(frozen=True)
class RecordSummary:
    session: str | None
    stored: int
    dropped: int
    bytes: int
    last_error: str | None
    exit_code: int | None
    crashed: bool = False  # mitmdump exited by itself with an error
    killed: str | None = None  # the signal that killed mitmdump (counts from the database)
    chains: int = 0  # chains of server-issued values found in the session (recorder/chainfind)
    chain_warning: str | None = None  # why none could be detected


def stored_totals(db: Path, session: str | None) -> tuple[int, int] | None:
    """(exchanges, body bytes) of `session` in `db`, read-only; None when unreadable."""
    if session is None:
        return None
    try:
        with Store.open(db, readonly=True) as store:
            return store.session_totals(store.session(session).id)
    except StoreError:
        return None


def summarize(
    stats: dict[str, Any],
    exit_code: int | None,
    *,
    db: Path,
    session: str | None,
    baseline: tuple[int, int],
) -> RecordSummary:
    """The summary of a recording that has ended with `exit_code`; `baseline` is what the
    session held before it started (a session can be appended to)."""
    name = stats.get("session", session)
    summary = RecordSummary(
        session=name,
        stored=int(stats.get("stored", 0)),
        dropped=int(stats.get("dropped", 0)),
        bytes=int(stats.get("bytes", 0)),
        last_error=stats.get("last_error"),
        exit_code=exit_code,
    )
    if exit_code is None or exit_code >= 0:
        return summary
    try:
        killed = signal.Signals(-exit_code).name
    except ValueError:
        killed = f"signal {-exit_code}"
    totals = stored_totals(db, name)
    if totals is None:
        return RecordSummary(**{**summary.__dict__, "killed": killed})
    return RecordSummary(
        session=name,
        stored=totals[0] - baseline[0],
        dropped=summary.dropped,
        bytes=totals[1] - baseline[1],
        last_error=summary.last_error,
        exit_code=exit_code,
        killed=killed,
    )
