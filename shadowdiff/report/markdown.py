"""A Report as GitHub-flavoured Markdown (for PR comments and CI summaries).

Recorded values in tables are escaped (`|`, backslashes, newlines, HTML); bodies go into
fenced `diff` blocks (old lines `-`, new lines `+` where they differ) with a fence longer
than any backtick run inside. Control characters in recorded values are shown as escapes
(`shadowdiff.formatting.visible`): a terminal may print the file.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Final

from shadowdiff.analysis.latency import BASIS_NOTE
from shadowdiff.formatting import DASH, ms, pct, ratio, side_value, visible_all
from shadowdiff.report.agreement_cells import (
    LABEL_HEADER,
    NUMBER_HEADER,
    NUMBER_NOTE,
    label_cells,
    number_cells,
)
from shadowdiff.report.body_view import BodyView
from shadowdiff.report.model import Report, Sample, SignatureReport
from shadowdiff.report.openapi import spec_markdown

MAX_MD_SAMPLES: Final = 10
_BACKTICKS = re.compile(r"`+")


def cell(value: object) -> str:
    """A table cell: no newlines, no pipes that end the cell, no live HTML."""
    text = html.escape(str(value), quote=False)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def code(value: object) -> str:
    """Inline code that survives backticks inside the value."""
    text = str(value).replace("\n", " ")
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def tcode(value: object) -> str:
    """Inline code inside a table cell: GFM needs `\\|` for a pipe even in code spans."""
    return code(value).replace("|", "\\|")


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], right: set[int]) -> list[str]:
    align = ["---:" if i in right else "---" for i in range(len(header))]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out + [""]


def _fence(lines: Sequence[str], lang: str = "") -> list[str]:
    longest = max((len(m) for t in lines for m in _BACKTICKS.findall(t)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{lang}", *lines, fence]


def _body_lines(view: BodyView, mark: str) -> list[str]:
    status = "no answer" if view.status is None else f"HTTP {view.status}"
    head = f"{mark if view.status_marked else ' '} {status}"
    if view.content_type:
        head += f"  ({view.content_type})"
    lines = [head]
    if view.note:
        lines.append(f"  ({view.note})")
    lines += [f"{mark if ln.marked else ' '} {ln.text}" for ln in view.lines]
    if view.truncated:
        lines.append(f"  … (cut; {view.size} bytes in all)")
    return lines


def _sample(sig: SignatureReport, sample: Sample, old_side: str = "recorded") -> list[str]:
    out = [
        f"**Sample** exchange {sample.exchange_id}: {code(sample.request)}",
        "",
        f"Old ({old_side}):",
        "",
        *_fence(_body_lines(sample.old, "-"), "diff"),
        "",
        "New (replayed):",
        "",
        *_fence(_body_lines(sample.new, "+"), "diff"),
        "",
    ]
    if sample.fields:
        out += _table(
            ["path", "kind", "old", "new"],
            (
                [
                    tcode(f.path),
                    f.label,
                    tcode(side_value(f.old, f.kind, "old")),
                    tcode(side_value(f.new, f.kind, "new")),
                ]
                for f in sample.fields
            ),
            set(),
        )
    return out


def _summary(report: Report) -> list[str]:
    run = report.run
    baseline = (
        f", baseline {code(run.baseline)} ({code(run.baseline_target)})" if run.baseline else ""
    )
    if run.primary:
        baseline += f", in lockstep with primary {code(run.primary)} ({code(run.primary_target)})"
    summary = (
        f"**{run.compared}** requests compared, **{run.different}** different "
        f"(**{pct(run.diff_rate)}**), {run.errors} errors"
    )
    if run.different_adjusted is not None:
        summary += (
            f"; noise-adjusted {run.different_adjusted} ({pct(run.diff_rate_adjusted)}); "
            f"old vs old: {run.baseline_different} differing"
        )
    return [
        f"# shadowdiff report: run {code(run.name)}",
        "",
        f"Session {code(run.session)} replayed to {code(run.target)}{baseline}.",
        "",
        summary + ".",
        "",
        *([f"Drift: {cell(report.drift.line)}.", ""] if report.drift is not None else []),
    ]


def _endpoints(report: Report) -> list[str]:
    adjusted = report.has_baseline
    header = ["endpoint", "requests", "different", "rate"]
    header += ["noise-adjusted"] if adjusted else []
    header += ["errors", "old p50 ms", "new p50 ms", "p50 ratio"]
    rows = []
    for e in report.endpoints:
        row = [tcode(e.endpoint), str(e.requests), str(e.different), pct(e.diff_rate)]
        row += [str(e.different_adjusted)] if adjusted else []
        row += [
            str(e.errors),
            ms(e.latency.old.p50),
            ms(e.latency.new.p50),
            ratio(e.latency.p50_ratio),
        ]
        rows.append(row)
    return ["## Endpoints", "", *_table(header, rows, set(range(1, len(header))))]


def _fields(report: Report) -> list[str]:
    fields = [(e.endpoint, f) for e in report.endpoints for f in e.fields]
    if not fields:
        return []
    return [
        "## Differing fields",
        "",
        *_table(
            ["endpoint", "path", "kind", "requests", "noise"],
            (
                [tcode(ep), tcode(f.path), f.kind, str(f.requests), "noise" if f.noise else ""]
                for ep, f in fields
            ),
            {3},
        ),
    ]


def _findings(report: Report) -> list[str]:
    """Run-wide findings: once each, with coverage and one old/new sample per key."""
    if not report.findings:
        return []
    out = ["## Run-wide findings", ""]
    out += [
        "Differences on most endpoints where the field exists, reported once and left out of "
        "the signatures below.",
        "",
    ]
    rows = []
    for f in report.findings:
        sample = "; ".join(
            f"{v.path}: {side_value(v.old, v.kind, 'old')} -> {side_value(v.new, v.kind, 'new')}"
            for v in f.samples
        )
        rows.append(
            [tcode(f.finding_id), tcode(", ".join(f.items)), cell(f.coverage), tcode(sample),
             "noise" if f.noise else ""]
        )  # fmt: skip
    return out + _table(["id", "finding", "coverage", "sample", "noise"], rows, set())


def _signatures(report: Report) -> list[str]:
    if not report.signatures:
        return []
    out = ["## Root causes (signatures)", ""]
    out += _table(
        ["requests", "share", "signature", "noise"],
        (
            [str(s.requests), pct(s.share), tcode(s.text), "noise" if s.noise else ""]
            for s in report.signatures
        ),
        {0, 1},
    )
    shown = [s for s in report.signatures if s.samples][:MAX_MD_SAMPLES]
    for sig in shown:
        out += [f"### {code(sig.text)}", ""]
        for sample in sig.samples:
            out += _sample(sig, sample, report.run.old_side)
    return out


_LATENCY_HEADER: Final = (
    "endpoint",
    "n",
    "old p50",
    "old p95",
    "old p99",
    "new p50",
    "new p95",
    "new p99",
    "ratio",
)


def _latency(report: Report) -> list[str]:
    rows = (
        [
            tcode(e.endpoint),
            str(e.latency.new.count),
            *(ms(v) for v in (e.latency.old.p50, e.latency.old.p95, e.latency.old.p99)),
            *(ms(v) for v in (e.latency.new.p50, e.latency.new.p95, e.latency.new.p99)),
            ratio(e.latency.p50_ratio),
        ]
        for e in report.endpoints
    )
    note = BASIS_NOTE[report.latency.basis]
    return ["## Latency (ms)", "", f"{note}.", "", *_table(_LATENCY_HEADER, rows, set(range(1, 9)))]


def _noise(report: Report) -> list[str]:
    if not report.noise:
        return []
    rows = (
        [tcode(n.endpoint), tcode(n.path), n.kind, pct(n.r), pct(n.n), "noise" if n.noise else ""]
        for n in report.noise
    )
    return [
        "## Noise (R: old vs new, N: old vs old)",
        "",
        *_table(["endpoint", "path", "kind", "R", "N", "noise"], rows, {3, 4}),
    ]


def _rules(report: Report) -> list[str]:
    if not report.rules:
        return []
    rows = (
        [
            cell(r.rule),
            cell(r.kind or DASH),
            "**0 (matched nothing)**" if r.unused else str(r.count),
            cell(r.reason or ""),
        ]
        for r in report.rules
    )
    return ["## Rule hits", "", *_table(["rule", "kind", "hits", "reason"], rows, {2})]


def _hidden(report: Report) -> list[str]:
    """Hidden by rules: per rule its hits, what it touched and one absorbed difference."""
    if not report.hidden:
        return []
    rows = (
        [
            cell(h.rule) + (" **(broad)**" if h.broad else ""),
            cell(h.kind or DASH),
            *(str(n) for n in (h.hits, h.exchanges, h.endpoints, h.paths)),
            cell(", ".join(h.kinds)),
            f"{tcode(h.endpoint)} {tcode(h.path)} {cell(h.field_kind)} (exchange {h.exchange_id})",
            tcode(side_value(h.old, h.field_kind, "old")),
            tcode(side_value(h.new, h.field_kind, "new")),
        ]
        for h in report.hidden
    )
    header = ["rule", "kind", "hits", "requests", "endpoints", "paths", "absorbed", "sample"]
    header += ["old", "new"]
    note = "Differences the rules absorbed: they count nowhere else. One sample per rule."
    return ["## Hidden by rules", "", note, "", *_table(header, rows, {2, 3, 4, 5})]


def _volatile(report: Report) -> list[str]:
    """Volatile differences that did not count: per path, requests and one sample."""
    if not report.volatile:
        return []
    rows = (
        [
            f"{tcode(v.endpoint)} {tcode(v.path)} {cell(v.kind)} (exchange {v.exchange_id})",
            str(v.requests),
            tcode(side_value(v.old, v.kind, "old")),
            tcode(side_value(v.new, v.kind, "new")),
        ]
        for v in report.volatile
    )
    heading = report.volatile_heading
    title, note = heading.split(": ", 1)
    return [f"## {title[0].upper()}{title[1:]}", "", f"{note[0].upper()}{note[1:]}.", "",
            *_table(["where", "requests", "old", "new"], rows, {1})]  # fmt: skip


def _agreement(report: Report) -> list[str]:
    """Agreement figures: a table for number paths, one for label paths."""
    if not report.agreement:
        return []
    out = ["## Agreement", ""]
    if report.agreement_numbers:
        rows = (
            [tcode(a.endpoint), tcode(a.path), *number_cells(a)] for a in report.agreement_numbers
        )
        out += [f"{NUMBER_NOTE}.", ""]
        out += _table(["endpoint", "path", *NUMBER_HEADER], rows, set(range(2, 8)))
    if report.agreement_labels:
        rows = (
            [tcode(a.endpoint), tcode(a.path), *(cell(c) for c in label_cells(a))]
            for a in report.agreement_labels
        )
        out += _table(["endpoint", "path", *LABEL_HEADER], rows, {2, 3})
    return out


def _openapi(report: Report) -> list[str]:
    return spec_markdown(report.spec, cell, code)


SECTIONS: Final = (
    _summary,
    _endpoints,
    _fields,
    _findings,
    _signatures,
    _agreement,
    _latency,
    _noise,
    _rules,
    _hidden,
    _volatile,
    _openapi,
)


def render_markdown(report: Report) -> str:
    """The whole report: summary, endpoints, fields, run-wide findings, root causes with
    samples, agreement,
    latency, noise, rule hits, hidden by rules, OpenAPI (a section only when it has something
    to say)."""
    report = visible_all(report)
    out = [line for section in SECTIONS for line in section(report)]
    return "\n".join(out).rstrip() + "\n"
