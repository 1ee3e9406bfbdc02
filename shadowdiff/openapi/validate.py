"""Check a response against the schema its spec declares for its status.

The schema is looked up as OpenAPI says: the exact status (``"200"``), then its range
(``"2XX"``), then ``default``; a status the spec does not declare is not checked. The body is
checked when it is JSON (``application/json`` or ``+json``) and the status declares JSON
content. Validation is openapi-schema-validator's (the OpenAPI 3.0 or 3.1 dialect of
jsonschema), with the spec itself as the one resource ``$ref``s resolve in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from shadowdiff.openapi.refs import resolve
from shadowdiff.openapi.spec import Operation, Spec

SPEC_URI: Final = "urn:shadowdiff:openapi-spec"
MAX_VIOLATIONS: Final = 5  # per response: the first few say enough


@dataclass(frozen=True)
class Violation:
    """One way a response is outside the spec: where (``body.predictions[0]``) and what."""

    path: str
    message: str


def _media_type(headers: dict[str, Any]) -> str:
    value = headers.get("content-type")
    return value.split(";", 1)[0].strip().lower() if isinstance(value, str) else ""


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _path(error_path: Any) -> str:
    out = "body"
    for part in error_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class ResponseValidator:
    """Validates responses against one spec; validators are built once per schema."""

    def __init__(self, spec: Spec) -> None:
        from openapi_schema_validator import OAS30Validator, OAS31Validator
        from referencing import Registry
        from referencing.jsonschema import DRAFT4, DRAFT202012

        self.spec = spec
        dialect = DRAFT4 if spec.version == "3.0" else DRAFT202012
        resource = dialect.create_resource(spec.document)
        self._registry: Any = Registry().with_resource(SPEC_URI, resource)
        self._cls: Any = OAS30Validator if spec.version == "3.0" else OAS31Validator
        self._validators: dict[str, Any] = {}

    def _declared(self, op: Operation, status: int) -> tuple[str, Any] | None:
        """(JSON pointer of the response object, the object) declared for the status."""
        for key in (str(status), f"{str(status)[0]}XX", "default"):
            if key in op.responses:
                ptr = f"#/paths/{_escape(op.template)}/{op.method.lower()}/responses/{key}"
                obj = resolve(self.spec.document, op.responses[key], self.spec.source)
                return ptr, obj
        return None

    def _validator(self, pointer: str) -> Any:
        if pointer not in self._validators:
            schema = {"$ref": f"{SPEC_URI}{pointer}"}
            self._validators[pointer] = self._cls(schema, registry=self._registry)
        return self._validators[pointer]

    def check(self, op: Operation, response: dict[str, Any]) -> list[Violation]:
        """Violations of one lifted response (``{"status", "headers", "body"}``)."""
        status = response.get("status")
        if not isinstance(status, int) or op.method == "HEAD":
            return []
        declared = self._declared(op, status)
        if declared is None:
            return []
        pointer, obj = declared
        content = obj.get("content") if isinstance(obj, dict) else None
        if not isinstance(content, dict) or not content:
            return []
        media = _media_type(response.get("headers") or {})
        if media not in content and "*/*" not in content:
            declared_types = ", ".join(sorted(content))
            return [
                Violation(
                    "headers.content-type",
                    f"{media or 'no content type'} is not declared for status {status} "
                    f"(declared: {declared_types})",
                )
            ]
        key = media if media in content else "*/*"
        if not _is_json(media) or not isinstance(content[key], dict):
            return []
        if "schema" not in content[key]:
            return []
        validator = self._validator(f"{pointer}/content/{_escape(key)}/schema")
        errors = sorted(validator.iter_errors(response.get("body")), key=lambda e: list(e.path))
        return [Violation(_path(e.absolute_path), _message(e)) for e in errors[:MAX_VIOLATIONS]]


def _message(error: Any) -> str:
    """jsonschema's message without the offending value in front ("'1' is not of type
    'integer'" -> "is not of type 'integer'"): the same problem reads the same everywhere,
    so findings group; the value is in the sample."""
    text = str(error.message)
    value = repr(error.instance)
    if text.startswith(value) and len(value) < len(text):
        text = text[len(value) :].lstrip()
    return text[:300]
