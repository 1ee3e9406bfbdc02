"""Every way the FastAPI port answers differently from the Flask server: the ONE documented place.

Each ``Difference`` is what a semantic diff with no rules at all finds when the same request is
sent to both servers and each answer is lifted to one tree::

    {"status": 200, "headers": {<lower-cased name>: value}, "body": <parsed JSON | text | None>}

(``body`` is ``None`` when the response has no body bytes; non-JSON bodies are text.)

Fields:

- ``key``: a unique name.
- ``endpoints``: where it shows, as ``"METHOD /path"`` patterns (``*`` matches anything; the
  query string is not part of the endpoint). ``"*"`` alone means every endpoint.
- ``statuses``: the Flask (old) status codes it shows with; empty means any.
- ``part`` / ``path`` / ``kind``: in shadowdiff path syntax: dots for keys, ``[*]`` for any
  list index, ``headers.<lower-case name>``; kinds ``value``, ``type``, ``missing`` (only the
  old answer has it), ``extra`` (only the new answer has it), ``status``.
- ``category``: ``port`` (an intended or natural port difference), ``noise`` (differs even
  between two answers of the same server), ``regression`` (only with the regression switch).
- ``tolerance``: for numbers, the largest absolute difference the entry covers.

The constants below drive the FastAPI port itself, so the documentation and the behaviour
cannot drift apart. ``python -m shadowdiff.demo.differences`` prints the list as a Markdown table.
"""

from __future__ import annotations

import fnmatch
import re
import sys
from dataclasses import dataclass
from typing import Literal

from shadowdiff.vocabulary import DiffKind, Part

Category = Literal["port", "noise", "regression"]

#: The port rounds every prediction to this many decimals (|change| <= 5e-11).
PORT_ROUNDING_DECIMALS = 10
#: Largest prediction difference that is a float-formatting difference, not a change.
PREDICTION_TOLERANCE = 1e-9
#: Set to 1 in the FastAPI port's environment to turn on the deliberate regression.
REGRESSION_ENV = "SHADOWDIFF_DEMO_REGRESSION"
#: With the switch on, rows whose feature REGRESSION_FEATURE_INDEX (``age``) is above
#: REGRESSION_THRESHOLD get REGRESSION_OFFSET added to their prediction.
REGRESSION_FEATURE_INDEX = 0
REGRESSION_THRESHOLD = 30.0
REGRESSION_OFFSET = 1.0
#: With the switch on, the port's ``PUT /items/{id}`` answers the change but does not keep
#: this field: a later GET shows the old value (the stateful demo's planted bug).
REGRESSION_DROPPED_FIELD = "quantity"

#: Raw differences that shadowdiff's own normalization removes before any rule applies.
NORMALIZED_BY_SHADOWDIFF = frozenset({"redirect-location"})

SLASHLESS = ("* /info", "* /health", "* /capabilities", "* /stats", "* /predict")


@dataclass(frozen=True)
class Difference:
    key: str
    endpoints: tuple[str, ...]
    part: Part
    path: str
    kind: DiffKind
    category: Category
    description: str
    statuses: tuple[int, ...] = ()
    tolerance: float | None = None

    def covers(
        self,
        endpoint: str,
        status: int,
        path: str,
        kind: str,
        left: object = None,
        right: object = None,
    ) -> bool:
        """Whether an observed difference (old status ``status``) is this documented one."""
        if kind != self.kind or not path_matches(self.path, path):
            return False
        if self.statuses and status not in self.statuses:
            return False
        if not any(endpoint_matches(pattern, endpoint) for pattern in self.endpoints):
            return False
        if self.tolerance is not None:
            numbers = (int, float)
            if not isinstance(left, numbers) or not isinstance(right, numbers):
                return False
            return abs(float(left) - float(right)) <= self.tolerance
        return True


def endpoint_matches(pattern: str, endpoint: str) -> bool:
    """``"*"`` matches all; otherwise a shell-style match against ``"METHOD /path"``."""
    return pattern == "*" or fnmatch.fnmatchcase(endpoint, pattern)


