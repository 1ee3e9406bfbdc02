"""Commands that judge a diffed run: `gate`, `accept`, `noise`, `report`, `query`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from shadowdiff.cli.options import (
    QUERY_FORMATS,
    REPORT_FORMATS,
    REPORT_MAX_SAMPLES,
    db_option,
    openapi_option,
    rules_options,
)
from shadowdiff.cli.output import console, err_console, print_lines


@click.command("gate")
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
    "--max-abs-error",
    "max_abs_error",
    multiple=True,
    metavar="[ENDPOINT ]PATH=X",
    help="Largest |new - old| allowed at a number path, e.g. 'body.predictions[*]=1e-6' "
    "(repeatable; 'POST /predict/ body.predictions[*]=1e-6' for one endpoint).",
)
@click.option(
    "--min-agreement",
    "min_agreement",
    multiple=True,
    metavar="[ENDPOINT ]PATH=R",
    help="Smallest share of values agreeing at a path (numbers within tolerance, labels "
    "equal), e.g. 'body.predictions[*]=0.999' (repeatable).",
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
@click.option(
    "--allow-schema",
    is_flag=True,
    help="Let new responses outside the OpenAPI spec pass (they fail by default).",
)
@openapi_option
@db_option
def gate_cmd(
    run: str,
    max_diff_rate: float,
    max_endpoint_diff_rate: float | None,
    allow_structural: bool,
    min_samples: int,
    accepted: Path | None,
    max_latency_ratio: float | None,
    max_abs_error: tuple[str, ...],
    min_agreement: tuple[str, ...],
    junit: Path | None,
    no_noise_adjust: bool,
    allow_schema: bool,
    openapi: str | None,
    db: Path,
) -> None:
    """Give a CI verdict on a diffed run: exit 0 within the limits, 1 when not, 2 on trouble.

    Each reason is printed on one line. Structural differences (missing, extra, type,
    status) fail by default; with a baseline, noise is discounted. So do new responses
    outside the OpenAPI spec (--openapi, or the one the run was diffed with). Agreement
    limits judge the figures of a path (see `shadowdiff report`).

    Example:

    \b
        shadowdiff gate demo --max-diff-rate 0.01 --accepted accepted.toml --junit gate.xml
        shadowdiff gate demo --max-abs-error 'body.predictions[*]=1e-6' \\
            --min-agreement 'body.predictions[*]=0.999'
    """
    from shadowdiff.analysis.accept import load_accepted
    from shadowdiff.analysis.agreement_limits import parse_path_limit
    from shadowdiff.analysis.gate import GateLimits, evaluate
    from shadowdiff.openapi import load_spec
    from shadowdiff.report.junit import write_gate_junit
    from shadowdiff.store import Store

    limits = GateLimits(
        max_diff_rate=max_diff_rate,
        max_endpoint_diff_rate=max_endpoint_diff_rate,
        allow_structural=allow_structural,
        min_samples=min_samples,
        accepted=load_accepted(accepted) if accepted else None,
        max_latency_ratio=max_latency_ratio,
        noise_adjusted=not no_noise_adjust,
        max_abs_error=tuple(parse_path_limit(t, "max_abs_error") for t in max_abs_error),
        min_agreement=tuple(parse_path_limit(t, "min_agreement") for t in min_agreement),
        allow_schema=allow_schema,
    )
    spec = load_spec(openapi) if openapi else None
    with Store.open(db, readonly=True) as store:
        result = evaluate(store, run, limits, spec=spec)
    print_lines(result.lines())
    if junit is not None:
        write_gate_junit(result, junit)
    raise SystemExit(result.exit_code)


@click.command("accept")
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
@click.option(
    "--signature",
    metavar="ID",
    help="Accept only this signature of the run (its id, or a unique prefix).",
)
@db_option
def accept_cmd(
    run: str,
    output: Path,
    reason: str,
    owner: str | None,
    expires: datetime | None,
    signature: str | None,
    db: Path,
) -> None:
    """Write a run's difference signatures and run-wide findings (or one, --signature) to
    an accepted-differences file (TOML).

    Review the file in a pull request; `gate --accepted FILE` then fails only on new
    signatures or findings and on accepted ones that have expired.

    Example:

    \b
        shadowdiff accept demo --reason "error bodies change shape in v2" --owner alice \\
            --expires 2027-01-31 -o accepted.toml
        shadowdiff accept demo --signature 1a2b3c4d5e6f --reason "agreed rounding"
    """
    from shadowdiff.analysis.accept import accept
    from shadowdiff.store import Store

    with Store.open(db, readonly=True) as store:
        accepted = accept(
            store,
            run,
            output,
            reason,
            owner,
            expires.date() if expires else None,
            signature=signature,
        )
    if signature is not None:
        console.print(f"wrote 1 accepted signature to {output} ({len(accepted)} in the file)")
    else:
        console.print(f"wrote {len(list(accepted))} accepted signatures to {output}")


@click.command("noise")
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

    Per field, pooled across endpoints: R = how often old and new differ, N = how
    often old and old differ (Diffy's idea, offline). Fields that differ as often
    between two answers of the old server are noise: one rule per path is proposed
    (`keys_only`, or `ignore` for a field that comes and goes) with its evidence,
    never for type or status, and kept only if re-comparing the run with it really
    removes those diffs.

    Example:

    \b
        shadowdiff noise demo -o noise-rules.toml
    """
    from shadowdiff.analysis.diffrun import load_ruleset
    from shadowdiff.analysis.noise import measure_noise, propose_rules, render_toml, verify
    from shadowdiff.store import Store

    rules, _ = load_ruleset(rules_file, preset=not no_preset, search_dir=Path.cwd())
    with Store.open(db, readonly=True) as store:
        report = measure_noise(store, run)
        print_lines(report.lines())
        verified = verify(store, run, rules, propose_rules(report))
    print_lines(verified.lines())
    text = render_toml(verified.kept)
    if verified.kept:
        print_lines(text.splitlines())
    if output is not None:
        output.write_text(text)
        console.print(f"wrote {len(verified.kept)} rules to {output}")


