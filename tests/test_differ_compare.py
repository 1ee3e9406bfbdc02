"""Comparing lifted responses: diff kinds, each rule kind, scopes, signatures, properties."""

from __future__ import annotations

import copy
import json
import math
import re
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shadowdiff.differ import (
    Comparer,
    Comparison,
    FieldDiff,
    RuleSet,
    RulesWarning,
    binary_marker,
    compare,
    format_path,
    lift,
    load_preset,
    parse_concrete_path,
    parse_rules,
    relativize_location,
)
from shadowdiff.vocabulary import ChangeClass

pytestmark = pytest.mark.unit

EMPTY = RuleSet()
EP = "GET /x/"


def tree(body: Any, status: int = 200, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"status": status, "headers": headers or {}, "body": body}


def rules(*specs: dict[str, Any]) -> RuleSet:
    """Rules from dicts, written as TOML (JSON values are valid TOML values here)."""
    lines: list[str] = []
    for spec in specs:
        lines.append("[[rules]]")
        spec = {"reason": "test", **spec}
        lines += [f"{key} = {json.dumps(value)}" for key, value in spec.items()]
    return parse_rules("\n".join(lines), "test.toml")


def kinds(c: Comparison) -> list[tuple[str, str]]:
    return [(f.path, f.kind) for f in c.counting]


def absorbed(c: Comparison) -> list[tuple[str, str, str | None]]:
    return [(f.path, f.kind, f.rule) for f in c.absorbed]


# --------------------------------------------------------------------------- diff kinds


def test_same() -> None:
    c = compare(tree({"a": [1, {"b": None}]}), tree({"a": [1, {"b": None}]}), EMPTY, EP)
    assert c == Comparison("same", [], None, None, c.rule_hits)
    assert not c.rule_hits


def test_value() -> None:
    c = compare(tree({"a": 1}), tree({"a": 2}), EMPTY, EP)
    assert c.verdict == "different"
    assert c.fields == [FieldDiff("body", "body.a", "value", 1, 2, None)]
    assert c.signature_text == "GET /x/ | body.a:value/number"
    assert c.signature is not None and re.fullmatch(r"[0-9a-f]{12}", c.signature)


@pytest.mark.parametrize(
    ("left", "right"),
    [(1, "1"), (1, 1.0), (True, 1), (None, {}), ([], {}), (0, False), ("x", None)],
)
def test_type(left: Any, right: Any) -> None:
    c = compare(tree({"a": left}), tree({"a": right}), EMPTY, EP)
    assert c.fields == [FieldDiff("body", "body.a", "type", left, right, None)]
    assert compare(tree({"a": left}), tree({"a": right}), EMPTY, EP, fast=False) == c


def test_missing_and_extra() -> None:
    c = compare(tree({"a": 1, "b": {"c": 2}}), tree({"a": 1, "d": 3}), EMPTY, EP)
    assert c.fields == [
        FieldDiff("body", "body.b", "missing", {"c": 2}, None, None),
        FieldDiff("body", "body.d", "extra", None, 3, None),
    ]


def test_length_is_one_diff_at_the_list() -> None:
    c = compare(tree({"l": [1, 2, 3]}), tree({"l": [1, 2]}), EMPTY, EP)
    assert c.fields == [FieldDiff("body", "body.l", "length", 3, 2, None)]
    c = compare(tree({"l": [1, 2]}), tree({"l": [1, 5, 6, 7]}), EMPTY, EP)
    assert kinds(c) == [("body.l", "length"), ("body.l[1]", "value")]
    assert c.fields[0].left == 2 and c.fields[0].right == 4


def test_order() -> None:
    c = compare(tree({"l": [1, 2, 3]}), tree({"l": [3, 1, 2]}), EMPTY, EP)
    assert c.fields == [FieldDiff("body", "body.l", "order", [1, 2, 3], [3, 1, 2], None)]
    objs = [{"id": 1}, {"id": 2}]
    c = compare(tree(objs), tree(objs[::-1]), EMPTY, EP)
    assert kinds(c) == [("body", "order")]
    # the outermost permuted list is reported; an inner one when only it is permuted
    c = compare(tree([[1, 2], [3, 4]]), tree([[2, 1], [3, 4]]), EMPTY, EP)
    assert kinds(c) == [("body[0]", "order")]
    c = compare(tree([[1, 2], [3, 4]]), tree([[3, 4], [1, 2]]), EMPTY, EP)
    assert kinds(c) == [("body", "order")]


def test_status_and_headers() -> None:
    old = tree(None, 200, {"content-type": "a", "x-old": "1", "set-cookie": ["a=1"]})
    new = tree(None, 201, {"content-type": "b", "x-new": "2", "set-cookie": ["a=1", "b=2"]})
    c = compare(old, new, EMPTY, EP)
    assert c.fields == [
        FieldDiff("header", "headers.content-type", "header", "a", "b", None),
        FieldDiff("header", "headers.set-cookie", "header", ["a=1"], ["a=1", "b=2"], None),
        FieldDiff("header", "headers.x-new", "extra", None, "2", None),
        FieldDiff("header", "headers.x-old", "missing", "1", None, None),
        FieldDiff("status", "status", "status", 200, 201, None),
    ]


