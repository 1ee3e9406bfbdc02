"""Which operations of a spec the recorded traffic exercised, how often, and what missed it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from shadowdiff.openapi.spec import Spec


@dataclass(frozen=True)
class OperationCount:
    endpoint: str  # METHOD /template
    requests: int


@dataclass
class Coverage:
    """Operations with their request counts (spec order), and requests matching none."""

    source: str
    operations: list[OperationCount] = field(default_factory=list)
    unmatched: list[OperationCount] = field(default_factory=list)  # by guessed endpoint

    @property
    def exercised(self) -> list[OperationCount]:
        return [o for o in self.operations if o.requests]

    @property
    def never(self) -> list[OperationCount]:
        return [o for o in self.operations if not o.requests]

    def lines(self) -> list[str]:
        """The coverage table, print-ready."""
        n, hit = len(self.operations), len(self.exercised)
        out = [f"OpenAPI coverage ({self.source}): {hit} of {n} operations exercised"]
        width = max((len(o.endpoint) for o in [*self.operations, *self.unmatched]), default=9)
        out.append(f"  {'operation':<{width}}  {'requests':>8}")
        for o in self.operations:
            out.append(f"  {o.endpoint:<{width}}  {o.requests or 'never':>8}")
        for o in self.unmatched:
            out.append(f"  {o.endpoint:<{width}}  {o.requests:>8}  (matches no operation)")
        return out


def coverage(spec: Spec, requests: Iterable[tuple[str, str, str]]) -> Coverage:
    """``requests``: (method, path, guessed endpoint) of each recorded exchange."""
    hits: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    for method, path, guessed in requests:
        endpoint = spec.endpoint(method, path)
        if endpoint is None:
            missed[guessed] += 1
        else:
            hits[endpoint] += 1
    ordered = sorted(spec.operations, key=lambda o: (o.template, o.method))
    return Coverage(
        spec.source,
        [OperationCount(o.endpoint, hits[o.endpoint]) for o in ordered],
        [OperationCount(ep, n) for ep, n in sorted(missed.items())],
    )
