"""JUnit XML for CI: a Report (`render_junit`) or a gate result (`render_gate_junit`), in one
layout.

One `<testsuite>` for the run, one `<testcase>` per endpoint (classname ``shadowdiff.<run>``,
name the endpoint), plus one per run-wide finding:

* report: the run's agreement figures are properties (``agreement ENDPOINT PATH``, the
  figures as one line), and so is what each rule hid (``hidden RULE``: its counts and one
  absorbed difference); an endpoint with counting differences gets a `<failure>` whose
  message lists its signatures; one whose requests only failed (replay errors) gets an
  `<error>`; else it passes.
* gate: an endpoint gets a `<failure>` for every limit it breaks -- its own (endpoint diff
  rate, structural difference, min samples, signature, latency) first, then the run's limits
  it takes part in: the overall diff rate (it has counted differences), errors (it has failed
  requests), an incomplete run (every endpoint). A run-wide finding the gate fails on
  (unaccepted, or structural) is a failing case of its own, ``run-wide: ID``. The message
  is the first reason; the text holds them all, one a line.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from shadowdiff.formatting import pct, side_value, xml_text
from shadowdiff.report.agreement_cells import summary_line
from shadowdiff.report.model import EndpointReport, HiddenRule, Report

if TYPE_CHECKING:
    from shadowdiff.analysis.gate import EndpointStats, Finding, GateResult

__all__ = ["render_gate_junit", "render_junit", "write_gate_junit", "xml_safe"]

MAX_MESSAGE_SIGNATURES: Final = 5


def xml_safe(text: str) -> str:
    """Recorded text as XML 1.0 can hold it (`shadowdiff.formatting.xml_text`): a control
    character in an endpoint or run name becomes a visible escape such as `\\x1b`."""
    return xml_text(text)


@dataclass(frozen=True)
class Outcome:
    """Why one endpoint's testcase did not pass: a `<failure>` or an `<error>`."""

    tag: str  # "failure" | "error"
    type: str
    message: str
    text: str


@dataclass(frozen=True)
class Suite:
    """Everything one JUnit document says: the run, its properties, a case per endpoint."""

    name: str
    run: str
    started_at: float
    finished_at: float | None
    properties: Sequence[tuple[str, str]]
    cases: Sequence[tuple[str, Outcome | None]]  # (endpoint, outcome or None: passed)


def _document(suite: Suite) -> str:
    """The JUnit XML document (with declaration) of `suite`."""
    failures = sum(1 for _, o in suite.cases if o is not None and o.tag == "failure")
    errors = sum(1 for _, o in suite.cases if o is not None and o.tag == "error")
    tests = str(len(suite.cases))
    suites = ET.Element(
        "testsuites", name="shadowdiff", tests=tests, failures=str(failures), errors=str(errors)
    )
    node = ET.SubElement(
        suites,
        "testsuite",
        name=xml_safe(suite.name),
        tests=tests,
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        timestamp=_iso(suite.started_at),
        time=f"{(suite.finished_at or suite.started_at) - suite.started_at:.3f}",
    )
    props = ET.SubElement(node, "properties")
    for name, value in suite.properties:
        ET.SubElement(props, "property", name=xml_safe(name), value=xml_safe(value))
    classname = xml_safe(f"shadowdiff.{suite.run}")
    for endpoint, outcome in suite.cases:
        case = ET.SubElement(node, "testcase", classname=classname, name=xml_safe(endpoint))
        if outcome is not None:
            element = ET.SubElement(
                case, outcome.tag, message=xml_safe(outcome.message), type=xml_safe(outcome.type)
            )
            element.text = xml_safe(outcome.text)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


# --------------------------------------------------------------------------- a report


def _message(e: EndpointReport) -> str:
    head = f"{e.different} of {e.compared} requests differ ({pct(e.diff_rate)})"
    sigs = e.signatures[:MAX_MESSAGE_SIGNATURES]
    more = len(e.signatures) - len(sigs)
    tail = f"; +{more} more" if more > 0 else ""
    return f"{head}: {'; '.join(sigs)}{tail}" if sigs else head


def _details(report: Report, e: EndpointReport) -> str:
    lines = [_message(e)]
    if e.different_adjusted is not None:
        lines.append(f"noise-adjusted differing requests: {e.different_adjusted}")
    for f in e.fields:
        noise = " (noise)" if f.noise else ""
        lines.append(f"  {f.path} {f.kind}: {f.requests} requests{noise}")
    for sig in report.signatures:
        if sig.endpoint == e.endpoint and sig.samples:
            sample = sig.samples[0]
            lines.append(f"sample exchange {sample.exchange_id} for {sig.text}:")
            lines += [
                f"  {f.path} {f.label}: {side_value(f.old, f.kind, 'old')} -> "
                f"{side_value(f.new, f.kind, 'new')}"
                for f in sample.fields
            ]
    return "\n".join(lines)


def _hidden_line(h: HiddenRule) -> str:
    """What a rule hid, on one line: its counts and its sample."""
    broad = "broad; " if h.broad else ""
    return (
        f"{broad}{h.hits} hits, {h.exchanges} requests, {h.endpoints} endpoints, "
        f"{h.paths} paths ({', '.join(h.kinds)}); "
        f"e.g. exchange {h.exchange_id} {h.endpoint} {h.path} {h.field_kind}: "
        f"{side_value(h.old, h.field_kind, 'old')} -> {side_value(h.new, h.field_kind, 'new')}"
    )