@click.command("report")
@click.argument("run")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(REPORT_FORMATS),
    help="Output format (default: text, or from the -o file's extension).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of the terminal.",
)
@click.option(
    "--signature",
    metavar="ID",
    help="Report only this signature (its id, or a unique prefix): its fields and samples.",
)
@click.option(
    "--max-samples",
    type=click.IntRange(0, REPORT_MAX_SAMPLES),
    default=1,
    show_default=True,
    help="Sample exchanges shown per signature.",
)
@openapi_option
@db_option
def report_cmd(
    run: str,
    fmt: str | None,
    output: Path | None,
    signature: str | None,
    max_samples: int,
    openapi: str | None,
    db: Path,
) -> None:
    """Report a diffed run: per endpoint, root causes with samples, latency, rule hits and
    what the rules hid (one absorbed sample per rule).

    Text is a table on the terminal; HTML is one self-contained file (no network);
    JSON, Markdown and JUnit are for tools and pull requests. With an OpenAPI spec
    (--openapi, or the one the run was diffed with): its coverage table and schema findings.

    Example:

    \b
        shadowdiff report demo --format html -o report.html
        shadowdiff report demo --signature 1a2b3c4d5e6f --max-samples 5
    """
    from shadowdiff.openapi import load_spec
    from shadowdiff.report import build_report, format_for_path, render
    from shadowdiff.store import Store

    fmt = fmt or (format_for_path(output) if output else None) or "text"
    spec = load_spec(openapi) if openapi else None
    with Store.open(db, readonly=True) as store:
        report = build_report(store, run, samples=max_samples, spec=spec, signature=signature)
    render(report, fmt, output if output is not None else console)
    if output is not None:
        err_console.print(f"wrote {fmt} report to {output}")


@click.command("query")
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
    from shadowdiff.cli.query_output import render_result
    from shadowdiff.store.query import run_query

    columns, rows = run_query(db, sql)
    render_result(columns, rows, fmt, console)
