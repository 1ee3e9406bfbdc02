"""A Report as a JSON-able dict with stable keys (`format`: "shadowdiff-report", `version`: 1).

Bodies of samples are given as `text` (lines joined by newlines) plus `marked_lines` (1-based
numbers of the lines that show a differing path). `agreement` lists the figures per endpoint
and path (`value_type` number or label; `agreement` is `agreeing / compared`).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Final

from shadowdiff.formatting import ABSENT, json_text, side_value
from shadowdiff.report.body_view import BodyView
from shadowdiff.report.model import Report
from shadowdiff.report.openapi import spec_dict

FORMAT: Final = "shadowdiff-report"
VERSION: Final = 1


def _body(view: BodyView) -> dict[str, Any]:
    return {
        "status": view.status,
        "status_marked": view.status_marked,
        "content_type": view.content_type,
        "size": view.size,
        "text": "\n".join(line.text for line in view.lines),
        "marked_lines": [i for i, line in enumerate(view.lines, 1) if line.marked],
        "truncated": view.truncated,
        "note": view.note,
    }


def _field(data: dict[str, Any], kind_key: str = "kind") -> dict[str, Any]:
    """A field difference with `old_present`/`new_present`: false where the key is absent
    (kind missing/extra), true where it is there, if only as JSON null (`old`/`new` None)."""
    kind = data[kind_key]
    data["old_present"] = side_value(data["old"], kind, "old") != ABSENT
    data["new_present"] = side_value(data["new"], kind, "new") != ABSENT
    return data


def to_dict(report: Report) -> dict[str, Any]:
    """The report as plain data (dicts, lists, str, int, float, bool, None)."""
    signatures = []
    for sig in report.signatures:
        data = asdict(sig)
        data["samples"] = [
            {
                "exchange_id": s.exchange_id,
                "request": s.request,
                "old": _body(s.old),
                "new": _body(s.new),
                "fields": [_field(asdict(f)) for f in s.fields],
            }
            for s in sig.samples
        ]
        signatures.append(data)
    return {
        "format": FORMAT,
        "version": VERSION,
        "generated_at": report.generated_at,
        "run": asdict(report.run),
        "latency": asdict(report.latency),
        "endpoints": [asdict(e) for e in report.endpoints],
        "findings": [
            {
                **asdict(f),
                "coverage": f.coverage,
                "samples": [_field(asdict(v)) for v in f.samples],
            }
            for f in report.findings
        ],
        "signatures": signatures,
        "rules": [{**asdict(r), "unused": r.unused} for r in report.rules],
        "hidden_by_rules": [
            {**_field(asdict(h), "field_kind"), "broad": h.broad} for h in report.hidden
        ],
        "volatile": [_field(asdict(v)) for v in report.volatile],
        "unused_rules": [r.rule for r in report.unused_rules],
        "noise": [asdict(n) for n in report.noise],
        "agreement": [{**asdict(a), "agreement": a.agreement} for a in report.agreement],
        "openapi": spec_dict(report.spec),
        "drift": {**asdict(report.drift), "line": report.drift.line} if report.drift else None,
    }


def render_json(report: Report) -> str:
    """The report as JSON text; DEL, C1 controls and lone surrogates as `\\u` escapes."""
    return json_text(json.dumps(to_dict(report), ensure_ascii=False, indent=2)) + "\n"
