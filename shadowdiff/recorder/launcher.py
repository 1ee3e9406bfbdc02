"""Run `mitmdump` as a reverse proxy with the recorder addon, as a child process.

`mitmdump_command` builds every mitmdump command line shadowdiff runs (bench and tests
too). `Recording` starts it, waits until it listens, reads the addon's live counters and
stops it with SIGINT so the addon flushes its queue; `record` is the `shadowdiff record`
loop around it (signals, duration, live counters). The CLI's `record` and `demo`
commands are thin layers over this.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any, Final

from shadowdiff.errors import RecordError
from shadowdiff.patterns import BadPattern, compile_pattern
from shadowdiff.recorder.chainfind import chain_recording
from shadowdiff.recorder.summary import RecordSummary, summarize
from shadowdiff.store import Store
from shadowdiff.urls import BadURL, parse_base_url


@dataclass
class RecordOptions:
    upstream: str
    db: Path
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    session: str | None = None
    redact: list[str] = field(default_factory=list)  # added to the default secret names
    keep_headers: list[str] = field(default_factory=list)
    max_body: int | None = None
    sample: float = 1.0
    path_filter: str | None = None
    keep_host_header: bool = True


def addon_path() -> Path:
    """The addon file handed to `mitmdump -s` (found as package data, not imported)."""
    return Path(str(resources.files("shadowdiff.recorder").joinpath("addon.py")))


def find_mitmdump() -> str:
    """`mitmdump` next to the running Python first, then on PATH."""
    local = Path(sys.executable).parent / "mitmdump"
    if local.exists():
        return str(local)
    found = shutil.which("mitmdump")
    if found:
        return found
    raise RecordError("mitmdump not found next to Python or on PATH; pip install mitmproxy")


def parse_upstream(url: str) -> str:
    """Validate an upstream URL (`http://host:port`); returns it without a trailing slash."""
    try:
        parse_base_url(url, allow_path=False)
    except BadURL as exc:
        raise RecordError(f"bad upstream URL {url!r}: {exc}", field="upstream") from None
    return url.rstrip("/")


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT` (HOST defaults to 127.0.0.1) as a (host, port) pair."""
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise RecordError(
            f"bad listen address {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080",
            field="listen",
        )
    return host or "127.0.0.1", int(port)


def check_port_free(host: str, port: int) -> None:
    """Fail early when nothing can listen on host:port. SO_REUSEADDR, as mitmproxy's own
    listener sets it, so old connections in TIME_WAIT do not make a free port look taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise RecordError(
                f"cannot listen on {host}:{port} ({exc.strerror}); choose another listen port",
                field="listen",
            ) from exc


# Every mitmdump shadowdiff starts is a quiet reverse proxy that keeps the Host header.
BASE_SETTINGS: Final[Mapping[str, object]] = {
    "keep_host_header": True,
    # connect upstream when a request arrives, not when the client connects: a refused
    # upstream is then a 502 that is recorded, not a silently dropped client connection
    "connection_strategy": "lazy",
    "flow_detail": 0,
    "termlog_verbosity": "warn",
}


def mitmdump_command(
    upstream: str,
    listen_port: int,
    *,
    listen_host: str = "127.0.0.1",
    recorder: Mapping[str, object] | None = None,
    settings: Mapping[str, object] | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The one mitmdump command line: a reverse proxy from HOST:PORT to `upstream`.

    `recorder` holds the shadowdiff addon's options (`shadowdiff_db`, ...); with it the addon
    is loaded (`-s`), without it the proxy is bare. `settings` are further mitmproxy options
    over BASE_SETTINGS; None values are left out, booleans become true/false.
    """
    cmd = [
        find_mitmdump(),
        "--mode",
        f"reverse:{upstream}",
        "--listen-host",
        listen_host,
        "--listen-port",
        str(listen_port),
    ]
    if recorder is not None:
        cmd += ["-s", str(addon_path())]
    for key, value in {**(recorder or {}), **BASE_SETTINGS, **(settings or {})}.items():
        if value is not None:
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            cmd += ["--set", f"{key}={text}"]
    return [*cmd, *extra_args]


def build_command(
    opts: RecordOptions,
    stats_file: Path,
    *,
    parent_fd: int | None = None,
    orphan_dir: Path | None = None,
) -> list[str]:
    """The mitmdump command line of a recording with these options; `parent_fd` and
    `orphan_dir` set up the recorder's parent watch (see `recorder/parentwatch.py`)."""
    recorder: dict[str, object] = {
        "shadowdiff_parent_fd": parent_fd,
        "shadowdiff_orphan_dir": orphan_dir,
        "shadowdiff_db": opts.db,
        "shadowdiff_stats_file": stats_file,
        "shadowdiff_sample": opts.sample,
        "shadowdiff_session": opts.session,
        "shadowdiff_redact": ",".join(opts.redact) or None,
        "shadowdiff_keep_headers": ",".join(opts.keep_headers) or None,
        "shadowdiff_max_body": str(opts.max_body) if opts.max_body else None,
        "shadowdiff_path_filter": opts.path_filter,
    }
    return mitmdump_command(
        opts.upstream,
        opts.listen_port,
        listen_host=opts.listen_host,
        recorder=recorder,
        settings={"keep_host_header": opts.keep_host_header},
    )


