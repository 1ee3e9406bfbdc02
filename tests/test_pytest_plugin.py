"""The pytest plugin, run as pytest users run it (pytester, in a subprocess) on the demo pair.

One session of demo traffic is recorded from Flask (the `plugin` pipeline variant, no runs);
each test copies its database, so the runs the plugin adds stay its own.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from shadowdiff.demo.run import demo_rules_path
from shadowdiff.demo.servers import RunningServer
from tests.pipeline import DemoPipeline, Traffic, Variant

pytestmark = pytest.mark.e2e

PLUGIN = Variant("plugin", (Traffic("plugin", count=120, seed=13),))
EXPECTED = {"POST /predict/", "GET /info/", "GET /stats/"}  # among the demo mix's endpoints


@pytest.fixture
def traffic_db(demo_pipeline: Callable[[Variant], DemoPipeline], tmp_path: Path) -> Path:
    db = tmp_path / "traffic.db"
    shutil.copy(demo_pipeline(PLUGIN).db, db)
    return db


def _args(db: Path, target: str, *extra: str) -> list[str]:
    return [
        "-p", "no:cacheprovider", f"--shadowdiff-db={db}", f"--shadowdiff-target={target}",
        f"--shadowdiff-rules={demo_rules_path()}", *extra,
    ]  # fmt: skip


def _items(result: pytest.RunResult) -> dict[str, str]:
    """nodeid -> PASSED/FAILED from `-v` output."""
    out: dict[str, str] = {}
    for line in result.outlines:
        for word in ("PASSED", "FAILED", "ERROR"):
            if line.startswith("shadowdiff::") and f" {word}" in line:
                out[line.split(f" {word}")[0]] = word
    return out


def test_one_item_per_endpoint_marked_and_selectable(
    pytester: pytest.Pytester, traffic_db: Path, fastapi_server: RunningServer
) -> None:
    junit = pytester.path / "parity.xml"
    result = pytester.runpytest_subprocess(
        *_args(traffic_db, fastapi_server.url, "-m", "shadowdiff", "-v", f"--junitxml={junit}")
    )
    items = _items(result)
    assert {f"shadowdiff::{ep}" for ep in EXPECTED} <= items.keys(), result.outlines
    assert set(items.values()) == {"PASSED"}, result.outlines
    result.assert_outcomes(passed=len(items))
    cases = ET.parse(junit).getroot().iter("testcase")
    assert {(c.get("classname"), c.get("name")) for c in cases} == {
        ("shadowdiff", name.removeprefix("shadowdiff::")) for name in items
    }
    picked = pytester.runpytest_subprocess(
        *_args(traffic_db, fastapi_server.url, "-k", "predict", "-v")
    )
    chosen = set(_items(picked))
    assert "shadowdiff::POST /predict/" in chosen, picked.outlines
    assert chosen == {name for name in items if "predict" in name}
    picked.assert_outcomes(passed=len(chosen))
    picked.stdout.fnmatch_lines(
        [f"*collected {len(items)} items / {len(items) - len(chosen)} deselected*"]
    )


def test_a_regression_fails_its_item_with_signatures_sample_and_rule_hits(
    pytester: pytest.Pytester, traffic_db: Path, regression_server: RunningServer
) -> None:
    result = pytester.runpytest_subprocess(*_args(traffic_db, regression_server.url, "-v"))
    items = _items(result)
    assert items["shadowdiff::POST /predict/"] == "FAILED", result.outlines
    assert items["shadowdiff::GET /info/"] == "PASSED"
    text = result.stdout.str()
    assert "shadowdiff parity failed for POST /predict/" in text
    assert "E   POST /predict/: diff rate" in text
    assert "signatures:" in text and "body.predictions[*]:value" in text
    assert "sample: exchange" in text and "old (status 200)" in text and " | " in text
    assert "rule hits:" in text and "prediction float formatting (tolerance)" in text
    stopped = pytester.runpytest_subprocess(*_args(traffic_db, regression_server.url, "-x"))
    outcomes = stopped.parseoutcomes()  # -x: the first failing endpoint ends the session
    assert outcomes["failed"] == 1 and outcomes.get("passed", 0) < len(items) - 1, outcomes
    stopped.stdout.fnmatch_lines(["*stopping after 1 failures*"])


def test_the_fixture_gives_the_run_to_hand_written_tests(
    pytester: pytest.Pytester, traffic_db: Path, fastapi_server: RunningServer
) -> None:
    pytester.makepyfile(
        test_own="""
        def test_predictions_compared(shadowdiff_run):
            assert shadowdiff_run.gate.passed
            assert shadowdiff_run.summary.total > 100
            assert "POST /predict/" in shadowdiff_run.endpoints
            assert shadowdiff_run.run.kind == "candidate"
        """
    )
    result = pytester.runpytest_subprocess(
        *_args(traffic_db, fastapi_server.url, "-k", "predictions_compared")
    )
    result.assert_outcomes(passed=1)  # the run is made for the fixture alone, no item chosen


def test_inert_without_options_and_light_to_load(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plain="""
        import sys

        def test_nothing_heavy_loaded(request):
            assert "shadowdiff.pytest_plugin" in sys.modules
            heavy = [m for m in ("shadowdiff.store", "shadowdiff.replayer", "shadowdiff.parity",
                                 "deepdiff", "mitmproxy", "jinja2") if m in sys.modules]
            assert heavy == []

        def test_fixture_needs_options(shadowdiff_run):
            assert shadowdiff_run is None  # never reached: the fixture errors without options
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*shadowdiff_run needs --shadowdiff-db FILE*"])
    assert not any(line.startswith("shadowdiff::") for line in result.outlines)


