"""Pure conversion of a mitmproxy flow to a stored `Exchange`, and the record policy.

Nothing here does I/O: the addon and the importers call these functions and hand the
results to the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mitmproxy import http

from shadowdiff.records import Exchange, Headers
from shadowdiff.redaction import is_redacted, redaction_token

DEFAULT_REDACT: tuple[str, ...] = (
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
)
DEFAULT_MAX_BODY = 16 * 2**20


@dataclass(frozen=True)
class CapturePolicy:
    """What to keep of each exchange: which headers to redact, how much body."""

    redact: frozenset[str] = frozenset(DEFAULT_REDACT)
    keep: frozenset[str] = field(default_factory=frozenset)
    key: bytes = b""
    max_body: int = DEFAULT_MAX_BODY

    @classmethod
    def build(
        cls,
        *,
        redact: Iterable[str] = DEFAULT_REDACT,
        keep: Iterable[str] = (),
        key: bytes = b"",
        max_body: int = DEFAULT_MAX_BODY,
    ) -> CapturePolicy:
        return cls(
            redact=frozenset(h.strip().lower() for h in redact if h.strip()),
            keep=frozenset(h.strip().lower() for h in keep if h.strip()),
            key=key,
            max_body=max_body,
        )

    def redacts(self, name: str) -> bool:
        lname = name.lower()
        return lname in self.redact and lname not in self.keep


def _redact(headers: Headers, policy: CapturePolicy, names: set[str]) -> Headers:
    if not any(policy.redacts(name) for name, _ in headers):
        return headers  # the common case: nothing to copy
    out: Headers = []
    for name, value in headers:
        if policy.redacts(name) and not is_redacted(value):
            out.append((name, redaction_token(policy.key, value)))
            names.add(name.lower())
        else:
            out.append((name, value))
    return out


def apply_policy(exchange: Exchange, policy: CapturePolicy) -> Exchange:
    """Redact secret headers and cap body sizes, in place (on the hot path); returns it."""
    names: set[str] = set(exchange.redacted)
    exchange.request_headers = _redact(exchange.request_headers, policy, names)
    exchange.response_headers = _redact(exchange.response_headers, policy, names)
    if len(exchange.request_body) > policy.max_body:
        exchange.request_body = exchange.request_body[: policy.max_body]
        exchange.request_truncated = True
    if len(exchange.response_body) > policy.max_body:
        exchange.response_body = exchange.response_body[: policy.max_body]
        exchange.response_truncated = True
    exchange.redacted = sorted(names)
    return exchange


def _fields(headers: http.Headers) -> Headers:
    return [
        (k.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape"))
        for k, v in headers.fields
    ]


def split_target(target: str) -> tuple[str, str]:
    """`/a/b?x=1` -> (`/a/b`, `x=1`), keeping the query string exactly as sent."""
    path, _, query = target.partition("?")
    return path or "/", query


def _client_host(flow: http.HTTPFlow) -> str | None:
    """The recorded client's address (host only: its port changes per connection)."""
    peer = getattr(flow.client_conn, "peername", None)
    return str(peer[0]) if peer else None


def flow_to_exchange(flow: http.HTTPFlow) -> Exchange:
    """Convert a finished (or failed) HTTP flow; bodies stay as they crossed the wire."""
    req = flow.request
    path, query = split_target(req.path)
    started = req.timestamp_start
    exchange = Exchange(
        method=req.method,
        path=path,
        query=query,
        scheme=req.scheme,
        host=req.host,
        port=req.port,
        http_version=req.http_version,
        request_headers=_fields(req.headers),
        request_body=req.raw_content or b"",
        started_at=started,
        client=_client_host(flow),
    )
    resp = flow.response
    if resp is not None:
        exchange.status = resp.status_code
        exchange.reason = resp.reason
        exchange.response_headers = _fields(resp.headers)
        exchange.response_body = resp.raw_content or b""
        end = resp.timestamp_end or resp.timestamp_start
        exchange.duration_ms = round((end - started) * 1000.0, 3) if end else None
    if flow.error is not None:
        exchange.error = flow.error.msg or "error"
        if exchange.duration_ms is None and flow.error.timestamp:
            exchange.duration_ms = round((flow.error.timestamp - started) * 1000.0, 3)
    return exchange
