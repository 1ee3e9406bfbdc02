"""The stateful demo's traffic: several users at once, each through its own connection.

- every writer (``alice`` admin, ``carol`` and ``dave`` editors) logs in, creates one item it
  keeps, then ``rounds`` times: create -> get -> update -> get -> list -> delete -> get (404);
- ``carol`` (an editor) tries to delete ``alice``'s kept item: 403;
- the reader ``bob`` logs in, waits for the writers' kept items, and for each: GET (200),
  PUT (403), DELETE (403); then lists his own items (none);
- a stranger: a login with a wrong password (401) and a list without a token (401).

No user changes what another user reads (the only cross-user writes are refused), so the
answers do not depend on how the users interleave: a replay that keeps each user's order
gets the same answers from every instance that starts empty. Bounded: a fixed count of
requests (``planned_count``), a timeout per request and a deadline for the whole run.

CLI::

    python -m shadowdiff.demo.scenario http://127.0.0.1:8080 [--rounds 3]
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from shadowdiff.demo.accounts import USERS, WRONG_PASSWORD, Role

DEFAULT_ROUNDS: Final = 3
MAX_ROUNDS: Final = 50
DEFAULT_TIMEOUT: Final = 10.0
DEFAULT_MAX_SECONDS: Final = 120.0
WRITERS: Final = tuple(name for name, user in USERS.items() if user.role is not Role.READER)
READERS: Final = tuple(name for name, user in USERS.items() if user.role is Role.READER)
ADMIN: Final = next(name for name, user in USERS.items() if user.role is Role.ADMIN)
EDITOR: Final = next(name for name, user in USERS.items() if user.role is Role.EDITOR)


class ScenarioError(RuntimeError):
    """The scenario could not go on (a login failed, a wait ran past the deadline)."""


@dataclass
class ScenarioSummary:
    """What a run did: requests sent, their statuses, and the ones not as planned."""

    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    def line(self) -> str:
        codes = " ".join(f"{code}:{n}" for code, n in sorted(self.statuses.items()))
        return (
            f"sent={self.sent} unexpected={len(self.unexpected)} elapsed={self.elapsed:.2f}s "
            f"statuses=[{codes}]"
        )


def planned_count(rounds: int = DEFAULT_ROUNDS) -> int:
    """How many requests a run sends."""
    writers = len(WRITERS) * (2 + 7 * rounds) + 1  # + the editor's refused delete
    readers = len(READERS) * (2 + 3 * len(WRITERS))
    return writers + readers + 2


class Run:
    """One scenario run: shared between the users' threads."""

    def __init__(self, url: str, deadline: float, on_done: Callable[[], None] | None) -> None:
        self.url = url
        self.deadline = deadline
        self.on_done = on_done
        self.summary = ScenarioSummary()
        self.kept: dict[str, str] = {}
        self.kept_ready = {name: threading.Event() for name in WRITERS}
        self.failed = False
        self.first: BaseException | None = None  # what stopped the run (reported, not "stopped")
        self._lock = threading.Lock()

    def abort(self, cause: BaseException | None = None) -> None:
        """A user failed, or the run is stopped: nobody waits, nobody sends any more."""
        if self.first is None:
            self.first = cause
        self.failed = True
        for event in self.kept_ready.values():
            event.set()

    def send(self, client: httpx.Client, expect: int, method: str, path: str, **kw: Any) -> Any:
        """Send one request, note its status; the JSON answer (None when empty)."""
        if self.failed:
            raise ScenarioError("the scenario was stopped")
        if time.monotonic() > self.deadline:
            raise ScenarioError("the scenario ran past its deadline")
        response = client.request(method, path, **kw)
        with self._lock:
            self.summary.sent += 1
            self.summary.statuses[response.status_code] += 1
            if response.status_code != expect:
                self.summary.unexpected.append(
                    f"{method} {path}: {response.status_code}, expected {expect}"
                )
        if self.on_done is not None:
            self.on_done()
        return response.json() if response.content else None

    def wait_kept(self, owner: str) -> str:
        """The id of `owner`'s kept item, once it exists."""
        if not self.kept_ready[owner].wait(max(0.0, self.deadline - time.monotonic())):
            raise ScenarioError(f"{owner}'s item was not created before the deadline")
        if self.failed or owner not in self.kept:
            raise ScenarioError(f"{owner} failed before creating its item")
        return self.kept[owner]


