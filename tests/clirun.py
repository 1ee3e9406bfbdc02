"""The shadowdiff CLI run in-process with Click's CliRunner, for one-line error paths.

The click group is imported here and nowhere else in the tests.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from shadowdiff.cli import cli


@dataclass(frozen=True)
class CliResult:
    """What a run printed and returned; the same attributes as a CompletedProcess."""

    returncode: int
    stdout: str
    stderr: str


def invoke(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> CliResult:
    """Run `shadowdiff ARGS...` in this process (SHADOWDIFF_DB unset unless `env` sets it)."""
    runner = CliRunner()
    environ: dict[str, str | None] = {"SHADOWDIFF_DB": None, **(env or {})}
    with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
        result = runner.invoke(cli, list(args), prog_name="shadowdiff", env=environ)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CliResult(result.exit_code, result.stdout, result.stderr)
