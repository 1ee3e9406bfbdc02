"""The concurrent replay engine: send a session's requests to a target, store outcomes.

`replay()` creates a run (and a paired baseline run with `baseline`), sends each
selected exchange with bounded concurrency and an optional rate, and stores every
outcome, failures included, in batches. `resume()` continues a killed run, sending
only what has no stored outcome.
"""

from __future__ import annotations

import asyncio
import errno
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import httpx

from shadowdiff.errors import ReplayError
from shadowdiff.replayer.build import HOST_MODES, Target, build_request
from shadowdiff.replayer.retry import FLAGS_EXTENSION, RETRIED, RetryFailed
from shadowdiff.replayer.transport import TRANSPORTS, make_transport
from shadowdiff.replayer.work import Work, pending_work, sampled
from shadowdiff.store import Exchange, Replay, Run, Store

WRITE_BATCH = 256
WRITE_INTERVAL = 0.5  # seconds: a killed run loses at most this much to re-send on resume


@dataclass
class ReplayConfig:
    """What to replay, where, and how fast. Stored with the run (header values excepted)."""

    target: str
    session: str | None = None
    baseline: str | None = None
    concurrency: int = 16
    rate: float | None = None
    timeout: float = 10.0
    only: str | None = None
    exclude: str | None = None
    methods: list[str] = field(default_factory=list)
    sample: float | None = None
    limit: int | None = None
    name: str | None = None
    transport: str = "aiohttp"
    headers: list[tuple[str, str]] = field(default_factory=list)
    host: str = "recorded"  # the Host header sent: "recorded" or "target"

    def validate(self) -> None:
        Target.parse(self.target)
        if self.baseline:
            Target.parse(self.baseline)
        if self.concurrency < 1:
            raise ReplayError(
                f"concurrency must be at least 1, got {self.concurrency}", field="concurrency"
            )
        if self.rate is not None and self.rate <= 0:
            raise ReplayError(
                f"rate must be positive (requests per second), got {self.rate}", field="rate"
            )
        if self.timeout <= 0:
            raise ReplayError(
                f"timeout must be positive (seconds), got {self.timeout}", field="timeout"
            )
        if self.sample is not None and not 0 < self.sample <= 1:
            raise ReplayError(
                f"sample must be a fraction in (0, 1], got {self.sample}", field="sample"
            )
        if self.transport not in TRANSPORTS:
            raise ReplayError(
                f"transport must be one of {', '.join(TRANSPORTS)}, got {self.transport!r}",
                field="transport",
            )
        if self.host not in HOST_MODES:
            raise ReplayError(
                f"host must be one of {', '.join(HOST_MODES)}, got {self.host!r}", field="host"
            )
        for opt, pattern in (("only", self.only), ("exclude", self.exclude)):
            if pattern:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ReplayError(f"bad {opt} regex {pattern!r}: {exc}", field=opt) from exc

    def stored(self) -> dict[str, Any]:
        """The config as kept in `runs.config`: header names only, never their values."""
        data = asdict(self)
        data["headers"] = [name for name, _ in self.headers]
        return data


@dataclass
class Outcome:
    """One finished send, reported to the progress callback."""

    exchange: Exchange
    replay: Replay
    kind: str  # "candidate" | "baseline"

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
    retried: int = 0  # sends retried once on a fresh connection (a reused one was closed)

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0


ProgressFn = Callable[[Outcome], None]
TransportFactory = Callable[[ReplayConfig], httpx.AsyncBaseTransport]


def _default_transport(config: ReplayConfig) -> httpx.AsyncBaseTransport:
    # the baseline doubles the connections in flight
    conns = config.concurrency * (2 if config.baseline else 1)
    return make_transport(config.transport, concurrency=conns)


def select_exchanges(store: Store, session_id: int, config: ReplayConfig) -> list[Exchange]:
    """The exchanges a run covers, in recorded order (deterministic, so resume agrees)."""
    chosen: list[Exchange] = []
    for ex in store.iter_exchanges(
        session_id, only=config.only, exclude=config.exclude, methods=config.methods
    ):
        if ex.id is None or not sampled(ex.id, config.sample):
            continue
        chosen.append(ex)
        if config.limit is not None and len(chosen) >= config.limit:
            break
    return chosen


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
    transport: httpx.AsyncBaseTransport,
    exchange: Exchange,
    target: Target,
    run_id: int,
    overrides: Sequence[tuple[str, str]],
    timeout: float,
    host: str = "recorded",
) -> Replay:
    """Send one exchange; never raises for network trouble (it becomes the outcome)."""
    assert exchange.id is not None
    started = time.time()
    t0 = time.perf_counter()
    try:
        request = build_request(exchange, target, overrides, timeout, host)
        async with asyncio.timeout(timeout + 1.0):
            response = await transport.handle_async_request(request)
            try:
                body = b"".join([chunk async for chunk in response.aiter_raw()])
            finally:
                await response.aclose()
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
        status=response.status_code,
        reason=response.reason_phrase,
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw],
        body=body,
        started_at=started,
        duration_ms=(time.perf_counter() - t0) * 1000.0,
        flags=list(response.extensions.get(FLAGS_EXTENSION, ())),
    )


