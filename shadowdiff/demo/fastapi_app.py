"""The "new" server: the FastAPI port of ``shadowdiff.demo.flask_app``.

Run it under uvicorn (``python -m shadowdiff.demo.servers fastapi --port P``). It answers like
the Flask server except for the deliberate, documented differences in
``shadowdiff.demo.differences`` (error bodies use ``detail``, slash redirects are 307,
predictions go through a 10-decimal rounding, ``/stats/`` has ``backpressure_*`` keys,
``/info/`` says ``"fastapi"``), plus the regression switch ``SHADOWDIFF_DEMO_REGRESSION=1``
(predictions off by one on some rows; ``PUT /items/{id}`` answers the change but does not
keep ``quantity``). The stateful endpoints share ``shadowdiff.demo.items`` with Flask.
Requests are parsed by hand from the plain ``Request`` so the behaviour mirrors Flask's, and
JSON is rendered byte-for-byte like Flask's ``jsonify``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from shadowdiff.demo import bodies, contract, items
from shadowdiff.demo.accounts import Denied, InputProblem
from shadowdiff.demo.differences import (
    PORT_ROUNDING_DECIMALS,
    REGRESSION_DROPPED_FIELD,
    REGRESSION_ENV,
    REGRESSION_FEATURE_INDEX,
    REGRESSION_OFFSET,
    REGRESSION_THRESHOLD,
)
from shadowdiff.demo.inventory import Full, Inventory
from shadowdiff.demo.model import ModelInputError, Row, predict
from shadowdiff.demo.payload import (
    FORM_FIELD,
    MULTIPART_TYPE,
    media_type,
    rows_from_body,
    rows_from_form_value,
)

SERVER_NAME = "fastapi"
MAX_IN_FLIGHT = 64
READ_METHODS = ["GET", "HEAD"]  # Flask answers HEAD for every GET route; so does the port

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])


class FlaskJSONResponse(Response):
    """JSON rendered exactly like Flask's ``jsonify``: sorted keys, compact, ASCII, newline."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
        return f"{text}\n".encode()


class Counters:
    """Request and backpressure counters of this process (uvicorn runs one event loop)."""

    def __init__(self) -> None:
        self.requests = 0
        self.accepted = 0
        self.rejected = 0
        self.waiting = 0


counters = Counters()
inventory = Inventory.from_env()


