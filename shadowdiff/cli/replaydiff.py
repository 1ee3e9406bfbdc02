"""`replay-diff`: replay a session and diff the run as it is replayed (a diff process
follows the replay: analysis/pipeline.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from shadowdiff.cli.options import (
    count_volatile_option,
    db_option,
    jobs_option,
    openapi_option,
    replay_options,
    rules_options,
)
from shadowdiff.cli.output import err_console
from shadowdiff.cli.progress import Bars
from shadowdiff.cli.replay import (
    check_rules_file,
    diff_inputs,
    interrupted,
    render_diffed,
    run_diff,
    run_replay,
)

if TYPE_CHECKING:
    from shadowdiff.differ import RuleSet
    from shadowdiff.openapi import Spec
    from shadowdiff.replayer.engine import ReplayResult
    from shadowdiff.store import Store

__all__ = ["replay_diff_cmd"]


@click.command("replay-diff")
@replay_options
@rules_options
@openapi_option
@jobs_option
@count_volatile_option
@db_option
def replay_diff_cmd(
    db: Path,
    resume_run: str | None,
    headers: tuple[str, ...],
    rules_file: Path | None,
    no_preset: bool,
    openapi: str | None,
    jobs: int,
    count_volatile: bool,
    **kw: Any,
) -> None:
    """Replay a session to a target and diff the run as it is replayed.

    Takes the options of `replay` and of `diff`. A second process diffs the answers as
    they are stored, on CPU the replay leaves idle (the results are those of `replay`
    then `diff`); when the replay ends, the rest is diffed on --jobs processes.
    Interrupted (SIGINT/SIGTERM), what was answered is diffed and the --resume command
    is printed; a resumed run is diffed after its replay (with --jobs). If the diff
    process dies, the replay's data is kept: `shadowdiff diff RUN` diffs it.

    Example:

    \b
        shadowdiff replay-diff --target http://127.0.0.1:8001 --baseline http://127.0.0.1:8000
    """
    from shadowdiff.store import Store

    kw["methods"] = list(kw["methods"])
    check_rules_file(rules_file)
    # fail before sending; the rules may choose the client identity (`identity = "..."`)
    rules, sources, spec = diff_inputs(rules_file, no_preset, openapi)
    kw["identity"] = rules.identity
    kw["chain_rules"] = [rule.stored() for rule in rules.chains]
    with Store.open(db) as store:
        if resume_run is None:
            diffing = (rules, spec, sources, count_volatile, jobs)
            result = replay_following(store, headers, diffing, **kw)
        else:
            result = run_replay(store, resume_run, headers, **kw)
        if result.signum is not None:
            rules_flag = ("--rules", str(rules_file)) if rules_file else ()
            spec_flag = ("--openapi", openapi) if openapi else ()
            flags = (
                *rules_flag,
                *(("--no-preset",) * no_preset),
                *spec_flag,
                *(("--count-volatile",) * count_volatile),
            )
            raise interrupted(result, db, "replay-diff", flags)
        if resume_run is not None:
            run_diff(store, result.run.name, rules_file, no_preset, openapi, jobs, count_volatile)
    if result.failed:
        raise SystemExit(1)


def replay_following(
    store: Store,
    headers: tuple[str, ...],
    diffing: tuple[RuleSet, Spec | None, list[str], bool, int],
    **kw: Any,
) -> ReplayResult:
    """Replay with a diff process following the run (analysis/pipeline.py); print both.
    `diffing`: the rules, the spec, where the rules came from, --count-volatile, --jobs."""
    from shadowdiff.analysis.diffrun import count_replays
    from shadowdiff.analysis.pipeline import Follower

    rules, spec, sources, count_volatile, jobs = diffing
    with Follower(store.path, rules, spec, count_volatile) as follower:
        result = run_replay(store, None, headers, on_work=follower.work, **kw)
        with Bars(err_console) as bars:
            bar = bars.add("diff", count_replays(store, result.run))
            cand, base = follower.finish(store, lambda n: bar.advance(n), jobs)
    render_diffed(store, cand, base, sources)
    return result
