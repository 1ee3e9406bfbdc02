"""The engine's two secret hooks: fill a request before it is sent, redact its answer after.

`SecretGuard.open` loads the ``--secrets`` file and the session's redaction policy (its
names, the database's key). `survey` prepares every request of a run once and says, in one
line, how many carry a token that nothing supplies and where (keeping the ids of those that
change or go short, and the first KEEP_PREPARED prepared copies: memory does not grow with the
run); `outgoing` hands the filled copy to the sender, prepared again past those; `finish`
redacts the answer like a recorded one and flags it ``unsupplied-secret`` when its request
went without a value.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from shadowdiff.records import Exchange, Replay, Run
from shadowdiff.redaction import DEFAULT_NAMES, RedactionPolicy
from shadowdiff.redaction.messages import redact_replay
from shadowdiff.replayer.idset import IdSet
from shadowdiff.replayer.secrets import Prepared, SecretBook, prepare
from shadowdiff.store import Store
from shadowdiff.vocabulary import ReplayFlag

__all__ = ["UNSUPPLIED_FLAG", "SecretGuard"]

UNSUPPLIED_FLAG: Final = ReplayFlag.UNSUPPLIED_SECRET
#: prepared requests the survey keeps for their send (the first ones: a run sends in order)
KEEP_PREPARED: Final = 4096


def stderr_warning(line: str) -> None:
    """A notice nobody asked to receive: one `warning:` line on stderr (never silent)."""
    print(f"warning: {line}", file=sys.stderr)


@dataclass
class SecretGuard:
    book: SecretBook
    policy: RedactionPolicy
    overrides: frozenset[str] = frozenset()  # header names --header sets on every request
    chained: frozenset[str] = frozenset()  # tokens chains put back (replayer/chaining.py)
    # the ids of the requests `survey` found to change or to go short (a bit each, not
    # copies: a run of a million keeps no prepared request beyond those in flight)
    changed: IdSet = field(default_factory=IdSet)
    short: IdSet = field(default_factory=IdSet)
    # requests chains rewrote: what went unsupplied as they were sent (until `finish`)
    rewritten_short: dict[int, tuple[str, ...]] = field(default_factory=dict)
    # the first KEEP_PREPARED requests the survey changed, as prepared, until first sent
    prepared: dict[int, Exchange] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        store: Store,
        session_id: int,
        secrets_file: Path | str | None,
        overrides: Iterable[tuple[str, str]] = (),
    ) -> SecretGuard:
        key = store.redaction_key()
        names = store.redaction_names(session_id)
        policy = RedactionPolicy(
            names=frozenset(DEFAULT_NAMES if names is None else names), key=key
        )
        overridden = frozenset(name.lower() for name, _ in overrides)
        return cls(SecretBook.load(secrets_file, key), policy, overridden)

    @classmethod
    def start(
        cls,
        store: Store,
        run: Run,
        secrets_file: Path | str | None,
        overrides: Iterable[tuple[str, str]],
        exchanges: Iterable[Exchange],
        notice: Callable[[str], None] | None,
        chained: frozenset[str] = frozenset(),
    ) -> SecretGuard:
        """A guard for a run, its requests surveyed; the survey's line goes to ``notice``.
        Tokens in `chained` are supplied by chains: not announced as missing."""
        guard = cls.open(store, run.session_id, secrets_file, overrides)
        guard.chained = chained
        line = guard.survey(exchanges)
        if line is not None:
            (notice or stderr_warning)(line)  # never silent
        return guard

    def survey(self, exchanges: Iterable[Exchange]) -> str | None:
        """Prepare each request; one line on those that go without a secret, or None."""
        sites: Counter[str] = Counter()
        short = 0
        for ex in exchanges:
            if ex.id is None or ex.id in self.changed:
                continue
            done = self._without_overridden(prepare(ex, self.book, self.chained))
            if done.exchange is not ex or done.unsupplied:
                self.changed.add(ex.id)  # others go as they are
                if len(self.prepared) < KEEP_PREPARED:
                    self.prepared[ex.id] = done.exchange  # else prepared again when sent
            if done.unsupplied:
                self.short.add(ex.id)
                short += 1
                sites.update(done.unsupplied)
        if not short:
            return None
        where = ", ".join(f"{w} ({n})" for w, n in sites.most_common(6))
        more = f" and {len(sites) - 6} more" if len(sites) > 6 else ""
        return (
            f"{short} requests carry a redacted value that nothing supplies ({where}{more}); "
            f"they are sent without it and flagged {UNSUPPLIED_FLAG}: supply values with "
            "--secrets FILE (see `shadowdiff secrets SESSION`)"
        )

    def _without_overridden(self, done: Prepared) -> Prepared:
        """A header (or the Cookie header) that --header sets is supplied, not missing."""
        if not done.unsupplied or not self.overrides:
            return done
        left = tuple(
            w
            for w in done.unsupplied
            if not (w.startswith("header:") and w[7:] in self.overrides)
            and not (w.startswith("cookie:") and "cookie" in self.overrides)
        )
        return Prepared(done.exchange, left)

    def outgoing(self, exchange: Exchange) -> Exchange:
        """The request to send (after `survey`): supplied secrets filled in (as the survey
        prepared it the first time it is sent)."""
        if exchange.id is None or exchange.id not in self.changed:
            return exchange
        kept = self.prepared.pop(exchange.id, None)
        if kept is not None:
            return kept
        return self._without_overridden(prepare(exchange, self.book, self.chained)).exchange

    def rewritten(self, exchange: Exchange) -> Exchange:
        """The request to send when chains rewrote it: prepared again, as it is now (a
        token chains could not put back is unsupplied, the header dropped, and flagged)."""
        done = self._without_overridden(prepare(exchange, self.book))
        if exchange.id is not None:
            self.rewritten_short[exchange.id] = done.unsupplied
            self.prepared.pop(exchange.id, None)
        return done.exchange

    def finish(self, exchange: Exchange, replay: Replay) -> Replay:
        """Redact the answer before anything stores or compares it; flag a short request."""
        short = exchange.id in self.short
        if exchange.id is not None and exchange.id in self.rewritten_short:
            short = bool(self.rewritten_short.pop(exchange.id))
        if short and UNSUPPLIED_FLAG not in replay.flags:
            replay.flags.append(UNSUPPLIED_FLAG)
        if replay.error is None:
            redact_replay(replay, self.policy)
        return replay
