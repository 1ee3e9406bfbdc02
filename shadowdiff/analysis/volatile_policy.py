"""Which volatile differences of a run count: decided when the run is diffed, and stored.

A volatile difference (``ChangeClass.VOLATILE``: an id, token or timestamp of the same shape on
both sides, ``differ/volatile.py``):

- in a baseline run (old vs old) always counts: it is the noise evidence;
- in a candidate run with a baseline does not count at an (endpoint, general path, kind) where
  the baseline has a counting difference too (``noise_measure.old_vs_old_keys``: the old
  service differs from itself there), and counts elsewhere (the old service is stable there,
  the new one is not);
- in a candidate run without a baseline does not count ("likely volatile");
- with ``--count-volatile`` always counts.

One not counted is held by ``differ.hold_volatile`` (rule ``VOLATILE_MARK``), so the verdict,
signature, gate, noise and report all read the same stored answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from shadowdiff.analysis.noise_measure import old_vs_old_keys
from shadowdiff.differ import FieldDiff, generalize_path
from shadowdiff.store import Run, Store

__all__ = ["COUNT_ALL", "VolatilePolicy", "volatile_policy"]


@dataclass(frozen=True)
class VolatilePolicy:
    """Which volatile differences of a run do not count (see the module docstring)."""

    count: bool = False  # count them all (a baseline run; `--count-volatile`)
    # old-vs-old (endpoint, general path, kind); None: the run has no baseline
    confirmed: frozenset[tuple[str, str, str]] | None = None

    @classmethod
    def drift(cls, count_volatile: bool) -> VolatilePolicy:
        """A lockstep primary's policy (diffed against the recording: its drift): volatile
        values do not count, as in a run without a baseline; a timestamp or a fresh id the
        recording cannot match is no sign of another state."""
        return cls(count=True) if count_volatile else cls()

    def holds(self, endpoint: str, f: FieldDiff) -> bool:
        """Whether the volatile difference ``f`` of ``endpoint`` does not count."""
        if self.count:
            return False
        if self.confirmed is None:
            return True
        return (endpoint, generalize_path(f.path), str(f.kind)) in self.confirmed


COUNT_ALL: Final = VolatilePolicy(count=True)


def volatile_policy(store: Store, baseline: Run | None, count_volatile: bool) -> VolatilePolicy:
    """A candidate run's policy, once its baseline (if any) is diffed and stored."""
    if count_volatile:
        return COUNT_ALL
    return VolatilePolicy(confirmed=old_vs_old_keys(store, baseline) if baseline else None)
