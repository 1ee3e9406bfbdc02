"""The demo's request mix: what production-style traffic to the demo servers looks like.

Mostly ``POST /predict/`` (multipart CSV upload in field ``X``, raw ``text/csv``, JSON
``{"data": ...}`` and JSON records; some with ``?model=v1``), GETs of the info endpoints,
slash-less spellings (redirects), good and bad inputs (422), unknown paths (404),
``Authorization: Bearer`` on a share of requests (a few tokens, reused) and ``X-Api-Key`` on
some. ``build_requests`` is pure and deterministic given a seed, so tests and other tools can
reuse the exact same requests; ``traffic.py`` sends them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass

from shadowdiff.demo.model import FEATURES

__all__ = [
    "API_KEYS",
    "MIX",
    "MULTIPART_FIELD",
    "TOKENS",
    "UNKNOWN_PATHS",
    "USER_AGENTS",
    "Headers",
    "PlannedRequest",
    "build_requests",
]

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
