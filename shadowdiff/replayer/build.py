"""Build the outgoing request for a recorded exchange: faithful bytes, target's Host.

Pure functions, no I/O: method, path, query string and body bytes go out exactly as
recorded; hop-by-hop headers are dropped; `Host` and `Content-Length` are set for the
target; redacted secrets are never sent as their tokens (an override supplies them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import httpx

from shadowdiff.errors import ReplayError
from shadowdiff.redaction import is_redacted
from shadowdiff.store import Exchange
from shadowdiff.urls import BadURL, parse_base_url

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


@dataclass(frozen=True)
class Target:
    """Where to send: scheme://host:port with an optional path prefix."""

    base: str

    @classmethod
    def parse(cls, url: str) -> Target:
        try:
            parse_base_url(url)
        except BadURL as exc:
            raise ReplayError(f"bad target URL {url!r}: {exc}", field="target") from None
        return cls(url.rstrip("/"))


def parse_header_option(text: str) -> tuple[str, str]:
    """`'Authorization: Bearer x'` -> ("Authorization", "Bearer x")."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ReplayError(f"bad --header {text!r}: expected 'Name: value'")
    return name.strip(), value.strip()


def outgoing_headers(
    exchange: Exchange, overrides: Sequence[tuple[str, str]] = ()
) -> list[tuple[str, str]]:
    """Recorded headers minus hop-by-hop and redacted ones, then the overrides."""
    override_names = {name.lower() for name, _ in overrides}
    headers = [
        (name, value)
        for name, value in exchange.request_headers
        if name.lower() not in HOP_BY_HOP
        and name.lower() not in override_names
        and not is_redacted(value)
    ]
    headers.extend(overrides)
    return headers


@lru_cache(maxsize=4096)
def _url(text: str) -> httpx.URL:
    # recorded traffic repeats its URLs: parse each distinct one once
    return httpx.URL(text)


def build_request(
    exchange: Exchange,
    target: Target,
    overrides: Sequence[tuple[str, str]] = (),
    timeout: float = 10.0,
) -> httpx.Request:
    """The request to send to `target` for a recorded exchange (never re-encoded)."""
    url = target.base + exchange.path + ("?" + exchange.query if exchange.query else "")
    return httpx.Request(
        exchange.method,
        _url(url),
        headers=outgoing_headers(exchange, overrides),
        content=exchange.request_body if _has_body(exchange) else None,
        extensions={"timeout": dict.fromkeys(("connect", "read", "write", "pool"), timeout)},
    )


def _has_body(exchange: Exchange) -> bool:
    return bool(exchange.request_body) or exchange.request_header("content-length") is not None
