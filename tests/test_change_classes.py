"""The pure change classifier (differ/changes.py), volatile shapes (differ/volatile.py), the
signature made of (path, kind, class), and holding volatile differences out of the count."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shadowdiff.analysis.volatile_policy import COUNT_ALL, VolatilePolicy
from shadowdiff.differ import FieldDiff, RuleSet, compare, hold_volatile, lift, signature_of_keys
from shadowdiff.differ.changes import MAX_CLASSIFIED, change_of, is_shifted, string_change
from shadowdiff.differ.volatile import is_request_id_header, is_volatile, shape_of
from shadowdiff.vocabulary import VOLATILE_MARK, ChangeClass, DiffKind, Part

pytestmark = pytest.mark.unit

NOW = time.time()
TIMES = (NOW, NOW + 2.0)
EP = "GET /x/"


def _iso(offset: float = 0.0, z: bool = False) -> str:
    text = datetime.fromtimestamp(NOW + offset, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z") if z else text


def _rfc1123(offset: float = 0.0) -> str:
    return (datetime.fromtimestamp(NOW + offset, UTC)).strftime("%a, %d %b %Y %H:%M:%S GMT")


# --------------------------------------------------------------------------- strings


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("a  b\n c", "a b c", ChangeClass.WHITESPACE),
        ("<p>\n  hi\n</p>", "<p>hi</p>", ChangeClass.WHITESPACE),
        ("Not Found", "not found", ChangeClass.CASE),
        ("1.0", "1", ChangeClass.NUMBER_FORMAT),
        ("1e3", "1000", ChangeClass.NUMBER_FORMAT),
        ("unknown {'a', 'b'}", "unknown {'b', 'a'}", ChangeClass.REORDERED),
        ("invalid JSON: {not json", "invalid JSON: b'{not json'", ChangeClass.AFFIX),
        ("{not json", "b'{not json'", ChangeClass.AFFIX),
        ("Error", "Error: details", ChangeClass.AFFIX),
        ("internal error", "forbidden", ChangeClass.OTHER),
        ("1.0", "2", ChangeClass.OTHER),
        ("nan", "nan ", ChangeClass.WHITESPACE),
    ],
)
def test_string_classes(old: str, new: str, expected: ChangeClass) -> None:
    assert string_change(old, new) == expected


def test_long_strings_are_other_without_analysis() -> None:
    long = "a " * MAX_CLASSIFIED
    assert string_change(long, long.replace(" ", "  ")) == ChangeClass.OTHER


@given(st.text(max_size=50), st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1))
def test_text_added_at_either_end_is_an_affix(base: str, added: str) -> None:
    assert string_change(base, base + added) == ChangeClass.AFFIX
    assert string_change(added + base, base) == ChangeClass.AFFIX


@given(st.lists(st.from_regex(r"[a-z]{1,8}", fullmatch=True), min_size=2, max_size=6, unique=True))
def test_the_same_words_in_another_order_are_reordered(words: list[str]) -> None:
    shuffled = [*words[1:], words[0]]
    assert string_change(", ".join(words), ", ".join(shuffled)) == ChangeClass.REORDERED


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=80)))
def test_every_pair_gets_a_class(value: Any) -> None:
    for other in (value, "x", 1, None, [1], {"a": 1}):
        change = change_of("body.v", DiffKind.VALUE, value, other, TIMES)
        assert change in set(ChangeClass), (value, other, change)


# --------------------------------------------------------------------------- other kinds


def test_status_null_absent_numbers() -> None:
    assert change_of("status", DiffKind.STATUS, 500, 200, None) == "500→200"
    assert change_of("status", DiffKind.STATUS, 500, 403, None) == "500→403"
    assert change_of("body.a", DiffKind.MISSING, None, None, None) == ChangeClass.NULL
    assert change_of("body.a", DiffKind.MISSING, 1, None, None) == ChangeClass.ABSENT
    assert change_of("body.a", DiffKind.EXTRA, None, "x", None) == ChangeClass.ABSENT
    assert change_of("body.a", DiffKind.TYPE, None, 5, None) == ChangeClass.NULL
    assert change_of("body.a", DiffKind.TYPE, 1, 1.0, None) == ChangeClass.INT_FLOAT
    assert change_of("body.a", DiffKind.VALUE, 1, 2, None) == ChangeClass.NUMBER
    assert change_of("body.a", DiffKind.ORDER, [1, 2], [2, 1], None) == ChangeClass.REORDERED


# --------------------------------------------------------------------------- volatile


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (str(uuid.uuid4()), str(uuid.uuid4())),
        ("01HZX3M5W1Q8K7Y2B4N6R9T0VA", "01HZX3M6A2B3C4D5E6F7G8H9JK"),
        ("5f2b9c0e8d7a6b1c", "a1b2c3d4e5f60718"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc_DEF-123", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjJ9.x"),
        ("Zk3Qp9LmX2vB7nR4tY8wK1", "Hq7Tr2WnB9cX4mL6pZ3sD5"),
        (_iso(), _iso(1.5)),
        (_rfc1123(), _rfc1123(1)),
        (int(NOW), int(NOW) + 1),
        (int(NOW * 1000), int(NOW * 1000) + 7),
        (NOW, NOW + 0.25),
        (str(int(NOW)), str(int(NOW) + 3)),
    ],
)
def test_same_shape_values_are_volatile(old: Any, new: Any) -> None:
    assert is_volatile("body.v", old, new, TIMES)
    assert change_of("body.v", DiffKind.VALUE, old, new, TIMES) == ChangeClass.VOLATILE


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (str(uuid.uuid4()), 12345),  # uuid -> int
        (str(uuid.uuid4()), str(uuid.uuid4()).upper()),  # letter case changed
        (_iso(), _iso(z=True)),  # +00:00 -> Z
        (_iso(), _iso().replace("+00:00", "+01:00")),  # another offset: a time zone bug
        (int(NOW), int(NOW * 1000)),  # seconds -> milliseconds
        ("5f2b9c0e8d7a6b1c", "5f2b9c0e8d7a6b1c00"),  # hex of another length
        ("hello world", "goodbye world"),
        ("internal_server_error", "forbidden_access_now"),  # words, not tokens
        ("Version2Release10Build", "Version3Release11Build"),  # mixed, yet not random
        ("/api/v2/Users/Abc123xYz9", "/api/v2/Items/Qrs456aBc7"),  # a path
        ("2026-11-29", "2026-11-30"),  # a day is no clock
        (12345, 67890),  # numbers far from any clock
        ("1" * 26, "2" * 26),  # 26 digits are a number, not a ULID
    ],
)
def test_changed_or_plain_values_are_not_volatile(old: Any, new: Any) -> None:
    assert not is_volatile("body.v", old, new, TIMES)


def test_timestamps_must_be_near_the_exchange() -> None:
    long_ago = timedelta(days=30).total_seconds()
    assert not is_volatile("body.t", _iso(-long_ago), _iso(-long_ago + 1), TIMES)
    assert not is_volatile("body.t", int(NOW - long_ago), int(NOW - long_ago + 1), TIMES)
    assert not is_volatile("body.t", _iso(), _iso(1), None)  # no times: never a clock
    # ids need no time
    assert is_volatile("body.t", str(uuid.uuid4()), str(uuid.uuid4()), None)


def test_request_id_headers_by_name_family() -> None:
    for name in ("x-request-id", "X_Request_ID", "x-correlation-id", "traceparent", "CF-Ray"):
        assert is_request_id_header(f"headers.{name}"), name
    assert not is_request_id_header("headers.x-requested-with")
    assert not is_request_id_header("body.x_request_id")
    # a short counter is no id shape, but the name says what it is; its skeleton must hold
    assert is_volatile("headers.x_request_id", "req-17", "req-1024", None)
    assert not is_volatile("headers.x_request_id", "req-17", "17", None)
    assert not is_volatile("headers.x_request_id", str(uuid.uuid4()), "12345", None)
    assert not is_volatile("headers.x-custom", "req-17", "req-1024", None)


def test_shapes_name_what_they_saw() -> None:
    assert shape_of(str(uuid.uuid4())) == ("uuid:lower", None)
    assert shape_of("plain words here") is None
    assert shape_of("x" * 5000) is None  # bounded


# --------------------------------------------------------------------------- shifted lists


def test_shifted_lists() -> None:
    page = [{"id": i} for i in range(6, 11)]
    late = [{"id": i} for i in range(7, 12)]
    assert is_shifted(page, late) and is_shifted(late, page)
    assert is_shifted(page, page[2:])  # two items late, and shorter
    assert not is_shifted(page, [{"id": i} for i in range(20, 25)])
    assert not is_shifted([1, 2], [2, 3])  # too short to say
    assert not is_shifted(page, page)
    assert not is_shifted(list(range(2000)), list(range(1, 2001)))  # bounded


def _tree(body: Any) -> dict[str, Any]:
    return {"status": 200, "headers": {}, "body": body}


def test_an_off_by_one_page_has_one_signature_whatever_fields_differ() -> None:
    def page(start: int) -> dict[str, Any]:
        items = [{"id": i, "name": f"item {i}", "flag": i == 8} for i in range(start, start + 5)]
        return _tree({"items": items})

    two = compare(page(6), page(7), RuleSet(), EP)
    three = compare(page(11), page(12), RuleSet(), EP)
    assert two.signature_text == three.signature_text == f"{EP} | body.items:value/shifted"
    assert two.signature == three.signature
    [field] = two.counting
    assert (field.path, field.kind, field.change) == ("body.items", "value", "shifted")
    # a list changed in place, not shifted, keeps its field differences
    other = compare(page(6), _tree({"items": [{"id": 9, "name": "x", "flag": False}] * 5}),
                    RuleSet(), EP)  # fmt: skip
    assert "shifted" not in (other.signature_text or "")


# --------------------------------------------------------------------------- signatures


def test_signature_keys_name_classes() -> None:
    _, text = signature_of_keys(
        EP,
        [
            ("body.message", "value", "affix"),
            ("status", "status", "500→200"),
            ("body.a", "missing", "absent"),
            ("body.b", "missing", "null"),
            ("body.c", "value", None),  # a row from before schema 5
        ],
    )
    assert text == (
        f"{EP} | body.a:missing, body.b:missing/null, body.c:value, "
        "body.message:value/affix, status:500→200"
    )
    a, _ = signature_of_keys(EP, [("body.m", "value", "reordered")])
    b, _ = signature_of_keys(EP, [("body.m", "value", "affix")])
    assert a != b


def test_hold_volatile_takes_them_out_of_the_count() -> None:
    old = lift(200, [("Content-Type", "application/json")], b'{"id": "%s", "n": 1}' % _u())
    new = lift(200, [("Content-Type", "application/json")], b'{"id": "%s", "n": 1}' % _u())
    result = compare(old, new, RuleSet(), EP, times=TIMES)
    assert result.verdict == "different"
    assert result.signature_text == f"{EP} | body.id:value/volatile"
    held, n = hold_volatile(result, EP, lambda f: True)
    assert (held.verdict, held.signature, n) == ("same", None, 1)
    [f] = held.fields
    assert (f.rule, f.change) == (VOLATILE_MARK, "volatile")
    kept, n = hold_volatile(result, EP, lambda f: False)
    assert (kept is result, n) == (True, 0)
    # with another difference, the verdict stays and the signature names only that one
    new2 = lift(200, [("Content-Type", "application/json")], b'{"id": "%s", "n": 2}' % _u())
    both, n = hold_volatile(compare(old, new2, RuleSet(), EP, times=TIMES), EP, lambda f: True)
    assert (both.verdict, both.signature_text, n) == ("different", f"{EP} | body.n:value/number", 1)


def _u() -> bytes:
    return str(uuid.uuid4()).encode()


def test_the_volatile_policy() -> None:
    uuid_diff = FieldDiff(Part.BODY, "body.items[3].id", DiffKind.VALUE, "a", "b", None, "volatile")
    assert not COUNT_ALL.holds(EP, uuid_diff)
    assert VolatilePolicy().holds(EP, uuid_diff)  # no baseline: likely volatile
    confirmed = VolatilePolicy(confirmed=frozenset({(EP, "body.items[*].id", "value")}))
    assert confirmed.holds(EP, uuid_diff)  # the old service differs from itself there
    assert not confirmed.holds("GET /other/", uuid_diff)  # stable there: it counts
    header = FieldDiff(Part.HEADER, "headers.x-request-id", DiffKind.HEADER, "a", "b", None)
    assert not confirmed.holds(EP, header)


def test_the_fast_path_never_classifies(monkeypatch: pytest.MonkeyPatch) -> None:
    from shadowdiff.differ import deepdiff_fields

    def boom(*args: Any) -> str:
        raise AssertionError("classified on the fast path")

    monkeypatch.setattr(deepdiff_fields, "change_of", boom)
    body = {"id": str(uuid.uuid4()), "items": list(range(50))}
    assert compare(_tree(body), _tree(dict(body)), RuleSet(), EP, times=TIMES).verdict == "same"


@given(
    st.one_of(st.uuids().map(str), st.text(max_size=40), st.integers(), st.floats()),
    st.one_of(st.uuids().map(str), st.text(max_size=40), st.integers(), st.floats()),
)
def test_volatile_is_symmetric(a: Any, b: Any) -> None:
    swapped = (TIMES[1], TIMES[0])
    assert is_volatile("body.v", a, b, TIMES) == is_volatile("body.v", b, a, swapped)
