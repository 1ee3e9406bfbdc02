"""The exceptions the CLI reports as one-line user errors (exit code 2)."""

from __future__ import annotations

from replayer.recording import RecordError
from store.errors import StoreError


class ReplayError(Exception):
    """A replay cannot start: bad target, bad filter, nothing to send."""


def _known() -> tuple[type[BaseException], ...]:
    known: list[type[BaseException]] = [StoreError, RecordError, ReplayError]
    try:  # the importers live with the recorder and need mitmproxy
        from recorder.importers import CaptureFileError

        known.append(CaptureFileError)
    except ImportError:
        pass
    try:
        from replayer.differ.rules import RulesError

        known.append(RulesError)
    except ImportError:
        pass
    return tuple(known)


KNOWN_ERRORS = _known()
