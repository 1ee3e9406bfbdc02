"""A Report as GitHub-flavoured Markdown (for PR comments and CI summaries).

Recorded values in tables are escaped (`|`, backslashes, newlines, HTML); bodies go into
fenced `diff` blocks (old lines `-`, new lines `+` where they differ) with a fence longer
than any backtick run inside.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Final

from shadowdiff.formatting import DASH, ms, pct, ratio
from shadowdiff.report.body_view import BodyView
from shadowdiff.report.model import Report, Sample, SignatureReport

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


def _sample(sig: SignatureReport, sample: Sample) -> list[str]:
    out = [
        f"**Sample** exchange {sample.exchange_id}: {code(sample.request)}",
        "",
        "Old (recorded):",
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
                [tcode(f.path), f.kind, tcode(f.old or DASH), tcode(f.new or DASH)]
                for f in sample.fields
            ),
            set(),
        )
    return out


def render_markdown(report: Report) -> str:
    run = report.run
    out = [f"# shadowdiff report: run {code(run.name)}", ""]
    out.append(
        f"Session {code(run.session)} replayed to {code(run.target)}"
        + (f", baseline {code(run.baseline)} ({code(run.baseline_target)})" if run.baseline else "")
        + "."
    )
    out.append("")
    summary = (
        f"**{run.compared}** requests compared, **{run.different}** different "
        f"(**{pct(run.diff_rate)}**), {run.errors} errors"
    )
    if run.different_adjusted is not None:
        summary += (
            f"; noise-adjusted {run.different_adjusted} ({pct(run.diff_rate_adjusted)}); "
            f"old vs old: {run.baseline_different} differing"
        )
    out += [summary + ".", ""]

    out += ["## Endpoints", ""]
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
    out += _table(header, rows, set(range(1, len(header))))

    fields = [(e.endpoint, f) for e in report.endpoints for f in e.fields]
    if fields:
        out += ["## Differing fields", ""]
        out += _table(
            ["endpoint", "path", "kind", "requests", "noise"],
            (
                [tcode(ep), tcode(f.path), f.kind, str(f.requests), "noise" if f.noise else ""]
                for ep, f in fields
            ),
            {3},
        )

    if report.signatures:
        out += ["## Root causes (signatures)", ""]
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
                out += _sample(sig, sample)

    out += ["## Latency (ms)", ""]
    out += _table(
        [
            "endpoint",
            "n",
            "old p50",
            "old p95",
            "old p99",
            "new p50",
            "new p95",
            "new p99",
            "ratio",
        ],
        (
            [
                tcode(e.endpoint),
                str(e.latency.new.count),
                ms(e.latency.old.p50),
                ms(e.latency.old.p95),
                ms(e.latency.old.p99),
                ms(e.latency.new.p50),
                ms(e.latency.new.p95),
                ms(e.latency.new.p99),
                ratio(e.latency.p50_ratio),
            ]
            for e in report.endpoints
        ),
        set(range(1, 9)),
    )

    if report.noise:
        out += ["## Noise (R: old vs new, N: old vs old)", ""]
        out += _table(
            ["endpoint", "path", "kind", "R", "N", "noise"],
            (
                [
                    tcode(n.endpoint),
                    tcode(n.path),
                    n.kind,
                    pct(n.r),
                    pct(n.n),
                    "noise" if n.noise else "",
                ]
                for n in report.noise
            ),
            {3, 4},
        )

    if report.rules:
        out += ["## Rule hits", ""]
        out += _table(
            ["rule", "kind", "hits", "reason"],
            (
                [
                    cell(r.rule),
                    cell(r.kind or DASH),
                    "**0 (matched nothing)**" if r.unused else str(r.count),
                    cell(r.reason or ""),
                ]
                for r in report.rules
            ),
            {2},
        )
    return "\n".join(out).rstrip() + "\n"
