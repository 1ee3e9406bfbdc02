"""Noise, measured offline (Diffy's idea): what differs when the old service answers twice.

This module is the single definition of noise: ``shadowdiff noise`` (proposals), the gate's
noise-adjusted rates (``shadowdiff.analysis.gate``) and the report's noise flags and noise-
adjusted counts (``shadowdiff.report.model``) all read it, so they cannot disagree.

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

The criterion (``PathNoise.is_noise``): a (path, kind) is noise when

1. its kind is a value change (``value``, or ``header`` for a header value) -- a structural kind
(``missing``, ``extra``, ``type``, ``length``, ``order``, ``status``) is never noise, and no
rule is ever proposed for it; 2. the endpoint has at least ``min_samples`` exchanges in both
runs; 3. ``N > 0`` and ``N >= ratio * R``: the old service disagrees with itself at least
``ratio`` times as often as it disagrees with the new one. With ``ratio = 0.5`` a field the port
really changed (R = 1.0) is not noise even if the old service flips it now and then (N = 0.2).

A differing exchange is *noise-only* (``noise_only_exchanges``) when it has counting differences
and every one of them is noise; an error never is. Noise-adjusted counts (``noise_adjusted``)
are the differing exchanges (errors included) minus the noise-only ones, per endpoint.

Proposed rules are ``keys_only`` for a key, header or list element (values may vary, but the
node must still exist on both sides, so a dropped field keeps failing), and ``ignore`` for the
whole ``body`` (a text or binary body that varies has no key to keep). ``verify`` re-runs the
comparisons in memory with each proposed rule added and keeps only those that remove every
difference they were proposed for and introduce none.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

from shadowdiff.differ.compare import comparer_for
from shadowdiff.differ.normalize import lift_replayed
from shadowdiff.differ.paths import generalize_path
from shadowdiff.differ.rules import RuleSet, parse_rules
from shadowdiff.errors import NoiseError
from shadowdiff.store import Run, Store
from shadowdiff.tomlfile import append_table, new_document
from shadowdiff.vocabulary import STRUCTURAL_KINDS

__all__ = [
    "NOISE_KINDS",
    "STRUCTURAL_KINDS",
    "DEFAULT_MIN_SAMPLES",
    "DEFAULT_RATIO",
    "AdjustedCounts",
    "NoiseError",
    "NoiseReport",
    "PathNoise",
    "ProposedRule",
    "Verification",
    "VerifiedProposals",
    "counting_fields",
    "measure_noise",
    "noise_adjusted",
    "noise_only_exchanges",
    "propose_rules",
    "render_toml",
    "verify",
]

NOISE_KINDS: Final = frozenset({"value", "header"})
DEFAULT_MIN_SAMPLES: Final = 5
DEFAULT_RATIO: Final = 0.5

FieldKey = tuple[str, str]  # (generalized path, kind)


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
        return self.kind not in NOISE_KINDS

    def is_noise(
        self, min_samples: int = DEFAULT_MIN_SAMPLES, ratio: float = DEFAULT_RATIO
    ) -> bool:
        """The criterion of the module docstring (the only definition of noise)."""
        if self.structural or min(self.samples, self.baseline_samples) < min_samples:
            return False
        return self.old_count > 0 and self.n >= ratio * self.r

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
        """Whether a counting difference at (endpoint, generalized path, kind) is noise."""
        p = self.get(endpoint, path, kind)
        return p is not None and p.is_noise(min_samples, ratio)

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
        return {(p.endpoint, p.path, p.kind) for p in self.paths if p.is_noise(min_samples, ratio)}

    def lines(
        self, min_samples: int = DEFAULT_MIN_SAMPLES, ratio: float = DEFAULT_RATIO
    ) -> list[str]:
        """Print-ready: one line per (endpoint, path, kind), noise first."""
        out = [
            f"noise of run {self.run.name} (baseline {self.baseline.name}): "
            f"noise when N > 0 and N >= {ratio:g} x R, at least {min_samples} samples, "
            "value kinds only"
        ]
        ordered = sorted(
            self.paths,
            key=lambda p: (not p.is_noise(min_samples, ratio), p.endpoint, p.path, p.kind),
        )
        for p in ordered:
            if p.is_noise(min_samples, ratio):
                verdict = "noise"
            elif p.structural:
                verdict = "structural, never noise"
            elif min(p.samples, p.baseline_samples) < min_samples:
                verdict = "too few samples"
            else:
                verdict = "real difference"
            out.append(f"  {p.endpoint} | {p.path}:{p.kind}  {p.evidence}  -> {verdict}")
        if not self.paths:
            out.append("  no counting differences in either run")
        return out


def _resolve(store: Store, run_ref: str | int | Run) -> Run:
    run = run_ref if isinstance(run_ref, Run) else store.run(run_ref)
    if run.kind == "baseline" and run.paired_run_id is not None:
        run = store.run(run.paired_run_id)
    return run


def _samples(store: Store, run: Run) -> dict[str, int]:
    rows = store.db.execute(
        "SELECT endpoint, count(*) FROM diffs WHERE run_id = ? GROUP BY endpoint", [run.id]
    ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def _require_diffed(store: Store, run: Run, samples: dict[str, int]) -> None:
    if samples:
        return
    replays = store.db.execute("SELECT count(*) FROM replays WHERE run_id = ?", [run.id])
    if int(replays.fetchone()[0]):
        raise NoiseError(f"run {run.name!r} has not been diffed yet; run `shadowdiff diff`")
    raise NoiseError(f"run {run.name!r} has no replays")


def _iter_counting(store: Store, run_id: int) -> Iterator[tuple[int, str, frozenset[FieldKey]]]:
    """(exchange id, endpoint, counting (generalized path, kind)) per exchange, one query."""
    rows = store.db.execute(
        "SELECT exchange_id, endpoint, path, kind FROM diff_fields "
        "WHERE run_id = ? AND rule IS NULL ORDER BY exchange_id",
        [run_id],
    )
    current: int | None = None
    endpoint = ""
    keys: set[FieldKey] = set()
    for ex_id, ep, path, kind in rows:
        if ex_id != current:
            if current is not None:
                yield current, endpoint, frozenset(keys)
            current, endpoint, keys = int(ex_id), str(ep), set()
        keys.add((generalize_path(str(path)), str(kind)))
    if current is not None:
        yield current, endpoint, frozenset(keys)


def counting_fields(store: Store, run_id: int) -> Fields:
    """exchange id -> (endpoint, its counting (generalized path, kind)) for one run."""
    return {ex_id: (endpoint, keys) for ex_id, endpoint, keys in _iter_counting(store, run_id)}


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
    run = _resolve(store, candidate_run)
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
    fields = counting_fields(store, run.id)
    new = _tally((ex_id, ep, keys) for ex_id, (ep, keys) in fields.items())
    old = _tally(_iter_counting(store, baseline.id))
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
    different = {
        int(r[0])
        for r in store.db.execute(
            "SELECT exchange_id FROM diffs WHERE run_id = ? AND verdict = 'different'",
            [report.run.id],
        )
    }
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
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    rows = store.db.execute(
        "SELECT exchange_id, endpoint, verdict FROM diffs WHERE run_id = ?", [report.run.id]
    )
    for ex_id, endpoint, verdict in rows:
        counts = per[str(endpoint)]
        counts[0] += 1
        if verdict != "same":
            counts[1] += 1
            if int(ex_id) not in noise_only:
                counts[2] += 1
    return {ep: AdjustedCounts(ep, *per[ep]) for ep in sorted(per)}


# --------------------------------------------------------------------------- proposing


@dataclass(frozen=True)
class ProposedRule:
    """A rule proposed from noise, with its evidence."""

    name: str
    kind: str  # "keys_only" | "ignore"
    endpoint: str
    path: str
    diff_kind: str  # the kind of difference it absorbs: "value" | "header"
    r: float
    n: float
    samples: int
    reason: str

    @property
    def evidence(self) -> str:
        return f"R={self.r:.2f} N={self.n:.2f} samples={self.samples}"

    def table(self) -> dict[str, Any]:
        """The ``[[rules]]`` table of this rule."""
        return {
            "name": self.name,
            "kind": self.kind,
            "path": self.path,
            "endpoints": [self.endpoint],
            "reason": self.reason,
        }


def _rule_kind(path: str) -> str:
    return "ignore" if path == "body" else "keys_only"


def propose_rules(
    noise: NoiseReport, min_samples: int = DEFAULT_MIN_SAMPLES, ratio: float = DEFAULT_RATIO
) -> list[ProposedRule]:
    """One rule per noisy (endpoint, path) that differs old-vs-new; never a structural kind."""
    out: list[ProposedRule] = []
    seen: set[tuple[str, str]] = set()
    for p in noise.paths:
        if p.kind not in NOISE_KINDS or not p.is_noise(min_samples, ratio) or not p.new_count:
            continue
        if (p.endpoint, p.path) in seen:
            continue
        seen.add((p.endpoint, p.path))
        kind = _rule_kind(p.path)
        keep = (
            "the value varies between two calls of the old service"
            if kind == "ignore"
            else "values vary between two calls of the old service; the key must still exist "
            "on both sides"
        )
        reason = (
            f"noise measured by shadowdiff on run {noise.run.name}: differs old-vs-old in "
            f"{p.old_count}/{p.baseline_samples} requests (N={p.n:.2f}) and old-vs-new in "
            f"{p.new_count}/{p.samples} (R={p.r:.2f}); {keep}"
        )
        out.append(
            ProposedRule(
                name=f"noise: {p.path} ({p.endpoint})",
                kind=kind,
                endpoint=p.endpoint,
                path=p.path,
                diff_kind=p.kind,
                r=p.r,
                n=p.n,
                samples=p.samples,
                reason=reason,
            )
        )
    return out


def render_toml(proposals: Iterable[ProposedRule]) -> str:
    """A rules file (``[[rules]]`` tables) holding the proposals, evidence in comments."""
    doc = new_document(
        "Rules proposed by `shadowdiff noise` from old-vs-old differences (the baseline run).",
        "R: fraction of requests differing old-vs-new; N: old-vs-old. Review before use.",
    )
    for p in proposals:
        append_table(doc, "rules", p.table(), comments=[p.evidence])
    return doc.as_string()


# --------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class Verification:
    """What one proposed rule does to the run, re-compared in memory."""

    proposal: ProposedRule
    before: int  # exchanges of the candidate run differing at (path, kind) under base rules
    after: int  # ... with the proposal added
    exchanges_fixed: int  # differing before, same after
    baseline_removed: int  # baseline exchanges no longer differing at (path, kind)
    introduced: tuple[str, ...]  # counting (path:kind) the rule made appear (must be none)

    @property
    def removed(self) -> int:
        return self.before - self.after

    @property
    def kept(self) -> bool:
        return self.before > 0 and self.after == 0 and not self.introduced

    @property
    def why(self) -> str:
        if self.kept:
            return (
                f"removes {self.removed} diffs at {self.proposal.path}:{self.proposal.diff_kind}"
                f" ({self.exchanges_fixed} requests become same; baseline: "
                f"{self.baseline_removed} removed)"
            )
        if self.introduced:
            return f"rejected: introduces {', '.join(self.introduced)}"
        if self.before == 0:
            return "rejected: nothing to remove under the given rules"
        return f"rejected: leaves {self.after} of {self.before} diffs"


@dataclass
class VerifiedProposals:
    """The proposals that really remove their diffs, and what all of them together do."""

    kept: list[ProposedRule]
    checks: list[Verification]
    differing_before: int  # candidate exchanges of the concerned endpoints, base rules
    differing_after: int  # ... with every kept proposal
    baseline_before: int
    baseline_after: int
    endpoints: tuple[str, ...] = ()
    stored_differing: int = 0  # what the stored diffs say for those endpoints
    notes: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> list[Verification]:
        return [c for c in self.checks if not c.kept]

    def lines(self) -> list[str]:
        """Print-ready summary."""
        if not self.checks:
            return ["no rules proposed: nothing to verify"]
        out = [
            f"verified {len(self.kept)} of {len(self.checks)} proposed rules by re-comparing "
            f"{len(self.endpoints)} endpoint(s) in memory"
        ]
        for c in self.checks:
            mark = "keep" if c.kept else "drop"
            out.append(f"  [{mark}] {c.proposal.name}  {c.proposal.evidence}: {c.why}")
        out.append(
            f"  together: differing {self.differing_before} -> {self.differing_after} "
            f"(old vs new), {self.baseline_before} -> {self.baseline_after} (old vs old)"
        )
        out.extend(f"  note: {n}" for n in self.notes)
        return out


Pair = tuple[int, dict[str, Any], dict[str, Any]]


def _pairs(store: Store, run: Run, endpoints: set[str]) -> dict[str, list[Pair]]:
    """Lifted (recorded, replayed) responses of a run, for the given endpoints only."""
    replays = {rp.exchange_id: rp for rp in store.iter_replays(run.id)}
    upstream = store.session(run.session_id).upstream
    out: dict[str, list[Pair]] = defaultdict(list)
    for ex in store.iter_exchanges(run.session_id, ids=replays.keys()):
        if ex.endpoint not in endpoints or ex.id is None:
            continue
        rp = replays[ex.id]
        if rp.error is not None or ex.status is None:
            continue
        old, new = lift_replayed(ex, rp, target=run.target, upstream=upstream)
        out[ex.endpoint].append((ex.id, old, new))
    return out


def _compare_all(rules: RuleSet, endpoint: str, pairs: Sequence[Pair]) -> dict[int, set[FieldKey]]:
    """exchange id -> counting (generalized path, kind) of each differing pair."""
    comparer = comparer_for(rules)
    out: dict[int, set[FieldKey]] = {}
    for ex_id, old, new in pairs:
        result = comparer.compare(old, new, endpoint)
        if result.verdict != "same":
            out[ex_id] = {(generalize_path(f.path), f.kind) for f in result.counting}
    return out


def _with(base: RuleSet, proposals: Sequence[ProposedRule]) -> RuleSet:
    """Base rules plus proposals, parsed from their rendered TOML (exactly what a user gets)."""
    return base.merge(parse_rules(render_toml(proposals), "<noise proposals>", origin="noise"))


def _at(diffs: dict[int, set[FieldKey]], key: FieldKey) -> int:
    return sum(key in keys for keys in diffs.values())


def verify(
    store: Store,
    run: str | int | Run,
    base_rules: RuleSet,
    proposals: Sequence[ProposedRule],
) -> VerifiedProposals:
    """Re-compare the run (and its baseline) in memory with ``base_rules`` plus each proposal;
    keep the proposals that remove every diff they target and introduce none. Stored diffs are
    not touched."""
    cand = _resolve(store, run)
    baseline = store.baseline_of(cand)
    endpoints = {p.endpoint for p in proposals}
    pairs = _pairs(store, cand, endpoints)
    base_pairs = _pairs(store, baseline, endpoints) if baseline else {}
    before = {ep: _compare_all(base_rules, ep, pairs.get(ep, [])) for ep in endpoints}
    base_before = {ep: _compare_all(base_rules, ep, base_pairs.get(ep, [])) for ep in endpoints}
    checks: list[Verification] = []
    for p in proposals:
        rules = _with(base_rules, [p])
        key = (p.path, p.diff_kind)
        was, was_base = before[p.endpoint], base_before[p.endpoint]
        now = _compare_all(rules, p.endpoint, pairs.get(p.endpoint, []))
        now_base = _compare_all(rules, p.endpoint, base_pairs.get(p.endpoint, []))
        introduced = sorted(
            {f"{path}:{kind}" for ex_id, keys in now.items() for path, kind in keys}
            - {f"{path}:{kind}" for keys in was.values() for path, kind in keys}
        )
        checks.append(
            Verification(
                proposal=p,
                before=_at(was, key),
                after=_at(now, key),
                exchanges_fixed=len(set(was) - set(now)),
                baseline_removed=_at(was_base, key) - _at(now_base, key),
                introduced=tuple(introduced),
            )
        )
    kept = [c.proposal for c in checks if c.kept]
    together = _with(base_rules, kept)
    after = sum(len(_compare_all(together, ep, pairs.get(ep, []))) for ep in endpoints)
    base_after = sum(len(_compare_all(together, ep, base_pairs.get(ep, []))) for ep in endpoints)
    stored = _stored_differing(store, cand, endpoints)
    result = VerifiedProposals(
        kept=kept,
        checks=checks,
        differing_before=sum(len(v) for v in before.values()),
        differing_after=after,
        baseline_before=sum(len(v) for v in base_before.values()),
        baseline_after=base_after,
        endpoints=tuple(sorted(endpoints)),
        stored_differing=stored,
    )
    if stored != result.differing_before:
        result.notes.append(
            f"the stored diffs count {stored} differing requests in these endpoints, the given "
            f"rules {result.differing_before}: the run was diffed with other rules"
        )
    return result


def _stored_differing(store: Store, run: Run, endpoints: Iterable[str]) -> int:
    eps = sorted(endpoints)
    if not eps:
        return 0
    row = store.db.execute(
        "SELECT count(*) FROM diffs WHERE run_id = ? AND verdict = 'different' "
        f"AND endpoint IN ({', '.join('?' * len(eps))})",
        [run.id, *eps],
    ).fetchone()
    return int(row[0])
