"""Chains end to end: a stateful API whose instances sign their own tokens and issue their own
uuids (tests/chainapp.py), recorded through a real mitmdump with default redaction, replayed
to fresh instances: each target's token and ids are put in its requests and mapped back in
its answers, so the chained flows show no difference."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shadowdiff.cli import output
from shadowdiff.store import Store
from tests.chainapp import PASSWORDS, ChainApp, chain_app
from tests.clirun import invoke
from tests.conftest import RecorderProcess, run_cli
from tests.screen import appears

pytestmark = pytest.mark.e2e

SESSION = "shop"


@dataclass
class Recorded:
    db: Path
    tmp: Path
    issued: list[str]  # tokens and session ids the recorded instance issued


def _login(client: httpx.Client, user: str) -> dict[str, str]:
    answer = client.post("/login", json={"user": user, "password": PASSWORDS[user]})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def _traffic(base: str) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:
        alice, bob = _login(client, "alice"), _login(client, "bob")
        item = client.post("/items", json={"name": "pen"}, headers=alice).json()["id"]
        assert client.get(f"/items/{item}", headers=alice).status_code == 200
        assert client.get("/items", params={"id": item}, headers=alice).status_code == 200
        assert client.put(f"/items/{item}", json={"name": "pencil"}, headers=alice).is_success
        assert client.get("/whoami").status_code == 200  # the sid cookie of bob's login
        theirs = client.post("/items", json={"name": "cup"}, headers=bob).json()["id"]
        assert client.get(f"/items/{theirs}", headers=bob).status_code == 200
        assert client.delete(f"/items/{item}", headers=alice).status_code == 200
        assert client.get(f"/items/{item}", headers=alice).status_code == 404
        ticket = client.post("/tickets", headers=alice).json()["ticket_id"]
        assert client.get(f"/tickets/{ticket}", headers=alice).status_code == 200
        mug = client.post("/items", json={"name": "mug"}, headers=alice).json()["id"]
        assert client.get(f"/shared/{mug}", headers=bob).status_code == 200  # another client


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    tmp = tmp_path_factory.mktemp("chains")
    db = tmp / "shop.db"
    with chain_app() as app:
        rec = RecorderProcess(app.url, db, SESSION)
        try:
            _traffic(rec.url)
            code, out, err = rec.stop(signal.SIGINT)
        finally:
            rec.kill()
        assert code == 0, err
        assert "stored 15, dropped 0" in out, out
        assert "chains (`shadowdiff chains`)" in out, out  # found when the recording ended
        yield Recorded(db, tmp, list(app.issued))


def _copy(rec: Recorded, name: str) -> Path:
    db = rec.tmp / name
    db.write_bytes(rec.db.read_bytes())
    return db


def _db_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def _replays(db: Path, run: str) -> dict[str, list[tuple[int | None, list[str]]]]:
    """Per request line: (status, flags) of each replay, in recorded order."""
    out: dict[str, list[tuple[int | None, list[str]]]] = {}
    with Store.open(db) as store:
        exchanges = {ex.id: ex for ex in store.iter_exchanges(store.session(SESSION).id)}
        for rp in sorted(store.iter_replays(store.run(run).id), key=lambda r: r.exchange_id):
            ex = exchanges[rp.exchange_id]
            out.setdefault(ex.endpoint or "", []).append((rp.status, rp.flags))
    return out


def _replay_diff(db: Path, name: str, target: ChainApp, base: ChainApp, *extra: str) -> str:
    """replay-diff to `target` with `base` as baseline; the passwords from the environment."""
    secrets = db.parent / "secrets.toml"
    secrets.write_text('env = ["ALICE_PASSWORD", "BOB_PASSWORD"]\n')
    env = {"ALICE_PASSWORD": PASSWORDS["alice"], "BOB_PASSWORD": PASSWORDS["bob"]}
    done = run_cli(
        "replay-diff", "--db", str(db), "--session", SESSION, "--name", name,
        "--target", target.url, "--baseline", base.url, "--secrets", str(secrets), *extra,
        env={**os.environ, **env, "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_tokens_and_ids_are_substituted_per_target(recorded: Recorded) -> None:
    db = _copy(recorded, "chained.db")
    with chain_app(renamed=True) as candidate, chain_app() as baseline:
        said = _replay_diff(db, "chained", candidate, baseline)
        issued = [*recorded.issued, *candidate.issued, *baseline.issued]
        # each target got its own tokens back (no 401) and its own ids (alice's item
        # created, read, renamed, deleted; bob's left)
        for app in (candidate, baseline):
            assert sorted((i["owner"], i["name"]) for i in app.items.values()) == [
                ("alice", "mug"),
                ("bob", "cup"),
            ]
            assert len(app.tickets) == 1
    # the chained flows are all the same; the planted rename shows, on both its requests
    assert "15 compared, 13 same, 2 different" in said, said
    assert "baseline (old vs old): 0 different" in said, said
    assert "1 unchained" in said, said
    cand, base = _replays(db, "chained"), _replays(db, "chained-baseline")
    assert cand["GET /tickets/{uuid}"] == [(404, ["unchained"])]
    assert base["GET /tickets/{uuid}"] == [(200, [])]  # its id went in; none came back
    assert cand["POST /items"] == [(201, ["chained"])] * 3
    assert cand["DELETE /items/{uuid}"] == [(200, ["chained"])]
    assert [status for status, _ in cand["GET /items/{uuid}"]] == [200, 200, 404]
    # bob's read of alice's new item waited for her (slow) create, though another client
    assert cand["GET /shared/{uuid}"] == [(200, ["chained"])]
    # no password, and no token or session id of any instance, in the database
    data = _db_bytes(db)
    for secret in (*PASSWORDS.values(), *issued):
        assert secret.encode() not in data, secret


def test_chains_command_lists_them(recorded: Recorded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output.console, "width", 80)
    listing = invoke("chains", SESSION, "--db", str(recorded.db))
    assert listing.returncode == 0, listing.stderr
    assert max(len(line) for line in listing.stdout.splitlines()) <= 80, listing.stdout
    assert "…" not in listing.stdout
    for name in ("POST /login", "body.token", "header.authorization", "set-cookie.sid"):
        assert appears(name, listing.stdout), name
    assert "redacted:" in listing.stdout
    found = json.loads(invoke("chains", SESSION, "--db", str(recorded.db), "--json").stdout)
    pairs = {
        (c["producer_endpoint"], c["producer_location"], c["consumer_endpoint"],
         c["consumer_location"]): c
        for c in found
    }  # fmt: skip
    token = pairs[("POST /login", "body.token", "GET /items/{uuid}", "header.authorization")]
    assert token["count"] == 3 and token["example"].startswith("redacted:"), token
    assert pairs[("POST /items", "body.id", "GET /items/{uuid}", "path[1]")]["count"] == 2
    assert ("POST /login", "set-cookie.sid", "GET /whoami", "cookie.sid") in pairs
    assert ("POST /tickets", "body.ticket_id", "GET /tickets/{uuid}", "path[1]") in pairs
    assert any(key[3] == "query.id" for key in pairs), pairs
    assert all(c["enabled"] and c["origin"] == "detected" for c in found)
    for secret in (*PASSWORDS.values(), *recorded.issued):
        assert secret not in listing.stdout
    # `secrets` says the token and the cookie come from chains; the passwords from nothing
    sites = invoke("secrets", SESSION, "--db", str(recorded.db)).stdout
    assert appears(token["example"], sites) and "chains" in sites, sites
    assert "2 sent in requests and not supplied (nor by chains)" in " ".join(sites.split())


def test_a_rules_file_turns_a_chain_off(recorded: Recorded) -> None:
    db = _copy(recorded, "off.db")
    rules = recorded.tmp / "off.toml"
    rules.write_text(
        '[[chains]]\nproducer = "POST /items body.id"\nconsumer = "GET /items/{uuid} path[1]"\n'
        "off = true\n"
    )
    listing = run_cli("chains", SESSION, "--db", str(db), "--rules", str(rules), "--json")
    off = [c for c in json.loads(listing.stdout) if not c["enabled"]]
    assert [(c["producer_location"], c["consumer_location"]) for c in off] == [
        ("body.id", "path[1]")
    ]
    with chain_app() as candidate, chain_app() as baseline:
        said = _replay_diff(db, "off", candidate, baseline, "--rules", str(rules))
    # the gets of the recorded ids find nothing (the chain is off: sent as recorded, not
    # flagged); what they would have produced is missing downstream: those are unchained
    cand = _replays(db, "off")
    # (the third get's id came from the delete's answer, itself unchained)
    assert cand["GET /items/{uuid}"] == [(404, []), (404, []), (404, ["unchained"])]
    assert cand["GET /items"] == [(404, ["unchained"])]
    # the token chain is still on (no 401); the mug's id chains to the shared read
    assert cand["POST /items"] == [(201, []), (201, []), (201, ["chained"])]
    assert "unchained" in said.splitlines()[0], said
