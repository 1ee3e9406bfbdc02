"""What the differ reports: one FieldDiff per difference, one Comparison per pair.

Kinds of difference (``DiffKind`` in ``shadowdiff.vocabulary``):

``value``   same type, other value
``type``    other type (``1`` vs ``1.0`` vs ``true`` vs ``"1"`` are all different types)
``missing`` only in the old response
``extra``   only in the new response
``length``  a list grew or shrank: one diff at the list, ``left``/``right`` are the lengths
            (under ``ignore_order``: an element's count changed, at that element)
``order``   a list holds the same elements in another order: one diff at the list
``status``  the status (part ``status``)
``header``  a header present on both sides with other values (an absent header is
            ``missing`` or ``extra``; part ``header``)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from shadowdiff.differ.normalize import canonical
from shadowdiff.differ.ruleset import Rule
from shadowdiff.differ.trees import MISSING, REMOVED
from shadowdiff.vocabulary import DiffKind, Part, Verdict

__all__ = [
    "Absorbed",
    "Comparison",
    "FieldDiff",
    "PendingFields",
    "kind_of",
    "make_field_diff",
    "part_of",
    "shown",
]

MAX_SHOWN: Final = 2048  # bytes of a value kept in a FieldDiff before it is cut short

# Members bound once: a module global is cheaper than an enum attribute on the hot path.
_STATUS: Final = DiffKind.STATUS
_EXTRA: Final = DiffKind.EXTRA
_MISSING: Final = DiffKind.MISSING
_HEADER: Final = DiffKind.HEADER
_TYPE: Final = DiffKind.TYPE
_VALUE: Final = DiffKind.VALUE
_PART_HEADER: Final = Part.HEADER
_PART_STATUS: Final = Part.STATUS
_PART_BODY: Final = Part.BODY


@dataclass(frozen=True, slots=True)
class FieldDiff:
    """One difference between the old and the new response."""

    part: Part
    path: str  # "body.predictions[3]", "headers.server", "status"
    kind: DiffKind
    left: Any  # old value (JSON-able; huge values cut to a string), None when absent
    right: Any  # new value, likewise
    rule: str | None  # the rule that absorbed this difference; None when it counts
    # its ChangeClass (a status: its pair), set on counting ones; derived from the rest (and
    # the exchange's times), so not part of equality
    change: str | None = field(default=None, compare=False)


#: Types whose values a FieldDiff holds as they are.
PLAIN: Final = frozenset({int, float, bool, type(None)})
#: The slots' setters, bound once (``make_field_diff`` and ``PendingFields.build`` call them).
_SETTERS: Final = tuple(
    FieldDiff.__dict__[n].__set__
    for n in ("part", "path", "kind", "left", "right", "rule", "change")
)


def make_field_diff(
    part: Part, path: str, kind: DiffKind, left: Any, right: Any, rule: str | None
) -> Any:
    """FieldDiff(...) at half the cost of the frozen dataclass __init__ (hot in the pre-pass)."""
    fd = object.__new__(FieldDiff)
    s_part, s_path, s_kind, s_left, s_right, s_rule, s_change = _SETTERS
    s_part(fd, part)
    s_path(fd, path)
    s_kind(fd, kind)
    s_left(fd, left)
    s_right(fd, right)
    s_rule(fd, rule)
    s_change(fd, None)
    return fd


#: An absorbed difference as the pre-pass records it: (path, kind, old, new, rule).
Absorbed = tuple[str, DiffKind, Any, Any, Rule]


class PendingFields:
    """Absorbed differences not yet turned into FieldDiffs, then the counting FieldDiffs.

    Most callers only need the verdict, the counting differences and the rule hits, so the
    absorbed FieldDiffs are built on the first access of ``Comparison.fields``. ``held``:
    absorbed differences that are FieldDiffs already (``hold_volatile``'s), after the others.
    """

    __slots__ = ("absorbed", "counting", "held")

    def __init__(
        self,
        absorbed: list[Absorbed],
        counting: list[FieldDiff],
        held: list[FieldDiff] | tuple[()] = (),
    ) -> None:
        self.absorbed = absorbed
        self.counting = counting
        self.held = held

    def build(self) -> list[FieldDiff]:
        """The absorbed differences as FieldDiffs (``make_field_diff`` inlined: one per
        absorbed difference, so a big body's tolerance rule builds thousands), the held
        ones, then the counting ones."""
        new, cls, plain = object.__new__, FieldDiff, PLAIN
        s_part, s_path, s_kind, s_left, s_right, s_rule, s_change = _SETTERS
        out: list[FieldDiff] = []
        append = out.append
        for path, kind, o, n, rule in self.absorbed:
            fd = new(cls)
            s_part(fd, part_of(path))
            s_path(fd, path)
            s_kind(fd, kind)
            s_left(fd, o if type(o) in plain else shown(o))
            s_right(fd, n if type(n) in plain else shown(n))
            s_rule(fd, rule.name)
            s_change(fd, None)
            append(fd)
        out.extend(self.held)
        out.extend(self.counting)
        return out


class _FieldsAttribute:
    """``Comparison.fields``: a plain list, built from PendingFields on first access."""

    def __get__(self, obj: Any, objtype: Any = None) -> list[FieldDiff]:
        if obj is None:
            raise AttributeError("fields")  # no default: the field is required
        value = obj.__dict__["_fields"]
        if type(value) is PendingFields:
            value = obj.__dict__["_fields"] = value.build()
        return value  # type: ignore[no-any-return]

    def __set__(self, obj: Any, value: list[FieldDiff] | PendingFields) -> None:
        obj.__dict__["_fields"] = value


@dataclass
class Comparison:
    """The outcome of comparing one pair.

    ``fields`` holds every difference: first those rules absorbed (``rule`` set), then those
    that count (``rule`` None). ``rule_hits`` counts absorbed differences per rule name.
    """

    verdict: Verdict  # same | different
    fields: _FieldsAttribute = _FieldsAttribute()
    signature: str | None = None
    signature_text: str | None = None
    rule_hits: Counter[str] = field(default_factory=Counter)

    @property
    def counting(self) -> list[FieldDiff]:
        """Differences no rule absorbed (they make the verdict)."""
        pending = self.__dict__["_fields"]
        if type(pending) is PendingFields:
            return list(pending.counting)
        return [f for f in self.fields if f.rule is None]

    @property
    def absorbed(self) -> list[FieldDiff]:
        """Differences a rule absorbed."""
        return [f for f in self.fields if f.rule is not None]


def part_of(path: str) -> Part:
    """``status``, ``header`` or ``body``: the part of the response a written path is in."""
    if path.startswith("headers"):
        return _PART_HEADER
    if path.startswith("status"):
        return _PART_STATUS
    return _PART_BODY


def kind_of(path: str, old: Any, new: Any) -> DiffKind:
    """The kind of a difference at ``path`` between ``old`` and ``new`` (either may be MISSING)."""
    if path == "status":
        return _STATUS
    if old is MISSING:
        return _EXTRA
    if new is MISSING:
        return _MISSING
    if path.startswith("headers."):
        return _HEADER
    if type(old) is not type(new):
        return _TYPE
    return _VALUE


def shown(value: Any) -> Any:
    """A JSON-able value for a FieldDiff; containers and strings past MAX_SHOWN are cut."""
    if value is MISSING or value is REMOVED:
        return None
    t = type(value)
    if t is str:
        if len(value) > MAX_SHOWN:
            return f"{value[:MAX_SHOWN]}…(+{len(value) - MAX_SHOWN} chars)"
        return value
    if t is dict or t is list:
        text = canonical(value)
        if len(text) > MAX_SHOWN:
            head = text[:MAX_SHOWN].decode("utf-8", "replace")
            return f"{head}…(+{len(text) - MAX_SHOWN} bytes)"
        return value
    if value is None or t is int or t is float or t is bool:
        return value
    return repr(value)
