"""Chain detection links a value's first consumer to the exchange that ISSUED the value, even
when a later answer repeated it first (a list), so the issuing answer is learned and mapped
back at replay too (found by the stateful demo: a create whose id another user read only
after its owner's list showed it kept its target's own id, a false difference)."""

from __future__ import annotations

import json
import uuid

import pytest

from shadowdiff.chains.detect import detect
from shadowdiff.records import Exchange


def _exchange(n: int, user: str, method: str, path: str, body: object) -> Exchange:
    return Exchange(
        id=n,
        seq=n,
        method=method,
        path=path,
        host="127.0.0.1",
        request_headers=[("Authorization", f"Bearer {user}-token-0123456789abcdef")],
        status=200,
        response_headers=[("Content-Type", "application/json")],
        response_body=json.dumps(body).encode(),
        started_at=1000.0 + n,
        client="127.0.0.1",
    )


@pytest.mark.unit
def test_first_consumer_links_the_issuing_exchange() -> None:
    item = str(uuid.uuid4())
    found = detect(
        [
            _exchange(1, "dave", "POST", "/items", {"id": item}),
            _exchange(2, "dave", "GET", "/items", {"items": [{"id": item}]}),
            _exchange(3, "bob", "GET", f"/items/{item}", {"id": item}),
            _exchange(4, "erin", "GET", f"/items/{item}", {"id": item}),
        ]
    )
    producers = {link.consumer_id: link.producer_id for link in found.links if link.value == item}
    assert producers[3] == 1  # the create, not the list that repeated the id
    assert producers[4] in (1, 2, 3)  # later consumers: any earlier producer of the value
