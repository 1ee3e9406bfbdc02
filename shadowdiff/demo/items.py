"""What the stateful endpoints do, shared by both servers (each only wires its framework):

==============================  ===================================================
``POST /login``                 200 ``{"token", "username", "role"}``; 401 wrong password
``POST /items``                 201 the item ``{"id": <uuid4>, "owner", "name", "quantity"}``
``GET /items``                  200 ``{"items": [...]}``: the caller's, in creation order
``GET /items/{id}``             200 the item (any signed-in user); 404 unknown id
``PUT /items/{id}``             200 the item, changed (``name`` and/or ``quantity``)
``DELETE /items/{id}``          204, empty
==============================  ===================================================

Checks, in this order: a valid token (401), the role may write (403, readers), the body
(422), the item exists (404), an editor owns it (403). ``drop`` lets the FastAPI port plant
its regression (an update that forgets a field); nothing else differs between the servers.
"""

from __future__ import annotations

import json

from shadowdiff.demo.accounts import (
    InputProblem,
    User,
    check_write,
    issue_token,
    item_fields,
    login,
    token_user,
)
from shadowdiff.demo.inventory import Inventory, Item

MAX_BODY = 64 * 1024  # larger bodies are refused (422) before parsing


def parse_json(raw: bytes) -> object:
    """A request body as JSON; InputProblem when it is not."""
    if len(raw) > MAX_BODY:
        raise InputProblem(f"body larger than {MAX_BODY} bytes")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputProblem("body is not valid JSON") from None


def do_login(inventory: Inventory, raw: bytes) -> dict[str, str]:
    user = login(parse_json(raw))
    return {"token": issue_token(inventory.key(), user.name), "username": user.name,
            "role": str(user.role)}  # fmt: skip


def signed_in(inventory: Inventory, authorization: str | None) -> User:
    return token_user(inventory.key(), authorization)


def do_create(inventory: Inventory, authorization: str | None, raw: bytes) -> Item:
    user = signed_in(inventory, authorization)
    check_write(user)
    return inventory.create(user.name, item_fields(parse_json(raw), partial=False))


def do_list(inventory: Inventory, authorization: str | None) -> dict[str, list[Item]]:
    user = signed_in(inventory, authorization)
    return {"items": inventory.owned_by(user.name)}


def do_get(inventory: Inventory, authorization: str | None, item_id: str) -> Item:
    signed_in(inventory, authorization)
    return inventory.get(item_id)


def do_update(
    inventory: Inventory,
    authorization: str | None,
    item_id: str,
    raw: bytes,
    drop: frozenset[str] = frozenset(),
) -> Item:
    user = signed_in(inventory, authorization)
    check_write(user)
    fields = item_fields(parse_json(raw), partial=True)
    kept = {name: value for name, value in fields.items() if name not in drop}
    updated = inventory.update(item_id, kept, lambda item: check_write(user, item["owner"]))
    return {**updated, **fields}  # the answer shows the request's values either way


def do_delete(inventory: Inventory, authorization: str | None, item_id: str) -> None:
    user = signed_in(inventory, authorization)
    check_write(user)
    inventory.delete(item_id, lambda item: check_write(user, item["owner"]))
