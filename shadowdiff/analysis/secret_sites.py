"""Where a session's redacted values appear: the listing behind `shadowdiff secrets`.

Exchanges are streamed; each notes its sites as ``"<side> <kind>:<name> <token>"`` when it
is recorded (see `shadowdiff.redaction`). One line per token: where it sits, in how many
exchanges, and whether a ``--secrets`` file supplies it. At most `MAX_TOKENS` tokens are
kept (a session with a fresh cookie per visit has many); the rest are counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from shadowdiff.redaction import parse_site
from shadowdiff.replayer.secrets import SecretBook
from shadowdiff.store import Store

__all__ = ["MAX_TOKENS", "SecretSite", "SecretSites", "secret_sites"]

MAX_TOKENS: Final = 10_000


@dataclass
class SecretSite:
    """One redacted value (by its token): where it appears and how often."""

    token: str
    where: Counter[str] = field(default_factory=Counter)  # "request header:authorization"
    exchanges: int = 0
    supplied: bool = False
    chained: bool = False  # a value a server issued that chains put back at replay

    @property
    def sent(self) -> bool:
        """Does a request carry it (so replay needs it), or only answers?"""
        return any(w.startswith("request ") for w in self.where)


@dataclass
class SecretSites:
    session: str
    sites: list[SecretSite]
    exchanges: int  # exchanges scanned
    more: int = 0  # tokens past MAX_TOKENS, not listed

    @property
    def unsupplied(self) -> list[SecretSite]:
        return [s for s in self.sites if s.sent and not s.supplied and not s.chained]


def secret_sites(store: Store, session_ref: str, book: SecretBook | None = None) -> SecretSites:
    """Every redacted value of a session, most frequent first; a token that a chain
    consumes (its stored links: shadowdiff/chains) is marked `chained`."""
    session = store.session(session_ref)
    chained = {str(link[5]) for link in store.session_links(session.id)}
    found: dict[str, SecretSite] = {}
    overflow: set[str] = set()
    scanned = 0
    for ex in store.iter_exchanges(session.id):
        scanned += 1
        seen: set[str] = set()
        for text in ex.redacted:
            parsed = parse_site(text)
            if parsed is None:
                continue
            side, where, token = parsed
            site = found.get(token)
            if site is None:
                if len(found) >= MAX_TOKENS:
                    if len(overflow) < MAX_TOKENS:
                        overflow.add(token)
                    continue
                supplied = bool(book and book.supplies(token))
                site = found[token] = SecretSite(token, Counter(), 0, supplied, token in chained)
            site.where[f"{side} {where}"] += 1
            if token not in seen:
                seen.add(token)
                site.exchanges += 1
    ranked = sorted(found.values(), key=lambda s: (-s.exchanges, s.token))
    return SecretSites(session.name, ranked, scanned, len(overflow))
