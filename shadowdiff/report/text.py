"""A Report on a terminal: rich tables for endpoints, fields, signatures, latency and rules.

Recorded values are always printed as `Text`, never as rich markup.
"""

from __future__ import annotations

from typing import Final

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from shadowdiff.analysis.latency import BASIS_NOTE
from shadowdiff.formatting import DASH, ms, pct, ratio
from shadowdiff.report.body_view import BodyView
from shadowdiff.report.figures import rate_level, ratio_level
from shadowdiff.report.model import Report, Sample, SignatureReport
from shadowdiff.report.openapi import spec_text
from shadowdiff.report.text_agreement import agreement_tables

MAX_TEXT_SAMPLES: Final = 10
_RATE_STYLE: Final = {"ok": "green", "low": "yellow", "high": "bold red"}
_RATIO_STYLE: Final = {"slower": "red", "faster": "green", "even": ""}


def _ms(value: float | None) -> str:
    return DASH if value is None else f"{ms(value)} ms"


def _rate(rate: float) -> Text:
    return Text(pct(rate), style=_RATE_STYLE[rate_level(rate)])


def _ratio(value: float | None) -> Text:
    return Text(ratio(value), style=_RATIO_STYLE[ratio_level(value)])


def _summary(report: Report) -> Panel:
    run = report.run
    lines = [
        Text.assemble(("run ", "dim"), (run.name, "bold"), (f" ({run.kind}, {run.status})", "dim")),
        Text.assemble(("session ", "dim"), run.session, ("  target ", "dim"), run.target),
    ]
    if run.baseline:
        lines.append(
            Text.assemble(
                ("baseline ", "dim"),
                run.baseline,
                (" -> ", "dim"),
                run.baseline_target or DASH,
                (f"  (old vs old: {run.baseline_different} differing)", "dim"),
            )
        )
    counts = Text.assemble(
        (f"{run.compared}", "bold"),
        " compared, ",
        (f"{run.different}", "bold"),
        " different (",
        _rate(run.diff_rate),
        f"), {run.errors} errors",
    )
    if run.different_adjusted is not None:
        counts.append(f"; noise-adjusted {run.different_adjusted} (")
        counts.append_text(_rate(run.diff_rate_adjusted or 0.0))
        counts.append(")")
    lines.append(counts)
    lat = report.latency
    lines.append(
        Text.assemble(
            ("p50 latency ", "dim"),
            f"old {_ms(lat.old.p50)}, new {_ms(lat.new.p50)} ",
            _ratio(lat.p50_ratio),
        )
    )
    return Panel(Group(*lines), title="shadowdiff report", title_align="left", expand=False)


def _endpoints(report: Report) -> Table:
    table = Table(title="endpoints", title_justify="left")
    adjusted = report.has_baseline
    columns = ["endpoint", "requests", "different", "rate"]
    columns += ["adjusted"] if adjusted else []
    columns += ["errors", "old p50 ms", "new p50 ms", "p50 ratio"]
    for col in columns:
        table.add_column(
            col, justify="left" if col == "endpoint" else "right", no_wrap=col == "endpoint"
        )
    for e in report.endpoints:
        row: list[Text] = [
            Text(e.endpoint),
            Text(str(e.requests)),
            Text(str(e.different)),
            _rate(e.diff_rate),
        ]
        if adjusted:
            row.append(Text(str(e.different_adjusted)))
        row += [
            Text(str(e.errors), style="red" if e.errors else ""),
            Text(ms(e.latency.old.p50)),
            Text(ms(e.latency.new.p50)),
            _ratio(e.latency.p50_ratio),
        ]
        table.add_row(*row)
    return table


def _fields(report: Report) -> Table | None:
    rows = [(e.endpoint, f) for e in report.endpoints for f in e.fields]
    if not rows:
        return None
    table = Table(title="differing fields (counting)", title_justify="left")
    for col in ("endpoint", "path", "kind", "requests", "noise"):
        table.add_column(col, justify="right" if col == "requests" else "left")
    for endpoint, f in rows:
        table.add_row(
            Text(endpoint),
            Text(f.path),
            Text(f.kind),
            Text(str(f.requests)),
            Text("noise", style="dim") if f.noise else Text(""),
        )
    return table


def _signatures(report: Report) -> Table | None:
    if not report.signatures:
        return None
    table = Table(title="root causes (signatures)", title_justify="left")
    table.add_column("requests", justify="right")
    table.add_column("share", justify="right")
    table.add_column("signature", overflow="fold")
    for s in report.signatures:
        text = Text(s.text, style="red" if s.verdict == "error" else "")
        if s.noise:
            text.append("  (noise)", style="dim")
        table.add_row(Text(str(s.requests)), Text(pct(s.share)), text)
    return table


