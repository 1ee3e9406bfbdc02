"""The `chains` command: a session's chains of server-issued values, with counts."""

from __future__ import annotations

import json
from pathlib import Path

import click

from shadowdiff.cli.errors import UserError
from shadowdiff.cli.options import db_option
from shadowdiff.cli.output import console, table


@click.command("chains")
@click.argument("session", required=False)
@db_option
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Rules file whose [[chains]] add or turn off chains (default: shadowdiff.toml or "
    "pyproject.toml found from here, as replay does).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the chains as JSON.")
def chains_cmd(session: str | None, db: Path, rules_file: Path | None, as_json: bool) -> None:
    """List the chains of SESSION (default: the latest): a value a response issued (an
    id, a token through its redaction token, a cookie) that later requests send back.
    Each row: the producer (endpoint and location), the consumer, how many values went
    that way, one recorded example, and whether replay uses it (a rules file's
    [[chains]] can add one or turn one off). At replay each target's own values are put
    in the requests that use them and mapped back in its answers; --no-chains turns
    that off.

    Example:

    \b
        shadowdiff chains prod --json
    """
    from shadowdiff.analysis.diffrun import load_ruleset
    from shadowdiff.chains.stored import session_chainset
    from shadowdiff.store import Store

    rules = load_ruleset(rules_file, preset=False, search_dir=Path.cwd())[0].chains
    if not db.exists():
        raise UserError(f"{db} does not exist; record or import traffic first")
    with Store.open(db) as store:  # not read-only: chains not yet detected are stored
        found = store.session(session) if session else store.latest_session()
        total = store.session_totals(found.id)[0]
        chains = session_chainset(store, found.id, total, rules).chains
    chains = sorted(chains, key=lambda c: (-c.uses, c.producer_endpoint, c.consumer_endpoint))
    if as_json:
        listed = [
            {("count" if k == "uses" else k): v for k, v in c._asdict().items()} for c in chains
        ]
        click.echo(json.dumps(listed))
        return
    rows = [
        (
            f"{c.producer_endpoint} {c.producer_location}",
            f"{c.consumer_endpoint} {c.consumer_location}",
            str(c.uses),
            c.example,
            ("on" if c.enabled else "off") + ("" if c.origin == "detected" else f" ({c.origin})"),
        )
        for c in chains
    ]
    title = f"chains in session {found.name} ({total} exchanges)"
    header = ("producer", "consumer", "count", "example", "used")
    console.print(table(title, header, rows, ["count"]))
    off = sum(not c.enabled for c in chains)
    console.print(
        f"{len(chains)} chains, {sum(c.uses for c in chains)} values chained"
        + (f"; {off} turned off by the rules file" if off else ""),
        markup=False,
    )
