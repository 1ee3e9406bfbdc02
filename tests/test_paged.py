"""The replay's work list at constant memory (replayer/paged.py): ids up front, exchanges read
a page at a time, the same work as the list `select_exchanges` gives."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from shadowdiff.redaction import RedactionPolicy
from shadowdiff.redaction.messages import redact_exchange
from shadowdiff.replayer import paged
from shadowdiff.replayer.config import ReplayConfig
from shadowdiff.replayer.identity import identity_of
from shadowdiff.replayer.idset import IdSet
from shadowdiff.replayer.order import EachAlone, Lanes, lane_keys
from shadowdiff.replayer.work import pending_work, select_exchanges
from shadowdiff.store import Exchange, Replay, Store

pytestmark = pytest.mark.unit

COUNT = 1700  # more than two pages of POSTs


def recorded(store: Store) -> int:
    sess = store.create_session("s", source="har")
    store.add_exchanges(
        sess.id,
        [
            Exchange(
                method="POST" if i % 3 else "GET",
                path=f"/items/{i}",
                request_headers=[("Authorization", f"Bearer user-{i % 7}")],
                request_body=b"x" * (i % 5),
                request_truncated=i % 97 == 0,
                status=200,
                response_body=b'{"i": %d}' % i,
                client="10.0.0.1",
            )
            for i in range(COUNT)
        ],
    )
    return sess.id


def test_paged_work_is_the_listed_work(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        session_id = recorded(store)
        run = store.create_run(session_id, kind="candidate", target="http://127.0.0.1:1")
        store.add_replays([Replay(run_id=run.id, exchange_id=x) for x in (3, 4, 500)])
        config = ReplayConfig(target="http://127.0.0.1:1", only="POST", order="identity")
        listed = select_exchanges(store, session_id, config)
        pages = paged.select_paged(store, session_id, config)
        try:
            assert len(pages) == len(listed) > 2 * paged.PAGE
            for got, want in zip(pages, listed, strict=True):
                assert (got.id, got.seq, got.path, got.request_headers, got.request_body) == (
                    want.id, want.seq, want.path, want.request_headers, want.request_body
                )  # fmt: skip
                assert got.response_body == b""  # a replay never reads the recorded answer
            assert pages[-1].id == listed[-1].id and pages[700].id == listed[700].id
            assert len(pages._pages) <= paged._KEEP  # never the whole session
            work, skipped = paged.sendable_work(store, run, None, pages)
            pending = [w for w in pending_work(store, run, None, listed)]
            sendable = [w for w in pending if not w.exchange.request_truncated]
            assert skipped == len(pending) - len(sendable) > 0
            assert [w.exchange.id for w in work] == [w.exchange.id for w in sendable]
            assert list(work.ids("candidate")) == [w.exchange.id for w in sendable]
            assert list(paged.work_seqs(work)) == [w.exchange.seq for w in sendable]
            want_keys = [identity_of(w.exchange, None) for w in sendable]
            assert list(lane_keys(work, "identity", None)) == want_keys
            assert len(set(want_keys)) == 7
        finally:
            pages.close()


def test_interned_strings_keep_each_distinct_one_once() -> None:
    names = paged.Interned()
    for name in ["a", "b", "a", "c", "b"]:
        names.append(name)
    assert list(names) == ["a", "b", "a", "c", "b"] and names.names == ["a", "b", "c"]
    assert names[1:3] == ["b", "a"] and names[-1] == "b"


def test_id_sets_are_bitmaps_that_answer_like_sets() -> None:
    ids = IdSet()
    values = [0, 7, 8, 1_000_003, 64, 7]
    for v in values:
        ids.add(v)
    assert len(ids) == len(set(values)) == 5
    assert all(v in ids for v in values)
    assert 9 not in ids and -1 not in ids and 2_000_000 not in ids and "7" not in ids
    assert len(ids.bits) < 200_000  # a bit per id up to the largest (plus headroom)


def test_each_alone_lanes_hand_out_every_index_in_order_until_closed() -> None:
    import asyncio

    keys = EachAlone(5)
    assert len(keys) == 5 and keys[4] == "4" and keys[-1] == "4" and keys[1:3] == ["1", "2"]
    with pytest.raises(IndexError):
        keys[5]

    async def run() -> tuple[list[int | None], int | None, int]:
        lanes = Lanes(keys, workers=2)
        taken = [await lanes.take() for _ in range(3)]
        for index in taken:
            assert index is not None
            lanes.done(index)
        lanes.close()  # a signal: the rest stays unsent
        return taken, await lanes.take(), lanes.count

    taken, after_close, count = asyncio.run(run())
    assert taken == [0, 1, 2] and after_close is None and count == 5


def test_lockstep_work_keeps_the_primary_side_as_pending_work_does(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        session_id = recorded(store)
        target = "http://127.0.0.1:1"
        run = store.create_run(session_id, kind="candidate", target=target)
        primary = store.create_run(session_id, kind="primary", target=target)
        store.add_replays([Replay(run_id=run.id, exchange_id=x) for x in (3, 4)])
        store.add_replays([Replay(run_id=primary.id, exchange_id=x) for x in (4, 5)])
        listed = select_exchanges(store, session_id, ReplayConfig(target=target))
        work, _ = paged.sendable_work(store, run, None, listed, primary)
        want = [
            w for w in pending_work(store, run, None, listed, primary)
            if not w.exchange.request_truncated
        ]  # fmt: skip
        assert list(work) == want
        sides = {w.exchange.id: (w.candidate, w.primary) for w in work}
        assert sides[3] == (False, True) and sides[5] == (True, False) and sides[6] == (True, True)
        assert 4 not in sides  # both sides answered
        assert list(work.ids("primary")) == [w.exchange.id for w in want if w.primary]
        assert list(work.ids()) == [w.exchange.id for w in want]
        assert work.sends == sum(w.sends for w in want)


def test_chained_lanes_hold_back_even_with_order_none_keys() -> None:
    import asyncio

    from shadowdiff.replayer.chaining import ChainedLanes

    # --order none: every item alone, yet item 1 needs item 2's answer (held until it is done)
    lanes = ChainedLanes(EachAlone(3), 1, [set(), {2}, set()])

    async def run() -> list[int]:
        order: list[int] = []
        while (index := await lanes.take()) is not None:
            order.append(index)
            lanes.done(index)
        return order

    assert asyncio.run(asyncio.wait_for(run(), 5)) == [0, 2, 1]


def test_the_survey_reads_only_requests_that_may_hold_a_token(tmp_path: Path) -> None:
    """A token in a header (a cookie too), in the query, or noted in the body by redaction:
    surveyed; a plain request is not even read, paged or listed."""
    policy = RedactionPolicy.build(key=b"k" * 16)
    plain = Exchange(method="GET", path="/plain", request_headers=[("Accept", "*/*")])
    sent = [
        Exchange(method="GET", path="/h", request_headers=[("Authorization", "Bearer abc123")]),
        Exchange(method="GET", path="/c", request_headers=[("Cookie", "session=s3cr3t")]),
        Exchange(method="GET", path="/q", query="api_key=k3y&x=1"),
        Exchange(
            method="POST",
            path="/login",
            request_headers=[("Content-Type", "application/json")],
            request_body=b'{"user": "a", "password": "pw-1"}',
        ),
    ]
    with Store.open(tmp_path / "s.db") as store:
        session = store.create_session("s", source="har")
        store.add_exchanges(
            session.id,
            [redact_exchange(ex, policy) for ex in [plain, *sent, replace(plain, path="/p2")]],
        )
        config = ReplayConfig(target="http://127.0.0.1:1", order="none")
        run = store.create_run(session.id, kind="candidate", target="http://127.0.0.1:1")
        for exchanges in (
            paged.select_paged(store, session.id, config),
            select_exchanges(store, session.id, config),
        ):
            work, _ = paged.sendable_work(store, run, None, exchanges)
            for kept in (0, 100):  # read by id, or through the pages a small session keeps
                found = paged.requests_with_tokens(store, session.id, work, kept)
                assert sorted(ex.path for ex in found) == ["/c", "/h", "/login", "/q"]
