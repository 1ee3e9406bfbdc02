"""Real targets for replay fault tests, and stores recorded for them.

`counting_server`: answers each request after a delay and counts what it received and
answered. `streaming_server`: `/big?n=N` streams N bytes chunked, generated on the fly
(the server stops when the client hangs up; `&noise=1`: bytes that do not compress);
anything else answers a small body.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shadowdiff.records import Exchange
from shadowdiff.store import Store

PATTERN = bytes(range(256)) * 256  # 64 KiB of a repeating pattern
# 64 KiB that do not compress (`/big?n=N&noise=1`): repeated beyond zlib's 32 KiB window
NOISE = random.Random(0).randbytes(64 * 1024)


def pattern_bytes(n: int) -> bytes:
    """The first `n` bytes `/big?n=...` sends."""
    return (PATTERN * (n // len(PATTERN) + 1))[:n]


class _Counting(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        srv: Any = self.server
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        with srv.lock:
            srv.received[self.path] += 1
            srv.in_flight += 1
        try:
            srv.stop.wait(srv.delay)
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            with srv.lock:
                srv.answered += 1
        finally:
            with srv.lock:
                srv.in_flight -= 1

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        return


class _Streaming(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        url = urlsplit(self.path)
        if url.path != "/big":
            body = b'{"small": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        query = parse_qs(url.query)
        n = int(query["n"][0])
        source = NOISE if "noise" in query else PATTERN
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        flip = self.server.flip_at  # type: ignore[attr-defined]
        try:
            while sent < n:
                chunk = source[: min(len(source), n - sent)]
                if flip is not None and sent <= flip < sent + len(chunk):
                    k = flip - sent
                    chunk = chunk[:k] + bytes([chunk[k] ^ 0xFF]) + chunk[k + 1 :]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client stopped reading and hung up
            self.close_connection = True
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.streamed.append(sent)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        return


@contextmanager
def _serve(handler: type[BaseHTTPRequestHandler], **attrs: Any) -> Iterator[Any]:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.lock = threading.Lock()
    server.stop = threading.Event()
    for name, value in attrs.items():
        setattr(server, name, value)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def counting_server(delay: float) -> Iterator[Any]:
    """`.received` (Counter of paths), `.answered`, `.in_flight`; `.url`."""
    with _serve(_Counting, delay=delay, received=Counter(), answered=0, in_flight=0) as srv:
        srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
        yield srv


@contextmanager
def streaming_server() -> Iterator[Any]:
    """`.streamed`: bytes written per `/big` request; `.url`; set `.flip_at` to an offset
    to send that byte of `/big` inverted."""
    with _serve(_Streaming, streamed=[], flip_at=None) as srv:
        srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
        yield srv


def recorded(db: Path, requests: list[tuple[str, str]], session: str = "s") -> list[Exchange]:
    """A store with one recorded exchange per (method, path), answered 200 with JSON."""
    with Store.open(db) as store:
        sess = store.create_session(session, source="har")
        store.add_exchanges(
            sess.id,
            [
                Exchange(
                    method=method,
                    path=path.partition("?")[0],
                    query=path.partition("?")[2],
                    status=200,
                    response_headers=[("Content-Type", "application/json")],
                    response_body=b'{"ok": true}',
                    started_at=1.0,
                    duration_ms=5.0,
                )
                for method, path in requests
            ],
        )
        return list(store.iter_exchanges(sess.id))


def stored_outcomes(db: Path, run: str) -> int:
    """How many outcomes a run has stored (0 while the store is being created or locked)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            row = conn.execute(
                "SELECT count(*) FROM replays r JOIN runs u ON u.id = r.run_id WHERE u.name = ?",
                [run],
            ).fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0])
