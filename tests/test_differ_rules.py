"""The rules language: path patterns, rule files, errors with file and line, presets."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shadowdiff.differ import (
    KINDS,
    Rule,
    RulesError,
    RuleSet,
    RulesWarning,
    compare,
    find_rules_file,
    format_path,
    load_preset,
    load_rules,
    parse_concrete_path,
    parse_pattern,
    parse_rules,
    preset_names,
)
from shadowdiff.differ.paths import PathSyntaxError, generalize_path

pytestmark = pytest.mark.unit

# --------------------------------------------------------------------------- path patterns

MATCHES = [
    # (pattern, path, matches)
    ("status", "status", True),
    ("status", "body.status", False),
    ("body.time", "body.time", True),
    ("body.time", "body.timestamp", False),  # never substring matching
    ("body.timestamp", "body.time", False),
    ("body.time", "body.time.zone", False),  # anchored at both ends
    ("headers.x-request-id", "headers.x-request-id", True),
    ("headers.X-Request-ID", "headers.x-request-id", True),  # header names lower-cased
    ("headers.x-request-id", "headers.x-request-ids", False),
    ("body.*", "body.a", True),
    ("body.*", "body.a.b", False),
    ("body.*", "body[0]", False),
    ("body.*", "body", False),
    ("body.mem_info.*", "body.mem_info.max_rss_kb", True),
    ("body.mem_info.*", "body.mem_info", False),
    ("body.predictions[*]", "body.predictions[0]", True),
    ("body.predictions[*]", "body.predictions[123]", True),
    ("body.predictions[*]", "body.predictions", False),
    ("body.predictions[*]", "body.predictions.x", False),
    ("body.predictions[*]", "body.predictions[0].score", False),
    ("body.items[0].id", "body.items[0].id", True),
    ("body.items[0].id", "body.items[1].id", False),
    ("body.items[0].id", "body.items[0].idx", False),
    ("body[*].x", "body[3].x", True),
    ("body.**.timestamp", "body.timestamp", True),  # ** is zero or more
    ("body.**.timestamp", "body.a.b[3].timestamp", True),
    ("body.**.timestamp", "body.a.timestamps", False),
    ("body.**.timestamp", "body.a.timestamp.x", False),
    ("body.**.timestamp", "headers.timestamp", False),
    ("body.**", "body", True),
    ("body.**", "body.x[1].y", True),
    ("body.**", "headers.x", False),
    ("**.id", "body.id", True),
    ("**.id", "headers.id", True),
    ("**.id", "body.ids", False),
    ("body.**[*]", "body.a[2]", True),
    ("body.**[*]", "body.a", False),
    ('body."a.b"', 'body."a.b"', True),
    ('body."a.b"', "body.a.b", False),
    ('body."a b".c', 'body."a b".c', True),
    ('body."say \\"hi\\""', 'body."say \\"hi\\""', True),
    ("body.123", "body.123", True),  # a dict key made of digits, not an index
    ("body.123", "body[123]", False),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), MATCHES)
def test_pattern_matching(pattern: str, path: str, expected: bool) -> None:
    assert parse_pattern(pattern).matches(path) is expected


def test_pattern_matches_tuples_and_quoted_keys() -> None:
    assert parse_pattern('body."a.b"').matches(("body", "a.b"))
    assert not parse_pattern('body."a.b"').matches(("body", "a", "b"))
    assert parse_pattern("body.items[*]").matches(("body", "items", 4))
    assert not parse_pattern("body.items[*]").matches(("body", "items", "4"))


BAD_PATTERNS = [
    "",
    "body.",
    ".body",
    "body..x",
    "body[",
    "body[x]",
    "body[-1]",
    "body.***",
    'body."unterminated',
    "body x",
    "body.*x",
    "[0]",
    "predictions[*]",  # must start at the root: status, headers or body
    "timestamp",
]


@pytest.mark.parametrize("pattern", BAD_PATTERNS)
def test_bad_patterns_raise(pattern: str) -> None:
    with pytest.raises(PathSyntaxError):
        parse_pattern(pattern)


KEYS = st.one_of(
    st.text(min_size=0, max_size=8),
    st.sampled_from(["a.b", 'q"uote', "back\\slash", "[0]", "*", "**", " ", "x-y", "$binary"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(KEYS, st.integers(min_value=0, max_value=10**6)), max_size=6))
def test_format_then_parse_round_trips(rest: list[str | int]) -> None:
    keys = ("body", *rest)
    text = format_path(keys)
    assert parse_concrete_path(text) == keys
    # a written path is also a pattern matching exactly itself
    assert parse_pattern(text).matches(keys)


def test_generalize_path_leaves_quoted_keys_alone() -> None:
    assert generalize_path("body.items[3].x[12]") == "body.items[*].x[*]"
    assert generalize_path('body."a[3]"[4]') == 'body."a[3]"[*]'


# --------------------------------------------------------------------------- rule files

GOOD = """
presets = []