def test_body_type_and_quoted_keys() -> None:
    c = compare(tree(None), tree({"a": 1}), EMPTY, EP)
    assert kinds(c) == [("body", "type")]
    c = compare(tree({"a.b": {"c d": 1}}), tree({"a.b": {"c d": 2}}), EMPTY, EP)
    assert kinds(c) == [('body."a.b"."c d"', "value")]
    assert parse_concrete_path(c.fields[0].path) == ("body", "a.b", "c d")


def test_huge_values_are_cut_short() -> None:
    big = {"k": "x" * 10_000}
    c = compare(tree({"a": big}), tree({"a": None}), EMPTY, EP)
    left = c.fields[0].left
    assert isinstance(left, str) and len(left) < 2200 and "bytes)" in left
    c = compare(tree("y" * 10_000), tree("z"), EMPTY, EP)
    assert isinstance(c.fields[0].left, str) and len(c.fields[0].left) < 2200


# --------------------------------------------------------------------------- signatures


def test_signature_generalizes_indices_and_ignores_values() -> None:
    a = compare(tree([1, 2, 3]), tree([1, 9, 3]), EMPTY, EP)
    b = compare(tree([1, 2, 3]), tree([1, 2, 8]), EMPTY, EP)
    assert a.signature == b.signature
    assert a.signature_text == "GET /x/ | body[*]:value/number"
    other = compare(tree([1, 2, 3]), tree([1, 9, 3]), EMPTY, "POST /x/")
    assert other.signature != a.signature
    several = compare(tree({"a": [1, 2], "b": 1}), tree({"a": [3, 4], "c": 1}), EMPTY, EP)
    assert several.signature_text == (
        "GET /x/ | body.a[*]:value/number, body.b:missing, body.c:extra"
    )


def test_signature_counts_only_counting_fields() -> None:
    ignore_ts = rules({"kind": "ignore", "path": "body.ts"})
    with_noise = compare(tree({"ts": 1, "a": 1}), tree({"ts": 2, "a": 2}), ignore_ts, EP)
    without = compare(tree({"a": 1}), tree({"a": 2}), EMPTY, EP)
    assert with_noise.signature == without.signature
    assert compare(tree({"ts": 1}), tree({"ts": 2}), ignore_ts, EP).signature is None


# --------------------------------------------------------------------------- rule kinds


def test_ignore() -> None:
    r = rules({"kind": "ignore", "path": "body.ts"})
    c = compare(tree({"ts": 1, "a": 1}), tree({"ts": 2, "a": 2}), r, EP)
    assert c.verdict == "different"
    assert c.fields == [
        FieldDiff("body", "body.ts", "value", 1, 2, "ignore body.ts"),
        FieldDiff("body", "body.a", "value", 1, 2, None),
    ]
    assert c.rule_hits == {"ignore body.ts": 1}
    c = compare(tree({"ts": 1, "a": 1}), tree({"ts": 2, "a": 1}), r, EP)
    assert c.verdict == "same" and c.rule_hits == {"ignore body.ts": 1}
    # absent on one side: absorbed as missing / extra
    c = compare(tree({"ts": 1}), tree({}), r, EP)
    assert absorbed(c) == [("body.ts", "missing", "ignore body.ts")] and c.verdict == "same"
    c = compare(tree({}), tree({"ts": 1}), r, EP)
    assert absorbed(c) == [("body.ts", "extra", "ignore body.ts")] and c.verdict == "same"
    # equal values: nothing absorbed, no hit
    c = compare(tree({"ts": 1, "a": 1}), tree({"ts": 1, "a": 2}), r, EP)
    assert not c.rule_hits and kinds(c) == [("body.a", "value")]


def test_ignore_never_matches_substrings() -> None:
    r = rules({"kind": "ignore", "path": "body.time"})
    c = compare(tree({"timestamp": 1}), tree({"timestamp": 2}), r, EP)
    assert kinds(c) == [("body.timestamp", "value")] and not c.rule_hits


def test_ignore_deep_and_wildcards() -> None:
    r = rules({"kind": "ignore", "path": "body.**.timestamp"})
    old = {"timestamp": 1, "a": {"b": [{"timestamp": 2, "v": 1}]}, "timestamps": 1}
    new = {"timestamp": 3, "a": {"b": [{"timestamp": 4, "v": 1}]}, "timestamps": 2}
    c = compare(tree(old), tree(new), r, EP)
    assert kinds(c) == [("body.timestamps", "value")]
    assert absorbed(c) == [
        ("body.timestamp", "value", "ignore body.**.timestamp"),
        ("body.a.b[0].timestamp", "value", "ignore body.**.timestamp"),
    ]
    assert c.rule_hits == {"ignore body.**.timestamp": 2}
    r = rules({"kind": "ignore", "path": "body.mem.*"})
    c = compare(tree({"mem": {"a": 1, "b": 2}}), tree({"mem": {"a": 3, "c": 2}}), r, EP)
    assert c.verdict == "same" and c.rule_hits == {"ignore body.mem.*": 3}


