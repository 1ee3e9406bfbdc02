"""The rows a diff stores, built the cheap way, are those of the plain definition.

`diffrun._field_rows` builds `diff_fields` rows straight from the differ's pending absorbed
entries (and `hold_volatile` keeps them pending); here every row is checked against the rows
made from the built `Comparison.fields`, as the definition says: counting differences one row
each, absorbed ones once per (rule, general path, kind). Also: stored JSON values of floats and
nulls are json.dumps's text, the traceback normaliser gives the same pair with or without the
fast path's canonical bytes, and a follower's poll reads no replay it has seen already.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowdiff.analysis.diffrun import _absorbed_side, _field_rows, _json_value
from shadowdiff.differ import (
    Comparison,
    RuleSet,
    compare,
    generalize_path,
    hold_volatile,
    lift,
    load_preset,
    parse_rules,
)
from shadowdiff.differ.fields import PLAIN, FieldDiff, PendingFields, shown
from shadowdiff.differ.normalizers import TRACEBACK_HEADER, apply_normalizers
from shadowdiff.differ.volatile import _case
from shadowdiff.store import Replay, Store
from shadowdiff.vocabulary import DiffKind
from tests.stores import session

pytestmark = pytest.mark.unit

EP = "POST /predict/"
TIMES = (1_796_037_126.0, 1_796_037_127.0)
RULES = """
[[rules]]
name = "floats"
kind = "tolerance"
path = "body.predictions[*]"
abs = 1e-6
reason = "float paths"

[[rules]]
name = "gone"
kind = "ignore"
path = "body.debug"
reason = "debug output"
"""


def _rules() -> RuleSet:
    return load_preset("flask-to-fastapi").merge(parse_rules(RULES, "test.toml"))


def _answer(headers: list[tuple[str, str]], body: dict[str, Any]) -> dict[str, Any]:
    return lift(200, [("Content-Type", "application/json"), *headers], json.dumps(body).encode())


def _stamp(second: int) -> str:
    return f"2026-11-30T11:12:{second:02d}.123456+00:00"


def _pair(i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Framing, date and server headers, floats within and beyond the tolerance, a volatile
    uuid and timestamp, an ignored key, and (for some i) counting differences."""
    preds = [0.1 * k for k in range(5)]
    old = _answer(
        [("Date", "Mon, 30 Nov 2026 11:12:06 GMT"), ("Server", "gunicorn"),
         ("Connection", "keep-alive"), ("X-Request-ID", str(uuid.uuid4()))],
        {"predictions": preds, "request_id": str(uuid.uuid4()), "timestamp": _stamp(6),
         "debug": {"pid": 1}, "model": "m1", "n": i},
    )  # fmt: skip
    new_preds = [p + (1e-9 if k % 2 else 0.0) + (0.5 if i % 3 == 0 and k == 4 else 0.0)
                 for k, p in enumerate(preds)]  # fmt: skip
    new = _answer(
        [("date", "Mon, 30 Nov 2026 11:12:07 GMT"), ("server", "uvicorn"),
         ("x-request-id", str(uuid.uuid4()))],
        {"predictions": new_preds, "request_id": str(uuid.uuid4()), "timestamp": _stamp(7),
         "debug": {"pid": 2}, "model": "m1" if i % 2 else "m2", "n": i,
         **({"extra": None} if i % 5 == 0 else {})},
    )  # fmt: skip
    return old, new


def _defined_rows(result: Comparison) -> list[tuple[Any, ...]]:
    """The rows as defined, from the built fields."""
    fields = result.fields
    rows = [_defined_row(f) for f in fields if f.rule is None]
    seen = set()
    for f in fields:
        key = (f.rule, generalize_path(f.path), f.kind)
        if f.rule is not None and key not in seen:
            seen.add(key)
            rows.append(_defined_row(f))
    return rows


