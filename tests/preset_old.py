"""The old side of the preset's server pair: a small Flask app (run under gunicorn).

Each route answers one case of the flask-to-fastapi preset; tests/preset_new.py is its
FastAPI port, and tests/test_preset_e2e.py says which pairs must be absorbed and which
reported. Its tracebacks are real ones, raised here (so their paths and line numbers are
this file's).
"""

from __future__ import annotations

import traceback
from typing import Any

from flask import Flask, Response, jsonify

app = Flask("preset-old")

PAGE = """<!doctype html>
<html>
  <head>
    <title>Report</title>
  </head>
  <body>
    <h1>Weekly   report</h1>
    <p>All systems nominal.</p>
  </body>
</html>
"""


def _parse(text: str) -> Any:
    raise ValueError(f"bad input: {text}")


def _trace(fn: Any, arg: str) -> Response:
    try:
        fn(arg)
    except Exception:
        return Response(traceback.format_exc(), status=500, mimetype="text/plain")
    raise AssertionError("unreachable")


@app.get("/ping")
def ping() -> str:
    return "pong"


@app.get("/parse/")
def parse() -> Any:
    return jsonify(message="invalid JSON body"), 400


@app.get("/renamed/")
def renamed() -> Any:
    return jsonify(message="name is required"), 400


@app.get("/reworded/")
def reworded() -> Any:
    return jsonify(message="name is required"), 400


@app.get("/crash/")
def crash() -> Response:
    return _trace(_parse, "x")


@app.get("/crash-other/")
def crash_other() -> Response:
    return _trace(_parse, "x")


@app.get("/page/")
def page() -> Response:
    return Response(PAGE, mimetype="text/html")


@app.get("/page-word/")
def page_word() -> Response:
    return Response(PAGE, mimetype="text/html")


@app.get("/charset/")
def charset() -> Any:
    return jsonify(ok=True)


@app.get("/latin1/")
def latin1() -> Any:
    return jsonify(ok=True)


@app.get("/empty/")
def empty() -> Any:
    return "", 204


@app.get("/users/<int:user_id>")
def user(user_id: int) -> Any:
    return jsonify(error="no such user", id=user_id), 404