def test_ignore_list_elements_keeps_positions() -> None:
    r = rules({"kind": "ignore", "path": "body[1]"})
    c = compare(tree([1, 2, 3]), tree([1, 5, 4]), r, EP)
    assert kinds(c) == [("body[2]", "value")]  # index 2 still compared with index 2
    assert absorbed(c) == [("body[1]", "value", "ignore body[1]")]
    r = rules({"kind": "ignore", "path": "body[*]"})
    c = compare(tree([1, 2, 3]), tree([4]), r, EP)
    assert c.verdict == "same" and c.rule_hits == {"ignore body[*]": 3}


def test_ignore_status_and_headers_paths() -> None:
    r = rules({"kind": "ignore", "paths": ["status", "headers.X-Request-ID"]})
    c = compare(tree(1, 200, {"x-request-id": "a"}), tree(1, 500, {"x-request-id": "b"}), r, EP)
    assert c.verdict == "same"
    name = "ignore status, headers.X-Request-ID"
    assert sorted(absorbed(c)) == [
        ("headers.x-request-id", "header", name),
        ("status", "status", name),
    ]


def test_keys_only() -> None:
    r = rules({"kind": "keys_only", "path": "body.mem.*"})
    c = compare(tree({"mem": {"rss": 1, "pf": 2}}), tree({"mem": {"rss": 5, "pf": 2}}), r, EP)
    assert c.verdict == "same"
    assert absorbed(c) == [("body.mem.rss", "value", "keys_only body.mem.*")]
    # a key missing on one side is a real difference; so is a new one
    c = compare(tree({"mem": {"rss": 1, "pf": 2}}), tree({"mem": {"rss": 1, "x": 0}}), r, EP)
    assert kinds(c) == [("body.mem.pf", "missing"), ("body.mem.x", "extra")]
    assert not c.rule_hits
    # the value is free, its type too
    c = compare(tree({"mem": {"rss": 1}}), tree({"mem": {"rss": "1"}}), r, EP)
    assert c.verdict == "same" and absorbed(c) == [("body.mem.rss", "type", "keys_only body.mem.*")]


def test_tolerance_digits() -> None:
    r = rules({"kind": "tolerance", "path": "body.p[*]", "digits": 5})
    name = "tolerance body.p[*]"
    c = compare(tree({"p": [1.0, 2.0]}), tree({"p": [1.000001, 2.0]}), r, EP)
    assert c.verdict == "same" and absorbed(c) == [("body.p[0]", "value", name)]
    assert c.fields[0].left == 1.0 and c.fields[0].right == 1.000001
    c = compare(tree({"p": [1.0, 2.0]}), tree({"p": [1.001, 2.0]}), r, EP)
    assert kinds(c) == [("body.p[0]", "value")] and not c.rule_hits
    # symmetric
    for a, b in [(1.0, 1.00001), (100.0, 100.0009), (-5.0, -5.00004), (1e-20, 1.00001e-20)]:
        ab = compare(tree({"p": [a]}), tree({"p": [b]}), r, EP).verdict
        ba = compare(tree({"p": [b]}), tree({"p": [a]}), r, EP).verdict
        assert ab == ba
    # never across types, never for non-numbers
    c = compare(tree({"p": [1]}), tree({"p": [1.0]}), r, EP)
    assert kinds(c) == [("body.p[0]", "type")]
    c = compare(tree({"p": [True]}), tree({"p": [1]}), r, EP)
    assert kinds(c) == [("body.p[0]", "type")]
    c = compare(tree({"p": [math.inf]}), tree({"p": [1e308]}), r, EP)
    assert kinds(c) == [("body.p[0]", "value")]


def test_tolerance_applies_below_its_path_and_abs_rel() -> None:
    r = rules({"kind": "tolerance", "path": "body.p", "abs": 1e-9})
    old = {"p": {"a": [0.0, {"b": 1.0}], "n": 10}, "q": 0.0}
    new = {"p": {"a": [5e-10, {"b": 1.0 + 5e-10}], "n": 10}, "q": 5e-10}
    c = compare(tree(old), tree(new), r, EP)
    assert kinds(c) == [("body.q", "value")]
    assert [p for p, _, _ in absorbed(c)] == ["body.p.a[0]", "body.p.a[1].b"]
    rel = rules({"kind": "tolerance", "path": "body.p", "rel": 1e-3})
    c = compare(tree({"p": 0.0}), tree({"p": 1e-12}), rel, EP)
    assert kinds(c) == [("body.p", "value")]  # rel alone never absorbs a change from zero
    c = compare(tree({"p": 1000}), tree({"p": 1001}), rel, EP)
    assert c.verdict == "same"  # ints too, within tolerance


