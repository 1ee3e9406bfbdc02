"""The shadowdiff store: one SQLite file holding sessions, exchanges, runs and diffs.

Every SQL statement of shadowdiff lives in here (see `shadowdiff.store.db` for the modules).
Import direction: nothing in here imports click, httpx, mitmproxy or the other packages, but
for the differ's pure `generalize_path`, used once to migrate schema-1 files.
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
from shadowdiff.store.agreement import AgreementRow
from shadowdiff.store.db import Store
from shadowdiff.store.endpoints import endpoint_for, template_path
from shadowdiff.store.findings import CountingRow, FindingRow, Resigned
from shadowdiff.store.judgement import Judged, LatencySample
from shadowdiff.store.reporting import (
    FieldCountRow,
    FieldKeyRow,
    HiddenRow,
    SampleRow,
    SampleSide,
    SignatureGroup,
    VolatileRow,
)
from shadowdiff.store.results import DiffRow, FieldRow, RuleHitRow
from shadowdiff.store.spec_results import CoverageRow, SchemaFindingRow

__all__ = [
    "AgreementRow",
    "CountingRow",
    "CoverageRow",
    "FindingRow",
    "Resigned",
    "DiffRow",
    "Exchange",
    "FieldCountRow",
    "FieldKeyRow",
    "HiddenRow",
    "VolatileRow",
    "FieldRow",
    "Judged",
    "LatencySample",
    "RuleHitRow",
    "SampleRow",
    "SchemaFindingRow",
    "SampleSide",
    "SignatureGroup",
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
