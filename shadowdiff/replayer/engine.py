"""The concurrent replay engine: send a session's requests to a target, store outcomes.

`replay()` creates a run (and a paired baseline run with `baseline`; in lockstep a primary run,
and the baseline run is the secondary's), sends each selected exchange with bounded concurrency
and an optional rate (in lockstep: primary, candidate, secondary, one step per exchange), and
stores every outcome, failures included, in batches (replayer/writer.py). Response bodies are
read up to `max_body` bytes (replayer/bodyread.py). SIGINT/SIGTERM stop the run cleanly
(replayer/interrupt.py). `replayer.resume.resume()` continues a killed run, sending only what
has no stored outcome.
"""

from __future__ import annotations

import asyncio
import errno
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import httpx

from shadowdiff.chains.stored import ReadProgress
from shadowdiff.errors import ReplayError
from shadowdiff.replayer import eventloop
from shadowdiff.replayer.bodyread import DEFAULT_MAX_BODY, TRUNCATED
from shadowdiff.replayer.build import Target, build_request
from shadowdiff.replayer.chaining import Chainer
from shadowdiff.replayer.config import ReplayConfig
from shadowdiff.replayer.interrupt import Interruption, Pacer
from shadowdiff.replayer.newruns import create_runs
from shadowdiff.replayer.order import lane_keys
from shadowdiff.replayer.paged import (
    WorkList,
    requests_with_tokens,
    select_paged,
    sendable_work,
    work_seqs,
)
from shadowdiff.replayer.results import Outcome, ReplayResult
from shadowdiff.replayer.retry import RETRIED, RetryFailed
from shadowdiff.replayer.secret_guard import SecretGuard, stderr_warning
from shadowdiff.replayer.transport import make_transport
from shadowdiff.replayer.wire import Wire
from shadowdiff.replayer.work import Work
from shadowdiff.replayer.writer import _Writer
from shadowdiff.store import Exchange, Replay, Run, Store
from shadowdiff.vocabulary import RunStatus

ProgressFn = Callable[[Outcome], None]
NoticeFn = Callable[[str], None]
TransportFactory = Callable[[ReplayConfig], Wire]
WorkFn = Callable[[Run, "Run | None", "Run | None", Sequence[Work]], None]


def _default_transport(config: ReplayConfig) -> Wire:
    # each item goes to every target in turn (lockstep: primary, candidate, secondary), so
    # each target may hold `concurrency` connections
    conns = config.concurrency * (1 + bool(config.noise_target) + bool(config.primary))
    return make_transport(config.transport, concurrency=conns)


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    return chain


def classify_error(exc: BaseException) -> str:
    """A short, stable outcome for a failed send: `kind: detail`.

    The underlying cause decides (the transports wrap aiohttp and httpcore errors).
    """
    kind = "error"
    for cause in reversed(_causes(exc)):  # the root cause first
        if isinstance(cause, aiohttp.ClientConnectorError | ConnectionRefusedError):
            kind = "connect"
        elif isinstance(
            cause,
            aiohttp.ServerDisconnectedError | ConnectionResetError | aiohttp.ClientPayloadError,
        ) or (isinstance(cause, aiohttp.ClientOSError) and cause.errno == errno.ECONNRESET):
            kind = "reset"
        elif isinstance(cause, TimeoutError | aiohttp.ServerTimeoutError | httpx.TimeoutException):
            kind = "timeout"
        elif isinstance(cause, httpx.ConnectError):
            kind = "connect"
        elif isinstance(cause, httpx.RemoteProtocolError | httpx.ReadError):
            kind = "reset"
        elif isinstance(cause, httpx.HTTPError):
            kind = "protocol"
        if kind != "error":
            break
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{kind}: {detail[:200]}"


async def send_one(
    transport: Wire,
    exchange: Exchange,
    target: Target,
    run_id: int,
    overrides: Sequence[tuple[str, str]],
    timeout: float,
    max_body: int = DEFAULT_MAX_BODY,
    host: str = "recorded",
) -> Replay:
    """Send one exchange; never raises for network trouble (it becomes the outcome)."""
    assert exchange.id is not None
    started = time.time()
    t0 = time.perf_counter()
    try:
        request = build_request(exchange, target, overrides, timeout, host)
        async with asyncio.timeout(timeout + 1.0):
            answer = await transport.send(request, max_body)
    except Exception as exc:  # noqa: BLE001 - every failure is an outcome
        return Replay(
            run_id=run_id,
            exchange_id=exchange.id,
            started_at=started,
            duration_ms=(time.perf_counter() - t0) * 1000.0,
            error=classify_error(exc),
            flags=[RETRIED] if isinstance(exc, RetryFailed) else [],
        )
    return Replay(
        run_id=run_id,
        exchange_id=exchange.id,
        status=answer.status,
        reason=answer.reason,
        headers=answer.headers,
        body=answer.body,
        started_at=started,
        duration_ms=(time.perf_counter() - t0) * 1000.0,
        flags=answer.flags,
    )


