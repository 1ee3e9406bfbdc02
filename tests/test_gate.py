"""The gate, accepted files and noise-adjusted counts on real SQLite stores.

Runs are built with the Store API (session, exchanges, runs, replays) and diffed by the real
`diff_run`, so every diff row the gate reads was produced by the differ.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from shadowdiff.analysis.accept import (
    HEADER,
    AcceptedFileError,
    AcceptError,
    accept,
    load_accepted,
    parse_accepted,
)
from shadowdiff.analysis.gate import GateError, GateLimits, evaluate
from shadowdiff.analysis.noise import noise_adjusted
from shadowdiff.differ import parse_rules
from shadowdiff.report.junit import write_gate_junit
from shadowdiff.report.model import build_report
from shadowdiff.store import Store
from tests.stores import Answer, Side, add_run, replayed_run, same, session

pytestmark = pytest.mark.unit

STRUCT = "; pass --allow-structural to permit"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "gate.db") as s:
        yield s


def changed(indices: set[int], **change: Any) -> Side:
    def side(i: int, body: dict[str, Any]) -> Answer:
        return Answer({**body, **change} if i in indices else body)

    return side


# --------------------------------------------------------------------------- limits


def test_clean_run_passes(store: Store) -> None:
    exs = session(store, [("/a", {"v": i}) for i in range(20)])
    add_run(store, exs, "cand", same)
    result = evaluate(store, "cand", GateLimits())
    assert (result.exit_code, result.reasons) == (0, [])
    assert result.lines()[0].startswith("gate PASS: run cand: 20 requests, 0 differing")


def test_max_diff_rate(store: Store) -> None:
    exs = session(store, [("/a", {"v": i}) for i in range(100)])
    add_run(store, exs, "cand", changed({3, 50, 99}, v=-1))
    result = evaluate(store, "cand", GateLimits())
    assert result.exit_code == 1
    assert result.reasons == ["diff rate 3.0% (3/100) exceeds --max-diff-rate 0.0%"]
    assert evaluate(store, "cand", GateLimits(max_diff_rate=0.03)).exit_code == 0  # at the limit
    tight = evaluate(store, "cand", GateLimits(max_diff_rate=0.02))
    assert tight.reasons == ["diff rate 3.0% (3/100) exceeds --max-diff-rate 2.0%"]


def test_max_endpoint_diff_rate(store: Store) -> None:
    exs = session(store, [("/a", {"v": i}) for i in range(10)] + [("/b", {"w": 1})] * 90)
    add_run(store, exs, "cand", changed({0, 1, 2}, v=-1))
    limits = GateLimits(max_diff_rate=0.05, max_endpoint_diff_rate=0.1)
    result = evaluate(store, "cand", limits)
    assert (result.exit_code, result.reasons) == (
        1,
        ["GET /a: diff rate 30.0% (3/10) exceeds --max-endpoint-diff-rate 10.0%"],
    )
    ok = GateLimits(max_diff_rate=0.05, max_endpoint_diff_rate=0.3)
    assert evaluate(store, "cand", ok).exit_code == 0


def test_structural_differences_fail_unless_allowed(store: Store) -> None:
    exs = session(store, [("/s", {"x": 1, "y": 2, "v": 3}) for _ in range(10)])

    def new(i: int, body: dict[str, Any]) -> Answer:
        if i in (0, 1):
            return Answer({"y": 2, "v": 3})  # x missing
        if i == 2:
            return Answer({**body, "y": "2"})  # type
        if i == 3:
            return Answer(body, status=500)  # status
        if i == 4:
            return Answer({**body, "extra": True, "v": 4})  # extra + value
        if i == 5:
            return Answer({**body, "allowed": 1})  # absorbed by allow_extra
        if i == 6:
            return Answer({**body, "v": 30})  # a value change is not structural
        return Answer(body)

    rules = parse_rules(
        '[[rules]]\nkind = "allow_extra"\npath = "body.allowed"\nreason = "new field"\n'
    )
    add_run(store, exs, "cand", new, rules=rules)
    result = evaluate(store, "cand", GateLimits(max_diff_rate=1.0))
    assert result.exit_code == 1
    assert result.reasons == [
        f"structural difference body.extra:extra in GET /s (1 requests){STRUCT}",
        f"structural difference body.x:missing in GET /s (2 requests){STRUCT}",
        f"structural difference body.y:type in GET /s (1 requests){STRUCT}",
        f"structural difference status:status in GET /s (1 requests){STRUCT}",
    ]
    allowed = evaluate(store, "cand", GateLimits(max_diff_rate=1.0, allow_structural=True))
    assert (allowed.exit_code, allowed.reasons) == (0, [])
    # the absorbed extra key did not make its exchange differ
    assert allowed.counted == 6


def test_min_samples_fails_thin_endpoints(store: Store) -> None:
    exs = session(store, [("/few", {"a": 1})] * 3 + [("/many", {"b": 1})] * 10)
    add_run(store, exs, "cand", same)
    result = evaluate(store, "cand", GateLimits(min_samples=5))
    assert (result.exit_code, result.reasons) == (
        1,
        ["GET /few: only 3 samples (< --min-samples 5)"],
    )
    assert evaluate(store, "cand", GateLimits(min_samples=3)).exit_code == 0


def test_errors_count_as_differing(store: Store) -> None:
    exs = session(store, [("/e", {"v": i}) for i in range(10)])
    failures = {
        0: "connect: [Errno 111] Connection refused",
        1: "connect: [Errno 111] Connection refused",
        2: "timeout: ReadTimeout",
    }

    def new(i: int, body: dict[str, Any]) -> Answer:
        if i in failures:
            return Answer(error=failures[i])
        return Answer({**body, "v": -1} if i in (3, 4) else body)

    add_run(store, exs, "cand", new)
    result = evaluate(store, "cand", GateLimits())
    assert result.exit_code == 1
    assert result.reasons == [
        "diff rate 50.0% (5/10) exceeds --max-diff-rate 0.0%",
        "errors: 3 requests failed (connect: 2, timeout: 1)",
    ]
    # errors within the budget are not a reason of their own
    assert evaluate(store, "cand", GateLimits(max_diff_rate=0.3)).reasons == [
        "diff rate 50.0% (5/10) exceeds --max-diff-rate 30.0%"
    ]
    assert evaluate(store, "cand", GateLimits(max_diff_rate=0.5)).exit_code == 0


def test_latency_ratio_against_baseline_and_recording(store: Store) -> None:
    exs = session(store, [("/slow", {"v": i}) for i in range(6)] + [("/fast", {"w": 1})] * 6)

    def new(i: int, body: dict[str, Any]) -> Answer:
        return Answer(body, ms=30.0 if i < 6 else 10.0)

    add_run(store, exs, "cand", new, base=lambda i, body: Answer(body, ms=10.0))
    result = evaluate(store, "cand", GateLimits(max_latency_ratio=1.5))
    assert result.reasons == [
        "GET /slow: p50 latency ratio 3.00 (30.0 ms new / 10.0 ms old, baseline run) "
        "exceeds --max-latency-ratio 1.5"
    ]
    assert evaluate(store, "cand", GateLimits(max_latency_ratio=3.0)).exit_code == 0
    # without a baseline run the recorded durations (20 ms) are the old side
    add_run(store, exs, "solo", new)
    solo = evaluate(store, "solo", GateLimits(max_latency_ratio=1.2))
    assert solo.reasons == [
        "GET /slow: p50 latency ratio 1.50 (30.0 ms new / 20.0 ms old, recording) "
        "exceeds --max-latency-ratio 1.2"
    ]
    # the report shows the same comparison, marked with its basis
    for name, gated, basis in (("cand", result, "baseline"), ("solo", solo, "recorded")):
        report = build_report(store, name)
        assert report.latency.basis == basis
        for e in report.endpoints:
            stats = next(s for s in gated.endpoints if s.endpoint == e.endpoint)
            assert (e.latency.old.p50, e.latency.new.p50) == (stats.p50_old_ms, stats.p50_new_ms)


def test_noise_adjusted_rates(store: Store) -> None:
    exs = session(store, [("/n", {"v": 1, "nonce": f"rec{i}"}) for i in range(20)])

    def new(i: int, body: dict[str, Any]) -> Answer:
        return Answer({**body, "nonce": f"new{i}", **({"v": 2} if i < 2 else {})})

    add_run(store, exs, "cand", new, base=lambda i, body: Answer({**body, "nonce": f"old{i}"}))
    adjusted = evaluate(store, "cand", GateLimits())
    assert adjusted.reasons == [
        "diff rate 10.0% (2/20, noise-adjusted: 18 noise-only excluded) exceeds "
        "--max-diff-rate 0.0%"
    ]
    raw = evaluate(store, "cand", GateLimits(noise_adjusted=False))
    assert raw.reasons == ["diff rate 100.0% (20/20) exceeds --max-diff-rate 0.0%"]
    counts = noise_adjusted(store, "cand")["GET /n"]
    assert (counts.requests, counts.differing, counts.adjusted, counts.noise_only) == (
        20,
        20,
        2,
        18,
    )
    # noise-only signatures are not "new" either
    empty = parse_accepted(HEADER + "\n", "acc.toml")
    with_file = evaluate(store, "cand", GateLimits(max_diff_rate=1.0, accepted=empty))
    sig = store.db.execute(
        "SELECT DISTINCT signature, signature_text FROM diffs d JOIN runs r ON r.id = d.run_id "
        "WHERE r.name = 'cand' AND signature_text LIKE '%body.v%'"
    ).fetchone()
    assert with_file.reasons == [
        f"new signature {sig[0]} {sig[1]} (2 requests) not in accepted file"
    ]


def test_interrupted_run_fails(store: Store) -> None:
    exs = session(store, [("/a", {"v": 1})] * 4)
    add_run(store, exs, "cut", same, status="interrupted")
    result = evaluate(store, "cut", GateLimits())
    assert result.exit_code == 1
    assert result.reasons[0].startswith("run cut is interrupted, not complete")


# --------------------------------------------------------------------------- accepted files


def _signature(store: Store, run: str, fragment: str) -> tuple[str, str]:
    row = store.db.execute(
        "SELECT DISTINCT d.signature, d.signature_text FROM diffs d JOIN runs r "
        "ON r.id = d.run_id WHERE r.name = ? AND d.signature_text LIKE ?",
        [run, f"%{fragment}%"],
    ).fetchone()
    assert row is not None, fragment
    return str(row[0]), str(row[1])


def test_accept_then_gate_new_old_and_expired(store: Store, tmp_path: Path) -> None:
    exs = session(store, [("/acc", {"a": 1, "b": 1, "c": 1}) for _ in range(10)])

    def one(i: int, body: dict[str, Any]) -> Answer:
        return Answer({**body, "a": 2} if i < 5 else {**body, "b": 2} if i < 8 else body)

    add_run(store, exs, "one", one)
    add_run(store, exs, "two", lambda i, b: Answer({**b, "a": 2} if i < 5 else {**b, "c": 2}))
    out = tmp_path / "accepted.toml"
    day = date(2026, 11, 21)
    accept(store, "one", out, "rounding agreed", "alice", date(2027, 1, 31), today=day)
    text = out.read_text()
    assert text.startswith(HEADER + "\n")
    sig_a, text_a = _signature(store, "one", "body.a")
    sig_b, _ = _signature(store, "one", "body.b")
    sig_c, text_c = _signature(store, "two", "body.c")
    assert f'signature = "{sig_a}"\ntext = "{text_a}"\ncount = 5\n' in text
    assert 'owner = "alice"\nexpires = 2027-01-31\naccepted_at = 2026-11-21' in text
    accepted = load_accepted(out)
    assert [e.signature for e in accepted] == [sig_a, sig_b]

    limits = GateLimits(accepted=accepted)
    result = evaluate(store, "two", limits, today=date(2027, 1, 31))  # last valid day
    assert result.reasons == [
        "diff rate 50.0% (5/10, 5 accepted excluded) exceeds --max-diff-rate 0.0%",
        f"new signature {sig_c} {text_c} (5 requests) not in accepted file",
    ]
    loose = GateLimits(accepted=accepted, max_diff_rate=0.5)
    assert evaluate(store, "two", loose, today=day).reasons == [
        f"new signature {sig_c} {text_c} (5 requests) not in accepted file"
    ]
    late = evaluate(store, "two", loose, today=date(2027, 2, 1))
    assert late.exit_code == 1
    assert late.reasons == [
        "diff rate 100.0% (10/10, 0 accepted excluded) exceeds --max-diff-rate 50.0%",
        f"new signature {sig_c} {text_c} (5 requests) not in accepted file",
        f"accepted signature {sig_a} {text_a} (5 requests) expired on 2027-01-31",
    ]

    # merging: old entries kept, a re-accepted one updated in place, new ones appended
    merged = accept(store, "two", out, "c is the new contract", None, None, today=day)
    assert [e.signature for e in merged] == [sig_a, sig_b, sig_c]
    again = load_accepted(out)
    assert again.get(sig_a) == merged.get(sig_a)
    a = again.get(sig_a)
    assert a is not None and (a.reason, a.owner, a.expires) == ("c is the new contract", None, None)
    b = again.get(sig_b)
    assert b is not None and (b.reason, b.owner, b.count) == ("rounding agreed", "alice", 3)
    final = evaluate(store, "two", GateLimits(accepted=again), today=date(2030, 1, 1))
    assert (final.exit_code, final.reasons) == (0, [])


def test_accept_keeps_the_comments_and_order_of_an_edited_file(
    store: Store, tmp_path: Path
) -> None:
    exs = session(store, [("/acc", {"a": 1, "b": 1, "c": 1}) for _ in range(10)])
    add_run(store, exs, "one", changed({0, 1, 2, 3, 4}, a=2))
    # body.a on 6 requests, body.c on 4: accept orders new signatures by count, not by hash
    add_run(store, exs, "two", lambda i, b: Answer({**b, "a": 2} if i < 6 else {**b, "c": 2}))
    sig_a, _ = _signature(store, "one", "body.a")
    sig_c, _ = _signature(store, "two", "body.c")
    out = tmp_path / "accepted.toml"
    edited = (
        f"{HEADER}\n# reviewed by the data team on 2026-11-20\n\n"
        "[[accepted]]\n"
        'signature = "0123456789ab"  # the old header change\n'
        'text = \'GET /x | headers.x:value\'\nreason = "known"\nexpires = "2030-01-01"\n\n'
        "# rounding: see the ticket\n"
        f'[[accepted]]\nsignature = "{sig_a}"  # keep this note\ntext = "a"\n'
        'reason = "first look"\nowner = "alice"\n'
    )
    out.write_text(edited)
    merged = accept(store, "two", out, "agreed", None, None, today=date(2026, 11, 21))
    assert [e.signature for e in merged] == ["0123456789ab", sig_a, sig_c]
    text = out.read_text()
    for kept in (
        f"{HEADER}\n# reviewed by the data team on 2026-11-20\n\n[[accepted]]\n",
        '"0123456789ab"  # the old header change\n',
        "# rounding: see the ticket\n[[accepted]]\n",
        f'signature = "{sig_a}"  # keep this note\n',
        'text = \'GET /x | headers.x:value\'\nreason = "known"\nexpires = "2030-01-01"\n',
    ):
        assert kept in text
    assert "owner" not in text and 'reason = "first look"' not in text
    assert text.index(sig_a) < text.index(sig_c)
    assert load_accepted(out).get(sig_a) == merged.get(sig_a)

    inline = tmp_path / "inline.toml"
    inline.write_text('accepted = [{signature = "0123456789ab", text = "t", reason = "r"}]\n')
    accept(store, "two", inline, "agreed", None, None)
    assert [e.signature for e in load_accepted(inline)] == ["0123456789ab", sig_a, sig_c]


def test_accept_needs_a_reason_and_differences(store: Store, tmp_path: Path) -> None:
    exs = session(store, [("/a", {"v": 1})] * 3)
    add_run(store, exs, "clean", same)
    with pytest.raises(AcceptError, match="reason is required"):
        accept(store, "clean", tmp_path / "a.toml", "  ", None, None)
    with pytest.raises(AcceptError, match="no differing requests"):
        accept(store, "clean", tmp_path / "a.toml", "why", None, None)
    assert not (tmp_path / "a.toml").exists()


GOOD = """# shadowdiff accepted differences — review like code

