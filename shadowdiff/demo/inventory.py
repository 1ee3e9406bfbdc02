"""One server instance's state: its token signing key and its items, shared by its workers.

gunicorn runs several worker processes per instance, so the state lives in a JSON file in
the folder named by ``SHADOWDIFF_DEMO_STATE`` (``servers.py`` gives every instance a fresh,
empty folder; the first request creates the file with a new random key). Each operation
reads and writes the file under an exclusive ``flock``, which also orders the threads of one
worker. Without the variable (the app imported on its own) the state is this process's
memory. Items are kept in creation order; the list a user sees is theirs, in that order.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, TypeVar

from shadowdiff.demo.accounts import NOT_FOUND, Denied, new_key

STATE_ENV: Final = "SHADOWDIFF_DEMO_STATE"
STATE_FILE: Final = "state.json"
MAX_ITEMS: Final = 10_000  # a bound on the file: creates beyond it are refused (422)

Item = dict[str, Any]
State = dict[str, Any]
T = TypeVar("T")


class Full(ValueError):
    """The instance holds MAX_ITEMS items already."""


def _fresh() -> State:
    return {"key": new_key(), "items": []}


class Inventory:
    """The items of one instance and its key, in a file (shared by workers) or in memory."""

    def __init__(self, folder: Path | None) -> None:
        self.path = folder / STATE_FILE if folder is not None else None
        self._memory: State | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> Inventory:
        folder = os.environ.get(STATE_ENV, "").strip()
        return cls(Path(folder) if folder else None)

    @contextmanager
    def _state(self) -> Iterator[State]:
        """The state, locked for this operation; what the block changes is saved."""
        if self.path is None:
            with self._lock:
                if self._memory is None:
                    self._memory = _fresh()
                yield self._memory
            return
        with open(self.path, "a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            handle.seek(0)
            text = handle.read()
            state = json.loads(text) if text else _fresh()
            before = json.dumps(state)
            yield state
            after = json.dumps(state)
            if after != before or not text:
                handle.seek(0)
                handle.truncate()
                handle.write(after)
                handle.flush()

    def _apply(self, change: Callable[[State], T]) -> T:
        with self._state() as state:
            return change(state)

    def key(self) -> str:
        """This instance's signing key."""
        return self._apply(lambda state: str(state["key"]))

    def create(self, owner: str, fields: Item) -> Item:
        """A new item with a server-issued uuid4 id."""

        def change(state: State) -> Item:
            if len(state["items"]) >= MAX_ITEMS:
                raise Full(f"this instance holds {MAX_ITEMS} items already")
            item = {"id": str(uuid.uuid4()), "owner": owner, **fields}
            state["items"].append(item)
            return dict(item)

        return self._apply(change)

    def get(self, item_id: str) -> Item:
        """The item, or Denied(404)."""
        return self._apply(lambda state: dict(_find(state, item_id)))

    def update(self, item_id: str, fields: Item, check: Callable[[Item], None]) -> Item:
        """Change the item's fields once `check(item)` passes (it raises to refuse)."""

        def change(state: State) -> Item:
            item = _find(state, item_id)
            check(dict(item))
            item.update(fields)
            return dict(item)

        return self._apply(change)

    def delete(self, item_id: str, check: Callable[[Item], None]) -> None:
        """Remove the item once `check(item)` passes."""

        def change(state: State) -> None:
            item = _find(state, item_id)
            check(dict(item))
            state["items"].remove(item)

        self._apply(change)

    def owned_by(self, owner: str) -> list[Item]:
        """The owner's items in creation order."""
        return self._apply(lambda state: [dict(i) for i in state["items"] if i["owner"] == owner])


def _find(state: State, item_id: str) -> Item:
    for item in state["items"]:
        if item["id"] == item_id:
            return item  # type: ignore[no-any-return]
    raise Denied(NOT_FOUND)
