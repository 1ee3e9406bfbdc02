"""Volatile values: ids, tokens and timestamps that differ on every answer of either server.

A difference is *volatile* when both sides have the same SHAPE and only the value changed:

- UUIDs (same letter case), ULIDs, long hex ids (>= 16 hex digits with a letter, same length
  and case), JWTs (three base64url parts, the first a JSON header), and other token-looking
  strings (>= 20 base64/base64url characters mixing upper case, lower case and digits that
  change kind at least every third character, same length);
- timestamps near the exchange's time (within ``NEAR_SECONDS`` of the recording's time on the
  old side and of the replay's on the new side): ISO-8601 date-times (a date alone is no
  clock: a day that changed is a real difference) with the same format and UTC offset on both
  sides (digits apart: ``+00:00`` vs ``Z`` or ``+01:00`` is a change of shape), RFC 1123 dates,
  epoch seconds and epoch milliseconds (as numbers or digit strings; seconds vs milliseconds
  is a change);
- the value of a request-id family header (by name: ``x-request-id``, ``X_Request_ID``,
  ``traceparent``, ... with ``_``/``-`` and case normalised) whose values have the same
  skeleton (each run of letters and digits one symbol: ``x-x-x-x-x`` for a uuid).

A changed shape (uuid -> int, ``+00:00`` -> ``Z``, seconds -> milliseconds) is not volatile.
Everything is bounded: strings over ``MAX_CHARS`` are never volatile, and each regex is
anchored and linear on strings that short.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final

__all__ = [
    "NEAR_SECONDS",
    "REQUEST_ID_HEADERS",
    "Times",
    "is_request_id_header",
    "is_volatile",
    "shape_of",
]

MAX_CHARS: Final = 2048  # longer strings are never taken for ids or timestamps
NEAR_SECONDS: Final = 86_400.0  # a timestamp within a day of the exchange's time

#: Header names (lower case, `_` as `-`) whose values are per-request ids or trace contexts.
REQUEST_ID_HEADERS: Final = frozenset(
    {
        "x-request-id",
        "request-id",
        "x-correlation-id",
        "correlation-id",
        "x-amzn-requestid",
        "x-amzn-request-id",
        "x-amz-request-id",
        "x-amz-id-2",
        "x-amzn-trace-id",
        "traceparent",
        "tracestate",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-parentspanid",
        "b3",
        "x-trace-id",
        "x-span-id",
        "x-cloud-trace-context",
        "cf-ray",
        "x-runtime",
        "x-datadog-trace-id",
        "x-datadog-parent-id",
        "x-ms-request-id",
        "x-github-request-id",
        "x-envoy-upstream-service-time",
    }
)

#: (old time, new time) of an exchange: the recording's and the replay's start (epoch s).
Times = tuple[float, float]

_UUID: Final = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)
_ULID: Final = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
_HEX: Final = re.compile(r"[0-9a-fA-F]{16,}")
_JWT: Final = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_TOKEN: Final = re.compile(r"[A-Za-z0-9_+/-]{20,}={0,2}")
_ISO: Final = re.compile(  # a time of day is required: a date alone is no clock
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(?P<tz>Z|[+-]\d{2}:?\d{2})?"
)
_RFC1123: Final = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT"
)
_DIGITS: Final = re.compile(r"\d{10}(\d{3})?")
_DIGIT: Final = re.compile(r"\d")
_ZEROS: Final = str.maketrans("123456789", "000000000")  # `_DIGIT.sub("0", ...)` of ASCII
_ALNUM_RUN: Final = re.compile(r"[A-Za-z0-9]+")


def is_request_id_header(path: str) -> bool:
    """Whether ``headers.<name>`` is a request-id family header (``_``/``-``, case ignored)."""
    if not path.startswith("headers."):
        return False
    return path[8:].lower().replace("_", "-") in REQUEST_ID_HEADERS


def _case(text: str) -> str:
    if text.isascii():  # the letters are the cased characters: str says it at once
        if text.islower():
            return "lower"
        if text.isupper():
            return "upper"
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return "none"
    if all(c.islower() for c in letters):
        return "lower"
    return "upper" if all(c.isupper() for c in letters) else "mixed"


def _class_of(c: str) -> int:
    return 0 if c.isupper() else 1 if c.islower() else 2 if c.isdigit() else 3


def _random_looking(text: str) -> bool:
    """Upper case, lower case and digits all present, and the kind of character changing at
    least every third character (random base64 changes about two times in three): a word, a
    slug, a path or ``Version2Release10Build`` is not a token."""
    if text[0] == "/" or not (
        any(c.isupper() for c in text)
        and any(c.islower() for c in text)
        and any(c.isdigit() for c in text)
    ):
        return False
    kinds = [_class_of(c) for c in text]
    changes = sum(1 for a, b in zip(kinds, kinds[1:], strict=False) if a != b)
    return 3 * changes >= len(text)


def _time_of(text: str) -> float | None:
    """Epoch seconds of an ISO-8601 or RFC 1123 string (naive ISO taken as UTC)."""
    try:
        if text[0].isdigit():
            stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if stamp.tzinfo is None:
                return stamp.replace(tzinfo=UTC).timestamp()
            return stamp.timestamp()
        return parsedate_to_datetime(text).timestamp()
    except (ValueError, TypeError, IndexError, OverflowError):
        return None


def shape_of(value: Any) -> tuple[str, Any] | None:
    """The volatile shape of a value and the time it stands for (None when no time), or
    None when it looks like no id, token or timestamp."""
    if type(value) is str:
        return _string_shape(value)
    if type(value) is int and not isinstance(value, bool):
        return _epoch_shape(value)
    if type(value) is float:
        return _epoch_shape(value)
    return None


def _epoch_shape(number: float) -> tuple[str, Any] | None:
    if 1e9 <= number < 1e10:
        return (f"epoch-s:{type(number).__name__}", float(number))
    if 1e12 <= number < 1e13:
        return (f"epoch-ms:{type(number).__name__}", number / 1000.0)
    return None


def _string_shape(text: str) -> tuple[str, Any] | None:
    n = len(text)
    if n < 10 or n > MAX_CHARS:
        return None
    if _DIGITS.fullmatch(text):
        epoch = _epoch_shape(int(text))
        return (f"str-{epoch[0]}", epoch[1]) if epoch else None
    iso = _ISO.fullmatch(text)
    if iso:
        when = _time_of(text)
        cut = iso.start("tz") if iso.group("tz") else n  # the offset is kept as it is
        head = text[:cut]
        digits = head.translate(_ZEROS) if head.isascii() else _DIGIT.sub("0", head)
        shape = "iso:" + digits + text[cut:]
        return (shape, when) if when is not None else None
    if _RFC1123.fullmatch(text):
        when = _time_of(text)
        return ("rfc1123", when) if when is not None else None
    if n == 36 and _UUID.fullmatch(text):
        return (f"uuid:{_case(text)}", None)
    if n == 26 and _ULID.fullmatch(text) and not text.isdigit():
        return ("ulid", None)
    if _HEX.fullmatch(text) and not text.isdigit():
        return (f"hex:{n}:{_case(text)}", None)
    if _JWT.fullmatch(text):
        return ("jwt", None)
    if _TOKEN.fullmatch(text) and _random_looking(text):
        return (f"token:{n}", None)
    return None


def _near(when: Any, at: float) -> bool:
    return when is None or abs(float(when) - at) <= NEAR_SECONDS


def is_volatile(path: str, old: Any, new: Any, times: Times | None) -> bool:
    """Whether old -> new at ``path`` is a volatile change (module docstring): both the same
    shape, and a timestamp near its side's time (never without ``times``)."""
    a = shape_of(old)
    if a is not None:
        b = shape_of(new)
        if b is not None and a[0] == b[0]:
            if a[1] is None:
                return True
            return times is not None and _near(a[1], times[0]) and _near(b[1], times[1])
    if is_request_id_header(path) and type(old) is str and type(new) is str:
        return _skeleton(old) == _skeleton(new)
    return False


def _skeleton(text: str) -> str:
    """Each run of letters and digits as one ``x``: ``x-x-x-x-x`` for a uuid."""
    return _ALNUM_RUN.sub("x", text[:MAX_CHARS])
