"""The HTML report in a real browser (headless Chromium): it renders offline, runs nothing.

The store holds recorded answers (and a rule reason) that carry `<script>` and `<img src=http…>`
payloads. Chromium must show them as text: the title stays intact, no element is created and no
request leaves the page (Chromium's own NetLog is read to prove it). A control page with the
same payloads unescaped shows that the checks do catch execution and requests.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from shadowdiff.analysis.diffrun import diff_run, load_ruleset
from shadowdiff.report import build_report, render
from shadowdiff.store import Exchange, Replay, Store

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCRIPT = "<script>document.title='pwned'</script>"
IMG = "<img src='http://evil.invalid/pixel.png'>"
RULES = """
[[rules]]
name = "debug field"
kind = "ignore"
path = "body.debug"
reason = "never sent by either side <img src='http://evil.invalid/rule.png'>"
"""
JSON_HEADERS = [("Content-Type", "application/json")]
WINDOW = (1400, 1000)


def _exchange(method: str, path: str, body: dict[str, object], ms: float) -> Exchange:
    return Exchange(
        method=method,
        path=path,
        request_headers=[("Host", "api.internal")],
        status=200,
        response_headers=[*JSON_HEADERS, ("Date", "Mon, 01 Jan 2026 00:00:00 GMT")],
        response_body=json.dumps(body).encode(),
        started_at=1_767_225_600.0,
        duration_ms=ms,
    )


def _answers(i: int, new: bool) -> list[tuple[Exchange, dict[str, object]]]:
    """(recorded exchange, the body the replay got) for request number i."""
    price = 10.0 + i
    item = {"id": i, "name": f"item {i}", "price": price}
    note = {"id": i, "note": f"{SCRIPT} {IMG}", "tags": ["a", "b"]}
    new_item = {**item, "price": price + (0.5 if new and i % 2 else 0)}
    new_note = {**note, "archived": False} if new else note
    return [
        (_exchange("GET", f"/items/{i}", item, 4.0 + i), new_item),
        (_exchange("POST", "/notes/", note, 9.0 + i), new_note),
        (_exchange("GET", "/health", {"ok": True}, 1.0), {"ok": True}),
    ]


@dataclass(frozen=True)
class Page:
    path: Path
    html: str
    endpoints: list[str]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Page:
    tmp = tmp_path_factory.mktemp("browser")
    rules_file = tmp / "rules.toml"
    rules_file.write_text(RULES)
    rules, _ = load_ruleset(rules_file, preset=True)
    with Store.open(tmp / "b.db") as store:
        session = store.create_session("browser", source="proxy")
        plan = [pair for i in range(1, 9) for pair in _answers(i, new=True)]
        store.add_exchanges(session.id, [ex for ex, _ in plan])
        ids = [int(ex.id or 0) for ex in store.iter_exchanges(session.id)]
        run = store.create_run(session.id, kind="candidate", target="http://new", name="browser")
        base = store.create_run(
            session.id, kind="baseline", target="http://old", paired_run_id=run.id
        )
        for run_id, bodies in ((run.id, [b for _, b in plan]), (base.id, None)):
            store.add_replays(
                Replay(
                    run_id=run_id,
                    exchange_id=ex_id,
                    status=200,
                    headers=JSON_HEADERS,
                    body=json.dumps(bodies[k] if bodies else json.loads(ex.response_body)).encode(),
                    duration_ms=(ex.duration_ms or 0) * 1.5,
                )
                for k, (ex_id, (ex, _)) in enumerate(zip(ids, plan, strict=True))
            )
        diff_run(store, run.id, rules)
        report = build_report(store, "browser")
    out = tmp / "report.html"
    render(report, "html", out)
    return Page(out, out.read_text(encoding="utf-8"), [e.endpoint for e in report.endpoints])


@dataclass(frozen=True)
class Visit:
    dom: str
    requests: list[str]  # URLs the page asked for (the browser's own traffic left out)


def _page_requests(netlog: Path) -> list[str]:
    """URL requests in a Chromium NetLog that a page started (not the browser itself)."""
    data = json.loads(netlog.read_text())
    start = data["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        e["params"]["url"]
        for e in data["events"]
        if e["type"] == start
        and "url" in e.get("params", {})  # the event's begin phase
        and e["params"].get("initiator") != "not an origin"
    ]


def _chromium(page: Path, tmp: Path, *extra: str) -> tuple[str, Path]:
    """Run headless Chromium on a file:// page with every outside name unresolvable."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: apt-get install chromium"
    run_id = uuid.uuid4().hex[:8]
    netlog = tmp / f"net-{run_id}.json"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp / f'profile-{run_id}'}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--log-net-log={netlog}",
        *extra,
        page.as_uri(),
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):  # renderer and helpers share the group
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == 0, err[-2000:]
    return out, netlog


