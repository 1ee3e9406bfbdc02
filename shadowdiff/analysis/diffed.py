"""The candidate run a judgement (gate, accept) is about, checked to be fully diffed."""

from __future__ import annotations

from shadowdiff.errors import GateError, StoreError
from shadowdiff.store import Run, Store
from shadowdiff.vocabulary import RunKind


def diffed_run(store: Store, run_ref: str | int | Run) -> Run:
    """The candidate run ``run_ref``, checked to be diffed (all replays) -- else GateError."""
    try:
        run = run_ref if isinstance(run_ref, Run) else store.run(run_ref)
    except StoreError as exc:
        raise GateError(str(exc)) from exc
    if run.kind != RunKind.CANDIDATE:
        paired = store.run(run.paired_run_id).name if run.paired_run_id else "its candidate"
        what = "old vs old" if run.kind == RunKind.BASELINE else "the live old instance"
        raise GateError(
            f"run {run.name!r} is a {run.kind} run ({what}); gate the candidate run {paired!r}"
        )
    replays = store.count_replays(run.id)
    diffs = store.count_diffs(run.id)
    if replays == 0:
        raise GateError(f"run {run.name!r} has no replays; nothing to judge")
    if diffs == 0:
        raise GateError(
            f"run {run.name!r} has not been diffed yet; run `shadowdiff diff {run.name}`"
        )
    if diffs < replays:
        raise GateError(
            f"run {run.name!r} has {replays} replays but only {diffs} diffs; "
            f"run `shadowdiff diff {run.name}` again"
        )
    return run
