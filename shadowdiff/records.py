"""Plain data records passed between the layers: recorder, store, replayer, differ, analysis."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from shadowdiff.vocabulary import RunKind, RunStatus

Headers = list[tuple[str, str]]

#: Bytes of a body kept, when recording and when replaying; past it the body is cut and flagged.
DEFAULT_MAX_BODY: Final = 16 * 2**20


def header_value(headers: Headers, name: str) -> str | None:
    """First value of a header, case-insensitively, or None."""
    lname = name.lower()
    for key, value in headers:
        if key.lower() == lname:
            return value
    return None


_REQUEST_FIELDS: Final = frozenset(
    {"method", "path", "query", "scheme", "host", "port", "request_headers", "request_body"}
)


@dataclass
class Exchange:
    """One recorded request and the response (or error) it got, bytes as on the wire."""

    method: str
    path: str
    query: str = ""
    scheme: str = "http"
    host: str = ""
    port: int = 0
    http_version: str = "HTTP/1.1"
    request_headers: Headers = field(default_factory=list)
    request_body: bytes = b""
    status: int | None = None
    reason: str | None = None
    response_headers: Headers = field(default_factory=list)
    response_body: bytes = b""
    started_at: float = 0.0
    duration_ms: float | None = None
    error: str | None = None
    request_truncated: bool = False
    response_truncated: bool = False
    redacted: list[str] = field(default_factory=list)
    endpoint: str | None = None
    client: str | None = None  # the recorded client's address (host), when known
    seq: int | None = None
    id: int | None = None
    session_id: int | None = None

    @property
    def url_path(self) -> str:
        """Path plus query string, as it appeared on the request line."""
        return f"{self.path}?{self.query}" if self.query else self.path

    def request_header(self, name: str) -> str | None:
        return header_value(self.request_headers, name)

    def with_request(self, **changes: Any) -> Exchange:
        """A copy with other request fields (`request_headers=`, `query=`, ...): what a
        replay sends in place of the recorded request. `dataclasses.replace` with no
        re-validation, cheap enough for every request sent."""
        if not changes.keys() <= _REQUEST_FIELDS:
            raise TypeError(f"not request fields: {sorted(changes.keys() - _REQUEST_FIELDS)}")
        copy = Exchange.__new__(Exchange)
        copy.__dict__ = {**self.__dict__, **changes}
        return copy

    def response_header(self, name: str) -> str | None:
        return header_value(self.response_headers, name)


@dataclass(frozen=True)
class Session:
    id: int
    name: str
    source: str
    upstream: str | None
    started_at: float
    ended_at: float | None


@dataclass(frozen=True)
class SessionSummary:
    session: Session
    exchanges: int
    errors: int
    first_at: float | None
    last_at: float | None
    request_bytes: int
    response_bytes: int


@dataclass(frozen=True)
class Run:
    id: int
    name: str
    session_id: int
    kind: RunKind
    target: str
    paired_run_id: int | None
    config: dict[str, Any]
    started_at: float
    finished_at: float | None
    status: RunStatus
    reference_run_id: int | None = None  # lockstep: the run answering as the old side


@dataclass
class Replay:
    """What one replayed request got back from a target (or how it failed)."""

    run_id: int
    exchange_id: int
    status: int | None = None
    reason: str | None = None
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    started_at: float = 0.0
    duration_ms: float | None = None
    error: str | None = None
    flags: list[str] = field(default_factory=list)  # markers: truncated, retried, ...

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)


def comparison_error(exchange: Exchange, replay: Replay) -> str | None:
    """Why an exchange cannot be compared, or None: the replay failed, or the recording got
    no response (status None: ``recorded: <its error>``). The one "error" rule: such an
    exchange gets verdict ``error`` and is left out of comparisons, noise and latency."""
    if replay.error is not None:
        return replay.error
    if exchange.status is None:
        return f"recorded: {exchange.error}"
    return None


def error_kind(error: str) -> str:
    """The kind of an error text (``connect: refused`` -> ``connect``)."""
    return error.split(":", 1)[0].strip() or "error"
