"""Base URLs that users give (a target, an upstream, a primary): validated in one place."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

__all__ = ["BadURL", "parse_base_url"]


class BadURL(ValueError):
    """Not an ``http(s)://HOST[:PORT]`` URL; ``str()`` says what is wrong with it."""


def parse_base_url(url: str, *, allow_path: bool = True) -> SplitResult:
    """Split ``url`` and check it is ``http://HOST[:PORT][/prefix]`` (IPv6 hosts in brackets);
    raise BadURL naming the problem. ``allow_path=False`` refuses a path or query."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535", ...
        raise BadURL(str(exc)) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadURL("expected http://HOST:PORT or https://HOST:PORT")
    if not allow_path and (parts.path not in ("", "/") or parts.query):
        raise BadURL("give scheme, host and port only")
    return parts