async def _run(
    store: Store,
    config: ReplayConfig,
    work: Sequence[Work],
    run: Run,
    baseline: Run | None,
    transport: Wire,
    progress: ProgressFn | None,
    stop: Interruption,
    guard: SecretGuard,
    keys: Sequence[str],
    chainer: Chainer,
    primary: Run | None = None,
) -> Counter[str]:
    target = Target.parse(config.target)
    base_target = Target.parse(config.noise_target) if config.noise_target else None
    prim_target = Target.parse(config.primary) if config.primary else None
    writer = _Writer(store, [r.id for r in (run, baseline, primary) if r is not None])
    seqs = work_seqs(work)
    ids = work.ids() if isinstance(work, WorkList) else [w.exchange.id or 0 for w in work]
    lanes = chainer.lanes(keys, config.concurrency, ids)
    counts: Counter[str] = Counter()
    pace = Pacer(config.rate, stop)

    how = (config.headers, config.timeout, config.max_body, config.host)

    async def one(ex: Exchange, tgt: Target, r: Run, kind: str) -> None:
        sent = await send_one(transport, chainer.request(ex, kind, guard), tgt, r.id, *how)
        rp = guard.finish(ex, chainer.finish(ex, kind, sent))
        _tally(counts, rp)
        await writer.add(rp)
        if progress is not None:
            progress(Outcome(ex, rp, kind))

    async def worker() -> None:
        try:
            while not stop.stopping.is_set():
                index = await lanes.take()
                if index is None or stop.stopping.is_set():
                    return
                if await pace.wait():
                    return  # a signal came while it waited for its slot: not sent
                await writer.claim(index, seqs)
                item = work[index]
                # old, new, old: the recording (lockstep: the primary), then the candidate,
                # then the old server again; one step per item, so the states evolve alike
                if item.primary and prim_target is not None and primary is not None:
                    await one(item.exchange, prim_target, primary, "primary")
                if item.candidate:
                    await one(item.exchange, target, run, "candidate")
                if item.baseline and base_target is not None and baseline is not None:
                    await one(item.exchange, base_target, baseline, "baseline")
                lanes.done(index)  # only now may this identity's next request go
        finally:
            lanes.close()  # the others stop too (after the last item, or on a signal)

    await _until_done_or_stopped(
        asyncio.gather(*(worker() for _ in range(config.concurrency))), stop, writer
    )
    return counts


def _tally(counts: Counter[str], rp: Replay) -> None:
    counts["sent"] += 1
    counts["failed"] += rp.error is not None
    counts["truncated"] += TRUNCATED in rp.flags
    counts["retried"] += RETRIED in rp.flags


async def _until_done_or_stopped(
    workers: asyncio.Future[Any], stop: Interruption, writer: _Writer
) -> None:
    """Wait for the workers (SIGINT/SIGTERM handled meanwhile); store what they got. Only a
    run that stored everything it sent clears its in-flight journal."""
    stop.install(workers)
    clean = False
    try:
        await workers
        clean = True
    except asyncio.CancelledError:
        if not stop.hard:
            raise
    finally:
        try:
            await writer.flush()
            if clean:
                await writer.release()
        finally:
            stop.remove()  # after the last write: a signal now cannot cut it short


