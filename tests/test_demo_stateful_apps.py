"""The demo pair's stateful endpoints, on real servers: Flask (gunicorn, 2 workers) and the
FastAPI port (uvicorn) agree on login, roles and item CRUD up to their error shapes; every
instance signs its own tokens; one instance's workers share its state; the regression
switch loses an update. Plus the pure pieces (roles, tokens, bodies) as unit tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shadowdiff.demo.accounts import (
    USERS,
    WRONG_PASSWORD,
    Denied,
    InputProblem,
    check_write,
    issue_token,
    item_fields,
    new_key,
    token_user,
)
from shadowdiff.demo.differences import REGRESSION_DROPPED_FIELD
from shadowdiff.demo.inventory import STATE_FILE, Inventory
from shadowdiff.demo.scenario import planned_count, run_scenario
from shadowdiff.demo.servers import RunningServer, free_port, fresh_state, start_server

ADMIN, EDITOR, READER = USERS["alice"], USERS["carol"], USERS["bob"]


@pytest.fixture
def pair() -> Iterator[tuple[RunningServer, RunningServer]]:
    """Fresh Flask (2 gunicorn workers) and FastAPI instances, stopped after the test."""
    with start_server("flask", workers=2) as old, start_server("fastapi") as new:
        yield old, new


def _login(client: httpx.Client, name: str) -> dict[str, str]:
    answer = client.post("/login", json={"username": name, "password": USERS[name].password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def _session(url: str) -> list[tuple[int, Any]]:
    """One user's walk through every endpoint; (status, body with issued values masked)."""
    out: list[tuple[int, Any]] = []
    with httpx.Client(base_url=url, timeout=10) as client:

        def note(response: httpx.Response) -> Any:
            body = response.json() if response.content else None
            shown = dict(body) if isinstance(body, dict) else body
            if isinstance(shown, dict):
                shown.pop("token", None)
                if "id" in shown:
                    shown["id"] = "<id>"
                if "items" in shown:
                    shown["items"] = [{**i, "id": "<id>"} for i in shown["items"]]
                error = shown.pop("message", None) or shown.pop("detail", None)
                if error is not None:
                    shown["error"] = error
            out.append((response.status_code, shown))
            return body

        note(client.post("/login", json={"username": "alice", "password": WRONG_PASSWORD}))
        note(client.get("/items"))
        alice, bob = _login(client, "alice"), _login(client, "bob")
        note(client.post("/items", json={"name": "x"}, headers=alice))  # 422: no quantity
        note(client.post("/items", content=b"{not json", headers=alice))
        item = note(client.post("/items", json={"name": "pen", "quantity": 2}, headers=alice))
        path = f"/items/{item['id']}"
        note(client.post("/items", json={"name": "pen", "quantity": 2}, headers=bob))  # 403
        note(client.put(path, json={"quantity": 7}, headers=alice))
        note(client.put(path, json={"quantity": 8}, headers=bob))  # 403
        note(client.delete(path, headers=bob))  # 403
        note(client.get(path, headers=bob))
        note(client.get("/items", headers=alice))
        note(client.delete(path, headers=alice))
        note(client.get(path, headers=alice))
        note(client.delete(path, headers=alice))
    return out


@pytest.mark.e2e
def test_flask_and_fastapi_agree_on_login_roles_and_crud(
    pair: tuple[RunningServer, RunningServer],
) -> None:
    old, new = pair
    flask_walk, fastapi_walk = _session(old.url), _session(new.url)
    assert [status for status, _ in flask_walk] == [
        401, 401, 422, 422, 201, 403, 200, 403, 403, 200, 200, 204, 404, 404,
    ]  # fmt: skip
    assert fastapi_walk == flask_walk
    assert flask_walk[6][1] == {"id": "<id>", "owner": "alice", "name": "pen", "quantity": 7}


@pytest.mark.e2e
def test_error_shapes_are_each_frameworks_own(pair: tuple[RunningServer, RunningServer]) -> None:
    old, new = pair
    assert httpx.get(f"{old.url}/items").json() == {"message": "Unauthorized"}
    assert httpx.get(f"{new.url}/items").json() == {"detail": "Unauthorized"}
    deleted = [httpx.delete(f"{s.url}/items/x", headers={}) for s in (old, new)]
    assert [r.status_code for r in deleted] == [401, 401]


@pytest.mark.e2e
def test_every_instance_signs_its_own_tokens(pair: tuple[RunningServer, RunningServer]) -> None:
    old, new = pair
    with start_server("flask") as other:
        tokens = {}
        for server in (old, new, other):
            with httpx.Client(base_url=server.url) as client:
                tokens[server.url] = _login(client, "alice")
        for server in (old, new, other):
            for issuer, auth in tokens.items():
                status = httpx.get(f"{server.url}/items", headers=auth).status_code
                assert status == (200 if issuer == server.url else 401), (server.url, issuer)
    assert len({auth["Authorization"] for auth in tokens.values()}) == 3


