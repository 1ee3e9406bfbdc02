"""Replay and diff overlapped (`replay-diff`): a diff process follows the replay.

The replay's event loop never diffs. Before the replay sends anything, a `spawn` process is
started (it imports the differ meanwhile); when the replay knows its work list (the exchanges
to send, in recorded order, per run) it is handed over. The follower then polls the store for
the replays the writer has committed (WAL: a reader sees committed batches), and diffs the
longest prefix of the work list whose replays are all stored, a page at a time, with the very
`_DiffJob` of `diff_one_run`: the same exchanges in the same order, so diffs, field rows,
signatures, rule hits, agreement figures and spec results are those of `replay` then `diff`.
In lockstep the primary run is followed too, and a page of a run that references it (the
candidate, the secondary) waits until the primary's answers to that page are stored. With a
baseline the candidate's volatile policy comes from the baseline's finished results (as in
`diff_run`), so the candidate is then diffed after the baseline (unless --count-volatile).
Each page's rows are appended in a short transaction of their own (the replay's writer waits
at most that long for the lock). When the replay ends (finished or interrupted) the follower
diffs what remains (the replays stored beyond a gap left by unsent requests), then catches
up agreement, writes rule hits, agreement and spec results as `diff_run` does, and sends the
summaries back. A follower that dies leaves the replay untouched: the replay's data is kept
and `shadowdiff diff RUN` diffs it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import traceback
from array import array
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from shadowdiff.analysis.diffrun import DiffSummary, _DiffJob
from shadowdiff.analysis.volatile_policy import VolatilePolicy, volatile_policy
from shadowdiff.errors import AnalysisError
from shadowdiff.replayer.paged import WorkList
from shadowdiff.store import Run, Store

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from shadowdiff.differ import RuleSet
    from shadowdiff.openapi import Spec
    from shadowdiff.replayer.work import Work

__all__ = ["Follower", "PAGE", "POLL_SECONDS"]

PAGE: Final = 256  # exchanges diffed and appended per transaction
POLL_SECONDS: Final = 0.2  # how long the follower waits when nothing new is stored
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
        job = self.job
        job.pairs.load(self.store, ids)
        for ex in self.store.iter_exchanges(self.run.session_id, ids=ids, request_bodies=False):
            job.one(ex)
        self.store.append_results(job.acc.diffs, job.acc.fields)
        job.acc.diffs, job.acc.fields = [], []
        self.diffed += len(ids)

    def finish(self) -> DiffSummary:
        """What `diff_one_run` does after its loop: catch up agreement, store the rest."""
        job = self.job
        job.pairs.load(self.store, job.agreement.pending())
        job.catch_up()
        self.store.replace_rule_hits(self.run.id, job.rule_rows())
        return job.finish(results_stored=True)


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
    """Diff the runs as their replays are stored, then finish each as `diff_run` does: the
    primary, the baseline, then the candidate (whose volatile policy the baseline's
    results decide: with a baseline, the candidate is diffed once the baseline is done)."""
    cand, base, primary = runs["candidate"], runs.get("baseline"), runs.get("primary")
    if primary is not None:  # drift: volatile values are no sign of another state
        primary.job.volatile = VolatilePolicy.drift(count_volatile)
    waits = base is not None and not count_volatile
    if not waits:
        cand.job.volatile = volatile_policy(store, None, count_volatile)
    live = [r for r in runs.values() if not (waits and r is cand)]
    ended = False
    while not ended:
        if not _step(live, final=False) and conn.poll(POLL_SECONDS):
            ended = conn.recv()[0] == "end"
    conn.send(("progress", sum(r.diffed for r in runs.values())))
    summaries: dict[str, DiffSummary] = {}
    for role in ("primary", "baseline", "candidate"):
        run = runs.get(role)
        if run is None:
            continue
        if run is cand and waits and base is not None:
            cand.job.volatile = volatile_policy(store, base.run, count_volatile)
        while done := _step([run], final=True):
            conn.send(("progress", done))
        summaries[role] = run.finish()
    conn.send(("done", summaries))


class Follower:
    """The parent's handle on the follower process: start it before the replay, hand it the
    work (`work`, the replay's `on_work`), then `finish` after the replay ended."""

    def __init__(
        self, db: Path, rules: RuleSet, spec: Spec | None, count_volatile: bool = False
    ) -> None:
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

    def work(
        self, run: Run, baseline: Run | None, primary: Run | None, items: Sequence[Work]
    ) -> None:
        """The replay's work list, in recorded order, per run (the replay's `on_work`)."""
        sides = {"candidate": run, "baseline": baseline, "primary": primary}
        orders = [(side, r.id, _ids(items, side)) for side, r in sides.items() if r is not None]
        self.runs = [rid for _, rid, _ in orders]
        self.conn.send(("work", orders))

    def finish(
        self, progress: Callable[[int], None] | None = None
    ) -> tuple[DiffSummary, DiffSummary | None]:
        """Tell the follower the replay ended; wait for the summaries (candidate, baseline)."""
        if not self.runs:
            raise AnalysisError("the replay ended before it chose what to send; nothing diffed")
        self._send(("end",))
        while True:
            message = self._receive()
            if message[0] == "progress" and progress is not None:
                progress(message[1])
            elif message[0] == "error":
                raise AnalysisError(f"the diff process failed: {message[1]}{_AGAIN}")
            elif message[0] == "done":
                summaries: dict[str, DiffSummary] = message[1]
                cand = summaries["candidate"]
                cand.primary = summaries.get("primary")  # as `diff_run` returns it
                return cand, summaries.get("baseline")

    def _send(self, message: tuple[Any, ...]) -> None:
        try:
            self.conn.send(message)
        except OSError:
            raise self._died() from None

    def _receive(self) -> tuple[Any, ...]:
        while not self.conn.poll(POLL_SECONDS):
            if not self.process.is_alive():
                raise self._died()
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
