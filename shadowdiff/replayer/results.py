"""What the replay engine reports: each finished send (`Outcome`, to the progress
callback) and the run as a whole (`ReplayResult`)."""

from __future__ import annotations

from dataclasses import dataclass

from shadowdiff.records import Exchange, Replay, Run
from shadowdiff.replayer.work import Resend

__all__ = ["Outcome", "ReplayResult"]


@dataclass
class Outcome:
    """One finished send, reported to the progress callback."""

    exchange: Exchange
    replay: Replay
    kind: str  # "primary" | "candidate" | "baseline"

    @property
    def failed(self) -> bool:
        return self.replay.error is not None


@dataclass(frozen=True)
class ReplayResult:
    run: Run
    baseline: Run | None
    selected: int
    sent: int
    failed: int
    skipped: int
    elapsed: float
    truncated: int = 0  # bodies cut at max_body
    retried: int = 0  # sends retried once on a fresh connection (a reused one was closed)
    pattern_timeouts: int = 0  # left out: --only/--exclude too slow to decide
    signum: int | None = None  # the signal that interrupted the run
    resend: Resend | None = None  # a resume: what it may have sent again
    primary: Run | None = None  # lockstep: the primary run (the old side of the diff)
    chained: int = 0  # answers whose target-issued values were mapped back to recorded ones
    unchained: int = 0  # requests that consumed a value their target never issued

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0
