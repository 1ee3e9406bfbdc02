"""Real-server tests of the demo pair: Flask under gunicorn vs its FastAPI port under uvicorn.

The servers (the session's, from conftest) run on free loopback ports and are always stopped.
The central test sends the same requests to both and checks that every difference a rule-less
semantic diff finds is one documented in ``shadowdiff.demo.differences``, and that every
documented port difference shows up at least once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from shadowdiff.demo.differences import (
    PREDICTION_TOLERANCE,
    REGRESSION_OFFSET,
    REGRESSION_THRESHOLD,
    Category,
    by_category,
    find,
)
from shadowdiff.demo.model import FEATURES
from shadowdiff.demo.servers import PROJECT_ROOT, RunningServer, free_port, server_env
from shadowdiff.demo.traffic import PlannedRequest, build_requests, generate, send_one

pytestmark = pytest.mark.timeout(120)

CSV_BODY = b"age,games,points,assists,minutes\n21,30,10.5,2,30\n33,70,22.1,6.5,35.2\n"
JSON_HEADERS = (("Content-Type", "application/json"),)
REGRESSION_ROWS = [
    [22.0, 40.0, 12.5, 3.0, 28.0],
    [30.0, 60.0, 18.0, 4.5, 33.0],  # exactly the threshold: not affected
    [31.0, 75.0, 25.2, 7.1, 36.5],
    [38.0, 12.0, 4.0, 1.0, 11.0],
    [19.0, 82.0, 30.0, 9.5, 40.0],
]

Tree = dict[str, object]
Found = list[tuple[str, str, object, object]]  # path, kind, left, right
Observed = tuple[str, int, str, str, object, object]  # endpoint, old status, path, kind, l, r


# ------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def servers(
    flask_server: RunningServer, fastapi_server: RunningServer, regression_server: RunningServer
) -> dict[str, RunningServer]:
    """flask, fastapi, and fastapi with the regression switch (the session's servers)."""
    return {"flask": flask_server, "fastapi": fastapi_server, "regression": regression_server}


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0, follow_redirects=False) as c:
        yield c


# ------------------------------------------------------------------------ tiny comparison


def lift(entry: dict[str, object]) -> Tree:
    """An exchange logged by ``send_one`` as {status, lower-cased headers, parsed body}."""
    assert entry["error"] is None, entry["error"]
    headers: dict[str, str] = {}
    pairs = entry["response_headers"]
    assert isinstance(pairs, list)
    for name, value in pairs:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    raw = base64.b64decode(str(entry["response_body_b64"]))
    body: object
    if not raw:
        body = None
    elif headers.get("content-type", "").startswith("application/json"):
        body = json.loads(raw)
    else:
        body = raw.decode("utf-8", "replace")
    return {"status": entry["status"], "headers": headers, "body": body}


def walk(left: object, right: object, path: str, out: Found) -> None:
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(left.keys() | right.keys()):
            sub = f"{path}.{key}" if path else key
            if key not in right:
                out.append((sub, "missing", left[key], None))
            elif key not in left:
                out.append((sub, "extra", None, right[key]))
            else:
                walk(left[key], right[key], sub, out)
    elif isinstance(left, list) and isinstance(right, list):
        if len(left) != len(right):
            out.append((path, "length", len(left), len(right)))
        for index, (a, b) in enumerate(zip(left, right, strict=False)):
            walk(a, b, f"{path}[{index}]", out)
    elif type(left) is not type(right):
        out.append((path, "type", left, right))
    elif left != right:
        out.append((path, "value", left, right))


def compare(
    old: dict[str, object], new: dict[str, object]
) -> list[tuple[str, str, object, object]]:
    a, b = lift(old), lift(new)
    out: list[tuple[str, str, object, object]] = []
    if a["status"] != b["status"]:
        out.append(("status", "status", a["status"], b["status"]))
    walk(a["headers"], b["headers"], "headers", out)
    walk(a["body"], b["body"], "body", out)
    return out


def with_host(request: PlannedRequest, host: str) -> PlannedRequest:
    """The request with an explicit Host header (as a replay that keeps the Host would send)."""
    return replace(request, headers=(("Host", host), *request.headers))


def exchange_pairs(
    client: httpx.Client,
    old: RunningServer,
    new: RunningServer,
    plan: list[PlannedRequest],
    host: str | None = None,
) -> list[tuple[PlannedRequest, dict[str, object], dict[str, object]]]:
    if host is not None:
        plan = [with_host(p, host) for p in plan]
    return [(p, send_one(client, old.url, p), send_one(client, new.url, p)) for p in plan]


