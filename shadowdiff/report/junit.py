"""A Report as JUnit XML: one testcase per endpoint, a failure where answers differ.

An endpoint with counting differences gets a `<failure>` whose message lists its signatures;
one whose requests only failed (replay errors) gets an `<error>`; otherwise it passes.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from typing import Final

from shadowdiff.formatting import pct
from shadowdiff.report.model import EndpointReport, Report

MAX_MESSAGE_SIGNATURES: Final = 5
# Characters XML 1.0 cannot hold at all (recorded values may contain them).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


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
            lines += [f"  {f.path} {f.kind}: {f.old} -> {f.new}" for f in sample.fields]
    return "\n".join(lines)


def render_junit(report: Report) -> str:
    """The JUnit XML document (UTF-8, with declaration)."""
    run = report.run
    failures = sum(1 for e in report.endpoints if e.different)
    errors = sum(1 for e in report.endpoints if e.errors and not e.different)
    suites = ET.Element(
        "testsuites",
        name="shadowdiff",
        tests=str(len(report.endpoints)),
        failures=str(failures),
        errors=str(errors),
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=xml_safe(f"shadowdiff run {run.name}"),
        tests=str(len(report.endpoints)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        timestamp=_iso(run.started_at),
        time=f"{(run.finished_at or run.started_at) - run.started_at:.3f}",
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("session", run.session),
        ("target", run.target),
        ("baseline", run.baseline or ""),
        ("diff_rate", f"{run.diff_rate:.6f}"),
    ):
        ET.SubElement(props, "property", name=name, value=xml_safe(value))
    for e in report.endpoints:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=xml_safe(f"shadowdiff.{run.name}"),
            name=xml_safe(e.endpoint),
        )
        if e.different:
            failure = ET.SubElement(
                case, "failure", message=xml_safe(_message(e)), type="different"
            )
            failure.text = xml_safe(_details(report, e))
        elif e.errors:
            error = ET.SubElement(
                case,
                "error",
                message=xml_safe(
                    f"{e.errors} of {e.compared} requests failed: {'; '.join(e.signatures)}"
                ),
                type="error",
            )
            error.text = xml_safe("\n".join(e.signatures))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
