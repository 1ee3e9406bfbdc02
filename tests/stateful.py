"""A small real stateful server: each user's items, created by POST and read by GET.

`POST /items` creates the caller's next item and answers `{"id": n}` (n counts per user
from 1); `GET /items/n` answers 200 once that user created item n, 404 before (and after
`DELETE /items/n`); `PUT /items/n` with a JSON `{"name": ...}` names it (the GET shows the
name). The user is the request's Authorization header. `State.bug = "put-drops-name"` plants
a bug: PUT answers as usual but keeps nothing. The server notes the most requests it had in
flight at once, and holds each request `delay` seconds so that overlap can show.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final

from shadowdiff.store import Exchange


@dataclass
class State:
    items: dict[str, int] = field(default_factory=dict)  # user -> items created
    in_flight: int = 0
    max_in_flight: int = 0
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    delay: float = 0.002
    names: dict[tuple[str, int], str] = field(default_factory=dict)
    deleted: set[tuple[str, int]] = field(default_factory=set)
    bug: str | None = None
    stamped: bool = False  # answers carry when they were made and a fresh trace id


def _handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes

        def log_message(self, *args: object) -> None:
            return None  # quiet: the tests read the state, not a log

        def _answer(self, status: int, body: object) -> None:
            if state.stamped and isinstance(body, dict):
                body = stamp(body, time.time())
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _serve(self) -> tuple[int, object]:
            user = self.headers.get("Authorization", "")
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            time.sleep(state.delay)
            with state.lock:
                if self.command == "POST" and self.path == "/items":
                    state.items[user] = state.items.get(user, 0) + 1
                    return 201, {"id": state.items[user]}
                if self.path.startswith("/items/"):
                    return _item(state, self.command, user, int(self.path.rpartition("/")[2]), data)
            return 400, {"error": "bad request"}

        def _handle(self) -> None:
            with state.lock:
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                status, body = self._serve()
            finally:
                with state.lock:
                    state.in_flight -= 1
            with state.lock:
                state.statuses.append(status)
            self._answer(status, body)

        do_GET = _handle
        do_POST = _handle
        do_PUT = _handle
        do_DELETE = _handle

    return Handler


def _item(state: State, method: str, user: str, n: int, data: bytes) -> tuple[int, object]:
    """GET, PUT or DELETE item n of the user (under the state's lock)."""
    key = (user, n)
    if not n <= state.items.get(user, 0) or key in state.deleted:
        return 404, {"error": "no such item"}
    if method == "PUT":
        name = json.loads(data or b"{}").get("name")
        if state.bug != "put-drops-name":
            state.names[key] = name
        return 200, {"id": n, "name": name}
    if method == "DELETE":
        state.deleted.add(key)
        return 200, {"deleted": n}
    return 200, {"id": n, **({"name": state.names[key]} if key in state.names else {})}


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops a burst of connects (retried after 1 s)


@contextmanager
def stateful_server(delay: float = 0.002) -> Iterator[tuple[str, State]]:
    """The server on a free 127.0.0.1 port, in a thread; stopped on exit."""
    state = State(delay=delay)
    server = _Server(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def create_get_traffic(users: int, pairs: int) -> list[Exchange]:
    """Recorded traffic: each user creates `pairs` items and reads each right after, the
    users interleaved (one create of every user, then their gets, round after round)."""
    out: list[Exchange] = []
    t = 1000.0
    for n in range(1, pairs + 1):
        for method, path, status in (("POST", "/items", 201), ("GET", f"/items/{n}", 200)):
            for u in range(users):
                t += 0.001
                out.append(
                    Exchange(
                        method=method,
                        path=path,
                        host="127.0.0.1",
                        request_headers=[("Host", "127.0.0.1"), ("Authorization", f"user-{u}")],
                        status=status,
                        response_headers=[("Content-Type", "application/json")],
                        response_body=json.dumps({"id": n}).encode(),
                        started_at=t,
                        duration_ms=1.0,
                        client=f"10.0.0.{u}",
                    )
                )
    return out


#: create -> get -> update -> get -> delete -> get, as a fresh server answers each user
LIFECYCLE: Final = (
    ("POST", "/items", None, 201, {"id": 1}),
    ("GET", "/items/1", None, 200, {"id": 1}),
    ("PUT", "/items/1", {"name": "first"}, 200, {"id": 1, "name": "first"}),
    ("GET", "/items/1", None, 200, {"id": 1, "name": "first"}),
    ("DELETE", "/items/1", None, 200, {"deleted": 1}),
    ("GET", "/items/1", None, 404, {"error": "no such item"}),
)


def stamp(body: dict[str, object], at: float) -> dict[str, object]:
    """An answer as a `stamped` server gives it: when it was made (ISO 8601, UTC) and a trace
    id no other answer has."""
    made = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    return {**body, "at": made, "trace": str(uuid.uuid4())}


def lifecycle_traffic(users: int, stamped_at: float | None = None) -> list[Exchange]:
    """Recorded traffic of `users` users each going through LIFECYCLE, interleaved step by
    step, with the answers a fresh server gives (`stamped_at`: as a `stamped` server gives
    them, recorded at that time)."""
    out: list[Exchange] = []
    t = 2000.0 if stamped_at is None else stamped_at
    for method, path, body, status, answer in LIFECYCLE:
        if stamped_at is not None:
            answer = stamp(answer, t)
        for u in range(users):
            t += 0.001
            sent = json.dumps(body).encode() if body is not None else b""
            headers = [("Host", "127.0.0.1"), ("Authorization", f"user-{u}")]
            if sent:
                headers += [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(sent))),
                ]
            out.append(
                Exchange(
                    method=method,
                    path=path,
                    host="127.0.0.1",
                    request_headers=headers,
                    request_body=sent,
                    status=status,
                    response_headers=[("Content-Type", "application/json")],
                    response_body=json.dumps(answer).encode(),
                    started_at=t,
                    duration_ms=1.0,
                    client=f"10.0.0.{u}",
                )
            )
    return out
