"""The words shadowdiff stores and judges by, defined once.

Each is a ``StrEnum``: members compare equal to the plain strings stored in SQLite, so a row's
``kind`` column and ``DiffKind.MISSING`` are interchangeable.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "STRUCTURAL_KINDS",
    "VOLATILE_MARK",
    "ChangeClass",
    "DiffKind",
    "Normalizer",
    "Part",
    "ReplayFlag",
    "RuleKind",
    "RunKind",
    "RunStatus",
    "status_change",
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


class ChangeClass(StrEnum):
    """How a counting difference changed (``diff_fields.change``; part of its signature).

    A status difference's class is its pair instead (``500→200``: ``status_change``)."""

    WHITESPACE = "whitespace"  # strings equal once whitespace runs are collapsed
    CASE = "case"  # strings equal case-insensitively
    REORDERED = "reordered"  # the same word tokens in another order (set order in a message)
    NUMBER_FORMAT = "number-format"  # strings of the same number ("1.0" vs "1", "1e3" vs "1000")
    AFFIX = "affix"  # one string is the other with text added around or inside it
    VOLATILE = "volatile"  # both sides the same shape of id/token/timestamp (differ/volatile.py)
    INT_FLOAT = "int-float"  # 1 vs 1.0
    NUMBER = "number"  # any other change of a number
    NULL = "null"  # one side is JSON null (present), the other a value or absent
    ABSENT = "absent"  # the key is absent on one side (its value on the other is not null)
    SHIFTED = "shifted"  # a list equals the other side's shifted by a few positions
    OTHER = "other"


#: The `diff_fields.rule` of a volatile difference that does not count (likely volatile
#: without a baseline, or confirmed by one); no rules file may name a rule so.
VOLATILE_MARK: Final = "(volatile)"


def status_change(old: object, new: object) -> str:
    """The class of a status difference: its pair, ``500→200``."""
    return f"{old}→{new}"


class RuleKind(StrEnum):
    """Kinds of rule in a rules file."""

    IGNORE = "ignore"
    KEYS_ONLY = "keys_only"
    TOLERANCE = "tolerance"
    ALLOW_EXTRA = "allow_extra"
    IGNORE_ORDER = "ignore_order"
    EQUIVALENT_STATUS = "equivalent_status"
    HEADERS = "headers"
    RENAME = "rename"
    NORMALIZE = "normalize"


class Normalizer(StrEnum):
    """What a ``normalize`` rule compares both sides by (``differ/normalizers.py``)."""

    TRACEBACK = "traceback"  # Python tracebacks: exception type and message, not frames
    MARKUP_WHITESPACE = "markup-whitespace"  # HTML/XML bodies: whitespace-normalised text
    CONTENT_TYPE_DEFAULTS = "content-type-defaults"  # parameters equal to the default dropped
    FRAMEWORK_ERROR_PAGES = "framework-error-pages"  # Werkzeug vs Starlette 404/405 pages


class ReplayFlag(StrEnum):
    """Markers on one replay outcome (``replays.flags``)."""

    TRUNCATED = "truncated"  # the answer was cut at the replay's --max-body
    RETRIED = "retried"  # sent again once on a fresh connection (a reused one had closed)
    UNSUPPLIED_SECRET = "unsupplied-secret"  # sent without a redacted value nothing supplied
    CHAINED = "chained"  # values this target issued were mapped back to the recorded ones
    UNCHAINED = "unchained"  # consumed a value its target never issued: sent as recorded
