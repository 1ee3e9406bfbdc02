"""Chains of server-issued values, the pure parts: detection, bounds, rules, per-target books
(rewriting requests, mapping answers back), the comparison of two recordings, the lanes
that hold a request for its producers, and the store's tables."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from shadowdiff.chains import (
    ChainBook,
    ChainPlan,
    ChainRule,
    apply_rules,
    canonical_pairs,
    looks_issued,
    parse_chain_entry,
)
from shadowdiff.chains import detect as detect_module
from shadowdiff.chains.detect import detect
from shadowdiff.chains.stored import compute_chains, session_chainset
from shadowdiff.differ.rules import parse_rules
from shadowdiff.errors import RulesError
from shadowdiff.records import Exchange
from shadowdiff.redaction import redaction_token
from shadowdiff.replayer.chaining import ChainedLanes, Chainer
from shadowdiff.replayer.order import EachAlone
from shadowdiff.store import Store

pytestmark = pytest.mark.unit

KEY = b"k" * 16
TOKEN = redaction_token(KEY, "alice-raw-token-1")  # what a recording stores for the token
ITEM = "3f2a9c1e-8b7d-4e6f-9a0b-1c2d3e4f5a6b"
JSON = [("Content-Type", "application/json")]


def _ex(
    n: int,
    method: str,
    path: str,
    answer: Any = None,
    *,
    query: str = "",
    headers: list[tuple[str, str]] | None = None,
    body: Any = None,
    response_headers: list[tuple[str, str]] | None = None,
    endpoint: str | None = None,
) -> Exchange:
    return Exchange(
        method=method,
        path=path,
        query=query,
        request_headers=(headers or []) + (JSON if body is not None else []),
        request_body=json.dumps(body).encode() if body is not None else b"",
        status=200,
        response_headers=JSON + (response_headers or []),
        response_body=json.dumps(answer).encode() if answer is not None else b"",
        endpoint=endpoint or f"{method} {path}",
        client="10.0.0.9",
        seq=n,
        id=n,
    )


def _bearer(token: str = TOKEN) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


def _flow() -> list[Exchange]:
    """login -> create -> get (path), find (query), rename (body), as a recording stores it."""
    return [
        _ex(1, "POST", "/login", {"user": "alice", "token": TOKEN}, body={"password": "x" * 9}),
        _ex(2, "POST", "/items", {"id": ITEM, "ok": True}, headers=_bearer(), body={"n": 1}),
        _ex(
            3, "GET", f"/items/{ITEM}", {"id": ITEM}, headers=_bearer(), endpoint="GET /items/{id}"
        ),
        _ex(4, "GET", "/find", {"hits": 1}, query=f"id={ITEM}&page=2", headers=_bearer()),
        _ex(5, "POST", "/rename", {"done": True}, headers=_bearer(), body={"item": ITEM}),
    ]


def _pairs(found: Any) -> set[tuple[str, str, str, str]]:
    return {c[:4] for c in found.chains}


def test_a_login_token_chains_to_authorization_through_its_redaction_token() -> None:
    found = detect(_flow())
    pairs = _pairs(found)
    for consumer in ("POST /items", "GET /items/{id}", "GET /find", "POST /rename"):
        assert ("POST /login", "body.token", consumer, "header.authorization") in pairs
    auth = [link for link in found.links if link.consumer_location == "header.authorization"]
    assert {link.producer_id for link in auth} == {1} and auth[0].value == TOKEN


def test_a_created_id_chains_to_path_query_and_body() -> None:
    found = detect(_flow())
    pairs = _pairs(found)
    assert ("POST /items", "body.id", "GET /items/{id}", "path[1]") in pairs
    # the get's answer holds the id too: the later consumers link to it (the most recent)
    assert ("GET /items/{id}", "body.id", "GET /find", "query.id") in pairs
    assert ("GET /items/{id}", "body.id", "POST /rename", "body.item") in pairs
    chain = next(c for c in found.chains if c.consumer_location == "path[1]")
    assert chain.uses == 1 and chain.example == ITEM and chain.enabled


def test_junk_values_do_not_chain() -> None:
    exchanges = [
        _ex(1, "GET", "/a", {"id": 3, "ok": True, "state": "active", "on": "2024-01-05", "n": 42}),
        _ex(2, "GET", "/b/3", query="state=active&on=2024-01-05&n=42&ok=true"),
        _ex(3, "POST", "/c", body={"id": 3, "ok": True, "state": "active"}),
    ]
    assert detect(exchanges).chains == []
    for key, value in (("id", 3), ("n", 42), ("state", "active"), ("when", "2024-01-05")):
        assert not looks_issued(key, value)
    for key, value in (("id", 42), ("user_id", "1234"), ("slug", "post-2024-x1"), ("t", ITEM)):
        assert looks_issued(key, value)


def test_an_integer_id_chains_only_to_where_an_id_goes() -> None:
    exchanges = [
        _ex(1, "POST", "/orders", {"id": 4217}),
        _ex(2, "GET", "/orders/4217", query="page=4217"),
        _ex(3, "GET", "/list", query="order_id=4217&limit=4217"),
    ]
    locations = {link.consumer_location for link in detect(exchanges).links}
    assert locations == {"path[1]", "query.order_id"}


def test_the_same_identity_is_preferred_then_the_most_recent() -> None:
    bob = redaction_token(KEY, "bob")
    exchanges = [
        _ex(1, "POST", "/items", {"id": ITEM}, headers=_bearer()),
        _ex(2, "GET", "/echo", {"seen": ITEM}, headers=_bearer(bob)),
        _ex(3, "GET", f"/items/{ITEM}", headers=_bearer()),
        _ex(4, "GET", f"/items/{ITEM}", headers=[("Authorization", "Bearer carol-1234567")]),
    ]
    producers = {link.consumer_id: link.producer_id for link in detect(exchanges).links}
    assert producers[3] == 1  # alice's own create, not bob's more recent echo
    assert producers[4] == 2  # nobody of carol's: the most recent


def test_detection_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    many = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(200)]
    deep: Any = ITEM
    for _ in range(80):
        deep = {"a": deep}
    exchanges = [
        _ex(1, "GET", "/many", {"ids": many}),
        _ex(2, "GET", "/deep", deep),
        _ex(3, "GET", "/long", {"t": "a1" * 5000}),
        _ex(4, "POST", "/use", body={"all": many, "deep": ITEM, "long": "a1" * 5000}),
    ]
    found = detect(exchanges)
    produced = {str(link.value) for link in found.links}
    assert len(produced) == detect_module.MAX_PER_EXCHANGE  # values kept of one answer
    assert ITEM not in produced  # deeper than the JSON depth bound
    assert "a1" * 5000 not in produced  # longer than a chained value may be
    monkeypatch.setattr(detect_module, "MAX_LINKS", 5)
    assert len(detect(exchanges).links) == 5


def _plan(exchanges: list[Exchange]) -> ChainPlan:
    return ChainPlan.of(detect(exchanges).links)


def test_a_book_rewrites_each_consumed_place_with_its_targets_values() -> None:
    flow = _flow()
    plan = _plan(flow)
    book = ChainBook(KEY)
    mine = "9d9d9d9d-1111-4222-8333-444455556666"
    book.learn(plan.produces[1], JSON, json.dumps({"token": "bob.raw.tok3n"}).encode())
    book.learn(plan.produces[2], JSON, json.dumps({"id": mine}).encode())
    get = book.rewrite(flow[2], plan.consumes[3])
    assert get.exchange.path == f"/items/{mine}" and not get.unchained
    assert get.exchange.request_header("authorization") == "Bearer bob.raw.tok3n"
    book.learn(plan.produces[3], JSON, json.dumps({"id": mine}).encode())
    find = book.rewrite(flow[3], plan.consumes[4]).exchange
    assert find.query == f"id={mine}&page=2"
    rename = book.rewrite(flow[4], plan.consumes[5]).exchange
    assert json.loads(rename.request_body) == {"item": mine}
    assert flow[2].path == f"/items/{ITEM}"  # the recording is not changed


def test_a_value_its_target_never_issued_goes_as_recorded_unchained() -> None:
    flow = _flow()
    plan = _plan(flow)
    book = ChainBook(KEY)
    book.learn(plan.produces[1], JSON, json.dumps({"token": "t-raw-123"}).encode())
    book.learn(plan.produces[2], JSON, json.dumps({"renamed_id": "x"}).encode())  # no id
    get = book.rewrite(flow[2], plan.consumes[3])
    assert get.unchained and get.exchange.path == f"/items/{ITEM}"
    assert get.exchange.request_header("authorization") == "Bearer t-raw-123"


def test_answers_are_mapped_back_to_the_recorded_values() -> None:
    plan = _plan(_flow())
    book = ChainBook(KEY)
    mine = "9d9d9d9d-1111-4222-8333-444455556666"
    other = "7e7e7e7e-1111-4222-8333-444455556666"
    book.learn(plan.produces[2], JSON, json.dumps({"id": mine}).encode())
    book.recorded[other] = "0a0a0a0a-0000-4000-8000-000000000000"  # issued for another object
    headers = [*JSON, ("Location", f"/items/{mine}"), ("Set-Cookie", f"sid={mine}; Path=/")]
    body = json.dumps({"id": mine, "href": f"/items/{mine}?x=1", "owner": other, "n": 5})
    new_headers, new_body, changed = book.canonical(headers, body.encode())
    assert changed
    assert dict(new_headers)["Location"] == f"/items/{ITEM}"
    assert dict(new_headers)["Set-Cookie"] == f"sid={ITEM}; Path=/"
    doc = json.loads(new_body)
    assert doc["id"] == ITEM and doc["href"] == f"/items/{ITEM}?x=1" and doc["n"] == 5
    # a wrong id maps to the object it belongs to, so it still differs from the recording
    assert doc["owner"] == "0a0a0a0a-0000-4000-8000-000000000000"


def test_integer_ids_map_back_under_id_keys_only() -> None:
    book = ChainBook(KEY)
    book.learn([("body.id", 4217)], JSON, b'{"id": 98}')
    _, body, _ = book.canonical(JSON, b'{"id": 98, "count": 98, "user_id":98}')
    assert json.loads(body) == {"id": 4217, "count": 98, "user_id": 4217}


def test_the_same_secret_needs_no_mapping_back() -> None:
    book = ChainBook(KEY)
    book.learn([("body.token", TOKEN)], JSON, b'{"token": "alice-raw-token-1"}')
    assert book.issued == {TOKEN: "alice-raw-token-1"} and book.recorded == {}
    assert book.canonical(JSON, b'{"token": "alice-raw-token-1"}')[2] is False


def test_two_recordings_compare_like_with_like() -> None:
    a = _flow()
    mine = "9d9d9d9d-1111-4222-8333-444455556666"
    b = [
        _ex(1, "POST", "/login", {"user": "alice", "token": redaction_token(KEY, "b-tok-9")}),
        _ex(2, "POST", "/items", {"id": mine, "ok": True}),
        _ex(3, "GET", f"/items/{mine}", {"id": mine}),
    ]
    out = canonical_pairs(list(zip(a[:3], b, strict=True)), KEY, a)
    assert [json.loads(ex.response_body) for ex in out] == [
        json.loads(ex.response_body) for ex in a[:3]
    ]
    assert json.loads(b[1].response_body)["id"] == mine  # B's exchanges are copies


def test_chain_rules_parse_add_and_turn_off() -> None:
    text = """
