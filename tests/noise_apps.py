"""A tiny old/new service pair for the noise tests.

``old_app`` (Flask, run under gunicorn) and ``new_app`` (FastAPI, run under uvicorn) answer
``GET /items/<n>`` and ``GET /echo/<n>``. Per item:

* ``nonce`` and the ``X-Trace`` header are random per request on both: noise (8 hex digits:
  too short to be taken for a volatile id, so the noise measure sees them);
* ``total`` is ``3n`` on the old service and ``3n + 1`` on the new: a real change;
* ``legacy`` is always sent by the old service and dropped by the new: structural;
* ``tags`` is present on about half the answers of either service: structural noise, which
  must never become a rule.

``/echo/<n>`` differs only in noise.
"""

from __future__ import annotations

import random
import secrets
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from flask import Flask, jsonify

old_app = Flask("noise-old")
new_app = FastAPI()


def _item(n: int, *, new: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"id": n, "nonce": secrets.token_hex(4), "total": 3 * n + int(new)}
    if not new:
        body["legacy"] = "v1"
    if random.random() < 0.5:
        body["tags"] = ["a", "b"]
    return body


def _echo(n: int) -> dict[str, Any]:
    return {"n": n, "nonce": secrets.token_hex(4)}


@old_app.get("/ping")
def old_ping() -> str:
    return "pong"


@old_app.get("/items/<int:n>")
def old_item(n: int) -> Any:
    response = jsonify(_item(n, new=False))
    response.headers["X-Trace"] = secrets.token_hex(4)
    return response


@old_app.get("/echo/<int:n>")
def old_echo(n: int) -> Any:
    response = jsonify(_echo(n))
    response.headers["X-Trace"] = secrets.token_hex(4)
    return response


@new_app.get("/ping", response_class=PlainTextResponse)
def new_ping() -> str:
    return "pong"


@new_app.get("/items/{n}")
def new_item(n: int) -> JSONResponse:
    return JSONResponse(_item(n, new=True), headers={"X-Trace": secrets.token_hex(4)})


@new_app.get("/echo/{n}")
def new_echo(n: int) -> JSONResponse:
    return JSONResponse(_echo(n), headers={"X-Trace": secrets.token_hex(4)})
