"""The README's rules section against the real code: every TOML snippet parses, and every
example rule absorbs what its comment says and still reports what it says it reports."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from shadowdiff.differ import RuleSet, compare, lift, parse_rules

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parent.parent / "README.md"
JSON = [("Content-Type", "application/json")]


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## The rules language")
    return text[start : text.index("\n### ", start)]


def _snippets() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", _section(), re.S)


def _rules() -> RuleSet:
    (snippet,) = _snippets()
    return parse_rules(snippet, "README.md")


def _j(status: int, body: str, headers: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    return lift(status, [*JSON, *(headers or [])], body.encode())


VALIDATION_LIST = '{"detail": [{"loc": ["body", "age"], "msg": "bad", "type": "int"}]}'

# rule name -> (endpoint, old, new) pairs it absorbs, and pairs that still differ
CASES: dict[str, tuple[list[tuple[str, Any, Any]], list[tuple[str, Any, Any]]]] = {
    "prediction float formatting": (
        [("POST /predict/", _j(200, '{"predictions": [0.123456789]}'),
          _j(200, '{"predictions": [0.12345679]}'))],
        [("POST /predict/", _j(200, '{"predictions": [0.1234]}'),
          _j(200, '{"predictions": [0.1244]}')),
         ("POST /predict/", _j(200, '{"predictions": [1]}'), _j(200, '{"predictions": ["1"]}'))],
    ),
    "clock and tracing": (
        [("GET /a/", _j(200, '{"x": {"timestamp": 1}}'), _j(200, '{"x": {"timestamp": 2}}')),
         ("GET /a/", _j(200, '{"timestamp": 1}'), _j(200, "{}"))],
        [("GET /a/", _j(200, '{"created_at": 1}'), _j(200, '{"created_at": 2}')),
         ("GET /a/", _j(200, '{"timestamps": [1]}'), _j(200, '{"timestamps": [2]}'))],
    ),
    "process metrics": (
        [("GET /stats/", _j(200, '{"mem_info": {"rss": 10}}'),
          _j(200, '{"mem_info": {"rss": 12}}'))],
        [("GET /stats/", _j(200, '{"mem_info": {"rss": 10}}'), _j(200, '{"mem_info": {}}'))],
    ),
    "new metric": (
        [("GET /s/", _j(200, "{}"), _j(200, '{"backpressure_queue_depth": 3}'))],
        [("GET /s/", _j(200, '{"backpressure_queue_depth": 2}'),
          _j(200, '{"backpressure_queue_depth": 3}'))],
    ),
    "label sets": (
        [("GET /l/", _j(200, '{"labels": ["a", "b"]}'), _j(200, '{"labels": ["b", "a"]}'))],
        [("GET /l/", _j(200, '{"labels": ["a", "b"]}'), _j(200, '{"labels": ["a", "a"]}'))],
    ),
    "validation status": (
        [("POST /users/", _j(400, '{"message": "bad"}'), _j(422, '{"detail": "bad"}'))],
        [("POST /orders/", _j(400, '{"message": "bad"}'), _j(422, '{"detail": "bad"}')),
         ("POST /users/", _j(400, '{"message": "bad"}'), _j(500, '{"message": "bad"}')),
         ("POST /users/", _j(200, '{"id": 1}'), _j(422, '{"id": 1}'))],
    ),
    "validation message wording": (
        [("POST /users/", _j(400, '{"message": "bad age"}'), _j(422, VALIDATION_LIST))],
        [("POST /users/", _j(400, '{"message": "bad age"}'), _j(422, "{}")),
         ("POST /users/", _j(400, '{"message": "bad age"}'), _j(200, '{"message": "ok"}')),
         ("POST /orders/", _j(400, '{"message": "bad age"}'), _j(422, VALIDATION_LIST))],
    ),
    "weak etags": (
        [("GET /e/", _j(200, "{}", [("ETag", 'W/"1"')]), _j(200, "{}", [("ETag", 'W/"2"')]))],
        [("GET /e/", _j(304, "{}", [("ETag", 'W/"1"')]), _j(304, "{}", [("ETag", 'W/"2"')])),
         ("GET /e/", _j(200, "{}", [("X-Other", "1")]), _j(200, "{}", [("X-Other", "2")]))],
    ),
    "error key": (
        [("POST /o/", _j(400, '{"error": "x"}'), _j(400, '{"errors": "x"}'))],
        [("POST /o/", _j(400, '{"error": "x"}'), _j(400, '{"errors": "y"}')),
         ("POST /o/", _j(400, '{"error": "x"}'), _j(400, '{"error": "y"}'))],
    ),
    "stack traces": (
        [("GET /t/", _j(500, '{"trace": "Traceback (most recent call last):\\n  File \\"/a.py\\",'
                            ' line 1, in f\\nValueError: x"}'),
          _j(500, '{"trace": "Traceback (most recent call last):\\n  File \\"/b.py\\", line 9,'
                  ' in g\\nValueError: x"}'))],
        [("GET /t/", _j(500, '{"trace": "Traceback (most recent call last):\\n  File \\"/a.py\\",'
                            ' line 1, in f\\nValueError: x"}'),
          _j(500, '{"trace": "Traceback (most recent call last):\\n  File \\"/a.py\\", line 1,'
                  ' in f\\nKeyError: x"}'))],
    ),
}  # fmt: skip


def test_every_toml_snippet_of_the_rules_section_parses() -> None:
    snippets = _snippets()
    assert snippets
    for snippet in snippets:
        parse_rules(snippet, "README.md")


def test_every_example_rule_has_its_claims_checked() -> None:
    own = [r.name for r in _rules() if r.origin == "README.md"]
    assert own and set(own) == set(CASES), set(own) ^ set(CASES)
    # every example says what it absorbs and what it still reports
    (snippet,) = _snippets()
    for block in snippet.split("[[rules]]")[1:]:
        assert "# absorbs:" in block and "still reports:" in block, block


#: Examples that lean on a preset rule (the message -> detail rename); the others are checked
#: on their own, so a preset rule that does the same cannot stand in for them.
NEEDS_PRESET = frozenset({"validation status", "validation message wording"})


@pytest.mark.parametrize("name", sorted(CASES))
def test_readme_example_absorbs_and_still_reports(name: str) -> None:
    rules = _rules()
    if name not in NEEDS_PRESET:
        rules = RuleSet(tuple(r for r in rules if r.origin == "README.md"))
    absorbs, reports = CASES[name]
    for endpoint, old, new in absorbs:
        c = compare(old, new, rules, endpoint)
        assert c.verdict == "same", (name, endpoint, c.counting)
        assert c.rule_hits[name] > 0, (name, dict(c.rule_hits))
    for endpoint, old, new in reports:
        c = compare(old, new, rules, endpoint)
        assert c.verdict == "different", (name, endpoint, old, new)


def test_the_old_400_422_example_hid_a_real_regression() -> None:
    # the README's example used to be unscoped: it made every 400 -> 422 equal
    old_example = parse_rules(
        '[[rules]]\nkind = "equivalent_status"\ngroups = [[400, 422]]\nreason = "r"\n'
    )
    pair = (_j(400, '{"message": "bad"}'), _j(422, '{"message": "bad"}'))
    assert compare(*pair, old_example, "POST /orders/").verdict == "same"
    assert compare(*pair, _rules(), "POST /orders/").verdict == "different"
