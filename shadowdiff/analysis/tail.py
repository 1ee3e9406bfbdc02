"""The end of a followed replay (`replay-diff`): what the follower left, diffed on every core.

While the replay runs, the follower (`analysis/pipeline.py`) diffs at the lowest CPU priority
(SCHED_IDLE where the OS has it, else nice 19): it takes only CPU that the replay, and the
services on the same machine, leave idle, so it never slows the replay nor skews its latencies.
When the replay ends, the follower stops at a page boundary and hands over each run's `Prefix`:
the summary, rule hits and presence so far (its rows are stored), its agreement collector,
its spec check, and what is left: the exchanges of the run's work list that were replayed
and not diffed yet, in work order. This process, at normal priority, diffs them:

- in process, a page at a time, when fewer than `TAIL_PARALLEL_MIN` are left (or `jobs` is 1):
  the follower's own loop, continued;
- else in chunks of at most `TAIL_CHUNK` exchanges on `jobs` worker processes
  (`analysis/parallel.py`): the follower's part is the first chunk (its agreement caught up
  here meanwhile), the workers' rows are appended after its rows in chunk order, and the
  figures merge exactly as `diff --jobs` merges chunks.

So the results are those of `replay` then `diff`, row for row, as before.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from concurrent.futures import Future, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from shadowdiff.analysis.agreement import AgreementCollector
from shadowdiff.analysis.diffrun import DiffSummary, _DiffJob, _RunDiff
from shadowdiff.analysis.parallel import (
    PARALLEL_MIN,
    Workers,
    _add,
    _ChunkOut,
    _finish,
    _submit_recounts,
    _Written,
    submit,
    worker_pool,
)
from shadowdiff.analysis.volatile_policy import VolatilePolicy
from shadowdiff.errors import AnalysisError
from shadowdiff.store import Run, SchemaFindingRow, Store

if TYPE_CHECKING:
    from shadowdiff.differ import RuleSet
    from shadowdiff.openapi import Spec

__all__ = ["PAGE", "Prefix", "TAIL_CHUNK", "TAIL_PARALLEL_MIN", "diff_page", "finish_job", "rest"]

PAGE: Final = 256  # exchanges diffed and appended per transaction
TAIL_PARALLEL_MIN: Final = PARALLEL_MIN  # fewer left: diffed in this process
TAIL_CHUNK: Final = 16_384  # exchanges a worker's chunk holds at most (its replays are read)

Progress = Callable[[int], None] | None


@dataclass
class Prefix:
    """What the follower diffed of one run (rows stored), with the figures so far, and
    `left`: the exchanges of its work list replayed but not diffed yet, in work order."""

    left: array[int]
    acc: _RunDiff
    agreement: AgreementCollector
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    findings: list[SchemaFindingRow] = field(default_factory=list)

    @classmethod
    def of(cls, job: _DiffJob, left: array[int]) -> Prefix:
        checker = job.checker
        requests = checker.requests if checker is not None else []
        findings = checker.findings if checker is not None else []
        return cls(left, job.acc, job.agreement, requests, findings)


def diff_page(store: Store, job: _DiffJob, ids: list[int]) -> None:
    """Diff these exchanges (a page, in order) and append their rows."""
    job.pairs.load(store, ids)
    for ex in store.iter_exchanges(job.run.session_id, ids=ids, request_bodies=False):
        job.one(ex)
    store.append_results(job.acc.diffs, job.acc.fields)
    job.acc.diffs, job.acc.fields = [], []


def finish_job(store: Store, job: _DiffJob) -> DiffSummary:
    """What `diff_one_run` does after its loop, rows appended already: catch up
    agreement, store the rule hits, agreement and spec results."""
    _catch_up(store, job)
    store.replace_rule_hits(job.run.id, job.rule_rows())
    return job.finish(results_stored=True)


def _catch_up(store: Store, job: _DiffJob) -> None:
    """Count the equal values of paths the job learned late (agreement's catch-up)."""
    job.pairs.load(store, job.agreement.pending())
    job.catch_up()


def rest(
    store: Store,
    run: Run,
    prefix: Prefix,
    diffing: tuple[RuleSet, Spec | None, VolatilePolicy],
    jobs: int,
    progress: Progress = None,
    parallel_min: int = TAIL_PARALLEL_MIN,
) -> DiffSummary:
    """Diff what the follower left of `run` (`prefix`), with `diffing` (rules, spec, the
    run's volatile policy), on `jobs` processes when at least `parallel_min` are left;
    finish the run."""
    rules, spec, volatile = diffing
    job = _DiffJob(store, run, rules, spec, ids=[], volatile=volatile)
    job.acc, job.agreement = prefix.acc, prefix.agreement
    if job.checker is not None:
        job.checker.requests, job.checker.findings = prefix.requests, prefix.findings
    left = prefix.left  # 8 bytes an id: cut into lists a page or a chunk at a time
    if jobs <= 1 or len(left) < parallel_min:
        for at in range(0, len(left), PAGE):
            page = left[at : at + PAGE].tolist()
            diff_page(store, job, page)
            if progress is not None:
                progress(len(page))
        return finish_job(store, job)
    try:
        with worker_pool(store, rules, spec, jobs) as workers:
            return _on_workers(store, job, spec, left, workers, progress)
    except BrokenProcessPool as exc:
        raise AnalysisError(
            f"a diff worker process died ({exc}); the replay's answers are stored: run "
            "`shadowdiff diff RUN` to diff the run"
        ) from exc


def _on_workers(
    store: Store,
    job: _DiffJob,
    spec: Spec | None,
    left: array[int],
    workers: Workers,
    progress: Progress,
) -> DiffSummary:
    """The rest in chunks on the workers, the follower's part as the first chunk."""
    run, size = job.run, min(TAIL_CHUNK, -(-len(left) // (workers.jobs * 3)))
    chunks = [left[at : at + size].tolist() for at in range(0, len(left), size)]
    sub = submit(store, run, workers, chunks=chunks, volatile=job.volatile)
    _catch_up(store, job)  # the follower's part, complete as a chunk is (meanwhile)
    mine = Prefix.of(job, array("q"))
    first = _ChunkOut(mine.acc, mine.agreement, mine.requests, mine.findings, Path())
    total = _DiffJob(store, run, job.rules, spec, ids=[], volatile=job.volatile)
    _add(total, first)
    outs = [first]
    try:
        store.append_results_from_files(_arrivals(sub.futures, total, outs, progress, chunks))
    finally:
        for out in outs[1:]:
            out.file.unlink(missing_ok=True)
    store.replace_rule_hits(run.id, total.rule_rows())
    recounts = _submit_recounts(workers.executor, run.id, job.rules, outs)
    return _finish(_Written(total, outs, recounts))


def _arrivals(
    futures: dict[Future[_ChunkOut], int],
    total: _DiffJob,
    outs: list[_ChunkOut],
    progress: Progress,
    chunks: list[list[int]],
) -> Iterator[Path]:
    """Each chunk's file as it arrives, in chunk order (its figures added to `total`)."""
    got: dict[int, _ChunkOut] = {}
    finished = as_completed(futures)
    for i in range(len(chunks)):
        while i not in got:
            fut = next(finished)
            got[futures[fut]] = fut.result()
            if progress is not None:
                progress(len(chunks[futures[fut]]))
        _add(total, got[i])
        outs.append(got[i])
        yield got[i].file
