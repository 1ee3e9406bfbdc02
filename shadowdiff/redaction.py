"""How a redacted secret is written in a stored exchange: a keyed token with a fixed prefix.

The recorder replaces secret header values by tokens; the replayer recognises them and never
sends a token as if it were the secret.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

__all__ = ["REDACTED_PREFIX", "is_redacted", "redaction_token"]

REDACTED_PREFIX: Final = "redacted:"


def redaction_token(key: bytes, value: str) -> str:
    """A stable token for a secret: equal secrets give equal tokens under one key."""
    digest = hmac.new(key, value.encode("utf-8", "surrogateescape"), hashlib.sha256)
    return REDACTED_PREFIX + digest.hexdigest()[:16]


def is_redacted(value: str) -> bool:
    """Is ``value`` a redaction token rather than a real header value?"""
    return value.startswith(REDACTED_PREFIX)
