"""The rules language: what differences between old and new responses are accepted, and why.

Rules are TOML, either a ``shadowdiff.toml`` file, ``[tool.shadowdiff]`` in ``pyproject.toml``
(rules as ``[[tool.shadowdiff.rules]]``), or any file given explicitly::

    presets = ["flask-to-fastapi"]      # optional: shipped rule sets, applied first

    [[rules]]
    name = "request-id header"          # optional; default "<kind> <path(s)>"
    kind = "ignore"
    path = "headers.x-request-id"       # or paths = ["...", "..."]  (see paths.py)
    endpoints = ["GET /stats/"]         # optional scope, exact templates; "* /stats/": any method
    statuses = [404, 422]               # optional scope: BOTH responses have one of these
    reason = "random per request"       # required

Kinds and their own keys:

``ignore``            path(s). Matched nodes are dropped from both sides (a list element is
                      pinned on both sides, so later indices still line up).
``keys_only``         path(s). The node must exist on both sides; its value may differ.
``tolerance``         path(s), ``digits`` (significant digits) or ``rel``, and/or ``abs``.
                      Numbers at or under the path are equal when
                      ``|a - b| <= max(rel * max(|a|, |b|), abs)`` (symmetric); ``digits = d``
                      means ``rel = 10 ** -d``. Only int~int and float~float: ``1`` vs ``1.0``
                      stays a ``type`` difference.
``allow_extra``       path(s). A matched node present only in the new response is accepted
                      (a key, or list elements past the old list's end).
``ignore_order``      path(s). Lists at the path are compared as multisets.
``equivalent_status`` ``statuses = [[400, 422], [307, 308]]``: groups of equal statuses
                      (for this kind ``statuses`` holds the groups, not a scope; a single
                      flat group ``[400, 422]`` is accepted too).
``headers``           ``compare = [...]`` (compare only these) or ``ignore = [...]``; names are
                      case-insensitive.

Unknown keys, unknown kinds, bad paths, missing reasons and bad parameters are errors
(RulesError, one line: ``file:line: message``, the line of the rule's ``[[rules]]`` header).
Rule names are unique within a file; when RuleSets merge (presets first, then the file), a
later rule replaces an earlier one of the same name, so a project can re-scope a preset rule.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Final

from shadowdiff.differ.paths import PathPattern, PathSyntaxError, parse_pattern
from shadowdiff.errors import RulesError
from shadowdiff.tomlfile import decode_problem

__all__ = [
    "KINDS",
    "PATH_KINDS",
    "Rule",
    "RuleSet",
    "RulesError",
    "find_rules_file",
    "load_preset",
    "load_rules",
    "parse_rules",
    "preset_names",
]

PATH_KINDS: Final = ("ignore", "keys_only", "tolerance", "allow_extra", "ignore_order")
KINDS: Final = (*PATH_KINDS, "equivalent_status", "headers")

_COMMON_KEYS: Final = frozenset({"name", "kind", "reason", "endpoints", "statuses"})
_PATH_KEYS: Final = frozenset({"path", "paths"})
_KIND_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "ignore": _COMMON_KEYS | _PATH_KEYS,
    "keys_only": _COMMON_KEYS | _PATH_KEYS,
    "allow_extra": _COMMON_KEYS | _PATH_KEYS,
    "ignore_order": _COMMON_KEYS | _PATH_KEYS,
    "tolerance": _COMMON_KEYS | _PATH_KEYS | {"digits", "rel", "abs"},
    "equivalent_status": frozenset({"name", "kind", "reason", "endpoints", "statuses"}),
    "headers": _COMMON_KEYS | {"compare", "ignore"},
}
_TOP_LEVEL_KEYS: Final = ("rules", "presets")
_PRESET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_METHOD = re.compile(r"\*|[A-Za-z]+")


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule. ``origin`` is where it came from (a file, or ``preset:<name>``)."""

    name: str
    kind: str
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
        method, path = _split_endpoint(endpoint)
        return any((m == "*" or m == method) and p == path for m, p in self._endpoint_keys)

    def applies_to_statuses(self, old_status: Any, new_status: Any) -> bool:
        """Is the pair inside the status scope (both statuses listed), if the rule has one?"""
        if self.statuses is None or self.kind == "equivalent_status":
            return True
        return old_status in self.statuses and new_status in self.statuses

    def within_tolerance(self, a: float, b: float) -> bool:
        """Symmetric closeness test of a tolerance rule (NaN equals only NaN)."""
        if a == b:
            return True
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if math.isinf(a) or math.isinf(b):
            return False
        try:
            return abs(a - b) <= max(self.rel_tol * max(abs(a), abs(b)), self.abs_tol)
        except OverflowError:  # ints too large for a float
            return False

    def describe(self) -> str:
        """One line for reports: name, kind, origin and reason."""
        return f"{self.name} [{self.kind}, {self.origin}]: {self.reason}"


