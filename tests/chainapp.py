"""A small real stateful API whose every instance issues its own values (stdlib http.server,
a thread), for the chain tests.

``POST /login`` (JSON user and password) answers ``{"user", "token"}``: a bearer token
signed with the instance's own random key, so one instance rejects another's tokens, and
sets a ``sid`` cookie. With the token: ``POST /items`` creates an item under a fresh uuid
(``{"id", "name", "owner", "href"}``), ``GET /items/<id>``, ``GET /items?id=<id>``,
``PUT /items/<id>`` and ``DELETE /items/<id>`` read, rename and delete it (404 for an id
this instance never issued, 401 without a good token); ``GET /shared/<id>`` lets any
signed-in user read an item; a create takes `CREATE_DELAY` s, so a read sent meanwhile
finds nothing. ``GET /whoami`` wants the cookie.
``POST /tickets`` issues a ticket id (``{"ticket_id"}``; with ``renamed`` the key is
``{"ticket"}``, a planted change) and ``GET /tickets/<id>`` reads it. Every token and
session id it issued is kept in ``issued`` (to check that none reaches a database).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

CREATE_DELAY = 0.05
PASSWORDS = {"alice": "alice-pw-correct-8812", "bob": "bob-pw-correct-4471"}


@dataclass
class ChainApp:
    url: str = ""
    renamed: bool = False
    key: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    tickets: set[str] = field(default_factory=set)
    sessions: dict[str, str] = field(default_factory=dict)  # sid -> user
    issued: list[str] = field(default_factory=list)  # tokens and session ids
    lock: threading.Lock = field(default_factory=threading.Lock)

    def token(self, user: str) -> str:
        nonce = secrets.token_hex(4)
        sig = hmac.new(self.key, f"{user}.{nonce}".encode(), hashlib.sha256).hexdigest()[:24]
        return f"{user}.{nonce}.{sig}"

    def user_of(self, authorization: str | None) -> str | None:
        scheme, _, token = (authorization or "").partition(" ")
        user, _, rest = token.partition(".")
        nonce, _, sig = rest.partition(".")
        good = hmac.new(self.key, f"{user}.{nonce}".encode(), hashlib.sha256).hexdigest()[:24]
        ok = scheme == "Bearer" and user in PASSWORDS and hmac.compare_digest(sig, good)
        return user if ok else None


class _Handler(BaseHTTPRequestHandler):
    app: ChainApp
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return None

    def _send(self, status: int, doc: Any, headers: tuple[tuple[str, str], ...] = ()) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self) -> dict[str, Any]:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return dict(json.loads(raw)) if raw else {}

    def _route(self) -> tuple[int, Any, tuple[tuple[str, str], ...]]:
        url = urlsplit(self.path)
        body = self._json() if self.command in ("POST", "PUT") else {}
        app = self.app
        with app.lock:
            if url.path == "/login":
                return self._login(body)
            if url.path == "/whoami":
                user = app.sessions.get(_cookie(self.headers.get("Cookie"), "sid") or "")
                return (200, {"user": user}, ()) if user else (401, {"error": "no session"}, ())
            user = app.user_of(self.headers.get("Authorization"))
            if user is None:
                return 401, {"error": "bad token"}, ()
            if url.path.startswith("/tickets"):
                return self._tickets(url.path)
            return self._items(user, url.path, dict(parse_qsl(url.query)), body)

    def _login(self, body: dict[str, Any]) -> tuple[int, Any, tuple[tuple[str, str], ...]]:
        user = str(body.get("user"))
        if PASSWORDS.get(user) != body.get("password"):
            return 401, {"error": "bad password"}, ()
        token, sid = self.app.token(user), secrets.token_hex(12)
        self.app.sessions[sid] = user
        self.app.issued += [token, sid]
        return 200, {"user": user, "token": token}, (("Set-Cookie", f"sid={sid}; Path=/"),)

    def _tickets(self, path: str) -> tuple[int, Any, tuple[tuple[str, str], ...]]:
        if self.command == "POST":
            ticket = str(uuid.uuid4())
            self.app.tickets.add(ticket)
            return 201, {"ticket" if self.app.renamed else "ticket_id": ticket}, ()
        found = path.rpartition("/")[2] in self.app.tickets
        return (200, {"open": True}, ()) if found else (404, {"error": "no ticket"}, ())

    def _items(
        self, user: str, path: str, query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, Any, tuple[tuple[str, str], ...]]:
        items = self.app.items
        if self.command == "POST" and path == "/items":
            item_id = str(uuid.uuid4())
            items[item_id] = {"id": item_id, "name": body.get("name"), "owner": user}
            items[item_id]["href"] = f"/items/{item_id}"
            return 201, items[item_id], (("Location", f"/items/{item_id}"),)
        if path.startswith("/shared/"):  # any signed-in user may read an item
            item = items.get(path.rpartition("/")[2])
            return (200, item, ()) if item else (404, {"error": "no such item"}, ())
        item_id = query.get("id") if path == "/items" else path.rpartition("/")[2]
        item = items.get(item_id or "")
        if item is None or item["owner"] != user:
            return 404, {"error": "no such item"}, ()
        if self.command == "PUT":
            item["name"] = body.get("name")
        elif self.command == "DELETE":
            del items[item["id"]]
            return 200, {"deleted": item["id"]}, ()
        return 200, item, ()

    def _handle(self) -> None:
        if self.command == "POST" and self.path == "/items":
            time.sleep(CREATE_DELAY)  # a slow create: a read sent meanwhile finds nothing
        status, doc, headers = self._route()
        self._send(status, doc, headers)

    do_GET = do_POST = do_PUT = do_DELETE = _handle


def _cookie(header: str | None, name: str) -> str | None:
    for part in (header or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


@contextmanager
def chain_app(*, renamed: bool = False) -> Iterator[ChainApp]:
    """A fresh instance on a free 127.0.0.1 port (its own key, no items), stopped on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    app = ChainApp(f"http://127.0.0.1:{server.server_address[1]}", renamed)
    server.RequestHandlerClass = type("Handler", (_Handler,), {"app": app})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
