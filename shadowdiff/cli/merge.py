"""`shadowdiff merge OUT.db IN.db...`: shards and recorders combined into one database."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import click

from shadowdiff.cli.errors import UserError
from shadowdiff.cli.output import console, say


@click.command("merge")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def merge_cmd(out: Path, inputs: tuple[Path, ...]) -> None:
    """Combine sessions, runs, replays and diffs of several databases into OUT.

    Ids are renumbered, blobs shared. A session name found in two inputs must be the same
    session (same upstream and exchanges); a run name found in two inputs (the shards of
    one replay) must be replayed the same way against the same target and diffed under
    the same rules: its replays are unioned and its results dropped, so diff it again
    (`shadowdiff diff RUN`, printed below). Anything else is refused, and OUT is left as it
    was: the merge is written to OUT.merging and renamed over OUT at the end.

    Example:

    \b
        shadowdiff merge merged.db shard-1.db shard-2.db && \\
            shadowdiff diff candidate --db merged.db && shadowdiff gate candidate --db merged.db
    """
    from shadowdiff.store import Store

    for path in inputs:
        if path.resolve() == out.resolve():
            raise UserError(f"{path} is both OUT and an input; write the merge to a new file")
        with Store.open(path, readonly=True):  # not SQLite, not shadowdiff, too old: refused
            pass
    partial = out.with_name(out.name + ".merging")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    if out.exists():
        with Store.open(out) as existing, Store.open(partial) as copy:
            existing.db.conn.backup(copy.db.conn)
    try:
        with Store.open(partial) as store:
            summary = store.merge_from(inputs)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, out)
    say(
        f"merged {len(inputs)} databases into {out}: sessions "
        f"{', '.join(summary.sessions_added + summary.sessions_shared) or 'none'}; "
        f"{summary.exchanges} exchanges, {summary.replays} replays; runs "
        f"{', '.join(summary.runs_added + summary.runs_unioned) or 'none'}"
    )
    for note in summary.notes:
        console.print(f"[yellow]note:[/] {note}")
    for name in summary.runs_unioned:
        again = shlex.join(["shadowdiff", "diff", name, "--db", str(out)])
        click.echo(f"run {name} was unioned from shards; diff it again: {again}")