def _split_endpoint(endpoint: str) -> tuple[str, str]:
    method, sep, path = endpoint.strip().partition(" ")
    if not sep:
        return "*", method
    return method.upper(), path.strip()


@dataclass(frozen=True, eq=False)
class RuleSet:
    """An ordered, immutable collection of rules with unique names."""

    rules: tuple[Rule, ...] = ()

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
        return RuleSet(tuple(r for r in self.rules if r.name not in replaced) + other.rules)

    def unused(self, hits: Mapping[str, int]) -> list[Rule]:
        """Rules that absorbed nothing according to ``hits`` (a rule doing nothing is a bug)."""
        return [r for r in self.rules if not hits.get(r.name)]


# --------------------------------------------------------------------------- parsing


class _Located:
    """Finds the line of the n-th ``[[rules]]`` header (or of a top-level key) in TOML text."""

    def __init__(self, text: str, prefix: str) -> None:
        header = (
            r"\.\s*".join(re.escape(p) for p in (*prefix.split(".")[:-1], "rules"))
            if (prefix)
            else "rules"
        )
        self._headers = [
            text.count("\n", 0, m.start()) + 1
            for m in re.finditer(rf"^[ \t]*\[\[[ \t]*{header}[ \t]*\]\]", text, re.MULTILINE)
        ]
        self._text = text

    def rule_line(self, index: int) -> int | None:
        return self._headers[index] if index < len(self._headers) else None

    def key_line(self, key: str) -> int | None:
        m = re.search(rf"^[ \t]*{re.escape(key)}[ \t]*=", self._text, re.MULTILINE)
        return None if m is None else self._text.count("\n", 0, m.start()) + 1


