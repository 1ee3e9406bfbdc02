"""Stores built with the Store API for tests: recorded JSON exchanges, replayed runs.

Every diff row comes from the real `diff_run`; only the servers' answers are made up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shadowdiff.analysis.diffrun import diff_run
from shadowdiff.differ import RuleSet
from shadowdiff.store import Exchange, Replay, Store


@dataclass
class Answer:
    """What a server answered for one exchange: a JSON body (bytes as they are, under
    `content_type`), or a failure."""

    body: Any = None
    status: int = 200
    ms: float = 10.0
    error: str | None = None
    content_type: str = "application/json"


Side = Callable[[int, Any], Answer]


def same(_: int, body: dict[str, Any]) -> Answer:
    return Answer(body)


def _encoded(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def _decoded(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body


def session(
    store: Store,
    items: list[tuple[str, Any]],
    name: str = "s",
    bytes_type: str = "text/csv",
) -> list[Any]:
    """Record one exchange per (path, old JSON body, or bytes recorded under `bytes_type`);
    returns them with their ids."""
    sess = store.create_session(name, source="har")
    store.add_exchanges(
        sess.id,
        [
            Exchange(
                method="GET",
                path=path,
                status=200,
                response_headers=[
                    ("Content-Type", bytes_type if isinstance(body, bytes) else "application/json")
                ],
                response_body=_encoded(body),
                started_at=1.0,
                duration_ms=20.0,
            )
            for path, body in items
        ],
    )
    return list(store.iter_exchanges(sess.id))


def _replays(run_id: int, exchanges: list[Exchange], side: Side) -> list[Replay]:
    out = []
    for i, ex in enumerate(exchanges):
        assert ex.id is not None
        a = side(i, _decoded(ex.response_body))
        out.append(
            Replay(
                run_id=run_id,
                exchange_id=ex.id,
                status=None if a.error else a.status,
                headers=[] if a.error else [("content-type", a.content_type)],
                body=b"" if a.error else _encoded(a.body),
                started_at=2.0,
                duration_ms=a.ms,
                error=a.error,
            )
        )
    return out


def add_run(
    store: Store,
    exchanges: list[Exchange],
    name: str,
    new: Side,
    base: Side | None = None,
    rules: RuleSet | None = None,
    status: str = "complete",
) -> None:
    """A candidate run (and a baseline run when `base`), replayed and diffed for real."""
    replayed_run(store, exchanges, name, new, base, status)
    diff_run(store, name, rules or RuleSet())


def replayed_run(
    store: Store,
    exchanges: list[Exchange],
    name: str,
    new: Side,
    base: Side | None = None,
    status: str = "complete",
) -> None:
    """A candidate run (and a baseline run when `base`) with stored replays, not yet diffed."""
    assert exchanges[0].session_id is not None
    run = store.create_run(exchanges[0].session_id, kind="candidate", target="http://n", name=name)
    store.add_replays(_replays(run.id, exchanges, new))
    store.finish_run(run.id, status)
    if base is not None:
        b = store.create_run(
            run.session_id,
            kind="baseline",
            target="http://o",
            name=f"{name}-baseline",
            paired_run_id=run.id,
        )
        store.add_replays(_replays(b.id, exchanges, base))
        store.finish_run(b.id, status)
