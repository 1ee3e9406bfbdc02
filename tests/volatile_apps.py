"""A small old/new service pair for change classes and volatile values.

``old_app`` (Flask, under gunicorn) and ``new_app`` (FastAPI, under uvicorn):

* ``POST /parse``: a body with unknown fields gets a 400 naming them as a Python set, whose
  order differs between the two (set order: noise in a message); a body that is not JSON gets
  a 400 whose new text leaks a bytes repr (``b'{not json'``: a real regression). One
  endpoint, one path (``body.message``), two causes.
* ``GET /page/<n>``: page ``n`` of 5 items; the new service's page 2 and later start one item
  late (an off-by-one). Which inner fields differ depends on the page (``flag`` is set on
  item 8 only).
* ``GET /things/<n>``: per request on both sides, a uuid, an ISO-8601 ``created_at`` (same
  format), epoch seconds (a float) and an ``X_Request_ID`` header: volatile values.
* ``GET /sticky/<n>``: the old service's ``ref`` is a uuid derived from ``n`` (stable: the
  same on every answer), the new one's a fresh uuid: volatile-looking, but a baseline shows
  the old service stable, so it counts.
* ``GET /shapes/<n>``: a uuid that became an int, and ``+00:00`` that became ``Z``: changed
  shapes, real differences.
* ``GET /status/<n>``: the old service fails (500); the new one answers 403 for odd ``n``
  and 200 for even ``n``.
* ``GET /nulls/<n>``: ``a`` is JSON null on the old side and absent on the new; ``d`` is 1 on
  the old side and absent on the new.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from flask import Flask, jsonify
from flask import request as flask_request

old_app = Flask("volatile-old")
new_app = FastAPI()

FIELDS = ("colour", "size", "weight")
PAGE = 5


def _set_text(names: list[str]) -> str:
    return "{" + ", ".join(repr(n) for n in names) + "}"


def _parse(raw: bytes, *, new: bool) -> tuple[int, dict[str, Any]]:
    try:
        body = json.loads(raw)
    except ValueError:
        shown = repr(raw) if new else raw.decode("utf-8", "replace")
        return 400, {"message": f"invalid JSON: {shown}"}
    unknown = sorted(set(body) - {"name"})
    if unknown:
        order = list(reversed(unknown)) if new else unknown
        return 400, {"message": f"unknown fields {_set_text(order)}"}
    return 200, {"name": body.get("name")}


def _page(n: int, *, new: bool) -> dict[str, Any]:
    start = (n - 1) * PAGE + 1 + (1 if new and n >= 2 else 0)
    items = [{"id": i, "name": f"item {i}", "flag": i == 8} for i in range(start, start + PAGE)]
    return {"page": n, "items": items}


def _now_iso(z: bool = False) -> str:
    text = datetime.now(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z") if z else text


def _thing(n: int) -> dict[str, Any]:
    return {
        "id": n,
        "uuid": str(uuid.uuid4()),
        "created_at": _now_iso(),
        "stamp": round(time.time(), 6),
    }


def _sticky(n: int, *, new: bool) -> dict[str, Any]:
    ref = uuid.uuid4() if new else uuid.uuid5(uuid.NAMESPACE_URL, f"sticky/{n}")
    return {"id": n, "ref": str(ref)}


def _shapes(n: int, *, new: bool) -> dict[str, Any]:
    if new:
        return {"id": n, "ref": random.randint(1, 10**9), "at": _now_iso(z=True)}
    return {"id": n, "ref": str(uuid.uuid4()), "at": _now_iso()}


def _status(n: int, *, new: bool) -> tuple[int, dict[str, Any]]:
    if not new:
        return 500, {"message": "internal error"}
    return (403, {"message": "forbidden"}) if n % 2 else (200, {"message": "ok"})


def _nulls(n: int, *, new: bool) -> dict[str, Any]:
    return {"id": n} if new else {"id": n, "a": None, "d": 1}


# --------------------------------------------------------------------------- old (Flask)


@old_app.get("/ping")
def old_ping() -> str:
    return "pong"


@old_app.post("/parse")
def old_parse() -> Any:
    status, body = _parse(flask_request.get_data(), new=False)
    return jsonify(body), status


@old_app.get("/page/<int:n>")
def old_page(n: int) -> Any:
    return jsonify(_page(n, new=False))


@old_app.get("/things/<int:n>")
def old_thing(n: int) -> Any:
    response = jsonify(_thing(n))
    response.headers["X_Request_ID"] = str(uuid.uuid4())
    return response


@old_app.get("/sticky/<int:n>")
def old_sticky(n: int) -> Any:
    return jsonify(_sticky(n, new=False))


@old_app.get("/shapes/<int:n>")
def old_shapes(n: int) -> Any:
    return jsonify(_shapes(n, new=False))


@old_app.get("/status/<int:n>")
def old_status(n: int) -> Any:
    status, body = _status(n, new=False)
    return jsonify(body), status


@old_app.get("/nulls/<int:n>")
def old_nulls(n: int) -> Any:
    return jsonify(_nulls(n, new=False))


# --------------------------------------------------------------------------- new (FastAPI)


@new_app.get("/ping")
def new_ping() -> str:
    return "pong"


@new_app.post("/parse")
async def new_parse(request: Request) -> JSONResponse:
    status, body = _parse(await request.body(), new=True)
    return JSONResponse(body, status_code=status)


@new_app.get("/page/{n}")
def new_page(n: int) -> JSONResponse:
    return JSONResponse(_page(n, new=True))


@new_app.get("/things/{n}")
def new_thing(n: int) -> JSONResponse:
    return JSONResponse(_thing(n), headers={"X_Request_ID": str(uuid.uuid4())})


@new_app.get("/sticky/{n}")
def new_sticky(n: int) -> JSONResponse:
    return JSONResponse(_sticky(n, new=True))


@new_app.get("/shapes/{n}")
def new_shapes(n: int) -> JSONResponse:
    return JSONResponse(_shapes(n, new=True))


@new_app.get("/status/{n}")
def new_status(n: int) -> JSONResponse:
    status, body = _status(n, new=True)
    return JSONResponse(body, status_code=status)


@new_app.get("/nulls/{n}")
def new_nulls(n: int) -> JSONResponse:
    return JSONResponse(_nulls(n, new=True))