def _toml_error(source: str, err: tomllib.TOMLDecodeError) -> RulesError:
    problem = decode_problem(err)
    return RulesError(source, problem.line, f"invalid TOML: {problem.message}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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

    def build(self) -> tuple[Rule, bool]:
        """Return the rule and whether its name was given explicitly."""
        t = self.table
        if not isinstance(t, dict):
            raise RulesError(self.source, self.line, "each entry of 'rules' must be a table")
        name = t.get("name")
        if name is not None:
            if not isinstance(name, str) or not name.strip():
                raise self.fail("'name' must be a non-empty string")
            self.label = f"rule {name!r}"
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
        paths = self._paths(kind)
        if name is None:
            self.label = f"rule {self._derived_name(kind, paths)!r}"
        reason = t.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise self.fail("missing 'reason' (every rule must say why it exists)")
        endpoints = self._endpoints()
        params: dict[str, Any] = {}
        if kind == "tolerance":
            params.update(self._tolerance())
        elif kind == "equivalent_status":
            params["status_groups"] = self._status_groups()
        elif kind == "headers":
            params.update(self._headers())
        statuses = self._statuses() if kind != "equivalent_status" else None
        rule_name = name.strip() if name is not None else self._derived_name(kind, paths, params)
        rule = Rule(
            name=rule_name,
            kind=kind,
            reason=reason.strip(),
            origin=self.origin,
            line=self.line,
            paths=paths,
            endpoints=tuple(e for e, _ in endpoints),
            statuses=statuses,
            _endpoint_keys=tuple(k for _, k in endpoints),
            **params,
        )
        return rule, name is not None

    def _derived_name(
        self, kind: str, paths: tuple[PathPattern, ...], params: Mapping[str, Any] | None = None
    ) -> str:
        if paths:
            return f"{kind} {', '.join(p.text for p in paths)}"
        params = params or {}
        if kind == "equivalent_status" and params.get("status_groups"):
            groups = params["status_groups"]
            return f"{kind} " + " ".join("~".join(str(s) for s in sorted(g)) for g in groups)
        if kind == "headers" and params:
            which = "compare" if params.get("header_compare") is not None else "ignore"
            names = params.get("header_compare") or params.get("header_ignore") or ()
            return f"headers {which} {','.join(sorted(names))}"
        return kind

    def _paths(self, kind: str) -> tuple[PathPattern, ...]:
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
            method, path = _split_endpoint(e)
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

    def _status_groups(self) -> tuple[frozenset[int], ...]:
        raw = self.table.get("statuses")
        msg = "'statuses' must be a list of groups of equal statuses, like [[400, 422]]"
        if not isinstance(raw, list) or not raw:
            raise self.fail(msg)
        groups = [raw] if all(_is_int(s) for s in raw) else raw
        out: list[frozenset[int]] = []
        seen: set[int] = set()
        for g in groups:
            if not isinstance(g, list) or len(g) < 2 or not all(_valid_status(s) for s in g):
                raise self.fail(msg + " (each group two or more statuses, 100-599)")
            overlap = seen.intersection(g)
            if overlap:
                raise self.fail(f"status {min(overlap)} is in more than one group")
            seen.update(g)
            out.append(frozenset(g))
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


def _valid_status(value: Any) -> bool:
    return _is_int(value) and 100 <= value <= 599


def _rules_table(data: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The table holding the rules, and its dotted prefix (for finding header lines)."""
    if not any(k in data for k in _TOP_LEVEL_KEYS):
        tool = data.get("tool")
        if isinstance(tool, dict) and isinstance(tool.get("shadowdiff"), dict):
            return tool["shadowdiff"], "tool.shadowdiff.rules"
    return data, ""


def parse_rules(
    text: str, source: str = "<rules>", *, origin: str | None = None, allow_presets: bool = True
) -> RuleSet:
    """Parse rules from TOML text. ``source`` names the text in errors; ``origin`` (default:
    ``source``) is recorded on each rule. A file may pull in shipped presets with
    ``presets = [...]``; their rules come first and same-named rules of the file replace them."""
    origin = origin if origin is not None else source
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise _toml_error(source, err) from None
    table, prefix = _rules_table(data)
    located = _Located(text, prefix)
    result = RuleSet()
    presets = table.get("presets", [])
    if isinstance(presets, str):
        presets = [presets]
    if not isinstance(presets, list) or not all(isinstance(p, str) for p in presets):
        raise RulesError(source, located.key_line("presets"), "'presets' must be a list of names")
    if presets and not allow_presets:
        raise RulesError(source, located.key_line("presets"), "a preset cannot include presets")
    for name in presets:
        try:
            result = result.merge(load_preset(name))
        except RulesError as err:
            raise RulesError(source, located.key_line("presets"), err.message) from None
    raw_rules = table.get("rules", [])
    if not isinstance(raw_rules, list):
        raise RulesError(source, located.key_line("rules"), "'rules' must be an array of tables")
    own: list[Rule] = []
    names: dict[str, int] = {}
    for index, raw in enumerate(raw_rules):
        line = located.rule_line(index)
        rule, explicit = _RuleBuilder(raw, source, origin, line, index + 1).build()
        if rule.name in names:
            if explicit:
                raise RulesError(source, line, f"duplicate rule name {rule.name!r}")
            n = 2
            while f"{rule.name} #{n}" in names:
                n += 1
            rule = replace(rule, name=f"{rule.name} #{n}")
        names[rule.name] = index
        own.append(rule)
    return result.merge(RuleSet(tuple(own)))


def load_rules(path: str | Path) -> RuleSet:
    """Load a rules file (``shadowdiff.toml``, a ``pyproject.toml`` or any TOML file)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise RulesError(
            str(path), None, f"cannot read rules file: {err.strerror or err}"
        ) from None
    except UnicodeDecodeError:
        raise RulesError(str(path), None, "rules file is not UTF-8 text") from None
    return parse_rules(text, str(path))


def find_rules_file(start_dir: str | Path) -> Path | None:
    """From ``start_dir`` upwards: the first ``shadowdiff.toml``, or ``pyproject.toml`` that has
    a ``[tool.shadowdiff]`` table. None when there is neither."""
    here = Path(start_dir).resolve()
    for directory in (here, *here.parents):
        candidate = directory / "shadowdiff.toml"
        if candidate.is_file():
            return candidate
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            tool = data.get("tool")
            if isinstance(tool, dict) and "shadowdiff" in tool:
                return pyproject
    return None


def preset_names() -> list[str]:
    """Names of the presets shipped in ``replayer/presets``."""
    folder = resources.files("shadowdiff.differ").joinpath("presets")
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def load_preset(name: str) -> RuleSet:
    """Load a shipped preset (``replayer/presets/<name>.toml``); rules get origin
    ``preset:<name>``."""
    source = f"preset:{name}"
    if not _PRESET_NAME.fullmatch(name):
        raise RulesError(source, None, f"bad preset name {name!r}")
    entry = resources.files("shadowdiff.differ").joinpath("presets", f"{name}.toml")
    if not entry.is_file():
        available = ", ".join(preset_names()) or "none"
        raise RulesError(source, None, f"unknown preset {name!r} (available: {available})")
    text = entry.read_text(encoding="utf-8")
    return parse_rules(text, f"{name}.toml", origin=source, allow_presets=False)
