"""Exceptions of the replay side that the CLI reports as one-line errors (exit 2)."""

from __future__ import annotations


class ReplayError(Exception):
    """A replay cannot start: bad target, bad filter, nothing to send."""


class LocatedError(Exception):
    """A problem at a place in a file; ``str()`` is one line: ``file:line: problem``."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        self.source = source
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.message}"
