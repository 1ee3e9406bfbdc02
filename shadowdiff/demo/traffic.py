"""A production-style traffic generator for the demo servers (deterministic given a seed).

CLI::

    python -m shadowdiff.demo.traffic http://127.0.0.1:8001 --count 500 --concurrency 8 --seed 7 \\
        --log traffic.jsonl

The mix: mostly ``POST /predict/`` (multipart CSV upload in field ``X``, raw ``text/csv``,
JSON ``{"data": ...}`` and JSON records; some with ``?model=v1``), GETs of the info endpoints,
slash-less spellings (redirects, never followed), good and bad inputs (422), unknown paths (404),
``Authorization: Bearer`` on a share of requests (a few tokens, reused) and ``X-Api-Key`` on
some. ``build_requests`` is pure, so tests and other tools can reuse the exact same requests.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from shadowdiff.demo.model import FEATURES

DEFAULT_MAX_SECONDS = 120.0
DEFAULT_TIMEOUT = 10.0
TOKENS = (
    "sd-demo-token-alpha-3f9c",
    "sd-demo-token-bravo-81d2",
    "sd-demo-token-charlie-0b7e",
)
API_KEYS = ("key-live-7d41a0", "key-live-c2e95b")
USER_AGENTS = (
    "drum-client/1.16 (python 3.11)",
    "python-requests/2.31.0",
    "curl/8.5.0",
    "scoring-batch/0.9",
)
UNKNOWN_PATHS = ("/predictions/", "/v1/predict/", "/favicon.ico", "/admin/login", "/metrics")
MULTIPART_FIELD = "X"

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PlannedRequest:
    """One request of the mix, fully built: the same bytes every time for the same seed."""

    index: int
    label: str
    method: str
    path: str
    query: str
    headers: Headers
    body: bytes
    expected_status: int  # what the Flask server answers

    def url(self, base_url: str) -> str:
        target = base_url.rstrip("/") + self.path
        return f"{target}?{self.query}" if self.query else target

    @property
    def is_multipart(self) -> bool:
        return any(
            name.lower() == "content-type" and value.startswith("multipart/form-data")
            for name, value in self.headers
        )


@dataclass
class TrafficSummary:
    """What a run did: ``sent`` requests, ``ok`` answered, ``errors`` failed, ``skipped``."""

    planned: int
    sent: int = 0
    ok: int = 0
    errors: int = 0
    skipped: int = 0
    elapsed: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    def line(self) -> str:
        codes = " ".join(f"{code}:{n}" for code, n in sorted(self.statuses.items()))
        return (
            f"sent={self.sent} ok={self.ok} errors={self.errors} skipped={self.skipped} "
            f"elapsed={self.elapsed:.2f}s rate={self.rate:.1f}/s statuses=[{codes}]"
        )


@dataclass(frozen=True)
class _Shape:
    """The parts of a request a mix entry chooses; headers common to all are added later."""

    method: str
    path: str
    body: bytes = b""
    content_type: str | None = None
    expected_status: int = 200
    query: str = ""


# ---------------------------------------------------------------------------- payload builders


def _rows(rng: random.Random) -> list[list[float]]:
    rows = []
    for _ in range(rng.randint(1, 8)):
        rows.append(
            [
                float(rng.randint(18, 40)),
                float(rng.randint(1, 82)),
                round(rng.uniform(0.0, 35.0), 1),
                round(rng.uniform(0.0, 12.0), 1),
                round(rng.uniform(5.0, 42.0), 1),
            ]
        )
    return rows


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _csv(rng: random.Random, rows: list[list[float]]) -> bytes:
    columns = list(FEATURES)
    extra = rng.random() < 0.3
    if rng.random() < 0.3:
        rng.shuffle(columns)
    header = [*columns, "team"] if extra else columns
    lines = [",".join(header)]
    for row in rows:
        values = dict(zip(FEATURES, row, strict=True))
        cells = [_number_text(values[name]) for name in columns]
        if extra:
            cells.append(rng.choice(("BOS", "LAL", "CHI", "NYK")))
        lines.append(",".join(cells))
    newline = "\r\n" if rng.random() < 0.2 else "\n"
    return (newline.join(lines) + newline).encode()


def _multipart(rng: random.Random, field_name: str, data: bytes) -> tuple[bytes, str]:
    boundary = f"----shadowdiff{rng.getrandbits(64):016x}"
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{field_name}"; filename="rows.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def _json(payload: object) -> bytes:
    return json.dumps(payload).encode()


def _predict_query(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.2:
        return "model=v1"
    if roll < 0.25:
        return "model=v2&explain=false"
    return ""


def _good_multipart(rng: random.Random) -> _Shape:
    body, ctype = _multipart(rng, MULTIPART_FIELD, _csv(rng, _rows(rng)))
    return _Shape("POST", "/predict/", body, ctype, 200, _predict_query(rng))


def _good_csv(rng: random.Random) -> _Shape:
    ctype = "text/csv" if rng.random() < 0.8 else "text/csv; charset=utf-8"
    return _Shape("POST", "/predict/", _csv(rng, _rows(rng)), ctype, 200, _predict_query(rng))


def _good_json_data(rng: random.Random) -> _Shape:
    body = _json({"data": _rows(rng)})
    return _Shape("POST", "/predict/", body, "application/json", 200, _predict_query(rng))


def _good_json_records(rng: random.Random) -> _Shape:
    records = [dict(zip(FEATURES, row, strict=True)) for row in _rows(rng)]
    return _Shape("POST", "/predict/", _json(records), "application/json", 200, _predict_query(rng))


def _get(path: str, expected: int = 200) -> Callable[[random.Random], _Shape]:
    def build(rng: random.Random) -> _Shape:
        query = "verbose=1" if rng.random() < 0.1 else ""
        return _Shape("GET", path, expected_status=expected, query=query)

    return build


def _redirect_predict(rng: random.Random) -> _Shape:
    body, ctype = _multipart(rng, MULTIPART_FIELD, _csv(rng, _rows(rng)))
    return _Shape("POST", "/predict", body, ctype, 308, _predict_query(rng))


def _unknown_path(rng: random.Random) -> _Shape:
    path = rng.choice(UNKNOWN_PATHS)
    if path == "/v1/predict/":
        return _Shape("POST", path, _csv(rng, _rows(rng)), "text/csv", 404)
    return _Shape("GET", path, expected_status=404)


def _bad_csv_ragged(rng: random.Random) -> _Shape:
    body = f"{','.join(FEATURES)}\n21,30,10.5\n".encode()
    return _Shape("POST", "/predict/", body, "text/csv", 422)


def _bad_csv_non_numeric(rng: random.Random) -> _Shape:
    word = rng.choice(("ten", "n/a", "12;5", "?"))
    body = f"{','.join(FEATURES)}\n24,51,{word},3.5,30.1\n".encode()
    if rng.random() < 0.5:
        multipart, ctype = _multipart(rng, MULTIPART_FIELD, body)
        return _Shape("POST", "/predict/", multipart, ctype, 422)
    return _Shape("POST", "/predict/", body, "text/csv", 422)


def _bad_csv_missing_column(rng: random.Random) -> _Shape:
    columns = [name for name in FEATURES if name != "minutes"]
    body = f"{','.join(columns)}\n23,40,12.0,4.0\n".encode()
    return _Shape("POST", "/predict/", body, "text/csv", 422)


def _bad_csv_quote(rng: random.Random) -> _Shape:
    body = f'{",".join(FEATURES)}\n22,"30,11.0,2.0,31.0\n'.encode()
    return _Shape("POST", "/predict/", body, "text/csv", 422)


def _bad_json_syntax(rng: random.Random) -> _Shape:
    body = rng.choice((b'{"data": [[21, 30, 10.5', b"{'data': []}", b"[1, 2,]"))
    return _Shape("POST", "/predict/", body, "application/json", 422)


def _bad_json_shape(rng: random.Random) -> _Shape:
    body = rng.choice((_json({"rows": [[1, 2, 3, 4, 5]]}), _json({"data": [[1, 2]]}), b'"x"'))
    return _Shape("POST", "/predict/", body, "application/json", 422)


def _bad_content_type(rng: random.Random) -> _Shape:
    return _Shape("POST", "/predict/", b"not valid csv or json", "text/plain", 422)


def _bad_multipart_field(rng: random.Random) -> _Shape:
    body, ctype = _multipart(rng, "file", _csv(rng, _rows(rng)))
    return _Shape("POST", "/predict/", body, ctype, 422)


def _empty_csv(rng: random.Random) -> _Shape:
    return _Shape("POST", "/predict/", b"", "text/csv", 422)


# label -> (weight, builder); the weights add up to 100
MIX: dict[str, tuple[int, Callable[[random.Random], _Shape]]] = {
    "predict-multipart": (22, _good_multipart),
    "predict-csv": (14, _good_csv),
    "predict-json-data": (7, _good_json_data),
    "predict-json-records": (5, _good_json_records),
    "ping": (6, _get("/ping")),
    "ping-slash": (3, _get("/ping/")),
    "health": (4, _get("/health/")),
    "info": (4, _get("/info/")),
    "capabilities": (3, _get("/capabilities/")),
    "stats": (3, _get("/stats/")),
    "redirect-info": (2, _get("/info", 308)),
    "redirect-health": (1, _get("/health", 308)),
    "redirect-capabilities": (1, _get("/capabilities", 308)),
    "redirect-stats": (1, _get("/stats", 308)),
    "redirect-predict": (3, _redirect_predict),
    "unknown-path": (4, _unknown_path),
    "method-not-allowed": (1, _get("/predict/", 405)),
    "bad-csv-ragged": (3, _bad_csv_ragged),
    "bad-csv-non-numeric": (3, _bad_csv_non_numeric),
    "bad-csv-missing-column": (2, _bad_csv_missing_column),
    "bad-csv-quote": (1, _bad_csv_quote),
    "bad-json-syntax": (3, _bad_json_syntax),
    "bad-json-shape": (1, _bad_json_shape),
    "bad-content-type": (2, _bad_content_type),
    "bad-multipart-field": (1, _bad_multipart_field),
    "empty-csv": (1, _empty_csv),
}


def _headers(rng: random.Random, shape: _Shape, seed: int, index: int) -> Headers:
    headers: list[tuple[str, str]] = [("User-Agent", rng.choice(USER_AGENTS))]
    if rng.random() < 0.7:
        headers.append(("Accept", "application/json"))
    if rng.random() < 0.4:
        headers.append(("Authorization", f"Bearer {rng.choice(TOKENS)}"))
    if rng.random() < 0.2:
        headers.append(("X-Api-Key", rng.choice(API_KEYS)))
    if rng.random() < 0.1:
        headers.append(("X-Request-ID", f"req-{seed}-{index:06d}"))
    if shape.content_type is not None:
        headers.append(("Content-Type", shape.content_type))
    return tuple(headers)


def build_requests(count: int, seed: int = 0) -> list[PlannedRequest]:
    """The first ``count`` requests of the mix for ``seed``: pure and deterministic."""
    rng = random.Random(seed)
    labels = list(MIX)
    weights = [MIX[label][0] for label in labels]
    planned = []
    for index in range(count):
        label = rng.choices(labels, weights)[0]
        shape = MIX[label][1](rng)
        planned.append(
            PlannedRequest(
                index=index,
                label=label,
                method=shape.method,
                path=shape.path,
                query=shape.query,
                headers=_headers(rng, shape, seed, index),
                body=shape.body,
                expected_status=shape.expected_status,
            )
        )
    return planned


# ---------------------------------------------------------------------------- sending


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _pairs(raw: Sequence[tuple[bytes, bytes]]) -> list[list[str]]:
    return [[name.decode("latin-1"), value.decode("latin-1")] for name, value in raw]


def send_one(client: httpx.Client, base_url: str, planned: PlannedRequest) -> dict[str, object]:
    """Send one planned request (redirects are not followed) and describe the exchange."""
    request = client.build_request(
        planned.method,
        planned.url(base_url),
        headers=list(planned.headers),
        content=planned.body if planned.body or planned.method != "GET" else None,
    )
    raw_path = request.url.raw_path.decode("ascii")
    path, _, query = raw_path.partition("?")
    entry: dict[str, object] = {
        "i": planned.index,
        "label": planned.label,
        "method": request.method,
        "url": str(request.url),
        "path": path,
        "query": query,
        "request_headers": _pairs(request.headers.raw),
        "request_body_b64": _b64(planned.body),
        "status": None,
        "response_headers": None,
        "response_body_b64": None,
        "error": None,
    }
    try:
        response = client.send(request, stream=True, follow_redirects=False)
        try:
            body = b"".join(response.iter_raw())
        finally:
            response.close()
    except httpx.HTTPError as exc:
        entry["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return entry
    entry["request_headers"] = _pairs(response.request.headers.raw)
    entry["status"] = response.status_code
    entry["response_headers"] = _pairs(response.headers.raw)
    entry["response_body_b64"] = _b64(body)
    return entry


class _Run:
    """Shared state of one ``generate`` call: per-thread clients, the log, the counters."""

    def __init__(
        self,
        base_url: str,
        timeout: float,
        deadline: float,
        log: IO[str] | None,
        on_done: Callable[[dict[str, object]], None] | None = None,
    ):
        self.on_done = on_done
        self.base_url = base_url
        self.timeout = timeout
        self.deadline = deadline
        self.log = log
        self.lock = threading.Lock()
        self.local = threading.local()
        self.clients: list[httpx.Client] = []
        self.statuses: Counter[int] = Counter()
        self.sent = self.ok = self.errors = self.skipped = 0

    def client(self) -> httpx.Client:
        client = getattr(self.local, "client", None)
        if client is None:
            client = httpx.Client(timeout=self.timeout, follow_redirects=False)
            self.local.client = client
            with self.lock:
                self.clients.append(client)
        return client

    def run(self, planned: PlannedRequest) -> None:
        if time.monotonic() >= self.deadline:
            with self.lock:
                self.skipped += 1
            return
        entry = send_one(self.client(), self.base_url, planned)
        line = json.dumps(entry, separators=(",", ":"))
        with self.lock:
            self.sent += 1
            if entry["error"] is None:
                self.ok += 1
                self.statuses[int(entry["status"])] += 1  # type: ignore[call-overload]
            else:
                self.errors += 1
            if self.log is not None:
                self.log.write(line + "\n")
        if self.on_done is not None:
            self.on_done(entry)

    def close(self) -> None:
        for client in self.clients:
            client.close()


def generate(
    url: str,
    count: int,
    concurrency: int,
    seed: int = 0,
    log_path: str | Path | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    timeout: float = DEFAULT_TIMEOUT,
    on_done: Callable[[dict[str, object]], None] | None = None,
) -> TrafficSummary:
    """Send ``count`` requests of the mix to ``url`` from ``concurrency`` threads.

    Stops starting new requests once ``max_seconds`` have passed (those are ``skipped``). With
    ``log_path``, writes one JSON line per completed exchange (in completion order; ``i`` is the
    planned index).
    """
    if count < 0 or concurrency < 1:
        raise ValueError("count must be >= 0 and concurrency >= 1")
    plan = build_requests(count, seed)
    started = time.monotonic()
    log = open(log_path, "w", encoding="utf-8") if log_path is not None else None  # noqa: SIM115
    state = _Run(url, timeout, started + max_seconds, log, on_done)
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="traffic")
    try:
        for future in [pool.submit(state.run, planned) for planned in plan]:
            future.result()
    except BaseException:
        # Ctrl-C or a failure: finish what is in flight, start nothing new
        state.deadline = 0.0
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        state.close()
        if log is not None:
            log.close()
    return TrafficSummary(
        planned=count,
        sent=state.sent,
        ok=state.ok,
        errors=state.errors,
        skipped=state.skipped,
        elapsed=time.monotonic() - started,
        statuses=dict(state.statuses),
    )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m shadowdiff.demo.traffic",
        description="Send a deterministic, production-style request mix to a demo server.",
        epilog="example: python -m shadowdiff.demo.traffic http://127.0.0.1:8001 --count 200 "
        "--concurrency 4 --seed 1 --log traffic.jsonl",
    )
    parser.add_argument("url", help="base URL of the server, e.g. http://127.0.0.1:8001")
    parser.add_argument("--count", type=int, default=100, help="requests to send (default 100)")
    parser.add_argument("--concurrency", type=int, default=4, help="parallel clients (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="mix seed (default 0)")
    parser.add_argument("--log", default=None, help="write one JSON line per exchange here")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="per-request timeout in seconds"
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=DEFAULT_MAX_SECONDS,
        help="stop starting requests after this long (default 120)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    summary = generate(
        args.url,
        args.count,
        args.concurrency,
        seed=args.seed,
        log_path=args.log,
        max_seconds=args.max_seconds,
        timeout=args.timeout,
    )
    print(summary.line())
    return 0 if summary.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