@pytest.mark.e2e
def test_an_instances_workers_share_its_state(pair: tuple[RunningServer, RunningServer]) -> None:
    old, _ = pair
    with httpx.Client(base_url=old.url) as client:
        auth = _login(client, "alice")
        ids = [
            client.post("/items", json={"name": f"n{i}", "quantity": i}, headers=auth).json()["id"]
            for i in range(6)
        ]
    # a new connection per request: gunicorn hands them to either worker
    for item_id in ids * 2:
        with httpx.Client(base_url=old.url) as fresh:
            assert fresh.get(f"/items/{item_id}", headers=auth).status_code == 200
    listed = httpx.get(f"{old.url}/items", headers=auth).json()["items"]
    assert [item["id"] for item in listed] == ids


@pytest.mark.e2e
def test_a_restarted_instance_starts_empty() -> None:
    for _ in range(2):
        with start_server("flask") as server, httpx.Client(base_url=server.url) as client:
            auth = _login(client, "carol")
            assert client.get("/items", headers=auth).json() == {"items": []}
            client.post("/items", json={"name": "a", "quantity": 1}, headers=auth)


@pytest.mark.e2e
def test_scenario_runs_as_planned_on_both(pair: tuple[RunningServer, RunningServer]) -> None:
    for server in pair:
        summary = run_scenario(server.url, rounds=2)
        assert summary.unexpected == [], server.kind
        assert summary.sent == planned_count(2)
        assert {401, 403, 404, 204, 201, 200} == set(summary.statuses)


@pytest.mark.e2e
def test_regression_switch_loses_the_update() -> None:
    with (
        start_server("fastapi", regression=True) as broken,
        httpx.Client(base_url=broken.url) as client,
    ):
        auth = _login(client, "alice")
        item = client.post("/items", json={"name": "a", "quantity": 1}, headers=auth).json()
        answered = client.put(f"/items/{item['id']}", json={"quantity": 9}, headers=auth).json()
        stored = client.get(f"/items/{item['id']}", headers=auth).json()
    assert answered[REGRESSION_DROPPED_FIELD] == 9
    assert stored[REGRESSION_DROPPED_FIELD] == 1


# ------------------------------------------------------------------------- the pure pieces


@pytest.mark.unit
def test_tokens_verify_only_under_their_key() -> None:
    key, other = new_key(), new_key()
    token = issue_token(key, "alice")
    assert token_user(key, f"Bearer {token}") == ADMIN
    for bad in (f"Bearer {token}x", f"Basic {token}", token, None, "Bearer a.b.c.d"):
        with pytest.raises(Denied):
            token_user(key, bad)
    with pytest.raises(Denied):
        token_user(other, f"Bearer {token}")
    assert issue_token(key, "alice") != token  # a fresh nonce per login


@pytest.mark.unit
def test_roles() -> None:
    check_write(ADMIN, "carol")
    check_write(EDITOR, "carol")
    check_write(EDITOR)
    for user, owner in ((READER, None), (READER, "bob"), (EDITOR, "alice")):
        with pytest.raises(Denied) as denied:
            check_write(user, owner)
        assert denied.value.status == 403


@pytest.mark.unit
@pytest.mark.parametrize(
    "body",
    [[], {"name": ""}, {"name": "a", "quantity": -1}, {"name": "a", "quantity": True},
     {"name": "a" * 201, "quantity": 1}, {"name": 3, "quantity": 1}],
)  # fmt: skip
def test_bad_item_bodies_are_refused(body: object) -> None:
    with pytest.raises(InputProblem):
        item_fields(body, partial=False)


@pytest.mark.unit
def test_inventory_in_a_file_is_one_state(tmp_path: Path) -> None:
    first, second = Inventory(tmp_path), Inventory(tmp_path)  # two workers of one instance
    assert first.key() == second.key()
    item = first.create("alice", {"name": "a", "quantity": 1})
    assert second.get(item["id"]) == item
    second.delete(item["id"], lambda _item: None)
    with pytest.raises(Denied):
        first.get(item["id"])
    assert Inventory(None).key() != first.key()


@pytest.mark.e2e
def test_scenario_stops_at_once_when_a_user_fails() -> None:
    """Nothing listens: every user fails, and the reader does not wait out the deadline."""
    t0 = time.monotonic()
    with pytest.raises(httpx.ConnectError):
        run_scenario(f"http://127.0.0.1:{free_port()}", max_seconds=60)
    assert time.monotonic() - t0 < 20


@pytest.mark.unit
def test_state_folder_is_reset_but_never_emptied_of_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    Inventory(fresh_state(folder)).create("alice", {"name": "a", "quantity": 1})
    assert (folder / STATE_FILE).exists()
    assert fresh_state(folder) == folder and not (folder / STATE_FILE).exists()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="notes.txt"):
        fresh_state(folder)
    assert (folder / "notes.txt").read_text() == "mine"
