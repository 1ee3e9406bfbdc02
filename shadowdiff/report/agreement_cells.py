"""Agreement figures as the renderers write them: one set of cells and one summary line.

Numbers: ``n`` values compared, ``agree`` the share within the path's tolerance rule (equal
when no rule names it), the largest absolute and relative error, and p50/p99 of the absolute
error. Labels: ``n``, the share equal, and the most frequent old -> new changes.
"""

from __future__ import annotations

from typing import Final

from shadowdiff.formatting import figure, share
from shadowdiff.report.contents import AgreementFigures

__all__ = [
    "LABEL_HEADER",
    "NUMBER_HEADER",
    "SHOWN_CHANGES",
    "changes_text",
    "label_cells",
    "number_cells",
    "summary_line",
]

SHOWN_CHANGES: Final = 3
NUMBER_HEADER: Final = ("n", "agree", "max abs", "max rel", "p50 abs", "p99 abs")
LABEL_HEADER: Final = ("n", "agree", "most frequent changes (old → new ×count)")
NUMBER_NOTE: Final = (
    "agree: within the path's tolerance rule (equal where no rule names it); "
    "errors are |new - old|, relative to max(|old|, |new|)"
)


def number_cells(a: AgreementFigures) -> tuple[str, ...]:
    return (
        str(a.compared),
        share(a.agreement),
        figure(a.max_abs),
        figure(a.max_rel),
        figure(a.p50_abs),
        figure(a.p99_abs),
    )


def changes_text(a: AgreementFigures, shown: int = SHOWN_CHANGES) -> str:
    return "; ".join(f"{c.old} → {c.new} ×{c.count}" for c in a.changes[:shown])


def label_cells(a: AgreementFigures) -> tuple[str, ...]:
    return (str(a.compared), share(a.agreement), changes_text(a))


def summary_line(a: AgreementFigures) -> str:
    """One line: ``POST /predict/ body.predictions[*]: 3000 values, 100% within tolerance,
    max abs 5e-11, max rel 1.2e-11, p50 abs 2.4e-11, p99 abs 4.9e-11``."""
    head = f"{a.endpoint} {a.path}: "
    if a.value_type == "number":
        within = "within tolerance" if a.rule else "equal"
        return (
            f"{head}{a.compared} values, {share(a.agreement)} {within}, "
            f"max abs {figure(a.max_abs)}, max rel {figure(a.max_rel)}, "
            f"p50 abs {figure(a.p50_abs)}, p99 abs {figure(a.p99_abs)}"
        )
    changes = changes_text(a)
    return f"{head}{a.compared} labels, {share(a.agreement)} equal" + (
        f"; {changes}" if changes else ""
    )
