"""What a transport takes and gives: an `Outgoing` request in, an `Answer` out.

Both transports (`aiowire.py`, `corewire.py`) send an `Outgoing` exactly as built and read
the answer's body up to a size cap (`bodyread.read_capped`). Network trouble is raised as
httpx's exception of the kind (or the aiohttp one it came from, as the cause): the engine
turns it into the outcome (`engine.classify_error`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from shadowdiff.replayer.bodyread import TRUNCATED
from shadowdiff.replayer.build import Outgoing
from shadowdiff.replayer.retry import RETRIED

__all__ = ["Answer", "Wire"]


@dataclass(slots=True)
class Answer:
    """A target's answer: status line, headers as received (latin-1), the body read up to
    the cap, and flags for the outcome (`retried`, `truncated`)."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    flags: list[str] = field(default_factory=list)

    @classmethod
    def received(
        cls,
        status: int,
        reason: str,
        raw_headers: Iterable[tuple[bytes, bytes]],
        body: bytes,
        *,
        retried: bool,
        truncated: bool,
    ) -> Answer:
        """An answer from what the wire gave: header bytes as latin-1, the flags."""
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers]
        flags = [*([RETRIED] if retried else []), *([TRUNCATED] if truncated else [])]
        return cls(status, reason, headers, body, flags)


class Wire(ABC):
    """A transport: sends `Outgoing` requests over its own connection pool."""

    @abstractmethod
    async def send(self, request: Outgoing, max_body: int) -> Answer:
        """Send one request; its answer, the body cut at `max_body` bytes (flagged)."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close every connection."""

    async def __aenter__(self) -> Wire:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()
