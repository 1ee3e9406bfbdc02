"""The replay, diff and gate commands as a user runs them (in-process, with Click's runner):
bad input gives one line and exit 2; diffs are idempotent and stored compactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from shadowdiff.store import Store
from tests.clirun import invoke as run_cli
from tests.conftest import assert_one_line_error
from tests.stores import Answer, replayed_run, session

pytestmark = pytest.mark.unit


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store with one recorded exchange and one replayed (not yet diffed) run "r"."""
    path = tmp_path / "s.db"
    with Store.open(path) as store:
        replayed_run(
            store, session(store, [("/a", {"x": 1})]), "r", lambda _i, _b: Answer({"x": 2})
        )
    return path


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("[[rules]\nkind = 'ignore'\n", ("bad.toml:1",)),
        (
            "[[rules]]\nkind = 'ignroe'\npath = 'body.x'\nreason = 'r'\n",
            ("bad.toml:1", "unknown rule kind 'ignroe'"),
        ),
        ("\n\n[[rules]]\nkind = 'ignore'\npath = 'body..x'\nreason = 'r'\n", ("bad.toml:3",)),
        ("[[rules]]\nkind = 'ignore'\npath = 'body.x'\n", ("bad.toml:1", "reason")),
    ],
)
def test_bad_rules_file(db: Path, tmp_path: Path, text: str, needles: tuple[str, ...]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    assert_one_line_error(run_cli("diff", "r", "--db", str(db), "--rules", str(bad)), *needles)


def test_diff_is_idempotent_and_rules_apply(db: Path, tmp_path: Path) -> None:
    first = run_cli("diff", "r", "--db", str(db), "--no-preset", cwd=tmp_path)
    again = run_cli("diff", "r", "--db", str(db), "--no-preset", cwd=tmp_path)
    assert first.returncode == again.returncode == 0, first.stderr
    with Store.open(db) as store:
        rows = store.db.execute("SELECT verdict, n_fields FROM diffs").fetchall()
        fields = store.db.execute("SELECT path, kind FROM diff_fields").fetchall()
    assert rows == [("different", 1)] and fields == [("body.x", "value")]
    rules = tmp_path / "shadowdiff.toml"  # found in the working directory
    rules.write_text("[[rules]]\nkind = 'ignore'\npath = 'body.x'\nreason = 'test'\n")
    ruled = run_cli("diff", "r", "--db", str(db), "--no-preset", cwd=tmp_path)
    assert ruled.returncode == 0 and "0 different" in ruled.stdout, ruled.stdout
    with Store.open(db) as store:
        assert store.db.execute("SELECT verdict FROM diffs").fetchall() == [("same",)]
        assert store.db.execute("SELECT count FROM rule_hits").fetchall() == [(1,)]


def test_unknown_run_session_and_bad_options(db: Path, tmp_path: Path) -> None:
    assert_one_line_error(run_cli("diff", "nope", "--db", str(db)), "no run 'nope'")
    assert_one_line_error(run_cli("gate", "nope", "--db", str(db)), "no run 'nope'")
    assert_one_line_error(run_cli("report", "nope", "--db", str(db)), "no run 'nope'")
    assert_one_line_error(
        run_cli("replay", "--db", str(db), "--session", "zzz", "--target", "http://127.0.0.1:9"),
        "no session 'zzz'",
    )
    assert_one_line_error(
        run_cli("replay", "--db", str(db), "--target", "ftp://x"), "bad --target URL"
    )
    assert_one_line_error(
        run_cli("replay", "--db", str(db), "--target", "http://127.0.0.1:9", "--only", "("),
        "bad --only regex",
    )
    assert_one_line_error(
        run_cli("replay", "--db", str(db), "--target", "http://127.0.0.1:9", "--header", "novalue"),
        "bad --header",
    )
    assert_one_line_error(run_cli("replay", "--db", str(db)), "--target is required")
    assert_one_line_error(
        run_cli("gate", "r", "--db", str(db), "--accepted", str(tmp_path / "no.toml")), "no.toml"
    )


def test_absorbed_differences_are_stored_once_per_rule_and_path(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    old = {"p": [i / 7 for i in range(50)], "id": "a"}
    new = {"p": [i / 7 + 1e-12 for i in range(50)], "id": "b"}
    with Store.open(path) as store:
        replayed_run(store, session(store, [("/p", old)]), "t", lambda _i, _b: Answer(new))
    rules = tmp_path / "rules.toml"
    rules.write_text(
        "[[rules]]\nkind = 'tolerance'\npath = 'body.p[*]'\nabs = 1e-9\n"
        "reason = 'float noise'\n[[rules]]\nkind = 'keys_only'\npath = 'body.id'\n"
        "reason = 'random id'\n"
    )
    result = run_cli("diff", "t", "--db", str(path), "--no-preset", "--rules", str(rules))
    assert result.returncode == 0, result.stderr
    with Store.open(path) as store:
        rows = store.db.execute(
            "SELECT general_path, kind, rule FROM diff_fields ORDER BY general_path"
        ).fetchall()
        concrete = store.db.execute("SELECT path FROM diff_fields ORDER BY path").fetchall()
        hits = dict(store.db.execute("SELECT rule, count FROM rule_hits").fetchall())
        verdicts = store.db.execute("SELECT verdict FROM diffs").fetchall()
    assert verdicts == [("same",)]
    assert rows == [
        ("body.id", "value", "keys_only body.id"),
        ("body.p[*]", "value", "tolerance body.p[*]"),
    ]
    assert concrete == [("body.id",), ("body.p[0]",)]  # the first example keeps its path
    assert hits == {"tolerance body.p[*]": 50, "keys_only body.id": 1}