def _path_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("[*]", i):
            out.append(r"\[\d+\]")
            i += 3
        elif pattern.startswith("**", i):
            out.append(r".*")
            i += 2
        elif pattern[i] == "*":
            out.append(r"[^.\[]+")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def path_matches(pattern: str, path: str) -> bool:
    """Anchored match: ``*`` one key, ``[*]`` any index, ``**`` any depth."""
    return _path_regex(pattern).match(path) is not None


def _d(
    key: str,
    endpoints: tuple[str, ...],
    path: str,
    kind: str,
    category: Category,
    description: str,
    statuses: tuple[int, ...] = (),
    tolerance: float | None = None,
) -> Difference:
    part = (
        Part.STATUS
        if path == "status"
        else Part.HEADER
        if path.startswith("headers.")
        else Part.BODY
    )
    return Difference(
        key,
        endpoints,
        part,
        path,
        DiffKind(kind),  # a misspelt kind fails on import
        category,
        description,
        statuses,
        tolerance,
    )


_STATS = ("GET /stats/",)
_ITEM_READS = ("GET /items/*",)

DIFFERENCES: tuple[Difference, ...] = (
    # ------------------------------------------------------------- every response (servers)
    _d("date-header", ("*",), "headers.date", "value", "noise",
       "HTTP Date of the answer (1 s resolution); differs whenever the second ticks over."),
    _d("x-request-id-header", ("*",), "headers.x-request-id", "value", "noise",
       "A fresh uuid4 per answer on each side; equal only when the request carries an "
       "X-Request-ID header, which both servers echo (trimmed, at most 128 characters)."),
    _d("server-header", ("*",), "headers.server", "value", "port",
       "'gunicorn' (Flask under gunicorn) vs 'uvicorn' (FastAPI under uvicorn)."),
    _d("connection-header", ("*",), "headers.connection", "missing", "port",
       "gunicorn always sends 'Connection: keep-alive' (or 'close'); uvicorn sends no "
       "Connection header on a kept-alive connection."),
    _d("content-length-header", ("*",), "headers.content-length", "value", "port",
       "Follows every body difference listed here: /info/ +2 bytes ('fastapi'), /stats/ "
       "(backpressure keys, varying numbers), /predict/ 200 (shorter rounded floats), error "
       "bodies -1 byte ('detail' vs 'message'), redirects (Flask ~240-byte HTML vs 0), "
       "OPTIONS (0 vs 32). Equal on /ping, /ping/, /health/, /capabilities/, /echo/."),
    # ------------------------------------------------------------------------ POST /predict/
    _d("predictions-float", ("POST /predict/",), "body.predictions[*]", "value", "port",
       f"The port rounds each prediction to {PORT_ROUNDING_DECIMALS} decimals: nearly every "
       f"value differs in its last digits, never by more than {PREDICTION_TOLERANCE:g}.",
       (200,), PREDICTION_TOLERANCE),
    _d("predict-request-id", ("POST /predict/",), "body.request_id", "value", "noise",
       "uuid4 per request (same rules as the X-Request-ID header, whose value it repeats).",
       (200,)),
    _d("predict-timestamp", ("POST /predict/",), "body.timestamp", "value", "noise",
       "ISO-8601 UTC time the request arrived (always with microseconds).", (200,)),
    # ---------------------------------------------------------------------------- GET /info/
    _d("info-drum-server", ("GET /info/",), "body.drum_server", "value", "port",
       "The server's name: 'flask' vs 'fastapi'.", (200,)),
    _d("info-timestamp", ("GET /info/",), "body.timestamp", "value", "noise",
       "ISO-8601 UTC time of the answer.", (200,)),
    # --------------------------------------------------------------------------- GET /stats/
    _d("stats-backpressure-accepted", _STATS, "body.backpressure_accepted", "extra", "port",
       "Port only: predictions admitted by its in-flight limiter (an int).", (200,)),
    _d("stats-backpressure-rejected", _STATS, "body.backpressure_rejected", "extra", "port",
       "Port only: predictions refused by the limiter (an int; 0 in the demo).", (200,)),
    _d("stats-backpressure-queue-depth", _STATS, "body.backpressure_queue_depth", "extra",
       "port", "Port only: predictions waiting for the limiter right now (an int).", (200,)),
    _d("stats-backpressure-accepted-value", _STATS, "body.backpressure_accepted", "value",
       "noise", "Only between two port answers: the count grows with every prediction.",
       (200,)),
    _d("stats-backpressure-queue-depth-value", _STATS, "body.backpressure_queue_depth",
       "value", "noise", "Only between two port answers: the queue depth of the moment.",
       (200,)),
    _d("stats-content-length", _STATS, "headers.content-length", "value", "noise",
       "Also between two answers of one server: the numbers below print with varying length.",
       (200,)),
    _d("stats-max-rss", _STATS, "body.mem_info.max_rss_kb", "value", "noise",
       "Peak resident memory of the answering process (getrusage), per process.", (200,)),
    _d("stats-page-faults", _STATS, "body.mem_info.minor_page_faults", "value", "noise",
       "Minor page faults of the answering process so far.", (200,)),
    _d("stats-uptime", _STATS, "body.time_info.uptime_seconds", "value", "noise",
       "Seconds since the answering process imported the app.", (200,)),
    _d("stats-current-time", _STATS, "body.time_info.current_time", "value", "noise",
       "ISO-8601 UTC time of the answer.", (200,)),
    _d("stats-cpu-user", _STATS, "body.time_info.cpu_user_seconds", "value", "noise",
       "User CPU seconds of the answering process.", (200,)),
    _d("stats-cpu-system", _STATS, "body.time_info.cpu_system_seconds", "value", "noise",
       "System CPU seconds of the answering process.", (200,)),
    _d("stats-request-count", _STATS, "body.request_count", "value", "noise",
       "Requests seen by the answering process (gunicorn runs several workers).", (200,)),
    # ------------------------------------------------------------------- errors (all paths)
    _d("error-message", ("*",), "body.message", "missing", "port",
       "Flask errors are {\"message\": text}; the port says {\"detail\": text}, same text "
       "(401 'Unauthorized', 403 'Forbidden', 404 'Not Found', 405 'Method Not Allowed', 422 "
       "the input problem).", (401, 403, 404, 405, 422)),
    _d("error-detail", ("*",), "body.detail", "extra", "port",
       "The port's error key (see error-message).", (401, 403, 404, 405, 422)),
    _d("allow-header", ("*",), "headers.allow", "value", "port",
       "405 Allow header: Flask lists OPTIONS too (and HEAD for GET routes) in set order, "
       "which varies between Flask processes, e.g. 'POST, OPTIONS' or 'HEAD, GET, OPTIONS'; "
       "the port lists only its route's methods, sorted: 'POST', 'GET, HEAD'.", (405,)),
    # --------------------------------------------- slash-less spellings (trailing-slash routes)
    _d("redirect-status", SLASHLESS, "status", "status", "port",
       "Werkzeug redirects to the slash spelling with 308; Starlette's redirect_slashes uses "
       "307.", (308,)),
    _d("redirect-location", SLASHLESS, "headers.location", "value", "port",
       "Both are absolute URLs built from the request's Host header, with the query string "
       "kept (e.g. 'http://127.0.0.1:8001/info/?verbose=1'); they differ only in host:port "
       "when the two servers receive different Host headers, as when each is called directly. "
       "shadowdiff makes a Location on the answering server's own origin relative before "
       "comparing, so its diffs never show this one (NORMALIZED_BY_SHADOWDIFF).",
       (308,)),
    _d("redirect-content-type", SLASHLESS, "headers.content-type", "missing", "port",
       "Flask's redirect is 'text/html; charset=utf-8'; Starlette's has no Content-Type.",
       (308,)),
    _d("redirect-body", SLASHLESS, "body", "type", "port",
       "Flask's redirect has a small HTML page ('Redirecting...', a link to the target); "
       "Starlette's is empty (None). Not seen for HEAD, where both are empty.", (308,)),
    _d("wrong-method-slashless-status", SLASHLESS, "status", "status", "port",
       "A method the route does not take, on the slash-less spelling (GET /predict, "
       "POST /info): Werkzeug checks the method first and answers 404; Starlette redirects "
       "with 307 anyway.", (404,)),
    _d("wrong-method-slashless-location", SLASHLESS, "headers.location", "extra", "port",
       "The port's 307 Location (see wrong-method-slashless-status).", (404,)),
    _d("wrong-method-slashless-content-type", SLASHLESS, "headers.content-type", "missing",
       "port", "Flask's 404 is application/json; the port's 307 has no Content-Type.", (404,)),
    _d("wrong-method-slashless-body", SLASHLESS, "body", "type", "port",
       "Flask's 404 {\"message\": \"Not Found\"} vs the port's empty 307 body (None).", (404,)),
    # ------------------------------------------------------------------------------- OPTIONS
    _d("options-status", ("OPTIONS *",), "status", "status", "port",
       "Flask answers OPTIONS on every route itself (200, empty); FastAPI has no automatic "
       "OPTIONS and answers 405.", (200,)),
    _d("options-allow", ("OPTIONS *",), "headers.allow", "value", "port",
       "Flask's automatic OPTIONS lists e.g. 'POST, OPTIONS' (set order); the port's 405 "
       "lists its route's methods, sorted: 'POST'.",
       (200,)),
    _d("options-content-type", ("OPTIONS *",), "headers.content-type", "value", "port",
       "'text/html; charset=utf-8' (Flask's empty 200) vs 'application/json' (the 405).",
       (200,)),
    _d("options-body", ("OPTIONS *",), "body", "type", "port",
       "Flask's OPTIONS answer is empty (None); the port's is {\"detail\": \"Method Not "
       "Allowed\"}.", (200,)),
    # ---------------------------------------------------------------- the regression switch
    _d("regression-predictions", ("POST /predict/",), "body.predictions[*]", "value",
       "regression",
       f"Only with {REGRESSION_ENV}=1: rows whose age is above {REGRESSION_THRESHOLD:g} get "
       f"{REGRESSION_OFFSET:+g} on their prediction (a real bug, far beyond tolerance).",
       (200,)),
    _d("regression-content-length", ("POST /predict/",), "headers.content-length", "value",
       "regression",
       "Only with the switch: a changed prediction may print with a different length.",
       (200,)),
    _d("regression-put-keeps-quantity", _ITEM_READS, f"body.{REGRESSION_DROPPED_FIELD}",
       "value", "regression",
       f"Only with {REGRESSION_ENV}=1: the port's PUT /items/{{id}} answers the new "
       f"{REGRESSION_DROPPED_FIELD} but does not keep it, so a later GET of the item shows "
       "the old value (a lost update; the PUT's own answer looks right).", (200,)),
    _d("regression-put-keeps-quantity-list", ("GET /items",),
       f"body.items[*].{REGRESSION_DROPPED_FIELD}", "value", "regression",
       "Only with the switch: the same lost update, seen in the owner's list of items.",
       (200,)),
)  # fmt: skip


