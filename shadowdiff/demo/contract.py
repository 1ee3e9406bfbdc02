"""The demo API's response contract: the JSON schemas its FastAPI port declares in its
OpenAPI spec (served at ``/openapi.json``). The Flask original is checked against the same
spec, so both sides are held to one contract.
"""

from __future__ import annotations

from typing import Any, Final

from shadowdiff.demo.model import FEATURES

_STRING: Final = {"type": "string"}
_INT: Final = {"type": "integer"}
_NUMBERS: Final = {"type": "object", "additionalProperties": {"type": "number"}}


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": sorted(required),
        "properties": {**required, **(optional or {})},
    }


PING: Final = _object({"message": _STRING})
HEALTH: Final = _object({"status": _STRING, "model_loaded": {"type": "boolean"}})
INFO: Final = _object(
    {
        "drum_server": _STRING,
        "drum_version": _STRING,
        "language": _STRING,
        "model_metadata": {"type": "object"},
        "features": {"type": "array", "items": {"enum": list(FEATURES)}},
        "timestamp": {"type": "string", "format": "date-time"},
    }
)
CAPABILITIES: Final = _object(
    {
        "schema_validation": {"type": "boolean"},
        "supported_payload_formats": {"type": "object"},
        "supported_input_types": {"type": "array", "items": _STRING},
        "max_rows": _INT,
        "target_type": _STRING,
    }
)
STATS: Final = _object(
    {
        "mem_info": _NUMBERS,
        "time_info": {"type": "object"},
        "model_info": {"type": "object"},
        "request_count": _INT,
    },
    {  # the port's additions; the original has no executor to report on
        "backpressure_accepted": _INT,
        "backpressure_rejected": _INT,
        "backpressure_queue_depth": _INT,
    },
)
PREDICT: Final = _object(
    {
        "predictions": {"type": "array", "items": {"type": "number"}},
        "request_id": _STRING,
        "timestamp": {"type": "string", "format": "date-time"},
    }
)
ECHO: Final = _object(
    {"sha256": _STRING, "content_type": {"type": ["string", "null"]}, "length": _INT}
)
LOGIN: Final = _object(
    {"token": _STRING, "username": _STRING, "role": {"enum": ["admin", "editor", "reader"]}}
)
ITEM: Final = _object(
    {
        "id": {"type": "string", "format": "uuid"},
        "owner": _STRING,
        "name": _STRING,
        "quantity": {"type": "integer", "minimum": 0},
    }
)
ITEMS: Final = _object({"items": {"type": "array", "items": ITEM}})


def ok(schema: dict[str, Any], what: str) -> dict[int | str, dict[str, Any]]:
    """FastAPI's ``responses=`` for a route whose 200 answer is JSON of ``schema``."""
    return {200: {"description": what, "content": {"application/json": {"schema": schema}}}}


def created(schema: dict[str, Any], what: str) -> dict[int | str, dict[str, Any]]:
    """FastAPI's ``responses=`` for a route whose 201 answer is JSON of ``schema``."""
    return {201: {"description": what, "content": {"application/json": {"schema": schema}}}}