def observe(
    pairs: list[tuple[PlannedRequest, dict[str, object], dict[str, object]]],
) -> list[Observed]:
    observed = []
    for planned, old, new in pairs:
        endpoint = f"{planned.method} {planned.path}"
        for path, kind, left, right in compare(old, new):
            observed.append((endpoint, int(old["status"]), path, kind, left, right))  # type: ignore[call-overload]
    return observed


def undocumented(observed: list[Observed], categories: tuple[Category, ...]) -> list[Observed]:
    return [o for o in observed if find(*o[:4], o[4], o[5], categories=categories) is None]


def planned(
    method: str,
    path: str,
    expected: int,
    body: bytes = b"",
    headers: tuple[tuple[str, str], ...] = (),
    query: str = "",
) -> PlannedRequest:
    return PlannedRequest(-1, "edge", method, path, query, headers, body, expected)


def json_rows(rows: list[list[float]], request_id: str | None = None) -> PlannedRequest:
    headers = JSON_HEADERS + ((("X-Request-ID", request_id),) if request_id else ())
    return planned("POST", "/predict/", 200, json.dumps({"data": rows}).encode(), headers)


EDGES = [
    planned("GET", "/ping", 200),
    planned("GET", "/info/", 200),
    planned("GET", "/stats/", 200),
    planned("GET", "/info", 308, query="verbose=1"),
    planned("POST", "/predict", 308, CSV_BODY, (("Content-Type", "text/csv"),)),
    planned("HEAD", "/info", 308),
    planned("GET", "/no/such/path", 404),
    planned("POST", "/predict/", 200, CSV_BODY, (("Content-Type", "text/csv"),)),
    planned("POST", "/predict/", 422, b"age,games\n1,2\n", (("Content-Type", "text/csv"),)),
    planned("POST", "/predict/", 422, b"{nope", JSON_HEADERS),
    planned("POST", "/predict/", 422, b"hello", (("Content-Type", "text/plain"),)),
    planned("POST", "/predict/", 422, b"age,games,points,assists,minutes\n"),
    planned("GET", "/predict/", 405),
    planned("POST", "/ping/", 405),
    planned("GET", "/predict", 404),
    planned("POST", "/info", 404),
    planned("OPTIONS", "/predict/", 200),
    planned("HEAD", "/ping/", 200),
    planned("HEAD", "/health/", 200),
    planned("POST", "/echo/", 200, CSV_BODY, (("Content-Type", "text/csv"),)),
    json_rows(REGRESSION_ROWS, request_id="edge-request-0001"),
]


# ----------------------------------------------------------------------------------- tests


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["flask", "fastapi"])
def test_every_endpoint_answers(
    servers: dict[str, RunningServer], client: httpx.Client, name: str
) -> None:
    url = servers[name].url
    for path in ("/ping", "/ping/"):
        response = client.get(url + path)
        assert response.status_code == 200
        assert response.json() == {"message": "OK"}
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-request-id"]
    assert client.get(f"{url}/health/").json()["status"] == "ok"
    info = client.get(f"{url}/info/").json()
    assert info["drum_server"] == name and info["features"] == list(FEATURES)
    assert client.get(f"{url}/capabilities/").json()["supported_payload_formats"]["csv"] is True
    stats = client.get(f"{url}/stats/").json()
    assert {"mem_info", "time_info", "model_info", "request_count"} <= stats.keys()
    assert any(key.startswith("backpressure_") for key in stats) is (name == "fastapi")

    csv_answer = client.post(
        f"{url}/predict/", content=CSV_BODY, headers={"Content-Type": "text/csv"}
    )
    upload = client.post(f"{url}/predict/", files={"X": ("rows.csv", CSV_BODY, "text/csv")})
    as_json = client.post(
        f"{url}/predict/", json={"data": [[21, 30, 10.5, 2, 30], [33, 70, 22.1, 6.5, 35.2]]}
    )
    records = client.post(
        f"{url}/predict/",
        json=[{"age": 21, "games": 30, "points": 10.5, "assists": 2, "minutes": 30}],
        headers={"X-Request-ID": "abc-123"},
    )
    for response in (csv_answer, upload, as_json, records):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert set(body) == {"predictions", "request_id", "timestamp"}
        assert all(isinstance(value, float) for value in body["predictions"])
        assert body["request_id"] == response.headers["x-request-id"]
    assert len(csv_answer.json()["predictions"]) == 2
    assert csv_answer.json()["predictions"] == upload.json()["predictions"]
    assert csv_answer.json()["predictions"] == as_json.json()["predictions"]
    assert records.json()["request_id"] == "abc-123"
    assert records.headers["x-request-id"] == "abc-123"

    error_key = "message" if name == "flask" else "detail"
    missing = client.get(f"{url}/nope")
    assert missing.status_code == 404 and error_key in missing.json()
    assert missing.headers["content-type"] == "application/json"
    for content, ctype in ((b"age\nx\n", "text/csv"), (b"{", "application/json"), (b"x", "a/b")):
        bad = client.post(f"{url}/predict/", content=content, headers={"Content-Type": ctype})
        assert bad.status_code == 422 and error_key in bad.json()
    no_field = client.post(f"{url}/predict/", files={"file": ("r.csv", CSV_BODY, "text/csv")})
    assert no_field.status_code == 422 and "'X'" in no_field.json()[error_key]

    redirect = client.get(f"{url}/info")
    assert redirect.status_code == (308 if name == "flask" else 307)
    assert redirect.headers["location"] == f"{url}/info/"