def test_allow_extra() -> None:
    r = rules({"kind": "allow_extra", "path": "body.debug"})
    c = compare(tree({"a": 1}), tree({"a": 1, "debug": {"x": 1}}), r, EP)
    assert c.verdict == "same"
    assert absorbed(c) == [("body.debug", "extra", "allow_extra body.debug")]
    c = compare(tree({"a": 1, "debug": 1}), tree({"a": 1}), r, EP)
    assert kinds(c) == [("body.debug", "missing")]  # only extra keys are allowed
    c = compare(tree({"debug": 1}), tree({"debug": 2}), r, EP)
    assert kinds(c) == [("body.debug", "value")]
    r = rules({"kind": "allow_extra", "path": "body.items[*]"})
    c = compare(tree({"items": [1]}), tree({"items": [1, 2, 3]}), r, EP)
    assert c.verdict == "same" and c.rule_hits == {"allow_extra body.items[*]": 2}
    c = compare(tree({"items": [1, 2, 3]}), tree({"items": [1]}), r, EP)
    assert kinds(c) == [("body.items", "length")]


def test_ignore_order() -> None:
    r = rules({"kind": "ignore_order", "path": "body.tags"})
    c = compare(tree({"tags": ["a", "b", "c"]}), tree({"tags": ["c", "a", "b"]}), r, EP)
    assert c.verdict == "same"
    assert absorbed(c) == [("body.tags", "order", "ignore_order body.tags")]
    # without the rule, that is an order difference
    c = compare(tree({"tags": ["a", "b", "c"]}), tree({"tags": ["c", "a", "b"]}), EMPTY, EP)
    assert kinds(c) == [("body.tags", "order")]
    # a multiset: counts matter
    c = compare(tree({"tags": ["a", "a", "b"]}), tree({"tags": ["a", "b", "b"]}), r, EP)
    assert c.verdict == "different" and not c.rule_hits
    # element differences are reported under the list
    c = compare(tree({"tags": ["a", "b"]}), tree({"tags": ["b", "c"]}), r, EP)
    assert c.verdict == "different"
    assert all(p.startswith("body.tags[") for p, _ in kinds(c))
    objs = [{"id": 1, "v": [1, 2]}, {"id": 2, "v": [3]}]
    c = compare(tree({"tags": objs}), tree({"tags": objs[::-1]}), r, EP)
    assert c.verdict == "same"


def test_equivalent_status() -> None:
    r = rules({"kind": "equivalent_status", "groups": [[400, 422], [307, 308]]})
    name = "equivalent_status 400~422 307~308"
    c = compare(tree({"a": 1}, 400), tree({"a": 1}, 422), r, EP)
    assert c.verdict == "same"
    assert c.fields == [FieldDiff("status", "status", "status", 400, 422, name)]
    assert compare(tree(None, 308), tree(None, 307), r, EP).verdict == "same"
    c = compare(tree(None, 400), tree(None, 500), r, EP)
    assert kinds(c) == [("status", "status")]
    c = compare(tree(None, 400), tree(None, 307), r, EP)
    assert kinds(c) == [("status", "status")]  # different groups


def test_equivalent_status_scoped_by_statuses() -> None:
    # `statuses` is the scope on every kind: here only the 4xx group is in force
    spec = {"kind": "equivalent_status", "groups": [[400, 422], [307, 308]]}
    r = rules({**spec, "statuses": [400, 422]})
    assert compare(tree(None, 400), tree(None, 422), r, EP).verdict == "same"
    assert kinds(compare(tree(None, 308), tree(None, 307), r, EP)) == [("status", "status")]


def test_equivalent_status_old_spelling_compares_alike() -> None:
    with pytest.warns(RulesWarning, match="groups"):
        old = rules({"kind": "equivalent_status", "statuses": [[400, 422], [307, 308]]})
    new = rules({"kind": "equivalent_status", "groups": [[400, 422], [307, 308]]})
    for statuses in ((400, 422), (308, 307), (400, 307), (200, 201)):
        a = compare(tree(None, statuses[0]), tree(None, statuses[1]), old, EP)
        b = compare(tree(None, statuses[0]), tree(None, statuses[1]), new, EP)
        assert (a.verdict, a.fields, a.rule_hits) == (b.verdict, b.fields, b.rule_hits)


def test_headers_compare_only_and_ignore() -> None:
    old = {"content-type": "a", "date": "1", "server": "x"}
    new = {"content-type": "a", "date": "2", "server": "y", "via": "z"}
    only = rules({"kind": "headers", "compare": ["Content-Type"]})
    c = compare(tree(1, headers=old), tree(1, headers=new), only, EP)
    assert c.verdict == "same"
    assert sorted(absorbed(c)) == [
        ("headers.date", "header", "headers compare content-type"),
        ("headers.server", "header", "headers compare content-type"),
        ("headers.via", "extra", "headers compare content-type"),
    ]
    c = compare(tree(1, headers=old), tree(1, headers={**new, "content-type": "b"}), only, EP)
    assert kinds(c) == [("headers.content-type", "header")]
    ignore = rules({"kind": "headers", "ignore": ["date"]})
    c = compare(tree(1, headers=old), tree(1, headers=new), ignore, EP)
    assert kinds(c) == [("headers.server", "header"), ("headers.via", "extra")]
    assert c.rule_hits == {"headers ignore date": 1}


