"""Diff a stored run on several cores: `diff RUN --jobs N`.

The run's exchanges (in recorded order) are cut into chunks, in `CHUNKS_PER_JOB` rounds of N
that shrink (weights 3, 2, 1: the worker that finishes last waits on a small chunk); worker
processes (`spawn`: no process outlives the pool, and a worker whose parent was killed
removes the pool's chunk folder and exits by itself) each open the store read-only and diff
a chunk with the same rules and spec exactly as `diff_one_run` does in process. A worker
writes the chunk's diff and field rows to a SQLite file of its own
(`shadowdiff.store.chunkfiles`) and sends back only its counts, rule hits, spec findings and
`AgreementCollector`; this process copies the files in, in chunk order, as they arrive
(`ATTACH` + ``INSERT ... SELECT``, in the one transaction that replaces the run's results),
so diffs, diff_fields (ids included), rule_hits and spec results are those of `--jobs 1`,
row for row. A baseline's chunks go first (a primary's, lockstep's drift, with volatile
values not counting); the candidate's are queued once the baseline's rows are stored (its
volatile policy needs them); the baseline's figures are finished meanwhile.

Agreement figures need one more step. A collector learns a path the first time it differs on
an endpoint and then counts it over every compared exchange of that endpoint; which paths are
learned (at most `MAX_LEARNED_PATHS`, none covered by one learned earlier) depends on the
order. Each chunk records its learning candidates in order; this process replays them chunk by
chunk, which decides the paths a sequential diff learns. Where a chunk learned other paths for
an endpoint, a second task recounts that endpoint's exchanges of the chunk with exactly the
decided paths. Counts and maxima then add exactly; quantile sketches merge exactly while
exact, else within their stated bounds (`shadowdiff.analysis.sketch`).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from shadowdiff.analysis.agreement import AgreementCollector
from shadowdiff.analysis.diffrun import (
    MAX_FAILURES_SHOWN,
    DiffSummary,
    _DiffJob,
    _RunDiff,
    count_replays,
    diff_run,
)
from shadowdiff.analysis.volatile_policy import COUNT_ALL, VolatilePolicy, volatile_policy
from shadowdiff.errors import AnalysisError
from shadowdiff.store import RuleHitRow, Run, SchemaFindingRow, Store
from shadowdiff.store.chunkfiles import write_chunk_file

if TYPE_CHECKING:
    from shadowdiff.differ import RuleSet
    from shadowdiff.openapi import Spec

__all__ = [
    "PARALLEL_MIN",
    "diff_run_jobs",
    "CHUNKS_PER_JOB",
    "MIN_CHUNK",
    "Submitted",
    "Workers",
    "diff_parallel",
    "submit",
    "worker_pool",
]

CHUNKS_PER_JOB: Final = 3  # a few chunks per worker: balance without much re-learning
MIN_CHUNK: Final = 64  # exchanges a chunk holds at least
# fewer pairs (candidate and baseline): diffed in process, since starting the workers and
# moving their rows back costs more than it saves (measured on the demo: 4,000 pairs are
# slower on 2 workers, 20,000 faster)
PARALLEL_MIN: Final = 8000
ORPHAN_CHECK_SECONDS: Final = 0.5  # how often a worker checks that its parent is alive

_worker: dict[str, Any] = {}  # in a worker: its store, rules and spec


@dataclass
class _ChunkOut:
    """What a worker sends back of a chunk: its rows are in `file`, the rest is here."""

    acc: _RunDiff
    agreement: AgreementCollector
    requests: list[tuple[str, str, str]]
    findings: list[SchemaFindingRow]
    file: Path


def _init(
    db: str, rules: RuleSet, spec: Spec | None, parent: int | None = None, folder: str = ""
) -> None:
    """A worker's start: the store, rules and spec; with `parent` (its pid), a watch that
    ends the worker when that process is gone (killed, it cannot stop its pool: the pool's
    queue would keep its workers waiting for ever), removing the pool's chunk `folder`."""
    _worker.update(store=Store.open(db, readonly=True), rules=rules, spec=spec)
    if parent is not None:
        threading.Thread(target=_orphaned, args=(parent, folder), daemon=True).start()


