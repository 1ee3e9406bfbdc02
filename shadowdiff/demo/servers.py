"""Run the demo servers: Flask under gunicorn, the FastAPI port under uvicorn, on 127.0.0.1.

CLI (foreground until SIGINT/SIGTERM; the process execs the server itself)::

    python -m shadowdiff.demo.servers flask --port 8001 [--workers 2] [--state DIR]
    python -m shadowdiff.demo.servers fastapi --port 8002 [--regression]

Every start is a fresh INSTANCE: its state folder (``SHADOWDIFF_DEMO_STATE``: the signing key
and the items of ``/login`` and ``/items``, shared by its workers) starts empty. The Python API
gives each server a new temporary folder, removed when it stops; the CLI removes the state
file of ``--state`` (default: ``shadowdiff-demo-<kind>-<port>`` in the temporary folder; a
folder holding other files is refused, never emptied) before it starts, so restarting a
server is how instances start from the same (empty) state.

Python API (used by tests and ``shadowdiff demo``)::

    with start_server("flask") as old, start_server("fastapi") as new:
        httpx.get(f"{old.url}/ping")
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from shadowdiff.demo.differences import REGRESSION_ENV
from shadowdiff.demo.inventory import STATE_ENV, STATE_FILE

HOST = "127.0.0.1"
KINDS = ("flask", "fastapi")
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent  # holds the shadowdiff package
DEFAULT_FLASK_WORKERS = 2
FLASK_THREADS = 4
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
STDERR_TAIL_CHARS = 4000


class ServerStartError(RuntimeError):
    """A demo server exited or never answered ``GET /ping`` in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0, host: str = HOST) -> None:
    """Return once something accepts TCP connections on host:port; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)


def server_command(kind: str, port: int, workers: int | None = None) -> list[str]:
    """The argv that runs one demo server in the foreground."""
    if kind == "flask":
        return [
            sys.executable, "-m", "gunicorn",
            "--bind", f"{HOST}:{port}",
            "--worker-class", "gthread",
            "--workers", str(workers or DEFAULT_FLASK_WORKERS),
            "--threads", str(FLASK_THREADS),
            "--graceful-timeout", "5",
            "--log-level", "warning",
            "--pythonpath", str(PROJECT_ROOT),
            "shadowdiff.demo.flask_app:app",
        ]  # fmt: skip
    if kind == "fastapi":
        command = [
            sys.executable, "-m", "uvicorn",
            "--host", HOST,
            "--port", str(port),
            "--log-level", "warning",
            "--no-access-log",
            "--timeout-graceful-shutdown", "5",
            "--app-dir", str(PROJECT_ROOT),
        ]  # fmt: skip
        if workers and workers > 1:
            command += ["--workers", str(workers)]
        return [*command, "shadowdiff.demo.fastapi_app:app"]
    raise ValueError(f"unknown server kind {kind!r} (choose from {', '.join(KINDS)})")


def server_env(env: Mapping[str, str] | None = None, regression: bool = False) -> dict[str, str]:
    """The environment for a server process: ours, the caller's additions, the switch."""
    merged = dict(os.environ)
    if env:
        merged.update(env)
    paths = [str(PROJECT_ROOT), *filter(None, merged.get("PYTHONPATH", "").split(os.pathsep))]
    merged["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    if regression:
        merged[REGRESSION_ENV] = "1"
    return merged


class RunningServer:
    """A demo server subprocess in its own process group; a context manager that stops it."""

    def __init__(
        self,
        kind: str,
        port: int,
        process: subprocess.Popen[bytes],
        stderr_file: IO[bytes],
        cleanup: Callable[[], None] | None = None,
    ) -> None:
        self.kind = kind
        self.port = port
        self.process = process
        self._stderr_file = stderr_file
        self._cleanup = cleanup

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stderr_tail(self, chars: int = STDERR_TAIL_CHARS) -> str:
        self._stderr_file.flush()
        self._stderr_file.seek(0, os.SEEK_END)
        size = self._stderr_file.tell()
        self._stderr_file.seek(max(0, size - chars))
        return self._stderr_file.read().decode("utf-8", "replace")

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Poll ``GET /ping`` until it answers 200; raise with the stderr tail if it cannot."""
        deadline = time.monotonic() + timeout
        last_error = "no attempt"
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not self.alive():
                    raise ServerStartError(
                        f"{self.kind} server exited with code {self.process.returncode} "
                        f"before answering /ping; stderr tail:\n{self.stderr_tail()}"
                    )
                try:
                    if client.get(f"{self.url}/ping").status_code == 200:
                        return
                    last_error = "non-200 answer"
                except httpx.HTTPError as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
                time.sleep(0.1)
        self.stop()
        raise ServerStartError(
            f"{self.kind} server on port {self.port} did not answer /ping within {timeout:.0f}s "
            f"({last_error}); stderr tail:\n{self.stderr_tail()}"
        )

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Terminate the whole process group, wait, and kill it if it lingers."""
        if self.alive():
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait(timeout=timeout)
        # Workers left behind by a dead master still belong to the group.
        self._signal_group(signal.SIGKILL)
        if not self._stderr_file.closed:
            self._stderr_file.close()
        if self._cleanup is not None:
            cleanup, self._cleanup = self._cleanup, None
            cleanup()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_server(
    kind: str,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    regression: bool = False,
    workers: int | None = None,
    timeout: float = STARTUP_TIMEOUT,
) -> RunningServer:
    """Start a demo server on 127.0.0.1 and return once ``GET /ping`` answers: a fresh
    instance, with its own empty state folder (removed when it stops) unless `env` names one."""
    chosen = port if port is not None else free_port()
    merged = server_env(env, regression)
    cleanup = None
    if not (env and env.get(STATE_ENV)):
        state = tempfile.TemporaryDirectory(prefix=f"shadowdiff-demo-{kind}-state-")
        merged[STATE_ENV], cleanup = state.name, state.cleanup
    command = server_command(kind, chosen, workers)
    try:
        return launch(kind, command, chosen, merged, timeout, cleanup=cleanup)
    except BaseException:
        if cleanup is not None:
            cleanup()  # a second call (after stop() ran it) finds nothing left to remove
        raise


def launch(
    kind: str,
    command: Sequence[str],
    port: int,
    env: Mapping[str, str] | None = None,
    timeout: float = STARTUP_TIMEOUT,
    cleanup: Callable[[], None] | None = None,
) -> RunningServer:
    """Run `command` (a server that will listen on 127.0.0.1:`port` and answer `GET /ping`)
    in its own process group and return once it answers; stopped again if it never does.
    `cleanup` runs once the server has stopped."""
    # The file lives as long as the server; RunningServer.stop() closes it.
    stderr_file = tempfile.TemporaryFile(prefix=f"shadowdiff-demo-{kind}-")  # noqa: SIM115
    process = subprocess.Popen(
        list(command),
        env=dict(env) if env is not None else server_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr_file,
        cwd=str(PROJECT_ROOT),
        start_new_session=True,
    )
    server = RunningServer(kind, port, process, stderr_file, cleanup)
    try:
        server.wait_ready(timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m shadowdiff.demo.servers",
        description="Run a demo server on 127.0.0.1 in the foreground (Ctrl-C stops it).",
        epilog="example: python -m shadowdiff.demo.servers flask --port 8001 --workers 2",
    )
    parser.add_argument("kind", choices=KINDS, help="flask (gunicorn) or fastapi (uvicorn)")
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1")
    parser.add_argument("--workers", type=int, default=None, help="worker processes")
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        help="the instance's state folder, emptied first (default: one per kind and port)",
    )
    parser.add_argument(
        "--regression",
        action="store_true",
        help=f"set {REGRESSION_ENV}=1 (only the fastapi port reads it)",
    )
    return parser.parse_args(argv)


def default_state(kind: str, port: int) -> Path:
    """The CLI's state folder for one kind and port."""
    return Path(tempfile.gettempdir()) / f"shadowdiff-demo-{kind}-{port}"


def fresh_state(folder: Path) -> Path:
    """`folder` without its state file: the instance about to start begins with no items
    and a new key. A folder holding anything else is refused, never emptied."""
    folder.mkdir(parents=True, exist_ok=True)
    others = sorted(entry.name for entry in folder.iterdir() if entry.name != STATE_FILE)
    if others:
        raise ValueError(
            f"{folder} holds other files ({', '.join(others[:3])}): give a new or empty "
            "folder for the instance's state"
        )
    (folder / STATE_FILE).unlink(missing_ok=True)
    return folder


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse_args(argv)
    command = server_command(args.kind, args.port, args.workers)
    env = server_env(regression=args.regression)
    try:
        env[STATE_ENV] = str(fresh_state(args.state or default_state(args.kind, args.port)))
    except (ValueError, OSError) as exc:
        raise SystemExit(f"--state: {exc}") from None
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, env)


if __name__ == "__main__":
    main()
