"""Two real recorders (two mitmdump processes) appending to one session of one database."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from shadowdiff.demo.servers import free_port
from shadowdiff.recorder.launcher import Recording, RecordOptions
from shadowdiff.store import Store
from tests.faults.rawservers import echo_server, url_of

pytestmark = pytest.mark.e2e

CLIENTS_PER_PROXY = 4
REQUESTS_PER_CLIENT = 120


def _load(url: str, tag: str, failures: list[str]) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        for i in range(REQUESTS_PER_CLIENT):
            r = client.post(f"/{tag}/{i}", content=f"{tag}-{i}".encode())
            if r.status_code != 200:
                failures.append(f"{tag}/{i}: {r.status_code}")


def test_two_recorders_on_one_session_lose_nothing_and_number_it_once(tmp_path: Path) -> None:
    """`add_exchanges` takes the write lock before reading the session's last seq: two
    recorders writing batches at once neither collide on seq nor drop a batch."""
    db = tmp_path / "shared.db"
    with echo_server() as upstream:
        recs = [
            Recording(
                RecordOptions(url_of(upstream), db, listen_port=free_port(), session="shared")
            )
            for _ in range(2)
        ]
        failures: list[str] = []
        with recs[0], recs[1]:
            clients = [
                threading.Thread(target=_load, args=(rec.url, f"p{n}c{c}", failures))
                for n, rec in enumerate(recs)
                for c in range(CLIENTS_PER_PROXY)
            ]
            for t in clients:
                t.start()
            for t in clients:
                t.join(120)
            summaries = [rec.stop() for rec in recs]
    assert not failures, failures[:5]
    sent = 2 * CLIENTS_PER_PROXY * REQUESTS_PER_CLIENT
    assert [s.session for s in summaries] == ["shared", "shared"]
    assert [s.dropped for s in summaries] == [0, 0], [s.last_error for s in summaries]
    assert sum(s.stored for s in summaries) == sent
    with Store.open(db) as store:
        assert [s.session.name for s in store.list_sessions()] == ["shared"]
        stored = list(store.iter_exchanges(store.session("shared").id))
    assert sorted(e.seq for e in stored) == list(range(1, sent + 1))
    assert len({e.path for e in stored}) == sent
    assert all(e.request_body == e.path[1:].replace("/", "-").encode() for e in stored)
