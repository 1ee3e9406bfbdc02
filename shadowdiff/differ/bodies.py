"""Decode one response body: first its Content-Encoding (capped), then its content type.

========================================= =================================================
``application/json``, ``*/*+json``         objects (orjson; the stdlib parser for integers
                                          beyond 64 bits and for NaN/Infinity, which become
                                          ``{"$float": "NaN"}``); invalid JSON -> text
``text/csv``                              rows (lists of cells; integers and floats parsed,
                                          ``007`` and ``nan`` stay text)
``multipart/form-data``                   parts by field name: ``{"filename", "content_type",
                                          "body"}`` (a repeated name: a list of those); the
                                          random boundary is not part of the tree
``application/x-www-form-urlencoded``     ``{name: [values]}``
``text/*``, ``*html*``, ``*/xml``, ``+xml`` text (by the declared charset, default UTF-8)
anything else, or undecodable             ``{"$binary": {"sha256": ..., "length": ...}}``
========================================= =================================================

Passing the decompression cap gives the binary marker of the raw bytes plus
``"$note": "decompression cap exceeded"``. JSON nested deeper than ``MAX_DEPTH`` levels, and
multipart nested deeper than ``MAX_PART_DEPTH``, give the binary marker plus ``"$note": "nested
too deep"``, so everything downstream (the differ, DeepDiff, canonical bytes, the store) only
ever sees bounded trees: equal deep bodies still compare equal, different ones differ. An empty
body is ``None``. Never raises.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from functools import lru_cache
from typing import Any, Final
from urllib.parse import parse_qs

import orjson

from shadowdiff.differ.encodings import CapExceeded, Undecodable, decompress

__all__ = [
    "CAP_NOTE",
    "DEFAULT_MAX_DECODED",
    "NOT_PLAIN_JSON",
    "binary_marker",
    "decode_body",
    "media_type",
    "plain_json",
]

DEFAULT_MAX_DECODED: Final = 50 * 2**20
CAP_NOTE: Final = "decompression cap exceeded"
DEPTH_NOTE: Final = "nested too deep"
#: Deepest JSON nesting decoded into a tree (real API bodies stay far below it; orjson cannot
#: serialise past ~250 levels and the stdlib parser and DeepDiff recurse).
MAX_DEPTH: Final = 100
MAX_PART_DEPTH: Final = 4  # multipart inside multipart inside ...
# Both kinds of bracket as one (`{` -> `[`, `}` -> `]`), every other byte deleted.
_ONE_BRACKET: Final = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE: Final = bytes(b for b in range(256) if b not in b'[]{}"')
_ESCAPES: Final = re.compile(rb"\\.", re.S)

_JSON_TYPES: Final = frozenset({"application/json", "text/json"})
# orjson turns integers beyond 64 bits into floats: bodies holding an integer literal of 20 or
# more digits go to the exact (stdlib) parser instead. bytes.translate maps digits to "0" and
# keeps "." and exponent letters; a run of 20 "0"s not touching "." or "e" is such an integer
# (or digits inside a string, which costs only speed). ~10x faster than a regex over the body.
# Both opening brackets become "[", so the same pass counts them for `too_deep`'s quick test.
_NUMBER_SHAPE: Final = bytes(
    0x30 if 0x30 <= i <= 0x39 else i if i in b".eE" else 0x5B if i in b"[{" else 0x20
    for i in range(256)
)
_TWENTY_DIGITS: Final = b"0" * 20
_NOT_AFTER: Final = frozenset(b".eE")


def _has_long_int(body: bytes) -> bool:
    return _long_int_in(body.translate(_NUMBER_SHAPE))


def _long_int_in(shape: bytes) -> bool:
    """`_has_long_int` of a body already mapped through `_NUMBER_SHAPE`."""
    hit = shape.rfind(_TWENTY_DIGITS)  # rfind: measurably faster than find here
    while hit != -1:
        start, end = hit, hit + len(_TWENTY_DIGITS)
        while start > 0 and shape[start - 1] == 0x30:
            start -= 1
        while end < len(shape) and shape[end] == 0x30:
            end += 1
        before = shape[start - 1] if start else 0x20
        after = shape[end] if end < len(shape) else 0x20
        if before != 0x2E and after not in _NOT_AFTER:  # not part of a float
            return True
        hit = shape.rfind(_TWENTY_DIGITS, 0, start)
    return False


_INT = re.compile(r"[+-]?(?:0|[1-9]\d*)")
_FLOAT_SHAPE = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+[eE][+-]?\d+|\d+\.\d*[eE][+-]?\d+)")
_PARAM = re.compile(r';\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def binary_marker(data: bytes) -> dict[str, Any]:
    """How opaque bytes appear in a tree: compared by hash and length only."""
    return {"$binary": {"sha256": hashlib.sha256(data).hexdigest(), "length": len(data)}}


@lru_cache(maxsize=512)
def _media_type(content_type: str) -> tuple[str, dict[str, str]]:
    """``'Text/CSV; charset="utf-8"'`` -> ``('text/csv', {'charset': 'utf-8'})``."""
    main, _, rest = content_type.partition(";")
    params: dict[str, str] = {}
    for m in _PARAM.finditer(";" + rest):
        value = m.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[m.group(1).lower()] = value
    return main.strip().lower(), params


def media_type(content_type: str) -> tuple[str, dict[str, str]]:
    """A Content-Type's media type, lower-cased, and its parameters (names lower-cased,
    quotes removed): ``'Text/CSV; charset="utf-8"'`` -> ``('text/csv', {'charset': 'utf-8'})``.
    The dict is shared (cached): do not modify it."""
    return _media_type(content_type)


def _text(body: bytes, params: dict[str, str]) -> str:
    charset = params.get("charset", "utf-8") or "utf-8"
    try:
        return body.decode(charset)
    except LookupError:
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise Undecodable from None
    except UnicodeDecodeError:
        raise Undecodable from None


def _json_constant(name: str) -> dict[str, str]:
    # NaN / Infinity are not JSON; keep them as comparable markers rather than floats.
    return {"$float": name}


def _json_float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else {"$float": text}


@lru_cache(maxsize=512)
def _is_utf8_json(content_type: str) -> bool:
    media, params = _media_type(content_type)
    is_json = media in _JSON_TYPES or media.endswith("+json")
    return is_json and params.get("charset", "utf-8").lower() in ("utf-8", "utf8")


def too_deep(body: bytes, openers: int | None = None) -> bool:
    """Whether JSON text nests deeper than MAX_DEPTH. C-speed and bounded: a body with fewer
    opening brackets than MAX_DEPTH cannot be that deep (the common case; ``openers`` is their
    count when the caller has it); else escape pairs are dropped, every byte but a bracket or
    a quote deleted and both kinds of bracket made one (``bytes.translate``), what was inside
    strings dropped, and matched pairs peeled off with ``bytes.replace``: one level per pass
    (a pass does not rescan what it joined), MAX_DEPTH passes at most.

    Strings are dropped in two steps: two adjacent quotes go first (a string with no bracket
    in it, or two strings with nothing between them: either way what is outside strings
    stays as it was, and the quotes left keep their parity), which leaves no quote at all in
    the common body; only quotes still left need ``split``."""
    if openers is None:
        openers = body.count(b"[") + body.count(b"{")
    if openers <= MAX_DEPTH:
        return False
    if b"\\" in body:
        body = _ESCAPES.sub(b"", body)  # \" \\ \u005b ...: never a string's end or a bracket
    text = body.translate(_ONE_BRACKET, _NOT_STRUCTURE)
    if b'"' in text:
        text = text.replace(b'""', b"")
        if b'"' in text:
            text = b"".join(text.split(b'"')[::2])  # the odd pieces were inside strings
    for _ in range(MAX_DEPTH):
        peeled = text.replace(b"[]", b"")
        if len(peeled) == len(text):
            return False  # no brackets left (or unbalanced ones: not JSON, decoded as text)
        text = peeled
    return bool(text)


def _deep_marker(body: bytes) -> dict[str, Any]:
    return {**binary_marker(body), "$note": DEPTH_NOTE}


def _json(body: bytes, params: dict[str, str]) -> Any:
    if too_deep(body):
        return _deep_marker(body)
    charset = params.get("charset", "utf-8").lower()
    if charset in ("utf-8", "utf8") and not _has_long_int(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return _json_exact(body, params)


def _json_exact(body: bytes, params: dict[str, str]) -> Any:
    """The stdlib parser: exact big integers, NaN/Infinity as markers, else text."""
    text = _text(body, params)
    try:
        return json.loads(text, parse_constant=_json_constant, parse_float=_json_float)
    except ValueError:
        return text  # invalid JSON is compared as text
    except RecursionError:
        return _deep_marker(body)  # unbalanced but deep: too_deep could not peel it


def _csv_cell(cell: str) -> Any:
    if _INT.fullmatch(cell):
        return int(cell)
    if _FLOAT_SHAPE.fullmatch(cell) and not re.match(r"[+-]?0\d", cell):
        value = float(cell)
        if math.isfinite(value):
            return value
    return cell


def _csv(body: bytes, params: dict[str, str]) -> list[list[Any]]:
    text = _text(body, params)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return [[_csv_cell(c) for c in row] for row in reader]
    except csv.Error:
        raise Undecodable from None


def _form(body: bytes, params: dict[str, str]) -> dict[str, list[str]]:
    text = _text(body, params)
    return parse_qs(text, keep_blank_values=True)


def _part_headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw.split(b"\n"):
        name, sep, value = line.decode("utf-8", "replace").partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


def _multipart(body: bytes, params: dict[str, str], cap: int, depth: int) -> dict[str, Any]:
    boundary = params.get("boundary")
    if not boundary:
        raise Undecodable
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 2:
        raise Undecodable
    fields: dict[str, Any] = {}
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break  # the close delimiter
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        elif chunk.startswith(b"\n"):
            chunk = chunk[1:]
        if chunk.endswith(b"\r\n"):
            chunk = chunk[:-2]
        elif chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            head, sep, content = chunk.partition(b"\n\n")
            if not sep:
                head, content = chunk, b""
        headers = _part_headers(head)
        _, disposition = _media_type(headers.get("content-disposition", ""))
        name = disposition.get("name", "")
        part_type = headers.get("content-type")
        value = {
            "filename": disposition.get("filename"),
            "content_type": part_type,
            "body": decode_body(
                content, part_type or "text/plain", max_decoded=cap, part_depth=depth
            ),
        }
        previous = fields.get(name)
        if previous is None:
            fields[name] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            fields[name] = [previous, value]
    return fields


def _is_text(media: str) -> bool:
    return (
        media.startswith("text/")
        or "html" in media
        or media.endswith("/xml")
        or media.endswith("+xml")
    )


#: Returned by plain_json when the body is not UTF-8 JSON that orjson parses exactly.
NOT_PLAIN_JSON: Final[Any] = object()


def plain_json(body: bytes, content_type: str) -> Any:
    """The fast path of decode_body: an unencoded UTF-8 JSON body orjson parses exactly, or
    NOT_PLAIN_JSON."""
    if not _is_utf8_json(content_type):
        return NOT_PLAIN_JSON
    shape = body.translate(_NUMBER_SHAPE)  # one pass serves both tests
    if shape.rfind(_TWENTY_DIGITS) != -1 and _long_int_in(shape):
        return NOT_PLAIN_JSON
    openers = shape.count(b"[")  # both kinds of opening bracket
    if openers > MAX_DEPTH and too_deep(body, openers):
        return NOT_PLAIN_JSON
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return NOT_PLAIN_JSON


def decode_body(
    body: bytes,
    content_type: str | None,
    content_encoding: str | None = None,
    *,
    max_decoded: int = DEFAULT_MAX_DECODED,
    part_depth: int = 0,
) -> Any:
    """Decode one body by its content encoding and content type (see the module docstring);
    ``part_depth`` counts the multipart bodies this one is nested in."""
    if not body:
        return None
    if not content_encoding and content_type is not None:
        parsed = plain_json(body, content_type)
        if parsed is not NOT_PLAIN_JSON:
            return parsed
    if content_encoding:
        try:
            body = decompress(body, content_encoding, max_decoded)
        except CapExceeded:
            return {**binary_marker(body), "$note": CAP_NOTE}
        except Undecodable:
            return binary_marker(body)
        if not body:
            return None
    media, params = _media_type(content_type or "")
    try:
        if media in _JSON_TYPES or media.endswith("+json"):
            return _json(body, params)
        if media == "text/csv":
            return _csv(body, params)
        if media == "multipart/form-data":
            if part_depth >= MAX_PART_DEPTH:
                return _deep_marker(body)
            return _multipart(body, params, max_decoded, part_depth + 1)
        if media == "application/x-www-form-urlencoded":
            return _form(body, params)
        if _is_text(media):
            return _text(body, params)
    except Undecodable:
        pass
    return binary_marker(body)