def test_dropped_headers_alike_with_the_name_set_cache_cold_warm_or_full() -> None:
    """Which `ignore`d header names go is decided once per pair of name tuples
    (Plan.header_set): a warm cache, a full one (computed, not stored) and another order of
    the same names all give what the first comparison gave."""
    r = rules({"kind": "headers", "ignore": ["date", "x-request-id", "server"]})
    old = {"content-type": "a", "date": "1", "x-request-id": "r1", "server": "s"}
    new = {"x-request-id": "r2", "content-type": "a", "date": "1", "via": "v"}
    comparer = Comparer(r)

    def outcome(o: dict[str, Any], n: dict[str, Any]) -> tuple[Any, ...]:
        c = comparer.compare(tree(1, headers=o), tree(1, headers=n), EP)
        return c.verdict, c.fields, c.rule_hits

    cold = outcome(old, new)
    rule = "headers ignore date,server,x-request-id"
    assert cold[1] == [
        FieldDiff("header", "headers.server", "missing", "s", None, rule),
        FieldDiff("header", "headers.x-request-id", "header", "r1", "r2", rule),
        FieldDiff("header", "headers.via", "extra", None, "v", None),
    ]
    plan = comparer.plan(EP, 200, 200)
    assert list(plan.header_sets) == [(tuple(old), tuple(new))]
    assert outcome(old, new) == cold  # warm
    plan.header_sets.clear()
    stored = -1
    while len(plan.header_sets) != stored and stored < 10_000:  # fill it: it is bounded
        stored = len(plan.header_sets)
        plan.header_set(((f"h{stored}",), ()))
    assert stored < 10_000
    assert outcome(old, new) == cold and len(plan.header_sets) == stored  # full: not stored
    flipped = outcome(dict(reversed(old.items())), dict(reversed(new.items())))
    assert flipped[0] == cold[0] and flipped[2] == cold[2]
    assert sorted(map(repr, flipped[1])) == sorted(map(repr, cold[1]))
    # no ignored name on either side: nothing dropped, nothing absorbed
    assert outcome({"a": "1"}, {"a": "1"}) == ("same", [], {})


def test_hits_on_long_absorbed_lists_match_the_absorbed_fields() -> None:
    """Past 16 absorbed differences hits are counted by runs of one rule: interleaved rules
    (runs of one), one long run, and a rule coming back after another all count right."""
    r = rules(
        {"kind": "ignore", "path": "body.items[*].ts"},
        {"kind": "tolerance", "path": "body.items[*].score", "digits": 3},
        {"kind": "tolerance", "path": "body.floats", "digits": 3},
        {"kind": "ignore", "path": "body.z"},
    )
    old = {
        "items": [{"ts": i, "score": 1.0} for i in range(30)],
        "floats": [2.0] * 50,
        "z": 1,
    }
    new = {
        "items": [{"ts": i + 1, "score": 1.0001} for i in range(30)],
        "floats": [2.0001] * 50,
        "z": 2,
    }
    c = compare(tree(old), tree(new), r, EP)
    assert c.verdict == "same"
    assert c.rule_hits == Counter(f.rule for f in c.absorbed)
    assert c.rule_hits == {
        "ignore body.items[*].ts": 30,
        "tolerance body.items[*].score": 30,
        "tolerance body.floats": 50,
        "ignore body.z": 1,
    }


def test_headers_rules_drop_first_whether_or_not_a_path_rule_reaches_headers() -> None:
    """A `headers` rule's drop comes before path rules: a path rule on a header it dropped
    sees nothing. Without path rules on headers the pre-pass sets the kept headers after its
    walk; either way the inputs are untouched and a header or body change still counts."""
    old = tree({"t": 1, "v": 1}, headers={"x-a": "1", "x-b": "1"})
    new = tree({"t": 2, "v": 1}, headers={"x-a": "2", "x-b": "1"})
    before = copy.deepcopy((old, new))
    drop = {"kind": "headers", "ignore": ["x-a"]}
    t_rule = {"kind": "ignore", "path": "body.t"}
    seen = rules(drop, {"kind": "ignore", "path": "headers.x-a"}, t_rule)
    unseen = rules(drop, t_rule)
    for r in (seen, unseen):
        c = compare(old, new, r, EP)
        assert c.verdict == "same"
        assert absorbed(c) == [
            ("headers.x-a", "header", "headers ignore x-a"),
            ("body.t", "value", "ignore body.t"),
        ]
        changed = tree({"t": 2, "v": 2}, headers={"x-a": "2", "x-b": "2"})
        c = compare(old, changed, r, EP)
        assert sorted(kinds(c)) == [("body.v", "value"), ("headers.x-b", "header")]
    assert (old, new) == before


def test_rules_never_turn_structure_into_same() -> None:
    r = rules(
        {"kind": "tolerance", "path": "body.**", "digits": 1},
        {"kind": "keys_only", "path": "body.k"},
        {"kind": "ignore_order", "path": "body.l"},
        {"kind": "equivalent_status", "groups": [[400, 422]]},
    )
    cases = [
        ({"n": 1.0}, {"n": "1.0"}),  # type
        ({"k": 1}, {}),  # missing
        ({}, {"k": 1}),  # extra
        ({"l": [1, 2]}, {"l": [1, 2, 2]}),  # a multiset change
    ]
    for old, new in cases:
        assert compare(tree(old), tree(new), r, EP).verdict == "different", (old, new)


