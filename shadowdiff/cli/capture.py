"""Commands that capture traffic: `record`, `import`, `sessions`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from shadowdiff.cli.errors import UserError
from shadowdiff.cli.options import db_option
from shadowdiff.cli.output import console, err_console, say, table, timestamp
from shadowdiff.cli.progress import Bar, Bars

if TYPE_CHECKING:
    from shadowdiff.recorder.launcher import Recording, RecordSummary

F = TypeVar("F", bound=Callable[..., Any])
#: shadowdiff.redaction.DEFAULT_NAMES, spelled here so that --help imports nothing heavy
SECRET_NAMES = (
    "authorization, proxy-authorization, cookie, set-cookie, x-api-key, password, passwd, "
    "pwd, secret, token, access_token, refresh_token, id_token, api_key, apikey, client_secret"
)


def redact_options(f: F) -> F:
    """`--redact NAME` and `--keep NAME` (alias `--keep-header`), for record and import."""
    f = click.option(
        "--keep",
        "--keep-header",
        "keep",
        multiple=True,
        help="Name to keep in clear (repeatable): taken off the redacted names.",
    )(f)
    return click.option(
        "--redact",
        "redact",
        multiple=True,
        help="Name to redact (repeatable), added to the defaults: header, cookie, JSON key, "
        f"form field and query parameter names ({SECRET_NAMES}).",
    )(f)


@click.command()
@click.option("--upstream", required=True, help="Service to record, e.g. http://127.0.0.1:5000")
@click.option(
    "--listen", default="127.0.0.1:8080", show_default=True, help="HOST:PORT to proxy on."
)
@db_option
@click.option("--session", help="Session name (default: proxy-<time>); an existing one appends.")
@redact_options
@click.option("--max-body", type=click.IntRange(min=1), help="Truncate bodies above N bytes.")
@click.option(
    "--sample",
    type=click.FloatRange(0, 1, min_open=True),
    default=1.0,
    show_default=True,
    help="Fraction of exchanges to record.",
)
@click.option("--path-filter", help="Record only paths matching this regular expression.")
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop by itself after this many seconds.",
)
def record(
    upstream: str,
    listen: str,
    db: Path,
    session: str | None,
    redact: tuple[str, ...],
    keep: tuple[str, ...],
    max_body: int | None,
    sample: float,
    path_filter: str | None,
    duration: float | None,
) -> None:
    """Record traffic through a reverse proxy in front of UPSTREAM into the database.

    Runs mitmdump with the shadowdiff recorder addon. Secrets (Authorization credentials,
    cookie values, API-key headers; passwords, tokens and keys in JSON bodies, forms and
    query parameters) are replaced by stable tokens: see `shadowdiff secrets`. Stop with
    Ctrl-C (or SIGTERM); the queue is flushed and a summary printed.

    Example:

    \b
        shadowdiff record --upstream http://127.0.0.1:5000 --listen 127.0.0.1:8080 --session prod
    """
    from shadowdiff.recorder.launcher import RecordOptions, parse_listen
    from shadowdiff.recorder.launcher import record as run_recording

    host, port = parse_listen(listen)
    opts = RecordOptions(
        upstream=upstream,
        db=db,
        listen_host=host,
        listen_port=port,
        session=session,
        redact=list(redact),
        keep_headers=list(keep),
        max_body=max_body,
        sample=sample,
        path_filter=path_filter,
    )
    with Bars(err_console, transient=True) as bars:
        live = LiveCounters(bars)
        summary = run_recording(opts, duration=duration, on_start=live.start, on_tick=live.tick)
    render_record_summary(summary)


class LiveCounters:
    """Record's live line: stored (of no known total), dropped, requests per second."""

    def __init__(self, bars: Bars) -> None:
        self.bars = bars
        self.bar: Bar | None = None

    def start(self, rec: Recording) -> None:
        self.bars.note(
            f"recording {rec.url} -> {rec.opts.upstream} into {rec.opts.db} "
            f"(session {rec.opts.session}); Ctrl-C to stop"
        )
        self.bar = self.bars.add("record", None, failures="dropped")

    def tick(self, stats: dict[str, Any], elapsed: float) -> None:
        if self.bar is not None:
            self.bar.update(int(stats.get("stored", 0)), int(stats.get("dropped", 0)))


