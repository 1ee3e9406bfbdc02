"""The pair of answers a run compares for each exchange: the one definition of old and new.

New is the run's replay. Old is the recording's answer, or, for a run with a reference run
(lockstep: the candidate and the secondary reference the primary), that run's replay of the
same request, lifted as the recording would be (its Locations relative to the reference's
target). The diff (`diffrun`), noise proposals (`noise`) and the spec check (`spec_check`) all
read pairs through `RunPairs`, so they compare the same things.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shadowdiff.differ import lift_referenced, lift_replayed
from shadowdiff.records import Exchange, Replay, Run, comparison_error
from shadowdiff.store import Store

__all__ = ["RunPairs"]

Tree = dict[str, Any]


class RunPairs:
    """A run's replays (those of `ids`, when given) and, with a reference run, its replays."""

    def __init__(self, store: Store, run: Run, ids: Iterable[int] | None = None) -> None:
        wanted = list(ids) if ids is not None else None
        self.run = run
        self.upstream = store.session(run.session_id).upstream
        # the origin the new side knows itself by: the target, or a compare's session B's
        self.target = str(run.config.get("origin") or run.target)
        self.replays: dict[int, Replay] = {
            rp.exchange_id: rp for rp in store.iter_replays(run.id, wanted)
        }
        self.reference = store.reference_of(run)
        self.references: dict[int, Replay] = (
            {rp.exchange_id: rp for rp in store.iter_replays(self.reference.id, wanted)}
            if self.reference is not None
            else {}
        )

    def load(self, store: Store, ids: Iterable[int]) -> None:
        """Hold the replays (and reference replays) of `ids` instead (a page at a time, as a
        diff following a replay reads them); the dicts stay the same objects."""
        wanted = list(ids)
        self.replays.clear()
        self.replays.update((rp.exchange_id, rp) for rp in store.iter_replays(self.run.id, wanted))
        self.references.clear()
        if self.reference is not None:
            found = store.iter_replays(self.reference.id, wanted)
            self.references.update((rp.exchange_id, rp) for rp in found)

    def error(self, ex: Exchange) -> str | None:
        """Why the exchange cannot be compared (`comparison_error`; with a reference run its
        replay stands for the recording: ``primary: connect: ...`` when it failed)."""
        rp = self.replays[ex.id or 0]
        if self.reference is None:
            return comparison_error(ex, rp)
        if rp.error is not None:
            return rp.error
        ref = self.references.get(ex.id or 0)
        kind = self.reference.kind
        if ref is None:
            return f"{kind}: missing: the {kind} run has no answer to this request"
        return f"{kind}: {ref.error}" if ref.error is not None else None

    def times(self, ex: Exchange) -> tuple[float, float]:
        """When each side answered (old, new): the old side is the recording, or in lockstep
        the reference's replay (a timestamp in it is near that replay's time, not the
        recording's, which may be days older)."""
        ref = self.references.get(ex.id or 0) if self.reference is not None else None
        old = ref.started_at if ref is not None else ex.started_at
        return old, self.replays[ex.id or 0].started_at

    def lift(self, ex: Exchange) -> tuple[Tree, Tree]:
        """The (old, new) trees of a comparable exchange."""
        rp = self.replays[ex.id or 0]
        if self.reference is not None:
            return lift_referenced(
                ex,
                self.references[ex.id or 0],
                rp,
                reference_target=self.reference.target,
                target=self.target,
            )
        return lift_replayed(ex, rp, target=self.target, upstream=self.upstream)