@pytest.mark.e2e
def test_differences_are_exactly_the_documented_ones(
    servers: dict[str, RunningServer], client: httpx.Client
) -> None:
    plan = build_requests(150, seed=11) + EDGES
    pairs = exchange_pairs(client, servers["flask"], servers["fastapi"], plan)
    for request, old, _new in pairs:
        assert old["status"] == request.expected_status, (request, old["status"])
    observed = observe(pairs)

    assert undocumented(observed, ("port", "noise")) == []

    seen = Counter(
        doc.key
        for o in observed
        if (doc := find(*o[:4], o[4], o[5], categories=("port", "noise"))) is not None
    )
    never_seen = [d.key for d in by_category("port") if seen[d.key] == 0]
    assert never_seen == []
    assert seen["predictions-float"] >= 20  # the float path really differs, and often

    # with one Host header for both, the redirect Locations are the same
    redirects = [p for p in EDGES if p.expected_status == 308]
    for _request, old, new in exchange_pairs(
        client, servers["flask"], servers["fastapi"], redirects, host="models.example.test"
    ):
        assert all(path != "headers.location" for path, *_ in compare(old, new))
        assert lift(old)["headers"]["location"].startswith("http://models.example.test/")  # type: ignore[index]

    # the echoed X-Request-ID makes the ids equal on both sides
    edge_pairs = [p for p in pairs if p[0].label == "edge"]
    tagged = edge_pairs[-1]
    assert lift(tagged[1])["body"]["request_id"] == "edge-request-0001"  # type: ignore[index]
    assert all(path != "body.request_id" for path, *_ in compare(tagged[1], tagged[2]))


@pytest.mark.e2e
def test_regression_switch_changes_only_predictions(
    servers: dict[str, RunningServer], client: httpx.Client
) -> None:
    request = json_rows(REGRESSION_ROWS)
    normal = lift(send_one(client, servers["fastapi"].url, request))["body"]
    broken = lift(send_one(client, servers["regression"].url, request))["body"]
    flask = lift(send_one(client, servers["flask"].url, request))["body"]
    assert isinstance(normal, dict) and isinstance(broken, dict) and isinstance(flask, dict)
    for row, good, bad, old in zip(
        REGRESSION_ROWS,
        normal["predictions"],
        broken["predictions"],
        flask["predictions"],
        strict=True,
    ):
        assert abs(good - old) <= PREDICTION_TOLERANCE
        if row[0] > REGRESSION_THRESHOLD:
            assert abs((bad - good) - REGRESSION_OFFSET) < 1e-9
            assert find("POST /predict/", 200, "body.predictions[0]", "value", old, bad) is None
        else:
            assert bad == good

    # across the whole mix, the switch changes predictions (and nothing but noise besides)
    plan = build_requests(120, seed=23) + EDGES
    host = "models.example.test"  # one Host for both, so redirect Locations are comparable
    pairs = exchange_pairs(client, servers["fastapi"], servers["regression"], plan, host)
    observed = observe(pairs)
    assert undocumented(observed, ("noise", "regression")) == []
    changed = [o for o in observed if o[2].startswith("body.predictions[")]
    assert changed and all(abs(float(o[5]) - float(o[4])) > 0.5 for o in changed)  # type: ignore[arg-type]

    # against the old server, the regression is exactly what is left undocumented
    old_pairs = exchange_pairs(client, servers["flask"], servers["regression"], plan, host)
    left = undocumented(observe(old_pairs), ("port", "noise"))
    assert left and {o[2].split("[")[0] for o in left} == {"body.predictions"}
    assert undocumented(observe(old_pairs), ("port", "noise", "regression")) == []


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["flask", "fastapi"])
def test_echo_sees_the_bytes_sent(
    servers: dict[str, RunningServer], client: httpx.Client, name: str
) -> None:
    url = f"{servers[name].url}/echo/"
    multipart = client.build_request(
        "POST", url, files={"X": ("rows.csv", CSV_BODY, "text/csv")}, data={"note": "é ü"}
    )
    multipart.read()
    raw_csv = client.build_request(
        "POST", url, content=CSV_BODY, headers={"Content-Type": "text/csv"}
    )
    binary = client.build_request(
        "POST", url, content=bytes(range(256)) * 3, headers={"Content-Type": "application/x-bin"}
    )
    for request in (multipart, raw_csv, binary):
        sent = request.content
        response = client.send(request)
        assert response.status_code == 200
        assert response.json() == {
            "sha256": hashlib.sha256(sent).hexdigest(),
            "content_type": request.headers["content-type"],
            "length": len(sent),
        }


