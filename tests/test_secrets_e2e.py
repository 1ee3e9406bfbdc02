"""Secrets end to end: recorded through a real mitmdump in front of a token-authenticated
API, replayed against it with and without ``--secrets``, diffed and reported."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shadowdiff.redaction import redaction_token
from shadowdiff.store import Store
from tests.conftest import RecorderProcess, run_cli
from tests.secretapp import API_KEY, PASSWORD, SECRETS, SESSION_ID, TOKEN, SecretApp, secret_app

pytestmark = pytest.mark.e2e

SESSION = "auth"
CUSTOM = "custom-secret-4411"  # in a header named by --redact X-Custom
REPORT_FORMATS = ("text", "markdown", "json", "html", "junit")


@dataclass
class Recorded:
    app: SecretApp
    db: Path
    tmp: Path
    key: bytes

    def token(self, value: str) -> str:
        return redaction_token(self.key, value)


def _traffic(base: str) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:
        login = client.post("/login", json={"user": "alice", "password": PASSWORD})
        assert login.status_code == 200
        token = login.json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.get("/me", headers={**bearer, "X-Custom": CUSTOM}).status_code == 200
        assert client.get("/items", params={"api_key": API_KEY, "page": "1"}).status_code == 200
        cookie = {"Cookie": f"sid={SESSION_ID}"}
        assert client.get("/cart", headers=cookie).status_code == 200
        form = {"user": "alice", "password": PASSWORD}
        assert client.post("/login", data=form).status_code == 200
        echo = client.post(
            "/echo",
            params={"api_key": API_KEY},
            json={"password": PASSWORD, "note": "hi"},
            headers={**bearer, **cookie},
        )
        assert echo.status_code == 200


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    tmp = tmp_path_factory.mktemp("secrets")
    db = tmp / "auth.db"
    with secret_app() as app:
        rec = RecorderProcess(app.url, db, SESSION, "--redact", "X-Custom", "--keep", "pwd")
        try:
            _traffic(rec.url)
            code, out, err = rec.stop(signal.SIGINT)
        finally:
            rec.kill()
        assert code == 0, err
        assert "stored 6, dropped 0" in out
        with Store.open(db) as store:
            key = store.redaction_key()
        yield Recorded(app, db, tmp, key)


def _db_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def _secrets_file(tmp: Path) -> Path:
    path = tmp / "secrets.toml"
    path.write_text(
        f'env = ["ALICE_PASSWORD"]\nvalues = ["{TOKEN}", "{SESSION_ID}", "{API_KEY}", "{CUSTOM}"]\n'
    )
    return path


def _copy(rec: Recorded, name: str) -> Path:
    db = rec.tmp / name
    db.write_bytes(rec.db.read_bytes())
    return db


def test_recording_stores_no_secret_and_links_tokens(recorded: Recorded) -> None:
    data = _db_bytes(recorded.db)
    for secret in (*SECRETS, CUSTOM):
        assert secret.encode() not in data, secret
    with Store.open(recorded.db) as store:
        exchanges = list(store.iter_exchanges(store.session(SESSION).id))
    login, me, items, cart, form, echo = exchanges
    issued = json.loads(login.response_body)["token"]
    # the login response's token and the later Authorization header hold one token
    assert issued == recorded.token(TOKEN)
    assert me.request_header("authorization") == f"Bearer {issued}"
    # --redact adds to the defaults (Authorization above is still redacted)
    assert me.request_header("x-custom") == recorded.token(CUSTOM)
    assert json.loads(login.request_body)["password"] == recorded.token(PASSWORD)
    assert (
        login.response_header("set-cookie") == f"sid={recorded.token(SESSION_ID)}; Path=/; HttpOnly"
    )
    assert cart.request_header("cookie") == f"sid={recorded.token(SESSION_ID)}"
    assert items.query == f"api_key={recorded.token(API_KEY)}&page=1"
    assert form.request_body == f"user=alice&password={recorded.token(PASSWORD)}".encode()
    seen = json.loads(echo.response_body)
    assert seen["args"]["api_key"] == recorded.token(API_KEY)
    assert seen["headers"]["authorization"] == f"Bearer {issued}"  # a JSON credential too


def _rows_by_token(text: str) -> dict[str, str]:
    """The listing's rows keyed by their token; a row folded over lines is joined."""
    rows: dict[str, str] = {}
    token = None
    for line in text.splitlines():
        words = line.replace("│", " ").split()
        if words and words[0].startswith("redacted:"):
            token = words[0]
            rows[token] = " ".join(words)
        elif token is not None and words:
            rows[token] += " " + " ".join(words)
    return rows


