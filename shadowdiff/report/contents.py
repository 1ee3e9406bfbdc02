"""What a report holds about a run, as plain dataclasses (no reading, no rendering).

`shadowdiff.report.model.build_report` fills them from the store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from shadowdiff.differ.ruleset import from_preset
from shadowdiff.report.body_view import BodyView
from shadowdiff.report.latency import Latency
from shadowdiff.vocabulary import Verdict

if TYPE_CHECKING:
    from shadowdiff.analysis.drift import Drift
    from shadowdiff.analysis.spec_check import SpecCheck


# ------------------------------------------------------------------------------ the model
@dataclass(frozen=True)
class FieldCount:
    """A (generalized) field path that differs, and in how many requests."""

    part: str
    path: str  # general path: body.predictions[*]
    kind: str
    requests: int
    noise: bool = False  # noise under shadowdiff.analysis.noise (only with a baseline)


@dataclass(frozen=True)
class AbsorbedRule:
    """The differences one rule absorbed on an endpoint."""

    rule: str
    requests: int
    fields: list[FieldCount]


@dataclass(frozen=True)
class EndpointReport:
    endpoint: str
    requests: int
    compared: int
    same: int
    different: int
    errors: int
    diff_rate: float
    different_adjusted: int | None  # `different` minus noise-only requests (with a baseline)
    latency: Latency  # old vs new on the run's basis (see shadowdiff.analysis.latency)
    fields: list[FieldCount]  # counting differences
    absorbed: list[AbsorbedRule]  # differences rules absorbed, per rule
    signatures: list[str]  # signature texts seen on this endpoint, most frequent first


@dataclass(frozen=True)
class FieldValue:
    """One counting difference of a sample, values as stored (JSON text)."""

    part: str
    path: str  # concrete: body.predictions[3]
    kind: str
    old: str | None
    new: str | None
    change: str | None = None  # its change class (NULL on rows diffed before schema 5)

    @property
    def label(self) -> str:
        """``kind/class`` (``value/affix``, ``missing/null``); the kind alone where the class
        adds nothing (a plain absent key) or is unknown (rows from before schema 5)."""
        if self.change is None or self.change == "absent":
            return self.kind
        return f"{self.kind}/{self.change}"


@dataclass(frozen=True)
class Sample:
    exchange_id: int
    request: str  # METHOD /path?query
    old: BodyView
    new: BodyView
    fields: list[FieldValue]


@dataclass(frozen=True)
class FindingReport:
    """A run-wide finding (``shadowdiff.analysis.findings``): shown once, before signatures."""

    finding_id: str
    text: str
    items: list[str]  # `path:kind` of its keys
    endpoints: int  # where it differs
    endpoints_with_field: int  # where its field exists
    exchanges: int
    structural: bool  # a key of a structural kind (fails the gate unless accepted)
    samples: list[FieldValue]  # one old/new per key
    noise: bool | None  # every key is noise (pooled) on every endpoint (None: no baseline)

    @property
    def coverage(self) -> str:
        return (
            f"on {self.endpoints} of {self.endpoints_with_field} endpoints where the field "
            f"exists; {self.exchanges} exchanges"
        )


@dataclass(frozen=True)
class SignatureReport:
    signature: str | None
    text: str
    endpoint: str
    verdict: Verdict  # different | error
    requests: int
    share: float  # of the run's compared requests
    items: list[str]  # `path:kind/class` entries as in the signature (or the error kind)
    noise: bool | None  # every entry is noise, its requests noise-only (None: no baseline)
    samples: list[Sample]


@dataclass(frozen=True)
class RuleHit:
    rule: str
    kind: str | None
    origin: str | None
    reason: str | None
    count: int

    @property
    def unused(self) -> bool:
        """A rule of the user's that matched nothing (a preset's rule may: see RuleSet.unused)."""
        return self.count == 0 and not from_preset(self.origin)


#: The most sample exchanges a report shows per signature (`report --max-samples`).
MAX_SAMPLES: Final = 20

#: A rule that absorbed differences at this many (general path, kind)s is flagged as broad:
#: it may hide more than it was written for.
BROAD_RULE: Final = 3


@dataclass(frozen=True)
class HiddenRule:
    """What one rule hid in a run: its hits, what it touched, and one absorbed difference
    (values as stored, JSON text; None where that side has no value)."""

    rule: str
    kind: str | None
    origin: str | None
    reason: str | None
    hits: int  # rule_hits: every difference it absorbed
    exchanges: int
    endpoints: int
    paths: int  # distinct (part, general path, kind)
    kinds: tuple[str, ...]  # the kinds of difference it absorbed
    endpoint: str  # the sample's
    path: str  # concrete
    field_kind: str
    old: str | None
    new: str | None
    exchange_id: int

    @property
    def broad(self) -> bool:
        return self.paths >= BROAD_RULE


@dataclass(frozen=True)
class VolatileValue:
    """Volatile differences that did not count at one (endpoint, general path, kind): likely
    volatile (no baseline) or confirmed by the baseline; one sample (JSON text)."""

    endpoint: str
    path: str  # general
    kind: str
    requests: int
    old: str | None
    new: str | None
    exchange_id: int


@dataclass(frozen=True)
class NoiseRow:
    endpoint: str
    path: str
    kind: str
    r: float  # share differing old-vs-new
    n: float  # share differing old-vs-old
    noise: bool


@dataclass(frozen=True)
class Change:
    """An old -> new change of a label and how often it was seen (bounded count, see
    `shadowdiff.analysis.sketch.TopChanges`)."""

    old: str
    new: str
    count: int


@dataclass(frozen=True)
class AgreementFigures:
    """How far the new values are from the old ones at one path of one endpoint."""

    endpoint: str
    path: str  # general path: body.predictions[*]
    value_type: str  # number | label
    rule: str | None  # the tolerance rule naming the path (numbers)
    compared: int  # pairs of values
    agreeing: int  # within the rule's tolerance (equal without one) / equal labels
    max_abs: float | None  # numbers only: |new - old|
    max_rel: float | None  # |new - old| / max(|old|, |new|)
    p50_abs: float | None
    p99_abs: float | None
    changes: list[Change]  # labels only: the most frequent old -> new, most first

    @property
    def agreement(self) -> float:
        return self.agreeing / self.compared if self.compared else 1.0


@dataclass(frozen=True)
class RunInfo:
    id: int
    name: str
    kind: str
    status: str
    session: str
    target: str
    started_at: float
    finished_at: float | None
    baseline: str | None
    baseline_target: str | None
    baseline_different: int | None  # old-vs-old differing requests
    requests: int
    compared: int
    same: int
    different: int
    errors: int
    diff_rate: float
    different_adjusted: int | None
    diff_rate_adjusted: float | None
    primary: str | None = None  # lockstep: the primary run, whose answers are the old side
    primary_target: str | None = None

    @property
    def old_side(self) -> str:
        """What the old side of a sample is: the recording, or the primary's answer."""
        return "primary" if self.primary else "recorded"


