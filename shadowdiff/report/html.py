"""A Report as ONE self-contained HTML page: inline CSS, no scripts, no network requests.

Every recorded value (endpoints, paths, bodies, rule texts, run names) goes through
`html.escape`, so a recorded `<script>` shows as text. A Content-Security-Policy meta tag
(`default-src 'none'`) forbids the page to load anything, should a value ever slip through.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Sequence
from typing import Final

from shadowdiff.formatting import DASH, ms, pct, ratio
from shadowdiff.report.body_view import BodyView
from shadowdiff.report.figures import rate_level, ratio_level
from shadowdiff.report.model import EndpointReport, Report, Sample, SignatureReport

MAX_HTML_SAMPLES: Final = 50
MARK: Final = ' class="m"'
UNUSED: Final = ' class="unused"'

CSS: Final = """
:root {
  --ink: #1b2330; --muted: #5f6b7a; --faint: #8a96a6; --line: #e3e8ef; --bg: #f5f7fa;
  --card: #ffffff; --accent: #3b5bdb; --accent-soft: #edf2ff;
  --ok: #1e7b3a; --ok-soft: #e3f6e8; --warn: #9a5b00; --warn-soft: #fff3d6;
  --bad: #b42318; --bad-soft: #fde8e6; --old-soft: #fdecea; --new-soft: #e6f6ea;
  --mono: ui-monospace, "SFMono-Regular", "JetBrains Mono", Menlo, Consolas,
    "DejaVu Sans Mono", "Liberation Mono", monospace;
  --sans: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans",
    "DejaVu Sans", Arial, sans-serif;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.5 var(--sans); }
