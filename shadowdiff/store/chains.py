"""Chains of server-issued values (schema 5): `chains` (one row per producer -> consumer
pair of endpoint and location, with its count, an example and whether it is on) and
`chain_links` (one row per consumed value: which exchange produced it), replaced as a
whole, in one transaction, each time a session's chains are computed. A session's meta
row `chains:<session id>` holds how many exchanges it had then (a session recorded into
again is detected again).

The rows are plain tuples in the field order of `shadowdiff.chains.detect.Chain` and
`Link` (the store does not import the chains package).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from shadowdiff.store.base import StoreBase
from shadowdiff.store.sessions import immediate

__all__ = ["ChainsMixin"]

_CHAIN_COLUMNS = (
    "producer_endpoint, producer_location, consumer_endpoint, consumer_location, count, "
    "example, origin, enabled"
)


class ChainsMixin(StoreBase):
    def chains_computed_at(self, session_id: int) -> int | None:
        """How many exchanges the session had when its chains were last computed, or None."""
        row = self.db.execute(
            "SELECT value FROM meta WHERE key = ?", [f"chains:{session_id}"]
        ).fetchone()
        return int(row[0]) if row else None

    def replace_chains(
        self,
        session_id: int,
        chains: Sequence[Sequence[Any]],
        links: Sequence[Sequence[Any]],
        exchanges: int,
    ) -> None:
        """Replace a session's chains and links (a link's first field: its chain's index)."""
        with self.db.conn:
            immediate(self.db.conn)
            self.db.execute("DELETE FROM chain_links WHERE session_id = ?", [session_id])
            self.db.execute("DELETE FROM chains WHERE session_id = ?", [session_id])
            ids = []
            for chain in chains:
                cur = self.db.execute(
                    f"INSERT INTO chains (session_id, {_CHAIN_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [session_id, *chain[:7], int(bool(chain[7]))],
                )
                ids.append(int(cur.lastrowid or 0))
            self.db.conn.executemany(
                "INSERT INTO chain_links (session_id, chain_id, consumer_exchange_id, "
                "consumer_location, producer_exchange_id, producer_location, value, produced) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        session_id,
                        ids[link[0]],
                        link[1],
                        link[2],
                        link[3],
                        link[4],
                        json.dumps(link[5]),
                        None if len(link) < 7 or link[6] is None else json.dumps(link[6]),
                    )
                    for link in links
                ),
            )
            self.db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [f"chains:{session_id}", str(exchanges)],
            )

    def session_chains(self, session_id: int) -> list[tuple[Any, ...]]:
        """A session's chains (Chain field order), the most used first."""
        rows = self.db.execute(
            f"SELECT {_CHAIN_COLUMNS} FROM chains WHERE session_id = ? ORDER BY count DESC, id",
            [session_id],
        ).fetchall()
        return [(*r[:7], bool(r[7])) for r in rows]

    def session_links(self, session_id: int) -> list[tuple[Any, ...]]:
        """A session's links (Link field order, the chain as its index in `session_chains`)."""
        order = {
            row[0]: i
            for i, row in enumerate(
                self.db.execute(
                    "SELECT id FROM chains WHERE session_id = ? ORDER BY count DESC, id",
                    [session_id],
                )
            )
        }
        rows = self.db.execute(
            "SELECT chain_id, consumer_exchange_id, consumer_location, producer_exchange_id, "
            "producer_location, value, produced FROM chain_links WHERE session_id = ? "
            "ORDER BY rowid",
            [session_id],
        )
        # a token or id is consumed by many requests: each distinct string held once
        seen: dict[str, str] = {}
        return [
            (order[r[0]], r[1], _once(seen, r[2]), r[3], _once(seen, r[4]),
             _once(seen, json.loads(r[5])), _once(seen, _maybe(r[6])))
            for r in rows
        ]  # fmt: skip


def _maybe(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _once(seen: dict[str, str], value: Any) -> Any:
    """`value`, a string already seen in its place (the same object each time)."""
    return seen.setdefault(value, value) if isinstance(value, str) else value
