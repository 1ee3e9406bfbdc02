"""The replay's cheaper paths give exactly what the plain ones gave: exchanges built from
their rows, the first pages read once at selection, the survey's prepared requests sent as
prepared, the framing learnt while building headers, and the event loop chosen."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path

import pytest

from shadowdiff.redaction import redaction_token
from shadowdiff.replayer import eventloop, paged, secret_guard
from shadowdiff.replayer.build import Target, build_request
from shadowdiff.replayer.config import ReplayConfig
from shadowdiff.replayer.secret_guard import SecretGuard
from shadowdiff.replayer.secrets import SecretBook, prepare
from shadowdiff.store import Exchange, Store

pytestmark = pytest.mark.unit

COUNT = 1100  # three pages


def _recorded(store: Store) -> tuple[int, str]:
    """A session whose requests carry bodies, odd text and, every third, a token."""
    token = redaction_token(store.redaction_key(), "hunter2")
    sess = store.create_session("s", source="har")
    store.add_exchanges(
        sess.id,
        [
            Exchange(
                method="POST" if i % 2 else "GET",
                path=f"/items/{i}/\udcff" if i == 5 else f"/items/{i}",
                query=f"q={i}",
                request_headers=[("X-N", str(i))]
                + ([("Authorization", f"Bearer {token}")] if i % 3 == 0 else []),
                request_body=b"body %d" % i if i % 2 else b"",
                status=200,
                reason="OK",
                response_headers=[("Content-Type", "text/plain")],
                response_body=b"answer %d" % i,
                redacted=["request header:authorization " + token] if i % 3 == 0 else [],
                endpoint="POST /items/{id}",
                client=f"10.0.0.{i % 4}",
                duration_ms=1.5,
                error="reset: x" if i == 7 else None,
            )
            for i in range(COUNT)
        ],
    )
    return sess.id, token


def test_an_exchange_read_back_has_every_field_as_stored(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        session_id, _ = _recorded(store)
        read = list(store.iter_exchanges(session_id))
    names = [f.name for f in dataclasses.fields(Exchange)]
    assert all(list(ex.__dict__) == names for ex in read)  # no field missing nor extra
    odd = read[5]
    assert odd.path == "/items/5/\udcff" and odd.request_body == b"body 5"
    assert odd == Exchange(**{n: getattr(odd, n) for n in names})  # a plain dataclass
    assert read[7].error == "reset: x" and read[3].redacted and read[3].client == "10.0.0.3"
    assert all(type(h) is tuple for ex in read for h in ex.request_headers)


def test_the_first_pages_are_read_at_selection_and_get_their_bodies_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(tmp_path / "s.db") as store:
        session_id, _ = _recorded(store)
        want = list(store.iter_exchanges(session_id, responses=False))
        config = ReplayConfig(target="http://127.0.0.1:1", order="identity")
        pages = paged.select_paged(store, session_id, config)
        reads: list[int] = []
        real = Store.iter_exchanges

        def counted(self: Store, *args: object, **kwargs: object) -> object:
            reads.append(1)
            return real(self, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Store, "iter_exchanges", counted)
        monkeypatch.setattr(paged, "_KEEP", 2)  # the third page is read as before
        try:
            assert sorted(pages._selected) == [0, 1, 2]
            got = list(pages)
            assert got == want  # bodies, headers and all, as a plain read gives them
            last = 2 * paged.PAGE + 1  # on a page still kept
            assert pages[last].request_body == b"body %d" % last and not pages._selected
            assert len(reads) == 0  # every page came from the selection
        finally:
            pages.close()
        kept = paged.select_paged(store, session_id, config)
        reads.clear()  # (the selection's own read)
        try:
            assert sorted(kept._selected) == [0, 1]  # never more than _KEEP pages held
            assert list(kept) == want and len(reads) == 1  # the third page read by ids
        finally:
            kept.close()


def test_the_survey_hands_its_prepared_requests_to_the_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(tmp_path / "s.db") as store:
        session_id, token = _recorded(store)
        exchanges = list(store.iter_exchanges(session_id, responses=False))
        run = store.create_run(session_id, kind="candidate", target="http://127.0.0.1:1")
        monkeypatch.setattr(secret_guard, "KEEP_PREPARED", 5)
        guard = SecretGuard.start(store, run, None, [], exchanges[:30], lambda _: None)
    guard.book = SecretBook({token: "hunter2"})  # supplied from here on: prepared anew
    assert sorted(guard.prepared) == [0 + 1, 3 + 1, 6 + 1, 9 + 1, 12 + 1]  # ids: the first 5
    first = exchanges[3]
    sent = guard.outgoing(first)
    assert sent.request_header("Authorization") is None  # as surveyed: the token unsupplied
    assert first.id not in guard.prepared  # handed over once
    again = guard.outgoing(first)  # another target (lockstep, a baseline): prepared again
    assert again.request_header("Authorization") == "Bearer hunter2"
    later = exchanges[27]  # past the kept ones: prepared when sent
    assert guard.outgoing(later).request_header("Authorization") == "Bearer hunter2"
    assert guard.outgoing(exchanges[1]) is exchanges[1]  # nothing to fill: as it is
    plain = prepare(exchanges[6], SecretBook())
    assert guard.outgoing(exchanges[6]) == plain.exchange


@pytest.mark.parametrize(
    ("headers", "overrides", "body", "framed"),
    [
        ([("Host", "h"), ("Content-Length", "3")], [], b"abc", True),
        ([("Host", "h"), ("Transfer-Encoding", "chunked")], [], b"abc", True),
        ([("Host", "h")], [], b"abc", True),  # a body recorded without framing (HTTP/2)
        ([("Host", "h")], [("content-length", "0")], b"", True),  # an override frames it
        ([("Host", "h"), ("Transfer-Encoding", " ")], [], b"", False),
        ([("Host", "h")], [], b"", False),  # no body, no Content-Length: 0
    ],
)
def test_the_body_goes_out_exactly_when_a_content_length_does(
    headers: list[tuple[str, str]], overrides: list[tuple[str, str]], body: bytes, framed: bool
) -> None:
    ex = Exchange(method="DELETE", path="/x", request_headers=headers, request_body=body)
    out = build_request(ex, Target.parse("http://127.0.0.1:1"), overrides)
    lengths = [v for k, v in out.headers if k.lower() == "content-length"]
    assert bool(lengths) == framed and (out.body is not None) == framed
    assert out.body in (None, body)


def test_the_replay_loop_is_uvloop_when_it_is_installed_else_asyncio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvloop

    async def which() -> str:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__module__

    assert eventloop.loop_factory() is uvloop.new_event_loop
    assert eventloop.run(which()).startswith("uvloop")
    monkeypatch.setitem(sys.modules, "uvloop", None)  # not installed: asyncio's own loop
    assert eventloop.loop_factory() is asyncio.new_event_loop
    assert eventloop.run(which()).startswith("asyncio")


def test_the_objects_made_before_the_run_are_frozen_only_while_it_runs() -> None:
    import gc

    async def frozen() -> int:
        await asyncio.sleep(0)
        return gc.get_freeze_count()

    before = object()  # made before the run: frozen out of collections during it
    assert gc.get_freeze_count() == 0
    assert eventloop.run(frozen()) > 0 and before is not None
    assert gc.get_freeze_count() == 0  # unfrozen when it ends

    async def fails() -> None:
        raise ValueError("x")

    with pytest.raises(ValueError):
        eventloop.run(fails())
    assert gc.get_freeze_count() == 0  # also when it raises


def test_a_bar_shows_its_counts_at_most_every_interval_and_the_last_ones_at_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    from rich.console import Console

    from shadowdiff.cli import progress

    now = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    with progress.Bars(Console(file=io.StringIO())) as bars:
        bar = bars.add("replay", 10)
        task = bars.progress.tasks[0]
        bar.advance()
        bar.advance(failed=True)
        assert task.completed == 0  # not yet shown: within the interval
        now[0] += 2 * progress.PUSH_INTERVAL
        bar.advance()
        assert task.completed == 3 and task.fields["failures"] == "failed 1"
        assert task.fields["rate"] == pytest.approx(3 / (2 * progress.PUSH_INTERVAL))
        bar.update(10, 1)  # the total: shown at once
        assert task.completed == 10
        other = bars.add("diff", None)
        other.advance(4)
        assert bars.progress.tasks[1].completed == 0
    assert bars.progress.tasks[1].completed == 4  # the display stopped with the last counts
