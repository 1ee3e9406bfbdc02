"""Pure conversion of a mitmproxy flow to a stored `Exchange`, and the record policy.

Nothing here does I/O: the addon and the importers call these functions and hand the
results to the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mitmproxy import http

from shadowdiff.records import DEFAULT_MAX_BODY, Exchange, Headers
from shadowdiff.redaction import DEFAULT_NAMES, RedactionPolicy, redaction_token
from shadowdiff.redaction.messages import redact_exchange

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_REDACT",
    "CapturePolicy",
    "apply_policy",
    "flow_to_exchange",
    "redaction_token",
    "split_target",
]

DEFAULT_REDACT: tuple[str, ...] = DEFAULT_NAMES


@dataclass(frozen=True)
class CapturePolicy:
    """What to keep of each exchange: which secrets to redact, how much body."""

    redaction: RedactionPolicy = field(default_factory=RedactionPolicy)
    max_body: int = DEFAULT_MAX_BODY

    @classmethod
    def build(
        cls,
        *,
        redact: Iterable[str] = (),
        keep: Iterable[str] = (),
        key: bytes = b"",
        max_body: int = DEFAULT_MAX_BODY,
    ) -> CapturePolicy:
        """The default secret names plus ``redact`` minus ``keep``; bodies cut at max_body."""
        return cls(
            redaction=RedactionPolicy.build(redact=redact, keep=keep, key=key), max_body=max_body
        )

    @property
    def key(self) -> bytes:
        return self.redaction.key

    def redacts(self, name: str) -> bool:
        return self.redaction.covers(name)


def apply_policy(exchange: Exchange, policy: CapturePolicy) -> Exchange:
    """Redact secrets and cap body sizes, in place (on the hot path); returns it.

    Redaction comes first, on whole bodies, so a cut never leaves half a secret behind.
    """
    redact_exchange(exchange, policy.redaction)
    if len(exchange.request_body) > policy.max_body:
        exchange.request_body = exchange.request_body[: policy.max_body]
        exchange.request_truncated = True
    if len(exchange.response_body) > policy.max_body:
        exchange.response_body = exchange.response_body[: policy.max_body]
        exchange.response_truncated = True
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
