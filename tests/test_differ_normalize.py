"""Lifting raw responses to trees: headers, content encodings and the cap, content types."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import zlib

import orjson
import pytest

from shadowdiff.differ import (
    binary_marker,
    canonical,
    decode_body,
    lift,
    lift_headers,
    lift_pair,
    relativize_location,
)

pytestmark = pytest.mark.unit

HAVE_BROTLI = importlib.util.find_spec("brotli") is not None


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- headers


def test_headers_lower_cased_repeats_joined_set_cookie_listed() -> None:
    tree = lift(
        200,
        [
            ("Content-Type", "text/plain"),
            ("Vary", "Accept"),
            ("vary", "Origin"),
            ("Set-Cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("X-Only", "x"),
        ],
        b"hi",
    )
    assert tree == {
        "status": 200,
        "headers": {
            "content-type": "text/plain",
            "vary": "Accept, Origin",
            "set-cookie": ["a=1", "b=2"],
            "x-only": "x",
        },
        "body": "hi",
    }


def test_headers_accept_lists_and_single_cookie_is_a_list() -> None:
    assert lift_headers([["Set-Cookie", "a=1"], ["A", "b"]]) == {"set-cookie": ["a=1"], "a": "b"}


def test_empty_body_and_no_status() -> None:
    assert lift(None, [], b"") == {"status": None, "headers": {}, "body": None}
    assert lift(204, [("Content-Type", "application/json")], b"")["body"] is None


# --------------------------------------------------------------------------- JSON

JSON = [("Content-Type", "application/json")]


def test_json_and_plus_json() -> None:
    assert lift(200, JSON, b'{"a": [1, 2.5, null, true]}')["body"] == {"a": [1, 2.5, None, True]}
    problem = [("Content-Type", "application/problem+json; charset=utf-8")]
    assert lift(422, problem, b'{"title": "bad"}')["body"] == {"title": "bad"}


def test_invalid_json_falls_back_to_text() -> None:
    assert lift(200, JSON, b"{not json")["body"] == "{not json"


def test_invalid_json_that_is_not_text_is_binary() -> None:
    assert lift(200, JSON, b"\xff\xfe{")["body"] == binary_marker(b"\xff\xfe{")


def test_json_non_finite_numbers_become_markers() -> None:
    body = lift(200, JSON, b'{"a": NaN, "b": Infinity, "c": -Infinity, "d": 1e400}')["body"]
    assert body == {
        "a": {"$float": "NaN"},
        "b": {"$float": "Infinity"},
        "c": {"$float": "-Infinity"},
        "d": {"$float": "1e400"},
    }


def test_json_big_integers_stay_exact() -> None:
    a = lift(200, JSON, b'{"id": 123456789012345678901234567890}')["body"]
    b = lift(200, JSON, b'{"id": 123456789012345678901234567891}')["body"]
    assert a == {"id": 123456789012345678901234567890}
    assert a != b
    assert canonical(a) != canonical(b)
    # found among floats whose digits also run long, wherever it sits
    for template in (
        b"[0.000000000000000000000001, %d]",
        b"[%d, 1.5e-300, 0.000000000000000000001]",
    ):
        x = lift(200, JSON, template % 10**25)["body"]
        y = lift(200, JSON, template % (10**25 + 1))["body"]
        assert 10**25 in x and 10**25 + 1 in y


def test_json_other_charset() -> None:
    headers = [("Content-Type", "application/json; charset=latin-1")]
    assert lift(200, headers, '{"a": "é"}'.encode("latin-1"))["body"] == {"a": "é"}


# --------------------------------------------------------------------------- encodings

PAYLOAD = json.dumps({"items": list(range(200)), "name": "x" * 100}).encode()


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),  # zlib-wrapped, as the RFC says
        ("deflate", _raw_deflate),  # raw, as many servers send
        ("GZIP", gzip.compress),
    ],
)
def test_content_encodings(encoding: str, compress: object) -> None:
    assert callable(compress)
    body = compress(PAYLOAD)
    tree = lift(200, [*JSON, ("Content-Encoding", encoding)], body)
    assert tree["body"] == json.loads(PAYLOAD)


def test_brotli_decoded_when_available_else_hashed() -> None:
    if HAVE_BROTLI:
        import brotli

        body = brotli.compress(PAYLOAD)
        expected = json.loads(PAYLOAD)
    else:
        body = b"\x1b\x03\x00\xf8\xa5@\x02"  # any bytes: without brotli they are only hashed
        expected = binary_marker(body)
    assert lift(200, [*JSON, ("Content-Encoding", "br")], body)["body"] == expected


def test_stacked_encodings_are_undone_in_reverse() -> None:
    body = gzip.compress(zlib.compress(PAYLOAD))
    tree = lift(200, [*JSON, ("Content-Encoding", "deflate, gzip")], body)
    assert tree["body"] == json.loads(PAYLOAD)


def test_concatenated_gzip_members() -> None:
    body = gzip.compress(b'{"a": ') + gzip.compress(b"[1, 2]}")
    assert lift(200, [*JSON, ("Content-Encoding", "gzip")], body)["body"] == {"a": [1, 2]}


def test_identity_and_unknown_and_broken_encodings() -> None:
    assert lift(200, [*JSON, ("Content-Encoding", "identity")], b"[1]")["body"] == [1]
    assert lift(200, [*JSON, ("Content-Encoding", "zstd")], b"[1]")["body"] == binary_marker(b"[1]")
    broken = gzip.compress(PAYLOAD)[:-30]
    assert lift(200, [*JSON, ("Content-Encoding", "gzip")], broken)["body"] == binary_marker(broken)
    garbage = b"definitely not deflate"
    assert lift(200, [*JSON, ("Content-Encoding", "deflate")], garbage)["body"] == (
        binary_marker(garbage)
    )


BOMB = b"\0" * (4 * 2**20)


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", _raw_deflate)]
    + ([("br", None)] if HAVE_BROTLI else []),
)
def test_decompression_cap_gives_a_marker_not_an_exception(encoding: str, compress: object) -> None:
    if compress is None:
        import brotli

        body = brotli.compress(BOMB)
    else:
        assert callable(compress)
        body = compress(BOMB)
    headers = [("Content-Type", "application/octet-stream"), ("Content-Encoding", encoding)]
    tree = lift(200, headers, body, max_decoded=2**20)
    assert tree["body"] == {
        "$binary": {"sha256": sha(body), "length": len(body)},
        "$note": "decompression cap exceeded",
    }
    # exactly at the cap is fine
    small = lift(200, headers, body, max_decoded=len(BOMB))["body"]
    assert small == binary_marker(BOMB)


# --------------------------------------------------------------------------- content types


def test_csv_rows_with_numbers() -> None:
    body = (
        b"id,name,score,zip,exp,neg,empty,text\r\n"
        b'1,"Doe, Jane",0.5,02134,1e3,-7,,nan\r\n'
        b'2,"Line\nbreak",.25,0,1.5E-2,+3,,inf\r\n'
    )
    rows = lift(200, [("Content-Type", "text/csv; charset=utf-8")], body)["body"]
    assert rows == [
        ["id", "name", "score", "zip", "exp", "neg", "empty", "text"],
        [1, "Doe, Jane", 0.5, "02134", 1000.0, -7, "", "nan"],
        [2, "Line\nbreak", 0.25, 0, 0.015, 3, "", "inf"],
    ]
    assert type(rows[1][0]) is int and type(rows[1][2]) is float


def test_csv_line_endings_do_not_matter() -> None:
    crlf = lift(200, [("Content-Type", "text/csv")], b"a,b\r\n1,2\r\n")
    lf = lift(200, [("Content-Type", "text/csv")], b"a,b\n1,2")
    assert crlf == lf


def _multipart(boundary: str, parts: list[tuple[str, str | None, str | None, bytes]]) -> bytes:
    out = b""
    for name, filename, ctype, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if ctype is not None:
            head += f"Content-Type: {ctype}\r\n"
        out += head.encode() + b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


PARTS = [
    ("field", None, None, b"value"),
    ("meta", None, "application/json", b'{"k": [1, 2]}'),
    ("upload", "a.bin", "application/octet-stream", b"\x00\x01\x02"),
    ("tag", None, None, b"one"),
    ("tag", None, None, b"two"),
]


def test_multipart_parts_by_name_independent_of_boundary() -> None:
    one = lift(
        200,
        [("Content-Type", "multipart/form-data; boundary=AaB03x")],
        _multipart("AaB03x", PARTS),
    )
    two = lift(
        200,
        [("Content-Type", 'multipart/form-data; boundary="----WebKitFormBoundary7MA4YWxk"')],
        _multipart("----WebKitFormBoundary7MA4YWxk", PARTS),
    )
    assert one == {**two, "headers": one["headers"]}
    assert one["body"] == {
        "field": {"filename": None, "content_type": None, "body": "value"},
        "meta": {"filename": None, "content_type": "application/json", "body": {"k": [1, 2]}},
        "upload": {
            "filename": "a.bin",
            "content_type": "application/octet-stream",
            "body": binary_marker(b"\x00\x01\x02"),
        },
        "tag": [
            {"filename": None, "content_type": None, "body": "one"},
            {"filename": None, "content_type": None, "body": "two"},
        ],
    }
    changed = lift(
        200,
        [("Content-Type", "multipart/form-data; boundary=AaB03x")],
        _multipart("AaB03x", [*PARTS[:1], ("meta", None, "application/json", b'{"k": [1]}')]),
    )
    assert changed["body"] != one["body"]


def test_multipart_without_boundary_is_binary() -> None:
    body = _multipart("x", PARTS)
    assert lift(200, [("Content-Type", "multipart/form-data")], body)["body"] == binary_marker(body)


def test_form_urlencoded() -> None:
    body = b"a=1&b=x+y&a=2&empty=&caf%C3%A9=%E2%9C%93"
    tree = lift(200, [("Content-Type", "application/x-www-form-urlencoded")], body)
    assert tree["body"] == {"a": ["1", "2"], "b": ["x y"], "empty": [""], "café": ["✓"]}


@pytest.mark.parametrize(
    "ctype",
    [
        "text/plain",
        "text/html; charset=utf-8",
        "application/xml",
        "application/atom+xml",
        "application/xhtml+xml",
        "TEXT/Markdown",
    ],
)
def test_text_types(ctype: str) -> None:
    assert lift(200, [("Content-Type", ctype)], "<p>héllo</p>".encode())["body"] == ("<p>héllo</p>")


def test_text_with_declared_charset_and_undecodable_text() -> None:
    latin = [("Content-Type", "text/plain; charset=iso-8859-1")]
    assert lift(200, latin, "café".encode("latin-1"))["body"] == "café"
    bad = b"caf\xe9"
    assert lift(200, [("Content-Type", "text/plain")], bad)["body"] == binary_marker(bad)
    unknown = [("Content-Type", "text/plain; charset=klingon")]
    assert lift(200, unknown, b"plain")["body"] == "plain"


@pytest.mark.parametrize("headers", [[("Content-Type", "image/png")], []])
def test_anything_else_is_hash_and_length(headers: list[tuple[str, str]]) -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    assert lift(200, headers, data)["body"] == {
        "$binary": {"sha256": sha(data), "length": len(data)}
    }


def test_decode_body_directly() -> None:
    assert decode_body(gzip.compress(b"[1]"), "application/json", "gzip") == [1]
    assert decode_body(b"", "application/json") is None


# --------------------------------------------------------------------------- canonical bytes


def test_canonical_sorts_keys_and_keeps_types_apart() -> None:
    assert canonical({"b": 1, "a": [1.0, True, None]}) == b'{"a":[1.0,true,null],"b":1}'
    assert canonical({"b": 1, "a": 2}) == canonical({"a": 2, "b": 1})
    assert len({canonical(1), canonical(1.0), canonical(True)}) == 3


def test_canonical_nan_is_not_null() -> None:
    nan = canonical({"x": float("nan")})
    assert nan != canonical({"x": None})
    assert nan == canonical({"x": float("nan")})
    assert canonical([float("inf")]) != canonical([float("-inf")])
    assert canonical([float("inf")]) != canonical([None])


def test_canonical_non_str_keys_and_odd_values() -> None:
    assert canonical({1: "a"}) != canonical({"1": "a"})
    assert canonical({1: "a", "b": 2}) == canonical({"b": 2, 1: "a"})
    big = canonical({"n": 2**80})
    assert big != canonical({"n": 2**80 + 1})
    assert orjson.loads(big) == {"n": {"$int": str(2**80)}}
    assert canonical((1, 2)) == canonical([1, 2])
    assert canonical(b"\x00") == canonical(binary_marker(b"\x00"))


# --------------------------------------------------------------------------- pairs


def test_lift_pair_shares_identical_bodies() -> None:
    body = b'{"a": [1, 2]}'
    old, new = lift_pair(
        (200, [("Content-Type", "application/json")], body),
        (201, [("content-type", "application/json"), ("X", "y")], bytes(body)),
    )
    assert new["body"] is old["body"]
    assert new == {"status": 201, "headers": {"content-type": "application/json", "x": "y"},
                   "body": {"a": [1, 2]}}  # fmt: skip
    # another content type (or encoding, or body) decodes separately
    old, new = lift_pair(
        (200, [("Content-Type", "application/json")], body),
        (200, [("Content-Type", "text/plain")], body),
    )
    assert old["body"] == {"a": [1, 2]} and new["body"] == body.decode()
    old, new = lift_pair(
        (200, [("Content-Type", "application/json")], body),
        (200, [("Content-Type", "application/json")], b'{"a": [1, 3]}'),
    )
    assert new["body"] == {"a": [1, 3]}
    assert lift_pair((204, [], None), (204, [], b"")) == (
        {"status": 204, "headers": {}, "body": None},
        {"status": 204, "headers": {}, "body": None},
    )


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("http://127.0.0.1:8001/info/?v=1", "/info/?v=1"),
        ("HTTP://127.0.0.1:8001", "/"),
        ("http://127.0.0.1:8001?x=1", "?x=1"),
        ("http://127.0.0.1:80011/info/", "http://127.0.0.1:80011/info/"),  # another port
        ("https://127.0.0.1:8001/info/", "https://127.0.0.1:8001/info/"),  # another scheme
        ("https://login.example.com/", "https://login.example.com/"),
        ("/already/relative", "/already/relative"),
    ],
)
def test_relativize_location_only_on_the_servers_own_origin(location: str, expected: str) -> None:
    tree = lift(307, [("Location", location)], b"")
    relativize_location(tree, ["http://127.0.0.1:8001/"])
    assert tree["headers"]["location"] == expected


def test_a_replay_sent_the_recorded_host_is_relative_on_that_origin_too() -> None:
    from shadowdiff.differ.normalize import lift_replayed
    from shadowdiff.records import Exchange, Replay

    ex = Exchange(
        method="GET",
        path="/info",
        host="127.0.0.1",
        port=5000,
        request_headers=[("Host", "shop.example:8080")],
        status=308,
        response_headers=[("Location", "http://shop.example:8080/info/")],
    )
    # --host recorded: the target built its redirect from the Host it was sent
    rp = Replay(1, 1, status=308, headers=[("Location", "http://shop.example:8080/info/")])
    old, new = lift_replayed(ex, rp, target="http://127.0.0.1:8001", upstream=None)
    assert old["headers"]["location"] == new["headers"]["location"] == "/info/"
    away = Replay(1, 1, status=308, headers=[("Location", "http://elsewhere:1/info/")])
    assert (
        lift_replayed(ex, away, target="http://127.0.0.1:8001", upstream=None)[1]["headers"][
            "location"
        ]
        == "http://elsewhere:1/info/"
    )
