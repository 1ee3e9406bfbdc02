"""`shadowdiff record` as a real process, killed hard: the recorder dies with its parent
(flushing what it recorded, leaving no temporary directory), and a recorder killed under
`record` gives a summary counted in the database that says so."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest

from shadowdiff.demo.servers import free_port, wait_port
from shadowdiff.store import Store
from tests.conftest import SHADOWDIFF
from tests.faults.rawservers import echo_server, url_of
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

SENT = 40


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, exited but not reaped by its new parent, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


class Record:
    """`shadowdiff record` in its own process group, its TMPDIR under the test's tmp_path."""

    def __init__(self, upstream: str, db: Path, tmp: Path) -> None:
        self.port = free_port()
        self.tmp = tmp
        tmp.mkdir()
        self.proc = subprocess.Popen(
            [*SHADOWDIFF, "record", "--upstream", upstream, "--db", str(db)]
            + ["--listen", f"127.0.0.1:{self.port}", "--session", "s"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TMPDIR": str(tmp)},
            start_new_session=True,
        )
        wait_port(self.port)
        self.mitmdump = wait_until(lambda: _children(self.proc.pid), what="mitmdump")[0]

    def stats(self) -> dict[str, Any]:
        for path in self.tmp.glob("shadowdiff-rec-*/stats.json"):
            with suppress(OSError, ValueError):
                return dict(json.loads(path.read_text()))
        return {}

    def send(self, n: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10) as client:
            for i in range(n):
                assert client.post(f"/r{i}", content=b"x" * i).status_code == 200

    def end(self) -> None:
        """Stop whatever of it still runs (the test's own cleanup, after its assertions)."""
        for pid in (self.proc.pid, self.mitmdump):
            if _alive(pid):
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.proc.communicate(timeout=10)


@contextmanager
def _record(upstream: str, db: Path, tmp: Path) -> Iterator[Record]:
    rec = Record(upstream, db, tmp)
    try:
        yield rec
    finally:
        rec.end()


def _stored(db: Path) -> list[str]:
    with Store.open(db, readonly=True) as store:
        return sorted(e.path for e in store.iter_exchanges(store.session("s").id))


def test_kill_9_of_record_stops_mitmdump_which_keeps_what_it_recorded(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with echo_server() as upstream, _record(url_of(upstream), db, tmp_path / "t") as rec:
        rec.send(SENT)
        os.kill(rec.proc.pid, signal.SIGKILL)
        rec.proc.communicate(timeout=10)
        wait_until(lambda: not _alive(rec.mitmdump), timeout=30, what="mitmdump exits")
        assert _stored(db) == sorted(f"/r{i}" for i in range(SENT))  # flushed on the way out
        assert list(rec.tmp.iterdir()) == []  # its temporary directory went with it


def test_kill_9_of_mitmdump_is_summarized_from_the_database(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with echo_server() as upstream, _record(url_of(upstream), db, tmp_path / "t") as rec:
        rec.send(SENT)
        wait_until(lambda: rec.stats().get("stored") == SENT, what="all stored")
        # frozen, its counters made stale (they lag the database by up to a batch), killed
        os.kill(rec.mitmdump, signal.SIGSTOP)
        (stats_file,) = rec.tmp.glob("shadowdiff-rec-*/stats.json")
        stats_file.write_text(json.dumps({**rec.stats(), "stored": 3, "bytes": 5}))
        os.kill(rec.mitmdump, signal.SIGKILL)
        out, err = rec.proc.communicate(timeout=30)
        assert rec.proc.returncode == 2, (out, err)
        assert f"stored {SENT}," in out and "killed by SIGKILL" in out, out
        assert "mitmdump was killed by SIGKILL" in err and "Traceback" not in err, err
        assert len(_stored(db)) == SENT
        assert list(rec.tmp.iterdir()) == []