[[accepted]]
signature = "0123456789ab"
text = "GET /a | body.v:value"
reason = "ok"
"""


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("[[accepted]]\nsignature = \n", 2, "invalid TOML"),
        (GOOD + '\n[[accepted]]\nsignature = "ba9876543210"\ntext = "x"\n', 8, "missing 'reason'"),
        (GOOD + "expires = 2026-02-30\n", 7, "invalid TOML"),
        (GOOD + 'expires = "next year"\n', 7, "bad date for 'expires'"),
        (GOOD + "accepted_at = 2026-01-01T10:00:00Z\n", 7, "bad date for 'accepted_at'"),
        (GOOD + "owner = 3\n", 7, "'owner' must be a non-empty string"),
        (GOOD + "expire = 2026-01-01\n", 7, "unknown key 'expire'"),
        (GOOD.replace("0123456789ab", "xyz"), 4, "bad signature 'xyz'"),
        (GOOD + GOOD.split("\n", 1)[1], 8, "signature 0123456789ab listed twice"),
        ('title = "x"\n' + GOOD, 1, "unknown top-level key 'title'"),
    ],
)
def test_bad_accepted_file_is_one_line(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = tmp_path / "accepted.toml"
    path.write_text(text)
    with pytest.raises(AcceptedFileError) as info:
        load_accepted(path)
    message = str(info.value)
    assert isinstance(info.value, GateError)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: ") and problem in message, message


def test_missing_accepted_file_and_good_file(tmp_path: Path) -> None:
    with pytest.raises(AcceptedFileError, match="no such accepted file"):
        load_accepted(tmp_path / "nope.toml")
    path = tmp_path / "ok.toml"
    path.write_text(GOOD + "expires = 2026-01-01\n")
    entry = load_accepted(path).get("0123456789ab")
    assert entry is not None and entry.expires == date(2026, 1, 1)
    assert entry.expired(date(2026, 1, 2)) and not entry.expired(date(2026, 1, 1))


def test_accept_refuses_to_overwrite_a_broken_file(store: Store, tmp_path: Path) -> None:
    exs = session(store, [("/a", {"v": 1})] * 2)
    add_run(store, exs, "cand", changed({0}, v=2))
    out = tmp_path / "accepted.toml"
    out.write_text("[[accepted]\n")
    with pytest.raises(AcceptedFileError, match=r"accepted\.toml:1: invalid TOML"):
        accept(store, "cand", out, "why", None, None)
    assert out.read_text() == "[[accepted]\n"


# --------------------------------------------------------------------------- trouble


def test_missing_undiffed_and_baseline_runs_are_trouble(store: Store) -> None:
    with pytest.raises(GateError, match="no run 'nope'"):
        evaluate(store, "nope", GateLimits())
    exs = session(store, [("/a", {"v": 1})] * 2)
    replayed_run(store, exs, "raw", same)  # replayed, never diffed
    with pytest.raises(GateError, match="has not been diffed yet"):
        evaluate(store, "raw", GateLimits())
    add_run(store, exs, "paired", same, base=same)
    with pytest.raises(GateError, match="baseline run .* gate the candidate run 'paired'"):
        evaluate(store, "paired-baseline", GateLimits())
    with pytest.raises(GateError, match="no run 'gone'"):
        accept(store, "gone", Path("unused.toml"), "why", None, None)


# --------------------------------------------------------------------------- JUnit


def test_junit_has_a_testcase_per_endpoint_failing_for_its_limits(
    store: Store, tmp_path: Path
) -> None:
    exs = session(store, [("/a", {"v": i}) for i in range(10)] + [("/b", {"w": 1})] * 3)
    add_run(store, exs, "cand", lambda i, b: Answer({} if i == 0 else b))
    result = evaluate(store, "cand", GateLimits(min_samples=5, max_endpoint_diff_rate=0.05))
    path = tmp_path / "junit.xml"
    write_gate_junit(result, path)
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"GET /a", "GET /b"}  # the report's layout: one per endpoint
    assert {c.get("classname") for c in cases.values()} == {"shadowdiff.cand"}
    failing = {
        name: c.find("failure") for name, c in cases.items() if c.find("failure") is not None
    }
    assert set(failing) == {"GET /a", "GET /b"}
    assert suite.get("failures") == "2" and suite.get("tests") == "2"
    a_fail = failing["GET /a"]
    assert a_fail is not None
    own = [f.text for f in result.findings if f.endpoint == "GET /a"]
    run_wide = [f.text for f in result.findings if f.check == "diff rate"]
    assert (a_fail.text or "").splitlines() == own + run_wide  # /a has counted differences
    assert a_fail.get("message") == own[0]
    assert "structural difference body.v:missing in GET /a" in (a_fail.text or "")
    b_fail = failing["GET /b"]
    assert b_fail is not None
    assert b_fail.get("message") == "GET /b: only 3 samples (< --min-samples 5)"
    assert (b_fail.text or "").splitlines() == [b_fail.get("message")]  # /b differs nowhere

    clean_db = tmp_path / "clean.db"
    with Store.open(clean_db) as clean:
        add_run(clean, session(clean, [("/a", {"v": 1})] * 2), "ok", same)
        write_gate_junit(evaluate(clean, "ok", GateLimits()), path)
    assert ET.parse(path).getroot().find(".//failure") is None
