"""Secrets in bodies: JSON keys at any depth, form fields, multipart text fields.

A body is parsed only when it may hold a secret (a cheap byte test first) and is at most
`MAX_PARSE` bytes; it is re-serialised only when something was redacted, so every other
body keeps its exact bytes. A gzip or deflate body is decoded (bounded) and, when redacted,
encoded again the same way; any other Content-Encoding (br, zstd) is left as it is.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from typing import Any, Final

from shadowdiff.redaction import Redactor

__all__ = ["MAX_PARSE", "redact_body"]

MAX_PARSE: Final = 4 * 2**20  # bodies above this many bytes (decoded) are not parsed
MAX_DEPTH: Final = 64
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_FIELD_NAME = re.compile(rb'\bname="([^"]*)"', re.IGNORECASE)


def redact_body(
    red: Redactor, body: bytes, content_type: str | None, content_encoding: str | None
) -> bytes:
    """``body`` with its secret fields tokenized (the same bytes when there are none)."""
    if not body or len(body) > MAX_PARSE:
        return body
    coding = (content_encoding or "identity").strip().lower()
    if coding in ("gzip", "x-gzip", "deflate"):
        return _encoded(red, body, content_type, coding)
    if coding != "identity":
        return body
    return _plain(red, body, content_type or "")


def _plain(red: Redactor, body: bytes, content_type: str) -> bytes:
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "application/x-www-form-urlencoded":
        text = body.decode("utf-8", "surrogateescape")
        out = red.query(text, kind="form")
        return body if out is text else out.encode("utf-8", "surrogateescape")
    if mime == "multipart/form-data":
        return _multipart(red, body, content_type)
    if red.policy.json_keys.search(body) is None:
        return body  # the common case: no secret key, no parse
    return _json(red, body)


def _encoded(red: Redactor, body: bytes, content_type: str | None, coding: str) -> bytes:
    wbits = 16 + zlib.MAX_WBITS if coding != "deflate" else zlib.MAX_WBITS
    try:
        decoder = zlib.decompressobj(wbits)
        plain = decoder.decompress(body, MAX_PARSE + 1)
    except zlib.error:
        return body
    if len(plain) > MAX_PARSE or not decoder.eof:
        return body  # too big to scan, or more than one member: leave it
    out = _plain(red, plain, content_type or "")
    if out is plain:
        return body
    return gzip.compress(out, mtime=0) if coding != "deflate" else zlib.compress(out)


def _json(red: Redactor, body: bytes) -> bytes:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return body
    if not _walk(red, doc, "", 0):
        return body
    return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _walk(red: Redactor, node: Any, path: str, depth: int) -> bool:
    """Tokenize secret keys' scalar values in place; True if anything changed."""
    if depth > MAX_DEPTH:
        return False
    changed = False
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if red.policy.covers(str(key)) and _is_scalar(value):
                text = value if isinstance(value, str) else json.dumps(value)
                token = red.credential(text, f"json:{where}")
                changed |= token != value
                node[key] = token
            else:
                changed |= _walk(red, value, where, depth + 1)
    elif isinstance(node, list):
        for item in node:
            changed |= _walk(red, item, f"{path}[]", depth + 1)
    return changed


def _is_scalar(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    return isinstance(value, str | int | float) and value != ""


def _multipart(red: Redactor, body: bytes, content_type: str) -> bytes:
    match = _BOUNDARY.search(content_type)
    if match is None:
        return body
    delimiter = b"--" + match.group(1).encode("latin-1", "replace")
    chunks = body.split(delimiter)
    changed = False
    for i in range(1, len(chunks) - 1):  # chunks[0] is the preamble, the last the epilogue
        head, sep, content = chunks[i].partition(b"\r\n\r\n")
        name = _FIELD_NAME.search(head)
        if not sep or name is None or b"filename=" in head.lower():
            continue
        field_name = name.group(1).decode("utf-8", "surrogateescape")
        if not red.policy.covers(field_name):
            continue
        value, crlf = (content[:-2], b"\r\n") if content.endswith(b"\r\n") else (content, b"")
        if not value:
            continue
        text = value.decode("utf-8", "surrogateescape")
        token = red.token(text, f"form:{field_name}")
        chunks[i] = head + sep + token.encode("ascii") + crlf
        changed = True
    return delimiter.join(chunks) if changed else body
