"""Small Flask services for the cross-cutting findings and pooled noise tests (run under
gunicorn by tests/test_crosscut.py).

Every app answers ``GET /ping`` and ``GET /<kind>/<n>`` for the six ``KINDS``, and puts a
per-request id header spelled ``X_Request_ID`` (underscores: the preset's request-id rule does
not know it) on every answer.

* ``twin_app``: CORS headers on every answer, and a ``hint`` key present on about half the
  answers. Served twice (two gunicorn processes), it is an A/A pair.
* ``plain_app``: no CORS headers, no ``hint``; the old service of the CORS pair.
* ``cors_app``: ``plain_app`` plus CORS headers (``Access-Control-Allow-Origin`` and
  ``Vary: Origin``) on every answer, and one real change: ``total`` on ``/orders`` is off by
  one. The candidate of the CORS pair.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from flask import Flask, Response, jsonify

KINDS = ("users", "orders", "products", "carts", "reviews", "stores")


def make_app(name: str, *, cors: bool, hint: bool, change: bool) -> Flask:
    app = Flask(name)

    @app.get("/ping")
    def ping() -> str:
        return "pong"

    @app.get("/<kind>/<int:n>")
    def item(kind: str, n: int) -> Any:
        if kind not in KINDS:
            return jsonify({"error": "no such kind"}), 404
        body: dict[str, Any] = {"id": n, "kind": kind, "total": 3 * n}
        if change and kind == "orders":
            body["total"] += 1
        if hint and random.random() < 0.5:
            body["hint"] = "cached"
        return jsonify(body)

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["X_Request_ID"] = uuid.uuid4().hex
        if cors:
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.headers["Vary"] = "Origin"
        return response

    return app


twin_app = make_app("twin", cors=True, hint=True, change=False)
plain_app = make_app("plain", cors=False, hint=False, change=False)
cors_app = make_app("cors", cors=True, hint=False, change=True)
