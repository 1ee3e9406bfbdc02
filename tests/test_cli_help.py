"""The CLI stays thin and fast: `--help` imports no heavy module, the choices it spells
match the library's, and library errors name their flag."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shadowdiff.cli.errors import one_line
from shadowdiff.errors import RecordError, ReplayError, ShadowdiffError

pytestmark = pytest.mark.e2e

HEAVY = ("mitmproxy", "aiohttp", "httpx_aiohttp", "httpx", "deepdiff", "sqlite_utils", "jinja2")
LIBRARY = ("store", "differ", "analysis", "report", "replayer", "recorder", "demo")

PROBE = """
import sys
from click.testing import CliRunner
from shadowdiff.cli import cli
for args in ([], *([name] for name in cli.commands)):
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, (args, result.output)
    assert "Example:" in result.output, args
print("\\n".join(sorted(sys.modules)))
"""


def test_help_imports_no_heavy_module() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout
    modules = out.split()
    heavy = [m for m in modules if m.split(".")[0] in HEAVY or m.startswith("rich.live")]
    library = [m for m in modules if m.split(".")[:2] in [["shadowdiff", p] for p in LIBRARY]]
    assert not heavy and not library, heavy + library


def test_cli_choices_match_the_library() -> None:
    from shadowdiff.cli import options
    from shadowdiff.demo.run import DEFAULT_REQUESTS
    from shadowdiff.recorder.capture import DEFAULT_MAX_BODY
    from shadowdiff.replayer.bodyread import DEFAULT_MAX_BODY as REPLAY_MAX_BODY
    from shadowdiff.replayer.build import HOST_MODES
    from shadowdiff.replayer.order import ORDERS
    from shadowdiff.replayer.transport import TRANSPORTS
    from shadowdiff.report import FORMATS
    from shadowdiff.report.contents import MAX_SAMPLES
    from shadowdiff.store.query import QUERY_FORMATS

    spelled = [options.REPORT_FORMATS, options.QUERY_FORMATS, options.TRANSPORTS]
    assert spelled == [tuple(FORMATS), tuple(QUERY_FORMATS), tuple(TRANSPORTS)]
    assert [options.DEMO_REQUESTS] == [DEFAULT_REQUESTS]
    assert options.REPORT_MAX_SAMPLES == MAX_SAMPLES
    # replay reads as much of a response as the recorder keeps, and says so in --help
    assert REPLAY_MAX_BODY == DEFAULT_MAX_BODY
    from shadowdiff.cli import cli

    replay_params = {p.name: p for p in cli.commands["replay"].params}
    assert replay_params["max_body"].default == DEFAULT_MAX_BODY
    assert options.HOST_MODES == HOST_MODES
    assert options.ORDERS == ORDERS


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (
            ReplayError("concurrency must be at least 1, got 0", field="concurrency"),
            "--concurrency must be at least 1, got 0",
        ),
        (ReplayError("bad only regex '(': x", field="only"), "bad --only regex '(': x"),
        (
            RecordError("cannot listen on h:1 (busy); choose another listen port", field="listen"),
            "cannot listen on h:1 (busy); choose another --listen port",
        ),
        (ReplayError("nothing to send", field="max_body"), "nothing to send (--max-body)"),
        (ShadowdiffError("two\nlines"), "two"),
    ],
)
def test_library_errors_name_the_flag(exc: ShadowdiffError, line: str) -> None:
    assert one_line(exc) == line
