"""Nothing hidden unseen (issue 10, part 6): what rules absorbed is in every report format,
null reads apart from a missing key, CSV samples are tables, one signature can be reported
or accepted.

One store (tests/stores.py, no servers): a too-broad `ignore body.*` rule on the orders
endpoint absorbs a real regression (the error text leaks a bytes repr) plus two more
paths; the items endpoint counts a JSON null that became a number and a key the new side
dropped; a CSV endpoint counts one changed cell.
"""

from __future__ import annotations

import html
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from shadowdiff.differ import parse_rules
from shadowdiff.report import build_report, render_string
from shadowdiff.report.contents import Report
from shadowdiff.report.text import render_text
from shadowdiff.store import Store
from tests import stores
from tests.clirun import invoke
from tests.screen import appears

pytestmark = pytest.mark.unit

RUN = "cand"
LOOSE = """
[[rules]]
name = "loose orders"
kind = "ignore"
path = "body.*"
endpoints = ["GET /orders"]
reason = "written for the volatile total; ignores every key of the body"
"""
LEAK_OLD = '"order not found"'
LEAK_NEW = "\"b'order not found'\""
CSV_OLD = b"sku,qty\nA-1,2\nB-2,3\nC-3,4\n"
CSV_NEW = b"sku,qty\nA-1,2\nB-2,30\nC-3,4\n"


def _new(i: int, body: Any) -> stores.Answer:
    if isinstance(body, bytes):  # the CSV endpoint
        return stores.Answer(CSV_NEW, content_type="text/csv")
    if "message" in body:  # orders: exchange 0 leaks the bytes repr; later ones change more
        if i == 0:
            return stores.Answer({**body, "message": "b'order not found'"})
        return stores.Answer({"message": body["message"], "total": 99})
    return stores.Answer({"id": body["id"], "name": body["name"], "price": 5})  # items


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "hidden.db"
    with Store.open(path) as store:
        orders = {"message": "order not found", "total": 1, "currency": "EUR"}
        items = [("/orders", orders) for _ in range(3)]
        items += [("/items", {"id": n, "name": "x", "price": None, "tag": "a"}) for n in range(3)]
        exchanges = stores.session(store, [*items, ("/report.csv", CSV_OLD)])
        stores.add_run(store, exchanges, RUN, _new, rules=parse_rules(LOOSE, "loose.toml"))
    return path


@pytest.fixture
def report(db: Path) -> Report:
    with Store.open(db, readonly=True) as store:
        return build_report(store, RUN)


def _text(report: Report) -> str:
    console = Console(width=80, record=True, file=io.StringIO(), highlight=False)
    render_text(report, console)
    return console.export_text()


def test_the_hidden_section_counts_and_shows_what_a_rule_absorbed(report: Report) -> None:
    [hidden] = report.hidden
    assert (hidden.rule, hidden.kind, hidden.origin) == ("loose orders", "ignore", "loose.toml")
    # three orders: message changed on the first, total changed and currency dropped after
    assert (hidden.hits, hidden.exchanges, hidden.endpoints, hidden.paths) == (5, 3, 1, 3)
    assert hidden.kinds == ("missing", "value") and hidden.broad
    assert (hidden.path, hidden.field_kind, hidden.old, hidden.new) == (
        "body.message", "value", LEAK_OLD, LEAK_NEW,
    )  # fmt: skip

    text = _text(report)
    assert "hidden by rules" in text and "loose orders (broad)" in text
    assert appears(LEAK_NEW, text) and appears(LEAK_OLD, text)
    assert max(len(line) for line in text.splitlines()) <= 80

    md = render_string(report, "markdown")
    section = md.split("## Hidden by rules", 1)[1]
    assert "| loose orders **(broad)** | ignore | 5 | 3 | 1 | 3 | missing, value |" in section
    assert f"`{LEAK_OLD}` | `{LEAK_NEW}` |" in section

    [data] = json.loads(render_string(report, "json"))["hidden_by_rules"]
    assert (data["rule"], data["hits"], data["paths"], data["broad"]) == (
        "loose orders",
        5,
        3,
        True,
    )
    assert (data["old"], data["new"], data["kinds"]) == (LEAK_OLD, LEAK_NEW, ["missing", "value"])

    page = render_string(report, "html")
    assert 'href="#hidden-section"' in page
    section_html = page.split('id="hidden-section"', 1)[1].split("</section>", 1)[0]
    assert "loose orders" in section_html and '<span class="tag warn">broad</span>' in section_html
    assert f"<code>{LEAK_NEW}</code>" in html.unescape(section_html)

    junit = ET.fromstring(render_string(report, "junit"))
    props = {p.get("name"): p.get("value") for p in junit.iter("property")}
    line = props["hidden loose orders"] or ""
    assert line.startswith("broad; 5 hits, 3 requests, 1 endpoints, 3 paths (missing, value)")
    assert line.endswith(f"{LEAK_OLD} -> {LEAK_NEW}")


