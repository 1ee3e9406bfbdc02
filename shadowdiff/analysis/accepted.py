"""Accepted signatures as the gate and `shadowdiff accept` hold them (read and written by
`shadowdiff.analysis.accept`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

__all__ = ["AcceptedEntry", "AcceptedSet"]


@dataclass(frozen=True)
class AcceptedEntry:
    signature: str
    text: str
    reason: str
    count: int | None = None
    owner: str | None = None
    expires: date | None = None
    accepted_at: date | None = None

    def expired(self, today: date) -> bool:
        """Valid through ``expires``; expired from the day after."""
        return self.expires is not None and today > self.expires


@dataclass
class AcceptedSet:
    """Accepted signatures in file order; ``source`` names the file in messages."""

    entries: dict[str, AcceptedEntry] = field(default_factory=dict)
    source: str = "<accepted>"

    def get(self, signature: str) -> AcceptedEntry | None:
        return self.entries.get(signature)

    def __contains__(self, signature: object) -> bool:
        return signature in self.entries

    def __iter__(self) -> Iterator[AcceptedEntry]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def expired(self, today: date) -> list[AcceptedEntry]:
        return [e for e in self if e.expired(today)]
