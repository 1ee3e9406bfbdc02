"""The direct walk (`differ/tree_walk.py`) finds exactly what DeepDiff finds, faster."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shadowdiff.differ import Comparer, RuleSet, compare, parse_rules
from shadowdiff.differ.deepdiff_fields import deepdiff_raws
from shadowdiff.differ.tree_walk import Raw, walk

pytestmark = pytest.mark.unit

PLAN = Comparer(RuleSet()).plan("GET /x/", 200, 200)
KEYS = st.sampled_from(["a", "b", "id", "__v", "__typename", "", "x.y", "0"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, 1, 0.0, 1.0, -0.0, True, False, "1", "", "a\nb"])
    | st.text(max_size=6)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)


def mutated(data: st.DataObject, value: Any, depth: int = 0) -> Any:
    """A copy of `value` with random edits: leaves replaced, keys dropped or added, lists
    cut or grown, types changed (what real responses of two services differ by)."""
    choice = data.draw(st.integers(0, 9))
    if choice == 0 or depth > 6:
        return data.draw(JSON)
    if type(value) is dict:
        kept = [(k, v) for k, v in value.items() if data.draw(st.integers(0, 5))]
        out = {k: mutated(data, v, depth + 1) for k, v in kept}
        if data.draw(st.booleans()):
            out[data.draw(KEYS)] = data.draw(JSON)
        return out
    if type(value) is list:
        out_list = [mutated(data, v, depth + 1) for v in value]
        cut = data.draw(st.integers(0, len(out_list)))
        return out_list[:cut] + data.draw(st.lists(JSON, max_size=2))
    return value if choice < 6 else data.draw(SCALARS)


def found(raws: list[Raw]) -> list[tuple[Any, ...]]:
    return sorted(
        (tuple(map(repr, r.keys)), r.kind.value, repr(r.left), repr(r.right)) for r in raws
    )


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON, st.data())
def test_walk_reports_what_deepdiff_reports(old: Any, data: st.DataObject) -> None:
    new = mutated(data, old)
    raws = walk(old, new)
    assert raws is not None
    assert found(raws) == found(deepdiff_raws(old, new, PLAN))


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        (1, 1.0, "type"),
        (True, 1, "type"),
        (None, 0, "type"),
        ([1], {"0": 1}, "type"),
        ("a", "b", "value"),
        (0.5, 0.25, "value"),
        (math.nan, 1.0, "value"),
    ],
)
def test_walk_kinds(old: Any, new: Any, kind: str) -> None:
    raws = walk({"k": old}, {"k": new})
    assert raws is not None and [(r.keys, r.kind.value) for r in raws] == [(("k",), kind)]
    assert found(raws) == found(deepdiff_raws({"k": old}, {"k": new}, PLAN))


def test_nan_equals_nan_and_lists_compare_by_position() -> None:
    assert walk({"k": math.nan, "l": [1, 2]}, {"k": float("nan"), "l": [1, 2]}) == []
    raws = walk([1, 2, 3], [1, 5])
    assert raws is not None
    assert sorted((r.keys, r.kind.value) for r in raws) == [((1,), "value"), ((2,), "missing")]


def test_a_tree_that_is_not_json_goes_to_deepdiff() -> None:
    assert walk({"k": (1, 2)}, {"k": (1, 3)}) is None
    assert walk({"k": b"x"}, {"k": "x"}) is None


def test_a_dunder_key_is_compared_like_any_other() -> None:
    """DeepDiff skips keys starting with `__` by default: a changed `__typename` (GraphQL) or
    `__v` (a document version) would pass unseen. Both paths compare them."""
    old = {"status": 200, "headers": {}, "body": {"__typename": "User", "__v": 1}}
    new = {"status": 200, "headers": {}, "body": {"__typename": "Account", "__v": 1}}
    result = compare(old, new, RuleSet(), "GET /x/")
    assert [(f.path, f.kind) for f in result.counting] == [("body.__typename", "value")]
    assert found(deepdiff_raws(old, new, PLAN)) == found(walk(old, new) or [])


def test_an_ignore_order_rule_still_uses_deepdiff() -> None:
    text = '[[rules]]\nkind = "ignore_order"\npath = "body.items"\nreason = "set"'
    rules = parse_rules(text, "t")
    old = {"status": 200, "headers": {}, "body": {"items": [1, 2, 3], "n": 1}}
    new = {"status": 200, "headers": {}, "body": {"items": [3, 2, 1], "n": 2}}
    result = compare(old, new, rules, "GET /x/")
    assert [(f.path, f.kind) for f in result.counting] == [("body.n", "value")]
