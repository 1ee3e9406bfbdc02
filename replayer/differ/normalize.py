"""Lift a raw HTTP response into the one tree the differ compares, and serialize trees canonically.

``lift(status, headers, body)`` returns ``{"status": int, "headers": {...}, "body": ...}``:

* header names are lower-cased; repeated headers are joined with ``", "``, except
  ``set-cookie``, which is always a list;
* the body is first decoded by ``content-encoding`` (gzip, deflate as zlib or raw, br when the
  ``brotli`` module is importable), never past ``max_decoded`` bytes of output, then by content
  type: JSON to objects, CSV to rows, forms and multipart to fields, text as ``str``, anything
  else as ``{"$binary": {"sha256": ..., "length": ...}}``. An empty body is ``None``.

Lifting never raises on bad input: what cannot be decoded is compared by hash and length.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any, Final
from urllib.parse import parse_qs

import orjson

try:  # pragma: no cover - depends on the environment
    import brotli as _brotli
except ImportError:  # pragma: no cover
    _brotli = None

__all__ = [
    "DEFAULT_MAX_DECODED",
    "binary_marker",
    "canonical",
    "decode_body",
    "lift",
    "lift_headers",
    "lift_pair",
]

DEFAULT_MAX_DECODED: Final = 50 * 2**20
CAP_NOTE: Final = "decompression cap exceeded"

_JSON_TYPES: Final = frozenset({"application/json", "text/json"})
_CHUNK: Final = 64 * 1024
# orjson turns integers beyond 64 bits into floats: bodies holding an integer literal of 20 or
# more digits go to the exact (stdlib) parser instead. bytes.translate maps digits to "0",
# "." and exponent letters to themselves and anything else to " "; then a 20-digit run that
# starts after " " and is not followed by "." or "e" is an integer (or a number inside a
# string, which costs only speed). ~10x faster than a regex over the body.
_NUMBER_SHAPE: Final = bytes(
    0x30 if 0x30 <= i <= 0x39 else i if i in b".eE" else 0x20 for i in range(256)
)
_LONG_INT: Final = b" " + b"0" * 20


def _has_long_int(body: bytes) -> bool:
    shape = body.translate(_NUMBER_SHAPE)
    if shape.startswith(_LONG_INT[1:]):
        shape = b" " + shape
    end = len(shape)
    i = shape.find(_LONG_INT)
    while i != -1:
        j = i + len(_LONG_INT)
        while j < end and shape[j] == 0x30:
            j += 1
        if j >= end or shape[j] not in b".eE":
            return True
        i = shape.find(_LONG_INT, j)
    return False


_INT = re.compile(r"[+-]?(?:0|[1-9]\d*)")
_FLOAT_SHAPE = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+[eE][+-]?\d+|\d+\.\d*[eE][+-]?\d+)")
_PARAM = re.compile(r';\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


class _CapExceeded(Exception):
    """Decompressed output would pass the cap."""


class _Undecodable(Exception):
    """The body cannot be decoded as its headers claim."""


def binary_marker(data: bytes) -> dict[str, Any]:
    """How opaque bytes appear in a tree: compared by hash and length only."""
    return {"$binary": {"sha256": hashlib.sha256(data).hexdigest(), "length": len(data)}}


# --------------------------------------------------------------------------- headers


def lift_headers(headers: Iterable[Sequence[str]]) -> dict[str, Any]:
    """Lower-case names; join repeats with ", "; ``set-cookie`` is always a list."""
    out: dict[str, Any] = {}
    for name, value in headers:
        key = name.lower()
        if key == "set-cookie":
            out.setdefault(key, []).append(value)
        elif key in out:
            out[key] = f"{out[key]}, {value}"
        else:
            out[key] = value
    return out


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


# --------------------------------------------------------------------------- content-encoding


def _inflate(data: bytes, wbits: int, cap: int) -> bytes:
    """zlib/gzip/raw-deflate decompression that stops as soon as the output passes ``cap``."""
    d = zlib.decompressobj(wbits)
    out = bytearray()
    pending = data
    while not d.eof:
        chunk = d.decompress(pending, cap + 1 - len(out))
        out += chunk
        if len(out) > cap:
            raise _CapExceeded
        pending = d.unconsumed_tail
        if not pending and not chunk:
            break
    if not d.eof:
        raise _Undecodable  # truncated stream
    if d.unused_data and wbits & 16:
        out += _inflate(d.unused_data, wbits, cap - len(out))  # concatenated gzip members
    return bytes(out)


def _gunzip(data: bytes, cap: int) -> bytes:
    try:
        return _inflate(data, 16 + zlib.MAX_WBITS, cap)
    except zlib.error:
        raise _Undecodable from None


def _undeflate(data: bytes, cap: int) -> bytes:
    try:
        return _inflate(data, zlib.MAX_WBITS, cap)  # zlib-wrapped, as the RFC says
    except zlib.error:
        pass
    try:
        return _inflate(data, -zlib.MAX_WBITS, cap)  # raw deflate, as many servers send
    except zlib.error:
        raise _Undecodable from None


def _unbrotli(data: bytes, cap: int) -> bytes:
    if _brotli is None:
        raise _Undecodable
    decompressor = _brotli.Decompressor()
    out = bytearray()
    # brotli 1.1 has no output limit: feed small slices and check the cap after each, so the
    # overshoot is bounded by what one slice can expand to.
    step = 64
    try:
        for i in range(0, len(data), step):
            out += decompressor.process(data[i : i + step])
            if len(out) > cap:
                raise _CapExceeded
        if not decompressor.is_finished():
            raise _Undecodable
    except _brotli.error:
        raise _Undecodable from None
    return bytes(out)


_DECODERS: Final[dict[str, Callable[[bytes, int], bytes]]] = {
    "gzip": _gunzip,
    "x-gzip": _gunzip,
    "deflate": _undeflate,
    "br": _unbrotli,
}


def _decompress(body: bytes, encoding: str, cap: int) -> bytes:
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    for coding in reversed(codings):  # applied in order, so undone in reverse
        if coding == "identity":
            continue
        decoder = _DECODERS.get(coding)
        if decoder is None:
            raise _Undecodable
        body = decoder(body, cap)
    return body


# --------------------------------------------------------------------------- content types


def _text(body: bytes, params: dict[str, str]) -> str:
    charset = params.get("charset", "utf-8") or "utf-8"
    try:
        return body.decode(charset)
    except LookupError:
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise _Undecodable from None
    except UnicodeDecodeError:
        raise _Undecodable from None


def _json_constant(name: str) -> dict[str, str]:
    # NaN / Infinity are not JSON; keep them as comparable markers rather than floats.
    return {"$float": name}


def _json_float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else {"$float": text}


_UTF8: Final = {"charset": "utf-8"}


@lru_cache(maxsize=512)
def _is_utf8_json(content_type: str) -> bool:
    media, params = _media_type(content_type)
    is_json = media in _JSON_TYPES or media.endswith("+json")
    return is_json and params.get("charset", "utf-8").lower() in ("utf-8", "utf8")


def _json(body: bytes, params: dict[str, str]) -> Any:
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
        raise _Undecodable from None


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


def _multipart(body: bytes, params: dict[str, str], cap: int) -> dict[str, Any]:
    boundary = params.get("boundary")
    if not boundary:
        raise _Undecodable
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 2:
        raise _Undecodable
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
            "body": decode_body(content, part_type or "text/plain", max_decoded=cap),
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


def decode_body(
    body: bytes,
    content_type: str | None,
    content_encoding: str | None = None,
    *,
    max_decoded: int = DEFAULT_MAX_DECODED,
) -> Any:
    """Decode one body by its content encoding and content type (see the module docstring)."""
    if not body:
        return None
    if not content_encoding and content_type is not None and _is_utf8_json(content_type):
        if not _has_long_int(body):  # the common case, with no further look-ups
            try:
                return orjson.loads(body)
            except orjson.JSONDecodeError:
                pass
        try:
            return _json_exact(body, _UTF8)
        except _Undecodable:
            return binary_marker(body)
    if content_encoding:
        try:
            body = _decompress(body, content_encoding, max_decoded)
        except _CapExceeded:
            return {**binary_marker(body), "$note": CAP_NOTE}
        except _Undecodable:
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
            return _multipart(body, params, max_decoded)
        if media == "application/x-www-form-urlencoded":
            return _form(body, params)
        if _is_text(media):
            return _text(body, params)
    except _Undecodable:
        pass
    return binary_marker(body)


def lift(
    status: int | None,
    headers: Iterable[Sequence[str]],
    body: bytes | None,
    *,
    max_decoded: int = DEFAULT_MAX_DECODED,
) -> dict[str, Any]:
    """Lift one response to ``{"status", "headers", "body"}`` (see the module docstring)."""
    lifted = lift_headers(headers)
    content_type = lifted.get("content-type")
    content_encoding = lifted.get("content-encoding")
    return {
        "status": status,
        "headers": lifted,
        "body": decode_body(
            body or b"",
            content_type if isinstance(content_type, str) else None,
            content_encoding if isinstance(content_encoding, str) else None,
            max_decoded=max_decoded,
        ),
    }


RawResponse = tuple[int | None, Iterable[Sequence[str]], bytes | None]


def lift_pair(
    old: RawResponse, new: RawResponse, *, max_decoded: int = DEFAULT_MAX_DECODED
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Lift an old and a new response. When both raw bodies are byte-identical under the same
    content type and encoding, the body is decoded once and the two trees share it (and the
    comparison skips a shared body at once)."""
    old_tree = lift(*old, max_decoded=max_decoded)
    status, headers, body = new
    lifted = lift_headers(headers)
    oh = old_tree["headers"]
    if (
        (body or b"") == (old[2] or b"")
        and lifted.get("content-type") == oh.get("content-type")
        and lifted.get("content-encoding") == oh.get("content-encoding")
    ):
        return old_tree, {"status": status, "headers": lifted, "body": old_tree["body"]}
    content_type = lifted.get("content-type")
    content_encoding = lifted.get("content-encoding")
    new_tree = {
        "status": status,
        "headers": lifted,
        "body": decode_body(
            body or b"",
            content_type if isinstance(content_type, str) else None,
            content_encoding if isinstance(content_encoding, str) else None,
            max_decoded=max_decoded,
        ),
    }
    return old_tree, new_tree