def test_null_and_missing_read_apart_in_every_format(report: Report) -> None:
    [items] = [s for s in report.signatures if s.endpoint.startswith("GET /items")]
    fields = {f.path: f for f in items.samples[0].fields}
    # a JSON null is stored as the JSON text null, an absent side as no value
    assert fields["body.price"].old == "null" and fields["body.tag"].new is None
    assert fields["body.tag"].kind == "missing"
    assert (fields["body.price"].change, fields["body.tag"].change) == ("null", "absent")

    text = _text(report)
    assert "body.price type/null: null -> 5" in text
    assert 'body.tag missing: "a" -> (missing)' in text
    md = render_string(report, "markdown")
    assert "| `body.price` | type/null | `null` | `5` |" in md
    assert '| `body.tag` | missing | `"a"` | `(missing)` |' in md
    page = render_string(report, "html")
    assert "<code>null</code>" in page and "<code>(missing)</code>" in page
    [sig] = [
        s for s in json.loads(render_string(report, "json"))["signatures"]
        if s["endpoint"] == items.endpoint
    ]  # fmt: skip
    by_path = {f["path"]: f for f in sig["samples"][0]["fields"]}
    assert by_path["body.price"]["old"] == "null" and by_path["body.price"]["old_present"]
    assert by_path["body.tag"]["new"] is None and not by_path["body.tag"]["new_present"]
    # the two bodies line up key by key; the key the new side lacks is marked there
    new_lines = [ln.text for ln in items.samples[0].new.lines]
    assert new_lines[-2:] == ['  "tag": (missing)', "}"]
    assert [ln.marked for ln in items.samples[0].new.lines][-2]


def test_a_csv_sample_is_a_table(report: Report) -> None:
    [csv_sig] = [s for s in report.signatures if s.endpoint.endswith(".csv")]
    sample = csv_sig.samples[0]
    assert [ln.text for ln in sample.old.lines] == [
        "| sku | qty |", "| A-1 | 2   |", "| B-2 | 3   |", "| C-3 | 4   |",
    ]  # fmt: skip
    assert [ln.text for ln in sample.new.lines][2] == "| B-2 | 30  |"
    assert [ln.marked for ln in sample.new.lines] == [False, False, True, False]
    assert "| B-2 | 30  |" in _text(report)


def _signature_ids(db: Path) -> dict[str, str]:
    out = invoke("report", RUN, "--db", str(db), "--format", "json")
    assert out.returncode == 0, out.stderr
    return {s["endpoint"]: s["signature"] for s in json.loads(out.stdout)["signatures"]}


def test_report_one_signature_and_max_samples(db: Path) -> None:
    ids = _signature_ids(db)
    assert len(ids) == 2
    items = next(ep for ep in ids if ep.startswith("GET /items"))
    out = invoke("report", RUN, "--db", str(db), "--format", "json", "--signature", ids[items])
    [sig] = json.loads(out.stdout)["signatures"]
    assert sig["signature"] == ids[items] and len(sig["samples"]) == 1
    three = invoke("report", RUN, "--db", str(db), "--format", "json", "--max-samples", "3")
    samples = {s["endpoint"]: len(s["samples"]) for s in json.loads(three.stdout)["signatures"]}
    assert samples[items] == 3
    one = invoke(
        "report", RUN, "--db", str(db), "--signature", ids[items][:6], "--max-samples", "1"
    )
    assert one.returncode == 0 and one.stdout.count("exchange ") == 1 + 1  # sample + hidden
    bad = invoke("report", RUN, "--db", str(db), "--signature", "0000000000zz")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "nearest:" in bad.stderr and "Traceback" not in bad.stderr


def test_accept_one_signature(db: Path, tmp_path: Path) -> None:
    ids = _signature_ids(db)
    wanted = next(sig for ep, sig in ids.items() if ep.endswith(".csv"))
    out = tmp_path / "accepted.toml"
    args = ("accept", RUN, "--db", str(db), "-o", str(out), "--reason", "qty fix agreed")
    done = invoke(*args, "--signature", wanted)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert text.count("[[accepted]]") == 1 and f'signature = "{wanted}"' in text

    bad = invoke(*args, "--signature", "abcdef123456")
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(lines) == 1, bad.stderr
    assert "--signature 'abcdef123456' is not among the 2 signatures of run 'cand'" in lines[0]
    assert all(sig in lines[0] for sig in ids.values())  # the nearest ids: here, all of them
    assert out.read_text() == text  # nothing written
