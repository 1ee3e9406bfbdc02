"""Replay and diff overlapped (`replay-diff`): a diff process follows the replay.

The replay's event loop never diffs. Before the replay sends anything, a `spawn` process is
started (it imports the differ meanwhile); when the replay knows its work list (the exchanges
to send, in recorded order, per run) it is handed over. The follower runs at the lowest CPU
priority (SCHED_IDLE where the OS has it, else nice 19): it takes only CPU the replay and the
services on this machine leave idle, so the replay (and the latencies it measures) run as if
no diff followed them. It polls the store for the replays the writer has committed (WAL: a
reader sees committed batches), and diffs the longest prefix of the work list whose replays
are all stored, a page at a time, with the very `_DiffJob` of `diff_one_run`: the same
exchanges in the same order, so diffs, field rows, signatures, rule hits, agreement figures
and spec results are those of `replay` then `diff`. In lockstep the primary run is followed
too, and a page of a run that references it (the candidate, the secondary) waits until the
primary's answers to that page are stored. With a baseline the candidate's volatile policy
comes from the baseline's finished results (as in `diff_run`), so the candidate is then
diffed after the baseline (unless --count-volatile). Each page's rows are appended in a short
transaction of their own (the replay's writer claims ahead, so a send does not wait for it).
When the replay ends (finished or interrupted) the follower hands each run's prefix over (its
figures so far, and the replayed exchanges it has not diffed, gaps skipped) and exits; the
replaying process, at normal priority, diffs the rest on every core and finishes the runs as
`diff_run` does (`analysis/tail.py`). A follower that does not hear the end within
HANDOFF_SECONDS (idle priority on a machine whose cores other processes take all the time)
is stopped, its rows dropped, and the runs are diffed from their start there. A follower that
dies leaves the replay untouched: the replay's data is kept and `shadowdiff diff RUN` diffs it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
import traceback
from array import array
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from shadowdiff.analysis import tail
from shadowdiff.analysis.agreement import AgreementCollector
from shadowdiff.analysis.diffrun import DiffSummary, _DiffJob, _RunDiff
from shadowdiff.analysis.tail import PAGE, Prefix, diff_page
from shadowdiff.analysis.volatile_policy import COUNT_ALL, VolatilePolicy, volatile_policy
from shadowdiff.errors import AnalysisError
from shadowdiff.replayer.paged import WorkList
from shadowdiff.store import Run, Store

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from shadowdiff.differ import RuleSet
    from shadowdiff.openapi import Spec
    from shadowdiff.replayer.work import Work

__all__ = ["Follower", "PAGE", "POLL_SECONDS"]

POLL_SECONDS: Final = 0.2  # how long the follower waits when nothing new is stored
# how long the replaying process waits for the follower to hear that the replay ended (it
# does between pages; at idle priority, on a machine whose cores other processes take, never)
HANDOFF_SECONDS: Final = 5.0
_READ: Final = 4096  # stored replays read per poll


class _RunFollower:
    """One run (candidate, baseline or primary) being diffed as its replays are stored."""

    def __init__(self, store: Store, run_id: int, order: array[int], rules: RuleSet, spec: Any):
        self.store = store
        self.run: Run = store.run(run_id)
        self.job = _DiffJob(store, self.run, rules, spec, ids=[])
        reference = self.job.pairs.reference  # lockstep: the primary, whose answers are old
        self.reference = reference.id if reference is not None else None
        self.order = order  # exchange ids to send, recorded order
        self.next = 0  # order[:next] is diffed
        self.rowid = 0  # replays stored up to this rowid are known
        self.stored: set[int] = set()  # stored, not yet diffed
        self.diffed = 0
        store.clear_results(run_id)

    def poll(self) -> None:
        while rows := self.store.replays_after(self.run.id, self.rowid, _READ):
            self.rowid = rows[-1][0]
            self.stored.update(x for _, x in rows)
            if len(rows) < _READ:
                return

    def ready(self, final: bool) -> list[int]:
        """The next page of the prefix whose replays are stored (in lockstep, the primary's
        too); `final` (the replay has ended, nothing more will be stored): every stored
        one, gaps skipped."""
        page: list[int] = []
        at = self.next
        while at < len(self.order) and len(page) < PAGE:
            x = self.order[at]
            if x in self.stored:
                page.append(x)
            elif not final:
                break
            at += 1
        waiting = page and not final and self.reference is not None
        if waiting and len(self.store.replayed_among(self.reference or 0, page)) < len(page):
            return []  # the primary's answers of this page are not all stored yet
        self.next = at
        self.stored.difference_update(page)
        return page

    def diff(self, ids: list[int]) -> None:
        diff_page(self.store, self.job, ids)
        self.diffed += len(ids)

    def handoff(self) -> Prefix:
        """What this run's diff hands to the replaying process when the replay ended: the
        figures so far and the replayed exchanges left, gaps skipped (`analysis/tail.py`)."""
        self.poll()
        left = array("q", (x for x in self.order[self.next :] if x in self.stored))
        return Prefix.of(self.job, left)


def _step(runs: Sequence[_RunFollower], final: bool) -> int:
    """Diff one page of each run that has one ready; how many exchanges were diffed."""
    done = 0
    for run in runs:
        run.poll()
        page = run.ready(final)
        if page:
            run.diff(page)
            done += len(page)
    return done


def _follow(
    conn: Connection, db: str, rules: RuleSet, spec: Spec | None, count_volatile: bool
) -> None:
    """The follower process: wait for the work, diff as replays are stored, finish."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the replay decides when it ends
    _yield_cpu()
    try:
        message = conn.recv()
        if message[0] != "work":
            return
        with Store.open(db) as store:
            runs = {role: _RunFollower(store, rid, order, rules, spec)
                    for role, rid, order in message[1]}  # fmt: skip
            _diff_runs(conn, store, runs, count_volatile)
    except (EOFError, BrokenPipeError):
        return  # the replaying process is gone (or stopped listening)
    except Exception as exc:  # noqa: BLE001 - said to the parent, which raises it
        detail = traceback.format_exception_only(exc)[-1].strip()
        with contextlib.suppress(OSError):
            conn.send(("error", detail))


