"""The stateful part of the demo API: its users, their roles, signed tokens, and who may do what.

Pure and shared by both servers, so the Flask original and the FastAPI port cannot disagree
on the rules (only on how they answer, as documented in ``shadowdiff.demo.differences``).

- ``POST /login`` with ``{"username", "password"}`` answers ``{"token", "username", "role"}``;
  a token is ``sd1.<user>.<nonce>.<hmac>``, signed with the answering INSTANCE's key (see
  ``shadowdiff.demo.inventory``), so a token one instance issued is refused by every other.
- roles: ``admin`` may write any item, ``editor`` only the items it owns, ``reader`` none
  (GET only). Every ``/items`` call needs a token (401 without a valid one).

The demo users and their passwords are made-up values, public in this file on purpose: the
stateful demo gives them to ``replay --secrets`` like a user gives real ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Role(StrEnum):
    ADMIN = "admin"
    EDITOR = "editor"
    READER = "reader"


@dataclass(frozen=True)
class User:
    name: str
    password: str
    role: Role


USERS: Final = {
    user.name: user
    for user in (
        User("alice", "alice-pw-7Kq2vX", Role.ADMIN),
        User("carol", "carol-pw-R4t8sN", Role.EDITOR),
        User("dave", "dave-pw-Jm3w9P", Role.EDITOR),
        User("bob", "bob-pw-Yc6h1Z", Role.READER),
    )
}
#: a password no demo user has: the scenario's failed login (401) uses it
WRONG_PASSWORD: Final = "erin-pw-guess-0000"
#: every password value the demo's traffic sends, for a ``--secrets`` file
PASSWORDS: Final = (*(user.password for user in USERS.values()), WRONG_PASSWORD)

TOKEN_PREFIX: Final = "sd1"
NAME_MAX: Final = 200  # the longest item name either server accepts

# The errors both servers raise; each answers them in its own framework's shape.
UNAUTHORIZED: Final = 401
FORBIDDEN: Final = 403
NOT_FOUND: Final = 404


class InputProblem(ValueError):
    """A request body neither server can use: answered with 422 and this text."""


class Denied(Exception):
    """A request refused with an HTTP status (401, 403, 404)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def new_key() -> str:
    """A fresh signing key for one server instance (hex)."""
    return secrets.token_hex(32)


def _signature(key: str, payload: str) -> str:
    mac = hmac.new(bytes.fromhex(key), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def issue_token(key: str, user: str) -> str:
    """A token for `user` signed with `key` (a fresh nonce per login)."""
    payload = f"{TOKEN_PREFIX}.{user}.{secrets.token_hex(8)}"
    return f"{payload}.{_signature(key, payload)}"


def token_user(key: str, authorization: str | None) -> User:
    """The user of a ``Bearer`` token this instance signed; Denied(401) otherwise."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    payload, _, signature = token.strip().rpartition(".")
    parts = payload.split(".")
    if scheme.lower() != "bearer" or len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise Denied(UNAUTHORIZED)
    if not hmac.compare_digest(signature, _signature(key, payload)):
        raise Denied(UNAUTHORIZED)
    user = USERS.get(parts[1])
    if user is None:
        raise Denied(UNAUTHORIZED)
    return user


def login(payload: object) -> User:
    """The user a login body names with the right password; Denied(401) otherwise."""
    if not isinstance(payload, dict):
        raise InputProblem('login body must be a JSON object with "username" and "password"')
    name, password = payload.get("username"), payload.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise InputProblem('"username" and "password" must be strings')
    user = USERS.get(name)
    if user is None or not hmac.compare_digest(user.password.encode(), password.encode()):
        raise Denied(UNAUTHORIZED)
    return user


def check_write(user: User, owner: str | None = None) -> None:
    """May `user` create (owner None) or change an item of `owner`? Denied(403) if not."""
    if user.role is Role.READER:
        raise Denied(FORBIDDEN)
    if owner is not None and user.role is Role.EDITOR and owner != user.name:
        raise Denied(FORBIDDEN)


def item_fields(payload: object, *, partial: bool) -> dict[str, object]:
    """The item fields of a create (both required) or update (either) body; else InputProblem."""
    if not isinstance(payload, dict):
        raise InputProblem("item body must be a JSON object")
    fields: dict[str, object] = {}
    if "name" in payload or not partial:
        name = payload.get("name")
        if not isinstance(name, str) or not 0 < len(name) <= NAME_MAX:
            raise InputProblem(f'"name" must be a string of 1 to {NAME_MAX} characters')
        fields["name"] = name
    if "quantity" in payload or not partial:
        quantity = payload.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise InputProblem('"quantity" must be a whole number, 0 or more')
        fields["quantity"] = quantity
    return fields
