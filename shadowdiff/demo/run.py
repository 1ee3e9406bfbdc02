"""`shadowdiff demo`: the whole job on the bundled Flask -> FastAPI pair, in one command.

Starts the demo Flask server (gunicorn) and its FastAPI port (uvicorn) on free loopback
ports, records generated traffic through the recorder, replays it to the port and (as
a baseline, for noise) to Flask again, diffs with the preset plus the demo's rules and
the port's OpenAPI spec (fetched from its `/openapi.json`: endpoint templates, coverage, and
both sides' responses validated against it), then reports and gates. Every process it
starts is stopped, whatever happens.

`demo` is what `shadowdiff demo` calls: it runs `run_demo` in a work folder, builds the
report and writes it as HTML; the caller renders the rest (text report, gate, timings, and
the agreement figures of the predictions).

The gate holds the predictions to their documented tolerance: the largest |new - old| of
`body.predictions[*]` on `POST /predict/` at most PREDICTION_TOLERANCE (1e-9), and at least
DEMO_MIN_AGREEMENT of them within it. The port's rounding (|change| <= 5e-11) passes; the
regression switch (+1 on some rows) fails both and the gate names them.
"""

from __future__ import annotations

import json
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import FrameType

from shadowdiff.analysis.diffrun import DiffSummary, diff_run, load_ruleset
from shadowdiff.analysis.gate import GateLimits, GateResult, evaluate
from shadowdiff.analysis.gate_result import PathLimit
from shadowdiff.demo.differences import PREDICTION_TOLERANCE
from shadowdiff.demo.mix import API_KEYS, TOKENS
from shadowdiff.demo.servers import RunningServer, free_port, start_server
from shadowdiff.demo.traffic import generate
from shadowdiff.openapi import load_spec
from shadowdiff.recorder.launcher import Recording, RecordOptions, RecordSummary
from shadowdiff.replayer.engine import ReplayConfig, ReplayResult, replay
from shadowdiff.report import Report, build_report, render
from shadowdiff.report.model import AgreementFigures
from shadowdiff.store import Store

DEFAULT_REQUESTS = 500
DEMO_ENDPOINT = "POST /predict/"
DEMO_AGREEMENT_PATH = "body.predictions[*]"
DEMO_MIN_AGREEMENT = 0.999


def demo_gate_limits() -> GateLimits:
    """The demo's gate: the defaults plus agreement limits on the predictions."""
    return GateLimits(
        max_abs_error=(PathLimit(DEMO_AGREEMENT_PATH, PREDICTION_TOLERANCE, DEMO_ENDPOINT),),
        min_agreement=(PathLimit(DEMO_AGREEMENT_PATH, DEMO_MIN_AGREEMENT, DEMO_ENDPOINT),),
    )


@dataclass
class DemoResult:
    db: Path
    report_path: Path
    recorded: RecordSummary
    replayed: ReplayResult
    diffed: DiffSummary
    gate: GateResult
    timings: dict[str, float]
    report: Report | None = None

    @property
    def agreement(self) -> list[AgreementFigures]:
        """The report's agreement figures for the predictions (DEMO_AGREEMENT_PATH)."""
        rows = self.report.agreement if self.report is not None else []
        return [a for a in rows if a.path == DEMO_AGREEMENT_PATH]


