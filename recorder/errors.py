"""Exceptions of the recording side that the CLI reports as one-line errors."""

from __future__ import annotations


class CaptureFileError(Exception):
    """A capture file that cannot be imported; the message names the file and the fix."""
