"""The JSON bodies both demo servers answer with, built in one place so the port is faithful.

Each server passes its own name and counters; the shapes, keys and value types are shared.
"""

from __future__ import annotations

import hashlib
import resource
import time
import uuid
from datetime import UTC, datetime

from shadowdiff.demo.model import FEATURES, MAX_ROWS, MODEL_INFO

DRUM_VERSION = "1.16.4-demo"
STARTED_MONOTONIC = time.monotonic()
REQUEST_ID_HEADER = "X-Request-ID"
MAX_REQUEST_ID_LENGTH = 128

CAPABILITIES: dict[str, object] = {
    "schema_validation": False,
    "supported_payload_formats": {"csv": True, "json": True, "mtx": False, "arrow": False},
    "supported_input_types": ["multipart/form-data", "text/csv", "application/json"],
    "max_rows": MAX_ROWS,
    "target_type": MODEL_INFO["target_type"],
}


def now_iso() -> str:
    """The current UTC time, always with microseconds (so its length never varies)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def request_id(incoming: str | None) -> str:
    """Echo a caller's X-Request-ID (trimmed, capped) or mint a fresh uuid4."""
    if incoming:
        trimmed = incoming.strip()[:MAX_REQUEST_ID_LENGTH]
        if trimmed:
            return trimmed
    return str(uuid.uuid4())


def ping_body() -> dict[str, object]:
    return {"message": "OK"}


def health_body() -> dict[str, object]:
    return {"status": "ok", "model_loaded": True}


def info_body(server: str) -> dict[str, object]:
    return {
        "drum_server": server,
        "drum_version": DRUM_VERSION,
        "language": MODEL_INFO["language"],
        "model_metadata": dict(MODEL_INFO),
        "features": list(FEATURES),
        "timestamp": now_iso(),
    }


def capabilities_body() -> dict[str, object]:
    return dict(CAPABILITIES)


def stats_body(request_count: int) -> dict[str, object]:
    """Process statistics: they change from call to call (and differ between processes)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "mem_info": {
            "max_rss_kb": int(usage.ru_maxrss),
            "minor_page_faults": int(usage.ru_minflt),
        },
        "time_info": {
            "uptime_seconds": round(time.monotonic() - STARTED_MONOTONIC, 6),
            "current_time": now_iso(),
            "cpu_user_seconds": round(usage.ru_utime, 6),
            "cpu_system_seconds": round(usage.ru_stime, 6),
        },
        "model_info": dict(MODEL_INFO),
        "request_count": request_count,
    }


def predict_body(predictions: list[float], rid: str, timestamp: str) -> dict[str, object]:
    return {"predictions": predictions, "request_id": rid, "timestamp": timestamp}


def echo_body(raw: bytes, content_type: str | None) -> dict[str, object]:
    return {
        "sha256": hashlib.sha256(raw).hexdigest(),
        "content_type": content_type,
        "length": len(raw),
    }
