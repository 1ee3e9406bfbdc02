"""Commands that replay and diff: `replay`, `diff`, `runs`; `replay-diff`: cli/replaydiff.py."""

from __future__ import annotations

import shlex
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from shadowdiff.cli.errors import UserError
from shadowdiff.cli.options import (
    count_volatile_option,
    db_option,
    jobs_option,
    openapi_option,
    replay_options,
    rules_options,
)
from shadowdiff.cli.output import console, err_console, print_lines, say, table, timestamp
from shadowdiff.cli.progress import Bar, Bars
from shadowdiff.formatting import pct, visible

if TYPE_CHECKING:
    from shadowdiff.analysis.diffrun import DiffSummary
    from shadowdiff.differ import RuleSet
    from shadowdiff.openapi import Spec
    from shadowdiff.replayer.engine import Outcome, ReplayResult, WorkFn
    from shadowdiff.store import Store


class _Told:
    """What a replay tells the terminal as it goes: its bars, warnings and signals."""

    def __init__(self, bars: Bars) -> None:
        self.bars = bars
        self.bar: Bar | None = None

    def outcome(self, outcome: Outcome) -> None:
        if self.bar is not None:
            self.bar.advance(failed=outcome.failed)

    def start(self, total: int) -> None:
        self.bar = self.bars.add("replay", total)

    def prepare(self, total: int) -> Callable[[int], None]:
        """A bar for a chain detection that reads the session first."""
        return self.bars.add("chains", total, failures=None).advance

    def warn(self, line: str) -> None:
        self.bars.note(line, label="warning:", style="yellow")

    @staticmethod
    def signalled(signum: int) -> None:
        err_console.print(
            f"{signal.Signals(signum).name}: finishing the requests in flight, then "
            "stopping (signal again to stop at once)"
        )


def run_replay(
    store: Store,
    resume_run: str | None,
    headers: tuple[str, ...],
    on_work: WorkFn | None = None,
    **kw: Any,
) -> ReplayResult:
    """Build the config, run the replay with a progress bar, print the summary
    (`on_work`: see `replay`)."""

    from shadowdiff.replayer.build import parse_header_option
    from shadowdiff.replayer.engine import ReplayConfig, replay
    from shadowdiff.replayer.resume import resume

    parsed = [parse_header_option(h) for h in headers]
    if resume_run is None and not kw.get("target"):
        raise UserError("--target is required (or --resume RUN to continue a run)")
    with Bars(err_console) as bars:
        told = _Told(bars)
        if resume_run is not None:
            kw.pop("max_body", None)  # a resume reads as much as the run it continues
            result = resume(
                store,
                resume_run,
                headers=parsed,
                progress=told.outcome,
                on_start=told.start,
                notice=told.warn,
                on_signal=told.signalled,
            )
        else:
            config = ReplayConfig(headers=parsed, **kw)
            result = replay(
                store,
                config,
                progress=told.outcome,
                on_start=told.start,
                notice=told.warn,
                on_signal=told.signalled,
                on_work=on_work,
                on_prepare=told.prepare,
            )
    render_replay(result)
    return result


def render_replay(result: ReplayResult) -> None:
    base = f"; baseline run {result.baseline.name}" if result.baseline else ""
    if result.primary is not None:  # lockstep: name the three targets
        second = f", secondary {result.baseline.target}" if result.baseline else ""
        base = (
            f"; lockstep: primary {result.primary.target}, candidate {result.run.target}"
            f"{second} (runs {', '.join(_lockstep_names(result))})"
        )
    three = " (each to 3 targets)" if result.primary is not None and result.baseline else ""
    three = three or (" (each to 2 targets)" if result.primary is not None else "")
    say(
        f"run {result.run.name}: sent {result.sent} of {result.selected} requests{three} "
        f"in {result.elapsed:.1f}s ({result.rate:.0f}/s), failed {result.failed}"
        + (f", skipped {result.skipped} truncated" if result.skipped else "")
        + (f", {result.truncated} responses cut at --max-body" if result.truncated else "")
        + (f", retried {result.retried} on a fresh connection" if result.retried else "")
        + (f", {result.chained} answers chained" if result.chained else "")
        + (f", {result.unchained} unchained" if result.unchained else "")
        + base
    )
    if result.pattern_timeouts:
        console.print(
            f"left out {result.pattern_timeouts} requests: the --only/--exclude regex took "
            "too long on them (a search that runs out of time never replays its request)"
        )
    if result.unchained:
        console.print(
            f"{result.unchained} requests used a value their target never issued (the "
            "answer it was chained from lacked it); they went as recorded, flagged unchained",
            markup=False,
        )
    if result.resend is not None and result.resend.count:
        unsafe = ", ".join(f"{n} {m}" for m, n in sorted(result.resend.unsafe.items()))
        text = (
            f"resume: up to {result.resend.count} requests were sent again that the "
            "target may have handled already (the run was killed with them in flight)"
            + (f"; non-idempotent among them: {unsafe}" if unsafe else "")
        )
        console.print(Text(visible(text), style="yellow"))


