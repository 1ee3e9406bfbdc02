"""A bound on mitmproxy's flow-format migration, checked before a flow file is read.

`mitmproxy.io.compat.migrate_flow` converts a flow until the version it reads is the current
one. A flow whose version sits where the converters do not write it (`b"version": 7`, while
they write `"version"`) never gets there, and `FlowReader` would spin forever on a file a few
bytes long. `check_versions` reads every flow of a file once and migrates it a bounded number
of times; a flow that does not reach the current format version by then is a clear
`CaptureFileError`. Anything else wrong is left to `FlowReader`, which names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mitmproxy.io import compat, tnetstring
from mitmproxy.version import FLOW_FORMAT_VERSION

from shadowdiff.errors import CaptureFileError

__all__ = ["check_versions"]


def check_versions(path: Path) -> None:
    """Raise CaptureFileError when a flow of the file at `path` would migrate forever."""
    with path.open("rb") as fh:
        n = 0
        while True:
            try:
                item = tnetstring.load(fh)
            except Exception:  # the end of the file, or damage FlowReader reports
                return
            n += 1
            if isinstance(item, dict) and not _converges(item):
                raise CaptureFileError(
                    f"{path}: flow {n} has a format version that never reaches "
                    f"{FLOW_FORMAT_VERSION}; not a flow file written by mitmproxy"
                )


def _converges(data: dict[Any, Any]) -> bool:
    """Whether migrating `data` reaches the current version (or stops with an error that
    FlowReader reports) within one step per converter."""
    for _ in range(len(compat.converters) + 1):
        try:
            found: Any = data.get(b"version", data.get("version"))
            version = found if isinstance(found, int) else tuple(found)[:2]
            if version == FLOW_FORMAT_VERSION or version not in compat.converters:
                return True
            data = compat.converters[version](data)
        except Exception:  # a malformed flow: FlowReader raises its own error for it
            return True
    return False