def _visit(page: Path, tmp: Path) -> Visit:
    dom, netlog = _chromium(page, tmp, "--dump-dom")
    return Visit(dom, _page_requests(netlog))


def _title(dom: str) -> str:
    m = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert m is not None, dom[:500]
    return m.group(1)


class _Tags(HTMLParser):
    """Every element and attribute of a page, and the text of its style elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data


@pytest.mark.unit
def test_page_references_nothing_outside_itself(page: Page) -> None:
    parser = _Tags()
    parser.feed(page.html)
    names = {tag for tag, _ in parser.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "base", "source"}
    for tag, attrs in parser.tags:
        for name in ("src", "srcset", "action", "poster", "data"):
            assert name not in attrs, (tag, attrs)
        href = attrs.get("href")
        assert href is None or href.startswith("#"), (tag, href)
        assert "url(" not in (attrs.get("style") or "")
    assert parser.style and "url(" not in parser.style and "@import" not in parser.style
    assert 'id="endpoints"' in page.html
    # the payloads are there, as escaped text
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page.html
    assert "&lt;img src=&#x27;http://evil.invalid/rule.png&#x27;&gt;" in page.html


@pytest.mark.e2e
def test_chromium_renders_offline_and_runs_no_payload(page: Page, tmp_path: Path) -> None:
    visit = _visit(page.path, tmp_path)
    assert _title(visit.dom) == "shadowdiff report · browser"
    assert visit.requests == []
    # the endpoint table is in the rendered DOM, one row per endpoint
    table = re.search(r'<table id="endpoints">(.*?)</table>', visit.dom, re.S)
    assert table is not None
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)
    assert len(rows) == 1 + len(page.endpoints)  # the header row too
    for endpoint in page.endpoints:
        assert f"<code>{endpoint}</code>" in table.group(1)
    assert "GET /items/{id}" in page.endpoints and "POST /notes/" in page.endpoints
    # payloads: shown as text in the DOM, never turned into elements
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in visit.dom
    assert "&lt;img src='http://evil.invalid/pixel.png'&gt;" in visit.dom
    assert "<script" not in visit.dom and "<img" not in visit.dom


@pytest.mark.e2e
def test_the_checks_catch_a_page_that_runs_and_fetches(tmp_path: Path) -> None:
    control = tmp_path / "control.html"
    control.write_text(f"<html><head><title>intact</title></head><body>{IMG}{SCRIPT}</body>")
    visit = _visit(control, tmp_path)
    assert _title(visit.dom) == "pwned"
    assert visit.requests == ["http://evil.invalid/pixel.png"]


@pytest.mark.e2e
def test_screenshot(page: Page, tmp_path: Path) -> None:
    png = tmp_path / "report.png"
    width, height = WINDOW
    _chromium(page.path, tmp_path, f"--screenshot={png}", f"--window-size={width},{height}")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == WINDOW
    assert len(data) > 20_000  # a rendered page, not a blank one
