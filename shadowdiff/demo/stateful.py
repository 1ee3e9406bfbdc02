"""`shadowdiff demo --stateful`: the whole job on the stateful half of the bundled pair.

1. records the scenario (``scenario.py``: logins, roles, create -> get -> update -> delete of
   server-issued uuid ids) through the recorder (a real mitmdump) in front of a fresh Flask
   instance, with the default redaction: passwords and tokens are stored as redaction tokens;
2. starts FRESH instances, each with its own signing key and no items: primary (Flask),
   secondary (Flask, for noise) and candidate (the FastAPI port);
3. replays in lockstep (each request to primary, candidate, secondary as one step) in
   identity order, with chains (each instance's tokens and ids stand in for the recorded
   ones) and the demo users' passwords from a ``--secrets`` file written to a temporary
   folder of its own (never next to the database);
4. diffs (candidate and secondary against the primary, the primary against the recording
   for drift) with the shipped flask-to-fastapi preset alone (the demo's rules file is for
   the model endpoints), reports and gates with the default limits.

The same steps by hand are in the README ("Worked example: the stateful demo").
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shadowdiff.analysis.diffrun import DiffSummary, diff_run, load_ruleset
from shadowdiff.analysis.gate import GateLimits, GateResult, evaluate
from shadowdiff.demo.accounts import PASSWORDS, USERS
from shadowdiff.demo.figures import StatefulFigures, stateful_figures
from shadowdiff.demo.run import Steps, default_report_path, sigterm_as_interrupt
from shadowdiff.demo.run import workdir as demo_workdir
from shadowdiff.demo.scenario import DEFAULT_ROUNDS, ScenarioSummary, planned_count, run_scenario
from shadowdiff.demo.servers import RunningServer, free_port, start_server
from shadowdiff.recorder.launcher import Recording, RecordOptions, RecordSummary
from shadowdiff.replayer.engine import ReplayConfig, ReplayResult, replay
from shadowdiff.report import Report, build_report, render
from shadowdiff.store import Store

SESSION = "stateful"
RUN = "stateful"
#: one lane per client identity of the scenario: its users' tokens and the stranger's address
CONCURRENCY = len(USERS) + 1


@dataclass
class StatefulResult:
    db: Path
    report_path: Path
    scenario: ScenarioSummary
    recorded: RecordSummary
    replayed: ReplayResult
    diffed: DiffSummary
    gate: GateResult
    timings: dict[str, float]
    figures: StatefulFigures | None = None
    report: Report | None = None


@dataclass
class Callbacks:
    """What the caller is told: steps as text, record/replay totals and each request."""

    announce: Callable[[str], None] = lambda text: None
    on_total: Callable[[str, int], None] | None = None
    on_request: Callable[[], None] | None = None
    on_replay: Callable[[], None] | None = None


def write_secrets(folder: Path) -> Path:
    """The demo users' passwords (made-up values, public in accounts.py) as a --secrets
    file: replay matches each to its redaction token by the keyed hash."""
    path = folder / "stateful-secrets.toml"
    path.write_text(f"values = {json.dumps(list(PASSWORDS))}\n", encoding="utf-8")
    return path


def record(
    db: Path, steps: Steps, rounds: int, shown: Callbacks
) -> tuple[RecordSummary, ScenarioSummary]:
    """The scenario through the recorder in front of a fresh Flask instance."""
    total = planned_count(rounds)
    with (
        steps.step("record", f"recording the scenario ({total} requests) in front of Flask"),
        start_server("flask") as origin,
        Recording(
            RecordOptions(upstream=origin.url, db=db, listen_port=free_port(), session=SESSION)
        ) as rec,
    ):
        if shown.on_total:
            shown.on_total("record", total)
        sent = run_scenario(rec.url, rounds=rounds, on_done=shown.on_request)
        if sent.unexpected:  # the recorded instance did not answer as the scenario planned
            shown.announce(f"warning: {len(sent.unexpected)} answers not as planned while "
                           f"recording, e.g. {sent.unexpected[0]}")  # fmt: skip
        return rec.stop(), sent


def lockstep_config(
    primary: RunningServer, secondary: RunningServer, candidate: RunningServer, secrets: Path
) -> ReplayConfig:
    """Lockstep in identity order, chained, with the passwords supplied."""
    return ReplayConfig(
        target=candidate.url,
        primary=primary.url,
        secondary=secondary.url,
        session=SESSION,
        name=RUN,
        concurrency=CONCURRENCY,
        order="identity",
        secrets=str(secrets),
    )


def replay_callbacks(shown: Callbacks) -> dict[str, Any]:
    """`replay`'s progress, on_start and notices (a warning is never silent) for the
    caller's callbacks."""
    out: dict[str, Any] = {"notice": shown.announce}
    on_replay, on_total = shown.on_replay, shown.on_total
    if on_replay is not None:
        out["progress"] = lambda _outcome: on_replay()
    if on_total is not None:
        out["on_start"] = lambda n: on_total("replay", n)
    return out


def run_stateful(
    workdir: Path,
    *,
    rounds: int = DEFAULT_ROUNDS,
    regression: bool = False,
    report_path: Path,
    shown: Callbacks | None = None,
) -> StatefulResult:
    """Record, start fresh instances, replay in lockstep, diff and gate."""
    shown = shown or Callbacks()
    steps = Steps(shown.announce)
    db = workdir / "demo.db"
    rules, _ = load_ruleset(None, preset=True)  # the shipped preset alone: no demo rules
    with sigterm_as_interrupt(), ExitStack() as stack:
        recorded, sent = record(db, steps, rounds, shown)
        secrets_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sd-secrets-")))
        with steps.step("start", "starting fresh instances: primary, secondary (Flask), port"):
            primary = stack.enter_context(start_server("flask"))
            secondary = stack.enter_context(start_server("flask"))
            candidate = stack.enter_context(start_server("fastapi", regression=regression))
        config = lockstep_config(primary, secondary, candidate, write_secrets(secrets_dir))
        with Store.open(db) as store:
            with steps.step("replay", "replaying in lockstep: primary, candidate, secondary"):
                replayed = replay(store, config, **replay_callbacks(shown))
                if replayed.signum is not None:
                    raise KeyboardInterrupt
            with steps.step("diff", "diffing against the primary, with the preset"):
                diffed, _ = diff_run(store, replayed.run.id, rules)
            with steps.step("gate", "gating"):
                gate = evaluate(store, replayed.run.id, GateLimits())
            figures = stateful_figures(store, replayed.run)
    return StatefulResult(
        db, report_path, sent, recorded, replayed, diffed, gate, steps.timings, figures
    )


def stateful_demo(
    *,
    keep: Path | None = None,
    rounds: int = DEFAULT_ROUNDS,
    regression: bool = False,
    report_path: Path | None = None,
    shown: Callbacks | None = None,
) -> StatefulResult:
    """The stateful demo in `keep` (or a temporary folder, removed after); the result
    carries the report, also written as HTML to `report_path`."""
    folder, cleanup = demo_workdir(keep)
    report_path = report_path or default_report_path(keep)
    try:
        result = run_stateful(
            folder, rounds=rounds, regression=regression, report_path=report_path, shown=shown
        )
        with Store.open(result.db, readonly=True) as store:
            result.report = build_report(store, result.replayed.run.id)
        render(result.report, "html", report_path)
    finally:
        cleanup()
    return result