def _body_text(view: BodyView, mark: str) -> Text:
    """One side of a sample; lines showing a difference start with `mark` (- old, + new)."""
    head = Text("no answer" if view.status is None else f"HTTP {view.status}")
    if view.status_marked:
        head.stylize("bold red")
    if view.content_type:
        head.append(f"  {view.content_type}", style="dim")
    out = Text.assemble(head, "\n")
    if view.note:
        out.append(f"({view.note})\n", style="italic dim")
    for line in view.lines:
        if line.marked:
            out.append(f"{mark} {line.text}\n", style="bold red" if mark == "-" else "bold green")
        else:
            out.append(f"  {line.text}\n")
    if view.truncated:
        out.append(f"… (cut; {view.size} bytes in all)\n", style="dim")
    return out


def _sample(sig: SignatureReport, sample: Sample) -> Group:
    table = Table(
        title=Text(f"{sig.text}\nexchange {sample.exchange_id}: {sample.request}"),
        title_justify="left",
        expand=True,
    )
    table.add_column("old (recorded)", ratio=1, overflow="fold")
    table.add_column("new (replayed)", ratio=1, overflow="fold")
    table.add_row(_body_text(sample.old, "-"), _body_text(sample.new, "+"))
    paths = Text()
    for f in sample.fields:
        paths.append("  ")
        paths.append(f.path, style="bold")
        paths.append(f" {f.kind}: ", style="dim")
        paths.append(f"{f.old if f.old is not None else DASH} -> ")
        paths.append(f"{f.new if f.new is not None else DASH}\n")
    return Group(table, paths) if sample.fields else Group(table)


def _latency(report: Report) -> Table:
    table = Table(title=f"latency (ms): {BASIS_NOTE[report.latency.basis]}", title_justify="left")
    for col in ("endpoint", "n", "old p50", "old p95", "old p99", "new p50", "new p95"):
        table.add_column(
            col, justify="left" if col == "endpoint" else "right", no_wrap=col == "endpoint"
        )
    table.add_column("new p99", justify="right")
    table.add_column("p50 ratio", justify="right")
    for e in report.endpoints:
        lat = e.latency
        table.add_row(
            Text(e.endpoint),
            Text(str(lat.new.count)),
            Text(ms(lat.old.p50)),
            Text(ms(lat.old.p95)),
            Text(ms(lat.old.p99)),
            Text(ms(lat.new.p50)),
            Text(ms(lat.new.p95)),
            Text(ms(lat.new.p99)),
            _ratio(lat.p50_ratio),
        )
    return table


def _rules(report: Report) -> Table | None:
    if not report.rules:
        return None
    table = Table(title="rule hits", title_justify="left", expand=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("hits", justify="right", no_wrap=True)
    table.add_column("reason (origin)", ratio=5, overflow="fold")
    for r in report.rules:
        hits = Text("0 (matched nothing)", style="yellow") if r.unused else Text(str(r.count))
        reason = Text(r.reason or "")
        if r.origin:
            reason.append(f" ({r.origin})", style="dim")
        table.add_row(Text(r.rule), Text(r.kind or DASH), hits, reason)
    return table


def _noise(report: Report) -> Table | None:
    if not report.noise:
        return None
    table = Table(
        title="noise: R = share differing old-vs-new, N = old-vs-old", title_justify="left"
    )
    for col in ("endpoint", "path", "kind", "R", "N", "noise"):
        table.add_column(col, justify="right" if col in ("R", "N") else "left")
    for n in report.noise:
        table.add_row(
            Text(n.endpoint),
            Text(n.path),
            Text(n.kind),
            Text(pct(n.r)),
            Text(pct(n.n)),
            Text("noise", style="dim") if n.noise else Text(""),
        )
    return table


def render_text(report: Report, console: Console) -> None:
    """Print the report to a rich Console."""
    console.print(_summary(report))
    console.print(_endpoints(report))
    for table in (_fields(report), _signatures(report)):
        if table is not None:
            console.print(table)
    shown = [s for s in report.signatures if s.samples][:MAX_TEXT_SAMPLES]
    for sig in shown:
        for sample in sig.samples:
            console.print(_sample(sig, sample))
    hidden = sum(1 for s in report.signatures if s.samples) - len(shown)
    if hidden > 0:
        console.print(Text(f"({hidden} more signatures with samples: see --format html)"))
    for agreement in agreement_tables(report):
        console.print(agreement)
    console.print(_latency(report))
    for table in (_noise(report), _rules(report)):
        if table is not None:
            console.print(table)
    if not report.rules:
        console.print(Text("no rules were in force for this run", style="dim"))
    if report.unused_rules:
        names = ", ".join(r.rule for r in report.unused_rules)
        console.print(Text(f"rules that matched nothing: {names}", style="yellow"))
    for spec_table in spec_text(report.spec):
        console.print(spec_table)
