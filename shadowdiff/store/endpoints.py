"""Endpoint templates: `GET /users/123` -> `GET /users/{id}`.

Numbers, UUIDs and long hex strings in path segments become placeholders so that
requests to the same route group together in reports and rules.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{16,}$")


def _segment(segment: str) -> str:
    if _NUMBER.match(segment):
        return "{id}"
    if _UUID.match(segment):
        return "{uuid}"
    if _HEX.match(segment):
        return "{hex}"
    return segment


def template_path(path: str) -> str:
    """Return the route template of a path (query string, if any, is dropped)."""
    path = path.split("?", 1)[0] or "/"
    return "/".join(_segment(s) for s in path.split("/"))


def endpoint_for(method: str, path: str) -> str:
    """`endpoint_for("GET", "/users/42/")` -> `"GET /users/{id}/"`."""
    return f"{method.upper()} {template_path(path)}"