def test_hits_count_every_absorbed_field() -> None:
    r = rules(
        {"kind": "ignore", "path": "body.items[*].ts"},
        {"kind": "tolerance", "path": "body.items[*].score", "digits": 3},
    )
    old = {"items": [{"ts": i, "score": 1.0} for i in range(5)]}
    new = {"items": [{"ts": i + 1, "score": 1.0001} for i in range(5)]}
    c = compare(tree(old), tree(new), r, EP)
    assert c.verdict == "same"
    assert c.rule_hits == {"ignore body.items[*].ts": 5, "tolerance body.items[*].score": 5}
    assert sum(c.rule_hits.values()) == len(c.absorbed) == len(c.fields) == 10


# --------------------------------------------------------------------------- scopes


def test_endpoint_scopes() -> None:
    r = rules(
        {"kind": "ignore", "path": "body.a", "endpoints": ["GET /stats/"]},
        {"kind": "ignore", "path": "body.b", "endpoints": ["* /info/"]},
    )
    old, new = tree({"a": 1, "b": 1}), tree({"a": 2, "b": 2})
    assert kinds(compare(old, new, r, "GET /stats/")) == [("body.b", "value")]
    assert kinds(compare(old, new, r, "POST /info/")) == [("body.a", "value")]
    assert kinds(compare(old, new, r, "GET /stats")) == [("body.a", "value"), ("body.b", "value")]
    assert len(kinds(compare(old, new, r, "POST /stats/"))) == 2


def test_status_scopes() -> None:
    r = rules({"kind": "ignore", "path": "body.message", "statuses": [404, 422]})
    old, new = {"message": "Not Found"}, {"message": "not found"}
    assert compare(tree(old, 404), tree(new, 404), r, EP).verdict == "same"
    assert compare(tree(old, 200), tree(new, 200), r, EP).verdict == "different"
    assert kinds(compare(tree(old, 404), tree(new, 200), r, EP)) == [
        ("body.message", "value"),
        ("status", "status"),
    ]


def test_comparer_reuses_compiled_plans() -> None:
    r = rules({"kind": "ignore", "path": "body.a", "statuses": [404]})
    comparer = Comparer(r)
    assert comparer.plan(EP, 200, 200) is comparer.plan(EP, 200, 200)
    assert comparer.plan(EP, 404, 404) is not comparer.plan(EP, 200, 200)
    assert comparer.compare(tree({"a": 1}, 404), tree({"a": 2}, 404), EP).verdict == "same"
    assert comparer.compare(tree({"a": 1}), tree({"a": 2}), EP).verdict == "different"


def test_inputs_are_never_modified() -> None:
    r = load_preset("flask-to-fastapi").merge(
        rules(
            {"kind": "ignore", "paths": ["body.ts", "body.l[0]"]},
            {"kind": "tolerance", "path": "body.f", "digits": 3},
            {"kind": "allow_extra", "path": "body.new"},
            {"kind": "keys_only", "path": "body.k"},
            {"kind": "ignore_order", "path": "body.o"},
        )
    )
    old = tree(
        {"ts": 1, "l": [1, 2], "f": [1.0, {"g": 2.0}], "k": 1, "o": [1, 2]},
        404,
        {"date": "a", "server": "s"},
    )
    new = tree(
        {"ts": 2, "l": [3, 2], "f": [1.0001, {"g": 2.0001}], "k": 2, "o": [2, 1], "new": 1},
        404,
        {"date": "b"},
    )
    before = copy.deepcopy((old, new))
    c = compare(old, new, r, EP)
    assert c.verdict == "same"
    assert (old, new) == before


# --------------------------------------------------------------------------- the preset


def test_preset_on_flask_and_fastapi_style_answers() -> None:
    preset = load_preset("flask-to-fastapi")
    flask_404 = lift(
        404,
        [
            ("Server", "gunicorn"),
            ("Date", "Fri, 21 Nov 2025 06:00:00 GMT"),
            ("Connection", "keep-alive"),
            ("Content-Type", "application/json"),
            ("Content-Length", "28"),
        ],
        b'{"message": "Not Found"}\n',
    )
    fastapi_404 = lift(
        404,
        [
            ("date", "Fri, 21 Nov 2025 06:00:01 GMT"),
            ("server", "uvicorn"),
            ("content-type", "application/json"),
            ("transfer-encoding", "chunked"),
            ("x-request-id", "abc"),
        ],
        b'{"detail":"Not Found"}',
    )
    c = compare(flask_404, fastapi_404, preset, "GET /users/{id}")
    assert c.verdict == "same", c.counting
    assert set(c.rule_hits) == {
        "date header",
        "server header",
        "framing headers",
        "request-id headers",
        "error body: message -> detail",
    }
    # the same bodies on a 200 are a real difference
    ok_old = {**flask_404, "status": 200}
    ok_new = {**fastapi_404, "status": 200}
    assert kinds(compare(ok_old, ok_new, preset, "GET /users/{id}")) == [
        ("body.detail", "extra"),
        ("body.message", "missing"),
    ]

    flask_redirect = lift(
        308,
        [("Content-Type", "text/html; charset=utf-8"), ("Location", "/stats/")],
        b"<!doctype html><title>Redirecting...</title>",
    )
    starlette_redirect = lift(307, [("location", "http://127.0.0.1:8001/stats/")], b"")
    # a Location on the answering server's own origin is compared as a relative URL
    relativize_location(starlette_redirect, ["http://127.0.0.1:8001"])
    c = compare(flask_redirect, starlette_redirect, preset, "GET /stats")
    assert c.verdict == "same", c.counting
    assert {"trailing-slash redirect status", "redirect body"} <= set(c.rule_hits)
    # ...so a redirect to the wrong target still shows, and so does one to another origin
    wrong = lift(307, [("location", "http://127.0.0.1:8001/status/")], b"")
    relativize_location(wrong, ["http://127.0.0.1:8001"])
    elsewhere = lift(307, [("location", "https://login.example.com/stats/")], b"")
    relativize_location(elsewhere, ["http://127.0.0.1:8001"])
    for other in (wrong, elsewhere):
        paths = [f.path for f in compare(flask_redirect, other, preset, "GET /stats").counting]
        assert paths == ["headers.location"]


