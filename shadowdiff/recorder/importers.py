"""Import captures made elsewhere: HAR files and mitmproxy flow files (`mitmdump -w`).

Each importer yields `Exchange`s; `import_file` applies the record policy (redaction,
body cap) and writes them, with their new session, in one transaction: a bad file (or an
exchange the store refuses) imports nothing, leaves no session and raises `CaptureFileError`
naming the problem; a session name in use is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mitmproxy import exceptions, http, io
from mitmproxy.net import encoding

from shadowdiff.errors import CaptureFileError, StoreError
from shadowdiff.recorder.capture import CapturePolicy, apply_policy, flow_to_exchange
from shadowdiff.recorder.chainfind import chain_session
from shadowdiff.recorder.flowversions import check_versions
from shadowdiff.store import Exchange, Session, Store


@dataclass(frozen=True)
class ImportResult:
    session: Session
    imported: int
    skipped: int
    source: str
    chains: int = 0  # chains of server-issued values found (recorder/chainfind.py)
    chain_warning: str | None = None  # why none could be detected


def sniff_format(path: Path) -> str:
    """`har` for JSON files, `mitm` otherwise (mitmproxy's tnetstring flow dumps)."""
    with path.open("rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "har" if head.startswith(b"{") else "mitm"


# ---------------------------------------------------------------------- HAR
def _har_headers(entries: Any, where: str) -> list[tuple[str, str]]:
    if not isinstance(entries, list):
        raise ValueError(f"{where}.headers is not a list")
    out = []
    for h in entries:
        if isinstance(h, dict) and "name" in h and "value" in h:
            out.append((str(h["name"]), str(h["value"])))
        elif isinstance(h, list | tuple) and len(h) == 2:
            out.append((str(h[0]), str(h[1])))
        else:
            raise ValueError(f"{where}.headers has an entry that is not a name/value pair")
    return out


def _har_text(content: dict[str, Any], where: str) -> bytes:
    text = content.get("text")
    if text is None or text == "":
        return b""
    if not isinstance(text, str):
        raise ValueError(f"{where}.text is not a string")
    if content.get("encoding") == "base64" or content.get("_encoding") == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"{where}.text is not valid base64") from exc
    return text.encode("utf-8", "surrogateescape")


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def har_entry_to_exchange(entry: dict[str, Any], n: int) -> Exchange:
    where = f"log.entries[{n}]"
    req, resp = entry.get("request"), entry.get("response")
    if not isinstance(req, dict) or not isinstance(resp, dict):
        raise ValueError(f"{where} lacks a request or response object")
    url = req.get("url")
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(f"{where}.request.url is missing or not absolute")
    parts = urlsplit(url)
    target = url.split("://", 1)[1]
    target = target[target.find("/") :] if "/" in target else "/"
    path, _, query = target.partition("?")
    path = path.split("#", 1)[0]
    req_headers = _har_headers(req.get("headers", []), f"{where}.request")
    body = _har_text(req.get("postData") or {}, f"{where}.request.postData")
    started = entry.get("startedDateTime")
    try:
        started_at = datetime.fromisoformat(str(started).replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise ValueError(f"{where}.startedDateTime {started!r} is not an ISO timestamp") from exc
    ex = Exchange(
        method=str(req.get("method", "GET")).upper(),
        path=path or "/",
        query=query.split("#", 1)[0],
        scheme=parts.scheme,
        host=parts.hostname or "",
        port=parts.port or (443 if parts.scheme == "https" else 80),
        http_version=str(req.get("httpVersion") or "HTTP/1.1"),
        request_headers=req_headers,
        request_body=body,
        started_at=started_at,
        duration_ms=float(entry["time"]) if isinstance(entry.get("time"), int | float) else None,
    )
    status = resp.get("status")
    if not isinstance(status, int) or isinstance(status, bool) or not 0 <= status <= 999:
        raise ValueError(f"{where}.response.status {status!r} is not an HTTP status (0-999)")
    if status == 0:
        ex.error = str(resp.get("_error") or "no response")
        return ex
    ex.status = status
    ex.reason = str(resp.get("statusText") or "")
    ex.response_headers = _har_headers(resp.get("headers", []), f"{where}.response")
    content = resp.get("content") or {}
    if not isinstance(content, dict):
        raise ValueError(f"{where}.response.content is not an object")
    decoded = _har_text(content, f"{where}.response.content")
    ce = _header(ex.response_headers, "content-encoding")
    # HAR keeps decoded bodies; put the wire encoding back so the exchange matches a recording
    try:
        ex.response_body = encoding.encode(decoded, ce) if ce else decoded
    except ValueError:
        ex.response_body = decoded
    return ex


def read_har(path: Path) -> Iterator[Exchange]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except RecursionError:
        raise CaptureFileError(
            f"{path}: malformed HAR (JSON nested too deeply to be a HAR export)"
        ) from None
    except UnicodeDecodeError as exc:
        raise CaptureFileError(f"{path}: not UTF-8 text, so not a HAR file") from exc
    except json.JSONDecodeError as exc:
        raise CaptureFileError(
            f"{path}: malformed HAR (invalid JSON at line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); export it again from the browser or mitmproxy"
        ) from exc
    log = data.get("log") if isinstance(data, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise CaptureFileError(
            f"{path}: malformed HAR (no log.entries list); is this a HAR export?"
        )
    for n, entry in enumerate(entries):
        try:
            if not isinstance(entry, dict):
                raise ValueError(f"log.entries[{n}] is not an object")
            yield har_entry_to_exchange(entry, n)
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            raise CaptureFileError(f"{path}: malformed HAR: {exc}") from exc


# --------------------------------------------------------------- mitm flows
def read_flows(path: Path, skipped: list[int]) -> Iterator[Exchange]:
    check_versions(path)  # FlowReader would spin forever on some version fields
    n = 0
    with path.open("rb") as fh:
        try:
            for flow in io.FlowReader(fh).stream():
                if not isinstance(flow, http.HTTPFlow):
                    skipped[0] += 1
                    continue
                n += 1
                yield flow_to_exchange(flow)
        except exceptions.FlowReadException as exc:
            raise CaptureFileError(
                f"{path}: truncated or corrupt mitmproxy flow file after {n} flows ({exc}); "
                "nothing imported: capture again, or pass --partial to keep the complete flows"
            ) from exc
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise CaptureFileError(
                f"{path}: not a mitmproxy flow file ({type(exc).__name__}: {exc}); "
                "pass a file written by `mitmdump -w` or a HAR export"
            ) from exc


# -------------------------------------------------------------------- import
def import_file(
    store: Store,
    path: Path,
    *,
    session: str | None = None,
    policy: CapturePolicy | None = None,
    partial: bool = False,
) -> ImportResult:
    """Import a HAR or flow file into a new session (all or nothing unless `partial`).

    The session and its exchanges are written in one transaction: a failure leaves no
    session. A `session` name in use is refused (StoreError, field `session`).
    """
    if not path.is_file():
        raise CaptureFileError(f"{path}: no such file")
    if session:
        store.refuse_existing_session(session)  # before reading a large file for nothing
    fmt = sniff_format(path)
    policy = policy or CapturePolicy.build(key=store.redaction_key())
    skipped = [0]
    exchanges: list[Exchange] = []
    reader = read_har(path) if fmt == "har" else read_flows(path, skipped)
    try:
        for ex in reader:
            exchanges.append(apply_policy(ex, policy))
    except CaptureFileError:
        if not (partial and exchanges):
            raise
    if not exchanges:
        raise CaptureFileError(f"{path}: holds no HTTP exchanges; nothing imported")
    upstream = f"{exchanges[0].scheme}://{exchanges[0].host}:{exchanges[0].port}"
    try:
        sess = store.import_session(session, exchanges, source=fmt, upstream=upstream)
    except StoreError as exc:
        if exc.field is not None:
            raise
        raise CaptureFileError(f"{path}: {exc}") from exc
    chains, warning = chain_session(store, sess.id)
    return ImportResult(sess, len(exchanges), skipped[0], fmt, chains, warning)