[[rules]]
name = "request-id header"
kind = "ignore"
path = "headers.x-request-id"
endpoints = ["GET /stats/", "* /info/"]
reason = "random per request"

[[rules]]
kind = "tolerance"
path = "body.predictions[*]"
digits = 5
reason = "float formatting"

[[rules]]
kind = "tolerance"
paths = ["body.a", "body.b"]
abs = 1e-9
rel = 1e-6
reason = "both bounds"

[[rules]]
kind = "keys_only"
path = "body.mem_info.*"
reason = "the keys are the contract, the numbers are not"

[[rules]]
kind = "allow_extra"
path = "body.backpressure_accepted"
reason = "new counters in the port"

[[rules]]
kind = "ignore_order"
path = "body.tags"
reason = "a set serialized as a list"

[[rules]]
kind = "equivalent_status"
groups = [[400, 422], [307, 308]]
reason = "validation and redirects"

[[rules]]
kind = "headers"
compare = ["Content-Type", "location"]
reason = "only these matter"

[[rules]]
kind = "ignore"
path = "body.message"
statuses = [404, 422]
reason = "error shapes"
"""


def test_parse_good_rules() -> None:
    rules = parse_rules(GOOD, "rules.toml")
    assert [r.kind for r in rules] == [
        "ignore",
        "tolerance",
        "tolerance",
        "keys_only",
        "allow_extra",
        "ignore_order",
        "equivalent_status",
        "headers",
        "ignore",
    ]
    first = rules.rules[0]
    assert first.name == "request-id header"
    assert first.reason == "random per request"
    assert first.origin == "rules.toml"
    assert first.line == 4
    assert first.endpoints == ("GET /stats/", "* /info/")
    assert first.applies_to_endpoint("GET /stats/")
    assert first.applies_to_endpoint("POST /info/")
    assert not first.applies_to_endpoint("POST /stats/")
    assert not first.applies_to_endpoint("GET /stats")  # exact: trailing slash matters
    tol = rules.rules[1]
    assert tol.name == "tolerance body.predictions[*]"  # derived from kind and path
    assert tol.digits == 5 and tol.rel_tol == pytest.approx(1e-5)
    assert tol.within_tolerance(1.000001, 1.0) and tol.within_tolerance(1.0, 1.000001)
    assert not tol.within_tolerance(1.0001, 1.0)
    both = rules.rules[2]
    assert both.abs_tol == 1e-9 and both.rel_tol == 1e-6
    assert both.within_tolerance(0.0, 5e-10) and not both.within_tolerance(0.0, 5e-9)
    status = rules.rules[6]
    assert status.status_groups == (frozenset({400, 422}), frozenset({307, 308}))
    assert status.name == "equivalent_status 400~422 307~308"
    headers = rules.rules[7]
    assert headers.header_compare == frozenset({"content-type", "location"})
    scoped = rules.rules[8]
    assert scoped.statuses == frozenset({404, 422})
    assert scoped.applies_to_statuses(404, 422)
    assert not scoped.applies_to_statuses(404, 200)


def test_wildcard_in_the_middle_of_a_key_is_not_a_pattern() -> None:
    # `backpressure_*` is not a glob: a key can only be a whole literal, `*` or `**`
    with pytest.raises(RulesError) as info:
        parse_rules(
            '[[rules]]\nkind = "ignore"\npath = "body.backpressure_*"\nreason = "x"\n',
            "rules.toml",
        )
    assert "bad path" in str(info.value)


def _error(text: str, source: str = "rules.toml") -> RulesError:
    with pytest.raises(RulesError) as info:
        parse_rules(text, source)
    err = info.value
    assert "\n" not in str(err)
    assert str(err).startswith(f"{source}:{err.line}: " if err.line else f"{source}: ")
    return err


def rule(body: str, before: str = "") -> str:
    return f"{before}[[rules]]\n{body}"


ERRORS = [
    # (toml text, expected line, expected message fragment)
    ("[[rules]\nkind = 1\n", 1, "invalid TOML"),
    ('x = 1\n\n[[rules]]\nkind = "ignore"\npath = "body.a"\nreason = \n', 6, "invalid TOML"),
    (rule('kind = "ignroe"\npath = "body.a"\nreason = "r"\n', "# c\n\n"), 3,
     "unknown rule kind 'ignroe' (expected one of ignore, keys_only, tolerance, allow_extra, "
     "ignore_order, equivalent_status, headers, rename, normalize)"),
    (rule('path = "body.a"\nreason = "r"\n'), 1, "missing 'kind'"),
    (rule('kind = "ignore"\npath = "body.a"\n'), 1, "missing 'reason'"),
    (rule('kind = "ignore"\npath = "body.a"\nreason = "  "\n'), 1, "missing 'reason'"),
    (rule('kind = "ignore"\npath = "body..a"\nreason = "r"\n'), 1, "bad path"),
    (rule('kind = "ignore"\npath = "predictions[*]"\nreason = "r"\n'), 1, "must start with"),
    (rule('kind = "ignore"\npth = "body.a"\nreason = "r"\n'), 1, "unknown key 'pth'"),
    (rule('kind = "ignore"\nreason = "r"\n'), 1, "needs 'path'"),
    (rule('kind = "ignore"\npath = "body.a"\npaths = ["body.b"]\nreason = "r"\n'), 1,
     "either 'path' or 'paths'"),
    (rule('kind = "ignore"\npath = 3\nreason = "r"\n'), 1, "'path' must be a string"),
    (rule('kind = "tolerance"\npath = "body.a"\nreason = "r"\n'), 1, "needs 'digits'"),
    (rule('kind = "tolerance"\npath = "body.a"\ndigits = 3\nrel = 0.1\nreason = "r"\n'), 1,
     "either 'digits' or 'rel'"),
    (rule('kind = "tolerance"\npath = "body.a"\ndigits = 2.5\nreason = "r"\n'), 1,
     "'digits' must be an integer"),
    (rule('kind = "tolerance"\npath = "body.a"\nabs = -1\nreason = "r"\n'), 1,
     "'abs' must be a non-negative number"),
    (rule('kind = "ignore"\npath = "body.a"\ndigits = 3\nreason = "r"\n'), 1,
     "unknown key 'digits' for kind ignore"),
    (rule('kind = "equivalent_status"\nstatuses = [[400]]\nreason = "r"\n'), 1,
     "groups of equal statuses"),
    (rule('kind = "equivalent_status"\nstatuses = [[400, 422], [422, 409]]\nreason = "r"\n'),
     1, "status 422 is in more than one group"),
    (rule('kind = "equivalent_status"\nstatuses = [[400, 1000]]\nreason = "r"\n'), 1,
     "groups of equal statuses"),
    (rule('kind = "equivalent_status"\nreason = "r"\n'), 1, "groups of equal statuses"),
    (rule('kind = "equivalent_status"\ngroups = [[400]]\nreason = "r"\n'), 1,
     "'groups' must be a list of groups of equal statuses"),
    (rule('kind = "equivalent_status"\ngroups = [[400, 422], [422, 409]]\nreason = "r"\n'),
     1, "status 422 is in more than one group"),
    (rule('kind = "equivalent_status"\ngroups = [[400, 422]]\nstatuses = [[400, 422]]\n'
          'reason = "r"\n'), 1, "'statuses' must be a non-empty list of HTTP statuses"),
    (rule('kind = "equivalent_status"\ngroups = [[400, 422]]\npath = "body"\nreason = "r"\n'),
     1, "unknown key 'path' for kind equivalent_status"),
    (rule('kind = "headers"\ncompare = ["a"]\nignore = ["b"]\nreason = "r"\n'), 1,
     "exactly one of 'compare' or 'ignore'"),
    (rule('kind = "headers"\nreason = "r"\n'), 1, "exactly one of 'compare' or 'ignore'"),
    (rule('kind = "headers"\nignore = []\nreason = "r"\n'), 1, "non-empty list of header"),
    (rule('kind = "ignore"\npath = "body.a"\nendpoints = ["stats"]\nreason = "r"\n'), 1,
     "bad endpoint 'stats'"),
    (rule('kind = "ignore"\npath = "body.a"\nstatuses = [99]\nreason = "r"\n'), 1,
     "'statuses' must be a non-empty list of HTTP statuses"),
    (rule('kind = "ignore"\npath = "body.a"\nname = ""\nreason = "r"\n'), 1,
     "'name' must be a non-empty string"),
    ('[[rules]]\nname = "x"\nkind = "ignore"\npath = "body.a"\nreason = "r"\n\n'
     '[[rules]]\nname = "x"\nkind = "ignore"\npath = "body.b"\nreason = "r"\n', 7,
     "duplicate rule name 'x'"),
    ('rules = "no"\n', 1, "'rules' must be an array of tables"),
    ('\npresets = ["no-such-preset"]\n', 2, "unknown preset 'no-such-preset'"),
    ('presets = [1]\n', 1, "'presets' must be a list of names"),
    ("rules = [1]\n", None, "each entry of 'rules' must be a table"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "fragment"), ERRORS)
def test_rules_errors_have_file_and_line(text: str, line: int | None, fragment: str) -> None:
    err = _error(text)
    assert err.source == "rules.toml"
    assert err.line == line
    assert fragment in err.message
    expected_where = f"rules.toml:{line}" if line is not None else "rules.toml"
    assert str(err) == f"{expected_where}: {err.message}"


def test_error_points_at_the_nth_rule() -> None:
    text = (
        "# my rules\n"
        '[[rules]]\nkind = "ignore"\npath = "body.a"\nreason = "ok"\n\n'
        '[[rules]]\nkind = "ignore"\npath = "body.b"\nreason = "ok"\n\n'
        '[[rules]]\nkind = "ignroe"\npath = "body.c"\nreason = "ok"\n'
    )
    err = _error(text)
    assert err.line == 12
    assert str(err).startswith("rules.toml:12: unknown rule kind 'ignroe' (expected one of ")


# --------------------------------------------------------------------------- equivalent_status


def _status_rule(body: str) -> tuple[Rule, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rules = parse_rules(f'# c\n[[rules]]\nkind = "equivalent_status"\nreason = "r"\n{body}')
    assert len(rules) == 1
    return rules.rules[0], caught


def test_equivalent_status_groups() -> None:
    r, caught = _status_rule("groups = [[400, 422], [307, 308]]\n")
    assert r.status_groups == (frozenset({400, 422}), frozenset({307, 308}))
    assert r.statuses is None and r.applies_to_statuses(400, 422)
    assert r.name == "equivalent_status 400~422 307~308"
    assert not caught
    flat, caught = _status_rule("groups = [400, 422]\n")  # a single group, written flat
    assert flat.status_groups == (frozenset({400, 422}),) and not caught


@pytest.mark.parametrize("old", ["statuses = [[400, 422], [307, 308]]", "statuses = [400, 422]"])
def test_equivalent_status_old_spelling_still_loads_and_warns(old: str) -> None:
    r, caught = _status_rule(old + "\n")
    new, _ = _status_rule(old.replace("statuses", "groups") + "\n")
    assert r.status_groups == new.status_groups
    assert r.name == new.name
    assert r.statuses is None  # the groups are not read as a scope
    assert [w.category for w in caught] == [RulesWarning]
    message = str(caught[0].message)
    assert caught[0].filename == "<rules>" and caught[0].lineno == 2  # the rule's header line
    assert "\n" not in message and "groups = [[" in message and "'statuses'" in message


def test_statuses_scope_an_equivalent_status_rule() -> None:
    r, caught = _status_rule("groups = [[400, 422], [307, 308]]\nstatuses = [400, 422]\n")
    assert not caught
    assert r.statuses == frozenset({400, 422})
    assert r.applies_to_statuses(422, 400)
    assert not r.applies_to_statuses(307, 308)  # a group, but outside the scope


def test_errors_in_pyproject_point_at_the_rule(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\n\n[tool.shadowdiff]\n\n'
        '[[tool.shadowdiff.rules]]\nkind = "ignore"\npath = "body.a"\nreason = "ok"\n\n'
        '[[tool.shadowdiff.rules]]\nkind = "ignore"\npath = "body.b"\n',
        encoding="utf-8",
    )
    with pytest.raises(RulesError) as info:
        load_rules(pyproject)
    assert info.value.line == 11
    assert str(info.value).startswith(f"{pyproject}:11: rule 'ignore body.b': missing 'reason'")


def test_load_rules_from_pyproject_and_file(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[tool.shadowdiff]\npresets = ["flask-to-fastapi"]\n\n'
        '[[tool.shadowdiff.rules]]\nkind = "ignore"\npath = "body.ts"\nreason = "clock"\n',
        encoding="utf-8",
    )
    rules = load_rules(pyproject)
    assert rules.get("ignore body.ts") is not None
    assert rules.get("date header") is not None  # from the preset
    assert rules.get("ignore body.ts").origin == str(pyproject)  # type: ignore[union-attr]
    assert rules.get("date header").origin == "preset:flask-to-fastapi"  # type: ignore[union-attr]

    missing = tmp_path / "nope.toml"
    with pytest.raises(RulesError) as info:
        load_rules(missing)
    assert str(info.value).startswith(f"{missing}: cannot read rules file")


def test_find_rules_file(tmp_path: Path) -> None:
    project = tmp_path / "project"
    deep = project / "src" / "pkg"
    deep.mkdir(parents=True)
    assert find_rules_file(deep) is None
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    assert find_rules_file(deep) is None  # a pyproject without [tool.shadowdiff] does not count
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.shadowdiff]\npresets = ["flask-to-fastapi"]\n',
        encoding="utf-8",
    )
    assert find_rules_file(deep) == project / "pyproject.toml"
    (project / "shadowdiff.toml").write_text("", encoding="utf-8")
    assert find_rules_file(deep) == project / "shadowdiff.toml"  # preferred over pyproject
    (deep / "shadowdiff.toml").write_text("", encoding="utf-8")
    assert find_rules_file(deep) == deep / "shadowdiff.toml"  # the nearest wins


def test_duplicate_derived_names_are_numbered() -> None:
    text = (
        '[[rules]]\nkind = "ignore"\npath = "body.a"\nendpoints = ["GET /x/"]\nreason = "r"\n'
        '[[rules]]\nkind = "ignore"\npath = "body.a"\nendpoints = ["GET /y/"]\nreason = "r"\n'
    )
    assert parse_rules(text).names == ("ignore body.a", "ignore body.a #2")


def test_merge_replaces_rules_of_the_same_name() -> None:
    preset = load_preset("flask-to-fastapi")
    mine = parse_rules(
        '[[rules]]\nname = "server header"\nkind = "headers"\nignore = ["server", "via"]\n'
        'reason = "we also strip via"\n'
        '[[rules]]\nkind = "ignore"\npath = "body.ts"\nreason = "clock"\n',
        "mine.toml",
    )
    merged = preset.merge(mine)
    assert len(merged) == len(preset) + 1
    server = merged.get("server header")
    assert server is not None and server.origin == "mine.toml"
    assert server.header_ignore == frozenset({"server", "via"})
    assert merged.names[-2:] == ("server header", "ignore body.ts")
    # a preset's rule that matched nothing is not reported: the service may not do that
    assert merged.unused({"server header": 3}) == [merged.get("ignore body.ts")]


def test_empty_rules() -> None:
    assert len(parse_rules("")) == 0
    assert not RuleSet()


# --------------------------------------------------------------------------- presets


def test_preset_loads_and_every_rule_says_why() -> None:
    assert "flask-to-fastapi" in preset_names()
    preset = load_preset("flask-to-fastapi")
    assert len(preset) >= 8
    for r in preset:
        assert r.origin == "preset:flask-to-fastapi"
        assert r.kind in KINDS
        assert len(r.reason) > 20
        assert r.line is not None
    kinds = {r.kind for r in preset}
    assert {"headers", "ignore", "rename", "normalize", "equivalent_status"} <= kinds
    ignored: set[str] = set()
    for r in preset:
        if r.kind == "headers" and r.header_ignore:
            ignored |= r.header_ignore
    assert {"date", "server", "content-length", "transfer-encoding", "x-request-id"} <= ignored
    redirect = preset.get("trailing-slash redirect status")
    assert redirect is not None and frozenset({307, 308}) in redirect.status_groups


def test_unknown_and_bad_preset_names() -> None:
    with pytest.raises(RulesError) as info:
        load_preset("nope")
    assert str(info.value).startswith("preset:nope: unknown preset 'nope' (available: ")
    with pytest.raises(RulesError):
        load_preset("../etc/passwd")


_NUMBERS = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**30), 10**30)


@given(old=_NUMBERS, new=_NUMBERS, digits=st.integers(0, 12), floor=st.sampled_from([0, 1e-9]))
@example(old=0.0, new=1e-9, digits=12, floor=1e-9)  # exactly at the floor: close
@example(old=1.0, new=float("inf"), digits=0, floor=0)
@example(old=float("nan"), new=1.0, digits=0, floor=0)
@example(old=10**30, new=10**30 + 1, digits=3, floor=0)
@settings(max_examples=300, deadline=None)
def test_the_prepass_absorbs_exactly_what_within_tolerance_accepts(
    old: float, new: float, digits: int, floor: float
) -> None:
    """The pre-pass inlines the tolerance formula for floats (hot): it must agree with the one
    definition, `tolerance.within_tolerance`, in a dict and in a list."""
    from shadowdiff.differ.tolerance import within_tolerance

    def tolerance(path: str) -> RuleSet:
        return parse_rules(
            f'[[rules]]\nkind = "tolerance"\npath = "{path}"\ndigits = {digits}\n'
            f"abs = {floor}\nreason = 'r'\n"
        )

    both_nan = old != old and new != new  # two NaNs: the differ counts them close
    close = both_nan or (
        type(old) is type(new) and old != new and within_tolerance(old, new, 10.0**-digits, floor)
    )
    # below the matched path (a dict, a list), and at it (a tolerance-only leaf: the number
    # itself, by key and by index)
    cases = [("body.**", {"v": old}, {"v": new}), ("body.**", [old], [new])]
    cases += [("body.v", {"v": old}, {"v": new}), ("body[*]", [old], [new])]
    for path, body_old, body_new in cases:
        trees = ({"status": 200, "headers": {}, "body": b} for b in (body_old, body_new))
        result = compare(*trees, tolerance(path), "GET /x")
        absorbed = [f for f in result.fields if f.rule is not None]
        assert bool(absorbed) == close, (path, old, new, digits, floor, result.fields)