def _replay_run(
    store: Store,
    config: ReplayConfig,
    run: Run,
    baseline: Run | None,
    progress: ProgressFn | None,
    transport_factory: TransportFactory | None,
    on_start: Callable[[int], None] | None,
    exchanges: Sequence[Exchange],
    on_signal: Callable[[int], None] | None = None,
    notice: NoticeFn | None = None,
    primary: Run | None = None,
    on_work: WorkFn | None = None,
    on_prepare: ReadProgress | None = None,
    **extra: Any,
) -> ReplayResult:
    """Send what `run` (and `baseline`, `primary`) still miss of `exchanges`; finish the
    runs. `on_signal` hears of a first SIGINT/SIGTERM; `extra` goes to the ReplayResult
    (pattern_timeouts, resend)."""
    sendable, skipped = sendable_work(store, run, baseline, exchanges, primary)
    ids = sendable.ids()  # 8 bytes an item; the exchanges are read by page (replayer/paged.py)
    chainer = Chainer.start(store, run.session_id, config, ids, on_prepare)
    requests = requests_with_tokens(store, run.session_id, sendable)  # the others need none
    guard = SecretGuard.start(
        store, run, config.secrets, config.headers, requests, notice, chainer.tokens
    )
    if on_work is not None:  # before any send: what will be sent, in recorded order
        on_work(run, baseline, primary, sendable)
    if on_start is not None:
        on_start(sendable.sends)
    stop = Interruption(on_signal)
    keys = chainer.lane_keys(lane_keys(sendable, config.order, config.identity), ids)
    _warn_few_identities(config, keys, notice)

    async def main() -> Counter[str]:
        transport = (transport_factory or _default_transport)(config)
        async with transport:
            parts = (run, baseline, transport, progress, stop, guard, keys, chainer)
            return await _run(store, config, sendable, *parts, primary)

    t0 = time.perf_counter()
    status = RunStatus.INTERRUPTED
    try:
        counts = eventloop.run(main())
        if stop.signum is None:
            status = RunStatus.COMPLETE
    finally:
        for r in (run, baseline, primary):
            if r is not None:
                store.finish_run(r.id, status)
    elapsed = time.perf_counter() - t0
    fields = {"selected": len(exchanges), "skipped": skipped, "elapsed": elapsed}
    return _result(store, (run, baseline, primary), counts, stop.signum, **fields,
                   **chainer.tallies(), **extra)  # fmt: skip


def _result(
    store: Store,
    runs: tuple[Run, Run | None, Run | None],
    counts: Counter[str],
    signum: int | None,
    **fields: Any,
) -> ReplayResult:
    """The ReplayResult of finished runs (candidate, baseline, primary) from the counts."""
    run, baseline, primary = runs
    return ReplayResult(
        run=store.run(run.id),
        baseline=store.run(baseline.id) if baseline else None,
        primary=store.run(primary.id) if primary else None,
        sent=counts["sent"],
        failed=counts["failed"],
        truncated=counts["truncated"],
        retried=counts["retried"],
        signum=signum,
        **fields,
    )


def _warn_few_identities(
    config: ReplayConfig, keys: Sequence[str], notice: NoticeFn | None
) -> None:
    """Say so when identity order leaves the concurrency unused."""
    if notice is None or config.order != "identity":
        return
    count = len(set(keys))
    if count >= min(config.concurrency, len(keys)):
        return
    notice(
        f"{len(keys)} requests of {count} client identit{'y' if count == 1 else 'ies'}: "
        f"--order identity sends at most {count} at a time (--order none for a stateless "
        "service)"
    )


def replay(
    store: Store,
    config: ReplayConfig,
    *,
    progress: ProgressFn | None = None,
    transport_factory: TransportFactory | None = None,
    on_start: Callable[[int], None] | None = None,
    on_signal: Callable[[int], None] | None = None,
    notice: NoticeFn | None = None,
    on_work: WorkFn | None = None,
    on_prepare: ReadProgress | None = None,
) -> ReplayResult:
    """Create a run (and its baseline run) for a session and replay it. SIGINT/SIGTERM
    end it early: `on_signal` hears of the first, the result's `signum` names it.
    `on_work` hears, before any send, the runs and the work list (recorded order);
    `on_prepare`, of a chain detection that reads the whole session first."""
    config.validate()
    session = store.session(config.session) if config.session else store.latest_session()
    config.session = session.name
    timed_out: list[int] = []
    exchanges = select_paged(store, session.id, config, timed_out)  # ids only
    if not exchanges and config.shard is None:
        raise ReplayError(
            f"session {session.name!r} has no exchanges matching the filters; "
            "loosen --only/--exclude/--method"
        )
    if not exchanges:  # a shard no client hashed to: an empty run, so a CI matrix still merges
        (notice or stderr_warning)(
            f"shard {config.shard} holds no client of session {session.name!r}: its run is empty"
        )
    run, baseline, primary = create_runs(store, session.id, config)
    try:
        return _replay_run(
            store,
            config,
            run,
            baseline,
            progress,
            transport_factory,
            on_start,
            exchanges,
            on_signal,
            notice,
            primary=primary,
            on_work=on_work,
            on_prepare=on_prepare,
            pattern_timeouts=len(timed_out),
        )
    finally:
        exchanges.close()