def _defined_row(f: FieldDiff) -> tuple[Any, ...]:
    left = _json_value(f.left, f.kind == DiffKind.EXTRA)
    right = _json_value(f.right, f.kind == DiffKind.MISSING)
    general = generalize_path(f.path)
    return (1, 2, EP, f.part, f.path, general, f.kind, left, right, f.rule, f.change)


@pytest.mark.parametrize("held", [True, False])
@pytest.mark.parametrize("i", range(6))
def test_rows_from_pending_differences_are_the_defined_rows(i: int, held: bool) -> None:
    rules = _rules()
    old, new = _pair(i)

    def result() -> Comparison:
        r = compare(old, new, rules, EP, times=TIMES)
        return hold_volatile(r, EP, lambda f: held)[0]

    pending, built = result(), result()
    kept = pending.__dict__["_fields"]  # what the differ left pending: absorbed, held
    assert type(kept) is PendingFields and kept.absorbed and bool(kept.held) == held
    expected = _defined_rows(built)  # builds `fields`: the plain list from then on
    assert [f.rule for f in built.fields if f.rule is not None]  # absorbed ones exist
    assert _field_rows(1, 2, EP, pending) == expected
    assert _field_rows(1, 2, EP, built) == expected
    counted = [r for r in expected if r[9] is None]
    assert len(counted) == len(pending.counting)
    if held:  # the volatile values are absorbed, after the rules' differences
        marks = [r[4] for r in expected if r[9] == "(volatile)"]
        assert marks == ["body.request_id", "body.timestamp"]
        assert expected[-1][9] == "(volatile)"


def test_held_values_keep_their_change_class_and_the_fields_order() -> None:
    old, new = _pair(1)
    result = compare(old, new, _rules(), EP, times=TIMES)
    plain = [(f.path, f.rule, f.change) for f in result.fields]
    held, n = hold_volatile(compare(old, new, _rules(), EP, times=TIMES), EP, lambda f: True)
    assert n == 2
    absorbed = [p for p in plain if p[1] is not None]
    volatile = [(p, "(volatile)", c) for p, r, c in plain if r is None and c == "volatile"]
    rest = [p for p in plain if p[1] is None and p[2] != "volatile"]
    assert [(f.path, f.rule, f.change) for f in held.fields] == absorbed + volatile + rest


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.floats(), st.none(), st.booleans(), st.integers(), st.text(max_size=40)))
def test_stored_json_values_are_json_dumps_text(value: Any) -> None:
    assert _json_value(value) == json.dumps(value, ensure_ascii=False, default=str)
    assert _json_value(value, absent=True) is None


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=30),
        st.text(alphabet='\x00"\\a\udc80', min_size=1990, max_size=2100),
        st.floats(),
        st.none(),
        st.integers(),
        st.lists(st.integers(), max_size=3),
    ),
    st.booleans(),
)
def test_an_absorbed_side_is_stored_as_its_shown_value(value: Any, absent: bool) -> None:
    held = value if type(value) in PLAIN else shown(value)
    assert _absorbed_side(value, absent) == _json_value(held, absent)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abcXYZ019-_ ÄßΣσ١", max_size=12))
def test_letter_case_of_a_shape(text: str) -> None:
    letters = [c for c in text if c.isalpha()]
    expected = (
        "none" if not letters
        else "lower" if all(c.islower() for c in letters)
        else "upper" if all(c.isupper() for c in letters)
        else "mixed"
    )  # fmt: skip
    assert _case(text) == expected


def _traceback(frame: str) -> list[str]:
    return [TRACEBACK_HEADER, f'  File "{frame}", line 3, in f', "ValueError: x"]