def test_lift_then_compare_ignores_transport_encoding_of_the_body() -> None:
    import gzip

    payload = b'{"a": [1, 2, 3]}'
    plain = lift(200, [("Content-Type", "application/json")], payload)
    zipped = lift(
        200,
        [("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
        gzip.compress(payload),
    )
    assert kinds(compare(plain, zipped, EMPTY, EP)) == [("headers.content-encoding", "extra")]


# --------------------------------------------------------------------------- properties

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=5),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
    st.text(alphabet="ab.", max_size=3),
)
KEYS = st.text(alphabet="abc.", max_size=2)
JSON = st.recursive(
    SCALARS,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(KEYS, kids, max_size=4),
    max_leaves=16,
)


@st.composite
def mutated(draw: st.DrawFn, value: Any) -> Any:
    """A copy of ``value`` with a few random changes (so pairs are mostly alike)."""
    roll = draw(st.integers(0, 11))
    if roll == 0:
        return draw(JSON)
    if isinstance(value, float) and roll == 1:
        return value * (1 + 1e-9)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if draw(st.integers(0, 7)) == 0:
                continue  # drop
            out[k] = draw(mutated(v))
        if draw(st.integers(0, 5)) == 0:
            out[draw(KEYS)] = draw(SCALARS)  # add
        return out
    if isinstance(value, list):
        items = [draw(mutated(v)) for v in value]
        if roll == 1:
            items.reverse()
        elif roll == 2 and items:
            items.pop()
        elif roll == 3:
            items.append(draw(SCALARS))
        return items
    return value


@st.composite
def responses(draw: st.DrawFn) -> dict[str, Any]:
    headers = draw(st.dictionaries(st.sampled_from(["a", "b", "c-d"]), st.text("xy", max_size=2)))
    return tree(draw(JSON), draw(st.sampled_from([200, 201, 404])), headers)


@st.composite
def pairs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    old = draw(responses())
    if draw(st.booleans()):
        return old, draw(responses())
    new = {
        "status": old["status"] if draw(st.integers(0, 4)) else draw(st.sampled_from([200, 500])),
        "headers": draw(mutated(old["headers"])),
        "body": draw(mutated(old["body"])),
    }
    return old, new


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(responses())
def test_a_response_equals_itself(x: dict[str, Any]) -> None:
    for fast in (True, False):
        assert compare(x, x, EMPTY, EP, fast=fast).verdict == "same"
        c = compare(x, copy.deepcopy(x), EMPTY, EP, fast=fast)
        assert c.verdict == "same" and c.fields == [] and c.signature is None


