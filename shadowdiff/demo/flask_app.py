"""The "old" server: a Flask model-serving API in the shape of DataRobot DRUM's.

Run it under gunicorn (``python -m shadowdiff.demo.servers flask --port P``). Routes are defined
with a trailing slash, so the slash-less spelling gets Werkzeug's natural 308 redirect. Every
error is JSON ``{"message": ...}``; every response carries ``X-Request-ID``. The stateful
endpoints (``/login``, ``/items``: see ``shadowdiff.demo.items``) keep their state per
instance (``shadowdiff.demo.inventory``), shared by its gunicorn workers.
"""

from __future__ import annotations

import threading

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from shadowdiff.demo import bodies, items
from shadowdiff.demo.accounts import Denied, InputProblem
from shadowdiff.demo.inventory import Full, Inventory
from shadowdiff.demo.model import ModelInputError, predict
from shadowdiff.demo.payload import (
    FORM_FIELD,
    MULTIPART_TYPE,
    media_type,
    rows_from_body,
    rows_from_form_value,
)

SERVER_NAME = "flask"

app = Flask(__name__)
inventory = Inventory.from_env()

_lock = threading.Lock()
_request_count = 0


def _count_request() -> int:
    global _request_count
    with _lock:
        _request_count += 1
        return _request_count


@app.before_request
def _start_request() -> None:
    _count_request()
    g.request_id = bodies.request_id(request.headers.get(bodies.REQUEST_ID_HEADER))
    g.timestamp = bodies.now_iso()


@app.after_request
def _stamp_request_id(response: Response) -> Response:
    rid = g.get("request_id") or bodies.request_id(None)
    response.headers[bodies.REQUEST_ID_HEADER] = rid
    return response


@app.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[Response, int]:
    response = jsonify({"message": exc.name})
    for name, value in exc.get_headers():
        if name.lower() == "allow":
            response.headers["Allow"] = value
    return response, exc.code or 500


@app.errorhandler(ModelInputError)
def _bad_input(exc: ModelInputError) -> tuple[Response, int]:
    return jsonify({"message": str(exc)}), 422


@app.errorhandler(Denied)
def _denied(exc: Denied) -> tuple[Response, int]:
    return jsonify({"message": HTTP_STATUS_CODES[exc.status]}), exc.status


@app.errorhandler(InputProblem)
@app.errorhandler(Full)
def _bad_item(exc: ValueError) -> tuple[Response, int]:
    return jsonify({"message": str(exc)}), 422


@app.get("/ping")
@app.get("/ping/")
def ping() -> Response:
    return jsonify(bodies.ping_body())


@app.get("/health/")
def health() -> Response:
    return jsonify(bodies.health_body())


@app.get("/info/")
def info() -> Response:
    return jsonify(bodies.info_body(SERVER_NAME))


@app.get("/capabilities/")
def capabilities() -> Response:
    return jsonify(bodies.capabilities_body())


@app.get("/stats/")
def stats() -> Response:
    with _lock:
        count = _request_count
    return jsonify(bodies.stats_body(count))


@app.post("/predict/")
def predict_endpoint() -> Response:
    content_type = request.headers.get("Content-Type")
    if media_type(content_type) == MULTIPART_TYPE:
        upload = request.files.get(FORM_FIELD)
        value: bytes | str | None = upload.read() if upload is not None else None
        if value is None:
            value = request.form.get(FORM_FIELD)
        rows = rows_from_form_value(value)
    else:
        rows = rows_from_body(content_type, request.get_data(cache=True))
    return jsonify(bodies.predict_body(predict(rows), g.request_id, g.timestamp))


@app.post("/echo/")
def echo() -> Response:
    raw = request.get_data(cache=True)
    return jsonify(bodies.echo_body(raw, request.headers.get("Content-Type")))


@app.post("/login")
def login() -> Response:
    return jsonify(items.do_login(inventory, request.get_data(cache=True)))


@app.post("/items")
def create_item() -> tuple[Response, int]:
    raw = request.get_data(cache=True)
    return jsonify(items.do_create(inventory, request.headers.get("Authorization"), raw)), 201


@app.get("/items")
def list_items() -> Response:
    return jsonify(items.do_list(inventory, request.headers.get("Authorization")))


@app.get("/items/<item_id>")
def get_item(item_id: str) -> Response:
    return jsonify(items.do_get(inventory, request.headers.get("Authorization"), item_id))


@app.put("/items/<item_id>")
def update_item(item_id: str) -> Response:
    auth, raw = request.headers.get("Authorization"), request.get_data(cache=True)
    return jsonify(items.do_update(inventory, auth, item_id, raw))


@app.delete("/items/<item_id>")
def delete_item(item_id: str) -> Response:
    items.do_delete(inventory, request.headers.get("Authorization"), item_id)
    response = Response(status=204)
    del response.headers["Content-Type"]  # an empty answer has no media type
    return response
