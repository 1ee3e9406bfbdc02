"""`compare`: diff two recorded sessions of one scenario, with no replay."""

from __future__ import annotations

from pathlib import Path

import click

from shadowdiff.cli.options import db_option, jobs_option, openapi_option, rules_options
from shadowdiff.cli.output import say


@click.command("compare")
@click.argument("session_a")
@click.argument("session_b")
@click.option("--name", help="Name of the run (default: candidate-<time>).")
@rules_options
@openapi_option
@jobs_option
@db_option
def compare_cmd(
    session_a: str,
    session_b: str,
    name: str | None,
    rules_file: Path | None,
    no_preset: bool,
    openapi: str | None,
    jobs: int,
    db: Path,
) -> None:
    """Diff two recorded sessions of the same scripted scenario, with no replay.

    Record (or import) the scenario once in front of each server; exchanges are aligned
    by client identity (its token, session cookie or address; identities whose tokens
    differ are matched by order of first appearance) and by order within it, and must
    agree on method and endpoint. The result is a run on SESSION_A (target
    session:SESSION_B) whose answers are B's, diffed under the rules like any run, so
    report, gate and query work on it; requests that do not align are error outcomes of
    kind `unaligned`.

    Example:

    \b
        shadowdiff compare scenario-flask scenario-fastapi --rules shadowdiff.toml
    """
    from shadowdiff.analysis.compare import compare_sessions
    from shadowdiff.analysis.diffrun import load_ruleset
    from shadowdiff.cli.replay import check_rules_file, run_diff
    from shadowdiff.store import Store

    check_rules_file(rules_file)
    rules, _ = load_ruleset(rules_file, preset=not no_preset, search_dir=Path.cwd())
    with Store.open(db) as store:
        done = compare_sessions(store, session_a, session_b, name=name, identity=rules.identity)
        say(
            f"run {done.run.name}: {done.aligned} exchanges of {session_a} aligned with "
            f"{session_b}, {done.unaligned} unaligned (error kind unaligned), "
            f"{done.b_only} of {session_b}'s requests have no partner in {session_a}"
            + (f"; {done.chained} answers mapped through chains" if done.chained else "")
        )
        run_diff(store, done.run.name, rules_file, no_preset, openapi, jobs)
