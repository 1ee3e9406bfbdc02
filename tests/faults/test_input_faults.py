"""Bad input to the command line and the launcher: one clear line, exit 2, never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shadowdiff.recorder.launcher import check_port_free

SHADOWDIFF = [sys.executable, "-m", "shadowdiff"]


@pytest.mark.e2e
@pytest.mark.parametrize(
    "args",
    [
        ["replay", "--target", "http://[::1"],
        ["record", "--upstream", "http://[::1"],
        ["replay", "--target", "http://127.0.0.1:99999"],
    ],
    ids=["target-ipv6", "upstream-ipv6", "target-port"],
)
def test_malformed_urls_are_one_line_errors(tmp_path: Path, args: list[str]) -> None:
    result = subprocess.run(
        [*SHADOWDIFF, *args, "--db", str(tmp_path / "x.db")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "URL" in lines[0], result.stderr


@pytest.mark.unit
def test_a_port_in_time_wait_counts_as_free() -> None:
    """Record's pre-check must not refuse a port whose old connections sit in TIME_WAIT."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = server.accept()
    conn.close()  # the side that closes first holds TIME_WAIT on (127.0.0.1, port)
    client.recv(1)
    client.close()
    server.close()
    plain = socket.socket()
    try:
        with pytest.raises(OSError):
            plain.bind(("127.0.0.1", port))  # what the old pre-check did
    finally:
        plain.close()
    check_port_free("127.0.0.1", port)  # must not raise