class Recording:
    """A running recorder proxy. Use as a context manager, or `start()` / `stop()`."""

    def __init__(self, opts: RecordOptions) -> None:
        self.opts = opts
        self.proc: subprocess.Popen[bytes] | None = None
        # removed by stop(), or by mitmdump itself when this process dies first
        self._tmp = tempfile.TemporaryDirectory(
            prefix="shadowdiff-rec-", ignore_cleanup_errors=True
        )
        self._parent_pipe: int | None = None  # write end; mitmdump stops at its end-of-file
        self._baseline = (0, 0)  # (exchanges, bytes) the session held before this recording
        self.stats_file = Path(self._tmp.name) / "stats.json"
        self.log_file = Path(self._tmp.name) / "mitmdump.log"

    @property
    def url(self) -> str:
        return f"http://{self.opts.listen_host}:{self.opts.listen_port}"

    def preflight(self) -> None:
        """Check everything that can be checked before starting: URL, port, database."""
        self.opts.upstream = parse_upstream(self.opts.upstream)
        try:
            compile_pattern(self.opts.path_filter)
        except BadPattern as exc:
            raise RecordError(f"bad path filter: {exc}", field="path_filter") from None
        check_port_free(self.opts.listen_host, self.opts.listen_port)
        with Store.open(self.opts.db) as store:
            # fail now, with a clear message, if the database cannot be written
            session = store.create_session(
                self.opts.session, source="proxy", upstream=self.opts.upstream
            )
            self.opts.session = session.name
            self._baseline = store.session_totals(session.id)

    def start(self, timeout: float = 30.0) -> None:
        self.preflight()
        watch, self._parent_pipe = os.pipe()
        cmd = build_command(
            self.opts, self.stats_file, parent_fd=watch, orphan_dir=Path(self._tmp.name)
        )
        try:
            with self.log_file.open("wb") as log:
                self.proc = subprocess.Popen(
                    cmd,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    pass_fds=(watch,),
                )
        finally:
            os.close(watch)
            if self.proc is None:  # not started: nobody to watch the pipe
                os.close(self._parent_pipe)
                self._parent_pipe = None
        try:
            self._wait_listening(timeout)
        except BaseException:  # Ctrl-C while starting too: never leave mitmdump behind
            self.stop()
            raise

    def _wait_listening(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RecordError(f"mitmdump exited at startup: {self.log_tail()}")
            listening = _port_open(self.opts.listen_host, self.opts.listen_port)
            if listening and self.stats() is not None:
                return
            time.sleep(0.05)
        raise RecordError(f"mitmdump did not start listening within {timeout:.0f}s")

    def log_tail(self, lines: int = 1) -> str:
        try:
            text = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no output)"
        wanted = [t for t in text if t.strip()][-lines:]
        return " | ".join(t.strip() for t in wanted) or "(no output)"

    def stats(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.stats_file.read_text()))
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def follow(
        self,
        should_stop: Callable[[], bool],
        on_tick: Callable[[dict[str, Any], float], None],
        *,
        duration: float | None = None,
        tick: float = 0.25,
    ) -> bool:
        """Report the live counters every `tick` until asked to stop, `duration` passes or
        mitmdump exits; returns True when mitmdump exited by itself."""
        started = time.monotonic()
        while not should_stop() and self.running():
            elapsed = time.monotonic() - started
            if duration is not None and elapsed >= duration:
                break
            on_tick(self.stats() or {}, elapsed)
            time.sleep(tick)
        return not self.running()

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60.0) -> RecordSummary:
        """Ask mitmdump to stop (SIGINT: the addon flushes), wait for it, then summarize (from
        the database if it was killed by a signal: its counters are stale then)."""
        code: int | None = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
            code = self.proc.returncode
        if self._parent_pipe is not None:
            os.close(self._parent_pipe)
            self._parent_pipe = None
        summary = summarize(
            self.stats() or {},
            code,
            db=self.opts.db,
            session=self.opts.session,
            baseline=self._baseline,
        )
        self._tmp.cleanup()
        chains, warning = chain_recording(self.opts.db, summary.session)
        return replace(summary, chains=chains, chain_warning=warning)

    def __enter__(self) -> Recording:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.stop()


@contextmanager
def stop_signals(on_signal: Callable[[], None]) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM call `on_signal` instead of interrupting."""

    def _handler(signum: int, frame: FrameType | None) -> None:
        on_signal()

    old_int = signal.signal(signal.SIGINT, _handler)
    old_term = signal.signal(signal.SIGTERM, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def record(
    opts: RecordOptions,
    *,
    duration: float | None = None,
    on_start: Callable[[Recording], None] | None = None,
    on_tick: Callable[[dict[str, Any], float], None] | None = None,
) -> RecordSummary:
    """Record until SIGINT or SIGTERM, until `duration` seconds pass or mitmdump exits.

    `on_start(recording)` is called once mitmdump listens, `on_tick(stats, elapsed)` with
    the live counters a few times a second. mitmdump is then stopped so the addon flushes
    its queue; the summary's `crashed` says whether it had exited by itself with an error.
    """
    stopping = False

    def _stop() -> None:
        nonlocal stopping
        stopping = True

    rec = Recording(opts)
    with stop_signals(_stop), rec:  # an error in between still stops mitmdump
        if on_start is not None:
            on_start(rec)
        exited = rec.follow(
            lambda: stopping, on_tick or (lambda stats, elapsed: None), duration=duration
        )
        summary = rec.stop()
    return replace(summary, crashed=exited and summary.exit_code not in (0, None))


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False
