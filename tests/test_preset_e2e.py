"""The flask-to-fastapi preset on a real server pair: tests/preset_old.py (Flask under
gunicorn) recorded through mitmdump, replayed to tests/preset_new.py (FastAPI under uvicorn),
diffed with the preset alone. Each route is one case: the preset absorbs it, or it is
reported with exactly the signature below."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shadowdiff.demo.mix import PlannedRequest
from shadowdiff.demo.servers import HOST, PROJECT_ROOT, RunningServer, free_port, launch
from shadowdiff.differ import load_preset
from shadowdiff.store import Store
from tests.pipeline import RunPlan, Traffic, Variant, build

pytestmark = pytest.mark.e2e

# (method, path, Flask's status) -> the rule that absorbs the pair, or the signature it gets
ABSORBED = {
    ("GET", "/renamed/", 400): "error body: message -> detail",
    ("GET", "/crash/", 500): "python tracebacks",
    ("GET", "/page/", 200): "html/xml whitespace",
    ("GET", "/charset/", 200): "content-type defaults",
    ("GET", "/empty/", 204): "content-type on empty 204/304",
    ("GET", "/no/such/route", 404): "framework 404/405 pages",
    ("POST", "/page/", 405): "framework 404/405 pages",
}
REPORTED = {
    ("GET", "/parse/", 400): "body.message:value",  # both `message`, the text leaks b'...'
    ("GET", "/reworded/", 400): "body.message:value",  # message "x" vs detail "y"
    ("GET", "/crash-other/", 500): "body:value",  # ValueError vs KeyError
    ("GET", "/page-word/", 200): "body:value",  # "nominal" vs "degraded"
    ("GET", "/latin1/", 200): "headers.content-type:header",
    ("GET", "/users/7", 404): "body.error:value",  # an application 404 whose body changed
}


def _command(side: str, port: int) -> list[str]:
    if side == "old":
        return [
            sys.executable, "-m", "gunicorn", "--bind", f"{HOST}:{port}", "--workers", "1",
            "--log-level", "warning", "--pythonpath", str(PROJECT_ROOT), "tests.preset_old:app",
        ]  # fmt: skip
    return [
        sys.executable, "-m", "uvicorn", "--host", HOST, "--port", str(port),
        "--log-level", "warning", "--no-access-log", "--app-dir", str(PROJECT_ROOT),
        "tests.preset_new:app",
    ]  # fmt: skip


def _request(method: str, path: str, status: int) -> PlannedRequest:
    return PlannedRequest(-1, "preset", method, path, "", (), b"", status)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The pair recorded, replayed and diffed with the preset alone."""
    path = tmp_path_factory.mktemp("preset-pair") / "preset.db"
    variant = Variant(
        "preset-pair",
        upstream="old",
        traffic=(Traffic("preset", extra=tuple(_request(*k) for k in (*ABSORBED, *REPORTED))),),
        runs=(RunPlan("cand", target="new", rules=load_preset("flask-to-fastapi")),),
    )
    servers: dict[str, RunningServer] = {}
    try:
        for side in ("old", "new"):
            port = free_port()
            servers[side] = launch(f"preset-{side}", _command(side, port), port)
        build(variant, path, lambda name: servers[name].url)
        yield path
    finally:
        for server in servers.values():
            server.stop()


def _results(db: Path) -> dict[tuple[str, str, int], tuple[str, str | None, set[str]]]:
    """Per recorded request: verdict, signature text and the rules that absorbed something."""
    with Store.open(db, readonly=True) as store:
        rows = store.db.execute(
            "SELECT e.method, e.path, e.status, d.verdict, d.signature_text, "
            "(SELECT group_concat(DISTINCT f.rule) FROM diff_fields f WHERE f.run_id = d.run_id "
            " AND f.exchange_id = d.exchange_id AND f.rule IS NOT NULL) "
            "FROM diffs d JOIN runs r ON r.id = d.run_id JOIN exchanges e ON e.id = d.exchange_id "
            "WHERE r.name = 'cand'"
        ).fetchall()
    return {
        (m, p, s): (verdict, sig, set(rules.split(",")) if rules else set())
        for m, p, s, verdict, sig, rules in rows
    }


def test_each_pair_is_absorbed_by_its_rule(db: Path) -> None:
    results = _results(db)
    assert set(results) == set(ABSORBED) | set(REPORTED)
    for key, rule in ABSORBED.items():
        verdict, signature, rules = results[key]
        assert verdict == "same", (key, signature)
        assert rule in rules, (key, rules)


def test_each_real_change_is_reported_in_its_own_signature(db: Path) -> None:
    results = _results(db)
    for key, expected in REPORTED.items():
        verdict, signature, _ = results[key]
        assert verdict == "different", key
        got = (signature or "").rpartition(" | ")[2].partition("/")[0]  # path:kind, no class
        assert got == expected, (key, signature)
    signatures = [results[k][1] for k in REPORTED]
    assert len(set(signatures)) == len(REPORTED)
