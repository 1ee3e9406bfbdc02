"""Where a chained value sits in a request or a response, and how to read or write it there.

A location is a short string:

- ``body.<json path>``: a JSON scalar; keys joined by ``.``, list indices as ``[3]``
  (``body.items[0].id``); a chain's general form has ``[*]`` (``body.items[*].id``);
- ``form.<name>``: a field of an ``application/x-www-form-urlencoded`` request body;
- ``path[i]``: the i-th segment of the URL path (``/items/abc``: ``path[1]`` is ``abc``);
- ``query.<name>``: a query parameter (its first value, percent-decoded);
- ``header.<name>``: a request header (of ``Bearer/Token/Basic X`` only the credential X);
- ``cookie.<name>``: a cookie of the request's ``Cookie`` header;
- ``set-cookie.<name>``: the value of a cookie a response sets;
- ``location[i]``: the i-th path segment of a response's ``Location`` (a create answering
  ``201`` with ``Location: /items/<id>``); a response's other headers are ``header.<name>``
  too (a token in ``X-Auth-Token``).

Requests are read (`consumed`) and written (`rewrite`); responses are read (`produced`,
`read_response`). Everything is bounded: bodies over `MAX_PARSE`, JSON deeper than
`MAX_DEPTH`, values longer than `MAX_VALUE`. Pure functions, no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Final
from urllib.parse import quote, unquote, unquote_plus, urlsplit

from shadowdiff.records import Exchange, Headers, header_value
from shadowdiff.redaction import CREDENTIAL_SCHEMES
from shadowdiff.redaction.bodies import MAX_DEPTH, MAX_PARSE

__all__ = [
    "MAX_VALUE",
    "Scalar",
    "check_location",
    "consumed",
    "general",
    "produced",
    "read_response",
    "rewrite",
]

Scalar = str | int
MAX_VALUE: Final = 4096  # longer values never chain
_INDEX = re.compile(r"\[\d+\]")
_PATH_SAFE: Final = "-._~!$&'()*+,;=:@"
_LOCATION = re.compile(
    r"(body\.[^\s]+|form\.[^\s]+|path\[\d+\]|location\[\d+\]|query\.[^\s]+"
    r"|header\.[^\s]+|cookie\.[^\s]+|set-cookie\.[^\s]+)"
)
#: response headers whose values are never issued ids or tokens
_PLAIN_HEADERS: Final = frozenset(
    {
        "date", "server", "content-type", "content-length", "content-encoding", "connection",
        "keep-alive", "transfer-encoding", "vary", "cache-control", "expires", "last-modified",
        "age", "pragma", "accept-ranges", "allow", "content-language", "strict-transport-security",
        "access-control-allow-origin", "access-control-allow-headers",
        "access-control-allow-methods", "x-content-type-options", "x-frame-options",
    }
)  # fmt: skip


def general(location: str) -> str:
    """``body.items[3].id`` -> ``body.items[*].id`` (a chain's form of a location)."""
    if "[" not in location or location.startswith(("path[", "location[")):
        return location  # a path segment's index is part of where it is
    return _INDEX.sub("[*]", location)


def check_location(text: str) -> str | None:
    """The problem with a location a user wrote (rules file), or None when it is good."""
    if not _LOCATION.fullmatch(text):
        return (
            f"bad location {text!r}: want body.<json path>, form.<name>, path[<i>], "
            "query.<name>, header.<name>, cookie.<name>, set-cookie.<name> or location[<i>]"
        )
    return None


def _mime(headers: Headers) -> str:
    return (header_value(headers, "content-type") or "").split(";", 1)[0].strip().lower()


def _json_doc(headers: Headers, body: bytes) -> Any:
    """The parsed JSON body, or None (not JSON, encoded, too large, too deep)."""
    if not body or len(body) > MAX_PARSE:
        return None
    if header_value(headers, "content-encoding") not in (None, "identity"):
        return None
    mime = _mime(headers)
    if not (mime.endswith("json") or (not mime and body.lstrip()[:1] in (b"{", b"["))):
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _scalars(node: Any, path: str, depth: int) -> Iterator[tuple[str, str, Scalar]]:
    """(location, key, value) of each string/int scalar in a JSON document, bounded."""
    if depth > MAX_DEPTH:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            key = str(key)
            if not key or any(c in key for c in ".[] "):
                continue  # a key the location grammar cannot name
            where = f"{path}.{key}"
            if isinstance(value, dict | list):
                yield from _scalars(value, where, depth + 1)
            elif isinstance(value, str | int) and not isinstance(value, bool):
                yield where, key, value
    elif isinstance(node, list):
        for i, item in enumerate(node):
            if isinstance(item, dict | list):
                yield from _scalars(item, f"{path}[{i}]", depth + 1)
            elif isinstance(item, str | int) and not isinstance(item, bool):
                yield f"{path}[{i}]", "", item


def _set_cookies(headers: Headers) -> Iterator[tuple[str, str]]:
    for name, value in headers:
        if name.lower() == "set-cookie":
            cname, eq, val = value.partition(";")[0].partition("=")
            if eq and val.strip():
                yield cname.strip(), val.strip()


def produced(headers: Headers, body: bytes) -> Iterator[tuple[str, str, Scalar]]:
    """(location, key, value) of what a response may have issued: JSON scalars at any
    depth (the key names the value: ``id``, ``token``; empty in a list), cookies set, the
    path segments of ``Location`` and other headers' values."""
    doc = _json_doc(headers, body)
    if doc is not None:
        yield from _scalars(doc, "body", 0)
    for name, value in _set_cookies(headers):
        yield f"set-cookie.{name}", name, value
    for name, value in headers:
        lname = name.lower()
        if lname == "location":
            for i, segment in enumerate(_segments(value)):
                if segment:
                    yield f"location[{i}]", "", segment
        elif lname != "set-cookie" and lname not in _PLAIN_HEADERS and value.strip():
            yield f"header.{lname}", lname, _credential(value)


def _segments(url: str) -> list[str]:
    """The decoded path segments of a URL or path (`/items/abc?x` -> items, abc)."""
    path = urlsplit(url.strip()).path
    return [unquote(p, errors="surrogateescape") for p in path.split("/")[1:]]


def _credential(value: str) -> str:
    scheme, sep, rest = value.strip().partition(" ")
    return rest.strip() if sep and scheme.lower() in CREDENTIAL_SCHEMES else value.strip()


def _cookies(headers: Headers) -> Iterator[tuple[str, str]]:
    for name, value in headers:
        if name.lower() == "cookie":
            for part in value.split(";"):
                cname, eq, val = part.strip().partition("=")
                if eq and cname and val.strip():
                    yield cname, val.strip()


def _query_pairs(query: str) -> Iterator[tuple[str, str]]:
    for part in query.split("&") if query else ():
        name, eq, value = part.partition("=")
        if eq and value:
            yield (
                unquote_plus(name, errors="surrogateescape"),
                unquote_plus(value, errors="surrogateescape"),
            )


def consumed(exchange: Exchange) -> Iterator[tuple[str, str, Scalar]]:
    """(location, key, value) of what a request carries that a server may have issued."""
    for i, segment in enumerate(exchange.path.split("/")[1:]):
        if segment:
            yield f"path[{i}]", "", unquote(segment, errors="surrogateescape")
    for name, value in _query_pairs(exchange.query):
        yield f"query.{name}", name, value
    headers = exchange.request_headers
    for name, value in headers:
        lname = name.lower()
        if lname not in ("cookie", "host", "content-length", "content-type") and value.strip():
            yield f"header.{lname}", lname, _credential(value)
    for name, value in _cookies(headers):
        yield f"cookie.{name}", name, value
    if _mime(headers) == "application/x-www-form-urlencoded":
        text = exchange.request_body.decode("utf-8", "surrogateescape")
        for name, value in _query_pairs(text):
            yield f"form.{name}", name, value
    else:
        doc = _json_doc(headers, exchange.request_body)
        if doc is not None:
            yield from _scalars(doc, "body", 0)


_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _json_get(doc: Any, path: str) -> Any:
    node = doc
    for key, index in _STEP.findall(path):
        if key and isinstance(node, dict):
            node = node.get(key)
        elif index and isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        else:
            return None
    return node


def read_response(headers: Headers, body: bytes, location: str) -> Scalar | None:
    """The value a response holds at a (concrete) location, or None."""
    if location.startswith("set-cookie."):
        want = location[len("set-cookie.") :]
        return next((v for n, v in _set_cookies(headers) if n == want), None)
    if location.startswith("location["):
        segments = _segments(header_value(headers, "location") or "")
        index = int(location[len("location[") : -1])
        return segments[index] if index < len(segments) and segments[index] else None
    if location.startswith("header."):
        found = header_value(headers, location[len("header.") :])
        return _credential(found) if found and found.strip() else None
    if location.startswith("body"):
        value = _json_get(_json_doc(headers, body), location[len("body") :])
        if isinstance(value, str | int) and not isinstance(value, bool):
            return value
    return None


def rewrite(exchange: Exchange, location: str, old: Scalar, new: Scalar) -> Exchange | None:
    """A copy of a request with ``new`` in place of ``old`` at ``location``; None when the
    location does not hold ``old`` (nothing is changed then)."""
    before, after = str(old), str(new)
    kind, _, name = location.partition(".")
    if location.startswith("path["):
        return _rewrite_path(exchange, int(location[5:-1]), before, after)
    if kind == "query":
        query = _rewrite_pairs(exchange.query, name, before, after)
        return None if query is None else exchange.with_request(query=query)
    if kind == "header":
        return _rewrite_header(exchange, name, before, after)
    if kind == "cookie":
        return _rewrite_cookie(exchange, name, before, after)
    if kind == "form":
        text = exchange.request_body.decode("utf-8", "surrogateescape")
        form = _rewrite_pairs(text, name, before, after)
        if form is None:
            return None
        return exchange.with_request(request_body=form.encode("utf-8", "surrogateescape"))
    if kind == "body":
        body = _rewrite_json(exchange.request_body, old, new)
        return None if body is None else exchange.with_request(request_body=body)
    return None


def _rewrite_path(exchange: Exchange, index: int, before: str, after: str) -> Exchange | None:
    segments = exchange.path.split("/")
    i = index + 1
    if i >= len(segments) or unquote(segments[i], errors="surrogateescape") != before:
        return None
    segments[i] = quote(after, safe=_PATH_SAFE)
    return exchange.with_request(path="/".join(segments))


def _rewrite_pairs(text: str, want: str, before: str, after: str) -> str | None:
    parts = text.split("&")
    hit = False
    for i, part in enumerate(parts):
        name, eq, value = part.partition("=")
        if (
            eq
            and unquote_plus(name, errors="surrogateescape") == want
            and unquote_plus(value, errors="surrogateescape") == before
        ):
            parts[i] = f"{name}={quote(after, safe='')}"
            hit = True
    return "&".join(parts) if hit else None


def _rewrite_header(exchange: Exchange, want: str, before: str, after: str) -> Exchange | None:
    out: Headers = []
    hit = False
    for name, value in exchange.request_headers:
        if name.lower() == want and _credential(value) == before:
            scheme, sep, rest = value.strip().partition(" ")
            keep = sep and scheme.lower() in CREDENTIAL_SCHEMES and rest.strip() == before
            value = f"{scheme} {after}" if keep else after
            hit = True
        out.append((name, value))
    return exchange.with_request(request_headers=out) if hit else None


def _rewrite_cookie(exchange: Exchange, want: str, before: str, after: str) -> Exchange | None:
    out: Headers = []
    hit = False
    for name, value in exchange.request_headers:
        if name.lower() == "cookie":
            parts = value.split(";")
            for i, part in enumerate(parts):
                cname, eq, val = part.partition("=")
                if eq and cname.strip() == want and val.strip() == before:
                    parts[i] = f"{cname}={after}"
                    hit = True
            value = ";".join(parts)
        out.append((name, value))
    return exchange.with_request(request_headers=out) if hit else None


def _rewrite_json(body: bytes, old: Scalar, new: Scalar) -> bytes | None:
    """Every whole JSON value ``old`` replaced by ``new``, the rest of the bytes kept."""
    if isinstance(old, str):
        literal = json.dumps(old, ensure_ascii=False).encode("utf-8", "surrogatepass")
        pattern = re.compile(re.escape(literal))
    else:
        pattern = re.compile(rb"(?<=[:\[,\s])" + str(old).encode() + rb"(?=\s*[,}\]])")
    replacement = json.dumps(new, ensure_ascii=False).encode("utf-8", "surrogatepass")
    out, count = pattern.subn(lambda _m: replacement, body)
    return out if count else None
