"""Reports of a diffed run: build a `Report` from the store, render it in one of FORMATS.

>>> report = build_report(store, "candidate-20261121-101500")
>>> render(report, "html", Path("report.html"))
>>> render(report, "text", Console())

A gate result is written as JUnit in the report's layout by `write_gate_junit`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Final

from rich.console import Console

from shadowdiff.formatting import visible
from shadowdiff.report.html import render_html
from shadowdiff.report.json import render_json, to_dict
from shadowdiff.report.junit import render_gate_junit, render_junit, write_gate_junit
from shadowdiff.report.markdown import render_markdown
from shadowdiff.report.model import Report, ReportError, build_report
from shadowdiff.report.text import render_text

FORMATS: Final = ("text", "markdown", "json", "html", "junit")
_SUFFIXES: Final = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".json": "json",
    ".html": "html",
    ".htm": "html",
    ".xml": "junit",
}
TEXT_WIDTH: Final = 140

__all__ = [
    "FORMATS",
    "Report",
    "ReportError",
    "build_report",
    "format_for_path",
    "render",
    "render_gate_junit",
    "render_string",
    "to_dict",
    "write_gate_junit",
]


def format_for_path(path: Path) -> str | None:
    """The format a file name suggests (`report.html` -> "html"), or None."""
    return _SUFFIXES.get(path.suffix.lower())


def render_string(report: Report, fmt: str) -> str:
    """The report as a string (text: plain, no colours, TEXT_WIDTH columns)."""
    if fmt == "text":
        console = Console(record=True, width=TEXT_WIDTH, file=io.StringIO(), color_system=None)
        render_text(report, console)
        return console.export_text()
    renderers = {
        "markdown": render_markdown,
        "json": render_json,
        "html": render_html,
        "junit": render_junit,
    }
    if fmt not in renderers:
        raise ReportError(f"unknown report format {fmt!r}; choose from {', '.join(FORMATS)}")
    return renderers[fmt](report)


def render(report: Report, fmt: str, out: Console | Path) -> None:
    """Render `report` as `fmt` to a rich Console (the terminal) or into a file at a Path.

    Text goes to a Console with colours; every other format is written verbatim to a file, and
    to a Console with control characters shown as escapes (`shadowdiff.formatting.visible`).
    Raises ReportError for an unknown format or a file that cannot be written.
    """
    if fmt not in FORMATS:
        raise ReportError(f"unknown report format {fmt!r}; choose from {', '.join(FORMATS)}")
    if isinstance(out, Console):
        if fmt == "text":
            render_text(report, out)
        else:
            out.file.write(visible(render_string(report, fmt)))
            out.file.flush()
        return
    try:
        out.write_text(render_string(report, fmt), encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the report to {out}: {exc.strerror or exc}") from exc
