"""The words shadowdiff stores and judges by, defined once.

Each is a ``StrEnum``: members compare equal to the plain strings stored in SQLite, so a row's
``kind`` column and ``DiffKind.MISSING`` are interchangeable.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "STRUCTURAL_KINDS",
    "DiffKind",
    "Part",
    "ReplayFlag",
    "RuleKind",
    "RunKind",
    "RunStatus",
    "Verdict",
]


class Verdict(StrEnum):
    """What the differ concluded about one exchange of a run."""

    SAME = "same"
    DIFFERENT = "different"
    ERROR = "error"  # the replay failed (connect, reset, timeout, ...)


class RunKind(StrEnum):
    """What a run's target is, relative to the recording."""

    CANDIDATE = "candidate"  # the new service
    BASELINE = "baseline"  # the old service again (old vs old: noise); lockstep: the secondary
    PRIMARY = "primary"  # lockstep: a live old instance, the old side of its candidate's diff


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETE = "complete"
    INTERRUPTED = "interrupted"


class Part(StrEnum):
    """Which part of a response a difference is in."""

    STATUS = "status"
    HEADER = "header"
    BODY = "body"


class DiffKind(StrEnum):
    """Kinds of difference between an old and a new value."""

    VALUE = "value"  # same type, other value
    TYPE = "type"  # other type (1 vs 1.0 vs true vs "1")
    MISSING = "missing"  # only in the old response
    EXTRA = "extra"  # only in the new response
    LENGTH = "length"  # a list grew or shrank
    ORDER = "order"  # the same elements in another order
    STATUS = "status"  # the status code
    HEADER = "header"  # a header on both sides with other values
    SCHEMA = "schema"  # a response outside its OpenAPI spec (table schema_findings, one side)


#: Kinds that change the shape of an answer: the gate fails on any (unless allowed), and noise
#: never explains them. A list's length or order can legitimately vary between two answers of
#: the same server, so they are not structural.
STRUCTURAL_KINDS: Final = frozenset(
    {DiffKind.MISSING, DiffKind.EXTRA, DiffKind.TYPE, DiffKind.STATUS}
)


class RuleKind(StrEnum):
    """Kinds of rule in a rules file."""

    IGNORE = "ignore"
    KEYS_ONLY = "keys_only"
    TOLERANCE = "tolerance"
    ALLOW_EXTRA = "allow_extra"
    IGNORE_ORDER = "ignore_order"
    EQUIVALENT_STATUS = "equivalent_status"
    HEADERS = "headers"


class ReplayFlag(StrEnum):
    """Markers on one replay outcome (``replays.flags``)."""

    TRUNCATED = "truncated"  # the answer was cut at the replay's --max-body
    RETRIED = "retried"  # sent again once on a fresh connection (a reused one had closed)
    UNSUPPLIED_SECRET = "unsupplied-secret"  # sent without a redacted value nothing supplied
    CHAINED = "chained"  # values this target issued were mapped back to the recorded ones
    UNCHAINED = "unchained"  # consumed a value its target never issued: sent as recorded
