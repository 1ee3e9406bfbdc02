"""Waiting for a condition instead of for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll `predicate` every `interval` s until it returns something truthy; return that.

    Fails the test (AssertionError) when `timeout` s pass first. The predicate is always
    called at least once more after the deadline, so a slow poll never loses a late success.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true after {timeout}s: {what or predicate!r}")
        time.sleep(interval)
