"""Stateful replay: `--order identity|strict|none` against a real stateful server.

A create->get pair only works when the get goes out after its create has been answered:
identity order (the default) and strict order guarantee it, `none` does not.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import pytest

from shadowdiff.differ import RuleSet
from shadowdiff.differ.rules import parse_rules
from shadowdiff.errors import ReplayError, RulesError
from shadowdiff.records import Exchange
from shadowdiff.replayer.engine import ReplayConfig, replay
from shadowdiff.replayer.identity import SHARED, identity_of
from shadowdiff.replayer.order import Lanes, lane_keys
from shadowdiff.replayer.resume import resume
from shadowdiff.replayer.work import Work
from shadowdiff.store import Store
from tests.conftest import SHADOWDIFF, run_cli
from tests.stateful import State, create_get_traffic, stateful_server
from tests.waiting import wait_until

USERS, PAIRS = 20, 5


def _ex(*headers: tuple[str, str], client: str | None = None) -> Exchange:
    return Exchange(method="GET", path="/", request_headers=list(headers), client=client)


@pytest.mark.unit
def test_identity_is_the_credential_token_then_session_cookie_then_client() -> None:
    token = "redacted:0123456789abcdef"
    bearer = identity_of(_ex(("Authorization", f"Bearer {token}"), client="10.0.0.1"))
    assert bearer == identity_of(_ex(("authorization", f"bearer {token}")))  # the token only
    assert bearer != identity_of(_ex(("Authorization", "Bearer redacted:fedcba9876543210")))
    plain = identity_of(_ex(("Authorization", "Basic dXNlcjpwdw==")))
    assert plain == "auth:Basic dXNlcjpwdw=="  # not redacted: the whole value
    cookie = _ex(("Cookie", "theme=dark; sid=redacted:aa; x=1"), client="10.0.0.1")
    assert identity_of(cookie) == "cookie:redacted:aa"
    assert identity_of(_ex(("Cookie", "JSESSIONID=abc"))) == "cookie:abc"
    assert identity_of(_ex(("Cookie", "tok=redacted:bb"))) == "cookie:redacted:bb"
    assert identity_of(_ex(("Cookie", "theme=dark"), client="10.0.0.1")) == "client:10.0.0.1"
    assert identity_of(_ex()) == SHARED


@pytest.mark.unit
def test_a_rules_file_identity_choice_picks_the_source() -> None:
    ex = _ex(
        ("Authorization", "Bearer redacted:01"),
        ("X-User", "alice"),
        ("Cookie", "team=red; sid=s1"),
        client="10.0.0.1",
    )
    assert identity_of(ex, "header:x-user") == "header:x-user=alice"
    assert identity_of(ex, "header:Authorization") == "header:Authorization=redacted:01"
    assert identity_of(ex, "cookie:team") == "cookie:team=red"
    assert identity_of(ex, "client") == "client:10.0.0.1"
    assert identity_of(ex, "auto") == identity_of(ex) == "auth:redacted:01"
    assert identity_of(ex, "header:X-Missing") == "client:10.0.0.1"  # falls back to the client
    rules = parse_rules('identity = "header:X-User"\n')
    assert rules.identity == "header:X-User"
    assert RuleSet(identity="client").merge(rules).identity == "header:X-User"
    assert rules.merge(RuleSet()).identity == "header:X-User"  # a file without it keeps it
    with pytest.raises(RulesError) as info:
        parse_rules('# who\nidentity = "user"\n', "rules.toml")
    assert str(info.value).startswith("rules.toml:2: 'identity'")
    assert "header:NAME" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ReplayError, match="order must be one of identity, strict, none"):
        ReplayConfig(target="http://127.0.0.1:1", order="random").validate()
    with pytest.raises(ReplayError, match="identity must be"):
        ReplayConfig(target="http://127.0.0.1:1", identity="header:").validate()


@pytest.mark.unit
def test_lanes_hand_out_one_item_per_identity_at_a_time_in_recorded_order() -> None:
    work = [Work(_ex(("Authorization", u)), True, False) for u in "abacb"]

    async def main() -> None:
        lanes = Lanes(lane_keys(work, "identity", None), workers=4)
        assert lanes.count == 3
        assert [await lanes.take() for _ in range(3)] == [0, 1, 3]  # heads of a, b, c
        assert lanes.ready.empty()  # a's and b's next wait for their first
        lanes.done(1)
        assert await lanes.take() == 4  # b's next
        lanes.done(0)
        assert await lanes.take() == 2
        for i in (2, 3, 4):
            lanes.done(i)
        assert [await lanes.take() for _ in range(4)] == [None] * 4  # every worker stops
        strict = Lanes(lane_keys(work, "strict", None), workers=2)
        assert await strict.take() == 0 and strict.ready.empty()
        free = Lanes(lane_keys(work, "none", None), workers=2)
        assert [await free.take() for _ in range(5)] == [0, 1, 2, 3, 4]

    asyncio.run(main())


def _store(tmp_path: Path) -> Store:
    store = Store.open(tmp_path / "s.db")
    session = store.create_session("stateful", source="har")
    store.add_exchanges(session.id, create_get_traffic(USERS, PAIRS))
    return store


def _statuses(store: Store, run_id: int) -> list[int | None]:
    return [rp.status for rp in store.iter_replays(run_id)]


def _replay(tmp_path: Path, order: str) -> tuple[list[int | None], State, dict[str, object]]:
    with _store(tmp_path) as store, stateful_server() as (url, state):
        result = replay(store, ReplayConfig(target=url, concurrency=16, order=order))
        assert result.sent == USERS * PAIRS * 2 and result.failed == 0
        return _statuses(store, result.run.id), state, result.run.config


@pytest.mark.e2e
def test_identity_order_gives_no_404_and_runs_identities_concurrently(tmp_path: Path) -> None:
    statuses, state, config = _replay(tmp_path, "identity")
    assert 404 not in statuses
    assert sorted(set(statuses)) == [200, 201]
    assert state.max_in_flight > 1  # identities went concurrently
    assert config["order"] == "identity"


@pytest.mark.e2e
def test_strict_order_sends_one_request_at_a_time(tmp_path: Path) -> None:
    statuses, state, _ = _replay(tmp_path, "strict")
    assert 404 not in statuses and len(statuses) == USERS * PAIRS * 2
    assert state.max_in_flight == 1


@pytest.mark.e2e
def test_no_order_sends_concurrently(tmp_path: Path) -> None:
    statuses, state, _ = _replay(tmp_path, "none")
    assert len(statuses) == USERS * PAIRS * 2
    assert state.max_in_flight > 1


@pytest.mark.e2e
def test_resume_keeps_the_order_of_the_run(tmp_path: Path) -> None:
    with _store(tmp_path) as store, stateful_server() as (url, state):
        session = store.latest_session()
        config = ReplayConfig(target=url, concurrency=16, order="strict")
        store.create_run(session.id, kind="candidate", target=url, name="r", config=config.stored())
        result = resume(store, "r")  # nothing stored yet: it sends everything, strictly
        assert result.sent == USERS * PAIRS * 2
        assert state.max_in_flight == 1
        assert 404 not in _statuses(store, result.run.id)


@pytest.mark.e2e
def test_cli_order_and_the_rules_file_identity_are_stored_with_the_run(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    _store(tmp_path).close()
    (tmp_path / "shadowdiff.toml").write_text('identity = "client"\n')
    with stateful_server() as (url, state):
        args = ("replay", "--db", str(db), "--target", url, "--name", "r")
        done = run_cli(*args, "--order", "strict", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert state.max_in_flight == 1
    with Store.open(db) as store:
        config = store.run("r").config
        assert (config["order"], config["identity"]) == ("strict", "client")
        assert 404 not in _statuses(store, store.run("r").id)
    bad = run_cli("replay", "--db", str(db), "--target", url, "--order", "random", cwd=tmp_path)
    assert bad.returncode == 2 and "--order" in bad.stderr
    (tmp_path / "shadowdiff.toml").write_text('identity = "user"\n')
    bad = run_cli("replay", "--db", str(db), "--target", url, cwd=tmp_path)
    assert bad.returncode == 2, bad.stderr
    assert "shadowdiff.toml:1: 'identity'" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.e2e
def test_identity_order_says_when_there_are_fewer_identities_than_concurrency(
    tmp_path: Path,
) -> None:
    notes: list[str] = []
    with _store(tmp_path) as store, stateful_server() as (url, _):
        config = ReplayConfig(target=url, concurrency=32)
        assert replay(store, config, notice=notes.append).sent == USERS * PAIRS * 2
    assert notes == [
        f"{USERS * PAIRS * 2} requests of {USERS} client identities: --order identity sends "
        f"at most {USERS} at a time (--order none for a stateless service)"
    ]


@pytest.mark.e2e
def test_the_baseline_send_of_an_item_comes_before_that_identitys_next(tmp_path: Path) -> None:
    with (
        _store(tmp_path) as store,
        stateful_server() as (url, _),
        stateful_server() as (base_url, base_state),
    ):
        config = ReplayConfig(target=url, baseline=base_url, concurrency=16)
        result = replay(store, config)
        assert result.baseline is not None and result.failed == 0
        assert 404 not in _statuses(store, result.baseline.id)
        assert len(base_state.statuses) == USERS * PAIRS * 2 and base_state.max_in_flight > 1


@pytest.mark.e2e
def test_a_signal_stops_an_ordered_run_and_resume_finishes_it_in_order(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    _store(tmp_path).close()
    with stateful_server(delay=0.02) as (url, state):
        cmd = ["replay", "--db", str(db), "--target", url, "--order", "strict", "--name", "r"]
        proc = subprocess.Popen(
            [*SHADOWDIFF, *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            wait_until(lambda: len(state.statuses) >= 5, timeout=60, what="5 requests answered")
            proc.send_signal(signal.SIGTERM)  # 15 workers wait for the one lane: all stop
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 143, err
        with Store.open(db) as store:
            assert store.run("r").status == "interrupted"
            sent = len(_statuses(store, store.run("r").id))
            assert 5 <= sent < USERS * PAIRS * 2
        resumed = run_cli("replay", "--db", str(db), "--resume", "r")
        assert resumed.returncode == 0, resumed.stderr
        assert state.max_in_flight == 1
    with Store.open(db) as store:
        statuses = _statuses(store, store.run("r").id)
    assert len(statuses) == USERS * PAIRS * 2 and 404 not in statuses