def _login(run: Run, client: httpx.Client, name: str) -> dict[str, str]:
    body = {"username": name, "password": USERS[name].password}
    answer = run.send(client, 200, "POST", "/login", json=body)
    if not isinstance(answer, dict) or "token" not in answer:
        raise ScenarioError(f"{name} could not log in")
    return {"Authorization": f"Bearer {answer['token']}"}


def _writer(run: Run, client: httpx.Client, name: str, rounds: int) -> None:
    auth = _login(run, client, name)
    kept = run.send(client, 201, "POST", "/items", json={"name": f"{name}'s shelf", "quantity": 1},
                    headers=auth)  # fmt: skip
    run.kept[name] = kept["id"]
    run.kept_ready[name].set()
    for n in range(1, rounds + 1):
        item = run.send(client, 201, "POST", "/items", headers=auth,
                        json={"name": f"{name}'s box {n}", "quantity": n})  # fmt: skip
        path = f"/items/{item['id']}"
        run.send(client, 200, "GET", path, headers=auth)
        run.send(client, 200, "PUT", path, headers=auth,
                 json={"name": f"{name}'s crate {n}", "quantity": 10 * n})  # fmt: skip
        run.send(client, 200, "GET", path, headers=auth)
        run.send(client, 200, "GET", "/items", headers=auth)
        run.send(client, 204, "DELETE", path, headers=auth)
        run.send(client, 404, "GET", path, headers=auth)
    if name == EDITOR:
        other = run.wait_kept(ADMIN)
        run.send(client, 403, "DELETE", f"/items/{other}", headers=auth)


def _reader(run: Run, client: httpx.Client, name: str) -> None:
    auth = _login(run, client, name)
    for owner in WRITERS:
        path = f"/items/{run.wait_kept(owner)}"
        run.send(client, 200, "GET", path, headers=auth)
        run.send(client, 403, "PUT", path, headers=auth, json={"quantity": 0})
        run.send(client, 403, "DELETE", path, headers=auth)
    run.send(client, 200, "GET", "/items", headers=auth)


def _stranger(run: Run, client: httpx.Client) -> None:
    run.send(client, 401, "POST", "/login", json={"username": ADMIN, "password": WRONG_PASSWORD})
    run.send(client, 401, "GET", "/items")


def run_scenario(
    url: str,
    *,
    rounds: int = DEFAULT_ROUNDS,
    timeout: float = DEFAULT_TIMEOUT,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    on_done: Callable[[], None] | None = None,
) -> ScenarioSummary:
    """Send the scenario to `url` (every user at once, each on its own connection)."""
    if not 1 <= rounds <= MAX_ROUNDS:
        raise ValueError(f"rounds must be from 1 to {MAX_ROUNDS}, got {rounds}")
    t0 = time.monotonic()
    run = Run(url, t0 + max_seconds, on_done)
    users: list[Callable[[httpx.Client], None]] = [
        *(lambda c, n=name: _writer(run, c, n, rounds) for name in WRITERS),
        *(lambda c, n=name: _reader(run, c, n) for name in READERS),
        lambda c: _stranger(run, c),
    ]

    def one(user: Callable[[httpx.Client], None]) -> None:
        try:
            with httpx.Client(base_url=url, timeout=timeout) as client:
                user(client)
        except BaseException as exc:
            run.abort(exc)
            raise

    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        futures = [pool.submit(one, user) for user in users]
        try:
            for future in futures:
                future.result()
        except BaseException as exc:  # Ctrl-C too: the users stop after the request in flight
            run.abort(exc)
            wait(futures)
            if isinstance(exc, ScenarioError) and run.first is not None and run.first is not exc:
                raise run.first from None  # the cause, not another user's "stopped"
            raise
    run.summary.elapsed = time.monotonic() - t0
    return run.summary


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m shadowdiff.demo.scenario",
        description="Send the stateful demo's scenario (logins, roles, item CRUD) to a server.",
        epilog="example: python -m shadowdiff.demo.scenario http://127.0.0.1:8080 --rounds 3",
    )
    parser.add_argument("url", help="the server (or a recorder in front of it)")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="CRUD rounds per user")
    args = parser.parse_args(argv)
    summary = run_scenario(args.url, rounds=args.rounds)
    print(summary.line())
    raise SystemExit(1 if summary.unexpected else 0)


if __name__ == "__main__":
    main()
