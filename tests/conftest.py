"""Shared fixtures: real demo servers on free loopback ports, and the CLI as a process."""

from __future__ import annotations

import base64
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shadowdiff.demo.servers import RunningServer, free_port, start_server
from shadowdiff.store import Exchange

SHADOWDIFF = [sys.executable, "-m", "shadowdiff.cli.main"]


@pytest.fixture(scope="session")
def flask_server() -> Iterator[RunningServer]:
    with start_server("flask") as server:
        yield server


@pytest.fixture(scope="session")
def fastapi_server() -> Iterator[RunningServer]:
    with start_server("fastapi") as server:
        yield server


def run_cli(*args: str, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run `shadowdiff ARGS...` as a real process and capture its output."""
    return subprocess.run(
        [*SHADOWDIFF, *args], capture_output=True, text=True, timeout=timeout, **kw
    )


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class RecorderProcess:
    """`shadowdiff record` running in front of an upstream, stopped by a signal."""

    def __init__(self, upstream: str, db: Path, session: str, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                *SHADOWDIFF,
                "record",
                "--upstream",
                upstream,
                "--listen",
                f"127.0.0.1:{self.port}",
                "--db",
                str(db),
                "--session",
                session,
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_port(self.port)
        except AssertionError:
            self.proc.kill()
            raise

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> tuple[int, str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def recorder_factory() -> Iterator[Any]:
    started: list[RecorderProcess] = []

    def make(upstream: str, db: Path, session: str, *extra: str) -> RecorderProcess:
        rec = RecorderProcess(upstream, db, session, *extra)
        started.append(rec)
        return rec

    yield make
    for rec in started:
        rec.kill()


def load_traffic_log(path: Path) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for e in entries:
        e["request_body"] = base64.b64decode(e["request_body_b64"] or "")
        e["response_body"] = base64.b64decode(e.get("response_body_b64") or "")
    return entries


def exchange_key(ex: Exchange) -> tuple[Any, ...]:
    """What must survive recording byte for byte: request line, headers, bodies, status."""
    return (
        ex.method,
        ex.path,
        ex.query,
        tuple(ex.request_headers),
        ex.request_body,
        ex.status,
        tuple(ex.response_headers),
        ex.response_body,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2, no traceback, exactly one line on stderr that contains every needle."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
