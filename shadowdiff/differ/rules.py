"""The rules language: what differences between old and new responses are accepted, and why.

Rules are TOML, either a ``shadowdiff.toml`` file, ``[tool.shadowdiff]`` in ``pyproject.toml``
(rules as ``[[tool.shadowdiff.rules]]``), or any file given explicitly::

    presets = ["flask-to-fastapi"]      # optional: shipped rule sets, applied first
    openapi = "openapi.json"            # optional: the service's OpenAPI spec (file, relative
                                        # to this file, or URL); --openapi overrides it
    identity = "header:X-User"          # optional: who sent a request, for replay --order
                                        # identity: "auto" (default), "client",
                                        # "header:NAME" or "cookie:NAME" (replayer/identity.py)

    [[chains]]                          # optional: add a chain of server-issued values
    producer = "POST /login body.token" # (or turn one off: producer = ..., off = true);
    consumer = "* header.authorization" # shadowdiff/chains/rules.py

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
``equivalent_status`` ``groups = [[400, 422], [307, 308]]``: groups of equal statuses (a
                      single flat group ``[400, 422]`` is accepted too). The old spelling,
                      the groups as ``statuses``, still loads, with a warning.
``headers``           ``compare = [...]`` (compare only these) or ``ignore = [...]``; names are
                      case-insensitive.

Unknown keys, unknown kinds, bad paths, missing reasons and bad parameters are errors
(RulesError, one line: ``file:line: message``, the line of the rule's ``[[rules]]`` header).
Rule names are unique within a file; when RuleSets merge (presets first, then the file), a
later rule replaces an earlier one of the same name, so a project can re-scope a preset rule.

This module reads files and presets; one table becomes a Rule in ``rule_table.py``, and Rule
and RuleSet themselves are in ``ruleset.py``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any, Final

from shadowdiff import tomlfile
from shadowdiff.chains.rules import ChainRule, parse_chain_entry
from shadowdiff.differ.rule_table import RulesWarning, build_rule
from shadowdiff.differ.ruleset import (
    IDENTITY_FORMS,
    KINDS,
    PATH_KINDS,
    Rule,
    RuleSet,
    check_identity,
)
from shadowdiff.errors import RulesError
from shadowdiff.tomlfile import decode_problem

__all__ = [
    "KINDS",
    "PATH_KINDS",
    "Rule",
    "RuleSet",
    "RulesError",
    "RulesWarning",
    "find_rules_file",
    "load_preset",
    "load_rules",
    "parse_rules",
    "preset_names",
]

_TOP_LEVEL_KEYS: Final = ("rules", "presets", "openapi", "identity", "chains")
_PRESET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")

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
        data = tomlfile.loads(text)
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
        rule, explicit = build_rule(raw, source, origin, line, index + 1)
        if rule.name in names:
            if explicit:
                raise RulesError(source, line, f"duplicate rule name {rule.name!r}")
            n = 2
            while f"{rule.name} #{n}" in names:
                n += 1
            rule = replace(rule, name=f"{rule.name} #{n}")
        names[rule.name] = index
        own.append(rule)
    openapi = table.get("openapi")
    if openapi is not None and (not isinstance(openapi, str) or not openapi.strip()):
        raise RulesError(
            source, located.key_line("openapi"), "'openapi' must be a spec's file name or URL"
        )
    identity = table.get("identity")
    if identity is not None:
        problem = check_identity(identity) if isinstance(identity, str) else "not a string"
        if problem is not None:
            raise RulesError(
                source,
                located.key_line("identity"),
                f"'identity' (who sent a request, for replay --order identity) must be "
                f"{IDENTITY_FORMS}; got {identity!r}",
            )
    chains = _chain_entries(table.get("chains", []), source, text, prefix)
    return result.merge(RuleSet(tuple(own), openapi, identity, chains))


def _chain_entries(raw: Any, source: str, text: str, prefix: str) -> tuple[ChainRule, ...]:
    """The ``[[chains]]`` tables (shadowdiff/chains/rules.py), each checked: a bad one is
    a RulesError at the line of its header, naming the entry."""
    parts = (*prefix.split(".")[:-1], "chains") if prefix else ("chains",)
    header = r"\.\s*".join(re.escape(p) for p in parts)
    lines = [
        text.count("\n", 0, m.start()) + 1
        for m in re.finditer(rf"^[ \t]*\[\[[ \t]*{header}[ \t]*\]\]", text, re.MULTILINE)
    ]
    if not isinstance(raw, list):
        raise RulesError(source, None, "'chains' must be an array of tables ([[chains]])")
    out = []
    for index, entry in enumerate(raw):
        try:
            out.append(parse_chain_entry(entry))
        except ValueError as exc:
            line = lines[index] if index < len(lines) else None
            raise RulesError(source, line, f"[[chains]] entry {index + 1}: {exc}") from None
    return tuple(out)


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
    rules = parse_rules(text, str(path))
    spec = rules.openapi
    if spec is not None and not spec.startswith(("http://", "https://")):
        rules = replace(rules, openapi=str(p.parent / spec))  # relative to the rules file
    return rules


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
                data = tomlfile.loads(pyproject.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            tool = data.get("tool")
            if isinstance(tool, dict) and "shadowdiff" in tool:
                return pyproject
    return None


def preset_names() -> list[str]:
    """Names of the presets shipped in ``shadowdiff/differ/presets``."""
    folder = resources.files("shadowdiff.differ").joinpath("presets")
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def load_preset(name: str) -> RuleSet:
    """Load a shipped preset (``shadowdiff/differ/presets/<name>.toml``); rules get origin
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
