"""The path language shared by rules and field differences.

A *concrete path* names one node of a lifted response tree
(``{"status": ..., "headers": {...}, "body": ...}``) as a tuple of dict keys (``str``) and list
indices (``int``), written ``body.predictions[3].score``.

A *pattern* is anchored at the tree root and may also hold wildcards:

========== ===========================================================
``*``      exactly one dict key
``[*]``    exactly one list index
``[N]``    that list index
``**``     any depth: zero or more keys and/or indices
``"a.b"``  a quoted key (``\\"`` and ``\\\\`` escape inside quotes)
========== ===========================================================

Matching is over whole segments, never substrings: ``body.time`` does not match
``body.timestamp``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, TypeAlias

__all__ = [
    "ROOT_KEYS",
    "Key",
    "PathPattern",
    "PathSyntaxError",
    "Segment",
    "Wildcard",
    "format_path",
    "generalize_path",
    "match_segments",
    "parse_concrete_path",
    "parse_pattern",
]

ROOT_KEYS: Final = frozenset({"status", "headers", "body"})


class Wildcard(enum.Enum):
    """A pattern segment that stands for more than one concrete segment."""

    ANY_KEY = "*"
    ANY_INDEX = "[*]"
    DEEP = "**"


Key: TypeAlias = str | int
Segment: TypeAlias = str | int | Wildcard


class PathSyntaxError(ValueError):
    """A path or pattern is not well formed; the message says where."""


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_$@-]+")
# Characters that may not appear in an unquoted key.
_UNQUOTED_KEY = re.compile(r"[^.\[\]\"*\s]+")
_INDEX = re.compile(r"\[(\d+|\*)\]")
_QUOTED_OR_INDEX = re.compile(r'("(?:[^"\\]|\\.)*")|\[\d+\]')


def _quote(key: str) -> str:
    if _PLAIN_KEY.fullmatch(key):
        return key
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_path(path: Sequence[Key]) -> str:
    """Write a concrete path: ``("body", "items", 0, "a.b")`` -> ``body.items[0]."a.b"``."""
    out: list[str] = []
    for seg in path:
        if isinstance(seg, int) and not isinstance(seg, bool):
            out.append(f"[{seg}]")
        else:
            text = _quote(str(seg))
            out.append(f".{text}" if out else text)
    return "".join(out)


@lru_cache(maxsize=65536)
def generalize_path(path: str) -> str:
    """Replace every list index of a written path by ``[*]`` (quoted keys are left alone).

    Cached: a run repeats few distinct paths.
    """
    if "[" not in path:
        return path
    return _QUOTED_OR_INDEX.sub(lambda m: m.group(1) or "[*]", path)


def _parse_quoted(text: str, start: int) -> tuple[str, int]:
    """Parse a quoted key starting at ``text[start] == '"'``; return (key, index after it)."""
    chars: list[str] = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                break
            chars.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(chars), i + 1
        chars.append(c)
        i += 1
    raise PathSyntaxError(f"unterminated quoted key at column {start + 1} in {text!r}")


def _parse_segments(text: str) -> tuple[Segment, ...]:
    if not text:
        raise PathSyntaxError("empty path")
    segments: list[Segment] = []
    i = 0
    expect_key = True  # at the start and after a '.'
    while i < len(text):
        c = text[i]
        if expect_key:
            if c == '"':
                key, i = _parse_quoted(text, i)
                segments.append(key)
            elif text.startswith("**", i):
                if text.startswith("***", i):
                    raise PathSyntaxError(f"'***' at column {i + 1} in {text!r}")
                segments.append(Wildcard.DEEP)
                i += 2
            elif c == "*":
                segments.append(Wildcard.ANY_KEY)
                i += 1
            else:
                m = _UNQUOTED_KEY.match(text, i)
                if m is None:
                    raise PathSyntaxError(
                        f"expected a key at column {i + 1} in {text!r}, got {c!r}"
                    )
                segments.append(m.group())
                i = m.end()
            expect_key = False
        elif c == ".":
            if i + 1 >= len(text):
                raise PathSyntaxError(f"path ends with '.' in {text!r}")
            expect_key = True
            i += 1
        elif c == "[":
            m = _INDEX.match(text, i)
            if m is None:
                raise PathSyntaxError(
                    f"bad index at column {i + 1} in {text!r} (expected [N] or [*])"
                )
            body = m.group(1)
            segments.append(Wildcard.ANY_INDEX if body == "*" else int(body))
            i = m.end()
        else:
            raise PathSyntaxError(
                f"unexpected {c!r} at column {i + 1} in {text!r} (expected '.' or '[')"
            )
    if expect_key:
        raise PathSyntaxError(f"path ends with '.' in {text!r}")
    return tuple(segments)


def _normalize_header_names(segments: tuple[Segment, ...]) -> tuple[Segment, ...]:
    # Header names are lower-cased when a response is lifted; patterns follow suit.
    if len(segments) >= 2 and segments[0] == "headers" and isinstance(segments[1], str):
        return (segments[0], segments[1].lower(), *segments[2:])
    return segments


def parse_pattern(text: str) -> PathPattern:
    """Compile a pattern such as ``body.**.timestamp``; raise PathSyntaxError if malformed."""
    segments = _parse_segments(text.strip())
    first = segments[0]
    if isinstance(first, str) and first not in ROOT_KEYS:
        raise PathSyntaxError(
            f"path {text!r} must start with status, headers or body (or a wildcard)"
        )
    if isinstance(first, int) or first is Wildcard.ANY_INDEX:
        raise PathSyntaxError(f"path {text!r} must start with a key, not an index")
    segments = _normalize_header_names(segments)
    # '**' followed by '**' is the same as one '**'.
    collapsed: list[Segment] = []
    for seg in segments:
        if seg is Wildcard.DEEP and collapsed and collapsed[-1] is Wildcard.DEEP:
            continue
        collapsed.append(seg)
    return PathPattern(text.strip(), tuple(collapsed))


def parse_concrete_path(text: str) -> tuple[Key, ...]:
    """Parse a written concrete path (no wildcards) back to its tuple of keys and indices."""
    segments = _parse_segments(text.strip())
    out: list[Key] = []
    for seg in segments:
        if isinstance(seg, Wildcard):
            raise PathSyntaxError(f"wildcard {seg.value!r} in concrete path {text!r}")
        out.append(seg)
    return tuple(out)


def match_segments(
    pattern: tuple[Segment, ...], path: Sequence[Key], i: int = 0, j: int = 0
) -> bool:
    """Does compiled ``pattern`` (from position ``i``) match ``path`` (from ``j``) to its end?"""
    n_pat = len(pattern)
    n_path = len(path)
    while i < n_pat:
        seg = pattern[i]
        if seg is Wildcard.DEEP:
            return any(match_segments(pattern, path, i + 1, k) for k in range(j, n_path + 1))
        if j >= n_path:
            return False
        key = path[j]
        if seg is Wildcard.ANY_KEY:
            if not isinstance(key, str):
                return False
        elif seg is Wildcard.ANY_INDEX:
            if not isinstance(key, int) or isinstance(key, bool):
                return False
        elif type(seg) is not type(key) or seg != key:
            return False
        i += 1
        j += 1
    return j == n_path


@dataclass(frozen=True, slots=True)
class PathPattern:
    """A compiled, anchored path pattern."""

    text: str
    segments: tuple[Segment, ...]

    @property
    def is_literal(self) -> bool:
        """True when the pattern names exactly one path (no wildcards)."""
        return not any(isinstance(s, Wildcard) for s in self.segments)

    def matches(self, path: Sequence[Key] | str) -> bool:
        """Does this pattern match the whole of ``path`` (a tuple or a written path)?"""
        if isinstance(path, str):
            path = parse_concrete_path(path)
        return match_segments(self.segments, path, 0, 0)

    def matches_prefix_of(self, path: Sequence[Key]) -> bool:
        """Does the pattern match ``path`` or one of its ancestors (is ``path`` under a match)?"""
        return any(match_segments(self.segments, path[:k], 0, 0) for k in range(len(path), 0, -1))

    def __str__(self) -> str:
        return self.text
