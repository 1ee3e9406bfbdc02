"""User-given regular expressions (``--only``, ``--exclude``, ``--path-filter``), bounded in time.

Python's ``re`` backtracks without limit: ``(a+)+b`` against a long run of ``a`` takes hours,
and on the recorder's event loop it would stall every proxied request. Patterns are compiled
once, at startup (a bad one is a one-line error before anything starts), with the ``regex``
module, whose matching takes a ``timeout``: each search gets ``budget`` seconds and raises
``PatternTimeout`` past it, so every caller decides what a too-slow match means.
"""

from __future__ import annotations

from typing import Final

import regex

__all__ = ["DEFAULT_BUDGET", "BadPattern", "BoundedPattern", "PatternTimeout", "compile_pattern"]

#: Seconds one search may take. A sane pattern on a URL needs microseconds.
DEFAULT_BUDGET: Final = 0.02


class BadPattern(ValueError):
    """Not a valid regular expression; ``str()`` says why."""


class PatternTimeout(TimeoutError):
    """A search ran past its time budget (a pattern with catastrophic backtracking)."""


class BoundedPattern:
    """A compiled pattern whose searches are bounded by ``budget`` seconds each."""

    __slots__ = ("_compiled", "budget", "text")

    def __init__(self, text: str, budget: float = DEFAULT_BUDGET) -> None:
        try:
            self._compiled = regex.compile(text)
        except (regex.error, ValueError, OverflowError, RecursionError) as exc:
            raise BadPattern(f"{text!r} is not a valid regular expression: {exc}") from None
        self.text = text
        self.budget = budget

    def search(self, value: str) -> bool:
        """Whether the pattern occurs in ``value``; PatternTimeout past the budget."""
        try:
            return self._compiled.search(value, timeout=self.budget) is not None
        except TimeoutError:
            raise PatternTimeout(
                f"pattern {self.text!r} took over {self.budget * 1000:.0f} ms on one value"
            ) from None

    def __repr__(self) -> str:
        return f"BoundedPattern({self.text!r})"


def compile_pattern(text: str | None, budget: float = DEFAULT_BUDGET) -> BoundedPattern | None:
    """Compile ``text`` (None or empty: no pattern); BadPattern when it is not a regex."""
    return BoundedPattern(text, budget) if text else None
