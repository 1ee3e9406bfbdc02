"""The CLI's one kind of failure, and how a library error becomes it (naming the flag)."""

from __future__ import annotations

import re

import click

from shadowdiff.errors import ShadowdiffError
from shadowdiff.formatting import visible


class UserError(click.ClickException):
    """A problem with what the user asked for: one line, exit code 2."""

    exit_code = 2


def flag_for(field: str) -> str:
    """The command-line flag of a library value: "max_body" -> "--max-body"."""
    return "--" + field.replace("_", "-")


def one_line(exc: ShadowdiffError) -> str:
    """The library's message as the user should read it: its first line, with the value
    it speaks of (`exc.field`, last mention) named by its flag."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if exc.field is None:
        return text
    flag = flag_for(exc.field)
    mentions = list(re.finditer(rf"(?<![\w-]){re.escape(exc.field)}(?![\w-])", text))
    if not mentions:
        return f"{text} ({flag})"
    last = mentions[-1]
    return text[: last.start()] + flag + text[last.end() :]


def user_error(exc: ShadowdiffError) -> UserError:
    """The error as one line, its control characters (from recorded values) shown as escapes."""
    return UserError(visible(one_line(exc)))