def test_bad_options_are_one_usage_line(pytester: pytest.Pytester, tmp_path: Path) -> None:
    no_target = pytester.runpytest_subprocess("--shadowdiff-db", str(tmp_path / "x.db"))
    assert no_target.ret == pytest.ExitCode.USAGE_ERROR
    no_target.stderr.fnmatch_lines(["*--shadowdiff-db needs --shadowdiff-target URL*"])
    missing = pytester.runpytest_subprocess(
        "--shadowdiff-db", str(tmp_path / "x.db"), "--shadowdiff-target", "http://127.0.0.1:9"
    )
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines(["*shadowdiff: *"])
    assert "Traceback" not in missing.stderr.str()


def test_lockstep_with_a_live_primary_and_secondary(
    pytester: pytest.Pytester,
    traffic_db: Path,
    fastapi_server: RunningServer,
    flask_server: RunningServer,
) -> None:
    pytester.makepyfile(
        test_own="""
        from shadowdiff.store import Store

        def test_lockstep_runs(shadowdiff_run):
            with Store.open(shadowdiff_run.db, readonly=True) as store:
                primary = store.primary_of(shadowdiff_run.run)
                secondary = store.baseline_of(shadowdiff_run.run)
                assert primary is not None and secondary is not None
                assert shadowdiff_run.run.reference_run_id == primary.id
                assert store.count_replays(primary.id) == store.count_replays(secondary.id)
            assert shadowdiff_run.summary.primary is not None
            assert shadowdiff_run.report.drift is not None
        """
    )
    lockstep = (
        f"--shadowdiff-primary={flask_server.url}",
        f"--shadowdiff-secondary={flask_server.url}",
    )
    result = pytester.runpytest_subprocess(*_args(traffic_db, fastapi_server.url, *lockstep, "-v"))
    items = _items(result)
    assert {f"shadowdiff::{ep}" for ep in EXPECTED} <= items.keys(), result.outlines
    assert set(items.values()) == {"PASSED"}, result.outlines
    result.assert_outcomes(passed=len(items) + 1)


def test_lockstep_options_exclude_the_baseline(pytester: pytest.Pytester, tmp_path: Path) -> None:
    base = ("--shadowdiff-db", str(tmp_path / "x.db"), "--shadowdiff-target", "http://t:1")
    lonely = pytester.runpytest_subprocess(*base, "--shadowdiff-secondary", "http://s:1")
    assert lonely.ret == pytest.ExitCode.USAGE_ERROR
    lonely.stderr.fnmatch_lines(["*--shadowdiff-secondary needs --shadowdiff-primary URL*"])
    both = pytester.runpytest_subprocess(
        *base, "--shadowdiff-primary", "http://p:1", "--shadowdiff-baseline", "http://b:1"
    )
    assert both.ret == pytest.ExitCode.USAGE_ERROR
    both.stderr.fnmatch_lines(["*exclude each other*--shadowdiff-secondary URL*"])
