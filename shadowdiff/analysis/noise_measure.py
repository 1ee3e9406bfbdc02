"""Noise, measured offline (Diffy's idea): what differs when the old service answers twice.

This module is the single definition of noise: ``shadowdiff noise`` (proposals, in
``shadowdiff.analysis.noise``), the gate's noise-adjusted rates (``shadowdiff.analysis.gate``)
and the report's noise flags and noise-adjusted counts (``shadowdiff.report.model``) all read
it, so they cannot disagree.

A candidate run (old vs new) with a paired baseline run (old vs old, diffed with the same rules
by ``diff_run``) gives, per endpoint and per generalized field path and kind
(``body.items[3].id`` -> ``body.items[*].id``; an exchange counts once per generalized path):

* ``R``: the fraction of the endpoint's exchanges where old-vs-new differs there; * ``N``: the
fraction where old-vs-old differs there.

Only *counting* differences are measured, in both runs: one a rule absorbed is not a difference,
neither in R nor in N. In R, because an absorbed difference is already handled: it must not
produce a proposal, nor dilute N/R for what still counts. In N, because both runs are diffed
with the same rules, so a (path, kind) absorbed old-vs-old yet counting old-vs-new only arises
where a rule draws a line the new service crosses (a ``tolerance`` it exceeds): counting the
absorbed old-vs-old jitter would let a rule written for 1e-9 float jitter explain away a real
change of 0.1. So noise explains a counting difference only with counting old-vs-old differences
at the same (endpoint, path, kind).

The criterion (``noise_pool.meets``), judged on evidence *pooled across endpoints*
(``shadowdiff.analysis.noise_pool``): a (path, kind) is noise when

1. its kind may be noise: a value change (``value``, or ``header`` for a header value), or a
presence kind (``missing``, ``extra``) -- presence only when old-vs-old shows it too (N > 0,
below); ``type``, ``status``, a list's ``length`` or ``order`` are never noise; 2. the pool has
at least ``min_samples`` exchanges in both runs; 3. ``N > 0`` and ``N >= ratio * R``: the old
service disagrees with itself at least ``ratio`` times as often as it disagrees with the new
one. With ``ratio = 0.5`` a field the port really changed (R = 1.0) is not noise even if the old
service flips it now and then (N = 0.2).

The pool of a (path, kind) is every endpoint where it differs in either run, except those that
*dissent*: an endpoint where old-vs-old never differs at the path over at least
``min_samples`` exchanges while old-vs-new differs there at least ``min_samples`` times keeps
its own verdict (not noise). ``NoiseReport.is_noise(endpoint, path, kind)``
is true when the pool is noise and the endpoint is in it.

Drift is no evidence: without a primary, a baseline exchange whose status disagrees with the
recording (``shadowdiff.analysis.drift``: the old service's state or environment is not the
recording's) is left out of the baseline's samples and counts, so state never passes for noise.

A differing exchange is *noise-only* (``noise_only_exchanges``) when it has counting differences
and every one of them is noise; an error never is. Noise-adjusted counts (``noise_adjusted``)
are the differing exchanges (errors included) minus the noise-only ones, per endpoint.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Final

from shadowdiff.analysis.drift import drifted_ids
from shadowdiff.analysis.noise_pool import (
    NOISE_KINDS,
    PRESENCE,
    PooledNoise,
    family,
    meets,
    pool_noise,
)
from shadowdiff.errors import NoiseError
from shadowdiff.store import Run, Store
from shadowdiff.vocabulary import STRUCTURAL_KINDS, Verdict

__all__ = [
    "DEFAULT_MIN_SAMPLES",
    "DEFAULT_RATIO",
    "NOISE_KINDS",
    "STRUCTURAL_KINDS",
    "AdjustedCounts",
    "NoiseError",
    "NoiseReport",
    "PathNoise",
    "PooledNoise",
    "counting_fields",
    "measure_noise",
    "noise_adjusted",
    "noise_only_exchanges",
    "old_vs_old_keys",
    "resolve_candidate",
]

DEFAULT_MIN_SAMPLES: Final = 5
DEFAULT_RATIO: Final = 0.5

FieldKey = tuple[str, str]  # (general path, kind)


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class PathNoise:
    """How often one (endpoint, generalized path, kind) differs old-vs-new and old-vs-old."""

    endpoint: str
    path: str
    kind: str
    samples: int  # exchanges of the endpoint in the candidate run
    new_count: int  # of those, how many differ here old-vs-new
    baseline_samples: int  # exchanges of the endpoint in the baseline run
    old_count: int  # of those, how many differ here old-vs-old

    @property
    def r(self) -> float:
        return self.new_count / self.samples if self.samples else 0.0

    @property
    def n(self) -> float:
        return self.old_count / self.baseline_samples if self.baseline_samples else 0.0

    @property
    def structural(self) -> bool:
        return self.kind in STRUCTURAL_KINDS

    @property
    def value_change(self) -> bool:
        return self.kind in NOISE_KINDS

    def is_noise(
        self, min_samples: int = DEFAULT_MIN_SAMPLES, ratio: float = DEFAULT_RATIO
    ) -> bool:
        """This endpoint's own counts meet the criterion (``noise_pool.meets``); whether a
        difference here is noise is the pooled ``NoiseReport.is_noise``."""
        return meets(self, min_samples, ratio)

    @property
    def evidence(self) -> str:
        return f"R={self.r:.2f} N={self.n:.2f} samples={self.samples}"


Fields = dict[int, tuple[str, frozenset[FieldKey]]]  # exchange id -> (endpoint, counting keys)


@dataclass
class NoiseReport:
    """Per endpoint and (path, kind): R and N. ``samples`` maps endpoint -> exchanges.

    ``fields`` holds the candidate run's counting (path, kind) per differing exchange, as read
    by ``measure_noise`` (``noise_only_exchanges`` reuses it instead of reading them again).
    """

    run: Run
    baseline: Run
    samples: dict[str, int]
    paths: list[PathNoise]
    fields: Fields | None = field(default=None, repr=False, compare=False)

    @cached_property
    def _index(self) -> dict[tuple[str, str, str], PathNoise]:
        return {(p.endpoint, p.path, p.kind): p for p in self.paths}

    @cached_property
    def _pools(self) -> dict[tuple[int, float], dict[tuple[str, str], PooledNoise]]:
        return {}

    def pooled(
        self, min_samples: int = DEFAULT_MIN_SAMPLES, ratio: float = DEFAULT_RATIO
    ) -> dict[tuple[str, str], PooledNoise]:
        """(path, kind) -> its evidence pooled across endpoints, and verdict."""
        key = (min_samples, ratio)
        if key not in self._pools:
            self._pools[key] = pool_noise(self.paths, min_samples, ratio)
        return self._pools[key]

    def get(self, endpoint: str, path: str, kind: str) -> PathNoise | None:
        """R and N of one (endpoint, generalized path, kind); None when it never counts."""
        return self._index.get((endpoint, path, kind))

    def is_noise(
        self,
        endpoint: str,
        path: str,
        kind: str,
        min_samples: int = DEFAULT_MIN_SAMPLES,
        ratio: float = DEFAULT_RATIO,
    ) -> bool:
        """Whether a counting difference at (endpoint, generalized path, kind) is noise: its
        pool is noise and the endpoint does not dissent."""
        pool = self.pooled(min_samples, ratio).get((path, kind))
        return pool is not None and pool.noise and endpoint in pool.endpoints

    def all_noise(
        self,
        endpoint: str,
        keys: Iterable[FieldKey],
        min_samples: int = DEFAULT_MIN_SAMPLES,
        ratio: float = DEFAULT_RATIO,
    ) -> bool:
        """Whether an exchange differing at these counting (path, kind) is noise-only."""
        keys = list(keys)
        return bool(keys) and all(
            self.is_noise(endpoint, path, kind, min_samples, ratio) for path, kind in keys
        )

    def noise_keys(
        self, min_samples: int = DEFAULT_MIN_SAMPLES, ratio: float = DEFAULT_RATIO
    ) -> set[tuple[str, str, str]]:
        """(endpoint, path, kind) that are noise under the criterion."""
        return {
            (p.endpoint, p.path, p.kind)
            for p in self.paths
            if self.is_noise(p.endpoint, p.path, p.kind, min_samples, ratio)
        }

    def lines(
        self, min_samples: int = DEFAULT_MIN_SAMPLES, ratio: float = DEFAULT_RATIO
    ) -> list[str]:
        """Print-ready: one line per pooled (path, kind), noise first, then its endpoints."""
        out = [
            f"noise of run {self.run.name} (baseline {self.baseline.name}): noise when "
            f"N > 0 and N >= {ratio:g} x R over the endpoints pooled, at least {min_samples} "
            "samples; value and presence kinds only"
        ]
        pools = {(p.path, p.kind): p for p in self.pooled(min_samples, ratio).values()}
        for (path, kind), pool in sorted(pools.items(), key=lambda kv: (not kv[1].noise, kv[0])):
            out.append(f"  {path}:{kind}  {pool.evidence}  -> {_verdict(pool, min_samples)}")
            for p in sorted(self.paths, key=lambda p: (p.endpoint, p.kind)):
                if (p.path, family(p.kind)) == (path, kind):
                    mine = "dissents: real difference" if p.endpoint in pool.dissenting else ""
                    line = f"      {p.endpoint} {p.kind}  {p.evidence}  {mine}"
                    out.append(line.rstrip())
        if not self.paths:
            out.append("  no counting differences in either run")
        return out


def _verdict(pool: PooledNoise, min_samples: int) -> str:
    if pool.noise:
        return "noise"
    if pool.kind in STRUCTURAL_KINDS and pool.kind not in NOISE_KINDS:
        return "structural, never noise"
    if pool.kind not in NOISE_KINDS and pool.kind != PRESENCE:
        return "not a value or presence change, never noise"
    if not pool.endpoints:
        return "real difference"
    if min(pool.samples, pool.baseline_samples) < min_samples:
        return "too few samples"
    if not pool.old_count:
        return "real difference (old vs old never shows it)"
    return "real difference"


def resolve_candidate(store: Store, run_ref: str | int | Run) -> Run:
    """The candidate run named (a baseline run's candidate when a baseline run is named)."""
    return store.candidate_of(run_ref if isinstance(run_ref, Run) else store.run(run_ref))


def _samples(store: Store, run: Run) -> dict[str, int]:
    return store.diffed_per_endpoint(run.id)


def _require_diffed(store: Store, run: Run, samples: dict[str, int]) -> None:
    if samples:
        return
    if store.count_replays(run.id):
        raise NoiseError(f"run {run.name!r} has not been diffed yet; run `shadowdiff diff`")
    raise NoiseError(f"run {run.name!r} has no replays")


def counting_fields(store: Store, run_id: int) -> Fields:
    """exchange id -> (endpoint, its counting (general path, kind)) for one run."""
    return {ex_id: (endpoint, keys) for ex_id, endpoint, keys in store.iter_counting(run_id)}


def _tally(
    fields: Iterable[tuple[int, str, frozenset[FieldKey]]],
) -> Counter[tuple[str, str, str]]:
    """Exchanges per (endpoint, path, kind) that differ there (each exchange once)."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for _, endpoint, keys in fields:
        counts.update((endpoint, path, kind) for path, kind in keys)
    return counts


def measure_noise(store: Store, candidate_run: str | int | Run) -> NoiseReport:
    """R and N per endpoint and (path, kind) of a candidate run with its baseline run.

    Raises NoiseError when the run has no baseline run, or either run has not been diffed.
    """
    run = resolve_candidate(store, candidate_run)
    baseline = store.baseline_of(run)
    if baseline is None:
        raise NoiseError(
            f"run {run.name!r} has no baseline run; replay with --baseline OLD_URL to measure "
            "noise (old vs old)"
        )
    samples = _samples(store, run)
    _require_diffed(store, run, samples)
    base_samples = _samples(store, baseline)
    _require_diffed(store, baseline, base_samples)
    drifted = drifted_ids(store, baseline)  # state, not noise: no evidence
    for endpoint in drifted.values():
        base_samples[endpoint] = base_samples.get(endpoint, 0) - 1
    fields = counting_fields(store, run.id)
    new = _tally((ex_id, ep, keys) for ex_id, (ep, keys) in fields.items())
    old = store.counting_tally(baseline.id, drifted)  # in SQL: the baseline is all noise
    paths = [
        PathNoise(
            endpoint=key[0],
            path=key[1],
            kind=key[2],
            samples=samples.get(key[0], 0),
            new_count=new.get(key, 0),
            baseline_samples=base_samples.get(key[0], 0),
            old_count=old.get(key, 0),
        )
        for key in sorted(set(new) | set(old))
    ]
    return NoiseReport(run=run, baseline=baseline, samples=samples, paths=paths, fields=fields)


def old_vs_old_keys(store: Store, baseline: Run) -> frozenset[tuple[str, str, str]]:
    """(endpoint, general path, kind) where the baseline run (old vs old) has a counting
    difference. A volatile difference of the candidate there is noise, with no sample
    minimum: the shape of its values already says why it differs (``analysis/diffrun.py``)."""
    return store.counting_keys(baseline.id)


# --------------------------------------------------------------------------- adjusted counts


@dataclass(frozen=True)
class AdjustedCounts:
    """One endpoint: requests, differing (errors included), and differing minus noise-only."""

    endpoint: str
    requests: int
    differing: int
    adjusted: int

    @property
    def noise_only(self) -> int:
        return self.differing - self.adjusted


def noise_only_exchanges(
    store: Store,
    report: NoiseReport,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    ratio: float = DEFAULT_RATIO,
) -> set[int]:
    """Differing exchanges of the run all of whose counting (path, kind) are noise."""
    fields = report.fields if report.fields is not None else counting_fields(store, report.run.id)
    different = store.different_ids(report.run.id)
    return {
        ex_id
        for ex_id, (endpoint, keys) in fields.items()
        if ex_id in different and report.all_noise(endpoint, keys, min_samples, ratio)
    }


def noise_adjusted(
    store: Store,
    candidate_run: str | int | Run,
    *,
    noise: NoiseReport | None = None,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    ratio: float = DEFAULT_RATIO,
) -> dict[str, AdjustedCounts]:
    """Per endpoint: requests, differing, and differing once noise-only exchanges are dropped.

    ``noise``: the run's ``measure_noise`` result when the caller already has it. Raises
    NoiseError when the run has no diffed baseline run.
    """
    report = noise if noise is not None else measure_noise(store, candidate_run)
    noise_only = noise_only_exchanges(store, report, min_samples, ratio)
    fields = report.fields if report.fields is not None else counting_fields(store, report.run.id)
    noise_per: Counter[str] = Counter(fields[ex_id][0] for ex_id in noise_only)
    out: dict[str, AdjustedCounts] = {}
    for ep, verdicts in sorted(store.verdicts_per_endpoint(report.run.id).items()):
        differing = verdicts[Verdict.DIFFERENT] + verdicts[Verdict.ERROR]
        out[ep] = AdjustedCounts(ep, sum(verdicts.values()), differing, differing - noise_per[ep])
    return out