[[chains]]
producer = "POST /login body.user"
consumer = "* query.who"

[[chains]]
producer = "POST /items body.id"
consumer = "GET /items/{id} path[1]"
off = true
"""
    rules = parse_rules(text, "r.toml").chains
    assert [r.off for r in rules] == [False, True]
    flow = [*_flow(), _ex(6, "GET", "/hello", query="who=alice")]
    found = apply_rules(detect(flow), flow, rules)
    off = [c for c in found.chains if not c.enabled]
    assert [c[:4] for c in off] == [("POST /items", "body.id", "GET /items/{id}", "path[1]")]
    added = [c for c in found.chains if c.origin == "rules"]
    assert [c[:4] for c in added] == [("POST /login", "body.user", "GET /hello", "query.who")]
    assert all(link.consumer_location != "path[1]" for link in found.enabled_links())
    assert ChainRule.from_stored(rules[1].stored()) == rules[1]


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ('producer = "POST /login"', "endpoint 'POST' must be"),
        ('producer = "body.token"', "must be '<endpoint> <location>'"),
        ('producer = "POST /login bodyx.token"\nconsumer = "* x"', "bad location 'bodyx.token'"),
        ('producer = "login body.t"\nconsumer = "* header.a"', "must be '*', '* /path'"),
        ('producer = "POST /login body.t"', "needs a consumer"),
        ('producer = "POST /a body.t"\noff = "yes"', "off must be true or false"),
        ('producer = "POST /a body.t"\nof = true', "unknown key 'of'"),
    ],
)
def test_a_bad_chain_entry_is_one_line_naming_it(entry: str, needle: str) -> None:
    text = f'[[rules]]\nkind = "ignore"\npath = "body.x"\nreason = "r"\n\n[[chains]]\n{entry}\n'
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "r.toml")
    line = str(caught.value)
    assert "\n" not in line and line.startswith("r.toml:6: [[chains]] entry 1: "), line
    assert needle in line, line
    with pytest.raises(ValueError, match="table"):
        parse_chain_entry("x")


def _drain(lanes: ChainedLanes, order: list[int], workers: int) -> None:
    async def worker() -> None:
        while (index := await lanes.take()) is not None:
            order.append(index)
            await asyncio.sleep(0)
            lanes.done(index)

    async def main() -> None:
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(workers))), 5)

    asyncio.run(main())


def test_a_request_waits_for_its_producer_in_another_lane() -> None:
    # lanes a: 0, 2; b: 1 (needs 2), 3 (needs 0)
    lanes = ChainedLanes(["a", "b", "a", "b"], 2, [set(), {2}, set(), {0}])
    order: list[int] = []
    _drain(lanes, order, 2)
    assert sorted(order) == [0, 1, 2, 3] and order.index(2) < order.index(1)
    # one worker, every request holding for the one before it: no deadlock
    chain = ChainedLanes([str(i) for i in range(50)], 1, [set()] + [{i} for i in range(49)])
    order = []
    _drain(chain, order, 1)
    assert order == list(range(50))


def test_a_login_goes_in_the_lane_of_the_identity_it_made() -> None:
    flow = _flow()
    chainer = Chainer(_plan(flow), KEY)
    ids = [ex.id or 0 for ex in flow]
    keys = ["client:10.0.0.9"] + [f"auth:{TOKEN}"] * 4
    assert list(chainer.lane_keys(keys, ids)) == [f"auth:{TOKEN}"] * 5
    lanes = chainer.lanes(keys, 2, ids)
    assert isinstance(lanes, ChainedLanes) and set(lanes.needs(2)) == {1, 2}  # exchange ids


def test_the_store_keeps_a_sessions_chains(tmp_path: Path) -> None:
    with Store.open(tmp_path / "c.db") as store:
        session = store.import_session("s", _flow(), source="har", upstream=None)
        assert store.chains_computed_at(session.id) is None
        found = compute_chains(store, session.id)
        assert store.chains_computed_at(session.id) == 5
        again = session_chainset(store, session.id, 5)
        assert again.chains == found.chains
        assert [link[1:] for link in again.links] == [link[1:] for link in found.links]
        rules = (ChainRule.from_stored({"producer": "POST /login body.token", "off": True}),)
        off = session_chainset(store, session.id, 5, rules)
        assert {c.enabled for c in off.chains if c.producer_location == "body.token"} == {False}
        stored = store.session_chains(session.id)
        assert any(not row[7] for row in stored)


def test_a_detection_tells_how_many_exchanges_it_read(tmp_path: Path) -> None:
    told: list[int] = []
    read: list[int] = []

    def progress(total: int) -> Any:
        told.append(total)
        return read.append

    with Store.open(tmp_path / "p.db") as store:
        session = store.import_session("s", _flow(), source="har", upstream=None)
        compute_chains(store, session.id, progress=progress)
        assert told == [5] and sum(read) == 5  # one pass
        for entry, reads in (
            ({"producer": "POST /login body.token", "off": True}, 5),  # turns one off
            ({"producer": "POST /login body.token", "consumer": "* header.x-token"}, 10),
        ):
            told.clear(), read.clear()
            rule = ChainRule.from_stored(entry)
            session_chainset(store, session.id, 5, (rule,), progress=progress)
            assert told == [reads] and sum(read) == reads  # a chain to add: read again
        told.clear()
        session_chainset(store, session.id, 5, progress=progress)
        assert told == []  # stored and current: nothing read


def test_a_value_that_does_not_look_issued_goes_out_but_is_not_mapped_back() -> None:
    flow = _flow()
    plan = _plan(flow)
    book = ChainBook(KEY)
    book.learn(plan.produces[2], JSON, b'{"id": 5}')
    assert book.rewrite(flow[2], plan.consumes[3]).exchange.path == "/items/5"
    assert book.recorded == {}
    assert book.canonical(JSON, b'{"id": 5, "n": 5}')[2] is False


def _har_entry(method: str, url: str, answer: Any, headers: list[dict[str, str]]) -> Any:
    json_type = [{"name": "Content-Type", "value": "application/json"}]
    return {
        "startedDateTime": "2026-01-01T00:00:00+00:00",
        "time": 1,
        "request": {"method": method, "url": url, "headers": headers},
        "response": {
            "status": 200,
            "headers": json_type,
            "content": {"text": json.dumps(answer), "mimeType": "application/json"},
        },
    }


def _har(tmp_path: Path) -> Path:
    bearer = [{"name": "Authorization", "value": "Bearer tok-raw-9f8e7d6c5b4a"}]
    entries = [
        _har_entry("POST", "http://svc/login", {"token": "tok-raw-9f8e7d6c5b4a"}, []),
        _har_entry("POST", "http://svc/items", {"id": ITEM}, bearer),
        _har_entry("GET", f"http://svc/items/{ITEM}", {"id": ITEM}, bearer),
    ]
    path = tmp_path / "c.har"
    path.write_text(json.dumps({"log": {"entries": entries}}))
    return path


def test_an_import_finds_its_chains(tmp_path: Path) -> None:
    from shadowdiff.recorder.importers import import_file

    with Store.open(tmp_path / "i.db") as store:
        result = import_file(store, _har(tmp_path), session="imp")
        assert result.chains >= 2 and result.chain_warning is None
        rows = store.session_chains(result.session.id)
        assert ("POST /login", "body.token", "POST /items", "header.authorization") in {
            row[:4] for row in rows
        }
        assert all("tok-raw" not in str(row) for row in rows)  # the token, as its token


def test_a_chain_detection_failure_loses_no_recorded_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shadowdiff.recorder import chainfind
    from shadowdiff.recorder.importers import import_file

    def broken(*args: Any, **kw: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(chainfind, "compute_chains", broken)
    with Store.open(tmp_path / "i.db") as store:
        result = import_file(store, _har(tmp_path), session="imp")
        assert result.chains == 0 and result.chain_warning is not None
        assert "RuntimeError: boom" in result.chain_warning
        assert len(list(store.iter_exchanges(result.session.id))) == 3
    count, warning = chainfind.chain_recording(tmp_path / "i.db", "no-such-session")
    assert count == 0 and warning is not None and "SessionNotFoundError" in warning


def test_a_schema_4_file_gets_the_chain_tables(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with Store.open(db) as store:
        store.db.execute("DROP TABLE chain_links")
        store.db.execute("DROP TABLE chains")
        store.db.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
        store.db.conn.commit()
    with Store.open(db) as store:
        assert store.meta("schema_version") == "5"
        assert {"chains", "chain_links"} <= set(store.db.table_names())


def test_a_created_location_and_a_token_header_chain_too() -> None:
    exchanges = [
        _ex(1, "POST", "/login", response_headers=[("X-Auth-Token", "tk-77aa88bb99cc00dd")]),
        _ex(2, "POST", "/items", response_headers=[("Location", f"http://svc/items/{ITEM}")]),
        _ex(3, "GET", f"/items/{ITEM}", headers=[("X-Auth-Token", "tk-77aa88bb99cc00dd")]),
    ]
    pairs = _pairs(detect(exchanges))
    assert ("POST /items", "location[1]", f"GET /items/{ITEM}", "path[1]") in pairs
    assert ("POST /login", "header.x-auth-token", f"GET /items/{ITEM}", "header.x-auth-token") in (
        pairs
    )
    plan = _plan(exchanges)
    book = ChainBook(KEY)
    book.learn(plan.produces[1], [("X-Auth-Token", "tk-mine-0123456789")], b"")
    book.learn(plan.produces[2], [("Location", "/items/mine-4d5e6f7a8b9c0d1e")], b"")
    sent = book.rewrite(exchanges[2], plan.consumes[3]).exchange
    assert sent.path == "/items/mine-4d5e6f7a8b9c0d1e"
    assert sent.request_header("x-auth-token") == "tk-mine-0123456789"
    assert parse_chain_entry({"producer": "POST /items location[1]", "off": True}).off


def test_the_chains_command_fails_in_one_line(tmp_path: Path) -> None:
    from tests.clirun import invoke
    from tests.conftest import assert_one_line_error

    assert_one_line_error(invoke("chains", "--db", str(tmp_path / "none.db")), "does not exist")
    assert not (tmp_path / "none.db").exists()
    with Store.open(tmp_path / "c.db") as store:
        store.import_session("s", _flow(), source="har", upstream=None)
    assert_one_line_error(invoke("chains", "nope", "--db", str(tmp_path / "c.db")), "'nope'")
    bad = tmp_path / "bad.toml"
    bad.write_text('[[chains]]\nproducer = "POST /login nowhere"\noff = true\n')
    failed = invoke("chains", "s", "--db", str(tmp_path / "c.db"), "--rules", str(bad))
    assert_one_line_error(failed, "bad.toml:1:", "[[chains]] entry 1", "bad location")
    listed = invoke("chains", "s", "--db", str(tmp_path / "c.db"), "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["count"] >= 1


def test_a_secret_in_clear_at_one_end_links_to_its_token_at_the_other() -> None:
    jwt = "eyJhbGciOi.eyJzdWIiOiJh.c2lnbmF0dXJl"  # answered under "jwt": not a secret name
    csrf = "c5rf-9a8b7c6d5e4f3a2b"
    exchanges = [
        _ex(1, "POST", "/login", {"jwt": jwt}),
        _ex(
            2,
            "GET",
            "/form",
            response_headers=[("Set-Cookie", f"csrftoken={redaction_token(KEY, csrf)}")],
        ),
        _ex(3, "POST", "/save", headers=[*_bearer(redaction_token(KEY, jwt)), ("X-CSRF", csrf)]),
    ]
    found = detect(exchanges, key=KEY)
    pairs = _pairs(found)
    assert ("POST /login", "body.jwt", "POST /save", "header.authorization") in pairs
    assert ("GET /form", "set-cookie.csrftoken", "POST /save", "header.x-csrf") in pairs
    plan = ChainPlan.of(found.links)
    assert plan.produces[1] == [("body.jwt", jwt)]  # the producer's own (clear) form
    book = ChainBook(KEY)
    book.learn(plan.produces[1], JSON, json.dumps({"jwt": "eyJ.mine.jwt-123456"}).encode())
    book.learn(plan.produces[2], [("Set-Cookie", "csrftoken=mine-csrf-7777aaaa")], b"")
    sent = book.rewrite(exchanges[2], plan.consumes[3]).exchange
    assert sent.request_header("authorization") == "Bearer eyJ.mine.jwt-123456"
    assert sent.request_header("x-csrf") == "mine-csrf-7777aaaa"
    # the answer maps back to the producer's recorded (clear) value: no false difference
    assert json.loads(book.canonical(JSON, b'{"jwt": "eyJ.mine.jwt-123456"}')[1]) == {"jwt": jwt}


def test_the_first_consumer_links_the_answer_that_issued_the_value() -> None:
    # a create, a list repeating its id, then a read: the read links the create, so the
    # create's answer is learned (and mapped back) at replay; later reads link the latest
    exchanges = [
        _ex(1, "POST", "/items", {"id": ITEM}),
        _ex(2, "GET", "/items", {"items": [{"id": ITEM}]}),
        _ex(3, "GET", f"/items/{ITEM}", endpoint="GET /items/{id}"),
        _ex(4, "DELETE", f"/items/{ITEM}", endpoint="DELETE /items/{id}"),
    ]
    producers = {link.consumer_id: link.producer_id for link in detect(exchanges).links}
    assert producers == {3: 1, 4: 2}
    assert set(_plan(exchanges).produces) == {1, 2}


def test_detection_remembers_the_newest_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the bound, the oldest produced values are forgotten, never the newest: a long
    recording keeps chaining its recent logins and creations."""
    ids = [f"{i:08x}-1111-4000-8000-000000000000" for i in range(4)]
    made = [_ex(n, "POST", "/items", {"id": ids[n - 1]}) for n in range(1, 5)]
    used = [_ex(10 + n, "GET", f"/items/{ids[n - 1]}", {}) for n in (1, 4)]
    monkeypatch.setattr(detect_module, "MAX_REMEMBERED", 2)
    linked = {link.consumer_id: link.producer_id for link in detect([*made, *used]).links}
    assert linked == {14: 4}  # the first id was forgotten, the last is chained


