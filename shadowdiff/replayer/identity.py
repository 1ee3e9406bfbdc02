"""Who sent a recorded request: the client identity whose requests `--order identity` keeps
in recorded order. Pure functions, no I/O.

The default ("auto") identity of an exchange is, the first that applies:

1. its `Authorization` credential: the redaction token of `Bearer redacted:…` (the scheme
   is not part of it), or the whole header value when it was not redacted;
2. its session cookie: the first cookie whose name is one of SESSION_COOKIES
   (case-insensitive) or whose value is a redaction token;
3. the recorded client address (`Exchange.client`);
4. one identity shared by every exchange that has none of these.

A rules file's top-level `identity` key chooses another source: `"header:NAME"` (that
header's value), `"cookie:NAME"` (that cookie's value), `"client"` (the client address), or
`"auto"`. An exchange without the chosen value falls back to its client address, then to the
shared identity.
"""

from __future__ import annotations

from typing import Final

from shadowdiff.differ.ruleset import check_identity
from shadowdiff.errors import ReplayError
from shadowdiff.records import Exchange
from shadowdiff.redaction import REDACTED_PREFIX

__all__ = ["SESSION_COOKIES", "SHARED", "check_identity", "check_or_raise", "identity_of"]

#: cookie names taken for a session (besides any cookie whose value is a redaction token)
SESSION_COOKIES: Final = frozenset(
    {
        "session",
        "sessionid",
        "session_id",
        "sid",
        "connect.sid",
        "jsessionid",
        "phpsessid",
        "_session",
        "laravel_session",
        "asp.net_sessionid",
    }
)
SHARED: Final = ""  # the identity of exchanges that carry none
AUTO: Final = "auto"


def _header(exchange: Exchange, name: str) -> str | None:
    lname = name.lower()
    return next((v for k, v in exchange.request_headers if k.lower() == lname), None)


def _cookies(exchange: Exchange) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, value in exchange.request_headers:
        if name.lower() != "cookie":
            continue
        for part in value.split(";"):
            key, sep, val = part.strip().partition("=")
            if sep and key:
                out.append((key, val.strip()))
    return out


def _credential(value: str) -> str:
    """`Bearer redacted:…` -> `redacted:…`; an unredacted value stays whole."""
    _, sep, rest = value.strip().partition(" ")
    rest = rest.strip()
    return rest if sep and rest.startswith(REDACTED_PREFIX) else value.strip()


def _session(exchange: Exchange) -> str | None:
    for name, value in _cookies(exchange):
        if value and (name.lower() in SESSION_COOKIES or value.startswith(REDACTED_PREFIX)):
            return value
    return None


def identity_of(exchange: Exchange, choice: str | None = None) -> str:
    """The client identity of an exchange under `choice` (see the module doc)."""
    found: str | None = None
    if choice is None or choice == AUTO:
        auth = _header(exchange, "authorization")
        if auth and auth.strip():
            return "auth:" + _credential(auth)
        found = _session(exchange)
        if found is not None:
            return "cookie:" + found
    elif choice.startswith("header:"):
        value = _header(exchange, choice[7:])
        found = _credential(value) if value and value.strip() else None
    elif choice.startswith("cookie:"):
        lname = choice[7:].lower()
        found = next((v for k, v in _cookies(exchange) if k.lower() == lname and v), None)
    if found is not None:
        return f"{choice}={found}"
    if exchange.client:
        return "client:" + exchange.client
    return SHARED


def check_or_raise(choice: str | None) -> None:
    """Raise ReplayError for a bad choice (it comes from a rules file's `identity` key)."""
    problem = check_identity(choice)
    if problem is not None:
        raise ReplayError(f"rules file: {problem}")
