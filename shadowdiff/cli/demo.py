"""`shadowdiff demo`: the library's demo with progress bars, then its report, the agreement
figures of its predictions (or, with --stateful, the lockstep figures) and its gate."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from shadowdiff.cli.options import DEMO_REQUESTS
from shadowdiff.cli.output import console, err_console, print_lines
from shadowdiff.cli.progress import Bar, Bars

if TYPE_CHECKING:
    from shadowdiff.demo.run import DemoResult
    from shadowdiff.demo.stateful import StatefulResult


class DemoProgress:
    """The demo's steps as notes, its record and replay steps as bars."""

    def __init__(self, bars: Bars) -> None:
        self.bars = bars
        self.steps: dict[str, Bar] = {}

    def announce(self, text: str) -> None:
        self.bars.note(text, label="·", style="dim")

    def on_total(self, step: str, total: int) -> None:
        self.steps[step] = self.bars.add(step, total, failures=None)

    def on_request(self) -> None:
        self.steps["record"].advance()

    def on_replay(self) -> None:
        self.steps["replay"].advance()


@click.command("demo")
@click.option(
    "--requests",
    "-n",
    type=click.IntRange(min=10, max=100_000),
    default=None,
    help=f"Requests to record (default {DEMO_REQUESTS}; not with --stateful).",
)
@click.option(
    "--stateful",
    is_flag=True,
    help="The stateful demo: logins, roles and item CRUD, replayed in lockstep to fresh "
    "primary, secondary and candidate instances with chains.",
)
@click.option(
    "--rounds",
    type=click.IntRange(min=1, max=50),
    default=None,
    help="With --stateful: create-to-delete rounds per user (default 3).",
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
def demo_cmd(
    requests: int | None,
    stateful: bool,
    rounds: int | None,
    keep: Path | None,
    regression: bool,
    report_path: Path | None,
) -> None:
    """Run the whole job on the bundled Flask -> FastAPI demo and gate it.

    Starts the demo Flask server (gunicorn) and its FastAPI port (uvicorn) on free
    loopback ports, records generated traffic through the recorder, replays it to the
    port and (as a baseline) to Flask, diffs with the preset plus demo/rules.toml,
    prints the report, writes report.html and exits with the gate's code. Every
    process it starts is stopped, on success, failure or Ctrl-C.

    With --stateful: records users logging in and creating, reading, changing and
    deleting items (default redaction: no password or token is stored), starts fresh
    primary and secondary Flask instances and a fresh port, replays in lockstep with
    chains and the demo passwords as --secrets, then reports and gates the same way.

    Example:

    \b
        shadowdiff demo --requests 500 --keep demo-out
        shadowdiff demo --stateful --keep stateful-out
    """
    if stateful and requests is not None:
        raise click.UsageError("--requests is for the stateless demo; use --rounds")
    if rounds is not None and not stateful:
        raise click.UsageError("--rounds needs --stateful")
    if stateful:
        run_stateful_cmd(rounds, keep, regression, report_path)  # exits with the gate's code
        return
    from shadowdiff.demo.run import demo

    requests = requests or DEMO_REQUESTS
    t0 = time.perf_counter()
    try:
        with Bars(err_console) as bars:
            shown = DemoProgress(bars)
            result = demo(
                keep=keep,
                requests=requests,
                regression=regression,
                report_path=report_path,
                announce=shown.announce,
                on_request=shown.on_request,
                on_replay=shown.on_replay,
                on_total=shown.on_total,
            )
    except KeyboardInterrupt:
        err_console.print("interrupted: every process the demo started has been stopped")
        raise SystemExit(130) from None
    render_demo(result, time.perf_counter() - t0, kept=keep is not None)
    raise SystemExit(result.gate.exit_code)


def agreement_lines(result: DemoResult) -> list[str]:
    """The agreement figures of the demo's predictions, one line per endpoint."""
    from shadowdiff.demo.run import DEMO_AGREEMENT_PATH
    from shadowdiff.report.agreement_cells import summary_line

    rows = result.agreement
    if not rows:
        return [f"agreement {DEMO_AGREEMENT_PATH}: no predictions were compared"]
    return ["agreement of the predictions (old vs new):", *(f"  {summary_line(a)}" for a in rows)]


def render_demo(result: DemoResult, elapsed: float, *, kept: bool) -> None:
    """The text report, where the HTML went, the gate's verdict and the timings."""
    _render(result, "demo", agreement_lines(result), elapsed, kept=kept)


def _render(
    result: DemoResult | StatefulResult, run: str, figures: list[str], elapsed: float, *, kept: bool
) -> None:
    """What both demos print after their work: the text report, where the HTML went, their
    figures, the gate's verdict, the timings and (kept) a query to try."""
    from shadowdiff.report import render

    assert result.report is not None
    render(result.report, "text", console)
    console.print(f"HTML report: {result.report_path}")
    print_lines(figures)
    print_lines(result.gate.lines())
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    label = "demo" if run == "demo" else f"{run} demo"
    console.print(f"{label} finished in {elapsed:.1f}s ({timing})")
    if kept:
        console.print(
            f"kept {result.db}; try: shadowdiff query --db {result.db} "
            f"\"SELECT * FROM endpoint_summary WHERE run = '{run}'\""
        )


def run_stateful_cmd(
    rounds: int | None, keep: Path | None, regression: bool, report_path: Path | None
) -> None:
    """`demo --stateful`: the library's stateful demo with progress, then its report."""
    from shadowdiff.demo.scenario import DEFAULT_ROUNDS
    from shadowdiff.demo.stateful import Callbacks, stateful_demo

    t0 = time.perf_counter()
    try:
        with Bars(err_console) as bars:
            shown = DemoProgress(bars)
            result = stateful_demo(
                keep=keep,
                rounds=rounds or DEFAULT_ROUNDS,
                regression=regression,
                report_path=report_path,
                shown=Callbacks(shown.announce, shown.on_total, shown.on_request, shown.on_replay),
            )
    except KeyboardInterrupt:
        err_console.print("interrupted: every process the demo started has been stopped")
        raise SystemExit(130) from None
    render_stateful(result, time.perf_counter() - t0, kept=keep is not None)
    raise SystemExit(result.gate.exit_code)


def render_stateful(result: StatefulResult, elapsed: float, *, kept: bool) -> None:
    """The text report, the lockstep figures, the gate's verdict and the timings."""
    figures = result.figures.lines() if result.figures is not None else []
    _render(result, "stateful", figures, elapsed, kept=kept)
