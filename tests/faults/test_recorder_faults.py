"""Recorder faults on real processes: a real mitmdump (with the addon) in front of a real server."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from shadowdiff.demo.servers import free_port
from shadowdiff.recorder.launcher import Recording, RecordOptions
from shadowdiff.store import Store
from tests.faults.rawservers import echo_server, raw_exchange, url_of

pytestmark = pytest.mark.e2e

SMUGGLED = (
    b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    b"5\r\nhelloXX0\r\n\r\n"
)
WELL_FORMED = (
    b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    b"5\r\nhello\r\n0\r\n\r\n"
)


def test_malformed_chunked_framing_is_refused_not_forwarded(tmp_path: Path) -> None:
    """h11 < 0.16 (CVE-2025-43859) read `5\\r\\nhelloXX0\\r\\n\\r\\n` as a 5-byte body."""
    with echo_server() as upstream:
        opts = RecordOptions(
            upstream=url_of(upstream), db=tmp_path / "r.db", listen_port=free_port()
        )
        with Recording(opts) as rec:
            bad = raw_exchange("127.0.0.1", opts.listen_port, SMUGGLED)
            good = raw_exchange("127.0.0.1", opts.listen_port, WELL_FORMED)
            rec.stop()
        # mitmproxy answers a body protocol error by closing the connection (or a 400)
        assert bad == b"" or bad.startswith(b"HTTP/1.1 400"), bad[:200]
        assert good.startswith(b"HTTP/1.1 200") and good.endswith(b"hello"), good[:200]
        # the upstream saw only the well-formed request
        assert [body for _, body in upstream.seen] == [b"hello"]  # type: ignore[attr-defined]


def test_a_catastrophic_path_filter_does_not_stall_the_proxy(tmp_path: Path) -> None:
    """`(a|aa)+$` on a long path backtracks for minutes with `re`; the proxy must not stall."""
    with echo_server() as upstream:
        opts = RecordOptions(
            upstream=url_of(upstream),
            db=tmp_path / "r.db",
            listen_port=free_port(),
            path_filter="(a|aa)+$",
        )
        with Recording(opts) as rec:
            evil = b"GET /" + b"a" * 60 + b"! HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            plain = b"GET /aa HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            started = time.monotonic()
            first = raw_exchange("127.0.0.1", opts.listen_port, evil)
            second = raw_exchange("127.0.0.1", opts.listen_port, plain)
            elapsed = time.monotonic() - started
            summary = rec.stop()
        assert first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200")
        assert elapsed < 3.0, f"the proxy stalled for {elapsed:.1f}s"
        assert summary.stored == 1  # /aa matched; the evil path was skipped, not waited on
        with Store.open(opts.db) as store:
            paths = [e.path for e in store.iter_exchanges(store.session(summary.session).id)]
        assert paths == ["/aa"]


def test_a_refused_upstream_is_answered_502_and_recorded(tmp_path: Path) -> None:
    opts = RecordOptions(
        upstream=f"http://127.0.0.1:{free_port()}", db=tmp_path / "r.db", listen_port=free_port()
    )
    with Recording(opts) as rec:
        answer = raw_exchange(
            "127.0.0.1",
            opts.listen_port,
            b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        summary = rec.stop()
    assert answer.startswith(b"HTTP/1.1 502"), answer[:200]
    assert summary.stored == 1
    with Store.open(opts.db) as store:
        (exchange,) = store.iter_exchanges(store.session(summary.session).id)
    assert exchange.path == "/x" and exchange.status is None and exchange.error


def test_requests_refused_during_shutdown_are_not_stored(tmp_path: Path) -> None:
    with echo_server() as upstream:
        opts = RecordOptions(
            upstream=url_of(upstream), db=tmp_path / "r.db", listen_port=free_port()
        )
        rec = Recording(opts)
        rec.start()
        try:
            slow = threading.Thread(
                target=raw_exchange,
                args=("127.0.0.1", opts.listen_port, _get("/slow")),
                kwargs={"timeout": 30},
            )
            slow.start()
            _wait_until(lambda: any("/slow" in line for line, _ in upstream.seen))
            assert rec.proc is not None
            rec.proc.send_signal(signal.SIGINT)  # the recorder now waits for /slow, refusing
            answers: list[bytes] = []

            def late_refused() -> bool:
                answers.append(raw_exchange("127.0.0.1", opts.listen_port, _get("/late"), 2))
                return answers[-1] == b""

            refused = _wait_until(late_refused)
            upstream.gate.set()
            slow.join(30)
        finally:
            summary = rec.stop()
        assert refused
        with Store.open(opts.db) as store:
            stored = list(store.iter_exchanges(store.session(summary.session).id))
        # a /late sent before the signal took effect was answered, and is an exchange; the
        # refused ones are not
        answered_late = sum(a.startswith(b"HTTP/1.1 200") for a in answers)
        assert sorted((e.path, e.status, e.error) for e in stored) == sorted(
            [("/slow", 200, None)] + [("/late", 200, None)] * answered_late
        )


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()


def _wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_a_non_utf8_byte_costs_no_other_exchange(tmp_path: Path) -> None:
    """Bytes are bytes: an odd byte in the path, query and a header is stored losslessly, and
    the exchanges recorded in the same batch are all stored too."""
    with echo_server() as upstream:
        opts = RecordOptions(
            upstream=url_of(upstream), db=tmp_path / "r.db", listen_port=free_port()
        )
        with Recording(opts) as rec:
            answers = [
                raw_exchange("127.0.0.1", opts.listen_port, _get(f"/n{i}")) for i in range(5)
            ]
            odd = (
                b"GET /caf\xe9?q=\xff HTTP/1.1\r\nHost: x\r\nX-Odd: v\xfe\r\n"
                b"Connection: close\r\n\r\n"
            )
            answers.append(raw_exchange("127.0.0.1", opts.listen_port, odd))
            answers += [
                raw_exchange("127.0.0.1", opts.listen_port, _get(f"/m{i}")) for i in range(5)
            ]
            summary = rec.stop()
    assert all(a.startswith(b"HTTP/1.1 200") for a in answers)
    assert summary.stored == 11 and summary.dropped == 0
    with Store.open(opts.db) as store:
        stored = {e.path: e for e in store.iter_exchanges(store.session(summary.session).id)}
    odd_ex = stored["/caf\udce9"]
    assert odd_ex.query == "q=\udcff"
    assert ("X-Odd", "v\udcfe") in odd_ex.request_headers
    assert odd_ex.path.encode("utf-8", "surrogateescape") == b"/caf\xe9"
