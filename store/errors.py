"""Specific exceptions raised by the store; the CLI turns them into one-line errors."""

from __future__ import annotations


class StoreError(Exception):
    """Base class: something is wrong with the store file or what was asked of it."""


class NotADatabaseError(StoreError):
    """The file exists but is not a SQLite database."""


class StoreVersionError(StoreError):
    """The file was written by a newer shadowdiff (schema version too high)."""


class SessionNotFoundError(StoreError):
    """No session with that name or id."""


class RunNotFoundError(StoreError):
    """No run with that name or id."""
