"""Noise rules: proposing them from measured noise, writing them as TOML, verifying them.

What noise is, and how it is measured, is defined once in ``shadowdiff.analysis.noise_measure``
(re-exported here): ``shadowdiff noise``, the gate's noise-adjusted rates and the report's noise
flags all read that definition, so they cannot disagree.

Proposed rules are ``keys_only`` for a key, header or list element (values may vary, but the
node must still exist on both sides, so a dropped field keeps failing), and ``ignore`` for the
whole ``body`` (a text or binary body that varies has no key to keep). ``verify`` re-runs the
comparisons in memory with each proposed rule added and keeps only those that remove every
difference they were proposed for and introduce none.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from shadowdiff.analysis.noise_measure import (
    DEFAULT_MIN_SAMPLES,
    DEFAULT_RATIO,
    NOISE_KINDS,
    STRUCTURAL_KINDS,
    AdjustedCounts,
    FieldKey,
    NoiseError,
    NoiseReport,
    PathNoise,
    counting_fields,
    measure_noise,
    noise_adjusted,
    noise_only_exchanges,
    resolve_candidate,
)
from shadowdiff.analysis.pairs import RunPairs
from shadowdiff.differ.compare import comparer_for
from shadowdiff.differ.paths import generalize_path
from shadowdiff.differ.rules import RuleSet, parse_rules
from shadowdiff.store import Run, Store
from shadowdiff.tomlfile import append_table, new_document
from shadowdiff.vocabulary import RuleKind, Verdict

__all__ = [
    "DEFAULT_MIN_SAMPLES",
    "DEFAULT_RATIO",
    "NOISE_KINDS",
    "STRUCTURAL_KINDS",
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


def _rule_kind(path: str) -> RuleKind:
    return RuleKind.IGNORE if path == "body" else RuleKind.KEYS_ONLY


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
            if kind == RuleKind.IGNORE
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
    """Lifted (old, replayed) responses of a run, for the given endpoints only."""
    pairs = RunPairs(store, run)  # lockstep: old is the primary's answer
    out: dict[str, list[Pair]] = defaultdict(list)
    for ex in store.iter_exchanges(run.session_id, ids=pairs.replays.keys()):
        if ex.endpoint not in endpoints or ex.id is None or pairs.error(ex) is not None:
            continue
        old, new = pairs.lift(ex)
        out[ex.endpoint].append((ex.id, old, new))
    return out


def _compare_all(rules: RuleSet, endpoint: str, pairs: Sequence[Pair]) -> dict[int, set[FieldKey]]:
    """exchange id -> counting (generalized path, kind) of each differing pair."""
    comparer = comparer_for(rules)
    out: dict[int, set[FieldKey]] = {}
    for ex_id, old, new in pairs:
        result = comparer.compare(old, new, endpoint)
        if result.verdict != Verdict.SAME:
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
    cand = resolve_candidate(store, run)
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
    stored = store.count_different(cand.id, endpoints)
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