@pytest.mark.e2e
def test_traffic_log_against_flask(servers: dict[str, RunningServer], tmp_path: Path) -> None:
    log = tmp_path / "traffic.jsonl"
    summary = generate(servers["flask"].url, 100, 4, seed=5, log_path=log, max_seconds=60)
    assert (summary.sent, summary.ok, summary.errors, summary.skipped) == (100, 100, 0, 0)

    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(entries) == 100
    assert sorted(e["i"] for e in entries) == list(range(100))
    plan = {p.index: p for p in build_requests(100, seed=5)}
    statuses = Counter(e["status"] for e in entries)
    assert statuses[200] > 30 and statuses[308] > 0 and statuses[404] + statuses[422] > 0
    multipart = 0
    for entry in entries:
        request = plan[entry["i"]]
        assert entry["error"] is None
        assert entry["status"] == request.expected_status
        assert entry["method"] == request.method and entry["path"] == request.path
        assert entry["query"] == request.query
        assert base64.b64decode(entry["request_body_b64"]) == request.body
        sent = {name.lower(): value for name, value in entry["request_headers"]}
        for name, value in request.headers:
            assert sent[name.lower()] == value
        if sent.get("content-type", "").startswith("multipart/form-data"):
            multipart += 1
        if entry["status"] == 308:
            location = urlsplit(dict(entry["response_headers"])["Location"])
            assert location.path == request.path + "/" and location.query == request.query
        body = base64.b64decode(entry["response_body_b64"])
        assert body and int(dict(entry["response_headers"])["Content-Length"]) == len(body)
    assert multipart > 5
    assert (
        sum("authorization" in {n.lower() for n, _ in e["request_headers"]} for e in entries) > 10
    )
    assert sum("x-api-key" in {n.lower() for n, _ in e["request_headers"]} for e in entries) > 3


@pytest.mark.e2e
def test_traffic_is_bounded_in_time(servers: dict[str, RunningServer], tmp_path: Path) -> None:
    log = tmp_path / "none.jsonl"
    summary = generate(servers["flask"].url, 25, 2, log_path=log, max_seconds=0.0)
    assert (summary.sent, summary.skipped) == (0, 25)
    assert log.read_text() == ""


@pytest.mark.unit
def test_traffic_plan_is_deterministic() -> None:
    assert build_requests(60, seed=3) == build_requests(60, seed=3)
    assert build_requests(60, seed=3) != build_requests(60, seed=4)
    labels = Counter(p.label for p in build_requests(1000, seed=1))
    assert labels["predict-multipart"] > labels["ping"] > 0
    assert sum(n for label, n in labels.items() if label.startswith("predict")) > 400


@pytest.mark.e2e
def test_command_lines(servers: dict[str, RunningServer], tmp_path: Path) -> None:
    table = subprocess.run(
        [sys.executable, "-m", "shadowdiff.demo.differences"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    assert table.stdout.startswith("| key |") and "predictions-float" in table.stdout

    log = tmp_path / "cli.jsonl"
    traffic = subprocess.run(
        [sys.executable, "-m", "shadowdiff.demo.traffic", servers["fastapi"].url, "--count", "12",
         "--concurrency", "2", "--seed", "2", "--log", str(log), "--max-seconds", "30"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert traffic.returncode == 0, traffic.stderr
    assert traffic.stdout.startswith("sent=12 ok=12 errors=0")
    assert len(log.read_text().splitlines()) == 12


@pytest.mark.e2e
def test_servers_cli_runs_in_foreground_until_sigterm() -> None:
    port = free_port()
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 - RunningServer.stop() closes it
    process = subprocess.Popen(
        [sys.executable, "-m", "shadowdiff.demo.servers", "fastapi", "--port", str(port)],
        cwd=PROJECT_ROOT, env=server_env(), stdout=subprocess.DEVNULL, stderr=stderr,
        start_new_session=True,
    )  # fmt: skip
    server = RunningServer("fastapi", port, process, stderr)
    try:
        server.wait_ready()
        assert httpx.get(f"{server.url}/ping").json() == {"message": "OK"}
        os.kill(process.pid, signal.SIGTERM)
        # uvicorn shuts down cleanly, then re-raises the signal it caught
        assert process.wait(timeout=15) in (0, -signal.SIGTERM)
        assert "Traceback" not in server.stderr_tail()
    finally:
        server.stop()
