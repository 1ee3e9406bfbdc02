"""The `shadowdiff` command line: a thin click layer over the library.

Each command parses options, calls one library function and renders its result. Known
failures (bad input, missing runs, unusable files) become a one-line error, exit 2.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shadowdiff.analysis.accept import accept, load_accepted
from shadowdiff.analysis.diffrun import DiffSummary, count_replays, diff_run, load_ruleset
from shadowdiff.analysis.gate import GateLimits, evaluate, write_junit
from shadowdiff.analysis.noise import measure_noise, propose_rules, render_toml
from shadowdiff.analysis.noise import verify as noise_verify
from shadowdiff.cli.progress import Bar, progress_bar, progress_display
from shadowdiff.demo.run import DEFAULT_REQUESTS, run_demo
from shadowdiff.demo.run import workdir as demo_workdir
from shadowdiff.errors import ShadowdiffError
from shadowdiff.recorder.launcher import Recording, RecordOptions, parse_listen
from shadowdiff.replayer.build import parse_header_option
from shadowdiff.replayer.engine import Outcome, ReplayConfig, ReplayResult, replay, resume
from shadowdiff.replayer.transport import TRANSPORTS
from shadowdiff.report import FORMATS, build_report, format_for_path, render
from shadowdiff.store import Store
from shadowdiff.store.query import QUERY_FORMATS, render_result, run_query

F = TypeVar("F", bound=Callable[..., Any])
# Wider than rich's 80 columns when piped (CI logs), so tables stay readable.
_PIPED_WIDTH = None if sys.stdout.isatty() else 120
console = Console(highlight=False, soft_wrap=True, width=_PIPED_WIDTH)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, width=_PIPED_WIDTH)


class UserError(click.ClickException):
    """A problem with what the user asked for: one line, exit code 2."""

    exit_code = 2


# The library's specific exceptions: each is a problem with the user's input or files.
KNOWN_ERRORS: tuple[type[Exception], ...] = (ShadowdiffError,)


class ShadowdiffGroup(click.Group):
    """Turns the library's specific exceptions into one-line errors (exit 2)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KNOWN_ERRORS as exc:
            raise UserError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc


def db_option(f: F) -> F:
    return click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        default="shadowdiff.db",
        envvar="SHADOWDIFF_DB",
        show_default=True,
        help="The shadowdiff SQLite database.",
    )(f)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("shadowdiff")
    except PackageNotFoundError:
        return "0+unknown"