@SETTINGS
@given(pairs())
def test_fast_path_and_deepdiff_agree(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    old, new = pair
    fast = compare(old, new, EMPTY, EP, fast=True)
    slow = compare(old, new, EMPTY, EP, fast=False)
    assert fast.verdict == slow.verdict
    assert fast.fields == slow.fields
    assert (fast.verdict == "same") == (fast.signature is None)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((prefix + ".", prefix + "["))


@SETTINGS
@given(pairs(), st.data())
def test_ignoring_a_path_removes_exactly_the_diffs_under_it(
    pair: tuple[dict[str, Any], dict[str, Any]], data: st.DataObject
) -> None:
    old, new = pair
    base = compare(old, new, EMPTY, EP)
    if not base.counting:
        return
    target = data.draw(st.sampled_from(base.counting)).path
    r = rules({"kind": "ignore", "path": target})
    after = compare(old, new, r, EP)
    assert all(f.rule == f"ignore {target}" for f in after.absorbed)
    assert after.rule_hits[f"ignore {target}"] >= 1
    assert sum(after.rule_hits.values()) == len(after.absorbed)

    kept = {(f.path, f.kind) for f in base.counting if not _under(f.path, target)}
    got = set(kinds(after))
    assert not any(_under(p, target) for p, _ in got)
    # Everything else stays, except that a list holding the ignored element may now be a
    # mere permutation of its counterpart, or that list shifted (`is_shifted`): then one
    # `order` diff, or one `value` diff of class `shifted`, at that list replaces the
    # element diffs under it.
    keys = parse_concrete_path(target)
    lists = {format_path(keys[:i]) for i in range(1, len(keys)) if isinstance(keys[i], int)}
    shifted = {
        (f.path, f.kind)
        for f in after.counting
        if f.change == ChangeClass.SHIFTED and f.path in lists
    }
    reordered = {p for p, k in got - kept if k == "order" and p in lists}
    assert got - kept == {(p, "order") for p in reordered} | (shifted - kept)
    reordered |= {p for p, _ in shifted}
    assert {(p, k) for p, k in kept - got if not any(_under(p, q) for q in reordered)} == set()


@SETTINGS
@given(pairs(), st.sampled_from([1, 3, 6]))
def test_tolerance_is_symmetric(pair: tuple[dict[str, Any], dict[str, Any]], digits: int) -> None:
    old, new = pair
    r = rules({"kind": "tolerance", "path": "body.**", "digits": digits})
    ab = compare(old, new, r, EP)
    ba = compare(new, old, r, EP)
    assert ab.verdict == ba.verdict
    assert {f.path for f in ab.fields} == {f.path for f in ba.fields}
    assert sum(ab.rule_hits.values()) == sum(ba.rule_hits.values())


RICH = rules(
    {"kind": "ignore", "paths": ["body.a", "body.**.b", "headers.a"]},
    {"kind": "tolerance", "path": "body.**", "digits": 3},
    {"kind": "ignore_order", "path": "body[*]"},
    {"kind": "allow_extra", "path": "body.*"},
    {"kind": "keys_only", "path": "body.c"},
    {"kind": "equivalent_status", "groups": [[200, 201]]},
    {"kind": "headers", "ignore": ["c-d"]},
)


@SETTINGS
@given(pairs())
def test_fast_path_and_deepdiff_agree_under_rules(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    old, new = pair
    fast = compare(old, new, RICH, EP, fast=True)
    slow = compare(old, new, RICH, EP, fast=False)
    assert fast.verdict == slow.verdict
    assert fast.fields == slow.fields
    assert fast.rule_hits == slow.rule_hits
    assert sum(fast.rule_hits.values()) == len(fast.absorbed)
    assert all(f.rule in RICH.names for f in fast.absorbed)


def test_counting_does_not_need_the_absorbed_fields_built() -> None:
    r = rules({"kind": "ignore", "path": "body.ts"})
    c = compare(tree({"ts": 1, "a": 1}), tree({"ts": 2, "a": 2}), r, EP)
    assert c.counting == [FieldDiff("body", "body.a", "value", 1, 2, None)]
    assert c.fields[0] == FieldDiff("body", "body.ts", "value", 1, 2, "ignore body.ts")
    assert c == Comparison("different", list(c.fields), c.signature, c.signature_text, c.rule_hits)


def test_equivalent_status_groups_of_several_rules() -> None:
    r = rules(
        {"kind": "equivalent_status", "groups": [[400, 422]]},
        {"kind": "equivalent_status", "groups": [[422, 409]]},
    )
    assert compare(tree(None, 422), tree(None, 409), r, EP).rule_hits == {
        "equivalent_status 409~422": 1
    }
    assert compare(tree(None, 400), tree(None, 422), r, EP).verdict == "same"
    assert compare(tree(None, 400), tree(None, 409), r, EP).verdict == "different"


def test_trees_orjson_cannot_encode_as_is_still_compare_exactly() -> None:
    for old, new in [
        ({1: "a"}, {"1": "a"}),
        (b"\x00", binary_marker(b"\x00")),  # canonical() would write both the same
        (2**70, 2**70 + 1),
        (float("nan"), None),
    ]:
        for fast in (True, False):
            assert compare(tree(old), tree(new), EMPTY, EP, fast=fast).verdict == "different"
    nan = float("nan")
    assert compare(tree([nan]), tree([float("nan")]), EMPTY, EP).verdict == "same"
    assert compare(tree({1: [nan]}), tree({1: [nan]}), EMPTY, EP).verdict == "same"


def test_package_docstring_example_runs() -> None:
    import doctest

    import shadowdiff.differ

    result = doctest.testmod(shadowdiff.differ)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("status", [401, 403])
def test_preset_error_key_on_auth_errors(status: int) -> None:
    """401 and 403: Flask's {"message"} and FastAPI's {"detail"} are one answer; a status
    change between them, or the key on a success, is still a difference."""
    preset = load_preset("flask-to-fastapi")
    text = "Unauthorized" if status == 401 else "Forbidden"
    old = lift(
        status, [("Content-Type", "application/json")], json.dumps({"message": text}).encode()
    )
    new = lift(
        status, [("content-type", "application/json")], json.dumps({"detail": text}).encode()
    )
    assert compare(old, new, preset, "GET /items").verdict == "same"
    other = {**new, "status": 403 if status == 401 else 401}
    assert ("status", "status") in kinds(compare(old, other, preset, "GET /items"))
