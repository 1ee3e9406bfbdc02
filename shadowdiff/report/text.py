"""A Report on a terminal: rich tables for endpoints, fields, signatures, latency and rules.

Recorded values are always printed as `Text`, never as rich markup, and with their control
characters shown as escapes (`shadowdiff.formatting.visible`).
"""

from __future__ import annotations

from typing import Final

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from shadowdiff.analysis.latency import BASIS_NOTE
from shadowdiff.formatting import DASH, ms, pct, ratio, side_value, visible_all
from shadowdiff.report.body_view import BodyView
from shadowdiff.report.figures import rate_level, ratio_level
from shadowdiff.report.model import Report, Sample, SignatureReport
from shadowdiff.report.openapi import spec_text
from shadowdiff.report.text_agreement import agreement_tables
from shadowdiff.tables import grid

MAX_TEXT_SAMPLES: Final = 10
HIDDEN_VALUE_CHARS: Final = 120
# From this console width on, the endpoints table repeats the p50 latencies.
WIDE: Final = 120
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
    if run.primary:
        lines.append(
            Text.assemble(
                ("primary ", "dim"),
                run.primary,
                (" -> ", "dim"),
                run.primary_target or DASH,
                ("  (old = its answers: lockstep)", "dim"),
            )
        )
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
    if report.drift is not None:  # a long line: it folds within the panel
        drift = Text.assemble(("drift ", "dim"), (report.drift.line, "yellow"))
        drift.overflow = "fold"
        lines.append(drift)
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


def _endpoints(report: Report, width: int) -> RenderableType:
    adjusted = report.has_baseline
    columns = ["endpoint", "requests", "different", "rate"]
    columns += ["adjusted"] if adjusted else []
    columns += ["errors"]
    latency = width >= WIDE  # else the latency table below gives them
    columns += ["old p50 ms", "new p50 ms", "p50 ratio"] if latency else []
    rows: list[list[Text]] = []
    for e in report.endpoints:
        row: list[Text] = [
            Text(e.endpoint),
            Text(str(e.requests)),
            Text(str(e.different)),
            _rate(e.diff_rate),
        ]
        if adjusted:
            row.append(Text(str(e.different_adjusted)))
        row.append(Text(str(e.errors), style="red" if e.errors else ""))
        if latency:
            row += [Text(ms(e.latency.old.p50)), Text(ms(e.latency.new.p50))]
            row.append(_ratio(e.latency.p50_ratio))
        rows.append(row)
    return grid("endpoints", columns, rows, columns[1:])


def _fields(report: Report) -> RenderableType | None:
    rows = [
        [
            Text(e.endpoint),
            Text(f.path),
            Text(f.kind),
            Text(str(f.requests)),
            Text("noise", style="dim") if f.noise else Text(""),
        ]
        for e in report.endpoints
        for f in e.fields
    ]
    if not rows:
        return None
    header = ("endpoint", "path", "kind", "requests", "noise")
    return grid("differing fields (counting)", header, rows, ["requests"])


def _findings(report: Report) -> RenderableType | None:
    """Run-wide findings: one row each, with its endpoint coverage and one sample a key."""
    if not report.findings:
        return None
    rows = []
    for f in report.findings:
        text = Text(", ".join(f.items), style="red" if f.structural else "")
        for v in f.samples:
            old, new = side_value(v.old, v.kind, "old"), side_value(v.new, v.kind, "new")
            text.append(f"\n  {v.path}: {old} -> {new}", "dim")
        if f.noise:
            text.append("  (noise)", style="dim")
        where = f"{f.endpoints}/{f.endpoints_with_field}"
        rows.append([Text(f.finding_id), Text(where), Text(str(f.exchanges)), text])
    header = ("id", "endpoints", "requests", "finding")
    title = "run-wide findings (on most endpoints where the field exists; not in signatures)"
    return grid(title, header, rows, ["endpoints", "requests"])


def _signatures(report: Report) -> RenderableType | None:
    if not report.signatures:
        return None
    rows = []
    for s in report.signatures:
        text = Text(s.text, style="red" if s.verdict == "error" else "")
        if s.noise:
            text.append("  (noise)", style="dim")
        rows.append([Text(str(s.requests)), Text(pct(s.share)), text])
    header = ("requests", "share", "signature")
    return grid("root causes (signatures)", header, rows, ["requests", "share"])


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


def _sample(sig: SignatureReport, sample: Sample, old_side: str = "recorded") -> Group:
    table = Table(
        title=Text(f"{sig.text}\nexchange {sample.exchange_id}: {sample.request}"),
        title_justify="left",
        expand=True,
    )
    table.add_column(f"old ({old_side})", ratio=1, overflow="fold")
    table.add_column("new (replayed)", ratio=1, overflow="fold")
    table.add_row(_body_text(sample.old, "-"), _body_text(sample.new, "+"))
    paths = Text()
    for f in sample.fields:
        paths.append("  ")
        paths.append(f.path, style="bold")
        paths.append(f" {f.label}: ", style="dim")
        paths.append(f"{side_value(f.old, f.kind, 'old')} -> ")
        paths.append(f"{side_value(f.new, f.kind, 'new')}\n")
    return Group(table, paths) if sample.fields else Group(table)


_LATENCY_HEADER: Final = (
    "endpoint",
    "n",
    "old p50",
    "old p95",
    "old p99",
    "new p50",
    "new p95",
    "new p99",
    "p50 ratio",
)


