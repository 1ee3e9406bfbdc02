"""Build the outgoing request for a recorded exchange: the bytes as recorded.

Pure functions, no I/O. The method, the request target (path and query) and the body go out
exactly as recorded: an `Outgoing` holds the target as bytes (a URL type would re-encode it)
and the method as recorded, and both transports send those. Headers keep their recorded
names, case, order and duplicates, minus hop-by-hop ones and redacted tokens; `--header`
overrides take the place of the header they replace. `Host` is the recorded one
(`host="recorded"`) or the target's (`host="target"`), in its recorded place.
`Content-Length` is sent where the recording had one (or had a body), never added to a
body-less request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Final

from shadowdiff.errors import ReplayError
from shadowdiff.redaction import REDACTED_PREFIX, is_redacted
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
    }
)
HOST_MODES: Final = ("recorded", "target")


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

    @cached_property
    def origin(self) -> str:
        """`scheme://host:port`, without the path prefix."""
        scheme, _, rest = self.base.partition("://")
        return f"{scheme}://{rest.partition('/')[0]}"

    @cached_property
    def netloc(self) -> str:
        return self.origin.partition("://")[2]

    @cached_property
    def prefix(self) -> str:
        """The path prefix requests go under (`""` for none)."""
        return self.base[len(self.origin) :]


def parse_header_option(text: str) -> tuple[str, str]:
    """`'Authorization: Bearer x'` -> ("Authorization", "Bearer x")."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ReplayError(f"bad --header {text!r}: expected 'Name: value'")
    return name.strip(), value.strip()


def outgoing_headers(
    exchange: Exchange,
    overrides: Sequence[tuple[str, str]] = (),
    *,
    host: str | None = None,
    fallback_host: str | None = None,
) -> list[tuple[str, str]]:
    """The recorded headers to send, in their order and case: hop-by-hop and redacted ones
    dropped, each override in the place of the header it replaces (else last), `host`
    instead of the recorded Host (`fallback_host` when none was recorded), Content-Length
    only where the recording framed a body."""
    return _headers_framed(exchange, overrides, host, fallback_host)[0]


def _headers_framed(
    exchange: Exchange,
    overrides: Sequence[tuple[str, str]],
    host: str | None,
    fallback_host: str | None,
) -> tuple[list[tuple[str, str]], bool]:
    """`outgoing_headers`, and whether they hold a Content-Length (the body is sent)."""
    pending: dict[str, list[tuple[str, str]]] = {}
    for name, value in overrides:
        pending.setdefault(name.lower(), []).append((name, value))
    framed = "content-length" in pending
    placed: set[str] = set()
    out: list[tuple[str, str]] = []
    for name, value in exchange.request_headers:
        lname = name.lower()
        if lname in pending or lname in placed:
            out.extend(pending.pop(lname, []))
            placed.add(lname)
        elif lname == "host":
            if host is None:
                out.append((name, value))
            elif "host" not in placed:
                out.append((name, host))
            placed.add("host")
        elif lname == "content-length" or (lname == "transfer-encoding" and value.strip()):
            if "content-length" not in placed:  # a de-chunked body goes with its length
                length = str(len(exchange.request_body))
                out.append((name if lname == "content-length" else "Content-Length", length))
            placed.add("content-length")
            framed = True
        elif lname not in HOP_BY_HOP and not (REDACTED_PREFIX in value and is_redacted(value)):
            out.append((name, value))
    for extra in pending.values():
        out.extend(extra)
    if exchange.request_body and "content-length" not in placed:
        out.append(("Content-Length", str(len(exchange.request_body))))  # unframed (HTTP/2)
        framed = True
    if "host" not in placed and "host" not in pending and (host or fallback_host):
        out.insert(0, ("Host", host or fallback_host or ""))
    return out, framed


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A request as it goes on the wire: what both transports send, byte for byte."""

    method: str  # as recorded (transports would upper-case it)
    origin: str  # scheme://host:port of the target
    target: bytes  # the request target (path prefix, path, query) as recorded, never re-encoded
    headers: list[tuple[str, str]]  # names' case, order and duplicates as built
    body: bytes | None  # None: no body, and no Content-Length either
    timeout: float  # seconds, for connect, read, write and pool alike

    def header(self, name: str) -> str | None:
        """The first value of a header (any case), or None."""
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)


def build_request(
    exchange: Exchange,
    target: Target,
    overrides: Sequence[tuple[str, str]] = (),
    timeout: float = 10.0,
    host: str = "recorded",
) -> Outgoing:
    """The request to send to `target` for a recorded exchange (never re-encoded).

    `host`: "recorded" sends the recorded Host header, "target" the target's host:port.
    """
    text = target.prefix + exchange.path + ("?" + exchange.query if exchange.query else "")
    mine = target.netloc if host == "target" else None
    headers, framed = _headers_framed(exchange, overrides, mine, target.netloc)
    return Outgoing(
        exchange.method,
        target.origin,
        text.encode("utf-8", "surrogateescape"),
        headers,
        exchange.request_body if framed else None,
        timeout,
    )
