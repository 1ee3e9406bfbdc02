"""The report's OpenAPI section: the spec's coverage table and schema findings, per format.

Only present when the run was diffed with a spec (or `report --openapi` gives one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from shadowdiff.analysis.spec_check import SpecCheck

SIDES = (("new", "new side (the candidate)"), ("old", "old side (the recording)"))


def spec_dict(check: SpecCheck | None) -> dict[str, Any] | None:
    """Plain data for JSON."""
    if check is None:
        return None
    cov = check.coverage
    return {
        "source": check.source,
        "operations": [{"endpoint": o.endpoint, "requests": o.requests} for o in cov.operations],
        "never_exercised": [o.endpoint for o in cov.never],
        "unmatched": [{"endpoint": o.endpoint, "requests": o.requests} for o in cov.unmatched],
        "schema_findings": [
            {
                "exchange_id": f.exchange_id,
                "endpoint": f.endpoint,
                "side": f.side,
                "status": f.status,
                "path": f.path,
                "message": f.message,
            }
            for f in check.findings
        ],
    }


def spec_text(check: SpecCheck | None) -> list[Table]:
    """Rich tables: coverage, then findings per side (when any)."""
    if check is None:
        return []
    cov = check.coverage
    title = (
        f"OpenAPI coverage ({cov.source}): {len(cov.exercised)} of {len(cov.operations)} "
        "operations exercised"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("operation")
    table.add_column("requests", justify="right")
    for o in cov.operations:
        count = Text(str(o.requests)) if o.requests else Text("never", "yellow")
        table.add_row(Text(o.endpoint), count)
    for o in cov.unmatched:
        table.add_row(Text(f"{o.endpoint} (matches no operation)", "yellow"), Text(str(o.requests)))
    tables = [table]
    for side, label in SIDES:
        groups = check.grouped(side)
        if groups:
            t = Table(title=f"schema findings, {label}", title_justify="left")
            for name in ("operation", "where", "problem", "responses"):
                t.add_column(name, justify="right" if name == "responses" else "left")
            for ep, path, msg, n in groups:
                t.add_row(Text(ep), Text(path), Text(msg), Text(str(n)))
            tables.append(t)
    return tables


def spec_markdown(check: SpecCheck | None, cell: Any, code: Any) -> list[str]:
    """Markdown lines; ``cell``/``code`` are the renderer's escapers."""
    if check is None:
        return []
    cov = check.coverage
    out = [
        "## OpenAPI coverage",
        "",
        f"{len(cov.exercised)} of {len(cov.operations)} operations of {code(cov.source)} "
        "exercised.",
        "",
        "| operation | requests |",
        "|---|--:|",
    ]
    out += [f"| {code(o.endpoint)} | {o.requests or 'never'} |" for o in cov.operations]
    out += [f"| {code(o.endpoint)} (matches no operation) | {o.requests} |" for o in cov.unmatched]
    out.append("")
    for side, label in SIDES:
        groups = check.grouped(side)
        if groups:
            out += [f"### Schema findings, {label}", ""]
            out += ["| operation | where | problem | responses |", "|---|---|---|--:|"]
            out += [f"| {code(ep)} | {code(p)} | {cell(m)} | {n} |" for ep, p, m, n in groups]
            out.append("")
    return out
