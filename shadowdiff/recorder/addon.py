"""The shadowdiff recorder: a mitmproxy addon that stores every exchange in SQLite.

Run it with mitmdump as a reverse proxy in front of the service to record:

    mitmdump --mode reverse:http://127.0.0.1:5000 -s recorder/addon.py \
        --set shadowdiff_db=shadowdiff.db --set shadowdiff_session=prod-sample

Hooks stay thin: they turn the flow into an `Exchange` and put it on a queue. One
writer thread commits batches. If the store cannot be written the traffic still flows
(fail-open); drops are counted and reported at exit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mitmproxy import ctx, exceptions, http

from shadowdiff.patterns import BadPattern, BoundedPattern, PatternTimeout, compile_pattern
from shadowdiff.recorder.capture import (
    DEFAULT_MAX_BODY,
    DEFAULT_REDACT,
    CapturePolicy,
    apply_policy,
    flow_to_exchange,
)
from shadowdiff.recorder.framing import install as install_strict_framing
from shadowdiff.recorder.parentwatch import ParentWatch
from shadowdiff.recorder.writer import BatchWriter, RecorderStats
from shadowdiff.store import Exchange, Store

log = logging.getLogger("shadowdiff")

_METADATA_KEY = "shadowdiff_recorded"
_INFLIGHT_KEY = "shadowdiff_inflight"
SHUTDOWN_GRACE = 10.0
SWITCH_INTERVAL = float(os.environ.get("SHADOWDIFF_SWITCH_INTERVAL", "0.0005"))


class Recorder:
    """mitmproxy addon: options `shadowdiff_*`, hooks `response`/`error`, flush on `done`."""

    def __init__(self, store_factory: Callable[[str], Store] | None = None) -> None:
        self.store_factory = store_factory or (lambda path: Store.open(path, timeout=2.0))
        self.stats = RecorderStats()
        self.writer: BatchWriter | None = None
        self.policy = CapturePolicy.build()
        self.sample = 1.0
        self.path_filter: BoundedPattern | None = None
        self._rng = random.Random()
        self.inflight = 0
        self.closing = False

    def running(self) -> None:
        # The writer thread shares the GIL with mitmproxy's event loop. With the default 5 ms
        # switch interval, every syscall the loop makes can hand the GIL to the writer and then
        # wait up to 5 ms to get it back (the convoy effect): +5 ms p50 in bench/record.py.
        sys.setswitchinterval(SWITCH_INTERVAL)

    def load(self, loader: Any) -> None:
        install_strict_framing()
        loader.add_option("shadowdiff_db", str, "shadowdiff.db", "SQLite file to record into.")
        loader.add_option(
            "shadowdiff_session", str, "", "Session name (default: proxy-<timestamp>)."
        )
        loader.add_option(
            "shadowdiff_redact",
            str,
            "",
            "Comma-separated names whose values are replaced by stable tokens, added to the "
            f"defaults ({','.join(DEFAULT_REDACT)}).",
        )
        loader.add_option(
            "shadowdiff_keep_headers",
            str,
            "",
            "Comma-separated names to keep in clear (taken off the redacted names).",
        )
        loader.add_option(
            "shadowdiff_max_body",
            int,
            DEFAULT_MAX_BODY,
            "Bodies longer than this many bytes are truncated (and flagged).",
        )
        loader.add_option(
            "shadowdiff_sample", str, "1.0", "Fraction of exchanges to record, 0 < rate <= 1."
        )
        loader.add_option(
            "shadowdiff_path_filter", str, "", "Record only paths matching this regex."
        )
        loader.add_option(
            "shadowdiff_stats_file", str, "", "Write live counters (JSON) to this file."
        )
        loader.add_option("shadowdiff_batch", int, 500, "Exchanges per write transaction.")

    def configure(self, updated: set[str]) -> None:
        opts = ctx.options
        if "shadowdiff_sample" in updated:
            try:
                sample = float(opts.shadowdiff_sample)
            except ValueError:
                sample = -1.0
            if not 0.0 < sample <= 1.0:
                raise exceptions.OptionsError(
                    f"shadowdiff_sample must be a number in (0, 1], got {opts.shadowdiff_sample!r}"
                )
            self.sample = sample
        if "shadowdiff_path_filter" in updated:
            try:
                self.path_filter = compile_pattern(opts.shadowdiff_path_filter)
            except BadPattern as exc:
                raise exceptions.OptionsError(f"shadowdiff_path_filter: {exc}") from None
        if "shadowdiff_max_body" in updated and opts.shadowdiff_max_body <= 0:
            raise exceptions.OptionsError("shadowdiff_max_body must be a positive byte count")
        if "shadowdiff_batch" in updated and opts.shadowdiff_batch <= 0:
            raise exceptions.OptionsError("shadowdiff_batch must be positive")
        if self.writer is None and "shadowdiff_db" in updated:
            self._start_writer()
        elif self.writer is not None and updated & {"shadowdiff_redact", "shadowdiff_keep_headers"}:
            self.policy = self._build_policy(self.writer.store, self.writer.session_id)

    def _build_policy(self, store: Store, session_id: int) -> CapturePolicy:
        opts = ctx.options
        policy = CapturePolicy.build(
            redact=opts.shadowdiff_redact.split(","),
            keep=opts.shadowdiff_keep_headers.split(","),
            key=store.redaction_key(),
            max_body=opts.shadowdiff_max_body,
        )
        store.save_redaction_names(session_id, policy.redaction.names)  # replay redacts alike
        return policy

    def _start_writer(self) -> None:
        opts = ctx.options
        try:
            store = self.store_factory(opts.shadowdiff_db)
            session = store.create_session(
                opts.shadowdiff_session or None, source="proxy", upstream=_upstream()
            )
            self.policy = self._build_policy(store, session.id)
        except Exception as exc:
            raise exceptions.OptionsError(
                f"shadowdiff: cannot record into {opts.shadowdiff_db}: {exc}"
            ) from exc
        self.stats.session = session.name
        stats_path = Path(opts.shadowdiff_stats_file) if opts.shadowdiff_stats_file else None
        self.writer = BatchWriter(
            store,
            session.id,
            self._convert,
            self.stats,
            batch_size=opts.shadowdiff_batch,
            stats_path=stats_path,
        )
        self.writer.start()
        log.info(f"shadowdiff: recording into {opts.shadowdiff_db}, session {session.name}")

    # ------------------------------------------------------------------ hooks
    def request(self, flow: http.HTTPFlow) -> None:
        if self.closing:
            # shutting down: refuse new work rather than answer what we could not store. A
            # refusal is not an exchange of the service: counted, never stored.
            flow.metadata[_METADATA_KEY] = True
            self.stats.refused += 1
            flow.kill()
            return
        flow.metadata[_INFLIGHT_KEY] = True
        self.inflight += 1

    def response(self, flow: http.HTTPFlow) -> None:
        self._finish(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._finish(flow)

    def _finish(self, flow: http.HTTPFlow) -> None:
        if flow.metadata.pop(_INFLIGHT_KEY, False):
            self.inflight -= 1
        if self.writer is None:
            if self.closing and flow.response is not None and not flow.metadata.get(_METADATA_KEY):
                flow.kill()  # the client must not get an answer that is not stored
            return
        self._capture(flow)

    def _path_wanted(self, path: str) -> bool:
        """The path filter, bounded in time: a pattern too slow for a path skips that path
        (counted as skipped, and said in last_error) instead of stalling the proxy."""
        assert self.path_filter is not None
        try:
            return self.path_filter.search(path)
        except PatternTimeout as exc:
            self.stats.last_error = f"path filter: {exc}; exchange not recorded"
            return False

    def _capture(self, flow: http.HTTPFlow) -> None:
        if flow.metadata.get(_METADATA_KEY) or self.writer is None:
            return
        flow.metadata[_METADATA_KEY] = True
        self.stats.seen += 1
        try:
            if self.path_filter is not None and not self._path_wanted(flow.request.path):
                self.stats.skipped += 1
                return
            if self.sample < 1.0 and self._rng.random() >= self.sample:
                self.stats.skipped += 1
                return
            self.writer.offer(flow)
        except Exception as exc:  # fail open: never break the proxied traffic
            self.writer.drop(1, f"capture failed: {type(exc).__name__}: {exc}")

    def _convert(self, flow: http.HTTPFlow) -> Exchange:
        """Runs on the writer thread: the pure flow -> record conversion."""
        return apply_policy(flow_to_exchange(flow), self.policy)

    async def done(self) -> None:
        """Let in-flight exchanges finish (bounded), then flush the queue and close."""
        self.closing = True
        if self.writer is None:
            return
        deadline = time.monotonic() + SHUTDOWN_GRACE
        while self.inflight > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        writer, self.writer = self.writer, None  # from here on, late answers are killed
        await asyncio.to_thread(writer.stop)
        self.stats.done = True
        writer.write_stats(force=True)
        s = self.stats
        log.warning(
            f"shadowdiff: session {s.session}: stored {s.stored}, dropped {s.dropped}, "
            f"bytes {s.bytes}" + (f", last error: {s.last_error}" if s.last_error else "")
        )
        try:
            writer.store.finish_session(writer.session_id)
            writer.store.close()
        except Exception as exc:  # the data is stored; only the end time is missing
            log.warning(f"shadowdiff: could not close the session cleanly: {exc}")


def _upstream() -> str | None:
    mode = getattr(ctx.options, "mode", None) or []
    for spec in mode:
        if spec.startswith("reverse:"):
            return str(spec.split(":", 1)[1])
    return None


# ParentWatch after Recorder: its `done` (cleaning up after a parent that died) runs last
addons = [Recorder(), ParentWatch()]