def _lockstep_names(result: ReplayResult) -> list[str]:
    runs = (result.primary, result.run, result.baseline)
    return [r.name for r in runs if r is not None]


def interrupted(
    result: ReplayResult, db: Path, command: str, extra: tuple[str, ...] = ()
) -> SystemExit:
    """Say how to continue an interrupted run; the exit status of its signal (130, 143)."""
    assert result.signum is not None
    names = result.run.config.get("headers", [])
    again = [command, "--db", str(db), "--resume", result.run.name, *extra]
    for name in names:
        again += ["--header", f"{name}: ..."]
    err_console.print(
        f"interrupted by {signal.Signals(result.signum).name}: every answer received is "
        f"stored (run {result.run.name} is interrupted); to send the rest run:"
    )
    click.echo("shadowdiff " + shlex.join(again))
    return SystemExit(128 + result.signum)


@click.command("replay")
@replay_options
@db_option
def replay_cmd(db: Path, resume_run: str | None, headers: tuple[str, ...], **kw: Any) -> None:
    """Replay a recorded session to a target and store every response in a run.

    Requests go out byte for byte as recorded (method, path, query, body, header
    names and order), minus hop-by-hop headers, with the recorded Host (--host target
    sends the target's) and no redirects followed. A request that fails on a reused
    keep-alive connection before any response byte is retried once on a fresh one.
    Each client's requests go out in recorded order, one at a time, clients concurrently
    (--order identity; strict: one sequence; none: all independent). Ids and tokens a
    target issued are put into the later requests that use them, and mapped back in its
    answers (chains: see `shadowdiff chains`; --no-chains). Failures (refused,
    reset, timeout) are stored as outcomes. Bodies over --max-body are read no further
    and stored truncated. Exit 0 when every request got an answer, 1 when some failed.
    SIGINT/SIGTERM stop it: the answers received are stored, the run is marked
    interrupted, the --resume command to finish it is printed, and the exit status is
    130/143. Lockstep: with --primary URL (a live old instance; --secondary URL a second
    one) each request goes to the primary, the target and the secondary as one step, and
    the primary's answers are the old side of the diff (the recording's are kept: how far
    the primary drifted from them is reported).

    Example:

    \b
        shadowdiff replay --target http://127.0.0.1:8001 --baseline http://127.0.0.1:8000 -c 32
    """
    from shadowdiff.analysis.diffrun import load_ruleset
    from shadowdiff.store import Store

    kw["methods"] = list(kw["methods"])
    # the rules file found from here may choose the client identity (`identity = "..."`)
    found = load_ruleset(None, preset=False, search_dir=Path.cwd())[0]
    kw["identity"] = found.identity
    kw["chain_rules"] = [rule.stored() for rule in found.chains]
    with Store.open(db) as store:
        result = run_replay(store, resume_run, headers, **kw)
    if result.signum is not None:
        raise interrupted(result, db, "replay")
    if result.failed:
        raise SystemExit(1)


def check_rules_file(rules_file: Path | None) -> None:
    if rules_file is not None and not rules_file.is_file():
        raise UserError(f"rules file {rules_file} does not exist")


def diff_inputs(
    rules_file: Path | None, no_preset: bool, openapi: str | None
) -> tuple[RuleSet, list[str], Spec | None]:
    """The rules in force, where they came from, and the OpenAPI spec (if any)."""
    from shadowdiff.analysis.diffrun import load_ruleset
    from shadowdiff.openapi import load_spec

    check_rules_file(rules_file)
    rules, sources = load_ruleset(rules_file, preset=not no_preset, search_dir=Path.cwd())
    source = openapi or rules.openapi
    return rules, sources, load_spec(source) if source else None


def run_diff(
    store: Store,
    run_ref: str,
    rules_file: Path | None,
    no_preset: bool,
    openapi: str | None = None,
    jobs: int = 1,
    count_volatile: bool = False,
) -> DiffSummary:
    """Diff a run with a progress bar and print what was found (with a spec: its coverage)."""
    from shadowdiff.analysis.diffrun import count_replays
    from shadowdiff.analysis.parallel import diff_run_jobs

    rules, sources, spec = diff_inputs(rules_file, no_preset, openapi)
    run = store.run(run_ref)
    with Bars(err_console) as bars:
        bar = bars.add("diff", count_replays(store, run))
        cand, base = diff_run_jobs(
            store,
            run.id,
            rules,
            progress=lambda n: bar.advance(n),
            spec=spec,
            jobs=jobs,
            count_volatile=count_volatile,
        )
    render_diffed(store, cand, base, sources)
    return cand