def _orphaned(parent: int, folder: str) -> None:
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_SECONDS)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
    os._exit(1)


def _job(run_id: int, ids: list[int], volatile: VolatilePolicy = COUNT_ALL) -> _DiffJob:
    store: Store = _worker["store"]
    return _DiffJob(store, store.run(run_id), _worker["rules"], _worker["spec"], ids, volatile)


def _chunk(run_id: int, ids: list[int], volatile: VolatilePolicy, out: str) -> _ChunkOut:
    """Diff one chunk as `diff_one_run` would (its own agreement catch-up included); its
    diff and field rows go to the new chunk file `out`, not back through a pipe."""
    job = _job(run_id, ids, volatile)
    for ex in job.store.iter_exchanges(job.run.session_id, ids=ids, request_bodies=False):
        job.one(ex)
    job.catch_up()
    write_chunk_file(Path(out), job.acc.diffs, job.acc.fields)
    job.acc.diffs, job.acc.fields = [], []
    checker = job.checker
    requests = checker.requests if checker is not None else []
    findings = checker.findings if checker else []
    return _ChunkOut(job.acc, job.agreement, requests, findings, Path(out))


def _recount(
    run_id: int, ids: list[int], learned: dict[str, list[tuple[str, str]]]
) -> AgreementCollector:
    """The agreement figures of these exchanges with exactly the `learned` paths."""
    job = _job(run_id, ids)
    collector = AgreementCollector(job.rules)
    collector.fix(learned)
    for ex in job.store.iter_exchanges(job.run.session_id, ids=ids, request_bodies=False):
        assert ex.id is not None
        endpoint = job.checker.endpoint(ex) if job.checker is not None else ex.endpoint
        assert endpoint is not None
        old, new = job._lift(ex)
        collector.add(ex.id, endpoint, old, new, None)
    return collector


