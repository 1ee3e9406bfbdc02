"""Gate limits on agreement figures: ``--max-abs-error PATH=X`` and ``--min-agreement PATH=R``.

``PATH`` is a general path as reports show it (``body.predictions[*]``; a concrete index such as
``[3]`` means ``[*]``), on every endpoint that has figures for it, or ``METHOD /route PATH`` for
one endpoint (``"POST /predict/ body.predictions[*]=1e-6"``). ``--max-abs-error`` bounds the
largest |new - old| of a number path; ``--min-agreement`` bounds the share of values that agree
(numbers within the path's tolerance rule, or equal without one; labels equal).

A limit whose path has no figures in the run fails nothing and says so in a note: figures are
kept for paths a tolerance rule names and for paths that differed, so a path without figures
either never differed or is not in the responses (a misspelt path shows up here).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from shadowdiff.analysis.gate_result import Finding, PathLimit
from shadowdiff.differ import PathSyntaxError, generalize_path, parse_pattern
from shadowdiff.errors import GateError
from shadowdiff.formatting import figure, share
from shadowdiff.store import AgreementRow

__all__ = ["PathLimit", "agreement_findings", "parse_path_limit"]

MAX_ABS_ERROR: Final = "max_abs_error"
MIN_AGREEMENT: Final = "min_agreement"
_EXAMPLE: Final = {
    MAX_ABS_ERROR: "body.predictions[*]=1e-6",
    MIN_AGREEMENT: "body.predictions[*]=0.999",
}


def parse_path_limit(text: str, field: str) -> PathLimit:
    """``[METHOD /route ]PATH=VALUE`` for `field` (``max_abs_error`` or ``min_agreement``);
    GateError (naming the field) when it is not well formed."""
    flag = "--" + field.replace("_", "-")
    example = f"e.g. {flag} '{_EXAMPLE[field]}'"
    where, sep, number = text.rpartition("=")
    if not sep or not where.strip():
        raise GateError(f"{field} {text!r} is not PATH=VALUE; {example}", field=field)
    try:
        value = float(number)
    except ValueError:
        raise GateError(
            f"{field} {text!r}: {number.strip()!r} is not a number; {example}", field=field
        ) from None
    high = 1.0 if field == MIN_AGREEMENT else math.inf
    if not 0 <= value <= high or math.isnan(value):
        bounds = "between 0 and 1" if field == MIN_AGREEMENT else "a finite number >= 0"
        raise GateError(f"{field} {text!r}: the value must be {bounds}; {example}", field=field)
    words = where.split()
    if len(words) not in (1, 3):
        raise GateError(
            f"{field} {text!r}: give PATH or 'METHOD /route PATH' before '='; {example}",
            field=field,
        )
    path = words[-1]
    try:
        parse_pattern(path)
    except PathSyntaxError as exc:
        raise GateError(f"{field} {text!r}: {exc}; {example}", field=field) from None
    endpoint = f"{words[0].upper()} {words[1]}" if len(words) == 3 else None
    return PathLimit(generalize_path(path), value, endpoint)


def _no_figures(flag: str, limit: PathLimit) -> str:
    return (
        f"{flag} {limit}: no figures for that path in this run (it never differed and no "
        "tolerance rule names it, or it is not in the responses): nothing checked"
    )


def agreement_findings(
    rows: Sequence[AgreementRow],
    max_abs_error: Sequence[PathLimit],
    min_agreement: Sequence[PathLimit],
    notes: list[str],
) -> list[Finding]:
    """A finding per (limit, endpoint) broken; a note per limit that found no figures."""
    out: list[Finding] = []
    for limit in max_abs_error:
        found = [r for r in rows if limit.covers(r) and r.value_type == "number"]
        if not found:
            notes.append(_no_figures("--max-abs-error", limit))
        for r in found:
            if r.max_abs is not None and r.max_abs > limit.value:
                beyond = r.compared - r.agreeing
                out.append(
                    Finding(
                        "max abs error",
                        f"{r.endpoint} {r.path}: max abs error {figure(r.max_abs)} exceeds "
                        f"--max-abs-error {limit.value:g} ({r.compared} values, "
                        f"{beyond} not agreeing; p99 {figure(r.p99_abs)})",
                        r.endpoint,
                    )
                )
    for limit in min_agreement:
        found = [r for r in rows if limit.covers(r)]
        if not found:
            notes.append(_no_figures("--min-agreement", limit))
        for r in found:
            rate = r.agreeing / r.compared if r.compared else 1.0
            if rate < limit.value:
                out.append(
                    Finding(
                        "min agreement",
                        f"{r.endpoint} {r.path}: agreement {share(rate)} "
                        f"({r.agreeing}/{r.compared} {r.value_type}s) is below "
                        f"--min-agreement {share(limit.value)}",
                        r.endpoint,
                    )
                )
    return out