def test_secrets_command_lists_every_value(recorded: Recorded) -> None:
    env = {**os.environ, "COLUMNS": "300", "ALICE_PASSWORD": PASSWORD}
    listing = run_cli(
        "secrets", SESSION, "--db", str(recorded.db),
        "--secrets", str(_secrets_file(recorded.tmp)), env=env,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stderr
    lines = _rows_by_token(listing.stdout)
    expected = {
        PASSWORD: ("request json:password", "request form:password"),
        TOKEN: ("response json:token", "request header:authorization"),
        SESSION_ID: ("response cookie:sid", "request cookie:sid"),
        API_KEY: ("request query:api_key", "response json:args.api_key"),
    }
    for secret, places in expected.items():
        line = lines[recorded.token(secret)]
        assert all(place in line for place in places), line
        assert "yes" in line, line
    assert "0 sent in requests and not supplied" in listing.stdout
    for secret in SECRETS:
        assert secret not in listing.stdout


def test_replay_with_secrets_sends_them_stores_none_and_matches(recorded: Recorded) -> None:
    db = _copy(recorded, "replayed.db")
    before = len(recorded.app.passwords)
    env = {**os.environ, "ALICE_PASSWORD": PASSWORD}
    done = run_cli(
        "replay-diff", "--db", str(db), "--session", SESSION, "--name", "same",
        "--target", recorded.app.url, "--baseline", recorded.app.url,
        "--secrets", str(_secrets_file(recorded.tmp)), env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # the target received the real password (JSON and form logins), twice: candidate, baseline
    assert recorded.app.passwords[before:] == [PASSWORD] * 4
    # the same server compared with itself: no difference once equal secrets compare equal
    assert "6 compared, 6 same, 0 different" in done.stdout, done.stdout
    assert "nothing supplies" not in done.stdout + done.stderr
    with Store.open(db) as store:
        replays = list(store.iter_replays(store.run("same").id))
    assert {r.status for r in replays} == {200}
    cookies = [r.header("set-cookie") for r in replays if r.header("set-cookie")]
    assert cookies == [f"sid={recorded.token(SESSION_ID)}; Path=/; HttpOnly"] * 2
    assert not any(r.flags for r in replays)
    for fmt in REPORT_FORMATS:
        out = recorded.tmp / f"report.{fmt}"
        made = run_cli("report", "same", "--db", str(db), "--format", fmt, "-o", str(out))
        assert made.returncode == 0, made.stderr
        text = out.read_text()
        assert all(secret not in text for secret in (*SECRETS, CUSTOM)), fmt
    queried = run_cli("query", "SELECT * FROM replays", "--db", str(db), "--format", "json")
    assert queried.returncode == 0 and "redacted:" in queried.stdout, queried.stderr
    assert all(secret not in queried.stdout for secret in SECRETS)
    data = _db_bytes(db)
    assert all(secret.encode() not in data for secret in (*SECRETS, CUSTOM))


def test_unsupplied_secrets_are_announced_sent_without_and_flagged(recorded: Recorded) -> None:
    db = _copy(recorded, "unsupplied.db")
    # --no-chains: the login's token and cookie are not taken from the target's answers
    done = run_cli(
        "replay", "--db", str(db), "--session", SESSION, "--name", "bare",
        "--target", recorded.app.url, "--no-chains",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = " ".join((done.stdout + done.stderr).split())
    assert "6 requests carry a redacted value that nothing supplies" in said, said
    assert "header:authorization" in said and "query:api_key" in said
    with Store.open(db) as store:
        replays = {r.exchange_id: r for r in store.iter_replays(store.run("bare").id)}
        exchanges = list(store.iter_exchanges(store.session(SESSION).id))
    login, me, items, cart, form, echo = (replays[e.id] for e in exchanges)
    assert login.status == 401 and me.status == 401 and cart.status == 401
    assert items.status == 403
    for replay in (login, me, items, cart, form, echo):
        assert replay.flags == ["unsupplied-secret"]
    # sent without the value: the echo saw no Authorization and no cookie
    seen = json.loads(echo.body)
    assert seen["headers"] == {"authorization": None, "cookie": None}


def test_bad_secrets_file_is_one_line_error(recorded: Recorded, tmp_path: Path) -> None:
    bad = tmp_path / "s.toml"
    bad.write_text('env = ["SHADOWDIFF_TEST_UNSET_VAR"]\n')
    env = {k: v for k, v in os.environ.items() if k != "SHADOWDIFF_TEST_UNSET_VAR"}
    done = run_cli(
        "replay", "--db", str(recorded.db), "--target", recorded.app.url,
        "--secrets", str(bad), env=env,
    )  # fmt: skip
    assert done.returncode == 2
    assert "SHADOWDIFF_TEST_UNSET_VAR is not set" in done.stderr
    assert "Traceback" not in done.stderr