@dataclass(frozen=True)
class Report:
    run: RunInfo
    latency: Latency
    endpoints: list[EndpointReport]
    signatures: list[SignatureReport]
    rules: list[RuleHit]
    noise: list[NoiseRow]
    generated_at: float = field(default_factory=time.time)
    agreement: list[AgreementFigures] = field(default_factory=list)  # numbers, then labels
    spec: SpecCheck | None = None  # OpenAPI coverage and schema findings, when checked
    hidden: list[HiddenRule] = field(default_factory=list)  # what each rule absorbed
    drift: Drift | None = None  # how far the old side's live answers are from the recording
    findings: list[FindingReport] = field(default_factory=list)  # run-wide, before signatures
    volatile: list[VolatileValue] = field(default_factory=list)  # volatile, not counted

    @property
    def unused_rules(self) -> list[RuleHit]:
        return [r for r in self.rules if r.unused]

    @property
    def has_baseline(self) -> bool:
        return self.run.baseline is not None

    @property
    def volatile_heading(self) -> str:
        """The heading of the volatile section, in every format."""
        if self.has_baseline:
            return "volatile values confirmed by the baseline (old vs old): not counted"
        return "likely volatile (no baseline): not counted; diff --count-volatile counts them"

    @property
    def agreement_numbers(self) -> list[AgreementFigures]:
        return [a for a in self.agreement if a.value_type == "number"]

    @property
    def agreement_labels(self) -> list[AgreementFigures]:
        return [a for a in self.agreement if a.value_type == "label"]
