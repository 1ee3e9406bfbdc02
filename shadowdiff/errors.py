"""Every exception shadowdiff raises on purpose, drawn in one place.

Library code raises these with messages that speak of values ("concurrency must be at least
1, got 0"); only the CLI turns them into one-line errors (exit 2) and maps values to flags.

::

    ShadowdiffError                 root: a problem with the user's input, files or servers
    ├── StoreError                  the SQLite file or what was asked of it
    │   ├── NotADatabaseError       the file is not a SQLite database
    │   ├── StoreVersionError       written by a newer shadowdiff, or too old to read as is
    │   ├── SessionNotFoundError    no session with that name or id
    │   ├── RunNotFoundError        no run with that name or id
    │   ├── MergeError              databases to merge that do not fit together
    │   └── QueryError              `query` refused a statement, or SQLite failed it
    ├── RecordError                 the recorder (mitmdump) could not start or stopped badly
    │   └── CaptureFileError        a HAR / flow file that cannot be imported
    ├── ReplayError                 a replay cannot start: bad target, filter, nothing to send
    │   └── SecretsFileError        an unusable --secrets file, or an env variable it names unset
    ├── RulesError (+LocatedError)  a rules file: ``file:line: problem``
    ├── AnalysisError               judging a stored run
    │   ├── GateError               the gate cannot judge (run missing, not diffed)
    │   ├── AcceptError             accepting cannot proceed
    │   ├── AcceptedFileError (+LocatedError)  an unusable accepted-differences file
    │   └── NoiseError              noise cannot be measured (no baseline, not diffed)
    ├── ReportError                 a report cannot be built (run not diffed, bad option)
    └── SpecError                   an OpenAPI spec that cannot be loaded or used

``LocatedError`` is a mixin for problems at a place in a file; its ``str()`` is one line.
"""

from __future__ import annotations

__all__ = [
    "AcceptError",
    "AcceptedFileError",
    "AnalysisError",
    "CaptureFileError",
    "GateError",
    "LocatedError",
    "MergeError",
    "NoiseError",
    "NotADatabaseError",
    "QueryError",
    "RecordError",
    "ReplayError",
    "ReportError",
    "RulesError",
    "RunNotFoundError",
    "SecretsFileError",
    "SessionNotFoundError",
    "ShadowdiffError",
    "SpecError",
    "StoreError",
    "StoreVersionError",
]


class ShadowdiffError(Exception):
    """Root of every error shadowdiff raises on purpose (the CLI: one line, exit 2).

    ``field`` names the value at fault as the message spells it ("concurrency"), so the CLI
    can name its flag instead ("--concurrency").
    """

    def __init__(self, *args: object, field: str | None = None) -> None:
        super().__init__(*args)
        self.field = field


class LocatedError(ShadowdiffError):
    """A problem at a place in a file; ``str()`` is one line: ``file:line: problem``."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        self.source = source
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.message}"


# ---------------------------------------------------------------------------- store
class StoreError(ShadowdiffError):
    """Something is wrong with the store file or what was asked of it."""


class NotADatabaseError(StoreError):
    """The file exists but is not a SQLite database."""


class StoreVersionError(StoreError):
    """The file was written by a newer shadowdiff (schema version too high)."""


class MergeError(StoreError):
    """Databases that do not fit together: one session name for two sessions, one run name
    for runs of different targets, sessions or rules."""


class SessionNotFoundError(StoreError):
    """No session with that name or id."""


class RunNotFoundError(StoreError):
    """No run with that name or id."""


class QueryError(StoreError):
    """The query was refused (it would write) or SQLite could not run it."""


# ------------------------------------------------------------------------- recorder
class RecordError(ShadowdiffError):
    """The recorder could not start or stopped abnormally; the message says why."""


class CaptureFileError(RecordError):
    """A capture file that cannot be imported; the message names the file and the fix."""


# ------------------------------------------------------------------------- replayer
class ReplayError(ShadowdiffError):
    """A replay cannot start: bad target, bad filter, nothing to send."""


class SecretsFileError(ReplayError):
    """A ``--secrets`` file that cannot be used; the message names the file and the fix."""


# --------------------------------------------------------------------------- differ
class RulesError(LocatedError):
    """A rules file is unusable; ``str()`` is one line: ``file:line: problem``."""


# ------------------------------------------------------------------------- analysis
class AnalysisError(ShadowdiffError):
    """A stored run cannot be judged as asked."""


class GateError(AnalysisError):
    """The gate cannot judge: no such run, run not diffed, unusable accepted file."""


class AcceptError(GateError):
    """Accepting cannot proceed (no reason given, nothing to accept)."""


class AcceptedFileError(LocatedError, GateError):
    """An accepted file is unusable; ``str()`` is one line: ``file:line: problem``."""


class NoiseError(AnalysisError):
    """Noise cannot be measured: no baseline run, or a run not diffed yet."""


# --------------------------------------------------------------------------- report
class ReportError(ShadowdiffError):
    """A report cannot be built: the run was never diffed, or a bad option was given."""


# -------------------------------------------------------------------------- openapi
class SpecError(ShadowdiffError):
    """An OpenAPI spec cannot be loaded (unreadable, not OpenAPI 3.0/3.1, too big, a
    ``$ref`` that is remote, dangling or circular); the message names the spec."""
