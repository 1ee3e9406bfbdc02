"""Property-based fuzzing: every input gives a result or one clear error, never a traceback.

The same property for each surface that reads untrusted bytes: the HAR and flow importers,
the body decoders, the differ and the rules parser. Budgets are bounded (examples and a
deadline per example) so the whole module stays well under two minutes: about 10 s on a
2-core machine (measured with `pytest tests/faults/test_fuzz.py --durations=5`), the deep
and wide differ pairs the largest share.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mitmproxy.io import tnetstring
from mitmproxy.version import FLOW_FORMAT_VERSION

from shadowdiff.analysis.accept import parse_accepted
from shadowdiff.differ import compare, lift_pair, parse_rules
from shadowdiff.differ.bodies import decode_body
from shadowdiff.errors import ShadowdiffError
from shadowdiff.recorder.importers import import_file
from shadowdiff.store import Store

pytestmark = pytest.mark.unit

FUZZ = settings(
    max_examples=60,
    deadline=2000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


# ----------------------------------------------------------------------------- importers
def _import(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    store = Store.open(tmp_path / "fuzz.db")
    try:
        try:
            import_file(store, path)
        except ShadowdiffError as exc:
            assert str(exc).strip(), "an error must say what is wrong"
        for summary in store.list_sessions():  # a failed import leaves no empty session
            assert summary.exchanges > 0
    finally:
        store.close()


har_entries = st.fixed_dictionaries(
    {
        "request": st.fixed_dictionaries(
            {
                "method": st.sampled_from(["GET", "POST", "", "\x00"]) | st.text(max_size=5),
                "url": st.sampled_from(["http://h/a?x=1", "not a url", "http://[::1", ""])
                | st.text(max_size=20),
                "headers": st.lists(
                    st.fixed_dictionaries(
                        {"name": st.text(max_size=8), "value": st.text(max_size=8)}
                    ),
                    max_size=3,
                )
                | json_values,
            }
        ),
        "response": st.fixed_dictionaries(
            {"status": st.integers() | json_scalars, "headers": st.just([]), "content": json_values}
        )
        | json_values,
        "startedDateTime": st.text(max_size=30) | json_scalars,
    }
)


@FUZZ
@given(
    doc=json_values
    | st.fixed_dictionaries({"log": json_values})
    | st.fixed_dictionaries(
        {"log": st.fixed_dictionaries({"entries": st.lists(har_entries, max_size=3)})}
    )
)
def test_har_import_never_crashes(tmp_path: Path, doc: Any) -> None:
    _import(tmp_path, "x.har", json.dumps(doc).encode())


@FUZZ
@given(data=st.binary(max_size=200))
def test_flow_import_never_crashes(tmp_path: Path, data: bytes) -> None:
    _import(tmp_path, "x.flow", data)


tnet_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.binary(max_size=12)
    | st.text(max_size=12)
)
FLOW_KEYS = b"type version id request response error client_conn server_conn metadata".split()
tnet_keys = st.sampled_from(FLOW_KEYS) | st.binary(max_size=6) | st.text(max_size=6)
tnet_values = st.recursive(
    tnet_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(tnet_keys, inner, max_size=6),
    max_leaves=25,
)
# Shaped like a flow: a known type and version (mitmproxy's own, an old one, nonsense), the
# rest arbitrary: the loader's every `get_state`/`set_state` path sees odd values.
flow_like = st.fixed_dictionaries(
    {
        b"type": st.sampled_from([b"http", b"tcp", b"udp", b"dns", b"x", "http"]) | tnet_leaves,
        b"version": st.sampled_from([FLOW_FORMAT_VERSION, 1, 7, 12, 18, 20, 99]) | tnet_values,
    },
    optional={k: tnet_values for k in FLOW_KEYS[2:]},
)


@settings(FUZZ, max_examples=200)
@given(items=st.lists(tnet_values | flow_like, min_size=1, max_size=3))
def test_flow_import_of_valid_tnetstrings_never_crashes(tmp_path: Path, items: list[Any]) -> None:
    """Well-formed tnetstrings of any structure (top-level non-dicts too, several flows in a
    row): a result or one clear error."""
    _import(tmp_path, "x.flow", b"".join(tnetstring.dumps(item) for item in items))


@pytest.mark.parametrize("version", [7, 20, [0, 11], [3, 0]])
def test_flow_import_of_a_version_that_never_converges(tmp_path: Path, version: Any) -> None:
    """mitmproxy's converters write "version"; one under b"version" never changed, and
    FlowReader looped forever (found by the property above)."""
    data = tnetstring.dumps({b"version": version, "version": version, b"type": b"http"})
    (tmp_path / "x.flow").write_bytes(data)
    with Store.open(tmp_path / "fuzz.db") as store, pytest.raises(ShadowdiffError) as err:
        import_file(store, tmp_path / "x.flow")
    assert "never reaches" in str(err.value) or "flow file" in str(err.value)


@pytest.mark.parametrize("data", [b"0:~", b"0:]", b"5:hello,", b"3:abc;", b"100000:" + b"[" * 10])
def test_flow_import_of_non_dict_tnetstrings(tmp_path: Path, data: bytes) -> None:
    _import(tmp_path, "x.flow", data)


@pytest.mark.parametrize("depth", [100, 1000, 100_000])
def test_har_import_of_deep_nesting(tmp_path: Path, depth: int) -> None:
    _import(tmp_path, "deep.har", b'{"log": {"entries": ' + b"[" * depth + b"]" * depth + b"}}")


# ------------------------------------------------------------------------------ decoders
CONTENT_TYPES = [
    None,
    "application/json",
    "application/json; charset=latin-1",
    "text/csv",
    "text/html",
    "multipart/form-data; boundary=b",
    "multipart/form-data",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "text/plain; charset=nonsense",
    "application/problem+json",
]
ENCODINGS = [None, "gzip", "deflate", "br", "gzip, gzip", "identity", "zstd", "x-unknown"]


@FUZZ
@given(
    body=st.binary(max_size=300),
    content_type=st.sampled_from(CONTENT_TYPES),
    encoding=st.sampled_from(ENCODINGS),
)
def test_decoders_never_crash(body: bytes, content_type: str | None, encoding: str | None) -> None:
    decode_body(body, content_type, encoding)


# -------------------------------------------------------------------------------- differ
RULES = parse_rules(
    '[[rules]]\nname = "t"\nkind = "tolerance"\npaths = ["body.**"]\ndigits = 5\nreason = "fuzz"\n'
)


def _compare(old: Any, new: Any) -> Any:
    headers = [("Content-Type", "application/json")]
    old_tree, new_tree = lift_pair(
        (200, headers, json.dumps(old).encode()), (200, headers, json.dumps(new).encode())
    )
    result = compare(old_tree, new_tree, RULES, "GET /x")
    if json.dumps(old, sort_keys=True) == json.dumps(new, sort_keys=True):
        assert not result.counting, "equal JSON must compare equal"
    return result


@FUZZ
@given(old=json_values, new=json_values)
def test_differ_never_crashes(old: Any, new: Any) -> None:
    _compare(old, new)


CHANGES = ("same", "leaf", "drop key", "add key", "list length", "list item", "type", "depth")


@st.composite
def big_pairs(draw: st.DrawFn) -> tuple[Any, Any, bool]:
    """An old and a new JSON document, deep (to 150 levels) and wide (200 keys, 500 items),
    the new one changed in one way somewhere (or not at all); and whether the change is one
    of structure (a difference whatever the rules)."""
    depth = draw(st.integers(0, 150))
    width = draw(st.integers(0, 200))
    length = draw(st.integers(0, 500))
    leaf = draw(json_scalars)
    change = draw(st.sampled_from(CHANGES))
    at = draw(st.integers(0, max(width, length, 1) - 1))

    def doc(w: int, n: int, value: Any, extra: dict[str, Any]) -> Any:
        wide = {f"k{i}": {"n": i, "s": f"v{i}"} for i in range(w)}
        items = [{"id": i, "tags": [i, str(i)]} for i in range(n)]
        return {"wide": wide | extra, "items": items, "leaf": value}

    old = _nested(depth, doc(width, length, leaf, {}))
    new = _nested(depth, doc(width, length, leaf, {}))  # "same", unless changed below
    if change == "drop key":
        new = _nested(depth, doc(max(width - 1, 0), length, leaf, {}))
    elif change == "add key":
        new = _nested(depth, doc(width, length, leaf, {"added": leaf}))
    elif change == "list length":
        new = _nested(depth, doc(width, max(length - 1 - at % 3, 0), leaf, {}))
    elif change == "list item" and length:
        _inner(new, depth)["items"][at % length]["tags"].append("x")
    elif change == "leaf":
        new = _nested(depth, doc(width, length, draw(json_scalars), {}))
    elif change == "type":
        new = _nested(depth, doc(width, length, [leaf], {}))
    elif change == "depth":
        new = _nested(depth + 1, doc(width, length, leaf, {}))
    return old, new, change in STRUCTURAL


STRUCTURAL = frozenset({"drop key", "add key", "list length", "type", "depth"})


def _inner(value: Any, depth: int) -> Any:
    for i in reversed(range(depth)):
        value = value["k"] if i % 2 else value[0]
    return value


@settings(FUZZ, max_examples=40, deadline=5000)
@given(pair=big_pairs())
def test_differ_on_deep_and_wide_pairs(pair: tuple[Any, Any, bool]) -> None:
    """Deep and wide documents: a result (or one clear error) in bounded time, never another
    exception; equal documents compare equal, structurally different ones do not."""
    old, new, structural = pair
    try:
        result = _compare(old, new)
    except ShadowdiffError as exc:
        assert str(exc).strip()
        return
    if structural and (old != new or type(old) is not type(new)):
        assert result.counting, "a structural change must be found"


@pytest.mark.parametrize("depth", [300, 600, 1500, 5000])
@pytest.mark.parametrize("same", [True, False])
def test_differ_on_deep_nesting(depth: int, same: bool) -> None:
    old = _nested(depth, 1)
    new = _nested(depth, 1 if same else 2)
    headers = [("Content-Type", "application/json")]
    old_b = json.dumps(old).encode() if depth < 900 else _deep_json(depth, b"1")
    new_b = json.dumps(new).encode() if depth < 900 else _deep_json(depth, b"1" if same else b"2")
    old_tree, new_tree = lift_pair((200, headers, old_b), (200, headers, new_b))
    result = compare(old_tree, new_tree, RULES, "GET /x")
    assert bool(result.counting) is (not same)


def _deep_json(depth: int, leaf: bytes) -> bytes:
    opens = b"".join(b'{"k":' if i % 2 else b"[" for i in range(depth))
    closes = b"".join(b"}" if i % 2 else b"]" for i in reversed(range(depth)))
    return opens + leaf + closes


# --------------------------------------------------------------------------------- rules
toml_keys = st.sampled_from(
    [
        "name",
        "kind",
        "paths",
        "reason",
        "digits",
        "statuses",
        "groups",
        "endpoints",
        "rel",
        "abs",
        "only",
        "ignore",
    ]
)
toml_scalars = st.integers(-5, 500) | st.text(string.printable, max_size=10) | st.booleans()


@FUZZ
@given(
    rules=st.lists(
        st.dictionaries(toml_keys, toml_scalars | st.lists(toml_scalars, max_size=3)), max_size=3
    )
)
def test_rules_parser_never_crashes(rules: list[dict[str, Any]]) -> None:
    text = "".join(
        "[[rules]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in r.items()) for r in rules
    )
    try:
        parse_rules(text, "fuzz.toml")
    except ShadowdiffError as exc:
        assert str(exc).startswith("fuzz.toml")


@FUZZ
@given(text=st.text(max_size=200))
def test_rules_parser_never_crashes_on_text(text: str) -> None:
    try:
        parse_rules(text, "fuzz.toml")
    except ShadowdiffError as exc:
        assert str(exc).startswith("fuzz.toml")


@pytest.mark.parametrize("depth", [100, 5000])
def test_rules_parser_on_deep_toml(depth: int) -> None:
    text = "x = " + "[" * depth + "]" * depth
    try:
        parse_rules(text, "deep.toml")
    except ShadowdiffError as exc:
        assert str(exc).startswith("deep.toml")



def _har(url: str, header_value: str, status: Any = 200) -> bytes:
    entry = {
        "startedDateTime": "2026-01-01T00:00:00Z",
        "request": {"method": "GET", "url": url, "headers": [{"name": "X", "value": header_value}]},
        "response": {"status": status, "headers": [], "content": {"text": "ok"}},
    }
    return json.dumps({"log": {"entries": [entry]}}).encode()


@pytest.mark.parametrize(
    "data",
    [
        _har("http://h/a", "\ud800"),
        _har("http://h/\udc80?q=\ud83d", "v"),
        _har("http://h/a", "v", 10**30),
        _har("http://h/a", "v", True),
        b'{"log": []}',
        b'{"log": {"entries": 5}}',
    ],
    ids=[
        "surrogate-header",
        "surrogate-url",
        "huge-status",
        "bool-status",
        "log-list",
        "entries-int",
    ],
)
def test_har_import_of_odd_values(tmp_path: Path, data: bytes) -> None:
    _import(tmp_path, "odd.har", data)


@pytest.mark.parametrize("depth", [100, 5000])
def test_accepted_file_parser_on_deep_toml(depth: int) -> None:
    text = "x = " + "[" * depth + "]" * depth
    try:
        parse_accepted(text, "deep.toml")
    except ShadowdiffError as exc:
        assert str(exc).startswith("deep.toml")
