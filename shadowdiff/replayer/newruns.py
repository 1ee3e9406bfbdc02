"""The runs a replay creates: the candidate, its baseline (or lockstep's secondary) and, in
lockstep, the primary whose answers are the old side of the other two's diffs."""

from __future__ import annotations

from shadowdiff.replayer.config import ReplayConfig
from shadowdiff.store import Run, Store
from shadowdiff.vocabulary import RunKind

__all__ = ["create_runs"]


def create_runs(
    store: Store, session_id: int, config: ReplayConfig
) -> tuple[Run, Run | None, Run | None]:
    """The candidate run, its baseline run (--baseline, or lockstep's --secondary) and, in
    lockstep, its primary run: the candidate and the secondary reference the primary (its
    answers are the old side of their diffs); the primary is diffed against the recording."""
    stored = config.stored()
    kind = RunKind.CANDIDATE
    run = store.create_run(
        session_id, kind=kind, target=config.target, name=config.name, config=stored
    )
    primary = None
    if config.primary:
        primary = store.create_run(
            session_id,
            kind=RunKind.PRIMARY,
            target=config.primary,
            name=f"{run.name}-primary",
            paired_run_id=run.id,
            config=stored,
        )
        run = store.set_reference_run(run.id, primary.id)
    baseline = None
    if config.noise_target:
        baseline = store.create_run(
            session_id,
            kind=RunKind.BASELINE,
            target=config.noise_target,
            name=f"{run.name}-{'secondary' if config.secondary else 'baseline'}",
            paired_run_id=run.id,
            config=stored,
            reference_run_id=primary.id if primary is not None else None,
        )
    return run, baseline, primary
