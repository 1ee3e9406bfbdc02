"""The decoders' bounds on the inputs the fault campaign used: many gzip members, multipart
nested deep, JSON at the depths where orjson, DeepDiff and the stdlib parser give up."""

from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowdiff.differ import RuleSet, compare, lift_pair
from shadowdiff.differ.bodies import (
    DEPTH_NOTE,
    MAX_DEPTH,
    NOT_PLAIN_JSON,
    decode_body,
    plain_json,
    too_deep,
)

pytestmark = pytest.mark.unit


def test_5001_concatenated_gzip_members_decode_without_recursion() -> None:
    member = gzip.compress(b"ab")
    body = member * 5001
    assert decode_body(body, "text/plain", "gzip") == "ab" * 5001


def _nested_multipart(depth: int) -> tuple[bytes, str]:
    body, ctype = b"leaf", "text/plain"
    for i in range(depth):
        boundary = f"b{i}"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="p"\r\n'
            f"Content-Type: {ctype}\r\n\r\n".encode()
            + body
            + f"\r\n--{boundary}--\r\n".encode()
        )
        ctype = f"multipart/form-data; boundary={boundary}"
    return body, ctype


def test_multipart_nested_1500_deep_is_marked_not_recursed() -> None:
    body, ctype = _nested_multipart(1500)
    tree = decode_body(body, ctype)
    text = json.dumps(tree)
    assert DEPTH_NOTE in text  # cut at the part-depth cap, with its note
    assert text.count('"p"') <= 5


@pytest.mark.parametrize("depth", [260, 490, 1100])
def test_json_at_the_depths_that_crashed_diff(depth: int) -> None:
    def doc(leaf: int) -> bytes:
        return b"[" * depth + str(leaf).encode() + b"]" * depth

    headers = [("Content-Type", "application/json")]
    same = lift_pair((200, headers, doc(1)), (200, headers, doc(1)))
    other = lift_pair((200, headers, doc(1)), (200, headers, doc(2)))
    assert not compare(*same, RuleSet(), "GET /x").counting
    assert compare(*other, RuleSet(), "GET /x").counting


@pytest.mark.parametrize(
    ("body", "deep"),
    [
        (b"[" * 100 + b"]" * 100, False),
        (b"[" * 101 + b"]" * 101, True),
        (b'{"k":' * 100 + b"[1]" + b"}" * 100, True),  # 101 levels of both kinds
        (b'{"k":' * 99 + b"[1]" + b"}" * 99, False),
        (b'{"s": "' + b"[" * 500 + b'", "a": [[1, 2], [3, 4]]}', False),  # brackets in a string
        (b"[[1], [2]]," * 200, False),  # many brackets, shallow
        (b"[" * 100_000, False),  # unbalanced: not JSON, the parser decides
        (b'{"s": "\\u005b\\"[[", "a": ' + b"[" * 101 + b"]" * 101 + b"}", True),  # escapes
        (b'{"s": "\\\\", "a": [' + b'"]",' * 200 + b"1]}", False),  # \\ then a closing quote
    ],
)
def test_the_depth_check_is_exact_at_the_limit(body: bytes, deep: bool) -> None:
    assert too_deep(body) is deep


def _depth(value: object) -> int:
    """Nesting depth of a parsed JSON value, the reference ``too_deep`` is held to."""
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


_STRUCTURE_TEXT = st.text(alphabet='[]{}"\\ ab', max_size=12)
_LEAVES = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), _STRUCTURE_TEXT)
_DOCS = st.recursive(
    _LEAVES,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(_STRUCTURE_TEXT, kids, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(doc=_DOCS, wrap=st.integers(min_value=90, max_value=105), as_dict=st.booleans())
def test_the_depth_check_agrees_with_the_parsed_depth(
    doc: object, wrap: int, as_dict: bool
) -> None:
    # strings full of brackets, quotes and backslashes, wrapped to land around the limit
    for _ in range(wrap):
        doc = {'"[': doc} if as_dict else [doc, "]["]
    body = json.dumps(doc).encode()
    assert too_deep(body) is (_depth(doc) > MAX_DEPTH)
    parsed = plain_json(body, "application/json")
    assert (parsed is NOT_PLAIN_JSON) is (_depth(doc) > MAX_DEPTH)
