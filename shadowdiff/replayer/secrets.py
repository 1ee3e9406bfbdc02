"""Secrets at replay: the values a user supplies, put back in place of their tokens.

A ``--secrets`` TOML file lists values (``values = ["…"]``) and environment variables that
hold them (``env = ["ALICE_PASSWORD"]``, read once, at start). Each value is matched to its
token by recomputing the keyed hash, so a user never needs to know which token is which.
`prepare` puts the supplied values into an outgoing request (headers, the credential of
``Bearer …``, cookies, query parameters, JSON / form / multipart bodies) and reports the
tokens nothing supplies: a header holding one is not sent, a cookie holding one is left
out, a query or body field keeps the token. The values live in memory only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, unquote_plus

from shadowdiff.errors import SecretsFileError
from shadowdiff.records import Exchange, Headers
from shadowdiff.redaction import REDACTED_PREFIX, TOKEN_PATTERN, parse_site, redaction_token
from shadowdiff.tomlfile import decode_problem, loads

__all__ = ["MAX_SECRETS", "Prepared", "SecretBook", "prepare"]

MAX_SECRETS: Final = 10_000
MAX_FILE: Final = 2**20
_PREFIX_BYTES: Final = REDACTED_PREFIX.encode()
_BODY_KINDS: Final = ("json:", "form:")
Lookup = Callable[[str, str], "str | None"]  # (token, where) -> the supplied value or None
Encode = Callable[[str], str]


def _as_is(value: str) -> str:
    return value


def _percent(value: str) -> str:
    return quote(value, safe="")


def _json_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


@dataclass(frozen=True)
class SecretBook:
    """Supplied secrets by token (values never leave memory)."""

    by_token: dict[str, str] = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, values: Iterable[str], key: bytes) -> SecretBook:
        return cls({redaction_token(key, v): v for v in values if v})

    @classmethod
    def load(cls, path: Path | str | None, key: bytes) -> SecretBook:
        """The book of a secrets file (none: an empty book)."""
        return cls.of(read_secrets_file(Path(path), os.environ), key) if path else cls()

    def supplies(self, token: str) -> bool:
        return token in self.by_token

    def __len__(self) -> int:
        return len(self.by_token)


def read_secrets_file(path: Path, environ: Mapping[str, str]) -> list[str]:
    """The values a secrets file gives: its ``values``, then its ``env`` variables' values."""
    try:
        if path.stat().st_size > MAX_FILE:
            raise SecretsFileError(f"secrets file {path} is over {MAX_FILE} bytes", field="secrets")
        data = loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SecretsFileError(f"secrets file {path} does not exist", field="secrets") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretsFileError(f"cannot read secrets file {path}: {exc}", field="secrets") from None
    except tomllib.TOMLDecodeError as exc:
        problem = decode_problem(exc)
        where = f":{problem.line}" if problem.line else ""
        raise SecretsFileError(
            f"{path}{where}: {problem.message}; expected values = [...] and/or env = [...]",
            field="secrets",
        ) from None
    return _values(path, data, environ)


def _strings(path: Path, data: dict[str, Any], key: str) -> list[str]:
    items = data.get(key, [])
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise SecretsFileError(
            f'{path}: {key} must be a list of strings, e.g. {key} = ["…"]', field="secrets"
        )
    return items