def demo_rules_path() -> Path:
    """The demo's rules file for the port's intended differences (package data)."""
    return Path(str(resources.files("shadowdiff.demo").joinpath("rules.toml")))


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C so every `with` block below unwinds and stops its process."""

    def _raise(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


class Steps:
    """Times each step and tells the caller what is happening."""

    def __init__(self, announce: Callable[[str], None]) -> None:
        self.announce = announce
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, name: str, text: str) -> Iterator[None]:
        self.announce(text)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = time.perf_counter() - t0


def run_demo(
    workdir: Path,
    *,
    requests: int = DEFAULT_REQUESTS,
    regression: bool = False,
    report_path: Path,
    announce: Callable[[str], None] = lambda text: None,
    on_request: Callable[[], None] | None = None,
    on_replay: Callable[[], None] | None = None,
    on_total: Callable[[str, int], None] | None = None,
) -> DemoResult:
    """Run the whole job; returns what each step produced (the caller renders it)."""
    steps = Steps(announce)
    db = workdir / "demo.db"
    rules, _ = load_ruleset(demo_rules_path(), preset=True)
    with sigterm_as_interrupt(), ExitStack() as stack:
        with steps.step("start", "starting Flask (gunicorn) and its FastAPI port (uvicorn)"):
            old: RunningServer = stack.enter_context(start_server("flask"))
            new: RunningServer = stack.enter_context(start_server("fastapi", regression=regression))
            spec = load_spec(f"{new.url}/openapi.json")  # the port's contract, for both sides
        with steps.step("record", f"recording {requests} requests through the recorder"):
            rec = Recording(
                RecordOptions(upstream=old.url, db=db, listen_port=free_port(), session="demo")
            )
            stack.enter_context(rec)
            if on_total:
                on_total("record", requests)
            generate(
                rec.url,
                count=requests,
                concurrency=8,
                seed=2026,
                max_seconds=60,
                on_done=(lambda _entry: on_request()) if on_request else None,
            )
            recorded = rec.stop()
        with Store.open(db) as store:
            with steps.step("replay", "replaying to the FastAPI port, and to Flask (baseline)"):
                config = ReplayConfig(
                    target=new.url,
                    baseline=old.url,
                    session="demo",
                    name="demo",
                    concurrency=16,
                    secrets=str(demo_secrets(db.parent)),
                )
                replayed = replay(
                    store,
                    config,
                    progress=(lambda _o: on_replay()) if on_replay else None,
                    on_start=(lambda n: on_total("replay", n)) if on_total else None,
                )
                if replayed.signum is not None:
                    raise KeyboardInterrupt  # Ctrl-C stops the demo here as in its other steps
            with steps.step("diff", "diffing with the flask-to-fastapi preset + demo rules"):
                diffed, _ = diff_run(store, replayed.run.id, rules, spec=spec)
            with steps.step("gate", "gating"):
                gate = evaluate(store, replayed.run.id, demo_gate_limits())
    return DemoResult(db, report_path, recorded, replayed, diffed, gate, steps.timings)


def demo_secrets(folder: Path) -> Path:
    """The demo traffic's bearer tokens and API keys as a ``--secrets`` file (made-up values)."""
    path = folder / "demo-secrets.toml"
    path.write_text(f"values = {json.dumps([*TOKENS, *API_KEYS])}\n", encoding="utf-8")
    return path


def workdir(keep: Path | None) -> tuple[Path, Callable[[], None]]:
    """The folder for the demo's database: `keep` (created) or a temporary one."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        db = keep / "demo.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        return keep, lambda: None
    tmp = tempfile.TemporaryDirectory(prefix="shadowdiff-demo-")
    return Path(tmp.name), tmp.cleanup


def default_report_path(keep: Path | None) -> Path:
    """report.html in the kept folder, else in the working directory."""
    return (keep / "report.html") if keep else Path("report.html")


def demo(
    *,
    keep: Path | None = None,
    requests: int = DEFAULT_REQUESTS,
    regression: bool = False,
    report_path: Path | None = None,
    announce: Callable[[str], None] = lambda text: None,
    on_request: Callable[[], None] | None = None,
    on_replay: Callable[[], None] | None = None,
    on_total: Callable[[str, int], None] | None = None,
) -> DemoResult:
    """The whole demo in `keep` (or a temporary folder, removed after): run it, build the
    report and write it as HTML to `report_path`; the result carries the report."""
    folder, cleanup = workdir(keep)
    report_path = report_path or default_report_path(keep)
    try:
        result = run_demo(
            folder,
            requests=requests,
            regression=regression,
            report_path=report_path,
            announce=announce,
            on_request=on_request,
            on_replay=on_replay,
            on_total=on_total,
        )
        with Store.open(result.db, readonly=True) as store:
            result.report = build_report(store, result.replayed.run.id)
        render(result.report, "html", report_path)
    finally:
        cleanup()
    return result
