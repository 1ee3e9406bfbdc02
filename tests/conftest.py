"""Shared fixtures: real demo servers on free loopback ports, the shared record -> replay ->
diff pipeline, and the CLI as a process; the check that every test is `unit` or `e2e`."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from shadowdiff.demo.servers import (
    HOST,
    PROJECT_ROOT,
    RunningServer,
    free_port,
    launch,
    start_server,
    wait_port,
)
from shadowdiff.store import Exchange
from tests.pipeline import DemoPipeline, Variant, build
from tests.waiting import wait_until

SHADOWDIFF = [sys.executable, "-m", "shadowdiff"]
SPLIT_MARKERS = ("unit", "e2e")
pytest_plugins = ["pytester"]  # tests/test_pytest_plugin.py runs pytest in pytest

# fixtures that start a server or a process: a test using one is end to end
E2E_FIXTURES = frozenset(
    {
        "pytester",
        "flask_server",
        "fastapi_server",
        "regression_server",
        "noise_old_server",
        "noise_new_server",
        "demo_pipeline",
        "recorder_factory",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test is marked exactly one of `unit` and `e2e`; a unit test starts no server."""
    wrong: list[str] = []
    for item in items:
        marks = [m for m in SPLIT_MARKERS if item.get_closest_marker(m) is not None]
        if len(marks) != 1:
            wrong.append(f"{item.nodeid}: marked {marks or 'neither'}, want one of unit, e2e")
        elif marks == ["unit"]:
            used = E2E_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            if used:
                wrong.append(f"{item.nodeid}: marked unit but uses {sorted(used)}")
    if wrong:
        raise pytest.UsageError("tests without a correct unit/e2e marker:\n" + "\n".join(wrong))


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `unit` test that starts a process (server, proxy, CLI, browser) fails at once."""
    if request.node.get_closest_marker("unit") is None:
        return

    def refuse(self: subprocess.Popen[Any], args: Any, *rest: Any, **kw: Any) -> None:
        raise AssertionError(f"a unit test started a process: {args!r}; mark it e2e")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="session")
def flask_server() -> Iterator[RunningServer]:
    with start_server("flask") as server:
        yield server


@pytest.fixture(scope="session")
def fastapi_server() -> Iterator[RunningServer]:
    with start_server("fastapi") as server:
        yield server


@pytest.fixture(scope="session")
def regression_server() -> Iterator[RunningServer]:
    """The FastAPI port with the regression switch on."""
    with start_server("fastapi", regression=True) as server:
        yield server


def _noise_command(kind: str, port: int) -> list[str]:
    if kind == "old":
        return [
            sys.executable, "-m", "gunicorn", "--bind", f"{HOST}:{port}",
            "--worker-class", "gthread", "--workers", "1", "--threads", "4",
            "--log-level", "warning", "--pythonpath", str(PROJECT_ROOT),
            "tests.noise_apps:old_app",
        ]  # fmt: skip
    return [
        sys.executable, "-m", "uvicorn", "--host", HOST, "--port", str(port),
        "--log-level", "warning", "--no-access-log", "--app-dir", str(PROJECT_ROOT),
        "tests.noise_apps:new_app",
    ]  # fmt: skip


def _noise_server(kind: str) -> RunningServer:
    port = free_port()
    return launch(kind, _noise_command(kind, port), port)


@pytest.fixture(scope="session")
def noise_old_server() -> Iterator[RunningServer]:
    """tests.noise_apps' old service (Flask under gunicorn)."""
    with _noise_server("old") as server:
        yield server


@pytest.fixture(scope="session")
def noise_new_server() -> Iterator[RunningServer]:
    """tests.noise_apps' new service (FastAPI under uvicorn)."""
    with _noise_server("new") as server:
        yield server


# -------------------------------------------------------------------------- pipeline


@pytest.fixture(scope="session")
def demo_pipeline(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[Variant], DemoPipeline]:
    """Build a pipeline variant (record, replay, diff) once per session; reuse it after."""
    built: dict[str, tuple[Variant, DemoPipeline]] = {}

    def server_url(fixture: str) -> str:
        server = request.getfixturevalue(fixture)
        assert isinstance(server, RunningServer), fixture
        return server.url

    def get(variant: Variant) -> DemoPipeline:
        if variant.name in built:
            cached, pipeline = built[variant.name]
            assert cached == variant, f"two different pipeline variants named {variant.name!r}"
            return pipeline
        db = tmp_path_factory.mktemp(f"pipeline-{variant.name}") / f"{variant.name}.db"
        pipeline = build(variant, db, server_url)
        built[variant.name] = (variant, pipeline)
        return pipeline

    return get


# ------------------------------------------------------------------------ processes


def run_cli(*args: str, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run `shadowdiff ARGS...` as a real process and capture its output."""
    return subprocess.run(
        [*SHADOWDIFF, *args], capture_output=True, text=True, timeout=timeout, **kw
    )


class RecorderProcess:
    """`shadowdiff record` running in front of an upstream, stopped by a signal.

    Its recorder keeps its stats file under `tmp` (TMPDIR), so a test can watch them.
    """

    def __init__(self, upstream: str, db: Path, session: str, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = db.parent / f"rec-tmp-{session}"
        self.tmp.mkdir(exist_ok=True)
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
            env={**os.environ, "TMPDIR": str(self.tmp)},
        )
        try:
            wait_port(self.port)
            # and the recorder ready (its first counters written): mitmproxy 12 listens
            # before the addon has opened the database
            wait_until(self.stats, what="the recorder's first counters")
        except BaseException:
            self.kill()
            raise

    def stats(self) -> dict[str, Any]:
        """The recorder's latest stats (stored, dropped, ...); {} before the first write."""
        for path in self.tmp.glob("shadowdiff-rec-*/stats.json"):
            try:
                return dict(json.loads(path.read_text()))
            except (OSError, ValueError):
                return {}
        return {}

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


# --------------------------------------------------------------------------- helpers


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


class Finished(Protocol):
    """A finished CLI run: a CompletedProcess (`run_cli`) or a tests.clirun.CliResult."""

    @property
    def returncode(self) -> int: ...
    @property
    def stdout(self) -> str: ...
    @property
    def stderr(self) -> str: ...


def assert_one_line_error(result: Finished, *needles: str) -> str:
    """Exit 2, no traceback, exactly one line on stderr that contains every needle.

    `result` is a finished process (`run_cli`) or an in-process run (`tests.clirun.invoke`).
    """
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
