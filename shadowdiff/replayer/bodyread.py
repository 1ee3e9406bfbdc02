"""Reading a replayed response body, never past a size cap.

A target may answer with gigabytes (a bug, a download endpoint): the body is read as a
stream and reading stops at ``max_body`` bytes, so a replay never holds more than that
per request in flight. A body cut at the cap is stored truncated, and its outcome is
flagged ``truncated`` (the differ then compares it by prefix and size only).
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Final

from shadowdiff.records import DEFAULT_MAX_BODY
from shadowdiff.vocabulary import ReplayFlag

TRUNCATED = ReplayFlag.TRUNCATED

__all__ = ["DEFAULT_MAX_BODY", "MAX_BODY_LIMIT", "TRUNCATED", "read_capped"]

#: The largest cap allowed: SQLite stores no value over 1e9 bytes.
MAX_BODY_LIMIT: Final = 512 * 2**20


async def read_capped(stream: AsyncIterable[bytes], max_body: int) -> tuple[bytes, bool]:
    """The raw body, at most ``max_body`` bytes, and whether it was cut there.

    Stops reading at the cap (the caller closes the response, which drops the connection
    rather than draining the rest).
    """
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        if size + len(chunk) > max_body:
            chunks.append(chunk[: max_body - size])
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False