def _chunks(ids: list[int], jobs: int) -> list[list[int]]:
    """`CHUNKS_PER_JOB` rounds of `jobs` chunks, each round's smaller than the last's
    (weights 3, 2, 1): the worker that finishes last waits on a small chunk, so the others
    idle less at the end of a run. Fewer chunks, of equal size, for a short run."""
    n = max(1, min(jobs * CHUNKS_PER_JOB, len(ids) // MIN_CHUNK))
    weights = [CHUNKS_PER_JOB - i // jobs for i in range(n)]
    if n < jobs * CHUNKS_PER_JOB or len(ids) * min(weights) < sum(weights) * MIN_CHUNK:
        weights = [1] * n
    bounds = [0, *(len(ids) * w // sum(weights) for w in itertools.accumulate(weights))]
    return [ids[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def diff_run_jobs(
    store: Store,
    run_ref: str | int,
    rules: RuleSet,
    progress: Callable[[int], None] | None = None,
    spec: Spec | None = None,
    jobs: int = 1,
    min_pairs: int = PARALLEL_MIN,
    count_volatile: bool = False,
) -> tuple[DiffSummary, DiffSummary | None]:
    """`diff_run` with `jobs` worker processes (1, or a run of fewer than `min_pairs`
    pairs: in this process), with the same results. A baseline is diffed first: it
    confirms the candidate's volatile values (`VolatilePolicy`)."""
    run = store.candidate_of(store.run(run_ref))
    if jobs <= 1 or count_replays(store, run) < min_pairs:
        return diff_run(store, run.id, rules, progress, spec, count_volatile)
    baseline_run, primary_run = store.baseline_of(run), store.primary_of(run)
    done: dict[int, DiffSummary] = {}
    try:
        with worker_pool(store, rules, spec, jobs) as workers:
            # the primary and the baseline first, their figures finished meanwhile
            others = [r for r in (primary_run, baseline_run) if r is not None]
            drift = VolatilePolicy.drift(count_volatile)
            queued = [
                submit(store, o, workers, volatile=drift if o is primary_run else COUNT_ALL)
                for o in others
            ]
            written = [
                _write(store, other, rules, spec, workers, progress, sub)
                for other, sub in zip(others, queued, strict=True)
            ]
            policy = volatile_policy(store, baseline_run, count_volatile)
            first = submit(store, run, workers, volatile=policy)
            for other, part in zip(others, written, strict=True):
                done[other.id] = _finish(part)
            done[run.id] = diff_parallel(store, run, rules, spec, workers, progress, first)
    except BrokenProcessPool as exc:
        raise AnalysisError(
            f"a diff worker process died ({exc}); nothing was stored for the run still "
            "being diffed: diff again with --jobs 1"
        ) from exc
    candidate = done[run.id]
    candidate.primary = done[primary_run.id] if primary_run is not None else None
    return candidate, done[baseline_run.id] if baseline_run is not None else None


class Workers:
    """`jobs` diff worker processes (started by `spawn`: no process outlives the pool), each
    with the store open read-only and the rules and spec, shared by a candidate and its
    baseline; and the temporary folder their chunk files go to (removed on exit)."""

    def __init__(self, store: Store, rules: RuleSet, spec: Spec | None, jobs: int) -> None:
        self.jobs = jobs
        try:
            self.folder = Path(tempfile.mkdtemp(prefix="shadowdiff-diff-"))
        except OSError as exc:
            raise AnalysisError(
                f"cannot create a folder for the workers' diff rows ({exc.strerror or exc}): "
                "set TMPDIR to a writable folder, or diff with --jobs 1"
            ) from exc
        self.executor = ProcessPoolExecutor(
            jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init,
            initargs=(str(store.path), rules, spec, os.getpid(), str(self.folder)),
        )
        self._files = itertools.count()

    def chunk_file(self) -> Path:
        """A new chunk file's path (`shadowdiff.store.chunkfiles`)."""
        return self.folder / f"chunk-{next(self._files)}.db"

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.executor.shutdown(wait=True, cancel_futures=True)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def worker_pool(store: Store, rules: RuleSet, spec: Spec | None, jobs: int) -> Workers:
    """`Workers` for diffing runs of `store` with these rules and spec."""
    return Workers(store, rules, spec, jobs)


@dataclass
class Submitted:
    """A run's chunks handed to the workers (`submit`), not collected yet."""

    parts: list[list[int]]
    futures: dict[Future[_ChunkOut], int]


def submit(
    store: Store,
    run: Run,
    workers: Workers,
    chunks: list[list[int]] | None = None,
    volatile: VolatilePolicy = COUNT_ALL,
) -> Submitted:
    """Queue a run's chunks (given, or cut here), diffed under the `volatile` policy."""
    parts = chunks if chunks is not None else _chunks(store.replayed_in_order(run.id), workers.jobs)
    futures = {
        workers.executor.submit(_chunk, run.id, p, volatile, str(workers.chunk_file())): i
        for i, p in enumerate(parts)
    }
    return Submitted(parts, futures)


def diff_parallel(
    store: Store,
    run: Run,
    rules: RuleSet,
    spec: Spec | None,
    workers: Workers,
    progress: Callable[[int], None] | None = None,
    submitted: Submitted | None = None,
) -> DiffSummary:
    """`diff_one_run` on `workers`, for the chunks `submit`ted (or submitted here)."""
    sub = submitted if submitted is not None else submit(store, run, workers)
    return _finish(_write(store, run, rules, spec, workers, progress, sub))


@dataclass
class _Written:
    """A run whose rows are stored, with its chunks' outputs and its queued recounts."""

    job: _DiffJob
    outs: list[_ChunkOut]
    recounts: dict[Future[AgreementCollector], int]


def _write(
    store: Store,
    run: Run,
    rules: RuleSet,
    spec: Spec | None,
    workers: Workers,
    progress: Callable[[int], None] | None,
    sub: Submitted,
) -> _Written:
    """Store a run's rows chunk by chunk as they arrive, in chunk order (one transaction),
    and queue the agreement recounts its chunks need."""
    parts, firsts = sub.parts, sub.futures
    job = _DiffJob(store, run, rules, spec, ids=[])
    outs: list[_ChunkOut | None] = [None] * len(parts)
    finished = as_completed(firsts)

    def chunk(i: int) -> _ChunkOut:
        while (out := outs[i]) is None:
            fut = next(finished)
            k = firsts[fut]
            outs[k] = fut.result()
            if progress is not None:
                progress(len(parts[k]))
        return out

    def files() -> Iterator[Path]:
        """Each chunk's file as it arrives, in chunk order (copied in meanwhile)."""
        for i in range(len(parts)):
            out = chunk(i)
            _add(job, out)
            yield out.file

    try:
        store.replace_results_from_files(run.id, files(), _Lazy(job.rule_rows))
    finally:
        for out in outs:
            if out is not None:
                out.file.unlink(missing_ok=True)
    done = [chunk(i) for i in range(len(parts))]
    return _Written(job, done, _submit_recounts(workers.executor, run.id, rules, done))


def _finish(written: _Written) -> DiffSummary:
    """Add up a stored run's agreement figures (recounted where needed) and finish it."""
    job = written.job
    recounts = {i: fut.result() for fut, i in written.recounts.items()}
    for i, out in enumerate(written.outs):
        redone = recounts.get(i)
        kept = set(out.agreement.seen())
        if redone is not None:
            job.agreement.merge(redone)
            kept -= set(redone.seen())
        job.agreement.merge(out.agreement, kept)
    return job.finish(results_stored=True)


class _Lazy:
    """An iterable computed when iterated: the rule hits once every chunk is added."""

    def __init__(self, make: Callable[[], list[RuleHitRow]]) -> None:
        self.make = make

    def __iter__(self) -> Iterator[RuleHitRow]:
        return iter(self.make())


def _submit_recounts(
    pool: ProcessPoolExecutor, run_id: int, rules: RuleSet, outs: list[_ChunkOut]
) -> dict[Future[AgreementCollector], int]:
    """Decide the learned paths as a sequential diff would; queue recounts of the chunks'
    endpoints that learned others. Returns the recounts' futures, by chunk."""
    decided = AgreementCollector(rules)
    for out in outs:
        decided.replay_events(out.agreement.events)
    learned = decided.learned()
    pending: dict[Future[AgreementCollector], int] = {}
    for i, out in enumerate(outs):
        local = out.agreement.learned()
        redo = {
            endpoint: learned.get(endpoint, [])
            for endpoint in out.agreement.seen()
            if set(local.get(endpoint, [])) != set(learned.get(endpoint, []))
        }
        if redo:
            ids = [x for endpoint in redo for x in out.agreement.seen()[endpoint]]
            pending[pool.submit(_recount, run_id, ids, redo)] = i
    return pending


def _add(job: _DiffJob, out: _ChunkOut) -> None:
    """Add one chunk's results (in chunk order; its rows are in its file) to the job."""
    acc, part = job.acc, out.acc
    s, p = acc.summary, part.summary
    s.total += p.total
    s.same += p.same
    s.different += p.different
    s.errors += p.errors
    s.volatile += p.volatile
    s.signatures.update(p.signatures)
    s.failures.extend(p.failures[: MAX_FAILURES_SHOWN - len(s.failures)])
    acc.hits.update(part.hits)
    acc.presence.merge(part.presence)
    if job.checker is not None:
        job.checker.requests.extend(out.requests)
        job.checker.findings.extend(out.findings)
