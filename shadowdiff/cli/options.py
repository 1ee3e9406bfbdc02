"""Options shared by several commands, and the choices they offer.

The choices are spelled here rather than imported so that `--help` imports no heavy
module; tests/test_cli_help.py checks they match the library's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import click

from shadowdiff.records import DEFAULT_MAX_BODY

F = TypeVar("F", bound=Callable[..., Any])

REPORT_FORMATS: Final = ("text", "markdown", "json", "html", "junit")  # report.FORMATS
QUERY_FORMATS: Final = ("table", "csv", "json")  # store.query.QUERY_FORMATS
TRANSPORTS: Final = ("aiohttp", "httpx")  # replayer.transport.TRANSPORTS
HOST_MODES: Final = ("recorded", "target")  # replayer.build.HOST_MODES
ORDERS: Final = ("identity", "strict", "none")  # replayer.order.ORDERS
DEMO_REQUESTS: Final = 500  # demo.run.DEFAULT_REQUESTS
REPORT_MAX_SAMPLES: Final = 20  # report.contents.MAX_SAMPLES


def db_option(f: F) -> F:
    return click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        default="shadowdiff.db",
        envvar="SHADOWDIFF_DB",
        show_default=True,
        help="The shadowdiff SQLite database.",
    )(f)


def _max_body_option() -> Callable[[F], F]:
    return click.option(
        "--max-body",
        type=click.IntRange(min=1),
        default=DEFAULT_MAX_BODY,
        show_default=True,
        help="Read at most N bytes of each response; longer ones are stored truncated.",
    )


def _lockstep_option_list() -> list[Callable[[Any], Any]]:
    """--primary and --secondary, next to --target."""
    return [
        click.option(
            "--primary",
            help="Lockstep: a live old instance; each request goes to it, then to --target "
            "(then --secondary), and the diff compares their answers.",
        ),
        click.option(
            "--secondary",
            help="Lockstep: a second old instance beside --primary (noise, like --baseline).",
        ),
    ]


def _replay_option_list() -> list[Callable[[Any], Any]]:
    """Where to send, how fast, which requests: the shared replay options, in --help order."""
    return [
        click.option("--target", help="The new service, e.g. http://127.0.0.1:8001"),
        *_lockstep_option_list(),
        click.option("--session", help="Session to replay (default: the latest)."),
        click.option("--baseline", help="Also send each request to the old service (noise)."),
        click.option(
            "--concurrency",
            "-c",
            type=click.IntRange(min=1),
            default=16,
            show_default=True,
            help="Requests in flight (--order identity: clients with a request in flight).",
        ),
        click.option(
            "--order",
            type=click.Choice(ORDERS),
            default="identity",
            show_default=True,
            help="identity: each client's requests in recorded order, one at a time, clients "
            "concurrently (the client: its Authorization token, else its session cookie, else "
            "its address; a rules file's `identity` key can choose). strict: one global "
            "sequence (concurrency 1 in effect). none: every request independent (fastest; "
            "stateless services only).",
        ),
        click.option(
            "--rate",
            type=click.FloatRange(min=0, min_open=True),
            help="At most this many requests per second.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            default=10.0,
            show_default=True,
            help="Seconds per request.",
        ),
        click.option(
            "--header",
            "headers",
            multiple=True,
            help="'Name: value' sent on every request, overriding the recorded header.",
        ),
        click.option(
            "--secrets",
            type=click.Path(dir_okay=False),
            help="TOML file of secret values to send in place of their tokens: "
            'values = ["..."] and/or env = ["VAR", ...] (never stored).',
        ),
        click.option(
            "--chains/--no-chains",
            default=True,
            show_default=True,
            help="Put the ids and tokens each target issued into the requests that use them, "
            "and map them back in its answers (see `shadowdiff chains SESSION`).",
        ),
    ]


def _selection_option_list() -> list[Callable[[Any], Any]]:
    """Which requests, how many, and how the run is named and read: in --help order."""
    return [
        click.option("--only", help="Replay only requests matching this regex (METHOD /path?q)."),
        click.option("--exclude", help="Skip requests matching this regex."),
        click.option("--method", "methods", multiple=True, help="Only these methods."),
        click.option(
            "--sample",
            type=click.FloatRange(0, 1, min_open=True),
            help="Replay a deterministic fraction of the requests.",
        ),
        click.option("--limit", type=click.IntRange(min=1), help="At most N requests."),
        click.option(
            "--shard",
            metavar="K/N",
            help="Replay only shard K of N (by a hash of the client identity): N jobs with "
            "1/N .. N/N cover the session once; merge their databases with `merge`.",
        ),
        click.option("--name", help="Name of the run (default: candidate-<time>)."),
        _max_body_option(),
        click.option("--resume", "resume_run", help="Continue a killed run: send what is missing."),
        click.option(
            "--transport",
            type=click.Choice(TRANSPORTS),
            default="aiohttp",
            show_default=True,
            help="HTTP transport under httpx.",
        ),
        click.option(
            "--host",
            type=click.Choice(HOST_MODES),
            default="recorded",
            show_default=True,
            help="Host header sent: the recorded one, or the target's host:port.",
        ),
    ]


def replay_options(f: F) -> F:
    """The options shared by `replay` and `replay-diff`."""
    for opt in reversed([*_replay_option_list(), *_selection_option_list()]):
        f = opt(f)
    return f


def openapi_option(f: F) -> F:
    """`--openapi URL|FILE`: the service's OpenAPI spec (templates, coverage, schemas)."""
    return click.option(
        "--openapi",
        metavar="URL|FILE",
        help="The service's OpenAPI spec (JSON): endpoints by its templates, a coverage "
        "table, responses validated against its schemas.",
    )(f)


def rules_options(f: F) -> F:
    """`--rules FILE` and `--no-preset`, for the commands that diff."""
    f = click.option(
        "--no-preset", is_flag=True, help="Do not apply the shipped flask-to-fastapi preset."
    )(f)
    f = click.option(
        "--rules",
        "rules_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Rules file (default: ./shadowdiff.toml or [tool.shadowdiff] in ./pyproject.toml).",
    )(f)
    return f


def jobs_option(f: F) -> F:
    """`--jobs N`: worker processes that diff (default: one per core)."""
    return click.option(
        "--jobs",
        "-j",
        type=click.IntRange(min=1),
        default=os.cpu_count() or 1,
        show_default="the number of cores",
        help="Diff with N worker processes (1: in this process; same results).",
    )(f)
