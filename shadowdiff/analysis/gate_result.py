"""What the gate concludes: the limits it judges by, per-endpoint figures, failing findings."""

from __future__ import annotations

from dataclasses import dataclass, field

from shadowdiff.analysis.accepted import AcceptedSet
from shadowdiff.formatting import pct
from shadowdiff.store import AgreementRow, Run

__all__ = ["SHOWN_SIGNATURES", "EndpointStats", "Finding", "GateLimits", "GateResult"]


@dataclass(frozen=True)
class PathLimit:
    """One limit on a path: ``endpoint`` None means every endpoint."""

    path: str  # general path
    value: float
    endpoint: str | None = None

    def covers(self, row: AgreementRow) -> bool:
        return row.path == self.path and (self.endpoint is None or row.endpoint == self.endpoint)

    def __str__(self) -> str:
        where = f"{self.endpoint} " if self.endpoint else ""
        return f"{where}{self.path}={self.value:g}"


@dataclass(frozen=True)
class GateLimits:
    max_diff_rate: float = 0.0
    max_endpoint_diff_rate: float | None = None
    allow_structural: bool = False
    min_samples: int = 1
    accepted: AcceptedSet | None = None
    max_latency_ratio: float | None = None
    noise_adjusted: bool = True
    max_abs_error: tuple[PathLimit, ...] = ()  # per path (shadowdiff.analysis.agreement_limits)
    min_agreement: tuple[PathLimit, ...] = ()
    allow_schema: bool = False  # let responses of the new side outside the OpenAPI spec pass


@dataclass(frozen=True)
class Finding:
    """One failing check: ``check`` names it, ``endpoint`` when it is about one endpoint."""

    check: str  # run | diff rate | errors | endpoint diff rate | structural | min samples |
    #             signature | finding | latency | max abs error | min agreement | schema
    text: str
    endpoint: str | None = None
    finding_id: str | None = None  # about a run-wide finding (its own JUnit case)


@dataclass(frozen=True)
class EndpointStats:
    endpoint: str
    requests: int
    differing: int  # verdict different or error
    errors: int
    noise_only: int  # differing only at noise paths (not counted)
    accepted: int  # differing with an accepted, unexpired signature (not counted)
    p50_new_ms: float | None = None
    p50_old_ms: float | None = None

    @property
    def counted(self) -> int:
        return self.differing - self.noise_only - self.accepted

    @property
    def rate(self) -> float:
        return self.counted / self.requests if self.requests else 0.0

    @property
    def latency_ratio(self) -> float | None:
        if self.p50_new_ms is None or not self.p50_old_ms:
            return None
        return self.p50_new_ms / self.p50_old_ms


SHOWN_SIGNATURES = 10


@dataclass
class GateResult:
    run: Run
    baseline: Run | None
    limits: GateLimits
    endpoints: list[EndpointStats]
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    noise_applied: bool = False  # rates are noise-adjusted
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    # counted (not noise, not accepted) root causes: (signature, text, requests), most first
    signatures: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return [f.text for f in self.findings]

    @property
    def exit_code(self) -> int:
        return 1 if self.findings else 0

    @property
    def passed(self) -> bool:
        return not self.findings

    @property
    def requests(self) -> int:
        return sum(e.requests for e in self.endpoints)

    @property
    def differing(self) -> int:
        return sum(e.differing for e in self.endpoints)

    @property
    def counted(self) -> int:
        return sum(e.counted for e in self.endpoints)

    @property
    def errors(self) -> int:
        return sum(e.errors for e in self.endpoints)

    @property
    def rate(self) -> float:
        return self.counted / self.requests if self.requests else 0.0

    def lines(self, *, endpoints: bool = False) -> list[str]:
        """Print-ready: a headline, one line per failing reason, notes; optionally a table."""
        verdict = "PASS" if self.passed else "FAIL"
        head = (
            f"gate {verdict}: run {self.run.name}: {self.requests} requests, "
            f"{self.differing} differing, {self.errors} errors; counted {self.counted} "
            f"({pct(self.rate)})"
        )
        if self.noise_applied and self.baseline is not None:
            noise = sum(e.noise_only for e in self.endpoints)
            head += f"; noise-adjusted with {self.baseline.name} ({noise} noise-only)"
        accepted = sum(e.accepted for e in self.endpoints)
        if self.limits.accepted is not None:
            head += f"; {accepted} accepted"
        out = [head, *(f"  - {r}" for r in self.reasons), *(f"  note: {n}" for n in self.notes)]
        if not self.passed:
            for sig, text, n in self.signatures[:SHOWN_SIGNATURES]:
                out.append(f"  signature {sig} ({n} requests): {text}")
            if len(self.signatures) > SHOWN_SIGNATURES:
                more = len(self.signatures) - SHOWN_SIGNATURES
                out.append(f"  ... {more} more signatures: see `shadowdiff report`")
        if endpoints:
            out.append(f"  {'endpoint':<32} {'requests':>8} {'differing':>9} {'counted':>7}")
            for e in self.endpoints:
                out.append(
                    f"  {e.endpoint:<32} {e.requests:>8} {e.differing:>9} {e.counted:>7}"
                    f"  {pct(e.rate)}"
                )
        return out
