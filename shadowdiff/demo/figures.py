"""The stateful demo's figures, read back from the store after a lockstep replay: how many
requests, how many chains and chained values the session has, how many replays chains
mapped back (``chained``), how many consumed a
value their target never issued (``unchained``), how far the primary drifted from the
recording, the differences left (candidate vs primary; secondary vs primary: noise), and
which of the documented planted bugs (``differences.py``, category regression) they show."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from shadowdiff.demo.differences import by_category, endpoint_matches, path_matches
from shadowdiff.records import Run
from shadowdiff.store import Store
from shadowdiff.vocabulary import Verdict

CHAINED = "chained"
UNCHAINED = "unchained"


@dataclass
class RunFigures:
    """One run of the lockstep replay: its replays, their chain flags, its diffs."""

    role: str  # primary | candidate | secondary
    target: str
    replays: int = 0
    flags: Counter[str] = field(default_factory=Counter)
    compared: int = 0
    different: int = 0
    errors: int = 0


@dataclass
class StatefulFigures:
    requests: int
    runs: list[RunFigures]
    chains: int = 0  # the session's chains (producer location -> consumer location)
    links: int = 0  # values chained: each consumed value linked to its producer
    planted: list[str] = field(default_factory=list)  # documented regressions found

    def of(self, role: str) -> RunFigures | None:
        return next((r for r in self.runs if r.role == role), None)

    @property
    def chained(self) -> int:
        return sum(r.flags[CHAINED] for r in self.runs)

    @property
    def unchained(self) -> int:
        return sum(r.flags[UNCHAINED] for r in self.runs)

    def lines(self) -> list[str]:
        """The summary, one figure per line (fits 80 columns)."""
        out = [f"requests recorded: {self.requests}",
               f"chains: {self.chains}, {self.links} values chained"]  # fmt: skip
        for r in self.runs:
            out.append(
                f"{r.role:<9} {r.replays} replayed, {r.flags[CHAINED]} chained, "
                f"{r.flags[UNCHAINED]} unchained"
            )
        primary, candidate, secondary = (self.of(n) for n in ("primary", "candidate", "secondary"))
        if primary is not None:
            out.append(f"drift: the primary differs from the recording on {primary.different} "
                       f"of {primary.compared} exchanges")  # fmt: skip
        if candidate is not None:
            out.append(f"differences: candidate vs primary on {candidate.different} of "
                       f"{candidate.compared} exchanges ({candidate.errors} errors)")  # fmt: skip
        if secondary is not None:
            out.append(f"noise: secondary vs primary on {secondary.different} of "
                       f"{secondary.compared} exchanges")  # fmt: skip
        out.extend(f"planted bug found: {key}" for key in self.planted)
        return out


def run_figures(store: Store, role: str, run: Run) -> RunFigures:
    figures = RunFigures(role, run.target)
    for replay in store.iter_replays(run.id):
        figures.replays += 1
        figures.flags.update(set(replay.flags))
    figures.compared = store.count_diffs(run.id)
    figures.different = store.count_diffs(run.id, Verdict.DIFFERENT)
    figures.errors = store.count_diffs(run.id, Verdict.ERROR)
    return figures


def planted_found(store: Store, run: Run) -> list[str]:
    """The documented planted bugs (category regression) that the run's counting
    differences show, by their keys."""
    found: list[str] = []
    for row in store.field_keys(run.id):
        if row.rule is not None:
            continue
        path = row.general_path.replace("[*]", "[0]")  # the documented paths are concrete
        for bug in by_category("regression"):
            if bug.key in found or bug.kind != row.kind or not path_matches(bug.path, path):
                continue
            if any(endpoint_matches(pattern, row.endpoint) for pattern in bug.endpoints):
                found.append(bug.key)
    return found


def stateful_figures(store: Store, candidate: Run) -> StatefulFigures:
    """The figures of a lockstep replay, from its candidate run."""
    runs = [("primary", store.primary_of(candidate)), ("candidate", candidate),
            ("secondary", store.baseline_of(candidate))]  # fmt: skip
    session = candidate.session_id
    return StatefulFigures(
        store.count_exchanges(session),
        [run_figures(store, role, run) for role, run in runs if run is not None],
        len(store.session_chains(session)),
        len(store.session_links(session)),
        planted_found(store, candidate),
    )
