"""The `shadowdiff` command line: a thin click layer over the library.

Each command parses options, calls one library function and renders its result; the
commands live by group in `capture` (record, import, sessions), `chains`, `replay` (replay, diff,
replay-diff, runs), `compare`, `merge`, `judge` (gate, accept, noise, report, query) and
`demo`. Heavy library modules are imported inside the commands, so `--help` stays fast. Known
failures (bad input, missing runs, unusable files) become a one-line error, exit 2.
"""

from __future__ import annotations

from typing import Any

import click

from shadowdiff.cli.capture import import_, record, sessions
from shadowdiff.cli.chains import chains_cmd
from shadowdiff.cli.compare import compare_cmd
from shadowdiff.cli.demo import demo_cmd
from shadowdiff.cli.errors import UserError, user_error
from shadowdiff.cli.judge import accept_cmd, gate_cmd, noise_cmd, query_cmd, report_cmd
from shadowdiff.cli.merge import merge_cmd
from shadowdiff.cli.replay import diff_cmd, replay_cmd, runs_cmd
from shadowdiff.cli.replaydiff import replay_diff_cmd
from shadowdiff.cli.secrets import secrets_cmd
from shadowdiff.errors import ShadowdiffError

__all__ = ["ShadowdiffGroup", "UserError", "cli", "main"]


class ShadowdiffGroup(click.Group):
    """Turns the library's specific exceptions into one-line errors (exit 2)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ShadowdiffError as exc:
            raise user_error(exc) from exc


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """`--version`, looked up only when asked (importlib.metadata is slow to import)."""
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("shadowdiff")
    except PackageNotFoundError:
        found = "0+unknown"
    click.echo(f"shadowdiff, version {found}")
    ctx.exit()


@click.group(cls=ShadowdiffGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
def cli() -> None:
    """Prove that a rewritten HTTP service answers exactly like the one it replaces.

    Record real traffic through a proxy in front of the old service, replay it to the
    new one, diff the answers semantically and gate CI on the result.

    Example:

    \b
        shadowdiff demo
    """


for command in (
    record,
    import_,
    sessions,
    secrets_cmd,
    chains_cmd,
    replay_cmd,
    runs_cmd,
    replay_diff_cmd,
    diff_cmd,
    compare_cmd,
    merge_cmd,
    gate_cmd,
    accept_cmd,
    noise_cmd,
    report_cmd,
    query_cmd,
    demo_cmd,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="shadowdiff")
