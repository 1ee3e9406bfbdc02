"""Compiled rules: one ``Rule`` per ``[[rules]]`` table, and the ordered ``RuleSet`` of them.

A rule applies to a pair of responses when the pair is inside its scope: the endpoint (exact
templates, ``"* /path"`` for any method) and the statuses (both responses have one of them).
How rules are written and parsed is in ``rules.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from shadowdiff.chains.rules import ChainRule
from shadowdiff.differ.paths import PathPattern
from shadowdiff.differ.tolerance import within_tolerance
from shadowdiff.vocabulary import RuleKind

__all__ = ["KINDS", "PATH_KINDS", "Rule", "RuleSet", "split_endpoint"]

#: Kinds whose rules name paths in the tree (``path`` / ``paths``).
PATH_KINDS: Final = (
    RuleKind.IGNORE,
    RuleKind.KEYS_ONLY,
    RuleKind.TOLERANCE,
    RuleKind.ALLOW_EXTRA,
    RuleKind.IGNORE_ORDER,
)
#: Every kind, in the order error messages list them.
KINDS: Final = tuple(RuleKind)


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule. ``origin`` is where it came from (a file, or ``preset:<name>``)."""

    name: str
    kind: RuleKind
    reason: str
    origin: str
    line: int | None = None
    paths: tuple[PathPattern, ...] = ()
    endpoints: tuple[str, ...] = ()
    statuses: frozenset[int] | None = None
    digits: int | None = None
    rel_tol: float = 0.0
    abs_tol: float = 0.0
    status_groups: tuple[frozenset[int], ...] = ()
    header_compare: frozenset[str] | None = None
    header_ignore: frozenset[str] | None = None
    _endpoint_keys: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    def applies_to_endpoint(self, endpoint: str) -> bool:
        """Is ``endpoint`` (``"GET /users/{id}"``) inside this rule's endpoint scope?"""
        if not self._endpoint_keys:
            return True
        method, path = split_endpoint(endpoint)
        return any((m == "*" or m == method) and p == path for m, p in self._endpoint_keys)

    def applies_to_statuses(self, old_status: Any, new_status: Any) -> bool:
        """Is the pair inside the status scope (both statuses listed), if the rule has one?"""
        if self.statuses is None:
            return True
        return old_status in self.statuses and new_status in self.statuses

    def within_tolerance(self, a: float, b: float) -> bool:
        """Symmetric closeness test of a tolerance rule (NaN equals only NaN)."""
        if a == b:
            return True
        if a != a or b != b:  # NaN
            return a != a and b != b
        return within_tolerance(a, b, self.rel_tol, self.abs_tol)

    def describe(self) -> str:
        """One line for reports: name, kind, origin and reason."""
        return f"{self.name} [{self.kind}, {self.origin}]: {self.reason}"


def split_endpoint(endpoint: str) -> tuple[str, str]:
    """``"get /a/"`` -> ``("GET", "/a/")``; a bare path has method ``"*"``."""
    method, sep, path = endpoint.strip().partition(" ")
    if not sep:
        return "*", method
    return method.upper(), path.strip()


@dataclass(frozen=True, eq=False)
class RuleSet:
    """An ordered, immutable collection of rules with unique names."""

    rules: tuple[Rule, ...] = ()
    openapi: str | None = None  # the rules file's `openapi = "FILE|URL"`: the service's spec
    identity: str | None = None  # the rules file's `identity = "header:X-User"`: replay order
    chains: tuple[ChainRule, ...] = ()  # the rules file's [[chains]]: added / turned off

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rules)

    def get(self, name: str) -> Rule | None:
        """The rule called ``name``, if any."""
        return next((r for r in self.rules if r.name == name), None)

    def merge(self, other: RuleSet) -> RuleSet:
        """Rules of ``self`` then ``other``; a rule of ``other`` replaces a same-named one."""
        replaced = {r.name for r in other.rules}
        return RuleSet(
            tuple(r for r in self.rules if r.name not in replaced) + other.rules,
            other.openapi if other.openapi is not None else self.openapi,
            other.identity if other.identity is not None else self.identity,
            self.chains + other.chains,
        )

    def unused(self, hits: Mapping[str, int]) -> list[Rule]:
        """Rules that absorbed nothing according to ``hits`` (a rule doing nothing is a bug)."""
        return [r for r in self.rules if not hits.get(r.name)]


IDENTITY_FORMS: Final = '"auto", "client", "header:NAME" or "cookie:NAME"'


def check_identity(choice: str | None) -> str | None:
    """The problem with a rules file's `identity` choice (replayer/identity.py says what
    each means), in one line; None when it is good."""
    if choice is None or choice in ("auto", "client"):
        return None
    kind, sep, name = choice.partition(":")
    if kind in ("header", "cookie") and sep and name.strip() and name == name.strip():
        return None
    return f"identity must be {IDENTITY_FORMS}, got {choice!r}"
