"""A Report as ONE self-contained HTML page: inline CSS, no scripts, no network requests.

The page is rendered by Jinja2 from the templates in ``shadowdiff/report/templates/``
(`report.html` and the sections it includes, pieces in `macros.html`, the style sheet in
`report.css`) with autoescape on. Every recorded value (endpoints, paths, bodies, rule texts,
run names) is escaped as `html.escape` does, so a recorded `<script>` shows as text. A
Content-Security-Policy meta tag (`default-src 'none'`) forbids the page to load anything,
should a value ever slip through.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from shadowdiff.analysis.latency import BASIS_NOTE
from shadowdiff.formatting import DASH, ms, pct, ratio, side_value
from shadowdiff.report.agreement_cells import (
    LABEL_HEADER,
    NUMBER_HEADER,
    NUMBER_NOTE,
    label_cells,
    number_cells,
)
from shadowdiff.report.figures import rate_level, ratio_level
from shadowdiff.report.model import Report
from shadowdiff.report.openapi import SIDES

MAX_HTML_SAMPLES: Final = 50  # signatures from this one on show no samples

Columns = Sequence[tuple[str, bool]]  # (label, right-aligned)

ENDPOINT_COLUMNS: Final[Columns] = (
    ("Endpoint", False),
    ("Requests", True),
    ("Differing", True),
    ("Rate", True),
)
ENDPOINT_TAIL_COLUMNS: Final[Columns] = (
    ("Errors", True),
    ("Old p50 ms", True),
    ("New p50 ms", True),
    ("p50 ratio", True),
)
LATENCY_COLUMNS: Final[Columns] = (
    ("Endpoint", False),
    ("n", True),
    *((f"Old {p}", True) for p in ("p50", "p95", "p99")),
    *((f"New {p}", True) for p in ("p50", "p95", "p99")),
    ("p50 ratio", True),
)
NOISE_COLUMNS: Final[Columns] = (
    ("Endpoint", False),
    ("Path", False),
    ("Kind", False),
    ("R old-vs-new", True),
    ("N old-vs-old", True),
    ("Verdict", False),
)
RULE_COLUMNS: Final[Columns] = (
    ("Rule", False),
    ("Kind", False),
    ("Hits", True),
    ("Origin", False),
    ("Reason", False),
)

FINDING_COLUMNS: Final[Columns] = (
    ("Finding", False),
    ("Differences", False),
    ("Endpoints", True),
    ("With field", True),
    ("Requests", True),
    ("Sample old → new", False),
)
VOLATILE_COLUMNS: Final[Columns] = (
    ("Where", False),
    ("Requests", True),
    ("Old", False),
    ("New", False),
)
HIDDEN_COLUMNS: Final[Columns] = (
    ("Rule", False),
    ("Kind", False),
    ("Hits", True),
    ("Requests", True),
    ("Endpoints", True),
    ("Paths", True),
    ("Absorbed", False),
    ("Sample", False),
    ("Old", False),
    ("New", False),
)


@dataclass(frozen=True)
class Card:
    """One summary card at the top: a colour level, a label, a big value, a detail line."""

    level: str
    key: str
    value: str
    detail: str


@dataclass(frozen=True)
class LatencyRow:
    label: str
    n: int
    values: tuple[float | None, ...]  # old p50 p95 p99, new p50 p95 p99
    ratio: float | None
    strong: bool = False


def escape(value: object) -> Markup:
    """Escape any value for HTML text or a quoted attribute, exactly as `html.escape` does."""
    if isinstance(value, Markup):
        return value  # already HTML: a macro's output
    return Markup(html.escape(str(value), quote=True))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _bar_width(rate: float) -> str:
    return f"{0 if rate <= 0 else max(3.0, min(100.0, rate * 100)):.1f}"


def _dash(value: object) -> object:
    return DASH if value is None else value


@cache
def environment() -> Environment:
    """The Jinja2 environment of the report templates (autoescape on, strict undefined)."""
    env = Environment(
        loader=PackageLoader("shadowdiff.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        finalize=escape,
    )
    env.filters.update(
        pct=pct,
        ms=ms,
        ratio=ratio,
        rate_level=rate_level,
        ratio_level=ratio_level,
        plural=_plural,
        when=_when,
        bar_width=_bar_width,
        dash=_dash,
        side=side_value,
    )
    env.globals["DASH"] = DASH
    return env


def cards(report: Report) -> list[Card]:
    """The summary cards: requests, differing, noise-adjusted, errors, latency, rules."""
    run = report.run
    out = [
        Card("plain", "Requests", f"{run.compared}", f"of {run.requests} replayed"),
        Card(
            rate_level(run.diff_rate),
            "Differing",
            f"{run.different}",
            f"{pct(run.diff_rate)} of compared",
        ),
    ]
    if run.different_adjusted is not None:
        adj = run.diff_rate_adjusted or 0.0
        detail = f"{pct(adj)}; old vs old: {run.baseline_different}"
        out.append(Card(rate_level(adj), "Noise-adjusted", f"{run.different_adjusted}", detail))
    out.append(Card("high" if run.errors else "ok", "Errors", f"{run.errors}", "replay failures"))
    lat = report.latency
    p50 = DASH if lat.new.p50 is None else f"{ms(lat.new.p50)} ms"
    out.append(
        Card("plain", "p50 latency", p50, f"old {ms(lat.old.p50)} ms · {ratio(lat.p50_ratio)}")
    )
    unused = len(report.unused_rules)
    matched = "all matched" if report.rules else "none"
    out.append(
        Card(
            "low" if unused else "plain",
            "Rules",
            f"{len(report.rules)}",
            f"{unused} matched nothing" if unused else matched,
        )
    )
    return out


def latency_rows(report: Report) -> list[LatencyRow]:
    """A row per endpoint, then one for all endpoints."""
    rows = []
    for e in report.endpoints:
        o, n = e.latency.old, e.latency.new
        values = (o.p50, o.p95, o.p99, n.p50, n.p95, n.p99)
        rows.append(LatencyRow(e.endpoint, n.count, values, e.latency.p50_ratio))
    o, n = report.latency.old, report.latency.new
    values = (o.p50, o.p95, o.p99, n.p50, n.p95, n.p99)
    rows.append(LatencyRow("all endpoints", n.count, values, report.latency.p50_ratio, True))
    return rows


def render_html(report: Report) -> str:
    """The whole page as one string."""
    adjusted: Columns = (("Noise-adjusted", True),) if report.has_baseline else ()
    context: dict[str, Any] = {
        "report": report,
        "run": report.run,
        "cards": cards(report),
        "endpoint_cols": [*ENDPOINT_COLUMNS, *adjusted, *ENDPOINT_TAIL_COLUMNS],
        "latency_cols": LATENCY_COLUMNS,
        "latency_note": BASIS_NOTE[report.latency.basis],
        "latency_rows": latency_rows(report),
        "noise_cols": NOISE_COLUMNS,
        "rule_cols": RULE_COLUMNS,
        "hidden_cols": HIDDEN_COLUMNS,
        "finding_cols": FINDING_COLUMNS,
        "volatile_cols": VOLATILE_COLUMNS,
        "max_samples": MAX_HTML_SAMPLES,
        **_agreement_context(report),
        "spec": report.spec,
        "spec_sides": SIDES,
    }
    return environment().get_template("report.html").render(context) + "\n"


def _agreement_context(report: Report) -> dict[str, Any]:
    """What agreement.html needs: columns, and each row's figures as text."""
    where: Columns = (("Endpoint", False), ("Path", False))
    return {
        "agreement_note": NUMBER_NOTE,
        "agreement_number_cols": [*where, *((c, True) for c in NUMBER_HEADER)],
        "agreement_label_cols": [*where, ("n", True), ("agree", True), (LABEL_HEADER[-1], False)],
        "agreement_number_rows": [(a, number_cells(a)) for a in report.agreement_numbers],
        "agreement_label_rows": [(a, label_cells(a)) for a in report.agreement_labels],
    }