.mono, code, pre { font-family: var(--mono); font-size: 12.5px; }
.wrap { max-width: 1320px; margin: 0 auto; padding: 0 28px 48px; }
header.top { background: #141b2d; color: #e8ecf4; padding: 22px 0 20px; margin-bottom: 24px; }
header.top .wrap { padding-bottom: 0; }
.brand { font-size: 12px; letter-spacing: .14em; text-transform: uppercase; color: #9fb0d0; }
h1 { margin: 4px 0 6px; font-size: 24px; font-weight: 650; letter-spacing: -.01em; }
h1 code { font-size: 22px; background: rgba(255,255,255,.08); padding: 1px 8px;
  border-radius: 6px; }
.sub { margin: 0; color: #b8c3d9; font-size: 13px; }
.sub code { color: #e8ecf4; font-size: 12.5px; }
.sub .sep { color: #5d6b89; margin: 0 8px; }
h2 { font-size: 17px; margin: 34px 0 12px; font-weight: 650; display: flex; align-items: baseline;
  gap: 10px; }
h2 .hint { font-size: 12.5px; font-weight: 400; color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 12px 16px; }
.card .k { color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: .06em; }
.card .v { font-size: 24px; font-weight: 650; margin-top: 2px; font-variant-numeric: tabular-nums; }
.card .d { color: var(--muted); font-size: 12.5px; }
.card.ok { border-top: 3px solid var(--ok); } .card.low { border-top: 3px solid var(--warn); }
.card.high { border-top: 3px solid var(--bad); }
.card.plain { border-top: 3px solid var(--accent); }
nav.toc { margin: 18px 0 0; font-size: 13px; color: var(--muted); }
nav.toc a { color: var(--accent); text-decoration: none; margin-right: 16px; }
nav.toc a:hover { text-decoration: underline; }
.panel { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  overflow: hidden; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 12px; text-align: left; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { background: #fafbfc; color: var(--muted); font-weight: 600; font-size: 12px;
  text-transform: uppercase; letter-spacing: .04em; white-space: nowrap; }
tr:last-child td { border-bottom: 0; }
tbody tr:hover td { background: #fafbff; }
td.n, th.n { text-align: right; white-space: nowrap; }
td code { word-break: break-all; }
td a { color: inherit; text-decoration: underline dotted #9aa5b5; text-underline-offset: 3px; }
td a:hover { color: var(--accent); }
.rate { display: inline-flex; align-items: center; gap: 8px; justify-content: flex-end; }
.bar { width: 70px; height: 6px; background: #edf0f4; border-radius: 3px; overflow: hidden; }
.bar span { display: block; height: 100%; }
.ok .bar span, .bar.ok span { background: var(--ok); }
.low .bar span, .bar.low span { background: var(--warn); }
.high .bar span, .bar.high span { background: var(--bad); }
.t-ok { color: var(--ok); } .t-low { color: var(--warn); } .t-high { color: var(--bad);
  font-weight: 600; }
.t-slower { color: var(--bad); } .t-faster { color: var(--ok); } .t-even { color: var(--ink); }
.muted { color: var(--faint); }
.tag { display: inline-block; font-size: 11px; font-weight: 600; padding: 1px 7px;
  border-radius: 999px; letter-spacing: .02em; white-space: nowrap; }
.tag.noise { background: #eef0f3; color: var(--muted); }
.tag.warn { background: var(--warn-soft); color: var(--warn); }
.tag.bad { background: var(--bad-soft); color: var(--bad); }
.tag.kind { background: var(--accent-soft); color: var(--accent); font-family: var(--mono);
  font-weight: 500; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; }
.chip { font-family: var(--mono); font-size: 12px; background: var(--accent-soft);
  color: #27408b; border-radius: 6px; padding: 2px 8px; }
.chip.noise { background: #eef0f3; color: var(--muted); }
.sig { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  margin-bottom: 16px; overflow: hidden; }
.sig > .head { padding: 14px 18px; border-bottom: 1px solid var(--line); }
.sig .count { font-size: 20px; font-weight: 700; margin-right: 8px;
  font-variant-numeric: tabular-nums; }
.sig .endpoint { font-family: var(--mono); font-weight: 600; }
.sig .meta { color: var(--muted); font-size: 12.5px; margin-left: 8px; }
.sig.error { border-left: 4px solid var(--bad); }
.sample { padding: 14px 18px 18px; }
.sample .req { font-size: 12.5px; color: var(--muted); margin-bottom: 10px; }
.sample .req code { color: var(--ink); background: #f1f3f6; padding: 1px 6px; border-radius: 4px; }
.sides { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
.side { border: 1px solid var(--line); border-radius: 8px; overflow: hidden; min-width: 0; }
.side .cap { display: flex; justify-content: space-between; gap: 10px; padding: 6px 12px;
  font-size: 12px; background: #fafbfc; border-bottom: 1px solid var(--line);
  color: var(--muted); }
.side .cap b { color: var(--ink); }
.side .cap .st.marked { color: var(--bad); font-weight: 700; }
.side .note { padding: 6px 12px; font-size: 12.5px; color: var(--muted); font-style: italic; }
pre.body { margin: 0; padding: 8px 0; max-height: 460px; overflow: auto; counter-reset: ln;
  line-height: 1.5; background: #fff; }
pre.body span { display: block; padding: 0 12px 0 4.2em; text-indent: -4.2em;
  white-space: pre-wrap; overflow-wrap: anywhere; }
pre.body span::before { counter-increment: ln; content: counter(ln); display: inline-block;
  width: 3.2em; padding-right: 1em; text-indent: 0; text-align: right; color: #b3bcc8;
  user-select: none; }
.old pre.body span.m { background: var(--old-soft); box-shadow: inset 3px 0 0 var(--bad); }
.new pre.body span.m { background: var(--new-soft); box-shadow: inset 3px 0 0 var(--ok); }
pre.body .cut { color: var(--faint); font-style: italic; }
table.paths { margin-top: 12px; border: 1px solid var(--line); border-radius: 8px;
  overflow: hidden; }
table.paths td.o code { color: var(--bad); } table.paths td.nw code { color: var(--ok); }
details { margin-top: 8px; }
details summary { cursor: pointer; color: var(--accent); font-size: 13px; }
.ep-fields { margin-bottom: 14px; }
.ep-fields h3 { font-size: 14px; margin: 0; padding: 10px 14px; font-family: var(--mono);
  border-bottom: 1px solid var(--line); background: #fafbfc; }
.ep-fields .absorbed { padding: 4px 14px 12px; }
.ep-fields .absorbed table { margin-top: 6px; }
tr.unused td { background: var(--warn-soft); }
.empty { padding: 18px; color: var(--muted); }
footer { margin-top: 36px; color: var(--faint); font-size: 12px; }
@media (max-width: 900px) { .sides { grid-template-columns: 1fr; } .wrap { padding: 0 14px 40px; } }
@media print { header.top { background: none; color: var(--ink); } .sub { color: var(--muted); }
  pre.body { max-height: none; } }
"""


def esc(value: object) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _code(value: object) -> str:
    return f"<code>{esc(value)}</code>"


def _rate_cell(rate: float) -> str:
    level = rate_level(rate)
    width = 0 if rate <= 0 else max(3.0, min(100.0, rate * 100))
    text_cls = "muted" if rate <= 0 else f"t-{level}"
    return (
        f'<td class="n {level}"><span class="rate"><span class="{text_cls}">{esc(pct(rate))}'
        f'</span><span class="bar"><span style="width:{width:.1f}%"></span></span></span></td>'
    )


def _ratio_cell(value: float | None) -> str:
    return f'<td class="n t-{ratio_level(value)}">{esc(ratio(value))}</td>'


def _num(value: object) -> str:
    return f'<td class="n">{esc(value)}</td>'


def _thead(cols: Sequence[tuple[str, bool]]) -> str:
    cells = "".join(f'<th class="n">{esc(c)}</th>' if r else f"<th>{esc(c)}</th>" for c, r in cols)
    return f"<thead><tr>{cells}</tr></thead>"


def _cards(report: Report) -> str:
    run = report.run
    level = rate_level(run.diff_rate)
    cards = [
        ("plain", "Requests", f"{run.compared}", f"of {run.requests} replayed"),
        (level, "Differing", f"{run.different}", f"{pct(run.diff_rate)} of compared"),
    ]
    if run.different_adjusted is not None:
        adj = run.diff_rate_adjusted or 0.0
        cards.append(
            (
                rate_level(adj),
                "Noise-adjusted",
                f"{run.different_adjusted}",
                f"{pct(adj)}; old vs old: {run.baseline_different}",
            )
        )
    cards.append(("high" if run.errors else "ok", "Errors", f"{run.errors}", "replay failures"))
    lat = report.latency
    cards.append(
        (
            "plain",
            "p50 latency",
            DASH if lat.new.p50 is None else f"{ms(lat.new.p50)} ms",
            f"old {ms(lat.old.p50)} ms · {ratio(lat.p50_ratio)}",
        )
    )
    unused = len(report.unused_rules)
    cards.append(
        (
            "low" if unused else "plain",
            "Rules",
            f"{len(report.rules)}",
            f"{unused} matched nothing" if unused else ("all matched" if report.rules else "none"),
        )
    )
    out = ['<section class="cards">']
    for cls, k, v, d in cards:
        out.append(
            f'<div class="card {cls}"><div class="k">{esc(k)}</div><div class="v">{esc(v)}</div>'
            f'<div class="d">{esc(d)}</div></div>'
        )
    out.append("</section>")
    return "\n".join(out)


def _endpoints(report: Report) -> str:
    adjusted = report.has_baseline
    cols = [("Endpoint", False), ("Requests", True), ("Differing", True), ("Rate", True)]
    cols += [("Noise-adjusted", True)] if adjusted else []
    cols += [("Errors", True), ("Old p50 ms", True), ("New p50 ms", True), ("p50 ratio", True)]
    rows = []
    for i, e in enumerate(report.endpoints):
        name = _code(e.endpoint)
        if e.fields:
            name = f'<a href="#ep-{i}">{name}</a>'
        cells = [
            f"<td>{name}</td>",
            _num(e.requests),
            _num(e.different),
            _rate_cell(e.diff_rate),
        ]
        if adjusted:
            cells.append(_num(e.different_adjusted))
        cells += [
            f'<td class="n{" t-high" if e.errors else ""}">{esc(e.errors)}</td>',
            _num(ms(e.latency.old.p50)),
            _num(ms(e.latency.new.p50)),
            _ratio_cell(e.latency.p50_ratio),
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        '<section id="endpoints-section"><h2>Endpoints'
        f'<span class="hint">{_plural(len(report.endpoints), "endpoint")}, most differing first'
        "</span></h2>"
        f'<div class="panel"><table id="endpoints">{_thead(cols)}<tbody>'
        + "".join(rows)
        + "</tbody></table></div></section>"
    )


def _field_rows(e: EndpointReport) -> str:
    rows = []
    for f in e.fields:
        tag = ' <span class="tag noise">noise</span>' if f.noise else ""
        rows.append(
            f"<tr><td>{_code(f.path)}{tag}</td><td>{esc(f.part)}</td>"
            f'<td><span class="tag kind">{esc(f.kind)}</span></td>{_num(f.requests)}</tr>'
        )
    return "".join(rows)


def _absorbed(e: EndpointReport) -> str:
    if not e.absorbed:
        return ""
    rows = []
    for a in e.absorbed:
        paths = ", ".join(
            f"{_code(f.path)} <span class='muted'>{esc(f.kind)}</span>" for f in a.fields
        )
        rows.append(f"<tr><td>{esc(a.rule)}</td>{_num(a.requests)}<td>{paths}</td></tr>")
    return (
        f'<div class="absorbed"><details><summary>absorbed by {_plural(len(e.absorbed), "rule")}'
        f"</summary><table>{_thead([('Rule', False), ('Requests', True), ('Fields', False)])}"
        "<tbody>" + "".join(rows) + "</tbody></table></details></div>"
    )


def _fields(report: Report) -> str:
    cols = [("Path", False), ("Part", False), ("Kind", False), ("Requests", True)]
    blocks = [
        f'<div class="panel ep-fields" id="ep-{i}"><h3>{esc(e.endpoint)}</h3>'
        f"<table>{_thead(cols)}<tbody>{_field_rows(e)}</tbody></table>{_absorbed(e)}</div>"
        for i, e in enumerate(report.endpoints)
        if e.fields
    ]
    quiet = [e for e in report.endpoints if e.absorbed and not e.fields]
    if quiet:
        rows = "".join(
            f"<tr><td>{_code(e.endpoint)}</td><td>{esc(a.rule)}</td>{_num(a.requests)}<td>"
            + ", ".join(_code(f.path) for f in a.fields)
            + "</td></tr>"
            for e in quiet
            for a in e.absorbed
        )
        head = _thead([("Endpoint", False), ("Rule", False), ("Requests", True), ("Fields", False)])
        blocks.append(
            '<div class="panel ep-fields"><div class="absorbed"><details><summary>'
            f"{_plural(len(quiet), 'endpoint')} without counting differences: what rules "
            "absorbed there"
            f"</summary><table>{head}<tbody>{rows}</tbody></table></details></div></div>"
        )
    if not blocks:
        return ""
    return (
        '<section id="fields"><h2>Fields<span class="hint">counting differences per endpoint; '
        "differences absorbed by rules are folded away</span></h2>" + "".join(blocks) + "</section>"
    )


def _body(view: BodyView, side: str, title: str) -> str:
    status = "no answer" if view.status is None else f"HTTP {view.status}"
    st_cls = "st marked" if view.status_marked else "st"
    ctype = f" · {esc(view.content_type)}" if view.content_type else ""
    cap = (
        f'<div class="cap"><span><b>{esc(title)}</b>{ctype}</span>'
        f'<span class="{st_cls}">{esc(status)}</span></div>'
    )
    note = f'<div class="note">{esc(view.note)}</div>' if view.note else ""
    lines = "".join(
        f"<span{MARK if ln.marked else ''}>{esc(ln.text) or ' '}</span>" for ln in view.lines
    )
    if view.truncated:
        lines += f'<span class="cut">… cut for display; {esc(view.size)} bytes in all</span>'
    pre = f'<pre class="body">{lines}</pre>' if lines else ""
    return f'<div class="side {side}">{cap}{note}{pre}</div>'


def _paths(sample: Sample) -> str:
    if not sample.fields:
        return ""
    rows = "".join(
        f"<tr><td>{_code(f.path)}</td><td><span class='tag kind'>{esc(f.kind)}</span></td>"
        f"<td class='o'>{_code(f.old if f.old is not None else DASH)}</td>"
        f"<td class='nw'>{_code(f.new if f.new is not None else DASH)}</td></tr>"
        for f in sample.fields
    )
    cols = [("Differing path", False), ("Kind", False), ("Old", False), ("New", False)]
    return f'<table class="paths">{_thead(cols)}<tbody>{rows}</tbody></table>'


def _sample(sample: Sample) -> str:
    return (
        f'<div class="sample"><div class="req">sample exchange {esc(sample.exchange_id)}: '
        f"{_code(sample.request)}</div>"
        f'<div class="sides">{_body(sample.old, "old", "old · recorded")}'
        f"{_body(sample.new, 'new', 'new · replayed')}</div>{_paths(sample)}</div>"
    )


def _signature(sig: SignatureReport, index: int, with_samples: bool) -> str:
    noise = ' <span class="tag noise">noise</span>' if sig.noise else ""
    error = ' <span class="tag bad">error</span>' if sig.verdict == "error" else ""
    sig_id = f' · <span class="mono">{esc(sig.signature)}</span>' if sig.signature else ""
    chips = "".join(f'<span class="chip">{esc(item)}</span>' for item in sig.items)
    samples = "".join(_sample(s) for s in sig.samples) if with_samples else ""
    return (
        f'<article class="sig{" error" if sig.verdict == "error" else ""}" id="sig-{index}">'
        f'<div class="head"><span class="count">{esc(sig.requests)}</span>'
        f'<span class="endpoint">{esc(sig.endpoint)}</span>'
        f'<span class="meta">{esc(pct(sig.share))} of requests{sig_id}</span>{noise}{error}'
        f'<div class="chips">{chips}</div></div>{samples}</article>'
    )


def _signatures(report: Report) -> str:
    if not report.signatures:
        return (
            '<section id="signatures"><h2>Root causes</h2><div class="panel empty">'
            "No differing requests: every answer matched.</div></section>"
        )
    arts = [_signature(sig, i, i < MAX_HTML_SAMPLES) for i, sig in enumerate(report.signatures, 1)]
    return (
        '<section id="signatures"><h2>Root causes'
        f'<span class="hint">{_plural(len(report.signatures), "signature")}, most requests '
        "first; samples show old and new side by side, differing lines marked</span></h2>"
        + "".join(arts)
        + "</section>"
    )


def _latency(report: Report) -> str:
    cols = [("Endpoint", False), ("n", True)]
    cols += [(f"Old {p}", True) for p in ("p50", "p95", "p99")]
    cols += [(f"New {p}", True) for p in ("p50", "p95", "p99")]
    cols += [("p50 ratio", True)]

    def row(
        name: str,
        lat_old: Iterable[float | None],
        lat_new: Iterable[float | None],
        n: int,
        r: float | None,
        strong: bool = False,
    ) -> str:
        label = f"<b>{esc(name)}</b>" if strong else _code(name)
        cells = "".join(_num(ms(v)) for v in (*lat_old, *lat_new))
        return f"<tr><td>{label}</td>{_num(n)}{cells}{_ratio_cell(r)}</tr>"

    rows = []
    for e in report.endpoints:
        o, n = e.latency.old, e.latency.new
        rows.append(
            row(
                e.endpoint,
                (o.p50, o.p95, o.p99),
                (n.p50, n.p95, n.p99),
                n.count,
                e.latency.p50_ratio,
            )
        )
    o, n = report.latency.old, report.latency.new
    rows.append(
        row(
            "all endpoints",
            (o.p50, o.p95, o.p99),
            (n.p50, n.p95, n.p99),
            n.count,
            report.latency.p50_ratio,
            strong=True,
        )
    )
    return (
        '<section id="latency-section"><h2>Latency<span class="hint">milliseconds; old = '
        "recorded through the proxy, new = replayed</span></h2>"
        f'<div class="panel"><table id="latency">{_thead(cols)}<tbody>'
        + "".join(rows)
        + "</tbody></table></div></section>"
    )


def _noise(report: Report) -> str:
    if not report.has_baseline:
        return ""
    if not report.noise:
        body = '<div class="empty">No counting difference old-vs-new or old-vs-old.</div>'
    else:
        cols = [
            ("Endpoint", False),
            ("Path", False),
            ("Kind", False),
            ("R old-vs-new", True),
            ("N old-vs-old", True),
            ("Verdict", False),
        ]
        rows = "".join(
            f"<tr><td>{_code(n.endpoint)}</td><td>{_code(n.path)}</td>"
            f'<td><span class="tag kind">{esc(n.kind)}</span></td>{_num(pct(n.r))}'
            f"{_num(pct(n.n))}<td>"
            + (
                '<span class="tag noise">noise</span>'
                if n.noise
                else '<span class="muted">signal</span>'
            )
            + "</td></tr>"
            for n in report.noise
        )
        body = f'<table id="noise">{_thead(cols)}<tbody>{rows}</tbody></table>'
    return (
        '<section id="noise-section"><h2>Noise<span class="hint">a value difference that also '
        "shows old vs old (N &ge; R/2) is noise; missing, extra and type never are</span></h2>"
        f'<div class="panel">{body}</div></section>'
    )


def _rules(report: Report) -> str:
    if not report.rules:
        return (
            '<section id="rules-section"><h2>Rules</h2><div class="panel empty">No rules were '
            "in force for this run.</div></section>"
        )
    cols = [("Rule", False), ("Kind", False), ("Hits", True), ("Origin", False), ("Reason", False)]
    rows = []
    for r in report.rules:
        flag = ' <span class="tag warn">matched nothing</span>' if r.unused else ""
        rows.append(
            f"<tr{UNUSED if r.unused else ''}><td>{esc(r.rule)}{flag}</td>"
            f'<td><span class="tag kind">{esc(r.kind or DASH)}</span></td>{_num(r.count)}'
            f'<td class="muted">{esc(r.origin or DASH)}</td><td>{esc(r.reason or "")}</td></tr>'
        )
    return (
        '<section id="rules-section"><h2>Rules<span class="hint">hits per rule; a rule that '
        "matched nothing is flagged</span></h2>"
        f'<div class="panel"><table id="rules">{_thead(cols)}<tbody>'
        + "".join(rows)
        + "</tbody></table></div></section>"
    )


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_html(report: Report) -> str:
    """The whole page as one string."""
    run = report.run
    sep = '<span class="sep">·</span>'
    sub = [f"session {_code(run.session)}", f"target {_code(run.target)}"]
    if run.baseline:
        sub.append(f"baseline {_code(run.baseline)} ({_code(run.baseline_target)})")
    sub.append(f"replayed {esc(_when(run.started_at))}")
    toc = [
        ("endpoints-section", "Endpoints"),
        ("fields", "Fields"),
        ("signatures", "Root causes"),
        ("latency-section", "Latency"),
    ]
    toc += [("noise-section", "Noise")] if report.has_baseline else []
    toc += [("rules-section", "Rules")]
    nav = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in toc)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'\">",
            f"<title>shadowdiff report · {esc(run.name)}</title>",
            f"<style>{CSS}</style></head><body>",
            f'<header class="top"><div class="wrap"><div class="brand">shadowdiff report</div>'
            f'<h1>Run {_code(run.name)}</h1><p class="sub">{sep.join(sub)}</p></div></header>',
            '<div class="wrap">',
            _cards(report),
            f'<nav class="toc">{nav}</nav>',
            _endpoints(report),
            _fields(report),
            _signatures(report),
            _latency(report),
            _noise(report),
            _rules(report),
            f"<footer>Generated by shadowdiff on {esc(_when(report.generated_at))}. Old = the "
            "recorded answer of the service being replaced; new = the replayed answer of the "
            "candidate.</footer>",
            "</div></body></html>",
            "",
        ]
    )