def _latency(report: Report) -> RenderableType:
    rows = []
    for e in report.endpoints:
        lat = e.latency
        rows.append(
            [
                Text(e.endpoint),
                Text(str(lat.new.count)),
                *(Text(ms(v)) for v in (lat.old.p50, lat.old.p95, lat.old.p99)),
                *(Text(ms(v)) for v in (lat.new.p50, lat.new.p95, lat.new.p99)),
                _ratio(lat.p50_ratio),
            ]
        )
    title = f"latency (ms): {BASIS_NOTE[report.latency.basis]}"
    return grid(title, _LATENCY_HEADER, rows, _LATENCY_HEADER[1:])


def _rules(report: Report) -> RenderableType | None:
    if not report.rules:
        return None
    rows = []
    for r in report.rules:
        hits = Text("0 (matched nothing)", style="yellow") if r.unused else Text(str(r.count))
        reason = Text(r.reason or "")
        if r.origin:
            reason.append(f" ({r.origin})", style="dim")
        rows.append([Text(r.rule), Text(r.kind or DASH), hits, reason])
    return grid("rule hits", ("rule", "kind", "hits", "reason (origin)"), rows, ["hits"])


def _short(value: str) -> str:
    """A value of the hidden-by-rules samples, cut to HIDDEN_VALUE_CHARS on a terminal."""
    return value if len(value) <= HIDDEN_VALUE_CHARS else value[:HIDDEN_VALUE_CHARS] + "…"


def _hidden(report: Report) -> list[RenderableType]:
    """Hidden by rules: per rule its hits, what it touched and the kinds it absorbed (broad
    rules stand out), then one absorbed difference each."""
    if not report.hidden:
        return []
    rows, samples = [], []
    for h in report.hidden:
        name = Text(h.rule, style="bold yellow" if h.broad else "")
        if h.broad:
            name.append(" (broad)", style="yellow")
        counts = (h.hits, h.exchanges, h.endpoints, h.paths)
        rows.append([name, *(Text(str(n)) for n in counts), Text(", ".join(h.kinds))])
        where = Text(f"{h.endpoint} {h.path} {h.field_kind} (exchange {h.exchange_id})")
        old = Text(_short(side_value(h.old, h.field_kind, "old")), style="red")
        new = Text(_short(side_value(h.new, h.field_kind, "new")), style="green")
        samples.append([Text(h.rule), where, old, new])
    header = ("rule", "hits", "requests", "endpoints", "paths", "absorbed")
    title = "hidden by rules: differences they absorbed count nowhere else"
    return [
        grid(title, header, rows, header[1:5]),
        grid("hidden by rules: one sample each", ("rule", "sample", "old", "new"), samples),
    ]


def _volatile(report: Report) -> RenderableType | None:
    """Volatile differences that did not count: per path, requests and one sample."""
    if not report.volatile:
        return None
    rows = [
        [
            Text(f"{v.endpoint} {v.path} {v.kind}"),
            Text(str(v.requests)),
            Text(_short(side_value(v.old, v.kind, "old")), style="red"),
            Text(_short(side_value(v.new, v.kind, "new")), style="green"),
        ]
        for v in report.volatile
    ]
    return grid(report.volatile_heading, ("where", "requests", "old", "new"), rows, ["requests"])


def _noise(report: Report) -> RenderableType | None:
    if not report.noise:
        return None
    rows = [
        [
            Text(n.endpoint),
            Text(n.path),
            Text(n.kind),
            Text(pct(n.r)),
            Text(pct(n.n)),
            Text("noise", style="dim") if n.noise else Text(""),
        ]
        for n in report.noise
    ]
    title = "noise: R = share differing old-vs-new, N = old-vs-old"
    return grid(title, ("endpoint", "path", "kind", "R", "N", "noise"), rows, ["R", "N"])


class _Folding:
    """A Console whose prints fold long lines (the CLI's console soft-wraps, for `query`)."""

    def __init__(self, console: Console) -> None:
        self.console, self.width = console, console.width

    def print(self, *objects: RenderableType) -> None:
        self.console.print(*objects, soft_wrap=False)


def render_text(report: Report, console: Console) -> None:
    """Print the report to a rich Console (every recorded value made `visible`)."""
    report = visible_all(report)
    screen = _Folding(console)  # long lines fold at the console's width (80 columns)
    screen.print(_summary(report))
    screen.print(_endpoints(report, screen.width))
    for table in (_fields(report), _findings(report), _signatures(report)):
        if table is not None:
            screen.print(table)
    shown = [s for s in report.signatures if s.samples][:MAX_TEXT_SAMPLES]
    for sig in shown:
        for sample in sig.samples:
            screen.print(_sample(sig, sample, report.run.old_side))
    hidden = sum(1 for s in report.signatures if s.samples) - len(shown)
    if hidden > 0:
        screen.print(Text(f"({hidden} more signatures with samples: see --format html)"))
    for agreement in agreement_tables(report):
        screen.print(agreement)
    screen.print(_latency(report))
    for table in (_noise(report), _rules(report)):
        if table is not None:
            screen.print(table)
    for part in _hidden(report):
        screen.print(part)
    volatile = _volatile(report)
    if volatile is not None:
        screen.print(volatile)
    if not report.rules:
        screen.print(Text("no rules were in force for this run", style="dim"))
    if report.unused_rules:
        names = ", ".join(r.rule for r in report.unused_rules)
        screen.print(Text(f"rules that matched nothing: {names}", style="yellow"))
    for spec_table in spec_text(report.spec):
        screen.print(spec_table)