def _report_outcome(report: Report, e: EndpointReport) -> Outcome | None:
    if e.different:
        return Outcome("failure", "different", _message(e), _details(report, e))
    if e.errors:
        message = f"{e.errors} of {e.compared} requests failed: {'; '.join(e.signatures)}"
        return Outcome("error", "error", message, "\n".join(e.signatures))
    return None


def render_junit(report: Report) -> str:
    """The report as a JUnit XML document (UTF-8, with declaration)."""
    run = report.run
    return _document(
        Suite(
            name=f"shadowdiff run {run.name}",
            run=run.name,
            started_at=run.started_at,
            finished_at=run.finished_at,
            properties=[
                ("session", run.session),
                ("target", run.target),
                ("baseline", run.baseline or ""),
                *((("primary", run.primary),) if run.primary else ()),
                ("diff_rate", f"{run.diff_rate:.6f}"),
                *((("drift", report.drift.line),) if report.drift is not None else ()),
                *((f"agreement {a.endpoint} {a.path}", summary_line(a)) for a in report.agreement),
                *((f"hidden {h.rule}", _hidden_line(h)) for h in report.hidden),
            ],
            cases=[(e.endpoint, _report_outcome(report, e)) for e in report.endpoints]
            + _finding_cases(report)
            + _schema_cases(report),
        )
    )


def _finding_cases(report: Report) -> list[tuple[str, Outcome | None]]:
    """A case ``run-wide: ID`` per run-wide finding: failing unless it is noise."""
    cases: list[tuple[str, Outcome | None]] = []
    for f in report.findings:
        message = f"{f.text} ({f.coverage})"
        details = [message] + [
            f"  {v.path} {v.kind}: {side_value(v.old, v.kind, 'old')} -> "
            f"{side_value(v.new, v.kind, 'new')}"
            for v in f.samples
        ]
        outcome = None if f.noise else Outcome("failure", "finding", message, "\n".join(details))
        cases.append((f"run-wide: {f.finding_id}", outcome))
    return cases


def _schema_cases(report: Report) -> list[tuple[str, Outcome | None]]:
    """With an OpenAPI spec: a failing case ``schema: OPERATION`` per operation that the new
    side answered outside the spec."""
    if report.spec is None:
        return []
    by_op: dict[str, list[str]] = {}
    for ep, path, msg, n in report.spec.grouped("new"):
        by_op.setdefault(ep, []).append(f"{path}: {msg} ({n} responses)")
    return [
        (f"schema: {ep}", Outcome("failure", "schema", f"outside {report.spec.source}: {lines[0]}",
                                  "\n".join(lines)))
        for ep, lines in sorted(by_op.items())
    ]  # fmt: skip


# --------------------------------------------------------------------------- a gate result


def _takes_part(finding: Finding, e: EndpointStats) -> bool:
    """Whether endpoint `e` answers for a finding about the whole run."""
    if finding.finding_id is not None:
        return False  # a run-wide finding is its own case
    if finding.check == "diff rate":
        return e.counted > 0
    if finding.check == "errors":
        return e.errors > 0 and e.counted > 0
    return True  # the run itself (incomplete): no endpoint's figures can be trusted


def _gate_outcome(result: GateResult, e: EndpointStats) -> Outcome | None:
    own = [f for f in result.findings if f.endpoint == e.endpoint]
    shared = [f for f in result.findings if f.endpoint is None and _takes_part(f, e)]
    found = own + shared
    if not found:
        return None
    first = found[0]
    return Outcome(
        "failure", first.check.replace(" ", "-"), first.text, "\n".join(f.text for f in found)
    )


def _gate_finding_cases(result: GateResult) -> list[tuple[str, Outcome | None]]:
    """A failing case ``run-wide: ID`` per run-wide finding the gate fails on."""
    by_id: dict[str, list[Finding]] = {}
    for f in result.findings:
        if f.finding_id is not None:
            by_id.setdefault(f.finding_id, []).append(f)
    return [
        (f"run-wide: {ident}", Outcome("failure", found[0].check.replace(" ", "-"),
                                       found[0].text, "\n".join(f.text for f in found)))
        for ident, found in sorted(by_id.items())
    ]  # fmt: skip


def render_gate_junit(result: GateResult) -> str:
    """The gate's verdict as a JUnit XML document: a failing testcase per endpoint that
    breaks a limit (or takes part in a run-wide limit broken)."""
    run = result.run
    return _document(
        Suite(
            name=f"shadowdiff gate {run.name}",
            run=run.name,
            started_at=run.started_at,
            finished_at=run.finished_at,
            properties=[
                ("run", run.name),
                ("requests", str(result.requests)),
                ("differing", str(result.differing)),
                ("counted", str(result.counted)),
                ("noise_adjusted", str(result.noise_applied).lower()),
            ],
            cases=[(e.endpoint, _gate_outcome(result, e)) for e in result.endpoints]
            + _gate_finding_cases(result),
        )
    )


def write_gate_junit(result: GateResult, path: str | Path) -> None:
    """Write `render_gate_junit(result)` to `path` (UTF-8); OSError when it cannot."""
    Path(path).write_text(render_gate_junit(result), encoding="utf-8")