def _values(path: Path, data: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    unknown = sorted(set(data) - {"values", "env"})
    if unknown:
        raise SecretsFileError(
            f"{path}: unknown key {unknown[0]!r}; a secrets file holds values = [...] "
            "and/or env = [...]",
            field="secrets",
        )
    values = _strings(path, data, "values")
    for name in _strings(path, data, "env"):
        value = environ.get(name)
        if value is None:
            raise SecretsFileError(
                f"{path}: environment variable {name} is not set; export it or remove it from env",
                field="secrets",
            )
        values.append(value)
    if len(values) > MAX_SECRETS:
        raise SecretsFileError(f"{path}: more than {MAX_SECRETS} secrets", field="secrets")
    return values


@dataclass(frozen=True)
class Prepared:
    """The exchange to send (a copy when anything changed) and what nothing supplied."""

    exchange: Exchange
    unsupplied: tuple[str, ...]  # where each unsupplied token sits: header:authorization, ...


def body_sites(exchange: Exchange) -> dict[str, list[str]]:
    """Token -> where in the request body it was noted (``json:user.password``, ...)."""
    out: dict[str, list[str]] = {}
    for site in exchange.redacted:
        parsed = parse_site(site)
        if parsed is not None and parsed[0] == "request" and parsed[1].startswith(_BODY_KINDS):
            out.setdefault(parsed[2], []).append(parsed[1])
    return out


def prepare(
    exchange: Exchange, book: SecretBook, chained: frozenset[str] = frozenset()
) -> Prepared:
    """Put the supplied secrets into a request; note where tokens remain unsupplied (but
    for the `chained` ones: replayer/chaining.py puts those back)."""
    if not _has_tokens(exchange):
        return Prepared(exchange, ())
    in_body: list[dict[str, list[str]]] = []  # the body's sites, read when first needed
    missing: set[str] = set()

    def lookup(token: str, where: str) -> str | None:
        found = book.by_token.get(token)
        if found is None and token not in chained:
            if where != "body":
                missing.add(where)
            else:
                if not in_body:
                    in_body.append(body_sites(exchange))
                missing.update(in_body[0].get(token, [where]))
        return found

    headers = _headers(exchange.request_headers, lookup)
    query = _query(exchange.query, lookup)
    body = _body(exchange, lookup)
    copy = exchange.with_request(request_headers=headers, query=query, request_body=body)
    return Prepared(copy, tuple(sorted(missing)))


def _has_tokens(exchange: Exchange) -> bool:
    return (
        REDACTED_PREFIX in exchange.query
        or _PREFIX_BYTES in exchange.request_body
        or any(REDACTED_PREFIX in v for _, v in exchange.request_headers)
    )


def _substitute(text: str, value: Lookup, where: str, encode: Encode) -> str:
    if REDACTED_PREFIX not in text:
        return text

    def one(match: re.Match[str]) -> str:
        found = value(match.group(0), where)
        return match.group(0) if found is None else encode(found)

    return str(TOKEN_PATTERN.sub(one, text))


def _query(query: str, value: Lookup) -> str:
    if REDACTED_PREFIX not in query:
        return query
    parts = query.split("&")
    for i, part in enumerate(parts):
        name, eq, val = part.partition("=")
        if eq and REDACTED_PREFIX in val:
            where = f"query:{unquote_plus(name, errors='surrogateescape')}"
            parts[i] = f"{name}={_substitute(val, value, where, _percent)}"
    return "&".join(parts)


def _headers(headers: Headers, value: Lookup) -> Headers:
    out: Headers = []
    for name, text in headers:
        if REDACTED_PREFIX not in text:
            out.append((name, text))
        elif name.lower() == "cookie":
            kept = [p for p in (_cookie(part, value) for part in text.split(";")) if p is not None]
            if kept:
                out.append((name, ";".join(kept)))
        else:
            filled = _substitute(text, value, f"header:{name.lower()}", _as_is)
            if REDACTED_PREFIX not in filled:
                out.append((name, filled))  # a header still holding a token is not sent
    return out


def _cookie(part: str, value: Lookup) -> str | None:
    cname, eq, val = part.partition("=")
    if REDACTED_PREFIX not in val:
        return part
    filled = _substitute(val, value, f"cookie:{cname.strip()}", _as_is)
    return None if REDACTED_PREFIX in filled else f"{cname}={filled}"


def _body(exchange: Exchange, value: Lookup) -> bytes:
    body = exchange.request_body
    if _PREFIX_BYTES not in body:
        return body
    if exchange.request_header("content-encoding") not in (None, "identity"):
        return body  # an encoded body is sent as recorded
    mime = (exchange.request_header("content-type") or "").split(";", 1)[0].strip().lower()
    encode: Encode = _as_is
    if mime == "application/x-www-form-urlencoded":
        encode = _percent
    elif mime.endswith("json") or body.lstrip()[:1] in (b"{", b"["):
        encode = _json_string
    text = body.decode("utf-8", "surrogateescape")
    return _substitute(text, value, "body", encode).encode("utf-8", "surrogateescape")
