"""A small real token-authenticated API (stdlib http.server, a thread) for the secrets tests.

``POST /login`` takes a JSON or form password and issues a bearer token in its JSON body and
a session cookie; ``GET /me`` wants the token, ``GET /cart`` the cookie, ``GET /items`` an
``api_key`` query parameter; ``POST /echo`` answers with what it was sent. Every value is
fixed, so a replay against the same server answers exactly as the recording did. The
passwords it was sent are kept in ``passwords`` (what the target received).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

PASSWORD = "correct-horse-battery-7731"
TOKEN = "tok-alice-Qm2xV9"
SESSION_ID = "sess-9f3e-alice"
API_KEY = "key-live-55aa01"
SECRETS = (PASSWORD, TOKEN, SESSION_ID, API_KEY)


@dataclass
class SecretApp:
    url: str
    passwords: list[str] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    app: SecretApp
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return None  # quiet: the tests read the state, not a log

    def _send(self, status: int, doc: Any, headers: tuple[tuple[str, str], ...] = ()) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> dict[str, Any]:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return dict(parse_qsl(raw.decode()))
        return dict(json.loads(raw)) if raw else {}

    def do_POST(self) -> None:  # noqa: N802 - http.server's spelling
        url = urlsplit(self.path)
        body = self._body()
        if url.path == "/login":
            self.app.passwords.append(str(body.get("password")))
            if body.get("password") != PASSWORD:
                self._send(401, {"error": "bad password"})
                return
            cookie = (("Set-Cookie", f"sid={SESSION_ID}; Path=/; HttpOnly"),)
            self._send(200, {"user": "alice", "token": TOKEN}, cookie)
        else:  # /echo
            seen = {
                "headers": {
                    "authorization": self.headers.get("Authorization"),
                    "cookie": self.headers.get("Cookie"),
                },
                "args": dict(parse_qsl(url.query)),
                "json": body,
            }
            self._send(200, seen)

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        if url.path == "/me":
            ok = self.headers.get("Authorization") == f"Bearer {TOKEN}"
            self._send(200 if ok else 401, {"user": "alice"} if ok else {"error": "no token"})
        elif url.path == "/cart":
            ok = self.headers.get("Cookie") == f"sid={SESSION_ID}"
            self._send(200 if ok else 401, {"cart": [1, 2]} if ok else {"error": "no session"})
        else:  # /items
            ok = dict(parse_qsl(url.query)).get("api_key") == API_KEY
            self._send(200 if ok else 403, {"items": ["a", "b"]} if ok else {"error": "no key"})


@contextmanager
def secret_app() -> Iterator[SecretApp]:
    """The app on a free 127.0.0.1 port, stopped on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    app = SecretApp(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = type("Handler", (_Handler,), {"app": app})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
