"""Continuing a killed or interrupted run: send only what has no stored outcome.

A run stopped by SIGINT/SIGTERM stored every answer it got, so its resume sends nothing
twice. A run killed outright (`kill -9`, a crash) may have had requests in flight whose
answers were never stored; the in-flight journal (replayer/writer.py) bounds them, and
the result's `resend` says how many the resume may send again and which non-idempotent
methods are among them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shadowdiff.errors import ReplayError
from shadowdiff.replayer.engine import (
    NoticeFn,
    ProgressFn,
    ReplayConfig,
    ReplayResult,
    TransportFactory,
    _replay_run,
)
from shadowdiff.replayer.work import possibly_handled, select_exchanges
from shadowdiff.store import Store

__all__ = ["resume"]


def resume(
    store: Store,
    run_ref: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    progress: ProgressFn | None = None,
    transport_factory: TransportFactory | None = None,
    on_start: Callable[[int], None] | None = None,
    on_signal: Callable[[int], None] | None = None,
    notice: NoticeFn | None = None,
) -> ReplayResult:
    """Continue a killed run: send only exchanges with no stored outcome."""
    run = store.run(run_ref)
    if run.kind != "candidate":
        raise ReplayError(f"run {run.name!r} is a {run.kind} run; resume its candidate run")
    if "compare" in run.config:
        raise ReplayError(f"run {run.name!r} compares two recorded sessions; nothing to resume")
    stored = dict(run.config)
    names = stored.pop("headers", [])
    stored.setdefault("host", "target")  # runs from before --host sent the target's
    stored.setdefault("order", "none")  # runs from before --order had no order
    given = {name.lower() for name, _ in headers}
    missing = [n for n in names if n.lower() not in given]
    if missing:
        raise ReplayError(
            f"run {run.name!r} was started with --header {', '.join(missing)}; "
            "pass the same --header options to --resume (values are never stored)"
        )
    config = ReplayConfig(**stored, headers=list(headers))
    baseline = store.baseline_of(run)
    primary = store.primary_of(run)  # lockstep: the three runs go on together
    timed_out: list[int] = []
    exchanges = select_exchanges(store, run.session_id, config, timed_out)
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
        pattern_timeouts=len(timed_out),
        resend=possibly_handled(store, run, baseline, exchanges, primary),
    )
