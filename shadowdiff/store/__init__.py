"""The shadowdiff store: one SQLite file holding sessions, exchanges, runs and diffs.

Import direction: nothing in here imports click, httpx, mitmproxy or the other packages.
"""

from __future__ import annotations

from shadowdiff.errors import (
    NotADatabaseError,
    RunNotFoundError,
    SessionNotFoundError,
    StoreError,
    StoreVersionError,
)
from shadowdiff.records import Exchange, Replay, Run, Session, SessionSummary
from shadowdiff.store.db import Store
from shadowdiff.store.endpoints import endpoint_for, template_path

__all__ = [
    "Exchange",
    "NotADatabaseError",
    "Replay",
    "Run",
    "RunNotFoundError",
    "Session",
    "SessionNotFoundError",
    "SessionSummary",
    "Store",
    "StoreError",
    "StoreVersionError",
    "endpoint_for",
    "template_path",
]
