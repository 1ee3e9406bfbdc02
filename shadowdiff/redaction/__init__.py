"""Secrets in stored traffic: keyed tokens, and the pure functions that put them in place.

A secret is replaced by ``redacted:`` + 16 hex digits of HMAC-SHA256 under a per-database
key (`redaction_token`), so the same value gets the same token wherever it appears (a
login response's ``"token": "abc"`` and a later ``Authorization: Bearer abc``), and a user
who knows a value can find its token by recomputing the hash. A `RedactionPolicy` names
what is secret (header, cookie, JSON key, form field and query parameter names, matched
case-insensitively); a `Redactor` applies it to one message and notes each site as
``"<side> <kind>:<name> <token>"`` (e.g. ``request header:authorization redacted:…``).
Bodies are handled in `redaction.bodies`, whole exchanges and replays in
`redaction.messages`. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote_plus

__all__ = [
    "DEFAULT_NAMES",
    "REDACTED_PREFIX",
    "TOKEN_PATTERN",
    "RedactionPolicy",
    "Redactor",
    "is_redacted",
    "parse_site",
    "redaction_token",
    "tokens_in",
]

REDACTED_PREFIX: Final = "redacted:"
TOKEN_PATTERN: Final = re.compile(r"redacted:[0-9a-f]{16}")
#: what is secret by default: header names and field names (JSON keys, form fields, query
#: parameters); ``cookie`` / ``set-cookie`` mean every cookie value in those headers
DEFAULT_NAMES: Final = (
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "client_secret",
)
#: an ``Authorization`` value ``<scheme> <credential>``: only the credential is tokenized
CREDENTIAL_SCHEMES: Final = frozenset({"bearer", "token", "basic"})
MAX_SITES: Final = 256  # sites noted per exchange (the values are redacted regardless)


def redaction_token(key: bytes, value: str) -> str:
    """A stable token for a secret: equal secrets give equal tokens under one key."""
    digest = hmac.new(key, value.encode("utf-8", "surrogateescape"), hashlib.sha256)
    return REDACTED_PREFIX + digest.hexdigest()[:16]


def is_redacted(value: str) -> bool:
    """Is ``value`` a token, or ``<scheme> <token>``, rather than a real header value?"""
    if value.startswith(REDACTED_PREFIX):
        return True
    scheme, sep, rest = value.partition(" ")
    return bool(sep) and scheme.lower() in CREDENTIAL_SCHEMES and rest.startswith(REDACTED_PREFIX)


def tokens_in(text: str) -> list[str]:
    """Every token in a text, in order."""
    return TOKEN_PATTERN.findall(text) if REDACTED_PREFIX in text else []


def parse_site(site: str) -> tuple[str, str, str] | None:
    """``"request json:user.password redacted:…"`` -> (side, where, token); None if old-style."""
    side, sep, rest = site.partition(" ")
    where, sep2, token = rest.rpartition(" ")
    if not sep or not sep2 or not TOKEN_PATTERN.fullmatch(token):
        return None
    return side, where, token


def _names(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.strip().lower() for v in values if v.strip())


@dataclass(frozen=True)
class RedactionPolicy:
    """Which names are secret, and the key their values are tokenized under."""

    names: frozenset[str] = frozenset(DEFAULT_NAMES)
    key: bytes = b""
    json_keys: re.Pattern[bytes] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # a cheap test before parsing a body: does any secret name appear as a JSON key?
        alternatives = b"|".join(re.escape(n.encode()) for n in sorted(self.names)) or b"(?!)"
        pattern = re.compile(b'"(?:' + alternatives + b')"\\s*:', re.IGNORECASE)
        object.__setattr__(self, "json_keys", pattern)

    @classmethod
    def build(
        cls, *, redact: Iterable[str] = (), keep: Iterable[str] = (), key: bytes = b""
    ) -> RedactionPolicy:
        """The default names, plus ``redact``, minus ``keep`` (case-insensitive)."""
        return cls(names=(frozenset(DEFAULT_NAMES) | _names(redact)) - _names(keep), key=key)

    def covers(self, name: str) -> bool:
        return name.lower() in self.names


class Redactor:
    """Applies a policy to one message's parts, noting each site in ``sites`` (bounded)."""

    __slots__ = ("policy", "side", "sites")

    def __init__(self, policy: RedactionPolicy, side: str, sites: set[str] | None) -> None:
        self.policy = policy
        self.side = side
        self.sites = sites

    def token(self, value: str, where: str) -> str:
        """The token standing for ``value`` (a token stays as it is), noted at ``where``."""
        if value.startswith(REDACTED_PREFIX) and TOKEN_PATTERN.fullmatch(value):
            return value
        token = redaction_token(self.policy.key, value)
        if self.sites is not None and len(self.sites) < MAX_SITES:
            self.sites.add(f"{self.side} {where} {token}")
        return token

    def header(self, name: str, value: str) -> str:
        """A header's value with its secret parts tokenized."""
        lname = name.lower()
        if lname not in self.policy.names or not value:
            return value
        if lname == "cookie":
            return self.cookie(value)
        if lname == "set-cookie":
            return self.set_cookie(value)
        return self.credential(value, f"header:{lname}")

    def credential(self, value: str, where: str) -> str:
        """A secret value; of ``Bearer X``, ``Token X`` or ``Basic X`` only X is tokenized."""
        scheme, sep, credential = value.partition(" ")
        if sep and scheme.lower() in CREDENTIAL_SCHEMES and credential.strip():
            return f"{scheme} {self.token(credential.strip(), where)}"
        return self.token(value, where)

    def cookie(self, value: str) -> str:
        """``a=1; b=2`` -> each cookie's value tokenized, names and separators kept."""
        parts = value.split(";")
        for i, part in enumerate(parts):
            name, eq, val = part.partition("=")
            if eq and val.strip():
                parts[i] = f"{name}={self.token(val.strip(), f'cookie:{name.strip()}')}"
        return ";".join(parts)

    def set_cookie(self, value: str) -> str:
        """``sid=abc; Path=/`` -> the cookie's value tokenized, attributes kept."""
        first, semi, attributes = value.partition(";")
        name, eq, val = first.partition("=")
        if not eq or not val.strip():
            return value  # no value (a deletion): nothing secret
        return f"{name}={self.token(val.strip(), f'cookie:{name.strip()}')}{semi}{attributes}"

    def query(self, query: str, kind: str = "query") -> str:
        """A query string (or form body) with secret parameters' values tokenized.

        Values are compared decoded, so ``?token=a%2Bb`` and ``"token": "a+b"`` agree;
        untouched parameters keep their exact encoding.
        """
        if not query:
            return query
        parts = query.split("&")
        changed = False
        for i, part in enumerate(parts):
            name, eq, value = part.partition("=")
            if not eq or not value:
                continue
            plain_name = unquote_plus(name, errors="surrogateescape")
            if plain_name.lower() not in self.policy.names:
                continue
            plain = unquote_plus(value, errors="surrogateescape")
            parts[i] = f"{name}={self.token(plain, f'{kind}:{plain_name}')}"
            changed = True
        return "&".join(parts) if changed else query
