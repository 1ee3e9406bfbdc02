"""Exceptions of the replay side that the CLI reports as one-line errors (exit 2)."""

from __future__ import annotations


class ReplayError(Exception):
    """A replay cannot start: bad target, bad filter, nothing to send."""
