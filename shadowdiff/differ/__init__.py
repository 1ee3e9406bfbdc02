"""The semantic differ: lift responses to trees, apply rules, report field differences.

>>> from shadowdiff.differ import lift, compare, load_preset
>>> rules = load_preset("flask-to-fastapi")
>>> old = lift(200, [("Content-Type", "application/json")], b'{"a": 1}')
>>> new = lift(200, [("content-type", "application/json")], b'{"a": 2}')
>>> compare(old, new, rules, "GET /a/").signature_text
'GET /a/ | body.a:value/number'
"""

from __future__ import annotations

from shadowdiff.differ.compare import (
    Comparer,
    compare,
    comparer_for,
    hold_volatile,
    signature_for,
    signature_item,
    signature_of,
    signature_of_keys,
)
from shadowdiff.differ.fields import Comparison, FieldDiff
from shadowdiff.differ.normalize import (
    binary_marker,
    canonical,
    decode_body,
    lift,
    lift_headers,
    lift_pair,
    lift_referenced,
    lift_replayed,
    relativize_location,
)
from shadowdiff.differ.paths import (
    PathPattern,
    PathSyntaxError,
    format_path,
    generalize_path,
    parse_concrete_path,
    parse_pattern,
)
from shadowdiff.differ.rules import (
    KINDS,
    Rule,
    RulesError,
    RuleSet,
    RulesWarning,
    find_rules_file,
    load_preset,
    load_rules,
    parse_rules,
    preset_names,
)

__all__ = [
    "KINDS",
    "Comparer",
    "Comparison",
    "FieldDiff",
    "PathPattern",
    "PathSyntaxError",
    "Rule",
    "RuleSet",
    "RulesError",
    "RulesWarning",
    "binary_marker",
    "canonical",
    "compare",
    "comparer_for",
    "decode_body",
    "find_rules_file",
    "format_path",
    "generalize_path",
    "lift",
    "lift_headers",
    "lift_pair",
    "lift_referenced",
    "lift_replayed",
    "relativize_location",
    "load_preset",
    "load_rules",
    "parse_concrete_path",
    "parse_pattern",
    "parse_rules",
    "preset_names",
    "signature_for",
    "signature_of",
    "signature_of_keys",
    "signature_item",
    "hold_volatile",
]
