"""Redaction of whole messages: a recorded `Exchange` and a replayed `Replay`, alike.

The recorder (and the importers) call `redact_exchange` before storing; the replayer calls
`redact_replay` on every answer, candidate and baseline, before it is stored or compared,
with the same policy and key, so equal secrets give equal tokens on both sides.
"""

from __future__ import annotations

from shadowdiff.records import Exchange, Headers, Replay, header_value
from shadowdiff.redaction import RedactionPolicy, Redactor
from shadowdiff.redaction.bodies import redact_body

__all__ = ["redact_exchange", "redact_headers", "redact_replay"]


def redact_headers(red: Redactor, headers: Headers) -> Headers:
    """Headers with secret values tokenized; the same list when there is nothing to do."""
    names = red.policy.names
    for name, _ in headers:
        if name.lower() in names:
            return [(name, red.header(name, value)) for name, value in headers]
    return headers  # the common case: nothing to copy


def _body(red: Redactor, headers: Headers, body: bytes, truncated: bool) -> bytes:
    if truncated:
        return body  # a cut body does not parse; it is never sent again either
    return redact_body(
        red, body, header_value(headers, "content-type"), header_value(headers, "content-encoding")
    )


def redact_exchange(exchange: Exchange, policy: RedactionPolicy) -> Exchange:
    """Tokenize the secrets of a recorded exchange in place; its sites go to ``redacted``."""
    sites = set(exchange.redacted)
    req = Redactor(policy, "request", sites)
    exchange.request_headers = redact_headers(req, exchange.request_headers)
    exchange.query = req.query(exchange.query)
    exchange.request_body = _body(
        req, exchange.request_headers, exchange.request_body, exchange.request_truncated
    )
    resp = Redactor(policy, "response", sites)
    exchange.response_headers = redact_headers(resp, exchange.response_headers)
    exchange.response_body = _body(
        resp, exchange.response_headers, exchange.response_body, exchange.response_truncated
    )
    exchange.redacted = sorted(sites)
    return exchange


def redact_replay(replay: Replay, policy: RedactionPolicy) -> Replay:
    """Tokenize the secrets of a replayed answer in place, exactly as a recorded one's."""
    red = Redactor(policy, "response", None)
    replay.headers = redact_headers(red, replay.headers)
    if replay.body:  # (an empty one has nothing to tokenize)
        replay.body = _body(red, replay.headers, replay.body, "truncated" in replay.flags)
    return replay
