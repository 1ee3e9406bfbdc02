"""Replay and diff overlapped (`replay-diff`): a diff process follows the replay.

The replay's event loop never diffs. Before the replay sends anything, a `spawn` process is
started (it imports the differ meanwhile); when the replay knows its work list (the exchanges
to send, in recorded order, per run) it is handed over. The follower then polls the store for
the replays the writer has committed (WAL: a reader sees committed batches), and diffs the
longest prefix of the work list whose replays are all stored, a page at a time, with the very
`_DiffJob` of `diff_one_run`: the same exchanges in the same order, so diffs, field rows,
signatures, rule hits, agreement figures and spec results are those of `replay` then `diff`.
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
    """One run (candidate or baseline) being diffed as its replays are stored."""

    def __init__(self, store: Store, run_id: int, order: array[int], rules: RuleSet, spec: Any):
        self.store = store
        self.run: Run = store.run(run_id)
        self.job = _DiffJob(store, self.run, rules, spec, ids=[])
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
        """The next page of the prefix whose replays are stored; `final` (the replay has
        ended, nothing more will be stored): every stored one, gaps skipped."""
        page: list[int] = []
        while self.next < len(self.order) and len(page) < PAGE:
            x = self.order[self.next]
            if x in self.stored:
                self.stored.discard(x)
                page.append(x)
            elif not final:
                break
            self.next += 1
        return page

    def diff(self, ids: list[int]) -> None:
        job = self.job
        job.replays = {rp.exchange_id: rp for rp in self.store.iter_replays(self.run.id, ids)}
        for ex in self.store.iter_exchanges(self.run.session_id, ids=ids):
            job.one(ex)
        self.store.append_results(job.acc.diffs, job.acc.fields)
        job.acc.diffs, job.acc.fields = [], []
        self.diffed += len(ids)

    def finish(self) -> DiffSummary:
        """What `diff_one_run` does after its loop: catch up agreement, store the rest."""
        job = self.job
        pending = job.agreement.pending()
        job.replays = {
            rp.exchange_id: rp
            for rp in (self.store.iter_replays(self.run.id, pending) if pending else ())
        }
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


def _follow(conn: Connection, db: str, rules: RuleSet, spec: Spec | None) -> None:
    """The follower process: wait for the work, diff as replays are stored, finish."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the replay decides when it ends
    try:
        message = conn.recv()
        if message[0] != "work":
            return
        with Store.open(db) as store:
            runs = [_RunFollower(store, rid, order, rules, spec) for rid, order in message[1]]
            ended = False
            while not ended:
                if not _step(runs, final=False) and conn.poll(POLL_SECONDS):
                    ended = conn.recv()[0] == "end"
            conn.send(("progress", sum(r.diffed for r in runs)))
            while done := _step(runs, final=True):
                conn.send(("progress", done))
            conn.send(("done", [r.finish() for r in runs]))
    except (EOFError, BrokenPipeError):
        return  # the replaying process is gone (or stopped listening)
    except Exception as exc:  # noqa: BLE001 - said to the parent, which raises it
        detail = traceback.format_exception_only(exc)[-1].strip()
        with contextlib.suppress(OSError):
            conn.send(("error", detail))


class Follower:
    """The parent's handle on the follower process: start it before the replay, hand it the
    work (`work`, the replay's `on_work`), then `finish` after the replay ended."""

    def __init__(self, db: Path, rules: RuleSet, spec: Spec | None) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_follow, args=(child, str(db), rules, spec), name="shadowdiff-follower"
        )
        self.process.start()
        child.close()
        self.runs: list[int] = []

    def work(self, run: Run, baseline: Run | None, items: Sequence[Work]) -> None:
        """The replay's work list, in recorded order, per run (the replay's `on_work`)."""
        orders = [(run.id, _ids(items, candidate=True))]
        if baseline is not None:
            orders.append((baseline.id, _ids(items, candidate=False)))
        self.runs = [rid for rid, _ in orders]
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
                summaries: list[DiffSummary] = message[1]
                return summaries[0], (summaries[1] if len(summaries) > 1 else None)

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


def _ids(items: Sequence[Work], *, candidate: bool) -> array[int]:
    """The exchange ids a side is sent, in work (recorded) order, 8 bytes each."""
    if isinstance(items, WorkList):  # without reading the exchanges
        return items.ids(candidate=candidate)
    sent = (w for w in items if (w.candidate if candidate else w.baseline))
    return array("q", (w.exchange.id or 0 for w in sent))


_AGAIN: Final = "; every replayed answer is stored: run `shadowdiff diff RUN` to diff the run"
