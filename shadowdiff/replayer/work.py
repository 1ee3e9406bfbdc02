"""What a run covers (the filtered, sampled exchanges) and what it still has to send: those
without a stored outcome, per side; and what a resume may send again."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from shadowdiff.records import Exchange, Run
from shadowdiff.replayer.identity import identity_of
from shadowdiff.store import Store

if TYPE_CHECKING:
    from shadowdiff.replayer.config import ReplayConfig

__all__ = [
    "IDEMPOTENT",
    "Resend",
    "Work",
    "pending_work",
    "possibly_handled",
    "in_shard",
    "sampled",
    "iter_selected",
    "select_exchanges",
]

#: RFC 9110 9.2.2: sending these twice has the effect of sending them once.
IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


def sampled(exchange_id: int, fraction: float | None) -> bool:
    """Whether an exchange is in a sample of that fraction (deterministic, so resume agrees)."""
    if fraction is None or fraction >= 1:
        return True
    digest = hashlib.blake2b(str(exchange_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < fraction


def in_shard(key: str, shard: str | None) -> bool:
    """Whether an exchange whose client identity is `key` is in shard ``K/N``: a hash of
    the identity, so the N shards of one session partition it the same way every time and
    every request of one client lands in one shard (its order holds across shards)."""
    if shard is None:
        return True
    from shadowdiff.replayer.config import parse_shard

    k, n = parse_shard(shard)
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n == k - 1


def select_exchanges(
    store: Store, session_id: int, config: ReplayConfig, timed_out: list[int] | None = None
) -> list[Exchange]:
    """The exchanges a run covers, in recorded order (deterministic, so resume agrees), without
    their recorded responses (a replay sends requests).
    Those whose --only/--exclude search ran out of time are left out, their ids appended
    to `timed_out`. (`replayer.paged.select_paged` keeps only their ids in memory.)"""
    return list(iter_selected(store, session_id, config, timed_out))


def iter_selected(
    store: Store,
    session_id: int,
    config: ReplayConfig,
    timed_out: list[int] | None = None,
    bodies: bool = True,
) -> Iterator[Exchange]:
    """`select_exchanges`, one exchange at a time (without the recorded responses; without
    the request bodies either unless `bodies`)."""
    chosen = 0
    for ex in store.iter_exchanges(
        session_id,
        only=config.only,
        exclude=config.exclude,
        methods=config.methods,
        timed_out=timed_out,
        responses=False,  # a replay sends requests: the recorded answers are not read
        request_bodies=bodies,
    ):
        if ex.id is None or not sampled(ex.id, config.sample):
            continue
        if config.shard is not None and not in_shard(
            identity_of(ex, config.identity), config.shard
        ):
            continue
        yield ex
        chosen += 1
        if config.limit is not None and chosen >= config.limit:
            break


@dataclass(frozen=True)
class Work:
    """One exchange still to send, and to which side(s); in lockstep the primary first."""

    exchange: Exchange
    candidate: bool
    baseline: bool
    primary: bool = False

    @property
    def sends(self) -> int:
        return self.candidate + self.baseline + self.primary


def pending_work(
    store: Store,
    run: Run,
    baseline: Run | None,
    exchanges: Iterable[Exchange],
    primary: Run | None = None,
) -> list[Work]:
    """What has no stored outcome yet, per side (so a resume never sends twice)."""
    done = store.replayed_ids(run.id)
    base_done = store.replayed_ids(baseline.id) if baseline is not None else None
    prim_done = store.replayed_ids(primary.id) if primary is not None else None
    work = []
    for ex in exchanges:
        cand = ex.id not in done
        base = base_done is not None and ex.id not in base_done
        prim = prim_done is not None and ex.id not in prim_done
        if cand or base or prim:
            work.append(Work(ex, cand, base, prim))
    return work


@dataclass(frozen=True)
class Resend:
    """What a resume may send again that the target possibly handled already: requests
    a killed run had in flight (or answered but not yet stored)."""

    count: int = 0
    unsafe: Counter[str] = field(default_factory=Counter)  # non-idempotent methods among them


def possibly_handled(
    store: Store,
    run: Run,
    baseline: Run | None,
    exchanges: Iterable[Exchange],
    primary: Run | None = None,
) -> Resend:
    """The pending exchanges at or below the run's in-flight journal (replayer/writer.py):
    those a killed run may have sent without storing the answer."""
    claims = [store.claimed_seq(r.id) for r in (run, baseline, primary) if r is not None]
    upto = max((c for c in claims if c is not None), default=None)
    if upto is None:
        return Resend()
    again = [w.exchange for w in pending_work(store, run, baseline, exchanges, primary)]
    again = [ex for ex in again if ex.seq is not None and ex.seq <= upto]
    unsafe = Counter(ex.method.upper() for ex in again if ex.method.upper() not in IDEMPOTENT)
    return Resend(len(again), unsafe)
