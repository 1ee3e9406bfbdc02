"""build_request and outgoing_headers: what is sent, in which place, and what is not added."""

from __future__ import annotations

import pytest

from shadowdiff.records import Exchange
from shadowdiff.redaction import redaction_token
from shadowdiff.replayer.build import Target, build_request, outgoing_headers

pytestmark = pytest.mark.unit


def _ex(headers: list[tuple[str, str]], body: bytes = b"", method: str = "POST") -> Exchange:
    return Exchange(method=method, path="/p", request_headers=headers, request_body=body)


def test_overrides_take_the_place_of_what_they_replace() -> None:
    secret = redaction_token(b"k", "Bearer real")
    ex = _ex([("Host", "h"), ("authorization", secret), ("X-A", "1"), ("Connection", "keep-alive")])
    out = outgoing_headers(ex, [("Authorization", "Bearer x"), ("X-New", "n")])
    assert out == [("Host", "h"), ("Authorization", "Bearer x"), ("X-A", "1"), ("X-New", "n")]
    assert outgoing_headers(ex) == [("Host", "h"), ("X-A", "1")]  # a token is never sent


def test_host_recorded_or_target_in_its_place() -> None:
    ex = _ex([("X-A", "1"), ("host", "old.example"), ("X-B", "2")])
    assert outgoing_headers(ex, fallback_host="t:1")[1] == ("host", "old.example")
    assert outgoing_headers(ex, host="t:1", fallback_host="t:1")[1] == ("host", "t:1")
    bare = _ex([("X-A", "1")])  # an HTTP/2 recording has no Host header
    assert outgoing_headers(bare, fallback_host="t:1") == [("Host", "t:1"), ("X-A", "1")]


def test_content_length_only_where_the_recording_framed_a_body() -> None:
    assert outgoing_headers(_ex([("Host", "h")], method="DELETE")) == [("Host", "h")]
    chunked = _ex([("Host", "h"), ("Transfer-Encoding", "chunked"), ("X", "1")], b"abc")
    assert outgoing_headers(chunked) == [("Host", "h"), ("Content-Length", "3"), ("X", "1")]
    zero = _ex([("content-length", "0"), ("Host", "h")])
    assert outgoing_headers(zero) == [("content-length", "0"), ("Host", "h")]


def test_build_request_carries_the_recorded_bytes_and_adds_nothing() -> None:
    ex = Exchange(
        method="post",
        path="/a b/<{x}>/caf\udce9",
        query='q="1"',
        request_headers=[("X-Case", "1"), ("Host", "rec:80")],
    )
    request = build_request(ex, Target.parse("http://127.0.0.1:9/prefix"), host="recorded")
    assert request.target == b'/prefix/a b/<{x}>/caf\xe9?q="1"'
    assert request.method == "post" and request.origin == "http://127.0.0.1:9"
    # httpx would add Content-Length: 0 to a body-less POST; the recording had none
    assert request.headers == [("X-Case", "1"), ("Host", "rec:80")]
    assert request.body is None
