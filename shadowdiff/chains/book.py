"""Chains at replay: per target, the values that target issued (`ChainBook`); what each
exchange produces and consumes is `chains.plan.ChainPlan`.

A `ChainBook` maps a recorded value to the value its target issued in the same place,
learned from the target's RAW answer (before redaction; raw values stay in memory only).
Before a request goes to that target its consumed values are rewritten with the target's
(`rewrite`); a value the target never issued stays as recorded and the request is
`unchained`. After the answer, exact occurrences of values the target issued are mapped
back to the recorded values they stand for (`canonical`: whole JSON strings, integers
under a key naming an id, path segments inside strings and ``Location``, ``Set-Cookie``
values), so a diff compares like with like. A wrong id (one issued for another object)
maps to that other object's recorded id and still shows as a difference.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from shadowdiff.chains.detect import looks_issued, match_key
from shadowdiff.chains.locations import Scalar, read_response, rewrite
from shadowdiff.records import Exchange, Headers
from shadowdiff.redaction import redaction_token
from shadowdiff.redaction.bodies import MAX_PARSE

__all__ = ["ChainBook", "Rewritten"]

MAX_BOOK: Final = 1_000_000  # values remembered per target
_STRING = re.compile(rb'"((?:[^"\\]|\\.)*)"')
_ID_INT = re.compile(
    rb'("(?:[Ii][Dd]|[A-Za-z0-9_]*_id|[A-Za-z0-9_]*Id|[A-Za-z0-9_]*ID)"\s*:\s*)(-?\d+)'
)


@dataclass(frozen=True)
class Rewritten:
    exchange: Exchange  # the request to send (the recorded one when nothing changed)
    unchained: bool  # a consumed value its target never issued: sent as recorded


@dataclass
class ChainBook:
    """One target's issued values. ``key`` is the store's redaction key: a value whose
    token is the recorded one needs no mapping back (redaction does it)."""

    key: bytes = b""
    issued: dict[str, Scalar] = field(default_factory=dict, repr=False)  # recorded (token
    # space, `match_key`) -> target
    recorded: dict[str, Scalar] = field(default_factory=dict, repr=False)  # target -> recorded

    def learn(self, places: Iterable[tuple[str, Scalar]], headers: Headers, body: bytes) -> None:
        """Note what the target answered at the producer places of a recorded exchange."""
        for location, was in places:
            now = read_response(headers, body, location)
            if now is None or len(self.issued) >= MAX_BOOK:
                continue
            self.issued[match_key(was, self.key)] = now
            if str(now) == str(was):
                continue
            if isinstance(was, str) and was == redaction_token(self.key, str(now)):
                continue  # the same secret: redacting the answer gives the recorded token
            if looks_issued(_last_key(location), now):  # never map a word or a small int back
                self.recorded[str(now)] = was

    def rewrite(self, exchange: Exchange, places: Iterable[tuple[str, Scalar, int]]) -> Rewritten:
        """The request with this target's values in place of the recorded ones it consumes."""
        out, unchained = exchange, False
        for location, was, _producer in places:
            now = self.issued.get(match_key(was, self.key))
            if now is None:
                unchained = True
                continue
            if str(now) == str(was):
                continue
            changed = rewrite(out, location, was, now)
            out = changed if changed is not None else out
        return Rewritten(out, unchained)

    def canonical(self, headers: Headers, body: bytes) -> tuple[Headers, bytes, bool]:
        """An answer with the values this target issued mapped back to the recorded ones."""
        if not self.recorded:
            return headers, body, False
        new_headers = [(name, self._header(name, value)) for name, value in headers]
        changed = new_headers != headers
        if body and len(body) <= MAX_PARSE and _plain(headers) and self._may_hold(body):
            new_body = _STRING.sub(self._string, body)
            new_body = _ID_INT.sub(self._int, new_body)
            if new_body != body:
                return new_headers, new_body, True
        return new_headers, body, changed

    def _may_hold(self, body: bytes) -> bool:
        """A cheap test before the scan: does the body hold any value to map back?"""
        if len(self.recorded) > 64:
            return True
        return any(value.encode("utf-8", "surrogatepass") in body for value in self.recorded)

    def _back(self, text: str) -> str | None:
        was = self.recorded.get(text)
        return None if was is None else str(was)

    def _path(self, text: str) -> str:
        if "/" not in text:
            return text
        parts = text.split("/")
        for i, part in enumerate(parts):
            segment, mark, rest = part.partition("?")
            back = self._back(segment) if segment else None
            if back is not None:
                parts[i] = f"{back}{mark}{rest}"
        return "/".join(parts)

    def _header(self, name: str, value: str) -> str:
        lname = name.lower()
        if lname == "set-cookie":
            first, semi, rest = value.partition(";")
            cname, eq, val = first.partition("=")
            back = self._back(val.strip()) if eq else None
            return value if back is None else f"{cname}={back}{semi}{rest}"
        if lname in ("location", "content-location"):
            return self._path(value)
        back = self._back(value)
        return value if back is None else back

    def _string(self, match: re.Match[bytes]) -> bytes:
        raw = match.group(1)
        try:
            text = json.loads(b'"' + raw + b'"') if b"\\" in raw else raw.decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return match.group(0)
        was = self.recorded.get(text)
        if was is not None:
            return json.dumps(was, ensure_ascii=False).encode("utf-8", "surrogatepass")
        mapped = self._path(text)
        if mapped == text:
            return match.group(0)
        return json.dumps(mapped, ensure_ascii=False).encode("utf-8", "surrogatepass")

    def _int(self, match: re.Match[bytes]) -> bytes:
        was = self.recorded.get(match.group(2).decode())
        if was is None:
            return match.group(0)
        return match.group(1) + json.dumps(was).encode()


def _last_key(location: str) -> str:
    """The key naming a value at a location: ``body.user.id`` -> ``id``; ``path[1]`` -> ''."""
    last = location.rpartition(".")[2]
    return "" if "[" in last else last


def _plain(headers: Headers) -> bool:
    """A body that is not compressed or otherwise encoded."""
    for name, value in headers:
        if name.lower() == "content-encoding" and value.strip().lower() not in ("", "identity"):
            return False
    return True
