"""The `secrets` command: each redacted value of a session, where it appears, who supplies it."""

from __future__ import annotations

from pathlib import Path

import click

from shadowdiff.cli.options import db_option
from shadowdiff.cli.output import console, table

SHOWN_PLACES = 4  # places listed per value; the rest are counted


@click.command("secrets")
@click.argument("session")
@db_option
@click.option(
    "--secrets",
    "secrets_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The TOML file you pass to replay: shows which values it supplies.",
)
def secrets_cmd(session: str, db: Path, secrets_file: Path | None) -> None:
    """List each redacted value of SESSION by its token: where it appears (header,
    cookie, JSON body path, form field, query parameter; in requests or answers), in how
    many exchanges, and whether --secrets supplies it ("chains": a value a server issued,
    which replay takes from the target's own answer; see `shadowdiff chains`). Values
    sent in requests that nothing supplies go out without them at replay (flagged
    unsupplied-secret); values only in answers need nothing. The values themselves are
    never stored.

    Example:

    \b
        shadowdiff secrets prod --secrets secrets.toml
    """
    from shadowdiff.analysis.secret_sites import secret_sites
    from shadowdiff.replayer.secrets import SecretBook
    from shadowdiff.store import Store

    with Store.open(db, readonly=True) as store:
        key = store.meta("redaction_key")  # none yet: nothing was ever redacted
        book = SecretBook.load(secrets_file, bytes.fromhex(key or "")) if secrets_file else None
        found = secret_sites(store, session, book)
    rows = []
    for site in found.sites:
        places = [f"{w} x{n}" for w, n in site.where.most_common(SHOWN_PLACES)]
        if len(site.where) > SHOWN_PLACES:
            places.append(f"+{len(site.where) - SHOWN_PLACES} more")
        supplied = "yes" if site.supplied else ("no" if site.sent else "- (answers only)")
        supplied = "chains" if site.chained and not site.supplied else supplied
        rows.append((site.token, ", ".join(places), str(site.exchanges), supplied))
    title = f"redacted values in session {found.session} ({found.exchanges} exchanges)"
    console.print(table(title, ("token", "where", "exchanges", "supplied"), rows, ["exchanges"]))
    more = f" ({found.more} more not listed)" if found.more else ""
    console.print(
        f"{len(found.sites)} redacted values{more}; {len(found.unsupplied)} sent in requests "
        "and not supplied (nor by chains)"
        + ("" if book is not None else " (no --secrets file given)"),
        markup=False,
    )