class _Writer:
    """Collects outcomes and writes them in batches off the event loop."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pending: list[Replay] = []
        self.lock = asyncio.Lock()
        self.flushed_at = time.monotonic()

    async def add(self, replay: Replay) -> None:
        self.pending.append(replay)
        if len(self.pending) >= WRITE_BATCH or time.monotonic() - self.flushed_at >= WRITE_INTERVAL:
            await self.flush()

    async def flush(self) -> None:
        async with self.lock:
            self.flushed_at = time.monotonic()
            batch, self.pending = self.pending, []
            if batch:
                await asyncio.to_thread(self.store.add_replays, batch)


async def _run(
    store: Store,
    config: ReplayConfig,
    work: Sequence[Work],
    run: Run,
    baseline: Run | None,
    transport: httpx.AsyncBaseTransport,
    progress: ProgressFn | None,
) -> tuple[int, int, int]:
    target = Target.parse(config.target)
    base_target = Target.parse(config.baseline) if config.baseline else None
    writer = _Writer(store)
    queue: asyncio.Queue[Work] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    counts = {"sent": 0, "failed": 0, "retried": 0}
    start = time.monotonic()
    ticket = {"n": 0}

    async def paced() -> None:
        if config.rate is None:
            return
        slot = start + ticket["n"] / config.rate
        ticket["n"] += 1
        delay = slot - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def one(ex: Exchange, tgt: Target, r: Run, kind: str) -> None:
        rp = await send_one(transport, ex, tgt, r.id, config.headers, config.timeout, config.host)
        counts["sent"] += 1
        counts["failed"] += rp.error is not None
        counts["retried"] += RETRIED in rp.flags
        await writer.add(rp)
        if progress is not None:
            progress(Outcome(ex, rp, kind))

    async def worker() -> None:
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await paced()
            # old, new, old: the recording, then the candidate, then the old server again
            if item.candidate:
                await one(item.exchange, target, run, "candidate")
            if item.baseline and base_target is not None and baseline is not None:
                await one(item.exchange, base_target, baseline, "baseline")

    try:
        await asyncio.gather(*(worker() for _ in range(config.concurrency)))
    finally:
        await writer.flush()
    return counts["sent"], counts["failed"], counts["retried"]


def _replay_run(
    store: Store,
    config: ReplayConfig,
    run: Run,
    baseline: Run | None,
    progress: ProgressFn | None,
    transport_factory: TransportFactory | None,
    on_start: Callable[[int], None] | None = None,
    exchanges: list[Exchange] | None = None,
) -> ReplayResult:
    if exchanges is None:
        exchanges = select_exchanges(store, run.session_id, config)
    todo = pending_work(store, run, baseline, exchanges)
    sendable = [w for w in todo if not w.exchange.request_truncated]
    skipped = len(todo) - len(sendable)
    if on_start is not None:
        on_start(sum(w.candidate + w.baseline for w in sendable))

    async def main() -> tuple[int, int, int]:
        transport = (transport_factory or _default_transport)(config)
        async with transport:
            return await _run(store, config, sendable, run, baseline, transport, progress)

    t0 = time.perf_counter()
    status = "interrupted"
    try:
        sent, failed, retried = asyncio.run(main())
        status = "complete"
    finally:
        store.finish_run(run.id, status)
        if baseline is not None:
            store.finish_run(baseline.id, status)
    return ReplayResult(
        run=store.run(run.id),
        baseline=store.run(baseline.id) if baseline else None,
        selected=len(exchanges),
        sent=sent,
        failed=failed,
        skipped=skipped,
        elapsed=time.perf_counter() - t0,
        retried=retried,
    )


def replay(
    store: Store,
    config: ReplayConfig,
    *,
    progress: ProgressFn | None = None,
    transport_factory: TransportFactory | None = None,
    on_start: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Create a run (and its baseline run) for a session and replay it."""
    config.validate()
    session = store.session(config.session) if config.session else store.latest_session()
    config.session = session.name
    exchanges = select_exchanges(store, session.id, config)
    if not exchanges:
        raise ReplayError(
            f"session {session.name!r} has no exchanges matching the filters; "
            "loosen --only/--exclude/--method"
        )
    run = store.create_run(
        session.id,
        kind="candidate",
        target=config.target,
        name=config.name,
        config=config.stored(),
    )
    baseline = None
    if config.baseline:
        baseline = store.create_run(
            session.id,
            kind="baseline",
            target=config.baseline,
            name=f"{run.name}-baseline",
            paired_run_id=run.id,
            config=config.stored(),
        )
    return _replay_run(
        store, config, run, baseline, progress, transport_factory, on_start, exchanges
    )


def resume(
    store: Store,
    run_ref: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    progress: ProgressFn | None = None,
    transport_factory: TransportFactory | None = None,
    on_start: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Continue a killed run: send only exchanges with no stored outcome."""
    run = store.run(run_ref)
    if run.kind != "candidate":
        raise ReplayError(f"run {run.name!r} is a {run.kind} run; resume its candidate run")
    stored = dict(run.config)
    names = stored.pop("headers", [])
    stored.setdefault("host", "target")  # runs from before --host sent the target's
    given = {name.lower() for name, _ in headers}
    missing = [n for n in names if n.lower() not in given]
    if missing:
        raise ReplayError(
            f"run {run.name!r} was started with --header {', '.join(missing)}; "
            "pass the same --header options to --resume (values are never stored)"
        )
    config = ReplayConfig(**stored, headers=list(headers))
    return _replay_run(
        store, config, run, store.baseline_of(run), progress, transport_factory, on_start
    )
