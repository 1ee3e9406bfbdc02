"""Drift: how far the old side's live answers are from the recording.

In lockstep the primary run is diffed against the recording with the run's rules; its
differing exchanges are drift (the test environment's state or configuration is not the
recording's). Without a primary, a baseline run answered by the old service again is set
against the recording by status: a status that disagrees is drift too (state: "already
exists", "not found"; or environment), and such exchanges are no noise evidence
(`shadowdiff.analysis.noise_measure` leaves them out): old-vs-old differences caused by state
are not noise.
"""

from __future__ import annotations

from dataclasses import dataclass

from shadowdiff.store import Run, Store
from shadowdiff.vocabulary import Verdict

__all__ = ["Drift", "baseline_drift", "measure_drift", "primary_drift"]


@dataclass(frozen=True)
class Drift:
    """How many of a run's exchanges drifted from the recording, with one sample."""

    run: str  # the drifting run's name
    side: str  # "primary" (diffed against the recording) | "baseline" (by status)
    drifted: int
    compared: int
    sample: str | None  # endpoint and what differed, for the first drifted exchange

    @property
    def line(self) -> str:
        """One short line for every report format."""
        of = f"{self.drifted} of {self.compared} exchanges"
        if self.side == "primary":
            head = f"the primary drifted from the recording on {of}"
            if not self.drifted:
                return f"{head}: its state resembles the recording's"
            return f"{head} (state or environment), e.g. {self.sample}"
        return (
            f"the baseline's status disagreed with the recording on {of}: drift (state or "
            f"environment), not used as noise evidence; e.g. {self.sample}"
        )


def primary_drift(store: Store, primary: Run) -> Drift | None:
    """The primary run's differences from the recording (None when it was never diffed or
    answered nothing: its errors are the candidate's, of kind ``primary: ...``)."""
    counts = store.verdicts_per_endpoint(primary.id).values()
    different = sum(c[Verdict.DIFFERENT] for c in counts)
    compared = sum(c[Verdict.DIFFERENT] + c[Verdict.SAME] for c in counts)
    if not compared:
        return None
    sample = next(
        (g.text for g in store.signature_groups(primary.id) if g.verdict == Verdict.DIFFERENT),
        None,
    )
    return Drift(primary.name, "primary", different, compared, sample)


def drifted_ids(store: Store, baseline: Run) -> dict[int, str]:
    """Exchange id -> endpoint of a baseline run's replays whose status disagrees with the
    recording; none for a baseline that references a primary (lockstep)."""
    if baseline.reference_run_id is not None:
        return {}
    return {ex_id: endpoint for ex_id, endpoint, *_ in store.status_drift(baseline.id)[1]}


def baseline_drift(store: Store, baseline: Run) -> Drift | None:
    """A baseline run's status drift from the recording (None when there is none, or in
    lockstep, where the baseline is the secondary and set against the primary)."""
    if baseline.reference_run_id is not None:
        return None
    compared, rows = store.status_drift(baseline.id)
    if not rows:
        return None
    _, endpoint, request, recorded, replayed = rows[0]
    sample = f"{request}: recorded {recorded}, baseline {replayed}"
    return Drift(baseline.name, "baseline", len(rows), compared, sample)


def measure_drift(store: Store, run: Run) -> Drift | None:
    """The drift a candidate run's report states: its primary's, else its baseline's."""
    primary = store.primary_of(run)
    if primary is not None:
        return primary_drift(store, primary)
    baseline = store.baseline_of(run)
    return baseline_drift(store, baseline) if baseline is not None else None
