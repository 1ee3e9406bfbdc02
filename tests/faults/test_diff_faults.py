"""`diff` never loses a run to one exchange, and a body cut at a size cap is compared by
prefix and size only."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from shadowdiff.analysis.diffrun import diff_run, load_ruleset
from shadowdiff.differ import RuleSet, compare
from shadowdiff.differ.normalize import lift_replayed
from shadowdiff.records import Exchange, Replay
from shadowdiff.store import Store
from tests.faults.replayservers import pattern_bytes, recorded, streaming_server

SHADOWDIFF = [sys.executable, "-m", "shadowdiff"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SHADOWDIFF, *args], capture_output=True, text=True, timeout=120)


def _run_with_answers(db: Path, paths: list[str]) -> None:
    """Recorded GETs of `paths` and a run `r` that got the same answers."""
    exchanges = recorded(db, [("GET", p) for p in paths])
    with Store.open(db) as store:
        run = store.create_run(
            exchanges[0].session_id or 0, kind="candidate", target="http://n", name="r"
        )
        store.add_replays(
            Replay(run.id, ex.id or 0, 200, "OK", [("Content-Type", "application/json")],
                   b'{"ok": true}', 2.0, 5.0)
            for ex in exchanges
        )  # fmt: skip
        store.finish_run(run.id, "complete")


@pytest.mark.e2e
def test_diff_gives_an_exchange_it_cannot_handle_verdict_error_and_diffs_the_rest(
    tmp_path: Path,
) -> None:
    db = tmp_path / "d.db"
    _run_with_answers(db, ["/a", "/bad", "/c"])
    with Store.open(db) as store:  # a stored response header whose name is not text
        store.db.execute(
            "UPDATE exchanges SET response_headers = ? WHERE path = '/bad'", ['[[1, "x"]]']
        )
        store.db.conn.commit()
    result = _cli("diff", "r", "--db", str(db), "--no-preset")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    text = " ".join(result.stdout.split())
    assert "3 compared, 2 same, 0 different (0.0%), 1 errors" in text
    assert "could not diff GET /bad" in result.stderr and "diff: AttributeError" in result.stderr
    with Store.open(db) as store:
        rows = store.db.execute(
            "SELECT endpoint, verdict, error_kind, signature_text FROM diffs ORDER BY exchange_id"
        ).fetchall()
    assert [r[:3] for r in rows] == [
        ("GET /a", "same", None),
        ("GET /bad", "error", "diff"),
        ("GET /c", "same", None),
    ]
    assert rows[1][3] == "GET /bad | error:diff: AttributeError"
    # a run with diffs: report and gate judge it
    assert _cli("report", "r", "--db", str(db)).returncode == 0


def _pair(old: bytes, new: bytes, *, old_cut: bool, new_cut: bool) -> tuple[Any, Any]:
    ex = Exchange("GET", "/f", status=200, response_body=old, response_truncated=old_cut,
                  response_headers=[("Content-Type", "application/octet-stream")])  # fmt: skip
    rp = Replay(1, 1, 200, "OK", [("Content-Type", "application/octet-stream")], new,
                flags=["truncated"] if new_cut else [])  # fmt: skip
    return lift_replayed(ex, rp, target="http://n", upstream=None)


BODY = pattern_bytes(5000)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("old", "new", "old_cut", "new_cut", "equal"),
    [
        (BODY[:1000], BODY, True, False, True),  # recorded prefix of the whole new body
        (BODY, BODY[:1000], False, True, True),  # replay cut at its --max-body
        (BODY[:1000], BODY[:2000], True, True, True),  # both cut, at different caps
        (BODY[:1000], BODY[:999] + b"X" + BODY[1000:], True, False, False),  # last byte
        (BODY[:1000], BODY[:500], True, False, False),  # whole new body shorter than the cut
    ],
)
def test_a_truncated_body_is_compared_by_prefix_and_size(
    old: bytes, new: bytes, old_cut: bool, new_cut: bool, equal: bool
) -> None:
    a, b = _pair(old, new, old_cut=old_cut, new_cut=new_cut)
    assert b["body"]["$truncated"]["prefix_equal"] is equal
    assert b["body"]["$truncated"]["size_old"] == len(old)
    result = compare(a, b, RuleSet(), "GET /f")
    assert (result.verdict == "same") is equal
    if not equal:
        assert [f.path for f in result.counting] == ["body.$truncated.prefix_equal"]


@pytest.mark.unit
def test_the_first_differing_byte_is_shown_on_both_sides() -> None:
    a, b = _pair(BODY[:1000], BODY[:777] + b"X" + BODY[778:], old_cut=True, new_cut=False)
    assert a["body"]["$truncated"]["differs_at"] == b["body"]["$truncated"]["differs_at"] == 777


@pytest.mark.unit
def test_an_untruncated_pair_is_compared_whole() -> None:
    a, b = _pair(BODY[:1000], BODY, old_cut=False, new_cut=False)
    assert "$binary" in a["body"] and compare(a, b, RuleSet(), "GET /f").verdict == "different"


@pytest.mark.e2e
def test_a_recording_cut_at_max_body_diffs_same_unless_the_prefix_changed(
    tmp_path: Path, recorder_factory: Any
) -> None:
    db = tmp_path / "t.db"
    with streaming_server() as server:
        rec = recorder_factory(server.url, db, "cut", "--max-body", "1000")
        for path in ("/big?n=5000", "/small"):
            with urllib.request.urlopen(rec.url + path, timeout=30) as resp:
                assert resp.status == 200
        code, _, err = rec.stop()
        assert code == 0, err
        with Store.open(db) as store:
            cut = [ex.response_truncated for ex in store.iter_exchanges(store.session("cut").id)]
        assert cut == [True, False]
        for name, flip in (("same", None), ("flipped", 500)):
            server.flip_at = flip
            replayed = _cli("replay", "--db", str(db), "--target", server.url, "--name", name)
            assert replayed.returncode == 0, replayed.stderr
    with Store.open(db) as store:
        rules, _ = load_ruleset(None)  # the preset: Date and Server headers differ anyway
        same = diff_run(store, "same", rules)[0]
        flipped = diff_run(store, "flipped", rules)[0]
        fields = store.db.execute(
            "SELECT path, old_value, new_value FROM diff_fields f JOIN runs r "
            "ON r.id = f.run_id WHERE r.name = 'flipped' AND f.rule IS NULL"
        ).fetchall()
    assert (same.total, same.same) == (2, 2)
    assert (flipped.total, flipped.different) == (2, 1)
    assert ("body.$truncated.prefix_equal", "true", "false") in fields
    assert [f[0] for f in fields] == ["body.$truncated.prefix_equal"]
