"""OpenAPI awareness: a service's spec gives endpoint templates, coverage and response schemas.

``load_spec`` reads a spec (JSON; a file or a URL, bounded in size, time and ``$ref`` depth);
``Spec.endpoint`` maps a request to its operation's template (``GET /users/{user_id}``);
``ResponseValidator`` checks a response against the schema the spec declares for its status
(openapi-schema-validator, the OpenAPI 3.0 / 3.1 dialects of jsonschema); ``coverage`` counts
which operations recorded traffic exercised.
"""

from __future__ import annotations

from shadowdiff.openapi.coverage import Coverage, OperationCount, coverage
from shadowdiff.openapi.spec import Operation, Spec, load_spec, parse_spec
from shadowdiff.openapi.validate import ResponseValidator, Violation

__all__ = [
    "Coverage",
    "Operation",
    "OperationCount",
    "ResponseValidator",
    "Spec",
    "Violation",
    "coverage",
    "load_spec",
    "parse_spec",
]
