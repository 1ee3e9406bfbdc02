"""One ``[[rules]]`` table validated into a ``Rule``; every problem is a RulesError at its line.

The keys each kind takes are listed in ``rules.py`` (the rules language). An old spelling still
read, with a ``RulesWarning`` on stderr naming the file, the line and the new spelling:
``equivalent_status`` with its groups as ``statuses`` (now ``groups``; ``statuses`` is the
status scope on every kind).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from typing import Any, Final

from shadowdiff.differ.paths import PathPattern, PathSyntaxError, format_path, parse_pattern
from shadowdiff.differ.ruleset import KINDS, PATH_KINDS, Rule, split_endpoint
from shadowdiff.errors import RulesError
from shadowdiff.vocabulary import Normalizer, RuleKind

__all__ = ["RulesWarning", "build_rule"]

_COMMON_KEYS: Final = frozenset({"name", "kind", "reason", "endpoints", "statuses"})
_PATH_KEYS: Final = frozenset({"path", "paths"})
_KIND_KEYS: Final[Mapping[str, frozenset[str]]] = {
    RuleKind.IGNORE: _COMMON_KEYS | _PATH_KEYS,
    RuleKind.KEYS_ONLY: _COMMON_KEYS | _PATH_KEYS,
    RuleKind.ALLOW_EXTRA: _COMMON_KEYS | _PATH_KEYS,
    RuleKind.IGNORE_ORDER: _COMMON_KEYS | _PATH_KEYS,
    RuleKind.TOLERANCE: _COMMON_KEYS | _PATH_KEYS | {"digits", "rel", "abs"},
    RuleKind.EQUIVALENT_STATUS: _COMMON_KEYS | {"groups"},
    RuleKind.HEADERS: _COMMON_KEYS | {"compare", "ignore"},
    RuleKind.RENAME: _COMMON_KEYS | {"from", "to"},
    RuleKind.NORMALIZE: _COMMON_KEYS | {"normalizer"},
}
_METHOD: Final = re.compile(r"\*|[A-Za-z]+")
_GROUPS_MESSAGE: Final = "'groups' must be a list of groups of equal statuses, like [[400, 422]]"
#: Old spellings already warned about (file, line): each is shown once per process.
_WARNED: dict[Any, Any] = {}


class RulesWarning(FutureWarning):
    """A rules file uses an old spelling that still works (shown to users on stderr)."""


def build_rule(
    table: Any, source: str, origin: str, line: int | None, number: int
) -> tuple[Rule, bool]:
    """Validate the ``number``-th (1-based) ``[[rules]]`` table of ``source``, whose header is at
    ``line``. Returns the rule and whether its name was given explicitly."""
    return _RuleBuilder(table, source, origin, line, number).build()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _valid_status(value: Any) -> bool:
    return _is_int(value) and 100 <= value <= 599


class _RuleBuilder:
    """Validates one ``[[rules]]`` table; every problem becomes a RulesError at its line."""

    def __init__(self, table: Any, source: str, origin: str, line: int | None, number: int) -> None:
        self.table = table
        self.source = source
        self.origin = origin
        self.line = line
        self.label = f"rule #{number}"

    def fail(self, message: str) -> RulesError:
        return RulesError(self.source, self.line, f"{self.label}: {message}")

    def warn(self, message: str) -> None:
        """One line on stderr (through ``warnings``), at the rule's file and line."""
        warnings.warn_explicit(
            f"{self.label}: {message}",
            RulesWarning,
            filename=self.source,
            lineno=self.line or 0,
            registry=_WARNED,
        )

    def build(self) -> tuple[Rule, bool]:
        """Return the rule and whether its name was given explicitly."""
        t = self.table
        if not isinstance(t, dict):
            raise RulesError(self.source, self.line, "each entry of 'rules' must be a table")
        name = self._name()
        kind = self._kind()
        paths = self._paths(kind)
        if name is None:
            self.label = f"rule {self._derived_name(kind, paths)!r}"
        reason = t.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise self.fail("missing 'reason' (every rule must say why it exists)")
        endpoints = self._endpoints()
        params: dict[str, Any] = {}
        statuses_are_groups = False
        if kind == RuleKind.TOLERANCE:
            params.update(self._tolerance())
        elif kind == RuleKind.EQUIVALENT_STATUS:
            statuses_are_groups = "groups" not in t and "statuses" in t
            params["status_groups"] = self._status_groups(statuses_are_groups)
        elif kind == RuleKind.HEADERS:
            params.update(self._headers())
        elif kind == RuleKind.RENAME:
            params["rename"] = self._rename()
        elif kind == RuleKind.NORMALIZE:
            params["normalizer"] = self._normalizer()
        rule = Rule(
            name=name if name is not None else self._derived_name(kind, paths, params),
            kind=kind,
            reason=reason.strip(),
            origin=self.origin,
            line=self.line,
            paths=paths,
            endpoints=tuple(e for e, _ in endpoints),
            statuses=None if statuses_are_groups else self._statuses(),
            _endpoint_keys=tuple(k for _, k in endpoints),
            **params,
        )
        return rule, name is not None

    def _name(self) -> str | None:
        name = self.table.get("name")
        if name is None:
            return None
        if not isinstance(name, str) or not name.strip():
            raise self.fail("'name' must be a non-empty string")
        self.label = f"rule {name!r}"
        return name.strip()

    def _kind(self) -> RuleKind:
        t = self.table
        kind = t.get("kind")
        expected = ", ".join(KINDS)
        if kind is None:
            raise self.fail(f"missing 'kind' (expected one of {expected})")
        if kind not in KINDS:
            raise RulesError(
                self.source, self.line, f"unknown rule kind {kind!r} (expected one of {expected})"
            )
        allowed = _KIND_KEYS[kind]
        for key in t:
            if key not in allowed:
                raise self.fail(
                    f"unknown key {key!r} for kind {kind} (allowed: {', '.join(sorted(allowed))})"
                )
        return RuleKind(kind)

    def _derived_name(
        self,
        kind: RuleKind,
        paths: tuple[PathPattern, ...],
        params: Mapping[str, Any] | None = None,
    ) -> str:
        if paths:
            return f"{kind} {', '.join(p.text for p in paths)}"
        params = params or {}
        if kind == RuleKind.EQUIVALENT_STATUS and params.get("status_groups"):
            groups = params["status_groups"]
            return f"{kind} " + " ".join("~".join(str(s) for s in sorted(g)) for g in groups)
        if kind == RuleKind.HEADERS and params:
            which = "compare" if params.get("header_compare") is not None else "ignore"
            names = params.get("header_compare") or params.get("header_ignore") or ()
            return f"headers {which} {','.join(sorted(names))}"
        if kind == RuleKind.RENAME and params.get("rename"):
            parent, old_key, new_key = params["rename"]
            where = format_path(parent)
            return f"rename {where}.{format_path((old_key,))} -> {format_path((new_key,))}"
        if kind == RuleKind.NORMALIZE and params.get("normalizer"):
            return f"normalize {params['normalizer']}"
        return str(kind)

    def _paths(self, kind: RuleKind) -> tuple[PathPattern, ...]:
        t = self.table
        if kind not in PATH_KINDS:
            return ()
        if "path" in t and "paths" in t:
            raise self.fail("give either 'path' or 'paths', not both")
        raw: Any = t.get("path", t.get("paths"))
        if raw is None:
            raise self.fail(f"kind {kind} needs 'path'")
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not items or not all(isinstance(p, str) for p in items):
            raise self.fail("'path' must be a string ('paths' a non-empty list of strings)")
        compiled: list[PathPattern] = []
        for p in items:
            try:
                compiled.append(parse_pattern(p))
            except PathSyntaxError as err:
                raise self.fail(f"bad path: {err}") from None
        return tuple(compiled)

    def _endpoints(self) -> list[tuple[str, tuple[str, str]]]:
        raw = self.table.get("endpoints")
        if raw is None:
            return []
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not raw:
            raise self.fail("'endpoints' must be a non-empty list like [\"GET /stats/\"]")
        out: list[tuple[str, tuple[str, str]]] = []
        for e in raw:
            if not isinstance(e, str) or not e.strip():
                raise self.fail(f'bad endpoint {e!r} (expected "METHOD /path")')
            method, path = split_endpoint(e)
            if not _METHOD.fullmatch(method) or not path.startswith("/"):
                raise self.fail(f'bad endpoint {e!r} (expected "METHOD /path" or "* /path")')
            out.append((e.strip(), (method, path)))
        return out

    def _statuses(self) -> frozenset[int] | None:
        raw = self.table.get("statuses")
        if raw is None:
            return None
        if not isinstance(raw, list) or not raw or not all(_valid_status(s) for s in raw):
            raise self.fail("'statuses' must be a non-empty list of HTTP statuses (100-599)")
        return frozenset(raw)

    def _status_groups(self, old_spelling: bool) -> tuple[frozenset[int], ...]:
        """``groups`` (or, in the old spelling, ``statuses``) of an equivalent_status rule."""
        key = "statuses" if old_spelling else "groups"
        raw = self.table.get(key)
        message = _GROUPS_MESSAGE.replace("'groups'", f"'{key}'")
        if not isinstance(raw, list) or not raw:
            raise self.fail(message)
        groups = [raw] if all(_is_int(s) for s in raw) else raw
        out: list[frozenset[int]] = []
        seen: set[int] = set()
        for g in groups:
            if not isinstance(g, list) or len(g) < 2 or not all(_valid_status(s) for s in g):
                raise self.fail(message + " (each group two or more statuses, 100-599)")
            overlap = seen.intersection(g)
            if overlap:
                raise self.fail(f"status {min(overlap)} is in more than one group")
            seen.update(g)
            out.append(frozenset(g))
        if old_spelling:
            self.warn(
                "old spelling: write the groups of equal statuses as 'groups = [[400, 422]]' "
                "('statuses' is now the status scope, as on every rule)"
            )
        return tuple(out)

    def _tolerance(self) -> dict[str, Any]:
        t = self.table
        digits, rel, abs_ = t.get("digits"), t.get("rel"), t.get("abs")
        if digits is None and rel is None and abs_ is None:
            raise self.fail("kind tolerance needs 'digits', 'rel' or 'abs'")
        if digits is not None and rel is not None:
            raise self.fail("give either 'digits' or 'rel', not both")
        out: dict[str, Any] = {}
        if digits is not None:
            if not _is_int(digits) or not 0 <= digits <= 17:
                raise self.fail("'digits' must be an integer from 0 to 17")
            out["digits"] = digits
            out["rel_tol"] = 10.0**-digits
        for key, value in (("rel", rel), ("abs", abs_)):
            if value is None:
                continue
            if not _is_number(value) or not math.isfinite(value) or value < 0:
                raise self.fail(f"'{key}' must be a non-negative number")
            out[f"{key}_tol"] = float(value)
        return out

    def _headers(self) -> dict[str, Any]:
        t = self.table
        compare, ignore = t.get("compare"), t.get("ignore")
        if (compare is None) == (ignore is None):
            raise self.fail("kind headers needs exactly one of 'compare' or 'ignore'")
        raw = compare if compare is not None else ignore
        if (
            not isinstance(raw, list)
            or not raw
            or not all(isinstance(h, str) and h.strip() for h in raw)
        ):
            which = "compare" if compare is not None else "ignore"
            raise self.fail(f"'{which}' must be a non-empty list of header names")
        names = frozenset(h.strip().lower() for h in raw)
        if compare is not None:
            return {"header_compare": names}
        return {"header_ignore": names}

    def _rename(self) -> tuple[tuple[str, ...], str, str]:
        """``from`` and ``to`` of a rename rule: two literal paths of sibling keys."""
        keys: list[tuple[str, ...]] = []
        for which in ("from", "to"):
            raw = self.table.get(which)
            if not isinstance(raw, str) or not raw.strip():
                raise self.fail(f"kind rename needs '{which}', a path like \"body.message\"")
            try:
                pattern = parse_pattern(raw)
            except PathSyntaxError as err:
                raise self.fail(f"bad '{which}' path: {err}") from None
            segs = pattern.segments
            if (
                len(segs) < 2
                or segs[0] not in ("body", "headers")
                or not all(type(s) is str for s in segs)
            ):
                raise self.fail(
                    f"'{which}' must name one key under body or headers without wildcards or "
                    f"indices (got {raw!r})"
                )
            keys.append(tuple(str(s) for s in segs))
        old, new = keys
        if old[:-1] != new[:-1] or old[-1] == new[-1]:
            raise self.fail("'from' and 'to' must be two different keys of one object")
        return old[:-1], old[-1], new[-1]

    def _normalizer(self) -> Normalizer:
        raw = self.table.get("normalizer")
        names = ", ".join(Normalizer)
        if raw not in tuple(Normalizer):
            raise self.fail(f"'normalizer' must be one of {names} (got {raw!r})")
        return Normalizer(raw)