def _diff_runs(
    conn: Connection, store: Store, runs: dict[str, _RunFollower], count_volatile: bool
) -> None:
    """Diff the runs as their replays are stored (a candidate that has a baseline waits:
    its volatile policy needs the baseline's results), until the replay ends; then hand
    each run's prefix over (`analysis/tail.py` diffs the rest at normal priority)."""
    cand, base, primary = runs["candidate"], runs.get("baseline"), runs.get("primary")
    if primary is not None:  # drift: volatile values are no sign of another state
        primary.job.volatile = VolatilePolicy.drift(count_volatile)
    waits = base is not None and not count_volatile
    if not waits:
        cand.job.volatile = volatile_policy(store, None, count_volatile)
    live = [r for r in runs.values() if not (waits and r is cand)]
    ended = False
    while not ended:  # the end is heard between pages: the rest is left to the workers
        if conn.poll(0 if _step(live, final=False) else POLL_SECONDS):
            ended = conn.recv()[0] == "end"
    conn.send(("ending",))  # heard: it runs, and hands over what it has
    conn.send(("progress", sum(r.diffed for r in runs.values())))
    conn.send(("handoff", {role: run.handoff() for role, run in runs.items()}))


def _yield_cpu() -> None:
    """Take only CPU that nothing else wants (SCHED_IDLE; else nice 19): the replay, and
    services on this machine, run as if no diff followed them."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(AttributeError, OSError):
            os.nice(19)


class Follower:
    """The parent's handle on the follower process: start it before the replay, hand it the
    work (`work`, the replay's `on_work`), then `finish` after the replay ended. A follower
    that does not hear the end within `handoff_seconds` is stopped, and every run
    is diffed from its start instead."""

    def __init__(
        self,
        db: Path,
        rules: RuleSet,
        spec: Spec | None,
        count_volatile: bool = False,
        handoff_seconds: float = HANDOFF_SECONDS,
    ) -> None:
        self.handoff_seconds = handoff_seconds
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_follow,
            args=(child, str(db), rules, spec, count_volatile),
            name="shadowdiff-follower",
        )
        self.process.start()
        child.close()
        self.runs: list[int] = []
        self.orders: list[tuple[str, int, array[int]]] = []
        self.rules, self.spec, self.count_volatile = rules, spec, count_volatile

    def work(
        self, run: Run, baseline: Run | None, primary: Run | None, items: Sequence[Work]
    ) -> None:
        """The replay's work list, in recorded order, per run (the replay's `on_work`)."""
        sides = {"candidate": run, "baseline": baseline, "primary": primary}
        orders = [(side, r.id, _ids(items, side)) for side, r in sides.items() if r is not None]
        self.runs = [rid for _, rid, _ in orders]
        self.orders = orders
        self.conn.send(("work", orders))

    def finish(
        self,
        store: Store,
        progress: Callable[[int], None] | None = None,
        jobs: int = 1,
        parallel_min: int = tail.TAIL_PARALLEL_MIN,
    ) -> tuple[DiffSummary, DiffSummary | None]:
        """Tell the follower the replay ended; take its prefixes over and diff the rest
        here, on `jobs` processes when at least `parallel_min` are left
        (`analysis/tail.py`); the summaries (candidate, baseline)."""
        if not self.runs:
            raise AnalysisError("the replay ended before it chose what to send; nothing diffed")
        prefixes = self._handoff(progress) or self._from_scratch(store)
        summaries: dict[str, DiffSummary] = {}
        base = prefixes.get("baseline")
        for role in ("primary", "baseline", "candidate"):
            prefix = prefixes.get(role)
            if prefix is None:
                continue
            run = prefix.acc.summary.run
            if role == "primary":  # drift: volatile values are no sign of another state
                policy = VolatilePolicy.drift(self.count_volatile)
            elif role == "baseline":
                policy = COUNT_ALL
            else:
                baseline = base.acc.summary.run if base is not None else None
                policy = volatile_policy(store, baseline, self.count_volatile)
            diffing = (self.rules, self.spec, policy)
            summaries[role] = tail.rest(store, run, prefix, diffing, jobs, progress, parallel_min)
        cand = summaries["candidate"]
        cand.primary = summaries.get("primary")  # as `diff_run` returns it
        return cand, summaries.get("baseline")

    def _handoff(self, progress: Callable[[int], None] | None) -> dict[str, Prefix] | None:
        """Tell the follower the replay ended and take its prefixes; None when it does not
        hear the end within `handoff_seconds` (other processes take every core, and it runs at idle
        priority): then it is stopped."""
        self._send(("end",))
        deadline: float | None = time.monotonic() + self.handoff_seconds
        while (message := self._receive(deadline)) is not None:
            if message[0] == "ending":
                deadline = None  # it got the CPU to hear the end: its state is coming
            elif message[0] == "progress" and progress is not None:
                progress(message[1])
            elif message[0] == "error":
                raise AnalysisError(f"the diff process failed: {message[1]}{_AGAIN}")
            elif message[0] == "handoff":
                self.process.join(10)
                prefixes: dict[str, Prefix] = message[1]
                return prefixes
        self.process.kill()
        self.process.join(10)
        return None

    def _from_scratch(self, store: Store) -> dict[str, Prefix]:
        """Every run from its start (the follower's rows dropped): what `analysis/tail.py`
        diffs when the follower did not hand its prefixes over."""
        prefixes: dict[str, Prefix] = {}
        for role, run_id, order in self.orders:
            store.clear_results(run_id)
            left = array("q")
            for at in range(0, len(order), PAGE):
                page = order[at : at + PAGE].tolist()
                stored = store.replayed_among(run_id, page)
                left.extend(x for x in page if x in stored)
            run = store.run(run_id)
            prefixes[role] = Prefix(
                left, _RunDiff(DiffSummary(run=run)), AgreementCollector(self.rules)
            )
        return prefixes

    def _send(self, message: tuple[Any, ...]) -> None:
        try:
            self.conn.send(message)
        except OSError:
            raise self._died() from None

    def _receive(self, deadline: float | None = None) -> tuple[Any, ...] | None:
        """The follower's next message (None once `deadline` passed)."""
        while not self.conn.poll(POLL_SECONDS):
            if not self.process.is_alive():
                raise self._died()
            if deadline is not None and time.monotonic() > deadline:
                return None
        try:
            message: tuple[Any, ...] = self.conn.recv()
        except (EOFError, OSError):
            raise self._died() from None
        return message

    def _died(self) -> AnalysisError:
        self.process.join(5)
        return AnalysisError(f"the diff process died (exit code {self.process.exitcode}){_AGAIN}")

    def close(self) -> None:
        """Stop the follower (if still running) and wait for it."""
        self.conn.close()  # the follower sees end-of-file and returns
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ids(items: Sequence[Work], side: str) -> array[int]:
    """The exchange ids a side (candidate, baseline, primary) is sent, in work (recorded)
    order, 8 bytes each."""
    if isinstance(items, WorkList):  # without reading the exchanges
        return items.ids(side)
    sent = (w for w in items if getattr(w, side))
    return array("q", (w.exchange.id or 0 for w in sent))


_AGAIN: Final = "; every replayed answer is stored: run `shadowdiff diff RUN` to diff the run"
