"""Diff a stored run: lift each recorded and replayed response, compare, store the result.

Idempotent: recomputing a run replaces its `diffs`, `diff_fields` and `rule_hits` in one
transaction, its `agreement` figures (`shadowdiff.analysis.agreement`) in another, and then its
run-wide `findings` (`shadowdiff.analysis.findings`, which re-signs the diffs). A candidate
run's paired baseline run (old vs old) is diffed too, so noise can be measured offline. A run
with a reference run (lockstep: the candidate and the secondary reference the primary) is
diffed against that run's replayed answers instead of the recording's; an exchange whose
reference replay failed is verdict `error` of kind `primary: <its kind>`. The primary run
itself is diffed against the recording: how far the live old instance drifted from it. An
exchange the differ cannot handle (an unexpected exception while lifting or comparing it) gets
verdict `error` of kind `diff` (``diff: RecursionError: ...``); the rest of the run is diffed as
usual. The recorded requests' bodies are never read: the differ compares answers.

Volatile values (``ChangeClass.VOLATILE``: ids, tokens, timestamps of the same shape on both
sides) are decided here, once, and stored, so report and gate agree (``VolatilePolicy``, in
``analysis/volatile_policy.py``); those not counted are stored with the rule
``VOLATILE_MARK``. A baseline run confirms them, so it is diffed before its candidate.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from shadowdiff.analysis.agreement import AgreementCollector
from shadowdiff.analysis.findings import FieldPresence, Finding, apply_findings
from shadowdiff.analysis.pairs import RunPairs
from shadowdiff.analysis.spec_check import NEW, OLD, SpecCheck, SpecChecker
from shadowdiff.analysis.volatile_policy import COUNT_ALL, VolatilePolicy, volatile_policy
from shadowdiff.differ import (
    Comparison,
    RuleSet,
    comparer_for,
    find_rules_file,
    generalize_path,
    hold_volatile,
    load_preset,
    load_rules,
)
from shadowdiff.differ.fields import MAX_SHOWN, PLAIN, PendingFields, part_of, shown
from shadowdiff.records import Exchange, error_kind
from shadowdiff.store import DiffRow, FieldRow, RuleHitRow, Run, Store
from shadowdiff.vocabulary import DiffKind, RunKind, Verdict

if TYPE_CHECKING:
    from shadowdiff.openapi import Spec

DEFAULT_PRESET = "flask-to-fastapi"
MAX_VALUE_CHARS = 2000
MAX_FAILURES_SHOWN = 5

_to_json = orjson.dumps
_row = tuple.__new__  # a row of a NamedTuple class from a tuple, without its Python __new__
_EXTRA = DiffKind.EXTRA
_MISSING = DiffKind.MISSING


@dataclass
class DiffSummary:
    run: Run
    total: int = 0
    same: int = 0
    different: int = 0
    errors: int = 0
    signatures: Counter[str] = field(default_factory=Counter)
    rule_hits: dict[str, int] = field(default_factory=dict)
    unused_rules: list[str] = field(default_factory=list)
    spec: SpecCheck | None = None  # when diffed with an OpenAPI spec
    failures: list[str] = field(default_factory=list)  # exchanges the differ failed on
    primary: DiffSummary | None = None  # lockstep: the primary run against the recording
    findings: list[Finding] = field(default_factory=list)  # run-wide (analysis.findings)
    volatile: int = 0  # volatile differences not counted (VolatilePolicy)

    @property
    def diff_rate(self) -> float:
        return self.different / self.total if self.total else 0.0


def load_ruleset(
    rules_file: Path | None, *, preset: bool = True, search_dir: Path | None = None
) -> tuple[RuleSet, list[str]]:
    """The rules in force: the preset (unless disabled), then the rules file.

    Without `rules_file`, `shadowdiff.toml` or `[tool.shadowdiff]` in pyproject.toml is
    looked up from `search_dir`. Returns the rules and the sources they came from.
    """
    rules = load_preset(DEFAULT_PRESET) if preset else RuleSet()
    sources = [f"preset:{DEFAULT_PRESET}"] if preset else []
    path = rules_file or (find_rules_file(search_dir) if search_dir else None)
    if path is not None:
        rules = rules.merge(load_rules(path))
        sources.append(str(path))
    return rules, sources


def _json_value(value: Any, absent: bool = False) -> str | None:
    """A side as stored: JSON text (`null` for a JSON null); None only for an absent side."""
    if absent:
        return None
    kind = type(value)
    if kind is int:
        text = str(value)
    elif kind is str:
        try:  # the same text as json.dumps(ensure_ascii=False), several times faster
            text = orjson.dumps(value).decode()
        except TypeError:  # a lone surrogate
            text = json.dumps(value, ensure_ascii=False)
    elif kind is float and value - value == 0:  # finite: json.dumps writes its repr
        text = float.__repr__(value)
    elif value is None:
        return "null"
    else:
        text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE_CHARS else json.dumps(text[:MAX_VALUE_CHARS] + "…")


def _absorbed_side(value: Any, absent: bool) -> str | None:
    """``_json_value`` of what a FieldDiff holds for a raw absorbed value (``shown``), in one
    call: a string short enough to be shown whole (a header's value) straight to its text."""
    if absent:
        return None
    if type(value) is str and len(value) <= MAX_SHOWN:
        try:
            text = _to_json(value).decode()
        except TypeError:  # a lone surrogate
            return _json_value(value)
        return text if len(text) <= MAX_VALUE_CHARS else _json_value(value)
    return _json_value(value if type(value) in PLAIN else shown(value))


def differ_failure(exc: BaseException) -> str:
    """The error text of an exchange the differ could not handle: ``diff: Kind: detail``
    (its error kind is ``diff``), so one bad body is a verdict ``error``, never a lost run."""
    detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"diff: {type(exc).__name__}" + (f": {detail}" if detail else "")


def _kind_of(error: str) -> str:
    """An error's kind; a reference run's failure keeps its own (``primary: connect``)."""
    kind = error_kind(error)
    if kind in (RunKind.PRIMARY, RunKind.BASELINE, RunKind.CANDIDATE):
        return f"{kind}: {error_kind(error.split(':', 1)[1])}"
    return kind


def _error_signature(endpoint: str, kind: str) -> tuple[str, str]:
    text = f"{endpoint} | error:{kind}"
    return hashlib.sha1(text.encode()).hexdigest()[:12], text


def _field_rows(run_id: int, exchange_id: int, endpoint: str, result: Comparison) -> list[FieldRow]:
    """Counting differences one row each, at their exact path. What rules absorbed is kept
    once per (rule, general path, kind) with its first example: a tolerance rule over
    1,000 predictions is one row, not 1,000 (rule_hits keeps the exact counts). Every row
    carries its concrete `path` and its `general_path`.

    Rows are built as plain tuples of `FieldRow`'s class (no NamedTuple call per row), and
    absorbed differences the differ left pending (`PendingFields`) straight from its
    (path, kind, old, new, rule) entries, with the values a FieldDiff would hold."""
    rows: list[FieldRow] = []
    append = rows.append
    pending = result.__dict__["_fields"]
    if type(pending) is PendingFields:
        counting, raw, held = pending.counting, pending.absorbed, pending.held
    else:
        counting, raw = result.counting, []
        held = result.absorbed
    for f in counting:
        kind = f.kind
        append(_row(FieldRow, (run_id, exchange_id, endpoint, f.part, f.path,
                    generalize_path(f.path), kind, _json_value(f.left, kind == _EXTRA),
                    _json_value(f.right, kind == _MISSING), None, f.change)))  # fmt: skip
    if len(raw) + len(held) == 0:
        return rows
    seen: set[tuple[str | None, str, str]] = set()
    for path, kind, o, n, rule in raw:
        name: str | None = rule.name
        key = (name, generalize_path(path), kind)
        if key not in seen:
            seen.add(key)
            append(_row(FieldRow, (run_id, exchange_id, endpoint, part_of(path), path, key[1],
                        kind, _absorbed_side(o, kind == _EXTRA),
                        _absorbed_side(n, kind == _MISSING), name, None)))  # fmt: skip
    for f in held:
        kind = f.kind
        key = (f.rule, generalize_path(f.path), kind)
        if key not in seen:
            seen.add(key)
            append(_row(FieldRow, (run_id, exchange_id, endpoint, f.part, f.path, key[1], kind,
                        _json_value(f.left, kind == _EXTRA),
                        _json_value(f.right, kind == _MISSING), f.rule, f.change)))  # fmt: skip
    return rows


@dataclass
class _RunDiff:
    """What diffing one run collects before it is stored."""

    summary: DiffSummary
    hits: Counter[str] = field(default_factory=Counter)
    diffs: list[DiffRow] = field(default_factory=list)
    fields: list[FieldRow] = field(default_factory=list)
    presence: FieldPresence = field(default_factory=FieldPresence)

    def error(self, run_id: int, ex: Exchange, error: str, label: str | None = None) -> None:
        """A verdict `error`; `label` (a differ failure's exception type) joins its kind in
        the signature, and the error is kept for the summary."""
        assert ex.id is not None and ex.endpoint is not None
        kind = _kind_of(error)
        sig, text = _error_signature(ex.endpoint, f"{kind}: {label}" if label else kind)
        if label is not None and len(self.summary.failures) < MAX_FAILURES_SHOWN:
            self.summary.failures.append(f"{ex.endpoint} (exchange {ex.id}): {error}")
        self.summary.errors += 1
        self.summary.signatures[text] += 1
        self.diffs.append(DiffRow(run_id, ex.id, ex.endpoint, Verdict.ERROR, sig, text, 0, kind))

    def compared(self, run_id: int, ex: Exchange, result: Comparison) -> None:
        assert ex.id is not None and ex.endpoint is not None
        hits = self.hits  # Counter.update, without its Mapping check per exchange
        for name, n in result.rule_hits.items():
            hits[name] = hits.get(name, 0) + n
        if result.verdict == Verdict.SAME:
            self.summary.same += 1
        else:
            self.summary.different += 1
            self.summary.signatures[result.signature_text or ""] += 1
        rows = _field_rows(run_id, ex.id, ex.endpoint, result)
        counted = len(result.counting)
        self.diffs.append(_row(DiffRow, (run_id, ex.id, ex.endpoint, result.verdict,
                          result.signature, result.signature_text, counted, None)))  # fmt: skip
        self.fields.extend(rows)


def diff_one_run(
    store: Store,
    run: Run,
    rules: RuleSet,
    progress: Callable[[int], None] | None = None,
    spec: Spec | None = None,
    volatile: VolatilePolicy = COUNT_ALL,
) -> DiffSummary:
    """Compare every replayed response of `run` with the recorded one; store the results.
    `volatile` decides which volatile differences do not count (`VolatilePolicy`).

    With a spec, each exchange's endpoint is its operation's template (the stored guess
    when it matches none), and both responses are validated against the spec.
    (`shadowdiff.analysis.parallel` does the same on worker processes.)"""
    job = _DiffJob(store, run, rules, spec, volatile=volatile)
    exchanges = store.iter_exchanges(run.session_id, ids=job.replays.keys(), request_bodies=False)
    for ex in exchanges:
        job.one(ex)
        if progress is not None:
            progress(1)
    job.catch_up()
    return job.finish()


class _DiffJob:
    """One run being diffed: the comparer, the collectors, and what is stored at the end."""

    def __init__(
        self,
        store: Store,
        run: Run,
        rules: RuleSet,
        spec: Spec | None,
        ids: list[int] | None = None,
        volatile: VolatilePolicy = COUNT_ALL,
    ) -> None:
        self.store, self.run, self.rules, self.volatile = store, run, rules, volatile
        self.comparer = comparer_for(rules)
        self.pairs = RunPairs(store, run, ids)  # lockstep: the primary answers as old
        self.replays = self.pairs.replays
        self.acc = _RunDiff(DiffSummary(run=run))
        self.agreement = AgreementCollector(rules)
        self.checker = SpecChecker(spec, run.id) if spec is not None else None

    def _lift(self, ex: Exchange) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.pairs.lift(ex)

    def one(self, ex: Exchange) -> None:
        """Diff one exchange; an exception it raises costs only that exchange."""
        assert ex.id is not None and ex.endpoint is not None
        guessed = ex.endpoint
        if self.checker is not None:
            ex.endpoint = self.checker.endpoint(ex)
        self.acc.summary.total += 1
        error = self.pairs.error(ex)
        trees: dict[str, dict[str, Any]] = {}
        if error is not None:
            self.acc.error(self.run.id, ex, error)
        else:
            try:
                old, new = self._lift(ex)
                result = self._compare(ex, ex.endpoint, old, new)
            except Exception as exc:  # noqa: BLE001 - one exchange never costs the run
                self.acc.error(self.run.id, ex, differ_failure(exc), label=type(exc).__name__)
            else:
                self.acc.compared(self.run.id, ex, result)
                self.acc.presence.add(ex.endpoint, old, new)
                self.agreement.add(ex.id, ex.endpoint, old, new, result)
                trees = {OLD: old, NEW: new}
        if self.checker is not None:
            self.checker.add(ex, guessed, trees)

    def _compare(
        self, ex: Exchange, endpoint: str, old: dict[str, Any], new: dict[str, Any]
    ) -> Comparison:
        """Compare one pair; volatile differences the policy holds stop counting."""
        times = self.pairs.times(ex)
        result = self.comparer.compare(old, new, endpoint, times=times)
        result, held = hold_volatile(result, endpoint, lambda f: self.volatile.holds(endpoint, f))
        self.acc.summary.volatile += held
        return result

    def catch_up(self) -> None:
        """Count the equal values of paths that first differed late (agreement's denominator)."""
        pending = self.agreement.pending()
        if not pending:
            return
        for ex in self.store.iter_exchanges(self.run.session_id, ids=pending, request_bodies=False):
            assert ex.id is not None and ex.endpoint is not None
            if self.checker is not None:
                ex.endpoint = self.checker.endpoint(ex)
            try:
                old, new = self._lift(ex)
            except Exception:  # noqa: BLE001, S112 - it was counted as a differ failure
                continue
            self.agreement.catch_up(ex.id, ex.endpoint, old, new)

    def rule_rows(self) -> list[RuleHitRow]:
        """Every rule's hits so far, as store rows."""
        hits = self.acc.hits
        return [
            RuleHitRow(self.run.id, r.name, r.kind, r.origin, r.reason, hits.get(r.name, 0))
            for r in self.rules
        ]

    def finish(self, results_stored: bool = False) -> DiffSummary:
        """Store the results (unless `results_stored`: by `rule_rows` and the store's
        `replace_results` already), the agreement figures and the spec check."""
        run, acc, rules = self.run, self.acc, self.rules
        if self.checker is not None:
            self.checker.store(self.store)
            acc.summary.spec = self.checker.result()
        else:
            self.store.replace_spec_results(run.id, None, [], [])
        hits = acc.hits
        if not results_stored:
            self.store.replace_results(run.id, acc.diffs, acc.fields, self.rule_rows())
        self.store.replace_agreement(run.id, self.agreement.rows(run.id))
        acc.summary.findings = apply_findings(self.store, run.id, acc.presence)
        if acc.summary.findings:  # signatures re-signed without the run-wide keys
            acc.summary.signatures = Counter(
                {text: n for _, text, n in self.store.signature_counts(run.id)}
            )
        acc.summary.rule_hits = {r.name: hits.get(r.name, 0) for r in rules}
        acc.summary.unused_rules = [r.name for r in rules.unused(hits)]
        return acc.summary


def diff_run(
    store: Store,
    run_ref: str | int,
    rules: RuleSet,
    progress: Callable[[int], None] | None = None,
    spec: Spec | None = None,
    count_volatile: bool = False,
) -> tuple[DiffSummary, DiffSummary | None]:
    """Diff a candidate run and, when it has one, its baseline run (for noise; first, since
    it confirms volatile values); with an OpenAPI spec, group by its templates and validate
    responses against it. In lockstep the primary run is diffed against the recording first
    (the candidate summary's `primary`, its drift), where volatile values do not count: a
    timestamp or a fresh id is no sign of another state."""
    run = store.candidate_of(store.run(run_ref))
    primary_run = store.primary_of(run)
    primary = None
    if primary_run is not None:
        drift = VolatilePolicy.drift(count_volatile)
        primary = diff_one_run(store, primary_run, rules, progress, spec, drift)
    baseline_run = store.baseline_of(run)
    baseline = diff_one_run(store, baseline_run, rules, progress, spec) if baseline_run else None
    policy = volatile_policy(store, baseline_run, count_volatile)
    candidate = diff_one_run(store, run, rules, progress, spec, policy)
    candidate.primary = primary
    return candidate, baseline


def count_replays(store: Store, run: Run) -> int:
    """How many pairs `diff_run` will compare (candidate plus baseline, and primary)."""
    others = [r.id for r in (store.baseline_of(run), store.primary_of(run)) if r is not None]
    return store.count_replays(run.id, *others)
