"""Content-type dispatch for ``/predict/`` bodies, shared by both servers.

Multipart forms are read by each framework (that part is framework-specific); everything else,
and every error message, comes from here so both servers say exactly the same thing.
"""

from __future__ import annotations

from shadowdiff.demo.model import ModelInputError, Row, rows_from_csv_bytes, rows_from_json_bytes

CSV_TYPES = frozenset({"text/csv", "application/csv"})
JSON_TYPE = "application/json"
MULTIPART_TYPE = "multipart/form-data"
FORM_FIELD = "X"
MISSING_FIELD_MESSAGE = f"missing form field {FORM_FIELD!r} (a CSV file upload)"


def media_type(content_type: str | None) -> str:
    """The lower-cased media type of a Content-Type header, parameters removed."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def rows_from_body(content_type: str | None, body: bytes) -> list[Row]:
    """Rows from a raw (non-multipart) body, chosen by its content type."""
    kind = media_type(content_type)
    if kind in CSV_TYPES:
        return rows_from_csv_bytes(body)
    if kind == JSON_TYPE:
        return rows_from_json_bytes(body)
    shown = kind or "none"
    raise ModelInputError(
        f"unsupported content type: {shown} "
        f"(send text/csv, application/json, or multipart/form-data with field {FORM_FIELD!r})"
    )


def rows_from_form_value(value: bytes | str | None) -> list[Row]:
    """Rows from the multipart field ``X`` (file upload or plain field)."""
    if value is None:
        raise ModelInputError(MISSING_FIELD_MESSAGE)
    data = value.encode("utf-8") if isinstance(value, str) else value
    return rows_from_csv_bytes(data)
