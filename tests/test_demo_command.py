"""`shadowdiff demo` end to end, as a user runs it: verdicts, report contents, cleanup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from shadowdiff.demo.differences import NORMALIZED_BY_SHADOWDIFF, by_category, find
from shadowdiff.store import Store
from tests.conftest import SHADOWDIFF, run_cli
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

# documented port differences that the generated traffic never triggers (odd methods:
# OPTIONS, and GET/POST on a slash-less path of the other method); test_diff_demo covers them
NOT_IN_MIX = {
    "options-status",
    "options-allow",
    "options-content-type",
    "options-body",
    "wrong-method-slashless-status",
    "wrong-method-slashless-location",
    "wrong-method-slashless-content-type",
    "wrong-method-slashless-body",
}
DEMO_MARKERS = ("shadowdiff.demo.flask_app", "shadowdiff.demo.fastapi_app", "mitmdump")


TAG = "SHADOWDIFF_TEST_DEMO"  # set in the demo's environment; its processes inherit it


def _tagged() -> tuple[str, dict[str, str]]:
    """A fresh tag, and the environment that gives it to one demo run and its children."""
    tag = uuid.uuid4().hex
    return tag, {**os.environ, TAG: tag}


def demo_processes(tag: str) -> set[int]:
    """PIDs of demo servers and recorders of the demo run tagged `tag` still running.

    The tag keeps out other demo servers on this machine (this session's fixtures, other
    test runs), which a test here neither started nor must wait for.
    """
    found = set()
    needle = f"{TAG}={tag}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if not any(m in cmd for m in DEMO_MARKERS) or "pytest" in cmd:
                continue
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.add(int(entry.name))
        except OSError:
            continue
    return found


def _left_running(tag: str, before: set[int]) -> set[int]:
    """Demo processes started since `before` still running once they had 10 s to exit."""
    try:
        wait_until(lambda: not demo_processes(tag) - before, timeout=10, interval=0.2)
    except AssertionError:
        return demo_processes(tag) - before
    return set()


def test_demo_passes_and_shows_every_difference_as_handled(tmp_path: Path) -> None:
    tag, env = _tagged()
    before = demo_processes(tag)
    t0 = time.monotonic()
    result = run_cli("demo", "--keep", str(tmp_path / "out"), cwd=tmp_path, timeout=120, env=env)
    elapsed = time.monotonic() - t0
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert elapsed < 60
    assert "gate PASS" in result.stdout
    # the step notes are styled, never printed as literal markup
    assert "· starting Flask" in result.stdout + result.stderr
    assert "[dim]" not in result.stdout + result.stderr
    assert (tmp_path / "out" / "report.html").stat().st_size > 1000
    assert not _left_running(tag, before)

    with Store.open(tmp_path / "out" / "demo.db", readonly=True) as store:
        run = store.run("demo")
        absorbed = store.db.execute(
            "SELECT f.endpoint, e.status, f.general_path, f.kind, f.old_value, f.new_value, f.rule "
            "FROM diff_fields f JOIN exchanges e ON e.id = f.exchange_id "
            "WHERE f.run_id = ? AND f.rule IS NOT NULL",
            [run.id],
        ).fetchall()
        hits = dict(
            store.db.execute(
                "SELECT rule, count FROM rule_hits WHERE run_id = ?", [run.id]
            ).fetchall()
        )
    handled_by: dict[str, set[str]] = {}
    for endpoint, status, path, kind, old, new, rule in absorbed:
        kind = "value" if kind == "header" else kind
        path = path.replace("[*]", "[0]")  # general path, as the documented differences
        doc = find(
            endpoint,
            status,
            path,
            kind,
            None if old is None else json.loads(old),
            None if new is None else json.loads(new),
        )
        assert doc is not None, (endpoint, status, path, kind, rule)
        handled_by.setdefault(doc.key, set()).add(rule)
    expected = {d.key for d in by_category("port")} - NOT_IN_MIX - NORMALIZED_BY_SHADOWDIFF
    assert expected <= set(handled_by), expected - set(handled_by)
    # the agreement figures of the predictions: every one within the rounding bound
    with Store.open(tmp_path / "out" / "demo.db", readonly=True) as store:
        (pred,) = [a for a in store.agreement(run.id) if a.path == "body.predictions[*]"]
    assert pred.endpoint == "POST /predict/" and pred.compared >= hits[pred.rule or ""] > 0
    assert pred.agreeing == pred.compared and 0 < (pred.max_abs or 0) <= 5e-11
    assert (
        f"  POST /predict/ body.predictions[*]: {pred.compared} values, 100% within tolerance, "
        f"max abs {pred.max_abs:.3g}" in result.stdout
    ), result.stdout[-2000:]
    # the report printed each handling rule with its count
    for key in expected:
        for rule in handled_by[key]:
            assert hits[rule] > 0
            assert rule in result.stdout and str(hits[rule]) in result.stdout


def test_demo_with_regression_fails_and_names_it(tmp_path: Path) -> None:
    tag, env = _tagged()
    before = demo_processes(tag)
    result = run_cli(
        "demo", "--regression", "--requests", "200", cwd=tmp_path, timeout=120, env=env
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "gate FAIL" in result.stdout
    sig_lines = [
        line for line in result.stdout.splitlines() if line.strip().startswith("signature ")
    ]
    assert sig_lines and all(
        line.endswith("POST /predict/ | body.predictions[*]:value/number") for line in sig_lines
    )
    # the agreement limits on the predictions fail too, and say by how much
    out = result.stdout
    assert (
        "  - POST /predict/ body.predictions[*]: max abs error 1 exceeds --max-abs-error 1e-09"
        in out
    )
    assert "  - POST /predict/ body.predictions[*]: agreement " in out
    assert "is below --min-agreement 99.90%" in out
    assert (tmp_path / "report.html").exists()
    assert not _left_running(tag, before)


def _recorded(tmp: Path) -> int:
    """Exchanges the demo's recorder stored so far (its stats file lives under TMPDIR)."""
    for stats in tmp.glob("shadowdiff-rec-*/stats.json"):
        try:
            return int(json.loads(stats.read_text()).get("stored", 0))
        except (OSError, ValueError):
            return 0
    return 0


def test_demo_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    tag, env = _tagged()
    before = demo_processes(tag)
    tmp = tmp_path / "tmp"  # the demo's temporary folders, the recorder's stats among them
    tmp.mkdir()
    proc = subprocess.Popen(
        [*SHADOWDIFF, "demo", "--requests", "5000"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp)},
    )
    try:
        # interrupt it while it records: servers and the recorder up, traffic flowing
        wait_until(lambda: len(demo_processes(tag) - before) >= 3, timeout=30, interval=0.1)
        assert len(demo_processes(tag) - before) >= 3
        wait_until(lambda: _recorded(tmp) > 0, timeout=30, what="exchanges recorded")
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out[-2000:] + err[-2000:]
    assert "interrupted" in err
    assert not _left_running(tag, before)