class RequestIdMiddleware:
    """Stamp ``X-Request-ID`` (echoed or fresh) on every response, redirects and 404s too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", []):
            if name.lower() == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = bodies.request_id(incoming)
        scope.setdefault("state", {})["request_id"] = rid
        scope["state"]["timestamp"] = bodies.now_iso()
        counters.requests += 1

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


_slots = asyncio.Semaphore(MAX_IN_FLIGHT)

app = FastAPI(
    title="shadowdiff demo (FastAPI port)",
    docs_url=None,
    redoc_url=None,
    openapi_url="/openapi.json",  # the contract: see shadowdiff.demo.contract
    default_response_class=FlaskJSONResponse,
)
app.add_middleware(RequestIdMiddleware)


@app.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    headers = dict(exc.headers or {})
    for name, value in headers.items():
        if name.lower() == "allow":  # Starlette joins a set: make the order stable
            headers[name] = ", ".join(sorted(method.strip() for method in value.split(",")))
    return FlaskJSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


@app.exception_handler(ModelInputError)
async def _bad_input(request: Request, exc: ModelInputError) -> Response:
    return FlaskJSONResponse({"detail": str(exc)}, status_code=422)


@app.exception_handler(Denied)
async def _denied(request: Request, exc: Denied) -> Response:
    return FlaskJSONResponse({"detail": HTTPStatus(exc.status).phrase}, status_code=exc.status)


@app.exception_handler(InputProblem)
@app.exception_handler(Full)
async def _bad_item(request: Request, exc: ValueError) -> Response:
    return FlaskJSONResponse({"detail": str(exc)}, status_code=422)


def regression_enabled() -> bool:
    """The switch is read on every request, so a test can flip it without a restart."""
    return os.environ.get(REGRESSION_ENV, "").strip() not in ("", "0", "false", "no")


def port_predict(rows: list[Row]) -> list[float]:
    """The port's float path: the model's value through a fixed decimal rounding."""
    values = [round(value, PORT_ROUNDING_DECIMALS) for value in predict(rows)]
    if regression_enabled():
        values = [
            value + REGRESSION_OFFSET
            if row[REGRESSION_FEATURE_INDEX] > REGRESSION_THRESHOLD
            else value
            for value, row in zip(values, rows, strict=True)
        ]
    return values


def read_route(path: str, schema: dict[str, Any], what: str) -> Callable[[Endpoint], Endpoint]:
    """GET and HEAD on ``path`` (Flask answers HEAD for every GET route; so does the port),
    as two operations of the spec, each with its own operation id."""

    def register(endpoint: Endpoint) -> Endpoint:
        for method in READ_METHODS:
            app.api_route(path, methods=[method], responses=contract.ok(schema, what))(endpoint)
        return endpoint

    return register


@read_route("/ping", contract.PING, "alive")
@read_route("/ping/", contract.PING, "alive")
async def ping() -> Response:
    return FlaskJSONResponse(bodies.ping_body())


@read_route("/health/", contract.HEALTH, "health")
async def health() -> Response:
    return FlaskJSONResponse(bodies.health_body())


@read_route("/info/", contract.INFO, "server and model")
async def info() -> Response:
    return FlaskJSONResponse(bodies.info_body(SERVER_NAME))


@read_route("/capabilities/", contract.CAPABILITIES, "what the model takes")
async def capabilities() -> Response:
    return FlaskJSONResponse(bodies.capabilities_body())


@read_route("/stats/", contract.STATS, "process statistics")
async def stats() -> Response:
    body = bodies.stats_body(counters.requests)
    body["backpressure_accepted"] = counters.accepted
    body["backpressure_rejected"] = counters.rejected
    body["backpressure_queue_depth"] = counters.waiting
    return FlaskJSONResponse(body)


async def _form_value(request: Request) -> bytes | str | None:
    try:
        form = await request.form()
    except Exception:  # noqa: BLE001 - Werkzeug treats an unparsable form as empty; so do we
        return None
    value = form.get(FORM_FIELD)
    if isinstance(value, UploadFile):
        return await value.read()
    return value


@app.post("/predict/", responses=contract.ok(contract.PREDICT, "one prediction per row"))
async def predict_endpoint(request: Request) -> Response:
    content_type = request.headers.get("content-type")
    if media_type(content_type) == MULTIPART_TYPE:
        rows = rows_from_form_value(await _form_value(request))
    else:
        rows = rows_from_body(content_type, await request.body())
    counters.waiting += 1
    try:
        await _slots.acquire()
    finally:
        counters.waiting -= 1
    try:
        counters.accepted += 1
        predictions = port_predict(rows)
    finally:
        _slots.release()
    state = request.scope["state"]
    return FlaskJSONResponse(
        bodies.predict_body(predictions, state["request_id"], state["timestamp"])
    )


@app.post("/echo/", responses=contract.ok(contract.ECHO, "what the body was"))
async def echo(request: Request) -> Response:
    raw = await request.body()
    return FlaskJSONResponse(bodies.echo_body(raw, request.headers.get("content-type")))


@app.post("/login", responses=contract.ok(contract.LOGIN, "a token this instance signed"))
async def login(request: Request) -> Response:
    return FlaskJSONResponse(items.do_login(inventory, await request.body()))


@app.post("/items", status_code=201, responses=contract.created(contract.ITEM, "the new item"))
async def create_item(request: Request) -> Response:
    auth, raw = request.headers.get("authorization"), await request.body()
    return FlaskJSONResponse(items.do_create(inventory, auth, raw), status_code=201)


@read_route("/items", contract.ITEMS, "your items, oldest first")
async def list_items(request: Request) -> Response:
    return FlaskJSONResponse(items.do_list(inventory, request.headers.get("authorization")))


@read_route("/items/{item_id}", contract.ITEM, "the item")
async def get_item(item_id: str, request: Request) -> Response:
    auth = request.headers.get("authorization")
    return FlaskJSONResponse(items.do_get(inventory, auth, item_id))


@app.put("/items/{item_id}", responses=contract.ok(contract.ITEM, "the item, changed"))
async def update_item(item_id: str, request: Request) -> Response:
    auth, raw = request.headers.get("authorization"), await request.body()
    drop = frozenset({REGRESSION_DROPPED_FIELD}) if regression_enabled() else frozenset()
    return FlaskJSONResponse(items.do_update(inventory, auth, item_id, raw, drop))


@app.delete("/items/{item_id}", status_code=204)
async def delete_item(item_id: str, request: Request) -> Response:
    items.do_delete(inventory, request.headers.get("authorization"), item_id)
    return Response(status_code=204)
