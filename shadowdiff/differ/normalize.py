"""Lift a raw HTTP response into the one tree the differ compares; canonical bytes of trees.

``lift(status, headers, body)`` returns ``{"status": int, "headers": {...}, "body": ...}``:

* header names are lower-cased; repeated headers are joined with ``", "``, except
  ``set-cookie``, which is always a list;
* the body is first decoded by ``content-encoding`` (gzip, deflate as zlib or raw, br when the
  ``brotli`` module is importable), never past ``max_decoded`` bytes of output, then by content
  type: JSON to objects, CSV to rows, forms and multipart to fields, text as ``str``, anything
  else as ``{"$binary": {"sha256": ..., "length": ...}}``. An empty body is ``None``.

Lifting never raises on bad input: what cannot be decoded is compared by hash and length.
Body decoding lives in ``bodies.py``, Content-Encoding in ``encodings.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, Final

import orjson

from shadowdiff.differ.bodies import (
    DEFAULT_MAX_DECODED,
    NOT_PLAIN_JSON,
    binary_marker,
    decode_body,
    plain_json,
)
from shadowdiff.differ.truncation import TRUNCATED, truncated_bodies
from shadowdiff.records import Exchange, Replay

__all__ = [
    "DEFAULT_MAX_DECODED",
    "RawResponse",
    "binary_marker",
    "canonical",
    "decode_body",
    "lift",
    "lift_headers",
    "lift_pair",
    "lift_referenced",
    "lift_replayed",
    "relativize_location",
]


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
    if content_encoding is None and body and type(content_type) is str:
        parsed = plain_json(body, content_type)  # the commonest case, with the fewest steps
        if parsed is not NOT_PLAIN_JSON:
            return {"status": status, "headers": lifted, "body": parsed}
    return _tree(status, lifted, body, max_decoded)


def _tree(
    status: int | None, lifted: dict[str, Any], body: bytes | None, max_decoded: int
) -> dict[str, Any]:
    """The tree of a response whose headers are lifted: the body decoded as they say."""
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
    return old_tree, _tree(status, lifted, body, max_decoded)


def relativize_location(tree: dict[str, Any], origins: Iterable[str]) -> None:
    """Make a Location on the answering server's own origin relative (`/info/?x=1`).

    Two servers reached under different host:port build different absolute URLs for the same
    target; relative, they compare by target, so a redirect to the wrong place still shows.
    A Location on any other origin stays absolute.
    """
    location = tree["headers"].get("location")
    if not isinstance(location, str):
        return
    lowered = location.lower()
    for origin in origins:
        prefix = origin.rstrip("/").lower()
        if (
            prefix
            and lowered.startswith(prefix)
            and lowered[len(prefix) : len(prefix) + 1]
            in (
                "",
                "/",
                "?",
                "#",
            )
        ):
            tree["headers"]["location"] = location[len(prefix) :] or "/"
            return


def recorded_origins(exchange: Exchange, upstream: str | None) -> list[str]:
    """The origins the recorded server knew itself by: the Host it was sent, its address."""
    origins = [f"{exchange.scheme}://{exchange.host}:{exchange.port}"]
    host = exchange.request_header("host")
    if host:
        origins.insert(0, f"{exchange.scheme}://{host}")
    if upstream:
        origins.append(upstream)
    return origins


def lift_replayed(
    exchange: Exchange, replay: Replay, *, target: str, upstream: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (recorded, replayed) trees of one exchange, as every diff of a run compares them:
    lifted together, with each Location made relative to its own server's origin. When
    either body was cut at a size cap, the bodies are compared by prefix and size only
    (differ/truncation.py)."""
    old_cut, new_cut = exchange.response_truncated, TRUNCATED in replay.flags
    if old_cut or new_cut:
        old = lift(exchange.status, exchange.response_headers, None)
        new = lift(replay.status, replay.headers, None)
        old["body"], new["body"] = truncated_bodies(
            exchange.response_body, replay.body, old_cut=old_cut, new_cut=new_cut
        )
    else:
        old, new = lift_pair(
            (exchange.status, exchange.response_headers, exchange.response_body),
            (replay.status, replay.headers, replay.body),
        )
    if "location" in old["headers"]:  # origins are worked out only for a Location
        relativize_location(old, recorded_origins(exchange, upstream))
    if "location" in new["headers"]:
        # the target knows itself by its address, and by the recorded Host when sent that one
        host = exchange.request_header("host")
        sent_as = [f"{target.partition('://')[0]}://{host}"] if host else []
        relativize_location(new, (target, *sent_as))
    return old, new


def lift_referenced(
    exchange: Exchange,
    reference: Replay,
    replay: Replay,
    *,
    reference_target: str,
    target: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (old, new) trees of one exchange when a reference run's replay is the old side
    (lockstep: the primary's answer): lifted as `lift_replayed` lifts the recording, the
    reference's own target being the origin its Locations are relative to."""
    answered = replace(
        exchange,
        status=reference.status,
        reason=reference.reason,
        response_headers=reference.headers,
        response_body=reference.body,
        response_truncated=TRUNCATED in reference.flags,
        error=reference.error,
    )
    return lift_replayed(answered, replay, target=target, upstream=reference_target)


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


def _canonical_fast(tree: Any) -> bytes:
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
    out = _canonical_fast(tree)
    if b"null" in out and _has_non_finite(tree):
        return orjson.dumps(_sanitize(tree), option=_OPTS)
    return out
