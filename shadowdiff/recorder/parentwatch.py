"""The recorder dies with `shadowdiff record`: a mitmproxy addon watching a pipe.

`record` starts mitmdump with the read end of a pipe (`shadowdiff_parent_fd`) and keeps the
write end open. It never writes to it: when the `record` process ends, however it ends
(`kill -9` included), the kernel closes the write end and the read end sees end-of-file. The
addon then shuts mitmdump down the ordinary way, so the recorder addon lets in-flight
exchanges finish and flushes its queue into the database, and at the very end it removes
`shadowdiff_orphan_dir` (the launcher's temporary directory, which nobody else is left to
remove).

Why a pipe, not `prctl(PR_SET_PDEATHSIG)`: the death signal needs a `preexec_fn`, which is
unsafe in a process with threads (`record` draws its live line from one), it fires when the
*thread* that started the child ends rather than the process, it is Linux-only, and a signal
alone cannot say "your parent is gone: clean its temporary directory too".
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from mitmproxy import ctx

log = logging.getLogger("shadowdiff")


class ParentWatch:
    """mitmproxy addon: options `shadowdiff_parent_fd`, `shadowdiff_orphan_dir`."""

    def __init__(self) -> None:
        self.fd = -1
        self.parent_gone = False

    def load(self, loader: Any) -> None:
        loader.add_option(
            "shadowdiff_parent_fd",
            int,
            -1,
            "Read end of a pipe held by the process that started mitmdump; at its end-of-file "
            "(that process is gone) mitmdump shuts down, flushing what it recorded.",
        )
        loader.add_option(
            "shadowdiff_orphan_dir",
            str,
            "",
            "Directory to remove on exit when the parent process is gone.",
        )

    def running(self) -> None:
        fd = ctx.options.shadowdiff_parent_fd
        if fd < 0 or self.fd >= 0:
            return
        try:
            os.set_blocking(fd, False)
            asyncio.get_running_loop().add_reader(fd, self._readable)
        except (OSError, ValueError) as exc:  # not a pipe we were given: nothing to watch
            log.warning(f"shadowdiff: cannot watch the parent process (fd {fd}): {exc}")
            return
        self.fd = fd

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 512)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            return  # the parent never writes; nothing to do
        asyncio.get_running_loop().remove_reader(self.fd)
        self.parent_gone = True
        log.warning("shadowdiff: the record process is gone; stopping the recorder")
        ctx.master.shutdown()

    def done(self) -> None:
        """Runs after the recorder's own `done` (it comes later in `addons`)."""
        orphan_dir = ctx.options.shadowdiff_orphan_dir
        if self.parent_gone and orphan_dir:
            shutil.rmtree(Path(orphan_dir), ignore_errors=True)