# --------------------------------------------------------------------------- canonical bytes

_OPTS: Final = orjson.OPT_SORT_KEYS


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    # Tagged so that a non-str key can never collide with a str key.
    return f"\x00{type(key).__name__}:{key!r}"


def _sanitize(value: Any) -> Any:
    """A plain-JSON stand-in for values orjson cannot or would not encode faithfully."""
    if isinstance(value, dict):
        return {_key(k): _sanitize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_sanitize(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else {"$int": str(value)}
    if isinstance(value, bytes | bytearray):
        return binary_marker(bytes(value))
    return {"$repr": repr(value)}


def _has_non_finite(value: Any) -> bool:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, float):
            if not math.isfinite(v):
                return True
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            stack.extend(v)
    return False


def canonical_unchecked(tree: Any) -> bytes:
    """Fast canonical bytes; NaN/Infinity would come out as ``null`` (callers must guard)."""
    try:
        return orjson.dumps(tree, option=_OPTS)
    except TypeError:
        return orjson.dumps(_sanitize(tree), option=_OPTS)


def canonical(tree: Any) -> bytes:
    """Canonical JSON bytes of a tree: sorted keys, compact, UTF-8.

    Equal bytes mean equal trees: ints and floats stay distinct (``1`` vs ``1.0``), non-str keys
    are tagged, NaN and infinities become ``{"$float": ...}`` markers (never ``null``), and
    integers beyond 64 bits are kept exactly.
    """
    out = canonical_unchecked(tree)
    if b"null" in out and _has_non_finite(tree):
        return orjson.dumps(_sanitize(tree), option=_OPTS)
    return out
