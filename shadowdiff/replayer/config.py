"""What a replay is asked to do: `ReplayConfig`, validated before anything is sent."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Final

from shadowdiff.chains.rules import ChainRule
from shadowdiff.errors import ReplayError
from shadowdiff.patterns import BadPattern, compile_pattern
from shadowdiff.replayer.bodyread import DEFAULT_MAX_BODY, MAX_BODY_LIMIT
from shadowdiff.replayer.build import HOST_MODES, Target
from shadowdiff.replayer.identity import check_or_raise
from shadowdiff.replayer.secrets import SecretBook
from shadowdiff.replayer.transport import TRANSPORTS

__all__ = ["ORDERS", "ReplayConfig"]

#: --order: replayer/order.py says what each means
ORDERS: Final = ("identity", "strict", "none")


@dataclass
class ReplayConfig:
    """What to replay, where, and how fast. Stored with the run (header values excepted)."""

    target: str
    session: str | None = None
    baseline: str | None = None
    concurrency: int = 16
    rate: float | None = None
    timeout: float = 10.0
    only: str | None = None
    exclude: str | None = None
    methods: list[str] = field(default_factory=list)
    sample: float | None = None
    limit: int | None = None
    name: str | None = None
    transport: str = "aiohttp"
    headers: list[tuple[str, str]] = field(default_factory=list)
    max_body: int = DEFAULT_MAX_BODY
    secrets: str | None = None  # a --secrets file: its path is stored, never its values
    host: str = "recorded"  # the Host header sent: "recorded" or "target"
    order: str = "identity"  # replayer/order.py: "identity", "strict" or "none"
    identity: str | None = None  # replayer/identity.py: the rules file's `identity` choice
    shard: str | None = None  # "K/N": only shard K of N (by a hash of the client identity)
    primary: str | None = None  # lockstep: a live old instance, the old side of the diff
    secondary: str | None = None  # lockstep: a second old instance (noise), run kind baseline
    chains: bool = True  # --no-chains: send chained values as recorded (replayer/chaining.py)
    chain_rules: list[dict[str, Any]] = field(default_factory=list)  # [[chains]], as stored

    @property
    def noise_target(self) -> str | None:
        """Where the baseline run's requests go: --baseline, or in lockstep --secondary."""
        return self.secondary or self.baseline

    def validate(self) -> None:
        Target.parse(self.target)
        if self.baseline:
            Target.parse(self.baseline)
        self._validate_lockstep()
        if self.concurrency < 1:
            raise ReplayError(
                f"concurrency must be at least 1, got {self.concurrency}", field="concurrency"
            )
        if self.rate is not None and self.rate <= 0:
            raise ReplayError(
                f"rate must be positive (requests per second), got {self.rate}", field="rate"
            )
        if self.timeout <= 0:
            raise ReplayError(
                f"timeout must be positive (seconds), got {self.timeout}", field="timeout"
            )
        if self.sample is not None and not 0 < self.sample <= 1:
            raise ReplayError(
                f"sample must be a fraction in (0, 1], got {self.sample}", field="sample"
            )
        if self.shard is not None:
            parse_shard(self.shard)
        if self.transport not in TRANSPORTS:
            raise ReplayError(
                f"transport must be one of {', '.join(TRANSPORTS)}, got {self.transport!r}",
                field="transport",
            )
        if self.host not in HOST_MODES:
            raise ReplayError(
                f"host must be one of {', '.join(HOST_MODES)}, got {self.host!r}", field="host"
            )
        if self.order not in ORDERS:
            raise ReplayError(
                f"order must be one of {', '.join(ORDERS)}, got {self.order!r}", field="order"
            )
        check_or_raise(self.identity)
        for entry in self.chain_rules:
            try:
                ChainRule.from_stored(entry)
            except ValueError as exc:
                raise ReplayError(f"rules file: [[chains]] {entry}: {exc}", field="rules") from None
        if self.secrets:
            SecretBook.load(self.secrets, b"")  # a bad file or unset variable: before any run
        if not 1 <= self.max_body <= MAX_BODY_LIMIT:
            raise ReplayError(
                f"max_body must be a byte count from 1 to {MAX_BODY_LIMIT} (the store keeps "
                f"no larger body), got {self.max_body}",
                field="max_body",
            )
        for opt, pattern in (("only", self.only), ("exclude", self.exclude)):
            try:
                compile_pattern(pattern)
            except BadPattern as exc:
                raise ReplayError(f"bad {opt} regex: {exc}", field=opt) from None

    def _validate_lockstep(self) -> None:
        if self.secondary and not self.primary:
            raise ReplayError(
                "a secondary is a second old instance beside the primary: give --primary "
                "too, or use --baseline without lockstep",
                field="secondary",
            )
        if self.primary and self.baseline:
            raise ReplayError(
                "in lockstep (--primary) the second old instance is --secondary URL, not baseline",
                field="baseline",
            )
        for name in ("primary", "secondary"):
            url = getattr(self, name)
            if url:
                try:
                    Target.parse(url)
                except ReplayError as exc:
                    text = str(exc).replace("bad target URL", f"bad {name} URL", 1)
                    raise ReplayError(text, field=name) from None

    def stored(self) -> dict[str, Any]:
        """The config as kept in `runs.config`: header names only, never their values."""
        data = asdict(self)
        data["headers"] = [name for name, _ in self.headers]
        return data


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` -> (K, N), 1 <= K <= N; else ReplayError naming --shard."""
    k, _, n = text.partition("/")
    try:
        shard, shards = int(k), int(n)
    except ValueError:
        shard = shards = 0
    if not 1 <= shard <= shards:
        raise ReplayError(
            f"shard must be K/N with 1 <= K <= N (e.g. 2/4), got {text!r}", field="shard"
        )
    return shard, shards