def render_record_summary(summary: RecordSummary) -> None:
    source = f" (counted in the database: the recorder was killed by {summary.killed})"
    say(
        f"session {summary.session}: stored {summary.stored}, dropped {summary.dropped}, "
        f"bytes {summary.bytes}"
        + (source if summary.killed else "")
        + (f"; {summary.chains} chains (`shadowdiff chains`)" if summary.chains else "")
    )
    if summary.chain_warning:
        say(f"warning: {summary.chain_warning}", target=err_console)
    if summary.dropped:
        warning = f"warning: {summary.dropped} exchanges not stored: {summary.last_error}"
        say(warning, target=err_console)
    if summary.crashed and summary.killed:
        raise UserError(
            f"mitmdump was killed by {summary.killed}; the {summary.stored} exchanges it had "
            "stored are kept, any it had not written yet are lost"
        )
    if summary.crashed:
        raise UserError(f"mitmdump stopped unexpectedly (exit {summary.exit_code})")


@click.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@db_option
@click.option(
    "--session",
    help="Name of the new session (default: har-/mitm-<timestamp>); a name in use is refused.",
)
@click.option("--partial", is_flag=True, help="Keep the complete flows of a truncated flow file.")
@redact_options
def import_(
    file: Path,
    db: Path,
    session: str | None,
    partial: bool,
    redact: tuple[str, ...],
    keep: tuple[str, ...],
) -> None:
    """Import a HAR file or a mitmproxy flow file (`mitmdump -w`) as a new session.

    Secrets are redacted as when recording (`--redact` / `--keep` likewise).

    Example:

    \b
        shadowdiff import capture.har --session from-browser
    """
    from shadowdiff.recorder.capture import CapturePolicy
    from shadowdiff.recorder.importers import import_file
    from shadowdiff.store import Store

    with Store.open(db) as store:
        policy = CapturePolicy.build(redact=redact, keep=keep, key=store.redaction_key())
        result = import_file(store, file, session=session, policy=policy, partial=partial)
        store.save_redaction_names(result.session.id, policy.redaction.names)
    note = f" ({result.skipped} non-HTTP flows skipped)" if result.skipped else ""
    say(
        f"imported {result.imported} exchanges from {file} ({result.source}) "
        f"into session {result.session.name}{note}"
        + (f"; {result.chains} chains (`shadowdiff chains`)" if result.chains else "")
    )
    if result.chain_warning:
        say(f"warning: {result.chain_warning}", target=err_console)


SESSION_COLUMNS = (
    "name",
    "source",
    "upstream",
    "exchanges",
    "errors",
    "first",
    "last",
    "span",
    "bytes",
)


@click.command()
@db_option
def sessions(db: Path) -> None:
    """List recorded sessions with their counts and time spans.

    Example:

    \b
        shadowdiff sessions --db shadowdiff.db
    """
    from shadowdiff.store import Store

    with Store.open(db, readonly=True) as store:
        rows = store.list_sessions()
    cells = [
        (
            s.session.name,
            s.session.source,
            s.session.upstream or "-",
            str(s.exchanges),
            str(s.errors),
            timestamp(s.first_at),
            timestamp(s.last_at),
            f"{(s.last_at - s.first_at) if s.first_at and s.last_at else 0.0:.1f}s",
            str(s.request_bytes + s.response_bytes),
        )
        for s in rows
    ]
    right = ("exchanges", "errors", "bytes")
    console.print(table(f"sessions in {db}", SESSION_COLUMNS, cells, right))