@pytest.mark.parametrize(
    ("old_body", "new_body"),
    [
        ({"trace": _traceback("/srv/a.py")}, {"trace": _traceback("/app/b.py")}),
        ({"trace": _traceback("/srv/a.py")}, {"trace": ["no traceback here"]}),
        ({"trace": "\n".join(_traceback("/srv/a.py"))}, {"trace": "plain"}),
        ({"msg": "a"}, {"msg": "b"}),
    ],
)
def test_tracebacks_normalised_alike_with_or_without_canonical_bytes(
    old_body: Any, new_body: Any
) -> None:
    rules = [r for r in load_preset("flask-to-fastapi") if r.normalizer is not None]
    old = {"status": 500, "headers": {}, "body": old_body}
    new = {"status": 500, "headers": {}, "body": new_body}
    texts = (json.dumps(old, sort_keys=True).encode(), json.dumps(new, sort_keys=True).encode())
    slow: list[Any] = []
    fast: list[Any] = []
    assert apply_normalizers(rules, old, new, fast, texts) == apply_normalizers(
        rules, old, new, slow
    )
    assert fast == slow
    both = TRACEBACK_HEADER in json.dumps(old_body) and TRACEBACK_HEADER in json.dumps(new_body)
    assert bool(slow) == both  # only two tracebacks are ever absorbed


def _replay(run_id: int, exchange_id: int) -> Replay:
    return Replay(run_id=run_id, exchange_id=exchange_id, status=200, headers=[], body=b"{}",
                  started_at=2.0, duration_ms=1.0)  # fmt: skip


def test_a_poll_reads_only_the_replays_stored_since(tmp_path: Any) -> None:
    with Store.open(tmp_path / "s.db") as store:
        exchanges = session(store, [(f"/x/{i}", {"i": i}) for i in range(400)])
        sid = exchanges[0].session_id
        a = store.create_run(sid, kind="candidate", target="http://a", name="a")
        b = store.create_run(sid, kind="baseline", target="http://b", name="b")
        for ex in exchanges:  # the two runs' replays interleaved, as a replay writes them
            store.add_replays([_replay(a.id, ex.id), _replay(b.id, ex.id)])
        rows = store.replays_after(a.id, 0, 1000)
        assert [x for _, x in rows] == [ex.id for ex in exchanges]
        assert store.replays_after(a.id, rows[99][0], 3) == rows[100:103]
        last = rows[-1][0]
        assert store.replays_after(a.id, last, 1000) == []
        steps = _vm_steps(store.db.conn, lambda: store.replays_after(a.id, last, 1000))
        store.add_replays([_replay(a.id, exchanges[0].id + 10_000)])
        assert [x for _, x in store.replays_after(a.id, last, 1000)] == [exchanges[0].id + 10_000]
    # a poll past the end walks none of the 400 replays stored before
    assert steps < 100


def test_a_first_poll_skips_the_replays_of_earlier_runs(tmp_path: Any) -> None:
    with Store.open(tmp_path / "s.db") as store:
        exchanges = session(store, [(f"/x/{i}", {"i": i}) for i in range(400)])
        sid = exchanges[0].session_id
        old = store.create_run(sid, kind="candidate", target="http://a", name="old")
        store.add_replays([_replay(old.id, ex.id) for ex in exchanges])
        new = store.create_run(sid, kind="candidate", target="http://a", name="new")
        steps = _vm_steps(store.db.conn, lambda: store.replays_after(new.id, 0, 1000))
        assert store.replays_after(new.id, 0, 1000) == []
        store.add_replays([_replay(new.id, ex.id) for ex in exchanges[:2]])
        first = store.replays_after(new.id, 0, 1000)
        assert [x for _, x in first] == [ex.id for ex in exchanges[:2]]
        assert store.replays_after(new.id, first[0][0], 1000) == first[1:]
    assert steps < 100  # the 400 replays of the earlier run are not walked


def _vm_steps(conn: sqlite3.Connection, fn: Any) -> int:
    """SQLite virtual machine instructions `fn` runs (a measure of the rows it visits)."""
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0

    conn.set_progress_handler(tick, 1)
    try:
        fn()
    finally:
        conn.set_progress_handler(None, 1)
    return count[0]