def by_category(*categories: Category) -> tuple[Difference, ...]:
    """The documented differences of the given categories (all when none are given)."""
    return tuple(d for d in DIFFERENCES if not categories or d.category in categories)


def find(
    endpoint: str,
    status: int,
    path: str,
    kind: str,
    left: object = None,
    right: object = None,
    categories: tuple[Category, ...] = ("port", "noise"),
) -> Difference | None:
    """The first documented difference of ``categories`` that covers an observed one."""
    for difference in by_category(*categories):
        if difference.covers(endpoint, status, path, kind, left, right):
            return difference
    return None


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown() -> str:
    """The list as a Markdown table."""
    lines = [
        "| key | category | endpoints | old status | part | path | kind | description |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in DIFFERENCES:
        statuses = ", ".join(str(s) for s in d.statuses) or "any"
        endpoints = ", ".join(f"`{e}`" for e in d.endpoints)
        description = d.description
        if d.tolerance is not None:
            description += f" (covers abs difference <= {d.tolerance:g})"
        lines.append(
            f"| {d.key} | {d.category} | {_cell(endpoints)} | {statuses} | {d.part} | "
            f"`{d.path}` | {d.kind} | {_cell(description)} |"
        )
    return "\n".join(lines)


def main() -> None:
    sys.stdout.write(to_markdown() + "\n")


if __name__ == "__main__":
    main()