def render_diffed(
    store: Store, cand: DiffSummary, base: DiffSummary | None, sources: list[str]
) -> None:
    """The diff's summary, the baseline's drift (not in lockstep) and the spec's coverage."""
    render_diff_summary(cand, base, sources)
    if base is not None and cand.primary is None:
        from shadowdiff.analysis.drift import baseline_drift

        drift = baseline_drift(store, base.run)
        if drift is not None:
            console.print(Text(visible(drift.line), style="yellow"))
    if cand.spec is not None:
        print_lines(cand.spec.lines())


def render_diff_summary(cand: DiffSummary, base: DiffSummary | None, sources: list[str]) -> None:
    say(
        f"run {cand.run.name}: {cand.total} compared, {cand.same} same, ",
        Text(f"{cand.different} different", style="bold"),
        f" ({pct(cand.diff_rate)}), {cand.errors} errors"
        + (f"; baseline (old vs old): {base.different} different" if base else "")
        + f"; rules from {', '.join(sources) or 'nothing'}",
    )
    if cand.primary is not None:
        p = cand.primary
        say(
            f"lockstep: old = the primary's answers (run {p.run.name}); the primary differs "
            f"from the recording on {p.different} of {p.same + p.different} (drift)"
        )
    if cand.volatile:
        why = "confirmed by the baseline" if base else "likely volatile, no baseline"
        say(
            f"{cand.volatile} differences of volatile values not counted ({why}; "
            "--count-volatile counts them)"
        )
    for summary in (cand, base):
        for failure in summary.failures if summary else []:
            err_console.print(Text(visible(f"could not diff {failure}"), style="yellow"))
    if cand.findings:
        found = [(f.finding_id, f.text, f.coverage) for f in cand.findings[:20]]
        console.print(table("run-wide findings", ("id", "finding", "coverage"), found))
    if cand.signatures:
        rows = [(str(n), text) for text, n in cand.signatures.most_common(20)]
        console.print(table("root causes (signatures)", ("count", "signature"), rows, ["count"]))
    hits = [
        (name, str(n) if n else Text("0 (matched nothing)", style="yellow"))
        for name, n in cand.rule_hits.items()
    ]
    console.print(table("rule hits", ("rule", "hits"), hits, ["hits"]))


@click.command("diff")
@click.argument("run")
@rules_options
@openapi_option
@jobs_option
@count_volatile_option
@db_option
def diff_cmd(
    run: str,
    rules_file: Path | None,
    no_preset: bool,
    openapi: str | None,
    jobs: int,
    count_volatile: bool,
    db: Path,
) -> None:
    """Recompute the diffs of a stored run without replaying (replaces earlier ones).

    Compares each recorded response with the replayed one under the rules, and stores
    per exchange a verdict and signature (`diffs`), per field the difference
    (`diff_fields`) and per rule its hits (`rule_hits`). With an OpenAPI spec (--openapi,
    or `openapi = "..."` in the rules file) endpoints are the spec's templates, and old and
    new responses are validated against its schemas (findings of kind `schema`).
    --jobs N diffs chunks of the run in N worker processes, with the same results.
    Differences of volatile values (ids, tokens, timestamps near the exchange's time, of
    one shape on both sides) do not count unless --count-volatile, or a baseline run shows
    the old service stable there; the report lists them.

    Example:

    \b
        shadowdiff diff candidate-20261121-101500 --rules shadowdiff.toml \\
            --openapi http://127.0.0.1:8001/openapi.json
    """
    from shadowdiff.store import Store

    with Store.open(db) as store:
        run_diff(store, run, rules_file, no_preset, openapi, jobs, count_volatile)


@click.command("runs")
@db_option
def runs_cmd(db: Path) -> None:
    """List replay runs with their session, target and status.

    Example:

    \b
        shadowdiff runs
    """
    from shadowdiff.store import Store

    with Store.open(db, readonly=True) as store:
        runs = store.list_runs()
        names = {s.session.id: s.session.name for s in store.list_sessions()}
    rows = [
        (r.name, r.kind, names.get(r.session_id, "?"), r.target, r.status, timestamp(r.started_at))
        for r in runs
    ]
    columns = ("name", "kind", "session", "target", "status", "started")
    console.print(table(f"runs in {db}", columns, rows))
