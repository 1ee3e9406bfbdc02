"""Load an OpenAPI 3.x spec (JSON) from a file or URL, bounded, and match requests to it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from shadowdiff.errors import SpecError
from shadowdiff.openapi.refs import check_refs

MAX_SPEC_BYTES: Final = 5 * 1024 * 1024
FETCH_TIMEOUT: Final = 10.0
METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_PARAM: Final = re.compile(r"\{[^{}/]+\}")


@dataclass(frozen=True)
class Operation:
    """One operation of the spec: ``POST /users/{user_id}``."""

    method: str  # upper case
    template: str
    responses: dict[str, Any]  # the operation's `responses` object, as written
    literal_segments: int = 0  # how specific the template is (more literals match first)
    pattern: re.Pattern[str] = field(default=re.compile(""), compare=False, repr=False)

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.template}"


@dataclass
class Spec:
    """A loaded spec: its document, OpenAPI version and operations, most specific first."""

    source: str
    document: dict[str, Any]
    version: str  # "3.0" | "3.1"
    operations: list[Operation]

    def operation(self, method: str, path: str) -> Operation | None:
        """The operation a request hits, or None; literal paths win over templated ones."""
        path = path.split("?", 1)[0] or "/"
        method = method.upper()
        for op in self.operations:
            if op.method == method and op.pattern.fullmatch(path):
                return op
        return None

    def endpoint(self, method: str, path: str) -> str | None:
        op = self.operation(method, path)
        return op.endpoint if op is not None else None


def _pattern(template: str) -> re.Pattern[str]:
    parts = _PARAM.split(template)
    return re.compile("[^/]+".join(re.escape(p) for p in parts))


def _operations(document: dict[str, Any], source: str) -> list[Operation]:
    paths = document.get("paths")
    if not isinstance(paths, dict):
        raise SpecError(f"{source}: the spec has no 'paths' object")
    ops: list[Operation] = []
    for template, item in paths.items():
        if not isinstance(template, str) or not template.startswith("/"):
            raise SpecError(f"{source}: path {template!r} does not start with '/'")
        if not isinstance(item, dict):
            continue
        literals = sum(1 for s in template.split("/") if s and not _PARAM.search(s))
        for method in METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                responses = op.get("responses")
                ops.append(
                    Operation(
                        method.upper(),
                        template,
                        responses if isinstance(responses, dict) else {},
                        literals,
                        _pattern(template),
                    )
                )
    ops.sort(key=lambda o: (-o.literal_segments, o.template.count("{"), o.template, o.method))
    return ops


def parse_spec(text: str | bytes, source: str) -> Spec:
    """A Spec from JSON text; SpecError (one line, naming ``source``) when it is not one."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(f"{source}: the spec is larger than {MAX_SPEC_BYTES} bytes")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise SpecError(f"{source}: not a JSON OpenAPI spec ({err})") from None
    if not isinstance(document, dict) or not isinstance(document.get("openapi"), str):
        raise SpecError(f"{source}: not an OpenAPI 3 spec (no 'openapi' version field)")
    version = document["openapi"]
    if not re.match(r"3\.[01]\.", version + "."):
        raise SpecError(f"{source}: OpenAPI {version} is not supported (3.0 and 3.1 are)")
    check_refs(document, source)
    return Spec(source, document, version[:3], _operations(document, source))


def _fetch(url: str, timeout: float, max_bytes: int) -> bytes:
    import httpx

    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise SpecError(f"{url}: fetching the spec answered {response.status_code}")
            data = bytearray()
            for chunk in response.iter_bytes():
                data.extend(chunk)
                if len(data) > max_bytes:
                    raise SpecError(f"{url}: the spec is larger than {max_bytes} bytes")
            return bytes(data)
    except httpx.HTTPError as err:
        raise SpecError(f"{url}: cannot fetch the spec ({type(err).__name__}: {err})") from None


def load_spec(
    source: str | Path, *, timeout: float = FETCH_TIMEOUT, max_bytes: int = MAX_SPEC_BYTES
) -> Spec:
    """Load a spec from a URL (``http(s)://``, fetched with a timeout and a size cap) or a
    file. Raises SpecError naming the source and the problem."""
    name = str(source)
    if name.startswith(("http://", "https://")):
        return parse_spec(_fetch(name, timeout, max_bytes), name)
    path = Path(name)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise SpecError(f"{name}: the spec is larger than {max_bytes} bytes")
        data = path.read_bytes()
    except OSError as err:
        raise SpecError(f"{name}: cannot read the spec ({err.strerror or err})") from None
    return parse_spec(data, name)
