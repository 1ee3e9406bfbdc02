"""The flask-to-fastapi preset, rule by rule: what each hides, and what it must NOT hide.

Unit tests over lifted trees (each rule's pairs), the rules language of `rename` and
`normalize`, and the normalisers' pure pieces. The same cases on real servers are in
tests/test_preset_e2e.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound

from shadowdiff.differ import compare, lift, load_preset, parse_rules
from shadowdiff.differ.framework_pages import framework_of
from shadowdiff.differ.normalizers import (
    MAX_MARKUP,
    content_type_key,
    markup_text,
    traceback_text,
)
from shadowdiff.errors import RulesError

pytestmark = pytest.mark.unit

PRESET = load_preset("flask-to-fastapi")
EP = "GET /things/{id}"
JSON = ("Content-Type", "application/json")
HTML = ("Content-Type", "text/html; charset=utf-8")
XML = ("Content-Type", "application/xml")
TEXT = ("Content-Type", "text/plain; charset=utf-8")

Pair = tuple[dict[str, Any], dict[str, Any]]


def r(status: int, body: str | bytes = b"", *headers: tuple[str, str]) -> dict[str, Any]:
    raw = body.encode() if isinstance(body, str) else body
    return lift(status, list(headers), raw)


def j(status: int, body: str, *headers: tuple[str, str]) -> dict[str, Any]:
    return r(status, body, JSON, *headers)


def tb(path: str, line: int, last: str, frames: int = 1) -> str:
    """A Python traceback as Python prints it."""
    out = ["Traceback (most recent call last):"]
    for i in range(frames):
        out += [f'  File "{path}", line {line + i}, in handler', "    do_it()", "    ^^^^^^^"]
    return "\n".join([*out, last, ""])


WERKZEUG_404 = NotFound().get_body()
WERKZEUG_405 = MethodNotAllowed(["GET"]).get_body()
OLD_WERKZEUG_404 = (
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<title>404 Not Found</title>\n'
    "<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the "
    "URL manually please check your spelling and try again.</p>\n"
)
VALIDATION = '{"detail": [{"loc": ["body", "age"], "msg": "field required", "type": "missing"}]}'
PAGE = "<html>\n  <head><title>Hi</title></head>\n  <body>\n    <p>Hello,   world</p>\n  </body>\n</html>\n"  # noqa: E501
PAGE_TIGHT = "<html><head><title>Hi</title></head><body><p>Hello, world</p></body></html>"
PAGE_WORD = "<html><head><title>Hi</title></head><body><p>Hello, there</p></body></html>"

# rule name -> (pairs it hides, pairs that still differ and the signature text they get)
HIDES: dict[str, list[Pair]] = {
    "date header": [
        (
            j(200, "{}", ("Date", "Mon, 30 Nov 2026 06:00:00 GMT")),
            j(200, "{}", ("Date", "Mon, 30 Nov 2026 06:00:01 GMT")),
        )
    ],
    "server header": [(j(200, "{}", ("Server", "gunicorn")), j(200, "{}", ("Server", "uvicorn")))],
    "framing headers": [
        (
            j(200, "{}", ("Content-Length", "2"), ("Connection", "keep-alive")),
            j(200, "{}", ("Transfer-Encoding", "chunked")),
        )
    ],
    "request-id headers": [
        (j(200, "{}", ("X-Request-ID", "a")), j(200, "{}", ("X-Request-ID", "b")))
    ],
    "error body: message -> detail": [
        (j(400, '{"message": "x"}'), j(400, '{"detail": "x"}')),
        (j(500, '{"message": "boom", "code": 7}'), j(500, '{"detail": "boom", "code": 7}')),
    ],
    "python tracebacks": [
        (
            r(500, tb("/opt/old/app.py", 10, "ValueError: bad input"), TEXT),
            r(500, tb("/srv/new/main.py", 99, "ValueError: bad input", 3), TEXT),
        ),
        (
            j(500, json.dumps({"error": tb("/a.py", 1, "KeyError: 'x'")})),
            j(500, json.dumps({"error": tb("/b.py", 7, "KeyError: 'x'")})),
        ),
        # the lines of traceback.format_exc().splitlines() (format_exception() alike)
        (
            j(500, json.dumps({"trace": tb("/a.py", 1, "KeyError: 'x'").splitlines()})),
            j(500, json.dumps({"trace": tb("/b.py", 7, "KeyError: 'x'", 2).splitlines()})),
        ),
    ],
    "framework 404/405 pages": [
        (r(404, WERKZEUG_404, HTML), j(404, '{"detail":"Not Found"}')),
        (r(405, WERKZEUG_405, HTML), j(405, '{"detail":"Method Not Allowed"}')),
        (r(404, OLD_WERKZEUG_404, HTML), r(404, "Not Found", TEXT)),
        (j(404, '{"detail":"Not Found"}'), r(404, WERKZEUG_404, HTML)),
    ],
    "allow header on 405": [
        (j(405, "{}", ("Allow", "HEAD, GET, OPTIONS")), j(405, "{}", ("Allow", "GET")))
    ],
    "trailing-slash redirect status": [
        (r(308, b"", ("Location", "/a/")), r(307, b"", ("Location", "/a/")))
    ],
    "redirect body": [
        (
            r(308, "<!doctype html><title>Redirecting...</title>", HTML, ("Location", "/a/")),
            r(308, b"", ("Location", "/a/")),
        )
    ],
    "html/xml whitespace": [
        (r(200, PAGE, HTML), r(200, PAGE_TIGHT, HTML)),
        (r(200, "<a>\n  <b>1</b>\n</a>\n", XML), r(200, "<a><b>1</b></a>", XML)),
    ],
    "content-type defaults": [
        (j(200, "{}"), r(200, "{}", ("Content-Type", "application/json; charset=utf-8"))),
        (j(200, "{}"), r(200, "{}", ("Content-Type", "Application/JSON;Charset=UTF8"))),
        (r(200, "<p>a</p>", ("Content-Type", "text/html")), r(200, "<p>a</p>", HTML)),
        (
            r(200, "{}", ("Content-Type", "application/problem+json")),
            r(200, "{}", ("Content-Type", "application/problem+json; charset=utf-8")),
        ),
    ],
    "content-type on empty 204/304": [
        (r(204, b"", HTML), r(204, b"")),
        (r(304, b""), r(304, b"", JSON)),
    ],
}
STILL_SHOWS: dict[str, list[tuple[Pair, str]]] = {
    "date header": [((j(200, "{}", ("Last-Modified", "a")), j(200, "{}", ("Last-Modified", "b"))),
                     "headers.last-modified:header")],
    "server header": [((j(200, "{}", ("X-Powered-By", "a")), j(200, "{}", ("X-Powered-By", "b"))),
                       "headers.x-powered-by:header")],
    "framing headers": [((j(200, '{"a": 1}', ("Content-Length", "8")),
                          j(200, '{"a": 12}', ("Content-Length", "9"))), "body.a:value")],
    "request-id headers": [((j(200, "{}", ("X-User-ID", "a")), j(200, "{}", ("X-User-ID", "b"))),
                            "headers.x-user-id:header")],
    "error body: message -> detail": [
        # both sides use `message` and the text changes: a leaked bytes repr
        ((j(400, '{"message": "invalid JSON"}'), j(400, '{"message": "invalid JSON: b\'{not\'"}')),
         "body.message:value"),
        ((j(400, '{"message": "x"}'), j(400, '{"detail": "y"}')), "body.message:value"),
        ((j(400, '{"detail": "x"}'), j(400, '{"detail": "y"}')), "body.detail:value"),
        # a FastAPI validation list against Flask's string: a shape difference
        ((j(422, '{"message": "age is required"}'), j(422, VALIDATION)), "body.message:type"),
        # not an error status: no rename
        ((j(200, '{"message": "x"}'), j(200, '{"detail": "x"}')),
         "body.detail:extra, body.message:missing"),
        # the new side spells it both ways: nothing is renamed
        ((j(400, '{"message": "x"}'), j(400, '{"message": "x", "detail": "x"}')),
         "body.detail:extra"),
    ],
    "python tracebacks": [
        ((r(500, tb("/a.py", 1, "ValueError: bad input"), TEXT),
          r(500, tb("/b.py", 2, "TypeError: bad input"), TEXT)), "body:value"),
        ((r(500, tb("/a.py", 1, "ValueError: bad input"), TEXT),
          r(500, tb("/a.py", 1, "ValueError: bad input!"), TEXT)), "body:value"),
        ((r(500, "error in /a.py line 1", TEXT), r(500, "error in /b.py line 2", TEXT)),
         "body:value"),
        ((j(500, json.dumps({"trace": tb("/a.py", 1, "KeyError: 'x'").splitlines()})),
          j(500, json.dumps({"trace": tb("/b.py", 7, "KeyError: 'y'", 2).splitlines()}))),
         "body.trace[*]:value"),
        ((j(500, '{"lines": ["a", "b"]}'), j(500, '{"lines": ["a", "c"]}')),
         "body.lines[*]:value"),
    ],
    "framework 404/405 pages": [
        # an application's own 404 JSON that changed
        ((j(404, '{"detail": "User 7 not found"}'), j(404, '{"detail": "User 7 is gone"}')),
         "body.detail:value"),
        # Flask's abort(404, "...") is not the framework's default page
        ((r(404, NotFound("no such user").get_body(), HTML), j(404, '{"detail":"Not Found"}')),
         "body:type, headers.content-type:header"),
        # the same pages under different statuses
        ((r(404, WERKZEUG_404, HTML), j(405, '{"detail":"Method Not Allowed"}')),
         "body:type, headers.content-type:header, status:status"),
        ((r(404, WERKZEUG_404, HTML), j(404, '{"detail":"Not Found", "x": 1}')),
         "body:type, headers.content-type:header"),
    ],
    "allow header on 405": [((j(200, "{}", ("Allow", "GET, OPTIONS")),
                              j(200, "{}", ("Allow", "GET"))), "headers.allow:header")],
    "trailing-slash redirect status": [((r(308, b"", ("Location", "/a/")),
                                         r(302, b"", ("Location", "/a/"))), "status:status")],
    "redirect body": [((r(308, b"", ("Location", "/a/")), r(308, b"", ("Location", "/b/"))),
                       "headers.location:header")],
    "html/xml whitespace": [
        ((r(200, PAGE, HTML), r(200, PAGE_WORD, HTML)), "body:value"),
        ((r(200, "a  b", TEXT), r(200, "a b", TEXT)), "body:value"),
        ((r(200, "<p>a\u00a0b</p>", HTML), r(200, "<p>a b</p>", HTML)), "body:value"),
    ],
    "content-type defaults": [
        ((j(200, "{}"), r(200, "{}", ("Content-Type", "application/json; charset=latin-1"))),
         "headers.content-type:header"),
        ((r(200, "a", ("Content-Type", "text/plain")), r(200, "a", TEXT)),
         "headers.content-type:header"),
        ((j(200, "{}"), r(200, "{}", ("Content-Type", "application/problem+json"))),
         "headers.content-type:header"),
    ],
    "content-type on empty 204/304": [((r(200, b"", HTML), r(200, b"")),
                                       "headers.content-type:missing")],
}  # fmt: skip


@pytest.mark.parametrize("name", PRESET.names)
def test_every_preset_rule_has_cases_both_ways(name: str) -> None:
    assert HIDES.get(name) and STILL_SHOWS.get(name), f"preset rule {name!r} has no test"


@pytest.mark.parametrize("name", PRESET.names)
def test_preset_rule_hides(name: str) -> None:
    for old, new in HIDES.get(name, []):
        c = compare(old, new, PRESET, EP)
        assert c.verdict == "same", (name, c.signature_text, old, new)
        assert c.rule_hits[name] > 0, (name, dict(c.rule_hits))


@pytest.mark.parametrize("name", PRESET.names)
def test_preset_rule_does_not_hide(name: str) -> None:
    for (old, new), shows in STILL_SHOWS.get(name, []):
        c = compare(old, new, PRESET, EP)
        assert c.verdict == "different", (name, old, new)
        # what shows, by path and kind (change classes are tests/test_change_classes.py's)
        assert _unclassed(c.signature_text or "") == f"{EP} | {shows}", (name, c.signature_text)


def _unclassed(signature_text: str) -> str:
    """``EP | body:value/affix, status:404→405`` -> ``EP | body:value, status:status``."""
    endpoint, _, items = signature_text.partition(" | ")
    kinds = []
    for item in items.split(", "):
        path, _, kind = item.rpartition(":")
        kinds.append(f"{path}:{'status' if path == 'status' else kind.partition('/')[0]}")
    return f"{endpoint} | {', '.join(sorted(kinds))}"


def test_rename_shows_the_old_key_and_records_the_rename() -> None:
    c = compare(j(400, '{"message": "x"}'), j(400, '{"detail": "y"}'), PRESET, EP)
    counting = [(f.path, f.kind, f.left, f.right) for f in c.counting]
    assert counting == [("body.message", "value", "x", "y")]
    absorbed = [(f.path, f.kind, f.rule) for f in c.fields if f.rule]
    assert absorbed == [
        ("body.message", "missing", "error body: message -> detail"),
        ("body.detail", "extra", "error body: message -> detail"),
    ]


def test_a_differing_traceback_is_shown_without_its_frames() -> None:
    old = r(500, tb("/a.py", 1, "ValueError: bad"), TEXT)
    new = r(500, tb("/b.py", 2, "KeyError: 'bad'"), TEXT)
    (field,) = compare(old, new, PRESET, EP).counting
    assert field.left == "Traceback (most recent call last):\nValueError: bad"
    assert field.right == "Traceback (most recent call last):\nKeyError: 'bad'"


def test_traceback_text_keeps_chains_and_surrounding_text() -> None:
    text = (
        "request failed\n"
        + tb("/a.py", 1, "KeyError: 'k'")
        + "\nDuring handling of the above exception, another exception occurred:\n\n"
        + tb("/a.py", 5, "ValueError: line one\nline two", 2)
    )
    assert traceback_text(text) == (
        "request failed\nTraceback (most recent call last):\nKeyError: 'k'\n\n"
        "During handling of the above exception, another exception occurred:\n\n"
        "Traceback (most recent call last):\nValueError: line one\nline two\n"
    ).rstrip("\n")


def test_markup_text() -> None:
    assert markup_text(" <a>\n\t<b> x  y </b>\r\n</a> ") == "<a><b> x y </b></a>"
    assert markup_text("<p>a\u00a0b</p>") == "<p>a\u00a0b</p>"  # NBSP is not ASCII whitespace


def test_huge_markup_is_compared_as_it_is() -> None:
    pad = " " * (MAX_MARKUP // 2 + 1)
    old, new = r(200, f"<a>{pad}</a><b/>{pad}", HTML), r(200, "<a></a><b/>", HTML)
    assert compare(old, new, PRESET, EP).verdict == "different"


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("application/json", "application/json"),
        ("application/json; charset=UTF-8", "application/json"),
        ('application/json;charset="utf8"', "application/json"),
        ("text/html; charset=utf-8", "text/html"),
        ("text/html; charset=iso-8859-1", "text/html; charset=iso8859-1"),
        ("text/plain; charset=utf-8", "text/plain; charset=utf-8"),
        ("text/plain", "text/plain"),
        ("Multipart/Form-Data; Boundary=X", "multipart/form-data; boundary=X"),
        ("text/csv; header=present; charset=no-such", "text/csv; charset=no-such; header=present"),
    ],
)
def test_content_type_key(value: str, key: str) -> None:
    assert content_type_key(value) == key


def test_framework_pages_are_recognised_exactly() -> None:
    assert framework_of(r(404, WERKZEUG_404, HTML)) == "werkzeug"
    assert framework_of(r(405, WERKZEUG_405, HTML)) == "werkzeug"
    assert framework_of(j(404, '{"detail": "Not Found"}')) == "starlette"
    assert framework_of(r(405, "Method Not Allowed", TEXT)) == "starlette"
    # the 404 page under a 405, a JSON page as HTML, text as JSON, other bodies: none
    assert framework_of(r(405, WERKZEUG_404, HTML)) is None
    assert framework_of(r(404, WERKZEUG_404, TEXT)) is None
    assert framework_of(r(404, "Not Found", HTML)) is None
    assert framework_of(j(404, '{"detail": "Not found"}')) is None
    assert framework_of(j(404, '{"message": "Not Found"}')) is None
    assert framework_of(r(404, WERKZEUG_404 + "<!-- x -->", HTML)) is None
    assert framework_of(r(500, WERKZEUG_404, HTML)) is None


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ('kind = "rename"\nto = "body.b"', "kind rename needs 'from'"),
        ('kind = "rename"\nfrom = "body.a"', "kind rename needs 'to'"),
        ('kind = "rename"\nfrom = "body.a"\nto = "body.x.b"', "two different keys of one object"),
        ('kind = "rename"\nfrom = "body.a"\nto = "body.a"', "two different keys of one object"),
        ('kind = "rename"\nfrom = "body.*"\nto = "body.b"', "without wildcards or indices"),
        ('kind = "rename"\nfrom = "body"\nto = "status"', "without wildcards or indices"),
        ('kind = "rename"\nfrom = "status.a"\nto = "status.b"', "under body or headers"),
        ('kind = "rename"\nfrom = "body.a"\nto = "body.b"\npath = "body"', "unknown key 'path'"),
        ('kind = "normalize"', "'normalizer' must be one of traceback, markup-whitespace"),
        ('kind = "normalize"\nnormalizer = "json"', "got 'json'"),
        ('kind = "normalize"\nnormalizer = "traceback"\npath = "body"', "unknown key 'path'"),
    ],
)
def test_rename_and_normalize_rules_are_validated(table: str, fragment: str) -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(f'\n[[rules]]\n{table}\nreason = "r"\n', "rules.toml")
    assert info.value.line == 2
    assert fragment in info.value.message, info.value.message


def test_rename_and_normalize_names_are_derived() -> None:
    rules = parse_rules(
        '[[rules]]\nkind = "rename"\nfrom = "headers.X-A"\nto = "headers.x-b"\nreason = "r"\n'
        '[[rules]]\nkind = "normalize"\nnormalizer = "traceback"\nreason = "r"\n'
    )
    assert rules.names == ("rename headers.x-a -> x-b", "normalize traceback")
    old = r(200, b"", ("X-A", "1"))
    assert compare(old, r(200, b"", ("X-B", "1")), rules, EP).verdict == "same"
    assert compare(old, r(200, b"", ("X-B", "2")), rules, EP).signature_text == (
        f"{EP} | headers.x-a:header/other"
    )
