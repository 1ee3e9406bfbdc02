"""Unit tests of the pure capture code and of the addon under mitmproxy's taddons."""

from __future__ import annotations

from pathlib import Path

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons, tflow, tutils

from shadowdiff.recorder.addon import Recorder
from shadowdiff.recorder.capture import (
    CapturePolicy,
    apply_policy,
    flow_to_exchange,
    redaction_token,
)
from shadowdiff.store import Store

pytestmark = pytest.mark.unit


def _flow(path: str = "/predict/?a=1", body: bytes = b"x,y\n1,2\n"):  # type: ignore[no-untyped-def]
    f = tflow.tflow(
        req=tutils.treq(method=b"POST", path=path.encode(), content=body),
        resp=tutils.tresp(content=b'{"predictions": [1.5]}'),
    )
    f.request.headers["Authorization"] = "Bearer s3cret"
    f.request.headers["Cookie"] = "sid=1"
    f.response.headers["Set-Cookie"] = "sid=2"
    return f


def test_flow_to_exchange_keeps_wire_bytes() -> None:
    f = _flow()
    ex = flow_to_exchange(f)
    assert (ex.method, ex.path, ex.query) == ("POST", "/predict/", "a=1")
    assert ex.request_body == b"x,y\n1,2\n"
    assert ex.response_body == b'{"predictions": [1.5]}'
    assert ex.status == 200 and ex.error is None
    assert ex.duration_ms is not None and ex.duration_ms >= 0


def test_redaction_is_stable_and_keyed() -> None:
    policy = CapturePolicy.build(key=b"k1")
    a = apply_policy(flow_to_exchange(_flow()), policy)
    b = apply_policy(flow_to_exchange(_flow()), policy)
    auth = a.request_header("authorization")
    # only the credential of `Bearer X` is tokenized, apart from its scheme
    assert auth == b.request_header("authorization") == "Bearer " + redaction_token(b"k1", "s3cret")
    assert auth is not None and "s3cret" not in auth
    assert a.request_header("cookie") == "sid=" + redaction_token(b"k1", "1")
    assert a.response_header("set-cookie") == "sid=" + redaction_token(b"k1", "2")
    assert a.redacted == [
        "request cookie:sid " + redaction_token(b"k1", "1"),
        "request header:authorization " + redaction_token(b"k1", "s3cret"),
        "response cookie:sid " + redaction_token(b"k1", "2"),
    ]
    other = apply_policy(flow_to_exchange(_flow()), CapturePolicy.build(key=b"k2"))
    assert other.request_header("authorization") != auth


def test_keep_headers_in_clear_and_body_cap() -> None:
    policy = CapturePolicy.build(key=b"k", keep=["Cookie"], max_body=4)
    ex = apply_policy(flow_to_exchange(_flow()), policy)
    assert ex.request_header("cookie") == "sid=1"
    assert ex.request_body == b"x,y\n" and ex.request_truncated
    assert ex.response_truncated


def test_error_flow_is_recorded_as_error() -> None:
    f = tflow.tflow(err=True)
    ex = flow_to_exchange(f)
    assert ex.status is None and ex.error


def test_addon_records_through_queue_and_flushes_on_done(tmp_path: Path) -> None:
    rec = Recorder()
    with taddons.context(rec) as tctx:
        tctx.configure(rec, shadowdiff_db=str(tmp_path / "t.db"), shadowdiff_session="unit")
        for _ in range(5):
            rec.response(_flow())
        rec.error(tflow.tflow(err=True))
        _done(tctx, rec)
    with Store.open(tmp_path / "t.db") as store:
        got = list(store.iter_exchanges(store.session("unit").id))
    assert len(got) == 6
    assert sum(1 for e in got if e.error) == 1
    assert all("s3cret" not in str(e.request_headers) for e in got)


def test_addon_path_filter_and_sample_validation(tmp_path: Path) -> None:
    rec = Recorder()
    with taddons.context(rec) as tctx:
        with pytest.raises(exceptions.OptionsError, match="shadowdiff_sample"):
            tctx.configure(rec, shadowdiff_sample="1.5")
        with pytest.raises(exceptions.OptionsError, match="not a valid regular expression"):
            tctx.configure(rec, shadowdiff_path_filter="(")
        tctx.configure(
            rec,
            shadowdiff_db=str(tmp_path / "t.db"),
            shadowdiff_session="f",
            shadowdiff_path_filter="^/predict",
        )
        rec.response(_flow("/predict/"))
        rec.response(_flow("/ping"))
        _done(tctx, rec)
    assert rec.stats.stored == 1 and rec.stats.skipped == 1


def _done(tctx: taddons.context, rec: Recorder) -> None:
    tctx.master.event_loop.run_until_complete(rec.done())


def test_addon_kills_answers_it_cannot_store_after_shutdown(tmp_path: Path) -> None:
    rec = Recorder()
    with taddons.context(rec) as tctx:
        tctx.configure(rec, shadowdiff_db=str(tmp_path / "t.db"))
        early, late = _flow(), _flow()
        rec.request(early)
        rec.request(late)
        rec.response(early)
        assert rec.inflight == 1
        rec.inflight = 0  # pretend the grace period ran out with `late` still going
        _done(tctx, rec)
        rec.response(late)
        refused = _flow()
        rec.request(refused)
    assert late.error is not None and "killed" in late.error.msg.lower()
    assert refused.error is not None
    assert early.error is None and rec.stats.stored == 1


class BrokenStore:
    """A store whose writes always fail, to check the addon fails open."""

    def __init__(self, real: Store) -> None:
        self.real = real

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.real, name)

    def add_exchanges(self, *_: object) -> int:
        raise OSError(28, "No space left on device")


def test_addon_fails_open_when_store_breaks(tmp_path: Path) -> None:
    rec = Recorder(store_factory=lambda p: BrokenStore(Store.open(p)))  # type: ignore[arg-type,return-value]
    with taddons.context(rec) as tctx:
        tctx.configure(rec, shadowdiff_db=str(tmp_path / "t.db"))
        flows = [_flow() for _ in range(3)]
        for f in flows:
            rec.response(f)  # must not raise
        _done(tctx, rec)
    assert rec.stats.dropped == 3 and rec.stats.stored == 0
    assert "No space left" in (rec.stats.last_error or "")
    assert all(f.response is not None and f.response.status_code == 200 for f in flows)
