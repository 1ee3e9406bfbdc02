"""The new side of the preset's server pair: the FastAPI port of tests/preset_old.py (run
under uvicorn). What each route does differently, and whether the preset must absorb it, is
in tests/test_preset_e2e.py. Its tracebacks are real ones, raised here, a few frames deeper
than the old side's."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

app = FastAPI()

PAGE = (
    "<!doctype html><html><head><title>Report</title></head><body>"
    "<h1>Weekly report</h1><p>All systems nominal.</p></body></html>"
)


def _check(text: str) -> None:
    raise ValueError(f"bad input: {text}")


def _parse(text: str) -> Any:
    return _check(text)


def _lookup(key: str) -> Any:
    raise KeyError(f"bad input: {key}")


def _trace(fn: Callable[[str], Any], arg: str) -> PlainTextResponse:
    try:
        fn(arg)
    except Exception:
        return PlainTextResponse(traceback.format_exc(), status_code=500)
    raise AssertionError("unreachable")


def _json(body: Any, status: int = 200, media_type: str = "application/json") -> Response:
    return JSONResponse(body, status_code=status, media_type=media_type)


@app.get("/ping", response_class=PlainTextResponse)
def ping() -> str:
    return "pong"


@app.get("/parse/")
def parse() -> Response:
    # the regression: the message leaks the raw body's bytes repr
    return _json({"message": "invalid JSON body: b'{not json'"}, 400)


@app.get("/renamed/")
def renamed() -> Response:
    return _json({"detail": "name is required"}, 400)


@app.get("/reworded/")
def reworded() -> Response:
    return _json({"detail": "name must be given"}, 400)


@app.get("/crash/")
def crash() -> Response:
    return _trace(_parse, "x")


@app.get("/crash-other/")
def crash_other() -> Response:
    return _trace(_lookup, "x")


@app.get("/page/")
def page() -> Response:
    return HTMLResponse(PAGE)


@app.get("/page-word/")
def page_word() -> Response:
    return HTMLResponse(PAGE.replace("nominal", "degraded"))


@app.get("/charset/")
def charset() -> Response:
    return _json({"ok": True}, media_type="application/json; charset=utf-8")


@app.get("/latin1/")
def latin1() -> Response:
    return _json({"ok": True}, media_type="application/json; charset=latin-1")


@app.get("/empty/")
def empty() -> Response:
    return Response(status_code=204)


@app.get("/users/{user_id}")
def user(user_id: int) -> Response:
    return _json({"error": "user not found", "id": user_id}, 404)
