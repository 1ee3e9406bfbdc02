"""Lockstep (issue 9 part 2): each request goes to a live primary, the candidate and a
secondary as one step; the diff compares primary vs candidate, noise is primary vs secondary,
and drift from the recording is reported. Real stateful servers (tests/stateful.py) on
127.0.0.1, real SQLite files.

The recording is the lifecycle traffic (create -> get -> update -> get -> delete -> get) as a
fresh server answers it. The "used" old server is one that traffic already went through (as
it does when the recording is made in front of it): replaying to it again answers from that
state (the item exists already, then is gone), which a recording-referenced baseline shows as
differences and lockstep against fresh instances does not.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from shadowdiff.analysis.diffrun import diff_run, load_ruleset
from shadowdiff.analysis.noise_measure import measure_noise
from shadowdiff.analysis.parallel import diff_run_jobs
from shadowdiff.demo.servers import free_port
from shadowdiff.errors import ReplayError
from shadowdiff.replayer.engine import ReplayConfig, replay
from shadowdiff.replayer.resume import resume
from shadowdiff.report import render_string as render
from shadowdiff.report.model import build_report
from shadowdiff.store import Store
from shadowdiff.vocabulary import RunKind
from tests.chainapp import PASSWORDS, chain_app
from tests.clirun import invoke
from tests.stateful import LIFECYCLE, State, lifecycle_traffic, stateful_server
from tests.test_compare import _record_scenario
from tests.test_diff_jobs import TABLES, snapshot

USERS = 6
STEPS = USERS * len(LIFECYCLE)
RULES = load_ruleset(None)[0]  # the preset: Date, Server, Content-Length are no difference


def _store(path: Path) -> Store:
    store = Store.open(path)
    session = store.create_session("life", source="har")
    store.add_exchanges(session.id, lifecycle_traffic(USERS))
    return store


@contextmanager
def servers(count: int) -> Iterator[list[tuple[str, State]]]:
    """`count` fresh stateful servers, stopped on exit."""
    with ExitStack() as stack:
        yield [stack.enter_context(stateful_server(delay=0.0)) for _ in range(count)]


def _used(store: Store, url: str) -> None:
    """Send the recorded traffic to `url` once, as if the recording had been made there."""
    assert replay(store, ReplayConfig(target=url, name=f"warm-{url[-5:]}")).failed == 0


@pytest.mark.e2e
def test_lockstep_to_fresh_instances_has_no_state_differences_and_finds_the_bug(
    tmp_path: Path,
) -> None:
    with _store(tmp_path / "s.db") as store, servers(5) as running:
        (used, _), (plain_new, _), (primary, p), (secondary, s), (candidate, c) = running
        c.bug = "put-drops-name"
        _used(store, used)
        plain = replay(store, ReplayConfig(target=plain_new, baseline=used, name="plain"))
        _, plain_base = diff_run(store, "plain", RULES)
        assert plain_base is not None and plain_base.different > 0  # state, seen as noise
        sends: list[str] = []
        config = ReplayConfig(target=candidate, primary=primary, secondary=secondary, name="ls")
        result = replay(store, config, progress=lambda o: sends.append(o.kind))
        assert result.primary is not None and result.baseline is not None
        assert result.sent == 3 * STEPS and result.failed == 0
        assert sends.count("primary") == sends.count("candidate") == sends.count("baseline")
        cand, base = diff_run(store, "ls", RULES)
    assert plain.failed == 0
    assert base is not None and (base.different, base.errors, base.same) == (0, 0, STEPS)
    assert cand.primary is not None and cand.primary.different == 0  # fresh: no drift
    # the planted bug: the GET after PUT lacks the name, once per user, and nothing else
    assert cand.different == USERS and cand.errors == 0
    (text,) = cand.signatures
    assert "body.name:missing" in text and text.startswith("GET ")
    for state in (p, s, c):  # every instance went through every step, in order
        assert len(state.statuses) == STEPS
        assert state.deleted == {(f"user-{u}", 1) for u in range(USERS)}
    assert p.statuses.count(404) == USERS  # only the last GET of each user finds nothing


@pytest.mark.e2e
def test_the_three_runs_hold_every_outcome_and_resume_sends_only_what_is_missing(
    tmp_path: Path,
) -> None:
    with _store(tmp_path / "s.db") as store, servers(3) as running:
        (primary, p), (secondary, _), (candidate, _) = running
        config = ReplayConfig(target=candidate, primary=primary, secondary=secondary, name="ls")
        result = replay(store, config)
        run = store.run("ls")
        prim, sec = store.primary_of(run), store.baseline_of(run)
        assert prim is not None and sec is not None
        assert (prim.kind, sec.kind, run.kind) == ("primary", "baseline", "candidate")
        assert run.reference_run_id == prim.id == sec.reference_run_id
        assert prim.reference_run_id is None and prim.paired_run_id == run.id
        assert store.candidate_of(prim) == run == store.candidate_of(sec)
        for r in (run, prim, sec):
            assert store.count_replays(r.id) == STEPS
        again = resume(store, "ls")  # nothing missing: nothing sent
        assert again.sent == 0 and again.primary is not None
    assert result.sent == 3 * STEPS
    assert len(p.statuses) == STEPS


@pytest.mark.e2e
def test_a_primary_that_is_not_fresh_is_reported_as_drift(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with _store(db) as store, servers(3) as running:
        (primary, _), (secondary, _), (candidate, _) = running
        _used(store, primary)  # the primary holds the recording's state already
        config = ReplayConfig(target=candidate, primary=primary, secondary=secondary, name="ls")
        replay(store, config)
        cand, _ = diff_run(store, "ls", RULES)
        report = build_report(store, "ls")
    assert cand.primary is not None and cand.primary.different > 0
    drift = report.drift
    assert drift is not None and drift.side == "primary"
    assert drift.drifted == cand.primary.different and drift.compared == STEPS
    assert drift.line.startswith(f"the primary drifted from the recording on {drift.drifted} of")
    assert drift.sample is not None and " | " in drift.sample
    for fmt in ("text", "markdown", "json", "html", "junit"):
        shown = render(report, fmt)
        assert "the primary drifted from the recording" in shown, fmt
        assert "ls-primary" in shown, fmt  # the old side is named
    for fmt, label in (
        ("text", "old (primary)"),
        ("markdown", "Old (primary)"),
        ("html", "old · primary"),
    ):
        assert label in render(report, fmt), fmt
    assert report.run.primary == "ls-primary" and report.run.primary_target == primary
    assert json.loads(render(report, "json"))["drift"]["drifted"] == drift.drifted
    # report and gate on a lockstep run work as on any run
    shown = invoke("report", "ls", "--db", str(db))
    assert shown.returncode == 0 and "drifted from the recording" in shown.stdout
    gated = invoke("gate", "ls", "--db", str(db))
    assert gated.returncode in (0, 1) and "Traceback" not in gated.stderr
    assert "note: the primary drifted from the recording" in " ".join(gated.stdout.split())


@pytest.mark.e2e
def test_a_baseline_whose_statuses_disagree_is_drift_and_no_noise_evidence(
    tmp_path: Path,
) -> None:
    with _store(tmp_path / "s.db") as store, servers(2) as running:
        (used, _), (candidate, _) = running
        _used(store, used)
        replay(store, ReplayConfig(target=candidate, baseline=used, name="plain"))
        _, base = diff_run(store, "plain", RULES)
        report = build_report(store, "plain")
        noise = measure_noise(store, "plain")
        baseline_run = store.baseline_of(store.run("plain"))
        assert baseline_run is not None
        compared, rows = store.status_drift(baseline_run.id)
    # per user: get, put, get and delete find no item (the recording made and deleted it)
    assert len(rows) == 4 * USERS and compared == STEPS
    assert base is not None and base.different >= 4 * USERS
    drift = report.drift
    assert drift is not None and (drift.side, drift.drifted, drift.compared) == (
        "baseline",
        4 * USERS,
        STEPS,
    )
    assert "not used as noise evidence" in drift.line and "recorded 200, baseline 404" in drift.line
    # the drifted exchanges' differences (status, body.id missing, ...) are no evidence; the
    # create's other id (status 201 on both) still is
    assert [(p.endpoint, p.path, p.kind, p.old_count) for p in noise.paths] == [
        ("POST /items", "body.id", "value", USERS)
    ]


@pytest.mark.e2e
def test_diff_jobs_gives_the_lockstep_results_of_one_process(tmp_path: Path) -> None:
    with _store(tmp_path / "s.db") as store, servers(3) as running:
        (primary, _), (secondary, _), (candidate, c) = running
        c.bug = "put-drops-name"
        replay(store, ReplayConfig(target=candidate, primary=primary, secondary=secondary))
        run = store.list_runs()[0]
        one, one_base = diff_run(store, run.id, RULES)
        ids = [r.id for r in store.list_runs()]
        before = {(name, i): snapshot(store, i)[name] for name in TABLES for i in ids}
        many, many_base = diff_run_jobs(store, run.id, RULES, jobs=2, min_pairs=0)
        after = {(name, i): snapshot(store, i)[name] for name in TABLES for i in ids}
    assert before == after and any(before.values())
    assert (many.different, many.signatures) == (one.different, one.signatures)
    assert many.primary is not None and one.primary is not None
    assert many.primary.same == one.primary.same == STEPS
    assert many_base is not None and one_base is not None
    assert many_base.same == one_base.same == STEPS
    assert one.different == USERS


@pytest.mark.unit
def test_lockstep_options_are_checked_before_anything_is_sent() -> None:
    url = "http://127.0.0.1:9"
    with pytest.raises(ReplayError) as info:
        ReplayConfig(target=url, secondary=url).validate()
    assert info.value.field == "secondary"
    with pytest.raises(ReplayError) as info:
        ReplayConfig(target=url, primary=url, baseline=url).validate()
    assert info.value.field == "baseline" and "--secondary" in str(info.value)
    with pytest.raises(ReplayError) as info:
        ReplayConfig(target=url, primary="ftp://x").validate()
    assert info.value.field == "primary" and "bad primary URL" in str(info.value)
    ReplayConfig(target=url, primary=url, secondary=url).validate()
    assert RunKind.PRIMARY == "primary"


@pytest.mark.unit
def test_cli_lockstep_errors_are_one_line_with_exit_2(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    url = "http://127.0.0.1:9"
    for cmd in ("replay", "replay-diff"):
        lonely = invoke(cmd, "--db", db, "--target", url, "--secondary", url)
        assert lonely.returncode == 2 and "--secondary" in lonely.stderr
        assert "give --primary too" in lonely.stderr and "Traceback" not in lonely.stderr
        both = invoke(cmd, "--db", db, "--target", url, "--primary", url, "--baseline", url)
        assert both.returncode == 2 and "not --baseline" in both.stderr
        assert len(both.stderr.strip().splitlines()) == 1


@pytest.mark.e2e
def test_cli_replay_diff_in_lockstep_names_the_three_targets(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    _store(db).close()
    with servers(3) as running:
        (primary, _), (secondary, _), (candidate, _) = running
        args = ("--target", candidate, "--primary", primary, "--secondary", secondary)
        done = invoke("replay-diff", "--db", str(db), *args, "--name", "ls")
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.split())
    assert f"lockstep: primary {primary}, candidate {candidate}, secondary {secondary}" in out
    assert "runs ls-primary, ls, ls-secondary" in out
    assert "the primary differs from the recording on 0 of" in out
    assert f"sent {3 * STEPS} of {STEPS} requests (each to 3 targets)" in out
    listed = invoke("runs", "--db", str(db))
    assert listed.returncode == 0 and "primary" in listed.stdout
    noise = invoke("noise", "ls", "--db", str(db))  # primary vs secondary: nothing differs
    assert noise.returncode == 0 and "baseline ls-secondary" in noise.stdout, noise.stderr
    wrong = invoke("gate", "ls-primary", "--db", str(db))
    assert wrong.returncode == 2 and "gate the candidate run 'ls'" in wrong.stderr


@pytest.mark.unit
def test_version_4_files_gain_reference_run_id(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store.open(path) as store:
        session = store.create_session("s", source="har")
        store.create_run(session.id, kind="candidate", target="http://t", name="old")
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE runs DROP COLUMN reference_run_id")
    conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with Store.open(path) as store:
        assert store.meta("schema_version") == "5"
        run = store.run("old")
        assert run.reference_run_id is None and store.reference_of(run) is None
        assert store.primary_of(run) is None


@pytest.mark.e2e
def test_exchanges_whose_primary_failed_are_errors_of_kind_primary(tmp_path: Path) -> None:
    with _store(tmp_path / "s.db") as store, servers(2) as running:
        (secondary, _), (candidate, c) = running
        down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        config = ReplayConfig(target=candidate, primary=down, secondary=secondary, name="ls")
        result = replay(store, config, transport_factory=None)
        cand, base = diff_run(store, "ls", RULES)
        report = build_report(store, "ls")
    assert result.failed == STEPS and len(c.statuses) == STEPS  # the others still answered
    assert cand.errors == STEPS and base is not None and base.errors == STEPS
    assert {text.partition(" | ")[2] for text in cand.signatures} == {"error:primary: connect"}
    assert report.drift is None  # nothing to say of a primary that never answered


@pytest.mark.e2e
def test_resume_sends_each_run_only_what_it_lacks(tmp_path: Path) -> None:
    with _store(tmp_path / "s.db") as store, servers(3) as running:
        (primary, p), (secondary, s), (candidate, c) = running
        config = ReplayConfig(target=candidate, primary=primary, secondary=secondary, name="ls")
        replay(store, config)
        prim = store.primary_of(store.run("ls"))
        assert prim is not None
        lost = sorted(store.replayed_ids(prim.id))[-4:]  # as if killed before writing them
        store.db.execute(
            f"DELETE FROM replays WHERE run_id = ? AND exchange_id IN ({','.join('?' * 4)})",
            [prim.id, *lost],
        )
        store.db.conn.commit()
        kinds: list[str] = []
        again = resume(store, "ls", progress=lambda o: kinds.append(o.kind))
        assert store.replayed_ids(prim.id) >= set(lost)
    assert again.sent == 4 and kinds == ["primary"] * 4
    assert (len(p.statuses), len(s.statuses), len(c.statuses)) == (STEPS + 4, STEPS, STEPS)


@pytest.mark.e2e
def test_lockstep_with_chains_maps_each_instances_issued_values(tmp_path: Path) -> None:
    """Instances that sign their own tokens and issue their own uuids (tests/chainapp.py):
    each target (primary, candidate, secondary) gets its own chain map, so three fresh
    instances of one implementation agree on every exchange."""
    db = tmp_path / "shop.db"
    with chain_app() as recorded:
        _record_scenario(db, "shop", recorded)
    secrets = tmp_path / "secrets.toml"  # the passwords were redacted at record time
    secrets.write_text(f"values = {json.dumps(sorted(PASSWORDS.values()))}\n")
    with (
        chain_app() as primary,
        chain_app() as candidate,
        chain_app() as secondary,
        Store.open(db) as store,
    ):
        config = ReplayConfig(
            target=candidate.url,
            primary=primary.url,
            secondary=secondary.url,
            name="ls",
            secrets=str(secrets),
        )
        result = replay(store, config)
        cand, base = diff_run(store, "ls", RULES)
    assert result.failed == 0 and result.chained > 0 and result.unchained == 0
    assert cand.primary is not None and cand.primary.different == 0  # fresh: no drift
    assert (cand.different, cand.errors) == (0, 0), cand.signatures
    assert base is not None and (base.different, base.errors) == (0, 0), base.signatures
    assert len(primary.items) == len(candidate.items) == len(secondary.items) == 2


@pytest.mark.unit
def test_lockstep_timestamps_are_near_the_primary_answer_not_the_old_recording(
    tmp_path: Path,
) -> None:
    """A recording made long ago, replayed in lockstep now: the primary's and the candidate's
    clocks are both "now", so a timestamp that differs between them is volatile (near each
    side's own answer), though far from the recording's time."""
    import time as clock
    from datetime import UTC, datetime

    from shadowdiff.differ import RuleSet
    from shadowdiff.records import Replay
    from tests.stores import session

    now = clock.time()

    def stamped(offset: float) -> bytes:
        at = datetime.fromtimestamp(now + offset, UTC).isoformat(timespec="milliseconds")
        return json.dumps({"at": at.replace("+00:00", "Z")}).encode()

    with Store.open(tmp_path / "s.db") as store:
        exchanges = session(store, [("/clock/1", {"at": "2001-01-01T00:00:00.000Z"})])
        sid, ex_id = exchanges[0].session_id, exchanges[0].id or 0
        cand = store.create_run(sid, kind="candidate", target="http://n", name="c")
        prim = store.create_run(
            sid, kind=RunKind.PRIMARY, target="http://p", name="c-primary", paired_run_id=cand.id
        )
        store.set_reference_run(cand.id, prim.id)
        headers = [("Content-Type", "application/json")]
        store.add_replays(
            [
                Replay(run_id=prim.id, exchange_id=ex_id, status=200, headers=headers,
                       body=stamped(0.0), started_at=now),
                Replay(run_id=cand.id, exchange_id=ex_id, status=200, headers=headers,
                       body=stamped(0.5), started_at=now + 0.5),
            ]
        )  # fmt: skip
        for run in (cand, prim):
            store.finish_run(run.id, "complete")
        summary, _ = diff_run(store, "c", RuleSet())
    assert summary.different == 0 and summary.volatile == 1


@pytest.mark.e2e
def test_volatile_values_are_neither_drift_nor_differences_in_lockstep(tmp_path: Path) -> None:
    """Every answer carries when it was made and a fresh trace id. The primary differs from a
    recording made a week earlier in both on every exchange: that is no drift (its state is
    the recording's), and the candidate differs from the primary there as the secondary does:
    no difference either. Diffed in process, on workers, and pipelined (replay-diff)."""
    week_ago = time.time() - 7 * 86_400
    db = tmp_path / "v.db"
    with Store.open(db) as store:
        session = store.create_session("life", source="har")
        store.add_exchanges(session.id, lifecycle_traffic(USERS, stamped_at=week_ago))
    with servers(6) as running:
        for _, state in running:
            state.stamped = True
        urls = [url for url, _ in running]
        with Store.open(db) as store:
            config = ReplayConfig(target=urls[0], primary=urls[1], secondary=urls[2], name="ls")
            assert replay(store, config).failed == 0
            cand, base = diff_run(store, "ls", RULES)
            parallel, _ = diff_run_jobs(store, "ls", RULES, jobs=2, min_pairs=0)
            drift = build_report(store, "ls").drift
        args = ("--target", urls[3], "--primary", urls[4], "--secondary", urls[5])
        piped = invoke("replay-diff", "--db", str(db), *args, "--name", "piped")
    for summary in (cand, parallel):
        assert summary.primary is not None
        assert (summary.primary.different, summary.primary.same) == (0, STEPS)
        assert summary.primary.volatile == 2 * STEPS  # `at` and `trace`: held, and counted
        assert (summary.different, summary.same) == (0, STEPS)
    assert base is not None and base.different == STEPS  # old vs old: the evidence
    assert drift is not None and drift.drifted == 0
    assert piped.returncode == 0, piped.stderr
    assert "the primary differs from the recording on 0 of" in " ".join(piped.stdout.split())
