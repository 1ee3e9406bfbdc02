"""The agreement section of the terminal report: a table for number paths, one for labels.

Endpoint and path share one column (two lines), so the tables fit 80 columns.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from shadowdiff.report.agreement_cells import (
    LABEL_HEADER,
    NUMBER_HEADER,
    NUMBER_NOTE,
    label_cells,
    number_cells,
)
from shadowdiff.report.contents import AgreementFigures, Report

__all__ = ["agreement_tables"]


def _where(a: AgreementFigures) -> Text:
    return Text.assemble((a.endpoint, "dim"), "\n", a.path)


def _numbers(rows: list[AgreementFigures]) -> Table:
    table = Table(title="agreement: numbers", title_justify="left", caption=NUMBER_NOTE,
                  caption_justify="left")  # fmt: skip
    table.add_column("endpoint / path", overflow="fold", ratio=1)
    for col in NUMBER_HEADER:
        table.add_column(col, justify="right", no_wrap=True)
    for a in rows:
        cells = [Text(c) for c in number_cells(a)]
        if a.agreeing < a.compared:
            cells[1].stylize("bold red")
        table.add_row(_where(a), *cells)
    return table


def _labels(rows: list[AgreementFigures]) -> Table:
    table = Table(title="agreement: labels", title_justify="left")
    table.add_column("endpoint / path", overflow="fold", ratio=1)
    for col in LABEL_HEADER:
        right = col != LABEL_HEADER[-1]
        table.add_column(col, justify="right" if right else "left", no_wrap=right,
                         overflow="fold", ratio=None if right else 2)  # fmt: skip
    for a in rows:
        n, agree, changes = label_cells(a)
        style = "bold red" if a.agreeing < a.compared else ""
        table.add_row(_where(a), Text(n), Text(agree, style=style), Text(changes))
    return table


def agreement_tables(report: Report) -> list[Table]:
    """The section's tables (none when the run has no agreement figures)."""
    out = []
    if report.agreement_numbers:
        out.append(_numbers(report.agreement_numbers))
    if report.agreement_labels:
        out.append(_labels(report.agreement_labels))
    return out
