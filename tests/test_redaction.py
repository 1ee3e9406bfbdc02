"""Unit tests of the pure redaction (tokens, policy, every place a secret sits), the
``--secrets`` file, and the substitution of supplied values into outgoing requests."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

import pytest
from mitmproxy.test import taddons

from shadowdiff.cli.capture import SECRET_NAMES
from shadowdiff.errors import SecretsFileError
from shadowdiff.recorder.addon import Recorder
from shadowdiff.records import Exchange, Replay
from shadowdiff.redaction import (
    DEFAULT_NAMES,
    RedactionPolicy,
    is_redacted,
    parse_site,
    redaction_token,
)
from shadowdiff.redaction.messages import redact_exchange, redact_replay
from shadowdiff.replayer.build import Target, build_request
from shadowdiff.replayer.secret_guard import SecretGuard
from shadowdiff.replayer.secrets import SecretBook, prepare, read_secrets_file
from shadowdiff.store import Store

pytestmark = pytest.mark.unit

KEY = b"unit-key"
POLICY = RedactionPolicy.build(key=KEY)


def tok(value: str) -> str:
    return redaction_token(KEY, value)


def _exchange(**kw: object) -> Exchange:
    ex = Exchange(method="POST", path="/login", id=1, **kw)  # type: ignore[arg-type]
    return redact_exchange(ex, POLICY)


def test_cli_spells_the_default_names() -> None:
    assert ", ".join(DEFAULT_NAMES) == SECRET_NAMES


def test_json_keys_at_any_depth_case_insensitive_and_linked_to_bearer() -> None:
    body = {"user": {"Password": "pw1"}, "items": [{"access_token": "abc"}], "n": 1}
    ex = _exchange(
        request_headers=[("Content-Type", "application/json"), ("Authorization", "Bearer abc")],
        request_body=json.dumps(body).encode(),
        response_headers=[("Content-Type", "application/json")],
        response_body=b'{"token": "abc", "expires": 3600}',
    )
    sent = json.loads(ex.request_body)
    assert sent["user"]["Password"] == tok("pw1")
    assert sent["items"][0]["access_token"] == tok("abc")
    assert ex.request_header("authorization") == f"Bearer {tok('abc')}"
    assert json.loads(ex.response_body) == {"token": tok("abc"), "expires": 3600}
    sites = {parse_site(s) for s in ex.redacted}
    assert ("response", "json:token", tok("abc")) in sites
    assert ("request", "json:items[].access_token", tok("abc")) in sites
    assert ("request", "header:authorization", tok("abc")) in sites


def test_bodies_without_secrets_keep_their_bytes() -> None:
    raw = b'{ "user" :"alice",\n "tokens_left": 3 }'
    ex = _exchange(request_headers=[("Content-Type", "application/json")], request_body=raw)
    assert ex.request_body is raw and ex.redacted == []


def test_form_multipart_query_cookies_and_schemes() -> None:
    boundary = "b0undary"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="password"\r\n\r\npw2\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="token"; filename="t.txt"\r\n'
        f"\r\nfile-bytes\r\n--{boundary}--\r\n"
    ).encode()
    ex = _exchange(
        query="API_KEY=k%2B1&page=2",
        request_headers=[
            ("Content-Type", f"multipart/form-data; boundary={boundary}"),
            ("Cookie", "sid=s1; theme=dark"),
            ("Proxy-Authorization", "Basic dXNlcjpwdw=="),
            ("X-Api-Key", "raw-key"),
        ],
        request_body=multipart,
        response_headers=[
            ("Set-Cookie", "sid=s2; Path=/; HttpOnly"),
            ("Set-Cookie", "x=; Max-Age=0"),
        ],
    )
    assert ex.query == f"API_KEY={tok('k+1')}&page=2"  # compared decoded
    assert f'name="password"\r\n\r\n{tok("pw2")}\r\n'.encode() in ex.request_body
    assert b"file-bytes" in ex.request_body  # file parts are not form fields
    assert ex.request_header("cookie") == f"sid={tok('s1')}; theme={tok('dark')}"
    assert ex.request_header("proxy-authorization") == f"Basic {tok('dXNlcjpwdw==')}"
    assert ex.request_header("x-api-key") == tok("raw-key")
    assert ex.response_headers == [
        ("Set-Cookie", f"sid={tok('s2')}; Path=/; HttpOnly"),
        ("Set-Cookie", "x=; Max-Age=0"),
    ]
    form = _exchange(
        request_headers=[("Content-Type", "application/x-www-form-urlencoded")],
        request_body=b"user=a&pwd=p+w",
    )
    assert form.request_body == f"user=a&pwd={tok('p w')}".encode()
    assert is_redacted(f"Token {tok('x')}") and not is_redacted("Token x")


def test_gzip_bodies_are_scanned_and_stay_gzip() -> None:
    ex = _exchange(
        response_headers=[("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
        response_body=gzip.compress(b'{"refresh_token": "r1"}'),
    )
    assert json.loads(gzip.decompress(ex.response_body)) == {"refresh_token": tok("r1")}


def test_redact_adds_and_keep_removes() -> None:
    policy = RedactionPolicy.build(redact=["X-Custom"], keep=["Cookie", "PASSWORD"], key=KEY)
    ex = redact_exchange(
        Exchange(
            method="POST",
            path="/",
            request_headers=[
                ("X-Custom", "c"),
                ("Authorization", "Bearer t"),
                ("Cookie", "a=b"),
                ("Content-Type", "application/json"),
            ],
            request_body=b'{"password": "p", "secret": "s"}',
        ),
        policy,
    )
    assert ex.request_header("x-custom") == tok("c")
    assert ex.request_header("authorization") == f"Bearer {tok('t')}"  # defaults still apply
    assert ex.request_header("cookie") == "a=b"
    assert json.loads(ex.request_body) == {"password": "p", "secret": tok("s")}


def test_addon_redact_option_adds_to_the_defaults(tmp_path: Path) -> None:
    rec = Recorder()
    with taddons.context(rec) as tctx:
        tctx.configure(
            rec,
            shadowdiff_db=str(tmp_path / "t.db"),
            shadowdiff_redact="X-Custom",
            shadowdiff_keep_headers="pwd",
        )
        names = rec.policy.redaction.names
        assert {"x-custom", "authorization", "set-cookie", "password"} <= names
        assert "pwd" not in names
        stored = rec.writer.store.redaction_names(rec.writer.session_id) if rec.writer else None
        assert stored == sorted(names)
        tctx.master.event_loop.run_until_complete(rec.done())


def test_replayed_answers_are_redacted_like_recorded_ones() -> None:
    replay = Replay(
        run_id=1,
        exchange_id=1,
        status=200,
        headers=[("Set-Cookie", "sid=s2"), ("Content-Type", "application/json")],
        body=b'{"token": "abc"}',
    )
    redact_replay(replay, POLICY)
    assert replay.header("set-cookie") == f"sid={tok('s2')}"
    assert json.loads(replay.body) == {"token": tok("abc")}


def test_supplied_values_are_substituted_everywhere() -> None:
    book = SecretBook.of(["pw 1&x", "abc", "s1"], KEY)
    recorded = _exchange(
        query="password=pw+1%26x&page=1",
        request_headers=[
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer abc"),
            ("Cookie", "sid=s1; other=o"),
        ],
        request_body=json.dumps({"password": "pw 1&x", "token": "abc"}).encode(),
    )
    done = prepare(recorded, book)
    ex = done.exchange
    assert ex.request_header("authorization") == "Bearer abc"
    assert ex.request_header("cookie") == "sid=s1"  # the unsupplied cookie is left out
    assert ex.query == "password=pw%201%26x&page=1"
    assert json.loads(ex.request_body) == {"password": "pw 1&x", "token": "abc"}
    assert done.unsupplied == ("cookie:other",)
    assert recorded.request_header("authorization") == f"Bearer {tok('abc')}"  # a copy
    bare = prepare(recorded, SecretBook())
    assert bare.exchange.request_header("authorization") is None
    assert set(bare.unsupplied) == {
        "header:authorization",
        "cookie:sid",
        "cookie:other",
        "query:password",
        "json:password",
        "json:token",
    }


def test_secrets_file_values_env_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('values = ["a"]\nenv = ["PW"]\n')
    assert read_secrets_file(path, {"PW": "b"}) == ["a", "b"]
    with pytest.raises(SecretsFileError, match="environment variable PW is not set"):
        read_secrets_file(path, {})
    path.write_text("values = 3\n")
    with pytest.raises(SecretsFileError, match="values must be a list of strings"):
        read_secrets_file(path, {})
    path.write_text("valuez = []\n")
    with pytest.raises(SecretsFileError, match="unknown key 'valuez'"):
        read_secrets_file(path, {})
    path.write_text("values = [\n")
    with pytest.raises(SecretsFileError, match=r"s\.toml"):
        read_secrets_file(path, {})
    with pytest.raises(SecretsFileError, match="does not exist"):
        read_secrets_file(tmp_path / "missing.toml", {})


def test_guard_announces_unsupplied_values_but_not_overridden_headers(tmp_path: Path) -> None:
    with Store.open(tmp_path / "g.db") as store:
        session = store.create_session("s", source="proxy")
        policy = RedactionPolicy.build(key=store.redaction_key())
        recorded = Exchange(
            method="GET",
            path="/me",
            request_headers=[("Authorization", "Bearer abc"), ("X-Api-Key", "k")],
        )
        store.add_exchanges(session.id, [redact_exchange(recorded, policy)])
        stored = list(store.iter_exchanges(session.id))
        run = store.create_run(session.id, kind="candidate", target="http://x", name="r", config={})
        lines: list[str] = []
        overrides = [("Authorization", "Bearer real")]
        guard = SecretGuard.start(store, run, None, overrides, stored, lines.append)
        answer = Replay(run.id, stored[0].id or 0, status=200, headers=[("Set-Cookie", "a=b")])
        guard.finish(stored[0], answer)
    assert len(lines) == 1
    assert "1 requests carry a redacted value" in lines[0]
    assert "header:x-api-key (1)" in lines[0] and "authorization" not in lines[0]
    # unsupplied headers are left out; the --header override goes on as given
    sent = build_request(guard.outgoing(stored[0]), Target.parse("http://127.0.0.1:9"), overrides)
    assert sent.header("authorization") == "Bearer real" and sent.header("x-api-key") is None
    assert answer.flags == ["unsupplied-secret"]
    assert answer.header("set-cookie") == "a=" + policy_token(policy, "b")


def policy_token(policy: RedactionPolicy, value: str) -> str:
    return redaction_token(policy.key, value)


def test_guard_flags_a_rewritten_request_by_what_it_went_without(tmp_path: Path) -> None:
    with Store.open(tmp_path / "g.db") as store:
        session = store.create_session("s", source="proxy")
        policy = RedactionPolicy.build(key=store.redaction_key())
        recorded = Exchange(method="GET", path="/me", request_headers=[("X-Api-Key", "k")])
        twice = [redact_exchange(replace(recorded, seq=n), policy) for n in (1, 2)]
        store.add_exchanges(session.id, twice)
        first, second = list(store.iter_exchanges(session.id))
        run = store.create_run(session.id, kind="candidate", target="http://x", name="r", config={})
        lines: list[str] = []
        guard = SecretGuard.start(store, run, None, [], [first, second], lines.append)
        assert "2 requests carry a redacted value" in lines[0]
        # chains rewrote the first: its key is a clear value now, nothing is missing
        rewritten = replace(first, request_headers=[("X-Api-Key", "issued")])
        assert guard.rewritten(rewritten).request_headers == [("X-Api-Key", "issued")]
        answers = [Replay(run.id, ex.id or 0, status=200) for ex in (first, second)]
        guard.finish(first, answers[0])
        guard.finish(second, answers[1])  # surveyed short, sent as it was
    assert answers[0].flags == [] and answers[1].flags == ["unsupplied-secret"]
    assert not guard.rewritten_short  # kept only until the answer came