@click.group(cls=ShadowdiffGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", prog_name="shadowdiff")
def cli() -> None:
    """Prove that a rewritten HTTP service answers exactly like the one it replaces.

    Record real traffic through a proxy in front of the old service, replay it to the
    new one, diff the answers semantically and gate CI on the result.

    Example:

    
        shadowdiff demo
    """


# ------------------------------------------------------------------- record
@cli.command()
@click.option("--upstream", required=True, help="Service to record, e.g. http://127.0.0.1:5000")
@click.option(
    "--listen", default="127.0.0.1:8080", show_default=True, help="HOST:PORT to proxy on."
)
@db_option
@click.option("--session", help="Session name (default: proxy-<time>); an existing one appends.")
@click.option(
    "--redact",
    "redact",
    multiple=True,
    help="Header to redact (repeatable); replaces the default list "
    "(authorization, proxy-authorization, cookie, set-cookie, x-api-key).",
)
@click.option("--keep-header", "keep", multiple=True, help="Header to keep in clear (repeatable).")
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

    Runs mitmdump with the shadowdiff recorder addon. Secrets in Authorization, Cookie,
    Set-Cookie and API-key headers are replaced by stable tokens. Stop with Ctrl-C (or
    SIGTERM); the queue is flushed and a summary printed.

    Example:

    
        shadowdiff record --upstream http://127.0.0.1:5000 --listen 127.0.0.1:8080 --session prod
    """
    host, port = parse_listen(listen)
    opts = RecordOptions(
        upstream=upstream,
        db=db,
        listen_host=host,
        listen_port=port,
        session=session,
        redact=list(redact) if redact else None,
        keep_headers=list(keep),
        max_body=max_body,
        sample=sample,
        path_filter=path_filter,
    )
    rec = Recording(opts)
    stop = {"flag": False}

    def _stop(*_: object) -> None:
        stop["flag"] = True

    old_int = signal.signal(signal.SIGINT, _stop)
    old_term = signal.signal(signal.SIGTERM, _stop)
    try:
        rec.start()
        err_console.print(
            f"recording {rec.url} -> {opts.upstream} into {db} (session {opts.session}); "
            "Ctrl-C to stop"
        )
        with Live(console=err_console, refresh_per_second=4, transient=True) as live:

            def show(stats: dict[str, Any], elapsed: float) -> None:
                stored = stats.get("stored", 0)
                live.update(
                    f"[bold]{stored}[/] stored, {stats.get('dropped', 0)} dropped, "
                    f"{stored / max(elapsed, 1e-9):.1f} req/s"
                )

            crashed = rec.follow(lambda: stop["flag"], show, duration=duration)
        summary = rec.stop()
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    console.print(
        f"session {summary.session}: stored {summary.stored}, dropped {summary.dropped}, "
        f"bytes {summary.bytes}"
    )
    if summary.dropped:
        err_console.print(f"warning: {summary.dropped} exchanges not stored: {summary.last_error}")
    if crashed and summary.exit_code not in (0, None):
        raise UserError(f"mitmdump stopped unexpectedly (exit {summary.exit_code})")


# ------------------------------------------------------------------- import
@cli.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@db_option
@click.option("--session", help="Name of the new session (default: har-/mitm-<timestamp>).")
@click.option("--partial", is_flag=True, help="Keep the complete flows of a truncated flow file.")
@click.option("--keep-header", "keep", multiple=True, help="Header to keep in clear (repeatable).")
def import_(
    file: Path, db: Path, session: str | None, partial: bool, keep: tuple[str, ...]
) -> None:
    """Import a HAR file or a mitmproxy flow file (`mitmdump -w`) as a new session.

    Secret headers are redacted as when recording.

    Example:

    
        shadowdiff import capture.har --session from-browser
    """
    from shadowdiff.recorder.capture import CapturePolicy
    from shadowdiff.recorder.importers import import_file

    with Store.open(db) as store:
        policy = CapturePolicy.build(keep=keep, key=store.redaction_key())
        result = import_file(store, file, session=session, policy=policy, partial=partial)
    note = f" ({result.skipped} non-HTTP flows skipped)" if result.skipped else ""
    console.print(
        f"imported {result.imported} exchanges from {file} ({result.source}) "
        f"into session {result.session.name}{note}"
    )


# ----------------------------------------------------------------- sessions
def _ts(value: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value)) if value else "-"


@cli.command()
@db_option
def sessions(db: Path) -> None:
    """List recorded sessions with their counts and time spans.

    Example:

    
        shadowdiff sessions --db shadowdiff.db
    """
    with Store.open(db, readonly=True) as store:
        rows = store.list_sessions()
    table = Table(title=f"sessions in {db}")
    for col in (
        "name",
        "source",
        "upstream",
        "exchanges",
        "errors",
        "first",
        "last",
        "span",
        "bytes",
    ):
        table.add_column(
            col, justify="right" if col in ("exchanges", "errors", "bytes") else "left"
        )
    for s in rows:
        span = (s.last_at - s.first_at) if s.first_at and s.last_at else 0.0
        table.add_row(
            s.session.name,
            s.session.source,
            s.session.upstream or "-",
            str(s.exchanges),
            str(s.errors),
            _ts(s.first_at),
            _ts(s.last_at),
            f"{span:.1f}s",
            str(s.request_bytes + s.response_bytes),
        )
    console.print(table)


# ------------------------------------------------------------------- replay
def replay_options(f: F) -> F:
    """The options shared by `replay` and `replay-diff`."""
    opts = [
        click.option("--target", help="The new service, e.g. http://127.0.0.1:8001"),
        click.option("--session", help="Session to replay (default: the latest)."),
        click.option("--baseline", help="Also send each request to the old service (noise)."),
        click.option(
            "--concurrency",
            "-c",
            type=click.IntRange(min=1),
            default=16,
            show_default=True,
            help="Requests in flight.",
        ),
        click.option(
            "--rate",
            type=click.FloatRange(min=0, min_open=True),
            help="At most this many requests per second.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            default=10.0,
            show_default=True,
            help="Seconds per request.",
        ),
        click.option(
            "--header",
            "headers",
            multiple=True,
            help="'Name: value' sent on every request; supplies redacted secrets.",
        ),
        click.option("--only", help="Replay only requests matching this regex (METHOD /path?q)."),
        click.option("--exclude", help="Skip requests matching this regex."),
        click.option("--method", "methods", multiple=True, help="Only these methods."),
        click.option(
            "--sample",
            type=click.FloatRange(0, 1, min_open=True),
            help="Replay a deterministic fraction of the requests.",
        ),
        click.option("--limit", type=click.IntRange(min=1), help="At most N requests."),
        click.option("--name", help="Name of the run (default: candidate-<time>)."),
        click.option("--resume", "resume_run", help="Continue a killed run: send what is missing."),
        click.option(
            "--transport",
            type=click.Choice(TRANSPORTS),
            default="aiohttp",
            show_default=True,
            help="HTTP transport under httpx.",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def run_replay(
    store: Store, resume_run: str | None, headers: tuple[str, ...], **kw: Any
) -> ReplayResult:
    """Build the config, run the replay with a progress bar, print the summary."""
    parsed = [parse_header_option(h) for h in headers]
    if resume_run is None and not kw.get("target"):
        raise UserError("--target is required (or --resume RUN to continue a run)")
    # the bar appears once the run is set up, so a setup error is the only line printed
    display = progress_display(err_console)
    bars: list[Bar] = []

    def on_start(total: int) -> None:
        display.start()
        bars.append(Bar(display, "replay", total))

    def on_outcome(outcome: Outcome) -> None:
        bars[0].advance(failed=outcome.failed)

    try:
        if resume_run is not None:
            result = resume(
                store, resume_run, headers=parsed, progress=on_outcome, on_start=on_start
            )
        else:
            config = ReplayConfig(headers=parsed, **kw)
            result = replay(store, config, progress=on_outcome, on_start=on_start)
    finally:
        display.stop()
    base = f"; baseline run {result.baseline.name}" if result.baseline else ""
    console.print(
        f"run {result.run.name}: sent {result.sent} of {result.selected} requests "
        f"in {result.elapsed:.1f}s ({result.rate:.0f}/s), failed {result.failed}"
        + (f", skipped {result.skipped} truncated" if result.skipped else "")
        + base
    )
    return result


@cli.command("replay")
@replay_options
@db_option
def replay_cmd(db: Path, resume_run: str | None, headers: tuple[str, ...], **kw: Any) -> None:
    """Replay a recorded session to a target and store every response in a run.

    Requests go out byte for byte as recorded (method, path, query, body), minus
    hop-by-hop headers, with Host and Content-Length set for the target and no
    redirects followed. Failures (refused, reset, timeout) are stored as outcomes.
    Exit 0 when every request got an answer, 1 when some failed.

    Example:

    
        shadowdiff replay --target http://127.0.0.1:8001 --baseline http://127.0.0.1:8000 -c 32
    """
    kw["methods"] = list(kw["methods"])
    with Store.open(db) as store:
        result = run_replay(store, resume_run, headers, **kw)
    if result.failed:
        raise SystemExit(1)


# --------------------------------------------------------------------- diff
def rules_options(f: F) -> F:
    f = click.option(
        "--no-preset", is_flag=True, help="Do not apply the shipped flask-to-fastapi preset."
    )(f)
    f = click.option(
        "--rules",
        "rules_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Rules file (default: ./shadowdiff.toml or [tool.shadowdiff] in ./pyproject.toml).",
    )(f)
    return f


def run_diff(store: Store, run_ref: str, rules_file: Path | None, no_preset: bool) -> DiffSummary:
    """Diff a run with a progress bar and print what was found."""
    if rules_file is not None and not rules_file.is_file():
        raise UserError(f"rules file {rules_file} does not exist")
    rules, sources = load_ruleset(rules_file, preset=not no_preset, search_dir=Path.cwd())
    run = store.run(run_ref)
    with progress_bar(err_console, "diff", count_replays(store, run)) as bar:
        cand, base = diff_run(store, run.id, rules, progress=lambda n: bar.advance(n))
    render_diff_summary(cand, base, sources)
    return cand


def render_diff_summary(cand: DiffSummary, base: DiffSummary | None, sources: list[str]) -> None:
    console.print(
        f"run {cand.run.name}: {cand.total} compared, {cand.same} same, "
        f"[bold]{cand.different} different[/] ({cand.diff_rate:.1%}), {cand.errors} errors"
        + (f"; baseline (old vs old): {base.different} different" if base else "")
        + f"; rules from {', '.join(sources) or 'nothing'}"
    )
    if cand.signatures:
        table = Table(title="root causes (signatures)")
        table.add_column("count", justify="right")
        table.add_column("signature")
        for text, n in cand.signatures.most_common(20):
            table.add_row(str(n), text)
        console.print(table)
    table = Table(title="rule hits")
    table.add_column("rule")
    table.add_column("hits", justify="right")
    for name, n in cand.rule_hits.items():
        table.add_row(name, str(n) if n else "[yellow]0 (matched nothing)[/]")
    console.print(table)


@cli.command("diff")
@click.argument("run")
@rules_options
@db_option
def diff_cmd(run: str, rules_file: Path | None, no_preset: bool, db: Path) -> None:
    """Recompute the diffs of a stored run without replaying (replaces earlier ones).

    Compares each recorded response with the replayed one under the rules, and stores
    per exchange a verdict and signature (`diffs`), per field the difference
    (`diff_fields`) and per rule its hits (`rule_hits`).

    Example:

    
        shadowdiff diff candidate-20261121-101500 --rules shadowdiff.toml
    """
    with Store.open(db) as store:
        run_diff(store, run, rules_file, no_preset)


@cli.command("replay-diff")
@replay_options
@rules_options
@db_option
def replay_diff_cmd(
    db: Path,
    resume_run: str | None,
    headers: tuple[str, ...],
    rules_file: Path | None,
    no_preset: bool,
    **kw: Any,
) -> None:
    """Replay a session to a target, then diff the run, in one go.

    Takes the options of `replay` and of `diff`.

    Example:

    
        shadowdiff replay-diff --target http://127.0.0.1:8001 --baseline http://127.0.0.1:8000
    """
    kw["methods"] = list(kw["methods"])
    if rules_file is not None and not rules_file.is_file():
        raise UserError(f"rules file {rules_file} does not exist")
    load_ruleset(rules_file, preset=not no_preset, search_dir=Path.cwd())  # fail before sending
    with Store.open(db) as store:
        result = run_replay(store, resume_run, headers, **kw)
        run_diff(store, result.run.name, rules_file, no_preset)
    if result.failed:
        raise SystemExit(1)


@cli.command("runs")
@db_option
def runs_cmd(db: Path) -> None:
    """List replay runs with their session, target and status.

    Example:

    
        shadowdiff runs
    """
    with Store.open(db, readonly=True) as store:
        runs = store.list_runs()
        sessions = {s.session.id: s.session.name for s in store.list_sessions()}
    table = Table(title=f"runs in {db}")
    for col in ("name", "kind", "session", "target", "status", "started"):
        table.add_column(col)
    for r in runs:
        table.add_row(
            r.name, r.kind, sessions.get(r.session_id, "?"), r.target, r.status, _ts(r.started_at)
        )
    console.print(table)


# --------------------------------------------------------------------- gate
@cli.command("gate")
@click.argument("run")
@click.option(
    "--max-diff-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Largest share of differing requests allowed overall (0.01 = 1%).",
)
@click.option(
    "--max-endpoint-diff-rate",
    type=click.FloatRange(0, 1),
    help="Largest share of differing requests allowed on any one endpoint.",
)
@click.option(
    "--allow-structural",
    is_flag=True,
    help="Let missing/extra/type/status differences pass (they fail by default).",
)
@click.option(
    "--min-samples",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Endpoints with fewer requests are reported as failing.",
)
@click.option(
    "--accepted",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Accepted-differences file (from `shadowdiff accept`): fail only on new "
    "or expired signatures.",
)
@click.option(
    "--max-latency-ratio",
    type=click.FloatRange(min=0, min_open=True),
    help="Largest new/old p50 latency ratio allowed per endpoint.",
)
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the verdict as JUnit XML.",
)
@click.option(
    "--no-noise-adjust",
    is_flag=True,
    help="Count differences that the baseline shows as noise too.",
)
@db_option
def gate_cmd(
    run: str,
    max_diff_rate: float,
    max_endpoint_diff_rate: float | None,
    allow_structural: bool,
    min_samples: int,
    accepted: Path | None,
    max_latency_ratio: float | None,
    junit: Path | None,
    no_noise_adjust: bool,
    db: Path,
) -> None:
    """Give a CI verdict on a diffed run: exit 0 within the limits, 1 when not, 2 on trouble.

    Each reason is printed on one line. Structural differences (missing, extra, type,
    status) fail by default; with a baseline, noise is discounted.

    Example:

    \b
        shadowdiff gate demo --max-diff-rate 0.01 --accepted accepted.toml --junit gate.xml
    """
    limits = GateLimits(
        max_diff_rate=max_diff_rate,
        max_endpoint_diff_rate=max_endpoint_diff_rate,
        allow_structural=allow_structural,
        min_samples=min_samples,
        accepted=load_accepted(accepted) if accepted else None,
        max_latency_ratio=max_latency_ratio,
        noise_adjusted=not no_noise_adjust,
    )
    with Store.open(db, readonly=True) as store:
        result = evaluate(store, run, limits)
    for line in result.lines():
        console.print(line, markup=False)
    if junit is not None:
        write_junit(result, junit)
    raise SystemExit(result.exit_code)


@cli.command("accept")
@click.argument("run")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default="shadowdiff-accepted.toml",
    show_default=True,
    help="Accepted-differences file to write (merged if it exists).",
)
@click.option("--reason", required=True, help="Why these differences are acceptable.")
@click.option("--owner", help="Who decided.")
@click.option(
    "--expires",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="YYYY-MM-DD after which the gate fails on them again.",
)
@db_option
def accept_cmd(
    run: str, output: Path, reason: str, owner: str | None, expires: Any, db: Path
) -> None:
    """Write a run's difference signatures to an accepted-differences file (TOML).

    Review the file in a pull request; `gate --accepted FILE` then fails only on new
    signatures and on accepted ones that have expired.

    Example:

    \b
        shadowdiff accept demo --reason "error bodies change shape in v2" --owner alice \\
            --expires 2027-01-31 -o accepted.toml
    """
    with Store.open(db, readonly=True) as store:
        accepted = accept(store, run, output, reason, owner, expires.date() if expires else None)
    console.print(f"wrote {len(list(accepted))} accepted signatures to {output}")


@cli.command("noise")
@click.argument("run")
@rules_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the verified rules (TOML) to this file.",
)
@db_option
def noise_cmd(
    run: str, rules_file: Path | None, no_preset: bool, output: Path | None, db: Path
) -> None:
    """Measure noise with the run's baseline (old vs old) and propose rules for it.

    Per endpoint and field: R = how often old and new differ, N = how often old and
    old differ (Diffy's idea, offline). Fields that differ as often between two
    answers of the old server are noise: `ignore`/`keys_only` rules are proposed with
    their evidence, never for structural kinds, and kept only if re-comparing the run
    with them really removes those diffs.

    Example:

    \b
        shadowdiff noise demo -o noise-rules.toml
    """
    rules, _ = load_ruleset(rules_file, preset=not no_preset, search_dir=Path.cwd())
    with Store.open(db, readonly=True) as store:
        report = measure_noise(store, run)
        for line in report.lines():
            console.print(line, markup=False)
        verified = noise_verify(store, run, rules, propose_rules(report))
    for line in verified.lines():
        console.print(line, markup=False)
    text = render_toml(verified.kept)
    if verified.kept:
        console.print(text, markup=False, highlight=False)
    if output is not None:
        output.write_text(text)
        console.print(f"wrote {len(verified.kept)} rules to {output}")


# ------------------------------------------------------------------- report
@cli.command("report")
@click.argument("run")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="Output format (default: text, or from the -o file's extension).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of the terminal.",
)
@db_option
def report_cmd(run: str, fmt: str | None, output: Path | None, db: Path) -> None:
    """Report a diffed run: per endpoint, root causes with samples, latency, rule hits.

    Text is a table on the terminal; HTML is one self-contained file (no network);
    JSON, Markdown and JUnit are for tools and pull requests.

    Example:

    \b
        shadowdiff report demo --format html -o report.html
    """
    fmt = fmt or (format_for_path(output) if output else None) or "text"
    with Store.open(db, readonly=True) as store:
        report = build_report(store, run)
    render(report, fmt, output if output is not None else console)
    if output is not None:
        err_console.print(f"wrote {fmt} report to {output}")


# -------------------------------------------------------------------- query
@cli.command("query")
@click.argument("sql")
@click.option(
    "--format", "fmt", type=click.Choice(QUERY_FORMATS), default="table", show_default=True
)
@db_option
def query_cmd(sql: str, fmt: str, db: Path) -> None:
    """Run a read-only SQL query on the database (views: endpoint_summary, field_summary,
    signatures).

    Example:

    \b
        shadowdiff query "SELECT endpoint, requests, different, diff_rate
                          FROM endpoint_summary WHERE run = 'demo'" --format csv
    """
    columns, rows = run_query(db, sql)
    render_result(columns, rows, fmt, console)


# --------------------------------------------------------------------- demo
@cli.command("demo")
@click.option(
    "--requests",
    "-n",
    type=click.IntRange(min=10, max=100_000),
    default=DEFAULT_REQUESTS,
    show_default=True,
    help="Requests to record.",
)
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the database (demo.db) and report in this folder.",
)
@click.option("--regression", is_flag=True, help="Turn on a real bug in the FastAPI port.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the HTML report (default: report.html, or in --keep).",
)
def demo_cmd(requests: int, keep: Path | None, regression: bool, report_path: Path | None) -> None:
    """Run the whole job on the bundled Flask -> FastAPI demo and gate it.

    Starts the demo Flask server (gunicorn) and its FastAPI port (uvicorn) on free
    loopback ports, records generated traffic through the recorder, replays it to the
    port and (as a baseline) to Flask, diffs with the preset plus demo/rules.toml,
    prints the report, writes report.html and exits with the gate's code. Every
    process it starts is stopped, on success, failure or Ctrl-C.

    Example:

    \b
        shadowdiff demo --requests 500 --keep demo-out
    """
    folder, cleanup = demo_workdir(keep)
    report_path = report_path or ((keep / "report.html") if keep else Path("report.html"))
    t0 = time.perf_counter()
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=False,
        ) as progress:
            tasks: dict[str, Any] = {}

            def on_total(step: str, n: int) -> None:
                tasks[step] = progress.add_task(step, total=n)

            result = run_demo(
                folder,
                requests=requests,
                regression=regression,
                report_path=report_path,
                announce=lambda text: progress.console.print(f"[dim]·[/] {text}"),
                on_request=lambda: progress.advance(tasks["record"]),
                on_replay=lambda: progress.advance(tasks["replay"]),
                on_total=on_total,
            )
        with Store.open(result.db, readonly=True) as store:
            report = build_report(store, result.replayed.run.id)
        render(report, "text", console)
        render(report, "html", report_path)
        console.print(f"HTML report: {report_path}")
        for line in result.gate.lines():
            console.print(line, markup=False)
        timing = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
        console.print(f"demo finished in {time.perf_counter() - t0:.1f}s ({timing})")
        if keep:
            console.print(
                f"kept {result.db}; try: shadowdiff query --db {result.db} "
                "\"SELECT * FROM endpoint_summary WHERE run = 'demo'\""
            )
    except KeyboardInterrupt:
        err_console.print("interrupted: every process the demo started has been stopped")
        raise SystemExit(130) from None
    finally:
        cleanup()
    raise SystemExit(result.gate.exit_code)


def main() -> None:
    cli(prog_name="shadowdiff")


if __name__ == "__main__":
    main()
