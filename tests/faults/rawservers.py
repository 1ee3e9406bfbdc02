"""Small real servers and clients for fault tests: what misbehaving peers do on the wire."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Echo(BaseHTTPRequestHandler):
    """Answers 200 with the request body it read; remembers every request line and body.
    ``/slow`` answers only once the server's ``gate`` event is set."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, bytes]]

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                out += self.rfile.read(size)
                if self.rfile.read(2) != b"\r\n":
                    raise ValueError("malformed chunk")
            self.rfile.readline()  # the empty trailer line
            return out
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self) -> None:
        body = self._body()
        self.server.seen.append((self.requestline, body))  # type: ignore[attr-defined]
        if self.path == "/slow":
            self.server.gate.wait(30)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        return


@contextmanager
def echo_server() -> Iterator[ThreadingHTTPServer]:
    """A real HTTP/1.1 server on 127.0.0.1 (free port) in a thread; stopped on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.seen = []  # type: ignore[attr-defined]
    server.gate = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.gate.set()  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()
        thread.join(5)


def url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


def raw_exchange(host: str, port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes and read until the peer closes the connection (or ``timeout`` passes
    without a byte)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        with contextlib.suppress(TimeoutError, ConnectionResetError):  # the peer stopped
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)
