"""Diff a stored run on several cores: `diff RUN --jobs N`.

The run's exchanges (in recorded order) are cut into chunks; worker processes (the
`forkserver` start method where there is one, else `spawn`) each open the store read-only
and diff a chunk with the same rules and spec exactly as `diff_one_run` does in process: the
diff rows, field rows, rule hits, spec findings and an `AgreementCollector` come back to this
process, which merges them in chunk order and writes once. So diffs, diff_fields, rule_hits
and spec results are those of `--jobs 1`, row for row.

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

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
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
from shadowdiff.store import FieldRow, RuleHitRow, Run, SchemaFindingRow, Store

if TYPE_CHECKING:
    from shadowdiff.differ import RuleSet
    from shadowdiff.openapi import Spec

__all__ = [
    "PARALLEL_MIN",
    "diff_run_jobs",
    "CHUNKS_PER_JOB",
    "MIN_CHUNK",
    "Submitted",
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

_worker: dict[str, Any] = {}  # in a worker: its store, rules and spec


@dataclass
class _ChunkOut:
    acc: _RunDiff
    agreement: AgreementCollector
    requests: list[tuple[str, str, str]]
    findings: list[SchemaFindingRow]


def _init(db: str, rules: RuleSet, spec: Spec | None) -> None:
    _worker.update(store=Store.open(db, readonly=True), rules=rules, spec=spec)


def _job(run_id: int, ids: list[int], volatile: VolatilePolicy = COUNT_ALL) -> _DiffJob:
    store: Store = _worker["store"]
    return _DiffJob(store, store.run(run_id), _worker["rules"], _worker["spec"], ids, volatile)


def _chunk(run_id: int, ids: list[int], volatile: VolatilePolicy = COUNT_ALL) -> _ChunkOut:
    """Diff one chunk as `diff_one_run` would (its own agreement catch-up included)."""
    job = _job(run_id, ids, volatile)
    for ex in job.store.iter_exchanges(job.run.session_id, ids=ids):
        job.one(ex)
    job.catch_up()
    checker = job.checker
    requests = checker.requests if checker is not None else []
    return _ChunkOut(job.acc, job.agreement, requests, checker.findings if checker else [])


def _recount(
    run_id: int, ids: list[int], learned: dict[str, list[tuple[str, str]]]
) -> AgreementCollector:
    """The agreement figures of these exchanges with exactly the `learned` paths."""
    job = _job(run_id, ids)
    collector = AgreementCollector(job.rules)
    collector.fix(learned)
    for ex in job.store.iter_exchanges(job.run.session_id, ids=ids):
        assert ex.id is not None
        endpoint = job.checker.endpoint(ex) if job.checker is not None else ex.endpoint
        assert endpoint is not None
        old, new = job._lift(ex)
        collector.add(ex.id, endpoint, old, new, None)
    return collector


def _chunks(ids: list[int], jobs: int) -> list[list[int]]:
    n = max(1, min(jobs * CHUNKS_PER_JOB, len(ids) // MIN_CHUNK))
    size = -(-len(ids) // n)
    return [ids[i : i + size] for i in range(0, len(ids), size)]


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
            pool = (workers, jobs)
            # the primary (drift) and the baseline first: the baseline confirms volatile values
            if primary_run is not None:  # drift: volatile values are no sign of state
                drift = submit(
                    store, primary_run, pool, volatile=volatile_policy(store, None, count_volatile)
                )
                done[primary_run.id] = diff_parallel(
                    store, primary_run, rules, spec, pool, progress, drift
                )
            if baseline_run is not None:
                done[baseline_run.id] = diff_parallel(
                    store, baseline_run, rules, spec, pool, progress
                )
            policy = volatile_policy(store, baseline_run, count_volatile)
            first = submit(store, run, pool, volatile=policy)
            done[run.id] = diff_parallel(store, run, rules, spec, pool, progress, first)
    except BrokenProcessPool as exc:
        raise AnalysisError(
            f"a diff worker process died ({exc}); nothing was stored for the run still "
            "being diffed: diff again with --jobs 1"
        ) from exc
    candidate = done[run.id]
    candidate.primary = done[primary_run.id] if primary_run is not None else None
    return candidate, done[baseline_run.id] if baseline_run is not None else None


def worker_pool(store: Store, rules: RuleSet, spec: Spec | None, jobs: int) -> ProcessPoolExecutor:
    """`jobs` worker processes (started by `spawn`: no process outlives the pool), each with
    the store open read-only and the rules and spec; shared by a candidate and its baseline."""
    return ProcessPoolExecutor(
        jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init,
        initargs=(str(store.path), rules, spec),
    )


@dataclass
class Submitted:
    """A run's chunks handed to the workers (`submit`), not collected yet."""

    parts: list[list[int]]
    futures: dict[Future[_ChunkOut], int]


def submit(
    store: Store,
    run: Run,
    pool: tuple[ProcessPoolExecutor, int],
    chunks: list[list[int]] | None = None,
    volatile: VolatilePolicy = COUNT_ALL,
) -> Submitted:
    """Queue a run's chunks (given, or cut here), diffed under the `volatile` policy."""
    workers, jobs = pool
    parts = chunks if chunks is not None else _chunks(store.replayed_in_order(run.id), jobs)
    futures = {workers.submit(_chunk, run.id, p, volatile): i for i, p in enumerate(parts)}
    return Submitted(parts, futures)


def diff_parallel(
    store: Store,
    run: Run,
    rules: RuleSet,
    spec: Spec | None,
    pool: tuple[ProcessPoolExecutor, int],
    progress: Callable[[int], None] | None = None,
    submitted: Submitted | None = None,
) -> DiffSummary:
    """`diff_one_run` on a `worker_pool` of `jobs` workers, given as (pool, jobs), for the
    chunks `submit`ted (or submitted here)."""
    workers = pool[0]
    sub = submitted if submitted is not None else submit(store, run, pool)
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

    def fields() -> Iterator[FieldRow]:
        """Each chunk's field rows as it arrives, in chunk order (written meanwhile)."""
        for i in range(len(parts)):
            out = chunk(i)
            _add(job, out)
            yield from out.acc.fields

    store.replace_results(run.id, job.acc.diffs, fields(), _Lazy(job.rule_rows))
    done = [chunk(i) for i in range(len(parts))]
    recounts = _recount_all(workers, run.id, rules, done)
    for i, out in enumerate(done):
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


def _recount_all(
    pool: ProcessPoolExecutor, run_id: int, rules: RuleSet, outs: list[_ChunkOut]
) -> dict[int, AgreementCollector]:
    """Decide the learned paths as a sequential diff would; recount the chunks' endpoints
    that learned others. Returns the recounted figures by chunk."""
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
    return {pending[fut]: fut.result() for fut in as_completed(pending)}


def _add(job: _DiffJob, out: _ChunkOut) -> None:
    """Add one chunk's results (in chunk order) to the job that stores them."""
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
    acc.diffs.extend(part.diffs)
    acc.presence.merge(part.presence)
    if job.checker is not None:
        job.checker.requests.extend(out.requests)
        job.checker.findings.extend(out.findings)
