"""Requests on the wire, as a raw socket target receives them: the bytes as recorded, on both
transports, and one retry where browsers retry (a reused keep-alive connection found closed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shadowdiff.records import Exchange, Replay
from shadowdiff.replayer.engine import ReplayConfig, ReplayResult, replay
from shadowdiff.store import Store
from tests.conftest import run_cli
from tests.wiretarget import Policy, WireTarget, wire_target

pytestmark = pytest.mark.e2e

TRANSPORTS = ("aiohttp", "httpx")
HOST = "shop.example:8080"  # the Host the recording had; the app may refuse any other


def _ex(
    method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes = b""
) -> Exchange:
    return Exchange(
        method=method,
        path=path,
        query=query,
        host="shop.example",
        port=8080,
        request_headers=headers,
        request_body=body,
        status=200,
        response_headers=[("Content-Length", "2")],
        response_body=b"ok",
    )


# what the recorder stores: text decoded from the wire bytes with surrogateescape
H = ("Host", HOST)
EXCHANGES = [
    _ex(
        "GET", '/odd/<a>"b"/{x}', 'q=<1>&r={2}&s="3"', [H, ("X-Mixed-Case", "1"), ("accept", "*/*")]
    ),
    _ex("GET", "/a%2Fb/%7Bc%7D", "x=%7B%7D&y=%2F", [H, ("X-Dup", "a"), ("x-dup", "b")]),
    _ex("GET", "/café/ü", "q=é", [H, ("X-Name", "José")]),
    _ex("DELETE", "/items/1", "", [H, ("X-Token", "t")]),
    _ex("POST", "/up", "", [H, ("Content-Type", "text/csv"), ("Content-Length", "3")], b"a,b"),
    _ex("GET", "/late-host", "", [("User-Agent", "curl/8.5"), H, ("Accept", "*/*")]),
]


def _expected(transport: str, host: bytes) -> list[bytes]:
    """The exact request bytes each exchange must arrive as."""
    h = b"Host: " + host + b"\r\n"
    # h11 (under httpx) refuses non-ASCII bytes in a request target: those become %XX
    cafe = b"/caf\xc3\xa9/\xc3\xbc?q=\xc3\xa9"
    if transport == "httpx":
        cafe = b"/caf%C3%A9/%C3%BC?q=%C3%A9"
    # h11 writes Host first; aiohttp keeps the recorded order
    late = b"User-Agent: curl/8.5\r\n" + h + b"Accept: */*\r\n"
    if transport == "httpx":
        late = h + b"User-Agent: curl/8.5\r\nAccept: */*\r\n"
    return [
        b'GET /odd/<a>"b"/{x}?q=<1>&r={2}&s="3" HTTP/1.1\r\n'
        + h
        + b"X-Mixed-Case: 1\r\naccept: */*\r\n\r\n",
        b"GET /a%2Fb/%7Bc%7D?x=%7B%7D&y=%2F HTTP/1.1\r\n" + h + b"X-Dup: a\r\nx-dup: b\r\n\r\n",
        b"GET " + cafe + b" HTTP/1.1\r\n" + h + b"X-Name: Jos\xc3\xa9\r\n\r\n",
        b"DELETE /items/1 HTTP/1.1\r\n" + h + b"X-Token: t\r\n\r\n",  # no Content-Length: 0
        b"POST /up HTTP/1.1\r\n" + h + b"Content-Type: text/csv\r\nContent-Length: 3\r\n\r\na,b",
        b"GET /late-host HTTP/1.1\r\n" + late + b"\r\n",
    ]


@dataclass
class Outcome:
    result: ReplayResult
    replays: list[tuple[Exchange, Replay]]  # in recorded order

    def column(self, name: str) -> list[object]:
        return [getattr(rp, name) for _, rp in self.replays]


def _replay(db: Path, exchanges: list[Exchange], target: WireTarget, **kw: Any) -> Outcome:
    """Record `exchanges` as a session in a new database and replay them to `target`."""
    kw.setdefault("concurrency", 1)
    with Store.open(db) as store:
        session = store.create_session("wire", source="test")
        store.add_exchanges(session.id, exchanges)
        result = replay(store, ReplayConfig(target=target.url, session="wire", **kw))
        recorded = {ex.id: ex for ex in store.iter_exchanges(session.id)}
        replays = sorted(store.iter_replays(result.run.id), key=lambda rp: rp.exchange_id)
    return Outcome(result, [(recorded[rp.exchange_id], rp) for rp in replays])


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("host", ["recorded", "target"])
def test_requests_arrive_as_recorded(tmp_path: Path, transport: str, host: str) -> None:
    with wire_target() as target:
        out = _replay(tmp_path / "w.db", EXCHANGES, target, transport=transport, host=host)
    assert out.result.failed == 0 and out.result.retried == 0
    sent_host = HOST.encode() if host == "recorded" else target.url.split("//")[1].encode()
    assert target.requests() == _expected(transport, sent_host)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_bytes_that_are_not_utf8(tmp_path: Path, transport: str) -> None:
    """A lone surrogate is a recorded byte that is not UTF-8 (capture's surrogateescape)."""
    exchanges = [
        _ex("GET", "/raw\udcff", "", [("Host", HOST)]),
        _ex("GET", "/h", "", [("Host", HOST), ("X-Latin1", "caf\udce9")]),
    ]
    with wire_target() as target:
        out = _replay(tmp_path / "w.db", exchanges, target, transport=transport)
    # neither transport can put a raw 0xFF in a request target: it is percent-encoded
    assert target.requests()[0] == b"GET /raw%FF HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n\r\n"
    errors = out.column("error")
    if transport == "httpx":  # h11 sends header bytes as they are
        assert target.requests()[1].endswith(b"X-Latin1: caf\xe9\r\n\r\n")
        assert errors == [None, None]
    else:  # aiohttp writes UTF-8 only: the request fails and says what to do
        assert len(target.requests()) == 1
        assert isinstance(errors[1], str) and "--transport httpx" in errors[1]


def _every_reuse(action: str) -> Policy:
    """A server that closes each keep-alive connection when it is used a second time."""
    return lambda conn, nth, overall: "answer" if nth == 0 else action


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("action", ["reset", "close"])
def test_a_closed_keep_alive_connection_is_retried_once(
    tmp_path: Path, transport: str, action: str
) -> None:
    exchanges = [
        _ex("POST" if i % 3 == 0 else "GET", f"/r/{i}", "", [("Host", HOST)]) for i in range(24)
    ]
    with wire_target(_every_reuse(action)) as target:
        out = _replay(tmp_path / "w.db", exchanges, target, transport=transport, concurrency=4)
    assert out.result.failed == 0
    assert out.result.retried > 0
    assert sum("retried" in flags for flags in out.column("flags")) == out.result.retried  # type: ignore[operator]
    # a retry is one more copy of its request, and the first on a new connection
    assert len(target.seen) == len(exchanges) + out.result.retried
    first_on_conn = {s.conn: s for s in reversed(target.seen)}
    for ex, rp in out.replays:
        copies = [s for s in target.seen if s.raw.startswith(f"{ex.method} {ex.path} ".encode())]
        assert len(copies) == (2 if rp.flags == ["retried"] else 1)
        assert first_on_conn[copies[-1].conn] is copies[-1] or len(copies) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_no_retry_after_a_response_started_and_never_twice(tmp_path: Path, transport: str) -> None:
    exchanges = [_ex("POST", f"/p/{i}", "", [("Host", HOST)]) for i in range(3)]
    with wire_target(_every_reuse("partial")) as target:
        out = _replay(tmp_path / "a.db", exchanges, target, transport=transport)
    # the 2nd request reused connection 0 and got half a status line: a started response
    assert (out.result.failed, out.result.retried) == (1, 0)
    assert len(target.seen) == 3  # each sent once

    def after_first(conn: int, nth: int, overall: int) -> str:
        return "answer" if overall == 0 else "reset"

    with wire_target(after_first) as target:
        out = _replay(tmp_path / "b.db", exchanges, target, transport=transport)
    # 1st answered; 2nd reused connection 0, was reset, retried on a fresh one, reset again:
    # failed (never a second retry); 3rd went out on a fresh connection: reset, not retried
    assert len(target.seen) == 4
    assert out.column("flags") == [[], ["retried"], []]
    errors = out.column("error")
    assert errors[0] is None and all(str(e).startswith("reset: ") for e in errors[1:])
    assert (out.result.failed, out.result.retried) == (2, 1)


def test_the_cli_counts_retries_and_takes_host(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    exchanges = [_ex("GET", f"/c/{i}", "", [("Host", HOST)]) for i in range(6)]
    with Store.open(db) as store:
        store.add_exchanges(store.create_session("wire", source="test").id, exchanges)
    with wire_target(_every_reuse("close")) as target:
        result = run_cli(
            "replay", "--db", str(db), "--target", target.url, "-c", "1", "--host", "target"
        )
    assert result.returncode == 0, result.stderr
    assert "failed 0" in result.stdout and "retried 3 on a fresh connection" in result.stdout
    assert all(b"Host: 127.0.0.1:" in raw for raw in target.requests())
    bad = run_cli("replay", "--db", str(db), "--target", target.url, "--host", "upstream")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "--host" in bad.stderr