def test_chained_lanes_keep_nothing_per_item() -> None:
    """A million items with --order none and one chained pair: no per-item structure."""
    lanes = ChainedLanes(EachAlone(1_000_000), 4, {999_999: {0}})
    assert len(lanes.after) == 0 and lanes.needs(999_999) == {0} and lanes.needs(5) == ()
    assert not lanes.finished and not lanes.held
    plan = _plan(_flow())
    keys = EachAlone(len(_flow()))
    assert Chainer(plan, KEY).lane_keys(keys, [ex.id or 0 for ex in _flow()]) is keys


def test_a_producer_joins_the_lane_of_an_identity_made_of_a_plain_value() -> None:
    """An identity the rules file takes from a header holding a session id (no secret, no
    redaction token) moves the request that issued the id into that identity's lane too."""
    flow = [
        _ex(1, "POST", "/sessions", {"id": ITEM}),
        _ex(2, "GET", "/me", {"ok": True}, headers=[("X-Session", ITEM)]),
        _ex(3, "GET", "/items", [], headers=[("X-Session", ITEM)]),
    ]
    chainer = Chainer(_plan(flow), KEY)
    keys = ["client:10.0.0.9", f"header:{ITEM}", f"header:{ITEM}"]
    assert list(chainer.lane_keys(keys, [1, 2, 3])) == [f"header:{ITEM}"] * 3
